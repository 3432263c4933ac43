"""Human-labelled judge examples (``evals/datasets/judge_labels.jsonl``) for calibration.

One JSON object a line: ``id``, ``source`` (optional provenance), ``question``,
``contexts`` (``{"title", "text"}`` passages, numbered from 1 as the judge shows them),
``response``, ``rubric`` (a rubric's prompt name such as ``judges/faithfulness``),
``reference`` (acceptable answers; needed by ``judges/answer_correctness``), ``human_score``
(1-5 on the rubric's scale) and ``notes``.
Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from evals.files import read_jsonl
from evals.scorers import ScoreInput

NEEDS_REFERENCE = frozenset({"judges/answer_correctness"})


class LabelledContext(BaseModel):
    """One retrieved passage of a labelled example."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""
    text: str = Field(min_length=1)


class LabelledExample(BaseModel):
    """A response with the score a human gave it on one rubric.

    Attributes:
        id: Unique within the file.
        source: Where the question and passages come from (an NQ-Open case id...).
        question: The user's question.
        contexts: The retrieved passages the response was written from.
        response: The response that was scored.
        rubric: The rubric's prompt name (``judges/faithfulness``...).
        reference: Acceptable answers (for ``judges/answer_correctness``).
        human_score: The human's score on the rubric's 1-5 scale.
        notes: Why that score.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    source: str = ""
    question: str = Field(min_length=1)
    contexts: list[LabelledContext] = Field(default_factory=list)
    response: str
    rubric: str = Field(pattern=r"^judges/[a-z0-9_]+$")
    reference: list[str] = Field(default_factory=list)
    human_score: Annotated[StrictInt, Field(ge=1, le=5)]
    notes: str = ""

    @model_validator(mode="after")
    def _reference_when_needed(self) -> LabelledExample:
        if self.rubric in NEEDS_REFERENCE and not self.reference:
            raise ValueError(f"rubric {self.rubric} needs a non-empty reference list")
        return self

    def rubric_path(self, prompts_dir: Path) -> Path:
        """The rubric's prompt file under ``prompts_dir`` (``prompts/judges/NAME.yaml``)."""
        return prompts_dir / f"{self.rubric}.yaml"

    def to_score_input(self) -> ScoreInput:
        """The example as a judge's input: output, expected answers, question, documents."""
        return ScoreInput(
            output=self.response,
            expected=list(self.reference) or None,
            inputs={
                "question": self.question,
                "documents": [c.model_dump() for c in self.contexts],
            },
            metadata={"id": self.id, "human_score": self.human_score},
        )


def load_labels(path: Path) -> list[LabelledExample]:
    """Read a labelled-examples JSONL file.

    Raises:
        ConfigError: ``FILE:LINE`` for a missing file, text that is not UTF-8, invalid
            JSON, a bad field or a duplicate id; ``FILE`` for a file with no examples.
    """
    return read_jsonl(
        path, LabelledExample, lambda example: example.id, file_kind="labels", item="example"
    )
