"""Which files to read, and where: the ``ingest_files`` bookkeeping.

After reading a file the ingest records its size, mtime (ns), how many bytes and lines it
consumed, and two fingerprints: the SHA-256 of its first 64 KiB and of the 64 KiB before the
consumed end. The next ingest of the same path

* skips it when size and mtime are unchanged (one ``stat``, no reading);
* resumes after the consumed end when the file grew and both fingerprints still match (an
  appended log, or a ``.jsonl.part`` file that the writer extended);
* reads it again from the start otherwise (it was rewritten); records already loaded are
  skipped as duplicates then.

A ``X.jsonl`` with no row of its own continues the row of ``X.jsonl.part`` (the capture
library renames a finished file), so its lines are not parsed twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb

from metrics.production._lines import PART_SUFFIX, fingerprints

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.part", ".ndjson.part")
PARQUET_SUFFIXES = (".parquet",)
_HINT = "ingest reads *.jsonl and *.jsonl.part (capture files), *.ndjson and *.parquet"

Format = Literal["jsonl", "parquet"]


@dataclass(frozen=True, slots=True)
class FileState:
    """A row of ``ingest_files``: what earlier ingests read of one path.

    Attributes:
        path: Absolute path.
        size: Size when last read.
        mtime_ns: Modification time when last read.
        head_sha256: SHA-256 of the first 64 KiB (of the consumed part).
        edge_sha256: SHA-256 of the 64 KiB before ``consumed_bytes``.
        consumed_bytes: Offset after the last complete line read.
        lines: Lines read (the number of the last one).
        rows: Records added from this file, over all ingests.
        duplicates: Duplicates skipped, over all ingests.
        quarantined: Lines quarantined, over all ingests.
        ingested_at: Last ingest of the file.
    """

    path: str
    size: int
    mtime_ns: int
    head_sha256: str
    edge_sha256: str
    consumed_bytes: int
    lines: int
    rows: int
    duplicates: int
    quarantined: int
    ingested_at: datetime


_STATE_COLUMNS = tuple(FileState.__dataclass_fields__)
_STATE_TYPES = {c: "BIGINT" for c in _STATE_COLUMNS} | {
    "path": "VARCHAR", "head_sha256": "VARCHAR", "edge_sha256": "VARCHAR",
    "ingested_at": "TIMESTAMPTZ",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class FilePlan:
    """What to do with one file in this ingest.

    Attributes:
        path: The file.
        format: ``jsonl`` or ``parquet``.
        size: Its size now (bytes appended later wait for the next ingest).
        mtime_ns: Its mtime now.
        skip: Unchanged since it was read.
        start: Offset to read from.
        first_line: Number of the line at ``start``.
        previous: The bookkeeping row continued (same path, or the ``.part`` name).
    """

    path: Path
    format: Format
    size: int
    mtime_ns: int
    skip: bool
    start: int
    first_line: int
    previous: FileState | None


def _format(path: Path) -> Format | None:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Resolve files and directories (their capture files, by name) into absolute paths.

    Raises:
        FileNotFoundError: A path does not exist.
        ValueError: A file is not JSONL or Parquet.
    """
    found: dict[Path, None] = {}
    for item in paths:
        path = Path(item).absolute()
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and _format(child) is not None:
                    found[child] = None
        elif path.is_file():
            if _format(path) is None:
                raise ValueError(f"{path}: not a capture file; {_HINT}")
            found[path] = None
        else:
            raise FileNotFoundError(f"{path}: no such file or directory; {_HINT}")
    return list(found)


def load_states(conn: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> dict[str, FileState]:
    """The ``ingest_files`` rows of ``paths`` and of their ``.part`` names."""
    keys = [str(p) for p in paths] + [str(p) + PART_SUFFIX for p in paths]
    rows = conn.execute(
        f"SELECT {', '.join(_STATE_COLUMNS)} FROM ingest_files WHERE list_contains(?, path)",
        [keys],
    ).fetchall()
    return {r[0]: FileState(*r) for r in rows}


def plan_file(path: Path, states: dict[str, FileState]) -> FilePlan:
    """Decide whether to skip, resume or read ``path`` (see the module docstring)."""
    stat = path.stat()
    fmt = _format(path) or "jsonl"
    previous = states.get(str(path))
    if previous is None and not path.name.endswith(PART_SUFFIX):
        previous = states.get(str(path) + PART_SUFFIX)
    plan = FilePlan(path, fmt, stat.st_size, stat.st_mtime_ns, False, 0, 1, previous)
    if previous is None:
        return plan
    unchanged = (previous.size, previous.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    if previous.path == str(path) and unchanged:
        return replace(plan, skip=True)
    consumed = previous.consumed_bytes
    if fmt == "jsonl" and 0 < consumed <= stat.st_size:
        grown_from = (previous.head_sha256, previous.edge_sha256)
        if fingerprints(path, consumed) == grown_from:
            return replace(plan, start=consumed, first_line=previous.lines + 1)
    return plan


def save_states(
    conn: duckdb.DuckDBPyConnection, states: Sequence[FileState], superseded: Sequence[str]
) -> None:
    """Upsert the rows of the files just read; drop the ``.part`` rows they continue."""
    if superseded:
        conn.execute("DELETE FROM ingest_files WHERE list_contains(?, path)", [list(superseded)])
    if not states:
        return
    columns = ", ".join(_STATE_COLUMNS)
    values = ", ".join(f"unnest(${c}::{_STATE_TYPES[c]}[])" for c in _STATE_COLUMNS)
    conn.execute(
        f"INSERT OR REPLACE INTO ingest_files ({columns}) SELECT {values}",
        {c: [getattr(s, c) for s in states] for c in _STATE_COLUMNS},
    )
