"""Prometheus gauges of the position benchmark, read from the store at each scrape."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from metrics.prometheus import NO_POSITION, PositionCollector, build_registry
from metrics.store import PositionResultRow, Store, connect, migrate
from metrics.store._migrations import MIGRATIONS
from tests.metrics.helpers import hold_open

KV = {"task": "kv", "model": "local:smollm2", "context_size": "140"}
QA = {"task": "qa", "model": "local:smollm2", "context_size": "20"}
OLD, NEW = datetime(2025, 6, 1, 12, tzinfo=UTC), datetime(2025, 6, 8, 12, tzinfo=UTC)


def _row(
    run_id: str, task: str, size: int, setting: str, position: int | None, **kw: float
) -> PositionResultRow:
    n, correct = int(kw.get("n", 10)), int(kw.get("correct", 5))
    return PositionResultRow(
        run_id=run_id, task=task, model_ref="local:smollm2", context_size=size,
        setting=setting, strategy="original", position=position, n=n, correct=correct,
        errors=int(kw.get("errors", 0)), skipped=int(kw.get("skipped", 0)),
        accuracy=correct / n if n else None, ci_low=kw.get("ci_low", 0.2),
        ci_high=kw.get("ci_high", 0.8),
    )  # fmt: skip


def _run(
    store: Store, run_id: str, rows: list[PositionResultRow], finished: datetime | None
) -> None:
    store.start_run(run_id, "position", "local:smollm2", "lost-in-the-middle/x", "x")
    store.write_position_results(run_id, rows)
    if finished is not None:
        store.finish_run(run_id, "finished")
        with store.connection() as conn:
            conn.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [finished, run_id])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with an old and a new KV run, an unfinished newer one, and one QA run."""
    path = tmp_path / "e.duckdb"
    with Store(path) as store:
        _run(store, "kv-old", [_row("kv-old", "kv", 140, "position", 0, correct=9)], OLD)
        _run(store, "kv-new", [
            _row("kv-new", "kv", 140, "position", 0, correct=8, skipped=2, ci_low=0.49,
                 ci_high=0.94),
            _row("kv-new", "kv", 140, "position", 69, n=0, correct=0, skipped=10),
        ], NEW)  # fmt: skip
        _run(store, "kv-running", [_row("kv-running", "kv", 140, "position", 0, correct=0)], None)
        _run(store, "qa-1", [
            _row("qa-1", "qa", 20, "position", 9, correct=4),
            _row("qa-1", "qa", 20, "closedbook", None, correct=3, skipped=1),
        ], OLD)  # fmt: skip
    return path


def _registry(path: Path, **kw: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PositionCollector(path, **kw))
    return registry


def test_latest_finished_run_per_task_model_and_size(db: Path) -> None:
    registry = _registry(db)
    get = registry.get_sample_value
    at_0 = {**KV, "setting": "position", "strategy": "original", "position": "0"}
    assert get("evalmon_position_accuracy_ratio", at_0) == pytest.approx(0.8)  # kv-new
    assert get("evalmon_position_accuracy_ci_low_ratio", at_0) == pytest.approx(0.49)
    assert get("evalmon_position_accuracy_ci_high_ratio", at_0) == pytest.approx(0.94)
    assert get("evalmon_position_prompts", at_0) == 10
    # A cell with every prompt skipped: scored count 0, no accuracy or interval.
    at_69 = {**at_0, "position": "69"}
    assert get("evalmon_position_prompts", at_69) == 0
    assert get("evalmon_position_accuracy_ratio", at_69) is None
    assert get("evalmon_position_accuracy_ci_low_ratio", at_69) is None
    assert get("evalmon_position_skipped_prompts", KV) == 12
    assert get("evalmon_position_last_run_timestamp_seconds", KV) == NEW.timestamp()
    closedbook = {**QA, "setting": "closedbook", "strategy": "original", "position": NO_POSITION}
    assert NO_POSITION == "none"
    assert get("evalmon_position_accuracy_ratio", closedbook) == pytest.approx(0.3)
    assert get("evalmon_position_skipped_prompts", QA) == 1
    assert get("evalmon_position_last_run_timestamp_seconds", QA) == OLD.timestamp()
    assert get("evalmon_store_up") == 1
    # Only the latest finished run of each (task, model, size): 2 KV cells + 2 QA cells.
    (prompts,) = [m for m in registry.collect() if m.name == "evalmon_position_prompts"]
    assert len(prompts.samples) == 4
    for metric in registry.collect():
        for sample in metric.samples:
            assert "run_id" not in sample.labels
            assert not any(v.startswith(("kv-", "qa-")) for v in sample.labels.values())


