"""JSON scorers: json_valid and json_schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.providers import ConfigError
from evals.scorers._json import MAX_ERRORS, json_schema, json_valid

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}

# --- json_valid ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    ['{"a": 1}', "[1, 2]", "42", '"text"', "null", '  {"a": [true, false]}\n'],
)
def test_json_valid_accepts_any_json_value(output: str) -> None:
    assert json_valid()(output).value == 1.0


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("", "output is empty, not JSON"),
        ("   \n", "output is empty, not JSON"),
        ("{'a': 1}", "output is not JSON: Expecting property name enclosed in double quotes"),
        ('{"a": 1} trailing', "output is not JSON: Extra data: line 1 column 10"),
        ('{"a": NaN}', "output is not JSON: NaN is not valid JSON"),
        ("Infinity", "output is not JSON: Infinity is not valid JSON"),
        ('Sure! {"a": 1}', "output is not JSON: Expecting value: line 1 column 1"),
    ],
)
def test_json_valid_rejects_with_the_parse_error(output: str, reason: str) -> None:
    score = json_valid()(output)
    assert score.value == 0.0
    assert score.reason.startswith(reason)


FENCED = '```json\n{"a": 1}\n```'


def test_fence_is_rejected_by_default_with_a_hint() -> None:
    score = json_valid()(FENCED)
    assert score.value == 0.0
    assert "set allow_fence: true" in score.reason


@pytest.mark.parametrize(
    "output", [FENCED, '```\n{"a": 1}\n```', "\n```JSON \n[1]```\n", '```json\n{"a":\n 1}\n```']
)
def test_allow_fence_accepts_one_surrounding_fence(output: str) -> None:
    assert json_valid(allow_fence=True)(output).value == 1.0


@pytest.mark.parametrize(
    "output",
    [
        'Here it is:\n```json\n{"a": 1}\n```',  # prose before the fence
        '```json\n{"a": 1}\n```\nHope that helps',  # prose after it
        '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```',  # two fences
        "```json\n```",  # an empty fence
    ],
)
def test_allow_fence_still_needs_the_fence_to_be_the_whole_output(output: str) -> None:
    assert json_valid(allow_fence=True)(output).value == 0.0


# --- json_schema ---------------------------------------------------------------------------


def test_json_schema_accepts_a_conforming_output() -> None:
    scorer = json_schema(schema=PERSON)
    assert (scorer.name, scorer.is_async) == ("json_schema", False)
    score = scorer('{"name": "Ada", "age": 36, "tags": ["math"]}')
    assert (score.value, score.reason, score.details) == (1.0, "", {})


def test_json_schema_failure_names_the_paths() -> None:
    score = json_schema(schema=PERSON)('{"name": "Ada", "age": -1, "tags": ["x", 2]}')
    assert score.value == 0.0
    assert score.details == {
        "errors": [
            {"path": "$.age", "message": "-1 is less than the minimum of 0"},
            {"path": "$.tags[1]", "message": "2 is not of type 'string'"},
        ],
        "error_count": 2,
    }
    assert score.reason == "2 schema violations, first at $.age: -1 is less than the minimum of 0"


def test_json_schema_single_violation_at_the_root() -> None:
    score = json_schema(schema=PERSON)('{"name": "Ada"}')
    assert score.reason == "schema violation at $: 'age' is a required property"
    assert score.details["errors"] == [{"path": "$", "message": "'age' is a required property"}]


def test_json_schema_lists_at_most_max_errors() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    score = json_schema(schema=schema)(json.dumps(["x"] * (MAX_ERRORS + 3)))
    assert score.details["error_count"] == MAX_ERRORS + 3
    assert [e["path"] for e in score.details["errors"]] == [f"$[{i}]" for i in range(MAX_ERRORS)]


def test_json_schema_output_that_is_not_json_scores_zero() -> None:
    score = json_schema(schema=PERSON)("name: Ada")
    assert score.value == 0.0
    assert score.reason.startswith("output is not JSON:")


def test_json_schema_allow_fence() -> None:
    fenced = '```json\n{"name": "Ada", "age": 36}\n```'
    assert json_schema(schema=PERSON)(fenced).value == 0.0
    assert json_schema(schema=PERSON, allow_fence=True)(fenced).value == 1.0


def test_json_schema_honours_the_schema_draft() -> None:
    # Draft 4's exclusiveMaximum is a boolean; under 2020-12 it would be a bad schema.
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "number",
        "maximum": 10,
        "exclusiveMaximum": True,
    }
    scorer = json_schema(schema=draft4)
    assert scorer("9").value == 1.0
    assert scorer("10").value == 0.0


def test_json_schema_local_refs_resolve() -> None:
    schema = {
        "$defs": {"id": {"type": "integer"}},
        "type": "array",
        "items": {"$ref": "#/$defs/id"},
    }
    assert json_schema(schema=schema)("[1, 2]").value == 1.0
    assert json_schema(schema=schema)('[1, "2"]').details["errors"][0]["path"] == "$[1]"


def test_json_schema_never_fetches_a_remote_ref() -> None:
    scorer = json_schema(schema={"items": {"$ref": "https://example.com/item.json"}})
    with pytest.raises(ConfigError, match=r"cannot be resolved.*define it under \$defs"):
        scorer("[1]")


def test_invalid_schema_is_a_config_error_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"not a valid JSON Schema: at \$.type: 'strng' is not"):
        json_schema(schema={"type": "strng"})
    with pytest.raises(ConfigError, match=r"at \$.properties.age.minimum: 'zero' is not of type"):
        json_schema(schema={"properties": {"age": {"minimum": "zero"}}})


def test_schema_or_schema_file_exactly_one() -> None:
    with pytest.raises(ConfigError, match="exactly one of schema"):
        json_schema()
    with pytest.raises(ConfigError, match="exactly one of schema"):
        json_schema(schema=PERSON, schema_file="person.json")


def test_schema_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        json_schema(schema=["type", "object"])  # type: ignore[arg-type]


def test_schema_file_json_and_yaml(tmp_path: Path) -> None:
    as_json = tmp_path / "person.json"
    as_json.write_text(json.dumps(PERSON), encoding="utf-8")
    as_yaml = tmp_path / "person.yaml"
    as_yaml.write_text("type: object\nrequired: [name]\n", encoding="utf-8")
    assert json_schema(schema_file=str(as_json))('{"name": "Ada", "age": 1}').value == 1.0
    assert json_schema(schema_file=str(as_yaml))("{}").value == 0.0


def test_bad_schema_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        json_schema(schema_file=str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid JSON/YAML schema file"):
        json_schema(schema_file=str(broken))
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"type": 5}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid.json is not a valid JSON Schema"):
        json_schema(schema_file=str(invalid))
