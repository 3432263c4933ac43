"""Builders for call records used by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from evals.providers import CallError, CallResult
from evals.runner import CallRecord

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def make_record(
    i: int,
    *,
    run_id: str = "run-1",
    repeat: int = 0,
    error: str | None = None,
    cached: bool = False,
    cost: float | None = 0.0075,
    text: str | None = None,
    at: datetime | None = None,
    **result_fields: Any,
) -> CallRecord:
    """Return a finished call for case ``c<i>``; ``error`` makes it a recorded error."""
    started = at or T0 + timedelta(seconds=i)
    result = CallResult(
        text="" if error else (text if text is not None else f"answer {i}"),
        finish_reason="error" if error else "stop",
        provider="openai",
        model="gpt-4o",
        model_version="gpt-4o-2024-08-06",
        input_tokens=None if error else 1200,
        output_tokens=None if error else 300,
        latency_s=0.0 if cached else 0.25,
        cost_usd=0.0 if cached else (None if error else cost),
        error=CallError(kind=error, message=f"{error} happened", status=500) if error else None,
        cached=cached,
        attempts=0 if cached else 1,
        logprobs=None if error else (-0.5, -0.25),
        answered_by="openai:gpt-4o",
        **result_fields,
    )
    return CallRecord(
        run_id=run_id,
        case_id=f"c{i}",
        repeat=repeat,
        cache_key=f"key-{i}-{repeat}",
        result=result,
        started_at=started,
        completed_at=started + timedelta(milliseconds=250),
    )
