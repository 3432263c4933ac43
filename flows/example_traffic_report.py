"""What a generated traffic sample holds, read back from its capture files, and its README."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol


class _Planned(Protocol):
    @property
    def personal_data(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TrafficSummary:
    """Figures of a generated sample.

    Attributes:
        model: Model string that answered.
        model_versions: ``gen_ai.response.model`` values reported by the endpoint.
        day: The simulated UTC day.
        requests: Records written.
        errors: Records of failed calls.
        personal_data: Requests whose question carries an email address or phone number.
        users: Distinct (hashed) users.
        prompt_versions: Records per prompt ref.
        files: Capture files written.
        latency_p50_s: Median measured latency.
        latency_p95_s: 95th percentile of the measured latency.
        mean_input_tokens: Mean prompt tokens of the successful calls.
        mean_output_tokens: Mean completion tokens of the successful calls.
        wall_s: Wall time of the generation.
    """

    model: str
    model_versions: list[str]
    day: str
    requests: int
    errors: int
    personal_data: int
    users: int
    prompt_versions: dict[str, int] = field(default_factory=dict)
    files: int = 0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    mean_input_tokens: float | None = None
    mean_output_tokens: float | None = None
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return asdict(self)


def read_capture_file(path: Path) -> list[dict[str, Any]]:
    """The records of one capture file (JSON lines; blank lines skipped)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every record of the finished capture files in ``directory``, in file order."""
    return [r for path in sorted(directory.glob("*.jsonl")) for r in read_capture_file(path)]


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)  # the ceil(q * n)-th fastest, as the exporter computes it
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 3)


def summarise(
    directory: Path, plan: Sequence[_Planned], *, wall_s: float, model: str, day: date
) -> TrafficSummary:
    """Read the sample back and count what it holds."""
    records = read_records(directory)
    ok = [r for r in records if r["evalmon.status"] == "ok"]
    latencies = [float(r["evalmon.latency_s"]) for r in records]
    tokens_in = [r["gen_ai.usage.input_tokens"] for r in ok if r["gen_ai.usage.input_tokens"]]
    tokens_out = [r["gen_ai.usage.output_tokens"] for r in ok if r["gen_ai.usage.output_tokens"]]
    versions = Counter(str(r["evalmon.prompt.ref"]) for r in records)
    return TrafficSummary(
        model=model,
        model_versions=sorted({str(r["gen_ai.response.model"]) for r in ok}),
        day=day.isoformat(),
        requests=len(records),
        errors=len(records) - len(ok),
        personal_data=sum(p.personal_data for p in plan),
        users=len({r["user.hash"] for r in records}),
        prompt_versions=dict(sorted(versions.items())),
        files=len(list(directory.glob("*.jsonl"))),
        latency_p50_s=_quantile(latencies, 0.5),
        latency_p95_s=_quantile(latencies, 0.95),
        mean_input_tokens=round(statistics.fmean(tokens_in), 1) if tokens_in else None,
        mean_output_tokens=round(statistics.fmean(tokens_out), 1) if tokens_out else None,
        wall_s=round(wall_s, 1),
    )


def readme_text(summary: TrafficSummary, command: str) -> str:
    """The sample's README: generated traffic, by which command and model, what it holds."""
    versions = ", ".join(f"`{ref}` {n}" for ref, n in summary.prompt_versions.items())
    answered_by = ", ".join(f"`{v}`" for v in summary.model_versions) or "(no successful call)"
    return f"""# Generated traffic sample (not real users)

**This is generated traffic.** Every record was made by the example app
(`flows/example_app.py`) answering NQ-Open questions with a real model; the users are
fictional and every record's `evalmon.app` is `rag-qa-generated`.

- Command: `{command}`
- Model: `{summary.model}` (the endpoint reported {answered_by})
- Generation took {summary.wall_s:,.0f} s of wall time.

## What it holds

{summary.requests} requests ({summary.errors} failed calls) from {summary.users} users over
the simulated UTC day {summary.day}, in {summary.files} hourly capture files
(`evalmon ingest` loads the folder). Prompt versions: {versions}.
{summary.personal_data} questions carry an email address or a phone number (reserved
example domains and fictional numbers), for the judge's redaction to remove.
Measured latency p50 {summary.latency_p50_s} s, p95 {summary.latency_p95_s} s; on average
{summary.mean_input_tokens} input and {summary.mean_output_tokens} output tokens per call.

## What is real and what is simulated

Real: every question was sent to the model, and each record's answer, latency, token counts,
finish reason and model version are as measured. The app retrieves the top passages by BM25
from the NQ-Open oracle pool (Liu et al. 2023, CC BY-SA 3.0; see
`evals/datasets/lost_in_the_middle/SOURCE.md`) and truncates each to a few words, to keep
prompts short on the embedded model.

Simulated: the generator rewrites the **timestamps** (the capture's clock is set to a
planned start time before each call, so the requests are spread over one day with a
daytime peak), the **users** (fictional ids, only their salted hashes recorded), the
**prompt-version rollout** (before 09:00 UTC `rag_qa@1.0.0`, from 13:00 the current
version, in between a seeded half each; both versions render the same text, as 1.0.1 only
moved the documents into a partial) and the **personal data** pasted into a few questions.
Run the command again for a fresh sample (the answers of a deterministic model repeat;
latencies will differ).
"""
