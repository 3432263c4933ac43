"""The progress bar of ``evalmon ingest``: bytes of capture files read, speed and time left."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class IngestBar:
    """A :class:`metrics.production.IngestProgress` drawn as a rich bar on stderr.

    Args:
        console: Console to draw on (stderr by default, so stdout keeps the summary).
    """

    def __init__(self, console: Console | None = None) -> None:
        """Prepare the bar; :meth:`start` shows it."""
        self._progress = Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task: TaskID | None = None

    def start(self, total_bytes: int) -> None:
        """Show the bar (nothing to read: no bar)."""
        if total_bytes > 0:
            self._progress.start()
            self._task = self._progress.add_task("ingest", total=total_bytes)

    def advance(self, n_bytes: int) -> None:
        """Move the bar ``n_bytes`` on (called from DuckDB's thread; rich locks)."""
        if self._task is not None:
            self._progress.advance(self._task, n_bytes)

    def stop(self) -> None:
        """Leave the final state on screen."""
        if self._task is not None:
            self._progress.stop()

    @property
    def completed(self) -> float:
        """Bytes counted so far."""
        return 0.0 if self._task is None else self._progress.tasks[0].completed
