"""Settings of the production judge: ``[judge]`` in ``evalmon.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.judging import RedactionConfig


class JudgeSettings(BaseModel):
    """How production traffic is sampled, redacted, judged and queued for review.

    Attributes:
        rubrics: Rubric prompt files every sampled request is judged by.
        models: Judge models (several: their scores are combined and agreement stored);
            empty means the configured default model.
        combine: ``mean`` or ``majority`` of the judges' scores.
        sample_rate: Share of requests judged (a stable hash of id and salt decides).
        salt: Salt of the sampling hash; change it to draw another sample.
        min_per_group: Judge at least this many requests per model and prompt version.
        cap_requests: Judge at most this many requests per run.
        review_threshold: Normalised score (0..1) under which a request goes to review.
        disagreement_threshold: Spread between judges (0..1) that counts as disagreement.
        min_kappa: Weighted kappa a judge needs on the labelled set to count as calibrated.
        labels: The labelled set ``evalmon judge calibrate`` uses by default.
        max_parse_retries: Extra asks after a reply that does not parse.
        redaction: Personal-data redaction before anything reaches a judge.
    """

    model_config = ConfigDict(extra="forbid")

    rubrics: list[Path] = Field(
        default_factory=lambda: [
            Path("prompts/judges/faithfulness.yaml"),
            Path("prompts/judges/answer_relevance.yaml"),
        ]
    )
    models: list[str] = Field(default_factory=list)
    combine: Literal["mean", "majority"] = "mean"
    sample_rate: float = Field(default=0.01, gt=0, le=1)
    salt: str = Field(default="evalmon", min_length=1)
    min_per_group: int = Field(default=0, ge=0)
    cap_requests: int | None = Field(default=1000, ge=1)
    review_threshold: float = Field(default=0.5, ge=0, le=1)
    disagreement_threshold: float = Field(default=0.25, ge=0, le=1)
    min_kappa: float = Field(default=0.6, ge=-1, le=1)
    labels: Path = Path("evals/datasets/judge_labels.jsonl")
    max_parse_retries: int = Field(default=1, ge=0, le=5)
    redaction: RedactionConfig = RedactionConfig()
