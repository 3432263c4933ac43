"""JSON scorers: is the output JSON, and does it satisfy a JSON Schema.

Both are strict by default: the output, less surrounding whitespace, must be one JSON text
(RFC 8259, so ``NaN`` and ``Infinity`` are rejected). With ``allow_fence`` a single Markdown
code fence around the whole output (```` ```json ... ``` ````, any or no language tag) is
removed first; prose before or after the fence still fails. A fenced output that fails in
strict mode says so in its reason, so the fix (set ``allow_fence``) is one option away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from referencing import Registry
from referencing.exceptions import Unresolvable

from evals.files import read_text
from evals.providers import ConfigError
from evals.scorers._types import Score, ScoreInput, Scorer

MAX_ERRORS = 5
"""How many schema violations a score's details list."""

_FENCE = re.compile(r"```[\w+.-]*[ \t]*\n(?P<body>.*?)\n?[ \t]*```", re.DOTALL)


class _NotJson(ValueError):
    """The output is not one JSON text; the message says why."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse(output: str, *, allow_fence: bool) -> Any:
    """Parse the output as JSON, first removing a surrounding code fence if allowed.

    Raises:
        _NotJson: With a reason fit for a :class:`Score`.
    """
    text = output.strip()
    fenced = _FENCE.fullmatch(text)
    if fenced is not None and allow_fence:
        text = fenced.group("body")
    if not text:
        raise _NotJson("output is empty, not JSON")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        reason = f"output is not JSON: {exc}"
        if fenced is not None and not allow_fence:
            reason += " (it is wrapped in a ``` fence; set allow_fence: true to accept that)"
        raise _NotJson(reason) from None


def json_valid(*, allow_fence: bool = False) -> Scorer:
    """Score 1 when the output is valid JSON (any JSON value), else 0 with the parse error.

    Args:
        allow_fence: Accept JSON inside one Markdown code fence that wraps the whole output.

    Returns:
        A scorer named ``json_valid``.
    """

    def score(item: ScoreInput) -> Score:
        try:
            _parse(item.output, allow_fence=allow_fence)
        except _NotJson as exc:
            return Score(value=0.0, reason=str(exc))
        return Score(value=1.0)

    return Scorer(name="json_valid", version="1", fn=score)


def _load_schema_file(schema_file: str) -> Any:
    path = Path(schema_file)
    text = read_text(path)
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            return yaml.safe_load(text)
        return json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a valid JSON/YAML schema file: {exc}") from None


def json_schema(
    *,
    schema: dict[str, Any] | None = None,
    schema_file: str | None = None,
    allow_fence: bool = False,
) -> Scorer:
    """Score 1 when the output is JSON that satisfies a JSON Schema, else 0 with the reasons.

    The schema's ``$schema`` picks the draft (2020-12 when absent); ``format`` is an
    annotation, not checked, as the specification's default. Remote ``$ref`` s are never
    fetched: put shared definitions under ``$defs``.

    Args:
        schema: The schema, inline.
        schema_file: A JSON (or ``.yaml``/``.yml``) file holding the schema, relative to the
            working directory unless absolute.
        allow_fence: Accept JSON inside one Markdown code fence that wraps the whole output.

    Returns:
        A scorer named ``json_schema``; on a violation ``details["errors"]`` lists up to
        :data:`MAX_ERRORS` of them as ``{"path": "$.a[0]", "message": ...}`` and
        ``details["error_count"]`` counts all.

    Raises:
        ConfigError: Neither or both of ``schema`` and ``schema_file``, an unreadable file, or
            a schema that is not valid under its draft's meta-schema.
    """
    # Imported here: jsonschema has no type information, and most suites never use it.
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]

    if (schema is None) == (schema_file is None):
        raise ConfigError("json_schema: give exactly one of schema (inline) or schema_file")
    source = "schema" if schema_file is None else schema_file
    loaded = schema if schema_file is None else _load_schema_file(schema_file)
    if not isinstance(loaded, Mapping | bool):
        raise ConfigError(
            f"json_schema: {source} must be a JSON object (or true/false), "
            f"not {type(loaded).__name__}"
        )
    validator_cls = validator_for(loaded)
    try:
        validator_cls.check_schema(loaded)
    except SchemaError as exc:
        raise ConfigError(
            f"json_schema: {source} is not a valid JSON Schema: at {exc.json_path}: "
            f"{exc.message}; fix the schema"
        ) from None
    validator = validator_cls(loaded, registry=Registry())

    def score(item: ScoreInput) -> Score:
        try:
            instance = _parse(item.output, allow_fence=allow_fence)
        except _NotJson as exc:
            return Score(value=0.0, reason=str(exc))
        try:
            errors = list(validator.iter_errors(instance))
        except Unresolvable as exc:
            raise ConfigError(
                f"json_schema: {source} has a $ref that cannot be resolved ({exc}); remote "
                "references are not fetched, so define it under $defs"
            ) from None
        if not errors:
            return Score(value=1.0)
        listed = [{"path": e.json_path, "message": e.message} for e in errors[:MAX_ERRORS]]
        first = listed[0]
        count = f"{len(errors)} schema violations, first" if len(errors) > 1 else "schema violation"
        return Score(
            value=0.0,
            reason=f"{count} at {first['path']}: {first['message']}",
            details={"errors": listed, "error_count": len(errors)},
        )

    return Scorer(name="json_schema", version="1", fn=score)
