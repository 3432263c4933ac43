"""How an ingest reports its progress: bytes of capture files read so far.

:func:`metrics.production.ingest_files` calls :meth:`IngestProgress.start` once with the
bytes it will read (the files that changed, from where the last ingest stopped), then
:meth:`IngestProgress.advance` as it reads them (per block of a JSONL file, per Parquet
file), and :meth:`IngestProgress.stop` at the end, also after an error. The advances add up
to the total when the ingest succeeds. The calls may come from a DuckDB worker thread.
"""

from __future__ import annotations

from typing import Protocol


class IngestProgress(Protocol):
    """Receives the progress of an ingest (a progress bar, a log line per step)."""

    def start(self, total_bytes: int) -> None:
        """The ingest will read ``total_bytes``."""

    def advance(self, n_bytes: int) -> None:
        """``n_bytes`` more were read."""

    def stop(self) -> None:
        """The ingest is over."""


class NoIngestProgress:
    """Reports nothing (the default)."""

    def start(self, total_bytes: int) -> None:
        """Ignore the total."""

    def advance(self, n_bytes: int) -> None:
        """Ignore the step."""

    def stop(self) -> None:
        """Nothing to close."""
