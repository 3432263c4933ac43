"""The human-labelled judge examples: the shipped file and the loader's errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evals.datasets import load_cases
from evals.judging import expresses_uncertainty, load_labels, redact
from evals.providers import ConfigError
from evals.scorers._judge import load_rubric, render_judge_messages

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "evals" / "datasets" / "judge_labels.jsonl"
SOURCES = ("nq_open_oracle_demo.jsonl", "nq_open_gate.jsonl")


def test_the_shipped_labels_load_and_cover_both_rubrics_and_every_score() -> None:
    examples = load_labels(LABELS)
    assert 30 <= len(examples) <= 40
    by_rubric = Counter(e.rubric for e in examples)
    assert set(by_rubric) == {"judges/faithfulness", "judges/answer_correctness"}
    for rubric in by_rubric:
        scores = {e.human_score for e in examples if e.rubric == rubric}
        assert scores == {1, 2, 3, 4, 5}, rubric
    assert all(e.notes for e in examples)
    assert (ROOT / "evals/datasets/judge_labels.md").is_file()


def test_questions_passages_and_references_are_verbatim_nq_open() -> None:
    cases = {c.id: c for name in SOURCES for c in load_cases(ROOT / "evals/datasets" / name)}
    for example in load_labels(LABELS):
        case = cases[example.source]
        assert example.question == case.inputs["question"], example.id
        assert [c.model_dump() for c in example.contexts] == case.inputs["documents"]
        assert example.reference == case.expected


def test_every_example_renders_with_its_rubric() -> None:
    for example in load_labels(LABELS):
        rubric = load_rubric(example.rubric_path(ROOT / "prompts"))
        messages = render_judge_messages(rubric, example.to_score_input())
        assert messages[-1].role == "user"


def test_the_set_holds_injections_and_hedges_but_no_personal_data() -> None:
    examples = load_labels(LABELS)
    assert sum("injection" in e.notes.lower() for e in examples) >= 3
    assert any(expresses_uncertainty(e.response) for e in examples)
    assert all(redact(e.response).total == 0 for e in examples)


# -- loader errors -------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "id": "x-1",
    "question": "who wrote the book the origin of species",
    "contexts": [{"title": "On the Origin of Species", "text": "... by Charles Darwin ..."}],
    "response": "Charles Darwin [1].",
    "rubric": "judges/answer_correctness",
    "reference": ["Charles Darwin"],
    "human_score": 5,
    "notes": "correct",
}


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_comments_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "# labels", "", json.dumps(GOOD))
    (example,) = load_labels(path)
    item = example.to_score_input()
    assert item.output == "Charles Darwin [1]." and item.expected == ["Charles Darwin"]
    assert item.inputs["documents"][0]["title"] == "On the Origin of Species"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"human_score": 6},
            "labels.jsonl:2: human_score: Input should be less than or equal to 5",
        ),
        ({"human_score": "4"}, "labels.jsonl:2: human_score: Input should be a valid integer"),
        ({"human_score": True}, "labels.jsonl:2: human_score: Input should be a valid integer"),
        ({"rubric": "faithfulness"}, "labels.jsonl:2: rubric: String should match pattern"),
        (
            {"reference": []},
            "labels.jsonl:2: example: Value error, rubric judges/answer_correctness needs",
        ),
        ({"extra": 1}, "labels.jsonl:2: extra: Extra inputs are not permitted"),
        (
            {"contexts": [{"text": ""}]},
            "labels.jsonl:2: contexts.0.text: String should have at least",
        ),
    ],
)
def test_bad_fields_name_the_file_and_line(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    bad = {**GOOD, "id": "x-2", **change}
    path = write(tmp_path, json.dumps(GOOD), json.dumps(bad))
    with pytest.raises(ConfigError) as info:
        load_labels(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_invalid_json_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"labels.jsonl:2: invalid JSON: .* \(column 2\)"):
        load_labels(write(tmp_path, json.dumps(GOOD), "{oops"))
    with pytest.raises(
        ConfigError, match=r"labels.jsonl:3: duplicate example id 'x-1' \(first on line 1\)"
    ):
        load_labels(write(tmp_path, json.dumps(GOOD), "", json.dumps(GOOD)))


def test_missing_empty_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="labels file not found"):
        load_labels(tmp_path / "none.jsonl")
    with pytest.raises(ConfigError, match="has no examples"):
        load_labels(write(tmp_path, "# nothing yet"))
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"id": "é"}'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.jsonl:2: not UTF-8 text"):
        load_labels(path)
