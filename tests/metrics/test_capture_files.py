"""The capture writer: files, rotation, write failures, a full queue, and ingest by DuckDB."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import metrics.capture._writer as writer_module
from metrics.capture import (
    DUCKDB_COLUMNS,
    Capture,
    CaptureConfig,
    ProductionRecord,
    recover_part_files,
)

T0 = datetime(2025, 6, 1, 10, 59, 30, tzinfo=UTC)
NAME = re.compile(r"^app-(\d{8}-\d{2})-([0-9a-f]{8})-(\d{4})\.jsonl$")


class Clock:
    """A settable clock; calls from other threads wait at ``gate`` while it is closed."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self.owner = threading.get_ident()
        self.gate = threading.Event()
        self.gate.set()
        self.writer_waiting = threading.Event()

    def __call__(self) -> datetime:
        if threading.get_ident() != self.owner and not self.gate.is_set():
            self.writer_waiting.set()
            self.gate.wait(10.0)
        return self.now


def make(directory: Path, clock: Clock | None = None, **config: object) -> Capture:
    return Capture(
        CaptureConfig(directory=directory, app="app", **config),  # type: ignore[arg-type]
        clock=clock or Clock(),
    )


def record_one(capture: Capture, i: int, text: str = "answer") -> None:
    with capture.record(model="openai:gpt-4o", request_id=f"req-{i:04d}",
                        input_messages=[{"role": "user", "content": f"question {i}"}]) as rec:  # fmt: skip
        rec.set_output(f"{text} {i}", input_tokens=10, output_tokens=2, finish_reason="stop")


def lines_of(directory: Path, pattern: str = "*.jsonl") -> list[str]:
    return [ln for p in sorted(directory.glob(pattern)) for ln in p.read_text().splitlines()]


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_files_are_part_while_written_and_final_after_close(tmp_path: Path) -> None:
    capture = make(tmp_path)
    record_one(capture, 1)
    assert capture.flush()
    [part] = tmp_path.iterdir()
    assert part.name.endswith(".jsonl.part") and part.read_text().endswith("\n")
    capture.close()
    [final] = tmp_path.iterdir()
    match = NAME.match(final.name)
    assert match is not None and match.group(1) == "20250601-10" and match.group(3) == "0001"
    [line] = lines_of(tmp_path)
    assert ProductionRecord.model_validate_json(line).request_id == "req-0001"
    assert capture.stats().files_rotated == 1 and capture.stats().recorded == 1


def test_rotation_by_size_keeps_every_record_in_complete_lines(tmp_path: Path) -> None:
    with make(tmp_path, max_file_bytes=4096) as capture:
        for i in range(60):
            record_one(capture, i)
            if i % 7 == 0:
                assert capture.flush()  # mix small and large batches
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 5 and all(NAME.match(p.name) for p in files)
    assert all(p.stat().st_size <= 4096 for p in files)
    assert capture.stats().files_rotated == len(files)
    seen = []
    for path in files:
        text = path.read_text()
        assert text.endswith("\n")
        seen += [ProductionRecord.model_validate_json(ln).request_id for ln in text.splitlines()]
    assert sorted(seen) == [f"req-{i:04d}" for i in range(60)]


def test_rotation_by_hour_finishes_the_file_even_when_idle(tmp_path: Path) -> None:
    clock = Clock()
    with make(tmp_path, clock) as capture:
        record_one(capture, 1)
        assert capture.flush()
        clock.now = T0 + timedelta(minutes=1)  # 11:00:30, a new hour
        wait_until(lambda: capture.stats().files_rotated == 1)
        assert [p.suffix for p in tmp_path.iterdir()] == [".jsonl"]
        record_one(capture, 2)
    hours = sorted(NAME.match(p.name).group(1) for p in tmp_path.iterdir())  # type: ignore[union-attr]
    assert hours == ["20250601-10", "20250601-11"]


def test_a_directory_that_is_a_file_drops_and_counts_without_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with make(blocker) as capture:
        for i in range(3):
            record_one(capture, i)  # the app's calls go on
        assert capture.flush()
        stats = capture.stats()
    assert (stats.recorded, stats.write_errors, stats.dropped) == (0, 3, 3)
    dropped = capture.registry.get_sample_value(
        "evalmon_capture_dropped_records_total", {"reason": "write_error"}
    )
    assert dropped == 3.0


