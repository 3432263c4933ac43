"""Eval datasets: JSONL files of cases (id, inputs, expected, metadata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.providers import ConfigError


class Case(BaseModel):
    """One eval case.

    Attributes:
        id: Unique within the dataset.
        inputs: Values for the prompt's template variables.
        expected: The reference output (a string, a list of acceptable answers, or any JSON).
        metadata: Free-form data carried into results.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    inputs: dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def load_cases(path: Path, *, limit: int | None = None) -> list[Case]:
    """Read a JSONL dataset, one case per line (blank lines and ``#`` comments skipped).

    Raises:
        ConfigError: With the file and line, for invalid JSON, a bad case or a duplicate id.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: dataset file not found")
    cases: list[Case] = []
    seen: dict[str, int] = {}
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:  # a byte-order mark (some Windows editors write one) is not part of the data
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not UTF-8 text: {exc.reason}") from None
            if not text or text.startswith("#"):
                continue
            try:
                case = Case.model_validate(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "case"
                raise ConfigError(f"{path}:{lineno}: {where}: {first['msg']}") from None
            if case.id in seen:
                first_line = seen[case.id]
                message = f"duplicate case id {case.id!r} (first on line {first_line})"
                raise ConfigError(f"{path}:{lineno}: {message}")
            seen[case.id] = lineno
            cases.append(case)
            if limit is not None and len(cases) >= limit:
                break
    if not cases:
        raise ConfigError(f"{path}: the dataset has no cases")
    return cases
