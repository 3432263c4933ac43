"""Prompts with partials, suites and the catalog: every bad input names its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.catalog import load_catalog
from evals.datasets import load_cases
from evals.prompts import load_prompt, prompt_json_schema
from evals.providers import ConfigError
from evals.suites import load_suite, suite_json_schema

ROOT = Path(__file__).resolve().parents[2]

PROMPT = """\
name: {name}
version: 1.0.0
model: {model}
variables: [question]
suites: {suites}
messages:
  - role: user
    content: |-
      {{% include "partials/q.j2" %}}
"""
SUITE = """\
name: s1
prompt: p1
dataset: ../datasets/cases.jsonl
scorers:
  - name: exact_match
"""


def make_tree(
    tmp_path: Path,
    *,
    name: str = "p1",
    model: str = "local:smollm2",
    suites: str = "[s1]",
    partial: str = "Q: {{ question }}",
    suite: str = SUITE,
) -> Path:
    for sub in ("prompts/partials", "evals/suites", "evals/datasets"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    (tmp_path / "prompts/p1.yaml").write_text(PROMPT.format(name=name, model=model, suites=suites))
    (tmp_path / "prompts/partials/q.j2").write_text(partial)
    (tmp_path / "evals/suites/s1.yaml").write_text(suite)
    case = {"id": "a", "inputs": {"question": "q?"}, "expected": "x"}
    (tmp_path / "evals/datasets/cases.jsonl").write_text(json.dumps(case) + "\n")
    return tmp_path


def error(tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_catalog(tmp_path)
    return str(info.value)


def test_a_valid_tree_loads_with_its_partial(tmp_path: Path) -> None:
    catalog = load_catalog(make_tree(tmp_path))
    prompt = catalog.prompts["p1"]
    assert prompt.partials == {"partials/q.j2": "Q: {{ question }}"}
    assert prompt.render({"question": "why?"})[0].content == "Q: why?"
    assert [s.spec.name for s in catalog.suites_of("p1")] == ["s1"]


def test_a_partial_change_changes_the_content_hash(tmp_path: Path) -> None:
    before = load_catalog(make_tree(tmp_path)).prompts["p1"].content_hash
    (tmp_path / "prompts/partials/q.j2").write_text("Question: {{ question }}")
    assert load_catalog(tmp_path).prompts["p1"].content_hash != before


def test_a_dataset_change_changes_the_suite_hash(tmp_path: Path) -> None:
    before = load_catalog(make_tree(tmp_path)).suites["s1"].content_hash
    with (tmp_path / "evals/datasets/cases.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "b", "inputs": {"question": "r?"}}) + "\n")
    assert load_catalog(tmp_path).suites["s1"].content_hash != before


def test_two_prompts_with_one_name(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "prompts/sub").mkdir()
    twin = (tmp_path / "prompts/p1.yaml").read_text()
    (tmp_path / "prompts/sub/again.yaml").write_text(twin)
    message = error(tmp_path)
    assert "prompt name 'p1' is also used by" in message
    assert f"{tmp_path / 'prompts/p1.yaml'}:1" in message
    assert f"{tmp_path / 'prompts/sub/again.yaml'}:1" in message


def test_unknown_model_string(tmp_path: Path) -> None:
    message = error(make_tree(tmp_path, model="gpt4:turbo"))
    assert message.startswith(f"{tmp_path / 'prompts/p1.yaml'}:3: model: unknown provider 'gpt4'")


def test_a_partial_using_an_undeclared_variable(tmp_path: Path) -> None:
    message = error(make_tree(tmp_path, partial="{{ question }} {{ context }}"))
    assert message.startswith(f"{tmp_path / 'prompts/p1.yaml'}:9: ")
    assert "partials/q.j2 uses undeclared variables: context" in message


def test_a_missing_partial(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "prompts/partials/q.j2").unlink()
    assert "included partial 'partials/q.j2' not found" in error(tmp_path)


def test_a_declared_variable_used_nowhere(tmp_path: Path) -> None:
    message = error(make_tree(tmp_path, partial="Say hi."))
    assert message == f"{tmp_path / 'prompts/p1.yaml'}:4: declared variables never used: question"


def test_a_prompt_listing_a_missing_suite(tmp_path: Path) -> None:
    message = error(make_tree(tmp_path, suites="[s1, nope]"))
    assert message.startswith(f"{tmp_path / 'prompts/p1.yaml'}:5: suite 'nope' not found")


def test_a_suite_naming_a_missing_prompt(tmp_path: Path) -> None:
    message = error(make_tree(tmp_path, suite=SUITE.replace("prompt: p1", "prompt: p2")))
    assert message.startswith(f"{tmp_path / 'evals/suites/s1.yaml'}:2: ")
    assert "names prompt 'p2'" in message


def test_a_suite_with_a_missing_dataset_or_unknown_field(tmp_path: Path) -> None:
    make_tree(tmp_path, suite=SUITE.replace("cases.jsonl", "gone.jsonl"))
    assert error(tmp_path).startswith(f"{tmp_path / 'evals/suites/s1.yaml'}:3: dataset ")
    make_tree(tmp_path, suite=SUITE + "repeat: 2\n")
    message = error(tmp_path)
    assert message.startswith(f"{tmp_path / 'evals/suites/s1.yaml'}:6: repeat: Extra inputs")


def test_a_suite_dataset_with_a_broken_line(tmp_path: Path) -> None:
    make_tree(tmp_path)
    with (tmp_path / "evals/datasets/cases.jsonl").open("a") as handle:
        handle.write('{"id": "b", "inputs": {"question": "r?"\n')
    suite = load_suite(tmp_path / "evals/suites/s1.yaml")
    with pytest.raises(ConfigError) as info:
        load_cases(suite.dataset)
    assert str(info.value).startswith(f"{suite.dataset}:2: invalid JSON")


def test_the_example_tree_is_valid() -> None:
    catalog = load_catalog(ROOT)
    assert {"rag_qa", "judges/answer_correctness"} <= set(catalog.prompts)
    assert [s.spec.name for s in catalog.suites_of("rag_qa")] == ["rag_qa_judged", "rag_qa_nq"]
    assert len(load_cases(catalog.suites["rag_qa_nq"].dataset)) == 40


def test_the_committed_json_schemas_are_current() -> None:
    """Regenerate with ``evalmon schemas`` after changing SuiteFile or PromptFile."""
    for path, schema in (
        (ROOT / "evals/suites/suite.schema.json", suite_json_schema()),
        (ROOT / "prompts/prompt.schema.json", prompt_json_schema()),
    ):
        assert json.loads(path.read_text()) == schema, f"{path} is stale: run evalmon schemas"


def test_the_suite_schema_validates_the_example_suites() -> None:
    import jsonschema
    import yaml

    schema = suite_json_schema()
    for path in (ROOT / "evals/suites").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "prompt": "p", "dataset": "d", "scorers": []}, schema)
    example = load_prompt(ROOT / "prompts/example/rag_qa.yaml")
    jsonschema.validate(example.spec.model_dump(mode="json"), prompt_json_schema())
