"""Short-lived DuckDB connections that retry a lock held by another process.

DuckDB lets one process at a time open a database file (even read-only opens are refused
while another process has it open for writing). A second process gets::

    IO Error: Could not set lock on file "/path/evalmon.duckdb": Conflicting lock is held in
    /usr/bin/python3.11 (PID 4242). See also https://duckdb.org/docs/current/connect/concurrency

so every user of the store opens the file only for as long as one operation takes, and
:func:`connect` retries that error with a short bounded backoff before raising
:class:`StoreLockedError`, whose message says who holds the file and what to do.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

DEFAULT_DB_PATH = Path("evalmon.duckdb")
DEFAULT_LOCK_TIMEOUT_S = 5.0

_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")
_SECRET_RE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|(?i:(?:api[_-]?key|token|secret|password)[=:]\s*)\S+)"
)
_FIRST_DELAY_S = 0.05
_MAX_DELAY_S = 0.5
_MAX_CMDLINE_CHARS = 240
_MAX_ARG_CHARS = 60


@dataclass(frozen=True, slots=True)
class LockHolder:
    """The process DuckDB reported as holding the file lock.

    Attributes:
        pid: Process id from DuckDB's message (None if the message had none).
        process: Its command line from ``/proc/<pid>/cmdline``, else the executable DuckDB named.
    """

    pid: int | None
    process: str


class StoreLockedError(RuntimeError):
    """The DuckDB file stayed locked by another process for the whole retry period.

    Attributes:
        path: The database file.
        holder: Who holds the lock.
        waited_s: How long :func:`connect` retried before giving up.
    """

    def __init__(self, path: Path, holder: LockHolder, waited_s: float) -> None:
        """Build the one-line message from the file, the lock holder and the time waited."""
        self.path = path
        self.holder = holder
        self.waited_s = waited_s
        pid = holder.pid if holder.pid is not None else "?"
        super().__init__(
            f"DuckDB file {path} is locked by another process: PID {pid} ({holder.process}); "
            f"stop that process or wait, then run again (gave up after {waited_s:.1f} s)"
        )


def parse_lock_error(message: str) -> LockHolder | None:
    """Return the lock holder named in a DuckDB lock-conflict message, or None if it is not one."""
    if "Conflicting lock" not in message and "Could not set lock" not in message:
        return None
    match = _LOCK_RE.search(message)
    if match is None:
        return LockHolder(pid=None, process="unknown process")
    pid = int(match.group("pid"))
    return LockHolder(pid=pid, process=_describe_process(pid, match.group("exe")))


def _describe_process(pid: int, exe: str) -> str:
    """Return the redacted, shortened command line of ``pid``, falling back to ``exe``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        raw = b""
    args = [" ".join(a.split()) for a in raw.decode("utf-8", "replace").split("\0") if a]
    args = [a if len(a) <= _MAX_ARG_CHARS else a[: _MAX_ARG_CHARS - 3] + "..." for a in args]
    text = _SECRET_RE.sub("[redacted]", " ".join(args) or exe)
    if len(text) > _MAX_CMDLINE_CHARS:
        text = text[: _MAX_CMDLINE_CHARS - 3] + "..."
    return text


def open_connection(
    path: Path | str,
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying a lock conflict for up to ``lock_timeout_s`` seconds.

    The caller owns the connection and must close it soon; prefer :func:`connect`.

    Args:
        path: Database file; its parent directories are created.
        lock_timeout_s: Total time to keep retrying a lock held by another process
            (0 means a single attempt).
        read_only: Open read-only (still refused while another process writes).

    Returns:
        An open connection with the session time zone set to UTC.

    Raises:
        StoreLockedError: Another process kept the file locked for ``lock_timeout_s``.
    """
    db_path = Path(path)
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    deadline = start + max(lock_timeout_s, 0.0)
    delay = _FIRST_DELAY_S
    while True:
        try:
            conn = duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.IOException as exc:
            holder = parse_lock_error(str(exc))
            if holder is None:
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreLockedError(db_path, holder, time.monotonic() - start) from exc
            time.sleep(min(delay * random.uniform(0.8, 1.2), remaining))
            delay = min(delay * 2, _MAX_DELAY_S)
            continue
        try:
            conn.execute("SET TimeZone = 'UTC'")
        except BaseException:
            conn.close()
            raise
        return conn


@contextmanager
def connect(
    path: Path | str = DEFAULT_DB_PATH,
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    read_only: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database for one short operation and close it afterwards.

    Never keep the connection across a run: while it is open no other process can open the
    file. See :func:`open_connection` for the arguments and the retry.

    Yields:
        An open connection (session time zone UTC).
    """
    conn = open_connection(path, lock_timeout_s=lock_timeout_s, read_only=read_only)
    try:
        yield conn
    finally:
        conn.close()