def test_a_directory_that_goes_away_mid_run_drops_then_recovers(tmp_path: Path) -> None:
    directory = tmp_path / "capture"
    with make(directory, max_file_bytes=1024) as capture:
        record_one(capture, 1, text="x" * 1100)  # bigger than a file: every record rotates
        assert capture.flush()
        directory.rename(tmp_path / "moved")
        directory.write_text("now a file")
        record_one(capture, 2, text="x" * 1100)
        assert capture.flush()
        assert capture.stats().write_errors == 1
        directory.unlink()
        record_one(capture, 3, text="x" * 1100)
    assert capture.stats().recorded == 2
    moved = [json.loads(ln)["evalmon.request_id"] for ln in lines_of(tmp_path / "moved", "*")]
    assert moved == ["req-0001"]
    assert [json.loads(ln)["evalmon.request_id"] for ln in lines_of(directory)] == ["req-0003"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_directory_drops_and_counts(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with make(tmp_path) as capture:
            record_one(capture, 1)
            assert capture.flush()
            assert capture.stats().write_errors == 1
    finally:
        tmp_path.chmod(0o700)


def test_a_failed_write_is_cut_back_to_complete_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_all = writer_module.write_all
    failures = [1]

    def half_then_full_disk(fd: int, data: bytes) -> None:
        if failures:
            failures.pop()
            os.write(fd, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(writer_module, "write_all", half_then_full_disk)
    with make(tmp_path) as capture:
        record_one(capture, 1)
        assert capture.flush()
        record_one(capture, 2)
    assert (capture.stats().write_errors, capture.stats().recorded) == (1, 1)
    [line] = lines_of(tmp_path)
    assert ProductionRecord.model_validate_json(line).request_id == "req-0002"


def test_a_full_queue_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    clock = Clock()
    clock.gate.clear()  # the writer thread stops at its next clock reading
    capture = make(tmp_path, clock, queue_size=3)
    try:
        record_one(capture, 0)  # the writer takes it and waits at the gate
        assert clock.writer_waiting.wait(10.0)
        for i in range(1, 6):
            record_one(capture, i)  # 3 fit in the queue, 2 do not
        stats = capture.stats()
        assert (stats.dropped_queue_full, stats.queued) == (2, 3)
        assert (
            capture.registry.get_sample_value(
                "evalmon_capture_dropped_records_total", {"reason": "queue_full"}
            )
            == 2.0
        )
    finally:
        clock.gate.set()
        capture.close()
    assert capture.stats().recorded == 4
    assert [json.loads(ln)["evalmon.request_id"] for ln in lines_of(tmp_path)] == [
        "req-0000", "req-0001", "req-0002", "req-0003"
    ]  # fmt: skip


def test_records_after_close_are_counted(tmp_path: Path) -> None:
    capture = make(tmp_path)
    capture.close()
    record_one(capture, 1)
    assert capture.stats().dropped_closed == 1
    assert capture.flush() is False


def test_recover_part_files_finishes_a_dead_writers_file(tmp_path: Path) -> None:
    old = tmp_path / "app-20250601-10-deadbeef-0001.jsonl.part"
    old.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "trunc')
    empty = tmp_path / "app-20250601-10-deadbeef-0002.jsonl.part"
    empty.write_bytes(b'{"partial')
    fresh = tmp_path / "app-20250601-12-cafebabe-0001.jsonl.part"
    fresh.write_bytes(b'{"a": 4}\n')
    now = time.time()
    for path in (old, empty):
        os.utime(path, (now - 4 * 3600, now - 4 * 3600))

    finished = recover_part_files(tmp_path, now=now)

    assert finished == [tmp_path / "app-20250601-10-deadbeef-0001.jsonl"]
    assert finished[0].read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "app-20250601-10-deadbeef-0001.jsonl", fresh.name
    ]  # fmt: skip


def test_duckdb_reads_finished_and_growing_files_with_fixed_columns(tmp_path: Path) -> None:
    with make(tmp_path, max_file_bytes=4096) as capture:
        for i in range(20):
            record_one(capture, i)
    growing = tmp_path / "app-20250601-11-0000beef-0001.jsonl.part"
    growing.write_text(lines_of(tmp_path)[0].replace("req-0000", "req-part") + "\n" + '{"evalmon.')

    rows = duckdb.sql(
        f'SELECT "evalmon.request_id", "gen_ai.usage.input_tokens", "evalmon.timestamp" '
        f"FROM read_json('{tmp_path}/*.jsonl*', format='newline_delimited', "
        f"columns={DUCKDB_COLUMNS!r}, ignore_errors=true) "
        'WHERE "evalmon.record_id" IS NOT NULL ORDER BY 1'
    ).fetchall()
    assert [r[0] for r in rows] == [f"req-{i:04d}" for i in range(20)] + ["req-part"]
    assert {r[1] for r in rows} == {10}
    assert rows[0][2] == T0
