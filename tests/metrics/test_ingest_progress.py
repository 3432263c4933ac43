"""Ingest progress (the bytes to read, steps that add up to them, always a stop) and summary."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from metrics.production import IngestProgress, ingest_files
from metrics.production import _ingest as ingest_module
from metrics.store import Store
from tests.metrics.test_ingest import line, write


class Recorder:
    """An :class:`IngestProgress` that keeps every call."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.steps: list[int] = []
        self.stopped = 0

    def start(self, total_bytes: int) -> None:
        self.total = total_bytes

    def advance(self, n_bytes: int) -> None:
        self.steps.append(n_bytes)

    def stop(self) -> None:
        self.stopped += 1


def ingest(store: Store, paths: list[Path], **options: int) -> Recorder:
    recorder = Recorder()
    progress: IngestProgress = recorder
    ingest_files(store, paths, progress=progress, **options)
    return recorder


def test_the_steps_add_up_to_the_bytes_of_every_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "evalmon.duckdb")
    many = write(tmp_path / "a.jsonl", *(line(i) for i in range(40)))
    bom = tmp_path / "b.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + (line(100) + "\n").encode())
    part = tmp_path / "c.jsonl.part"
    part.write_text(line(200) + "\n" + line(201)[:30], encoding="utf-8")  # still being written
    parquet = tmp_path / "d.parquet"
    with duckdb.connect() as conn:
        conn.execute(
            f"COPY (SELECT * FROM read_json('{many}', format = 'newline_delimited') LIMIT 3) "
            f"TO '{parquet}' (FORMAT parquet)"
        )
    files = [many, bom, part, parquet]

    first = ingest(store, files, block_bytes=1024, batch_bytes=4096)

    sizes = sum(p.stat().st_size for p in files)
    assert first.total == sizes == sum(first.steps)
    assert len(first.steps) > 10 and all(step > 0 for step in first.steps)  # block by block
    assert first.stopped == 1
    # Nothing changed: nothing to read, no step.
    again = ingest(store, files)
    assert (again.total, again.steps, again.stopped) == (0, [], 1)


def test_a_grown_file_counts_only_its_new_bytes(tmp_path: Path) -> None:
    store = Store(tmp_path / "evalmon.duckdb")
    path = write(tmp_path / "a.jsonl", line(1), line(2))
    ingest(store, [path])
    before = path.stat().st_size
    with path.open("a", encoding="utf-8") as f:
        f.write(line(3) + "\n")
    grown = ingest(store, [path])
    assert grown.total == sum(grown.steps) == path.stat().st_size - before > 0


def test_a_failed_ingest_still_stops_the_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "evalmon.duckdb")
    path = write(tmp_path / "a.jsonl", line(1))

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "save_states", broken)
    recorder = Recorder()
    with pytest.raises(OSError, match="disk full"):
        ingest_files(store, path, progress=recorder)
    assert recorder.stopped == 1 and recorder.total == path.stat().st_size


def test_the_summary_gives_the_speed_of_the_lines_read(tmp_path: Path) -> None:
    store = Store(tmp_path / "evalmon.duckdb")
    path = write(tmp_path / "a.jsonl", line(1), line(2), line(1))
    first = ingest_files(store, path).summary
    assert "2 record(s) added, 1 duplicate(s) skipped, 0 line(s) quarantined" in first
    assert first.endswith(" lines/s)")
    again = ingest_files(store, path).summary  # nothing read: no speed to give
    assert "(1 unchanged): 0 record(s) added" in again and "/s" not in again
