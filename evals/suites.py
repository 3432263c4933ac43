"""Eval suites: YAML files naming a prompt, a JSONL dataset, scorers with thresholds, repeats.

A suite lives under ``evals/suites/`` and looks like::

    name: rag_qa_nq
    prompt: rag_qa                      # a prompt name from prompts/
    dataset: ../datasets/nq_gate.jsonl  # relative to this file
    repeats: 1
    scorers:
      - name: best_subspan_em
        threshold: 0.3                  # absolute floor for the candidate's mean
        tolerance: 0.02                 # a drop smaller than this is not a regression

Its JSON Schema (:func:`suite_json_schema`) is committed as ``evals/suites/suite.schema.json``
so editors validate suite files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evals._yaml import load_yaml_model, source_line
from evals.providers import ConfigError

SCHEMA_FILE = "suite.schema.json"


class ScorerSpec(BaseModel):
    """One scorer of a suite and how the gate judges it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Scorer name, e.g. best_subspan_em, rouge, judge.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options of the scorer's factory."
    )
    model: str | None = Field(
        default=None, description="Model string an LLM scorer calls (default: the configured one)."
    )
    threshold: float | None = Field(
        default=None, description="The candidate's mean must reach this (absolute floor)."
    )
    tolerance: float = Field(
        default=0.0, ge=0, description="Drops smaller than this are not regressions."
    )
    gate: bool = Field(default=True, description="False: report the scorer but never fail on it.")


class GateSettings(BaseModel):
    """How the gate decides for this suite."""

    model_config = ConfigDict(extra="forbid")

    resamples: int = Field(default=2000, ge=2000, description="Paired bootstrap resamples.")
    seed: int = Field(default=0, description="Bootstrap seed (fixed, so verdicts repeat).")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    inconclusive: Literal["warn", "fail"] = Field(
        default="warn", description="What an interval straddling -tolerance does."
    )
    max_error_share: float = Field(
        default=0.1, ge=0, le=1, description="More errored cases than this is exit 2, not a pass."
    )


class SuiteFile(BaseModel):
    """The contents of a suite YAML file."""

    model_config = ConfigDict(extra="forbid", title="evalmon eval suite")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-/]*$")
    description: str = ""
    prompt: str = Field(description="Name of the prompt this suite gates.")
    dataset: str = Field(description="JSONL dataset, relative to the suite file.")
    model: str | None = Field(default=None, description="Model for both versions (optional).")
    repeats: int = Field(default=1, ge=1, description="Calls per case (for temperature > 0).")
    limit: int | None = Field(default=None, ge=1, description="Use only the first N cases.")
    scorers: list[ScorerSpec] = Field(min_length=1)
    gate: GateSettings = GateSettings()


class Suite:
    """A loaded suite: its spec, its file, and its dataset path."""

    def __init__(self, spec: SuiteFile, path: Path) -> None:
        """Resolve the dataset and check it exists.

        Raises:
            ConfigError: ``FILE:LINE`` of a dataset that does not exist, or of duplicate
                scorer names.
        """
        self.spec = spec
        self.path = path
        self.dataset = (path.parent / spec.dataset).resolve()
        if not self.dataset.is_file():
            raise ConfigError(
                f"{self.where(('dataset',))}: dataset {spec.dataset} not found "
                f"(looked for {self.dataset})"
            )
        seen: set[str] = set()
        for index, scorer in enumerate(spec.scorers):
            key = scorer_key(scorer)
            if key in seen:
                raise ConfigError(
                    f"{self.where(('scorers', index))}: scorer {key} is listed twice; give the "
                    "second one other options or remove it"
                )
            seen.add(key)

    def where(self, loc: tuple[int | str, ...]) -> str:
        """``FILE:LINE`` of ``loc`` in the suite file."""
        line = source_line(self.path, loc)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    @property
    def content_hash(self) -> str:
        """Short hash of the spec, the dataset's bytes and any file a scorer option names."""
        digest = hashlib.sha256()
        payload = self.spec.model_dump(exclude={"description"})
        digest.update(json.dumps(payload, sort_keys=True).encode())
        digest.update(hashlib.sha256(self.dataset.read_bytes()).digest())
        for scorer in self.spec.scorers:
            for value in scorer.options.values():
                if isinstance(value, str) and value.endswith((".yaml", ".yml", ".json")):
                    file = Path(value)
                    if file.is_file():
                        digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()[:16]


def scorer_key(spec: ScorerSpec) -> str:
    """The name a scorer's results go under: its name, plus a rubric or pattern if any."""
    detail = spec.options.get("rubric") or spec.options.get("pattern")
    if isinstance(detail, str) and detail:
        return f"{spec.name}[{Path(detail).stem if spec.name == 'judge' else detail}]"
    return spec.name


def load_suite(path: Path) -> Suite:
    """Load and check a suite file.

    Raises:
        ConfigError: ``FILE:LINE`` for malformed YAML, unknown fields or a missing dataset.
    """
    return Suite(load_yaml_model(path, SuiteFile), path)


def suite_json_schema() -> dict[str, Any]:
    """The JSON Schema of suite files, for editors (committed as ``suite.schema.json``)."""
    schema = SuiteFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
