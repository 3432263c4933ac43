"""The progress bar: one bar per batch of calls, each with its own counts."""

from __future__ import annotations

import io

from rich.console import Console

from evals.providers import CallError, CallResult
from evals.runner import RichProgress


def _result(*, error: bool = False, cached: bool = False, cost: float = 0.0) -> CallResult:
    failure = CallError("timeout", "slow") if error else None
    return CallResult("x", "stop", "openai", "m", cost_usd=cost, error=failure, cached=cached)


def test_each_batch_gets_its_own_bar_and_counts() -> None:
    screen = io.StringIO()
    with RichProgress("judge", Console(file=screen, width=200)) as bar:
        bar.start(2, 0)
        bar.advance(_result(error=True, cost=0.5))
        bar.advance(_result(cost=0.25))
        bar.start(3, 1)
        bar.advance(_result(cached=True))
    first, second = bar._progress.tasks
    assert (first.completed, first.fields["errors"], first.fields["cost"]) == (2, 1, 0.75)
    assert (second.total, second.completed) == (3, 2)
    assert (second.fields["errors"], second.fields["cached"], second.fields["cost"]) == (0, 1, 0)
