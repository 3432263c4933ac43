"""What an ingest did: per file, and in total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FileAction = Literal["read", "resumed", "unchanged"]


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A line that was not loaded.

    Attributes:
        file: The file, as an absolute path.
        line: Its line number from 1 (for Parquet: the row number from 1).
        reason: What is wrong with it, naming the key when one is at fault.
    """

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        """``file:line: reason``, as compilers print it."""
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class FileIngest:
    """One file of an ingest.

    Attributes:
        path: The file, as an absolute path.
        action: ``read`` (from the start), ``resumed`` (after the lines read by an earlier
            ingest: the file grew, or a ``.jsonl.part`` file got its final name) or
            ``unchanged`` (same size and mtime as when it was read: skipped).
        lines: Lines read this time (blank ones included).
        rows_added: Records loaded into ``production_requests``.
        duplicates_skipped: Valid records whose record id was already loaded.
        quarantined: Lines quarantined.
        pending_bytes: An unfinished last line of a ``.part`` file, left for the next ingest.
    """

    path: str
    action: FileAction
    lines: int = 0
    rows_added: int = 0
    duplicates_skipped: int = 0
    quarantined: int = 0
    pending_bytes: int = 0


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The outcome of :func:`metrics.production.ingest_files`.

    Attributes:
        files: Each file, in the order read.
        rows_added: Records loaded.
        duplicates_skipped: Valid records not loaded because their record id was known
            (loaded before, or earlier in the same ingest).
        quarantined: Every line quarantined by this ingest.
        seconds: Wall time.
    """

    files: tuple[FileIngest, ...]
    rows_added: int
    duplicates_skipped: int
    quarantined: tuple[QuarantinedLine, ...]
    seconds: float

    @property
    def files_skipped(self) -> int:
        """Files skipped as unchanged."""
        return sum(f.action == "unchanged" for f in self.files)

    @property
    def summary(self) -> str:
        """One line for a log or the CLI; the speed counts every line read, duplicates too."""
        lines = sum(f.lines for f in self.files)
        speed = f" ({lines / self.seconds:,.0f} lines/s)" if lines and self.seconds > 0 else ""
        return (
            f"ingested {len(self.files)} file(s) ({self.files_skipped} unchanged): "
            f"{self.rows_added} record(s) added, {self.duplicates_skipped} duplicate(s) "
            f"skipped, {len(self.quarantined)} line(s) quarantined, in {self.seconds:.2f} s"
            f"{speed}"
        )
