"""The quality gauges on a hand-built store; the export of every source and its housekeeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from metrics.prometheus import ExportSettings, QualityCollector, StoreCollector, export_metrics
from metrics.store import MIGRATIONS, connect, migrate
from metrics.store._production import link_judge_scores
from tests.metrics.helpers import hold_open
from tests.metrics.prometheus_store import (
    CLAUDE,
    HOUR,
    NOW,
    add_position_run,
    gate,
    insert,
    quality_store,
    registry_of,
)


@pytest.fixture(params=["looked-up", "stored"])
def quality_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Judge scores without their request's record (looked up), or stored with it.

    Scores written by the judge carry the record; the production rows' request ids are then
    changed, so a lookup would find nothing: the same gauges show the stored columns are read.
    """
    path = quality_store(tmp_path / "q.duckdb")
    if request.param == "stored":
        with connect(path) as conn:
            link_judge_scores(conn)
            conn.execute("UPDATE production_requests SET request_id = request_id || '-moved'")
    return path


@pytest.fixture
def quality(quality_db: Path) -> Callable[..., float | None]:
    return registry_of(QualityCollector(quality_db, clock=lambda: NOW)).get_sample_value


def test_judge_score_and_judgments_per_window(quality: Callable[..., float | None]) -> None:
    base = {"rubric": "faithfulness", "judge": "openai:gpt-4o", **CLAUDE}
    del base["route"]
    for window, mean, n in (("5m", 0.75, 2), ("1h", 0.5, 3), ("24h", 0.5625, 4)):
        labels = {**base, "window": window}
        assert quality("evalmon_judge_score", labels) == pytest.approx(mean)
        assert quality("evalmon_judge_judgments", labels) == n
    retried = {**base, "model": "gpt-4o", "window": "5m"}
    assert quality("evalmon_judge_score", retried) == 1.0
    assert quality("evalmon_judge_judgments", retried) == 1
    helpful = {**base, "rubric": "helpfulness", "window": "24h"}
    assert quality("evalmon_judge_score", helpful) == 0.25
    # An unscored judgment is not a judgment (and never a score of 0).
    assert (
        quality("evalmon_judge_judgments", {**base, "judge": "local:smollm2", "window": "24h"})
        is None
    )


def test_latest_calibration_per_rubric_and_judge(quality: Callable[..., float | None]) -> None:
    gpt = {"rubric": "faithfulness", "judge": "openai:gpt-4o"}
    assert quality("evalmon_judge_calibrated", gpt) == 1
    assert quality("evalmon_judge_kappa", gpt) == 0.8
    local = {"rubric": "faithfulness", "judge": "local:smollm2"}
    assert quality("evalmon_judge_calibrated", local) == 0
    assert quality("evalmon_judge_kappa", local) is None  # undefined kappa


def test_review_queue_items_by_reason_and_status(quality: Callable[..., float | None]) -> None:
    expected = {("low_score", "open"): 2, ("low_score", "resolved"): 1,
                ("uncertain", "open"): 1, ("uncertain", "resolved"): 0,
                ("other", "open"): 1, ("other", "resolved"): 0}  # fmt: skip
    for (reason, status), n in expected.items():
        labels = {"reason": reason, "status": status}
        assert quality("evalmon_review_queue_items", labels) == n


def test_latest_gate_status_per_prompt_suite_and_branch(
    quality: Callable[..., float | None],
) -> None:
    main = {"prompt": "rag_qa", "suite": "nq_open_gate", "branch": "main"}
    statuses = {s: quality("evalmon_gate_status", {**main, "status": s})
                for s in ("pass", "fail", "inconclusive", "error")}  # fmt: skip
    assert statuses == {"pass": 0, "fail": 1, "inconclusive": 0, "error": 0}
    last = quality("evalmon_gate_last_run_timestamp_seconds", main)
    assert last == (NOW - HOUR * 24).timestamp()
    summaries = {"prompt": "summarize", "suite": "summaries", "branch": "main"}
    assert quality("evalmon_gate_status", {**summaries, "status": "inconclusive"}) == 1
    # A gate older than gate_max_age_days (90) is not exported.
    old = {"prompt": "rag_qa", "suite": "nq_open_gate", "branch": "prompt/old"}
    assert quality("evalmon_gate_last_run_timestamp_seconds", old) is None


