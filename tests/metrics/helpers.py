"""Builders for call records used by the store tests."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


LOCK_HOLDER_MARKER = "evalmon-test-lock-holder"
# Opens the database, says "ready", keeps it open for argv[2] seconds or until stdin closes.
_HOLDER = (
    "import duckdb, sys, threading\n"
    "c = duckdb.connect(sys.argv[1])\n"
    "print('ready', flush=True)\n"
    "t = threading.Thread(target=sys.stdin.read, daemon=True); t.start()\n"
    "t.join(float(sys.argv[2]))\n"
    "c.close()\n"
)


def hold_open(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a process that holds ``db`` open read-write; return once it has the lock."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), str(seconds), LOCK_HOLDER_MARKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc
