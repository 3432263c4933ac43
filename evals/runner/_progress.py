"""Progress display for long runs: a rich bar with rate, ETA, errors, cache hits and cost."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evals.providers import CallResult


class ProgressReporter(Protocol):
    """Receives one update per finished call."""

    def start(self, total: int, already_done: int) -> None:
        """Begin a run of ``total`` calls, ``already_done`` of them finished earlier."""
        ...

    def advance(self, result: CallResult) -> None:
        """Record one finished call."""
        ...

    def stop(self) -> None:
        """End the display."""
        ...


class NoProgress:
    """A reporter that shows nothing (tests, benchmarks, non-interactive use)."""

    def start(self, total: int, already_done: int) -> None:
        """Do nothing."""

    def advance(self, result: CallResult) -> None:
        """Do nothing."""

    def stop(self) -> None:
        """Do nothing."""


class RichProgress:
    """A rich progress bar: done/total, calls/s, ETA, errors, cached calls and cost so far.

    Args:
        description: Label shown before the bar.
        console: Console to draw on (stderr by default, so stdout stays clean for reports).
    """

    def __init__(self, description: str = "calls", console: Console | None = None) -> None:
        """Prepare the bar; :meth:`start` shows it."""
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.1f}/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[red]{task.fields[errors]} err"),
            TextColumn("[cyan]{task.fields[cached]} cached"),
            TextColumn("${task.fields[cost]:.4f}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._description = description
        self._task: TaskID | None = None
        self._errors = 0
        self._cached = 0
        self._cost = 0.0

    def start(self, total: int, already_done: int) -> None:
        """Show a bar for a batch of calls; a later batch gets its own bar and counts.

        A command may run several batches (base and candidate, each rubric): the earlier
        bars stay on screen with their final counts.
        """
        self._errors, self._cached, self._cost = 0, 0, 0.0
        self._progress.start()
        self._task = self._progress.add_task(
            self._description, total=total, completed=already_done,
            rate=0.0, errors=0, cached=0, cost=0.0,
        )  # fmt: skip

    def advance(self, result: CallResult) -> None:
        """Count one finished call."""
        if self._task is None:
            return
        self._errors += result.error is not None
        self._cached += result.cached
        self._cost += result.cost_usd or 0.0
        task = self._progress.tasks[self._task]
        rate = task.speed or 0.0
        self._progress.update(
            self._task, advance=1, rate=rate, errors=self._errors,
            cached=self._cached, cost=self._cost,
        )  # fmt: skip

    def stop(self) -> None:
        """Leave the final state on screen."""
        self._progress.stop()

    def __enter__(self) -> RichProgress:
        """Use as a context manager."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        """Stop the display."""
        self.stop()
