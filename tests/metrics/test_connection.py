"""Lock conflicts with a real second process: bounded retry and a clear message."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from metrics import Store
from metrics.store import StoreLockedError, connect, parse_lock_error
from tests.metrics.helpers import LOCK_HOLDER_MARKER, hold_open, make_record


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A second process holding ``tmp_path/e.duckdb`` open until the test ends."""
    db = tmp_path / "e.duckdb"
    proc = hold_open(db, 60)
    yield db, proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)


def test_locked_file_raises_a_clear_error_after_a_bounded_retry(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    db, proc = holder
    store = Store(db, lock_timeout_s=0.5)
    start = time.monotonic()
    with pytest.raises(StoreLockedError) as info:
        store.get_run("anything")
    elapsed = time.monotonic() - start

    message = str(info.value)
    assert "\n" not in message
    assert str(db) in message
    assert f"PID {proc.pid}" in message
    assert LOCK_HOLDER_MARKER in message  # the holder's command line, read from /proc/<pid>/cmdline
    assert "stop that process or wait, then run again" in message
    assert info.value.holder.pid == proc.pid
    assert isinstance(info.value, RuntimeError)
    assert 0.5 <= elapsed < 2.0  # retried, but not for longer than asked
    cause = info.value.__cause__
    assert isinstance(cause, duckdb.IOException)
    assert f'Could not set lock on file "{db}"' in str(cause)
    assert f"Conflicting lock is held in {Path(sys.executable).resolve()}" in str(cause)
    assert f"(PID {proc.pid})" in str(cause)


def test_the_retry_succeeds_once_the_other_process_lets_go(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    proc = hold_open(db, 0.4)
    start = time.monotonic()
    with connect(db, lock_timeout_s=5.0) as conn:
        assert conn.execute("SELECT 42").fetchall() == [(42,)]
    elapsed = time.monotonic() - start
    proc.wait(5)
    assert 0.1 < elapsed < 4.0


def test_write_never_waits_for_the_lock_and_flush_loads_later(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    db, proc = holder
    store = Store(db, lock_timeout_s=0.3, batch_size=1)
    start = time.monotonic()
    store.write(make_record(1))  # a batch is due, but the database is locked
    store.write(make_record(2))
    assert time.monotonic() - start < 0.5
    journal = db.with_name(db.name + ".journal") / "run-1.jsonl"
    assert len(journal.read_bytes().splitlines()) == 2
    with pytest.raises(StoreLockedError):
        store.flush()  # flush does wait, then says why it could not load

    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)
    store.flush()
    assert store.run_calls("run-1").column("call_key").to_pylist() == ["c1#0", "c2#0"]
    assert journal.read_bytes() == b""


def test_parse_lock_error_reads_duckdbs_message() -> None:
    message = (
        'IO Error: Could not set lock on file "/x/evalmon.duckdb": Conflicting lock is held in '
        "/usr/bin/python3.11 (PID 999999999). See also "
        "https://duckdb.org/docs/current/connect/concurrency"
    )
    holder = parse_lock_error(message)
    assert holder is not None
    assert holder.pid == 999999999
    assert holder.process == "/usr/bin/python3.11"  # no such process: falls back to DuckDB's exe
    assert parse_lock_error("IO Error: No space left on device") is None
