"""``evalmon ingest``'s bar: bytes read of the total, drawn on the console it is given."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from flows.ingest_progress import IngestBar
from metrics.production import ingest_files
from metrics.store import Store
from tests.metrics.test_ingest import line, write


def test_the_bar_counts_the_bytes_an_ingest_reads(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", *(line(i) for i in range(50)))
    screen = io.StringIO()
    bar = IngestBar(Console(file=screen, width=120, force_terminal=True))
    report = ingest_files(Store(tmp_path / "e.duckdb"), path, block_bytes=2048, progress=bar)
    assert report.rows_added == 50
    assert bar.completed == path.stat().st_size
    drawn = screen.getvalue()
    assert "ingest" in drawn and f"{path.stat().st_size / 1000:.1f} kB" in drawn


def test_nothing_to_read_draws_no_bar() -> None:
    screen = io.StringIO()
    bar = IngestBar(Console(file=screen, width=120, force_terminal=True))
    bar.start(0)
    bar.advance(10)
    bar.stop()
    assert (bar.completed, screen.getvalue()) == (0.0, "")
