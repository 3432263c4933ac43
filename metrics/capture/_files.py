"""Capture file names, and recovery of the files a crashed writer left unfinished.

A writer appends to ``DIR/<app>-<YYYYMMDD>-<HH>-<writer>-<seq>.jsonl.part`` and renames it
to the same name ending in ``.jsonl`` when it finishes the file: when the file reaches
``max_file_bytes``, when the UTC hour changes, and on ``close()``. ``<YYYYMMDD>-<HH>`` is the
UTC hour the file was opened; ``<writer>`` is 8 hex digits drawn per ``Capture`` (so several
processes, or several captures in one process, never share a file); ``<seq>`` counts the
writer's files from 0001. Names sort by app, then time.

Readers: a ``.jsonl`` file is final and never written again. A ``.jsonl.part`` file is
being appended to in whole lines, but may end in a partial line; read it only if you ignore
that line: with DuckDB, ``read_json(..., format='newline_delimited', columns=DUCKDB_COLUMNS,
ignore_errors=true)`` turns it into a row of NULLs, so keep only rows whose
``evalmon.record_id`` is not NULL. :func:`recover_part_files` finishes the ``.part`` files
of a writer that died.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

PART_SUFFIX = ".jsonl.part"
FINAL_SUFFIX = ".jsonl"
_CHUNK = 64 * 1024
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC


def hour_key(moment: datetime) -> str:
    """The ``YYYYMMDD-HH`` (UTC) part of a file name."""
    return moment.astimezone(UTC).strftime("%Y%m%d-%H")


def part_name(app: str, hour: str, writer_id: str, seq: int) -> str:
    """Name of a file being written."""
    return f"{app}-{hour}-{writer_id}-{seq:04d}{PART_SUFFIX}"


def final_path(part: Path) -> Path:
    """The finished name of a ``.jsonl.part`` path."""
    return part.with_name(part.name.removesuffix(PART_SUFFIX) + FINAL_SUFFIX)


def complete_length(fd: int, size: int) -> int:
    """Length of the file's prefix that ends with a newline (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        chunk = os.pread(fd, end - start, start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        end = start
    return 0


def recover_part_files(
    directory: Path, *, older_than_s: float = 3 * 3600.0, now: float | None = None
) -> list[Path]:
    """Finish the ``.jsonl.part`` files that no writer has touched for ``older_than_s``.

    A live writer finishes its file at least every UTC hour, so a ``.part`` file that has
    not been modified for hours belongs to a process that died. Its trailing partial line
    (if any) is cut off and it is renamed to ``.jsonl``; a file with no complete line is
    deleted. Run this from the ingest side before reading a capture directory.

    Args:
        directory: The capture directory.
        older_than_s: Minimum age of the last modification (keep it well above an hour).
        now: Current Unix time (default: ``time.time()``).

    Returns:
        The finished files, by name.
    """
    cutoff = (time.time() if now is None else now) - older_than_s
    finished: list[Path] = []
    for part in sorted(directory.glob(f"*{PART_SUFFIX}")):
        try:
            if part.stat().st_mtime >= cutoff:
                continue
            fd = os.open(part, os.O_RDWR)
            try:
                size = os.fstat(fd).st_size
                keep = complete_length(fd, size)
                if keep != size:
                    os.ftruncate(fd, keep)
            finally:
                os.close(fd)
            if keep == 0:
                part.unlink()
                continue
            os.replace(part, final_path(part))
            finished.append(final_path(part))
        except FileNotFoundError:
            continue  # finished or recovered by someone else meanwhile
    return finished


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(f"write returned {written}")
        view = view[written:]


def open_part(
    directory: Path, app: str, hour: str, writer_id: str, seq: int
) -> tuple[int, Path, int]:
    """Create a new ``.part`` file for appending, numbered ``seq`` or the next free number.

    Returns:
        The file descriptor, the path and the number used.
    """
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        part = directory / part_name(app, hour, writer_id, seq)
        if not final_path(part).exists():
            try:
                return os.open(part, _OPEN_FLAGS, 0o640), part, seq
            except FileExistsError:
                pass
        seq += 1


def finish_part(fd: int, part: Path, size: int) -> bool:
    """Sync and close a ``.part`` file, then rename it to ``.jsonl`` (delete it if empty).

    Returns:
        True when the file got its final name.

    Raises:
        OSError: When the rename (or the deletion) failed; the file stays ``.part``.
    """
    try:
        os.fsync(fd)
    except OSError:
        pass  # the data is with the OS already; a sync failure loses nothing by itself
    finally:
        os.close(fd)
    if size == 0:
        part.unlink()
        return False
    os.rename(part, final_path(part))
    return True
