"""JSONL datasets: valid files, skipped lines, --limit, and FILE:LINE errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from evals.datasets import Case, load_cases
from evals.providers import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "evals" / "datasets" / "nq_open_oracle_demo.jsonl"


def case_line(case_id: str, **extra: object) -> str:
    return json.dumps({"id": case_id, "inputs": {"question": f"q {case_id}"}, **extra})


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def error_of(path: Path, **kwargs: int) -> str:
    with pytest.raises(ConfigError) as info:
        load_cases(path, **kwargs)
    return str(info.value)


def test_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        case_line("a", expected=["x", "y"], metadata={"row": 1}),
        case_line("b", expected="z"),
        case_line("c"),
    )
    cases = load_cases(path)
    assert [c.id for c in cases] == ["a", "b", "c"]
    assert cases[0] == Case(
        id="a", inputs={"question": "q a"}, expected=["x", "y"], metadata={"row": 1}
    )
    assert cases[1].expected == "z"
    assert cases[2].expected is None
    assert cases[2].metadata == {}


def test_cases_are_immutable(tmp_path: Path) -> None:
    case = load_cases(write(tmp_path, case_line("a")))[0]
    with pytest.raises(ValidationError):
        case.id = "b"  # type: ignore[misc]


def test_blank_lines_and_comments_are_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path, "# a comment", "", case_line("a"), "   ", "  # indented comment", case_line("b")
    )
    assert [c.id for c in load_cases(path)] == ["a", "b"]


def test_line_numbers_count_skipped_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "# header", "", case_line("a"), "{oops")
    message = error_of(path)
    assert message.startswith(f"{path}:4: "), message


def test_crlf_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (case_line("a") + "\r\n" + case_line("b") + "\r\n").encode())
    assert [c.id for c in load_cases(path)] == ["a", "b"]


def test_limit(tmp_path: Path) -> None:
    path = write(tmp_path, *(case_line(str(i)) for i in range(5)))
    assert [c.id for c in load_cases(path, limit=2)] == ["0", "1"]
    assert len(load_cases(path, limit=10)) == 5


def test_limit_counts_cases_not_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "# c", "", case_line("a"), "# c", case_line("b"), case_line("c"))
    assert [c.id for c in load_cases(path, limit=2)] == ["a", "b"]


def test_demo_dataset() -> None:
    cases = load_cases(DEMO)
    assert len(cases) == 12
    assert len({c.id for c in cases}) == 12
    for case in cases:
        assert set(case.inputs) == {"question", "documents"}
        assert isinstance(case.expected, list) and case.expected
        assert all({"title", "text"} <= set(doc) for doc in case.inputs["documents"])


@pytest.mark.parametrize(
    ("bad_line", "expected_words"),
    [
        ('{"id": "b", "inputs": {}', ["invalid JSON"]),
        ("not json at all", ["invalid JSON"]),
        ('{"id": "b"}', ["inputs", "Field required"]),
        ('{"inputs": {}}', ["id", "Field required"]),
        ('{"id": "b", "inputs": {}, "answer": "x"}', ["answer", "Extra inputs are not permitted"]),
        ('{"id": "", "inputs": {}}', ["id"]),
        ('{"id": 7, "inputs": {}}', ["id", "string"]),
        ('{"id": "b", "inputs": ["x"]}', ["inputs", "dictionary"]),
        ('["b", {}]', ["case"]),
    ],
    ids=["truncated-json", "not-json", "no-inputs", "no-id", "extra-key", "empty-id", "int-id",
         "list-inputs", "array"],
)  # fmt: skip
def test_bad_line_names_file_and_line(
    tmp_path: Path, bad_line: str, expected_words: list[str]
) -> None:
    path = write(tmp_path, case_line("a"), "", bad_line, case_line("c"))
    message = error_of(path)
    assert message.startswith(f"{path}:3: "), message
    for word in expected_words:
        assert word in message


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, case_line("a"), case_line("dup"), case_line("b"), case_line("dup"))
    message = error_of(path)
    assert message.startswith(f"{path}:4: "), message
    assert "duplicate" in message
    assert "'dup'" in message
    assert "first on line 2" in message


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path)
    message = error_of(path)
    assert str(path) in message
    assert "no cases" in message


def test_only_comments_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing here", "")
    assert "no cases" in error_of(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    message = error_of(path)
    assert str(path) in message
    assert "not found" in message


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes((case_line("a") + "\n").encode() + b'{"id": "caf\xe9", "inputs": {}}\n')
    message = error_of(path)
    assert message.startswith(f"{path}:2: "), message
    assert "UTF-8" in message
