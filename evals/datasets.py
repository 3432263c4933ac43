"""Eval datasets: JSONL files of cases (id, inputs, expected, metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evals.files import read_jsonl


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
    return read_jsonl(
        path, Case, lambda case: case.id, file_kind="dataset", item="case", limit=limit
    )