def test_export_computes_every_source_once_with_housekeeping(quality_db: Path) -> None:
    add_position_run(quality_db)
    before = time.time()
    report = export_metrics(quality_db, now=NOW)
    assert report.ok and report.error is None and report.pushgateway_url is None
    assert [s.source for s in report.sources] == ["production", "quality", "position"]
    production = report.registries["production"].get_sample_value
    assert production("evalmon_llm_requests", {**CLAUDE, "window": "24h"}) == 5
    quality = report.registries["quality"].get_sample_value
    assert (
        quality("evalmon_judge_calibrated", {"rubric": "faithfulness", "judge": "openai:gpt-4o"})
        == 1
    )
    position = report.registries["position"].get_sample_value
    cell = {"task": "kv", "model": "local:smollm2", "context_size": "140", "setting": "position",
            "strategy": "original", "position": "0"}  # fmt: skip
    assert position("evalmon_position_accuracy_ratio", cell) == 0.7
    for source in report.sources:
        get = report.registries[source.source].get_sample_value
        assert get("evalmon_store_up") == 1
        duration = get("evalmon_export_duration_seconds")
        assert duration is not None and duration >= 0
        last = get("evalmon_export_last_success_timestamp_seconds")
        assert last is not None and before <= last <= time.time()
        assert source.series == sum(
            len(m.samples) for m in report.registries[source.source].collect()
        )
    assert report.series == sum(s.series for s in report.sources)
    # Nothing kept open: a writer can open the file at once.
    with connect(quality_db, lock_timeout_s=0) as conn:
        conn.execute("SELECT 1")


def test_a_locked_store_is_reported_down_for_every_source(quality_db: Path) -> None:
    proc = hold_open(quality_db, 30)
    try:
        report = export_metrics(quality_db, now=NOW, settings=ExportSettings(lock_timeout_s=0.3))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    assert not report.ok
    assert report.error is not None and f"PID {proc.pid}" in report.error
    for source in report.sources:
        metrics = {m.name: m for m in report.registries[source.source].collect()}
        assert set(metrics) == {"evalmon_store_up", "evalmon_export_duration_seconds"}
        assert metrics["evalmon_store_up"].samples[0].value == 0


def test_a_missing_store_is_down_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "e.duckdb"
    registry = registry_of(StoreCollector(path, clock=lambda: NOW))
    assert registry.get_sample_value("evalmon_store_up") == 0
    assert registry.get_sample_value("evalmon_export_last_success_timestamp_seconds") is None
    report = export_metrics(path, now=NOW)
    assert report.error is not None and "does not exist" in report.error
    assert not path.exists() and not path.parent.exists()


def test_a_store_without_the_production_tables_exports_what_it_has(tmp_path: Path) -> None:
    path = tmp_path / "v4.duckdb"
    with connect(path) as conn:
        migrate(conn, MIGRATIONS[:4])
        insert(conn, "gate_decisions", [gate("g1", NOW - HOUR, "pass")])
    report = export_metrics(path, now=NOW)
    assert report.ok
    production = report.registries["production"]
    assert [
        m.name for m in production.collect() if m.samples and m.name.startswith("evalmon_llm")
    ] == []
    quality = report.registries["quality"].get_sample_value
    main = {"prompt": "rag_qa", "suite": "nq_open_gate", "branch": "main", "status": "pass"}
    assert quality("evalmon_gate_status", main) == 1
    with connect(path) as conn:  # a read never migrates
        assert conn.execute("SELECT max(version) FROM schema_version").fetchall() == [(4,)]


def test_one_collector_serves_every_source_and_updates_last_success(quality_db: Path) -> None:
    collector = StoreCollector(quality_db, clock=lambda: NOW)
    registry = registry_of(collector)  # one evalmon_store_up: no duplicate-name error
    names = {m.name for m in registry.collect()}
    assert {"evalmon_llm_requests", "evalmon_judge_score", "evalmon_position_prompts",
            "evalmon_store_up"} <= names  # fmt: skip
    first = registry.get_sample_value("evalmon_export_last_success_timestamp_seconds")
    assert first is not None
    proc = hold_open(quality_db, 30)
    try:
        collector.settings = ExportSettings(lock_timeout_s=0.2)
        assert registry.get_sample_value("evalmon_store_up") == 0
        # The last success stays that of the last successful scrape.
        assert registry.get_sample_value("evalmon_export_last_success_timestamp_seconds") == first
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