def test_the_exposition_parses_and_the_store_is_closed_after_a_scrape(db: Path) -> None:
    registry = build_registry(db)
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {
        "evalmon_position_accuracy_ratio", "evalmon_position_accuracy_ci_low_ratio",
        "evalmon_position_accuracy_ci_high_ratio", "evalmon_position_prompts",
        "evalmon_position_skipped_prompts", "evalmon_position_last_run_timestamp_seconds",
        "evalmon_store_up",
    } == set(families)  # fmt: skip
    assert {f.type for f in families.values()} == {"gauge"}
    (up,) = families["evalmon_store_up"].samples
    assert up.value == 1
    # Nothing kept open: a writer in this process can open the file read-write at once.
    with connect(db, lock_timeout_s=0) as conn:
        conn.execute("SELECT 1")


def test_a_locked_store_reports_down_after_a_short_retry(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proc = hold_open(db, 30)
    try:
        registry = _registry(db, lock_timeout_s=0.3)
        start = time.monotonic()
        metrics = list(registry.collect())
        elapsed = time.monotonic() - start
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    assert [m.name for m in metrics] == ["evalmon_store_up"]
    assert metrics[0].samples[0].value == 0
    assert 0.3 <= elapsed < 2.0
    assert f"PID {proc.pid}" in caplog.text
    # Once the writer has gone the next scrape reads the store again.
    assert registry.get_sample_value("evalmon_store_up") == 1


def test_a_missing_store_is_down_and_not_created(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "nowhere" / "e.duckdb"
    caplog.set_level(logging.WARNING)
    registry = build_registry(path)  # registering reads nothing
    assert registry.get_sample_value("evalmon_store_up") == 0
    assert [m.name for m in registry.collect()] == ["evalmon_store_up"]
    assert "run `evalmon position run` to create it" in caplog.text
    assert not path.exists() and not path.parent.exists()


def test_an_older_schema_is_read_without_migrating(tmp_path: Path) -> None:
    """A v2 store (no ``skipped`` column) reads 0 skipped; a v1 store has no position data."""
    v1, v2 = tmp_path / "v1.duckdb", tmp_path / "v2.duckdb"
    with connect(v1) as conn:
        migrate(conn, MIGRATIONS[:1])
    with connect(v2) as conn:
        migrate(conn, MIGRATIONS[:2])
        conn.execute(
            "INSERT INTO runs (run_id, kind, status, model_ref, created_at, finished_at) "
            "VALUES ('old', 'position', 'finished', 'local:smollm2', ?, ?)",
            [OLD, OLD],
        )
        conn.execute(
            "INSERT INTO position_results VALUES ('old', 'kv', 'local:smollm2', 140, "
            "'position', 'original', 0, 10, 6, 0, 0.6, 0.31, 0.83, now())"
        )
    old = build_registry(v2)
    assert old.get_sample_value("evalmon_position_skipped_prompts", KV) == 0
    assert old.get_sample_value("evalmon_position_last_run_timestamp_seconds", KV) == (
        OLD.timestamp()
    )
    oldest = build_registry(v1)
    assert oldest.get_sample_value("evalmon_store_up") == 1
    assert [m.name for m in oldest.collect() if m.samples] == ["evalmon_store_up"]
    with connect(v2) as conn:  # still at version 2: a scrape never migrates
        assert conn.execute("SELECT max(version) FROM schema_version").fetchall() == [(2,)]
