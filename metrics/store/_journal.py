"""Append-only JSON-lines journal that makes ``Store.write`` cheap and durable.

Each run being written has one file ``<db>.journal/<run>.jsonl``. A record is one line,
handed to the OS with a single ``write(2)`` before ``write`` returns, so it survives the
process being killed (``fsync=True`` also survives a power cut, at a cost). The store loads
the pending lines into DuckDB in batches and then truncates the files.

A writer holds an exclusive ``flock`` on its file while the file is open. A file nobody
holds was left by a process that died before its last batch was loaded; :meth:`recover`
loads such orphans (loading is idempotent, so a crash between loading and truncating is
harmless). A writer that opens a run's file and finds lines in it adopts them as pending.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metrics.store._arrow import Row, decode_line, encode_row

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_SUFFIX = ".jsonl"


class JournalBusyError(RuntimeError):
    """Another live process (or another store in this process) is writing the same run."""


def journal_dir(db_path: Path) -> Path:
    """Return the journal directory of the database file ``db_path``."""
    return db_path.with_name(db_path.name + ".journal")


def journal_file_name(run_id: str) -> str:
    """Return a file name unique to ``run_id`` (the id itself when it is a safe name)."""
    if _SAFE_NAME.fullmatch(run_id) and not run_id.startswith("."):
        return run_id + _SUFFIX
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:60].lstrip(".")
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:16]
    return f"{cleaned}~{digest}{_SUFFIX}"


@dataclass(slots=True)
class _OpenFile:
    path: Path
    fd: int
    run_id: str
    rows: int = 0


@dataclass(slots=True)
class Journal:
    """The journal files this process writes, and the rows not yet loaded into DuckDB.

    Attributes:
        directory: Where the ``.jsonl`` files live (created on first write).
        fsync: Call ``fsync`` after every line (survives power loss; much slower).
    """

    directory: Path
    fsync: bool = False
    _files: dict[str, _OpenFile] = field(default_factory=dict)
    _pending: list[Row] = field(default_factory=list)
    _pending_lines: list[bytes] = field(default_factory=list)

    @property
    def pending(self) -> list[Row]:
        """Rows written (or adopted) but not yet marked loaded, in write order."""
        return self._pending

    @property
    def pending_lines(self) -> list[bytes]:
        """The journal lines of :attr:`pending`, one each, in the same order."""
        return self._pending_lines

    def append(self, row: Row) -> None:
        """Write ``row`` as one line of its run's journal and keep it as pending.

        Raises:
            JournalBusyError: Another process holds this run's journal.
        """
        run_id = str(row["run_id"])
        handle = self._files.get(run_id)
        if handle is None:
            handle = self._open(run_id)
        data = encode_row(row)
        view = memoryview(data)
        while view:
            written = os.write(handle.fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(handle.fd)
        handle.rows += 1
        self._pending.append(row)
        self._pending_lines.append(data)

    def mark_loaded(self, count: int) -> None:
        """Forget the first ``count`` pending rows: they are in DuckDB now.

        The files are emptied only when nothing is pending any more; until then they keep
        loaded rows too, which is harmless because loading a journal is idempotent.
        """
        del self._pending[:count]
        del self._pending_lines[:count]
        if self._pending:
            return
        for handle in self._files.values():
            if handle.rows:
                os.ftruncate(handle.fd, 0)
                handle.rows = 0

    def recover(self, load: Callable[[list[Row]], None]) -> int:
        """Load every orphaned journal (held by no live process) and delete it.

        Args:
            load: Loads rows into the database; it is called once per orphaned file,
                oldest first, and the file is deleted only after it returns.

        Returns:
            The number of rows recovered.
        """
        if not self.directory.is_dir():
            return 0
        own = {h.path for h in self._files.values()}
        candidates = [p for p in self.directory.glob("*" + _SUFFIX) if p not in own]
        total = 0
        for path in sorted(candidates, key=_mtime):
            fd = _lock_existing(path)
            if fd is None:
                continue
            try:
                rows = _read_rows(fd, path)
                if rows:
                    load(rows)
                    log.info("recovered %d unsaved call records from %s", len(rows), path)
                path.unlink(missing_ok=True)
                total += len(rows)
            finally:
                os.close(fd)
        return total

    def close(self) -> None:
        """Close the files; empty ones are deleted, non-empty ones stay for recovery."""
        for handle in self._files.values():
            try:
                if os.fstat(handle.fd).st_size == 0:
                    handle.path.unlink(missing_ok=True)
            finally:
                os.close(handle.fd)
        self._files.clear()
        self._pending.clear()
        self._pending_lines.clear()

    def _open(self, run_id: str) -> _OpenFile:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / journal_file_name(run_id)
        for _ in range(5):
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise JournalBusyError(
                    f"run {run_id!r} is being written by another process (journal {path} is "
                    "locked); stop that process or wait, then run again"
                ) from None
            if not _same_file(fd, path):  # a recovering process deleted it meanwhile
                os.close(fd)
                continue
            adopted = _read_rows(fd, path)
            handle = _OpenFile(path=path, fd=fd, run_id=run_id, rows=len(adopted))
            self._pending.extend(adopted)
            self._pending_lines.extend(encode_row(row) for row in adopted)
            self._files[run_id] = handle
            return handle
        raise JournalBusyError(f"could not open journal {path}: it keeps being replaced")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _lock_existing(path: Path) -> int | None:
    """Open and exclusively lock an existing journal; None if it is held or gone."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not _same_file(fd, path):
        os.close(fd)
        return None
    return fd


def _read_rows(fd: int, path: Path) -> list[Row]:
    """Read the complete lines of a locked journal; cut off a torn last line."""
    size = os.fstat(fd).st_size
    if size == 0:
        return []
    chunks: list[bytes] = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    data = b"".join(chunks)
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        log.warning("dropping a torn last line (%d bytes) from %s", len(data) - complete, path)
        os.ftruncate(fd, complete)
    rows: list[Row] = []
    rejected: list[bytes] = []
    for line in data[:complete].splitlines():
        if not line.strip():
            continue
        row = decode_line(line)
        if row is None:
            rejected.append(line + b"\n")
        else:
            rows.append(row)
    if rejected:
        keep = path.with_name(path.name + ".rejected")
        with keep.open("ab") as out:
            out.writelines(rejected)
        log.warning("kept %d unreadable lines of %s in %s", len(rejected), path, keep)
    return rows
