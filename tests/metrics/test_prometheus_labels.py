"""Names and labels of every exported family: the contract, the naming rules, boundedness."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from metrics.prometheus import (
    PositionCollector,
    ProductionCollector,
    QualityCollector,
    StoreCollector,
    export_metrics,
)
from metrics.store import PositionResultRow, Store, connect
from tests.metrics.prometheus_store import NOW, call, gate, insert, new_store

ROOT = Path(__file__).resolve().parents[2]
#: Label names whose values come from a small, configured or enumerated set.
BOUNDED_LABELS = {
    "model", "prompt_version", "route", "window", "quantile", "type", "rubric", "judge",
    "reason", "status", "prompt", "suite", "branch", "task", "context_size", "setting",
    "strategy", "position", "source",
}  # fmt: skip
#: Parts of a label name that mean one value per request, user, run or text.
UNBOUNDED_PARTS = ("request", "record", "user", "run", "id", "text", "message", "output", "hash")
NON_BASE_UNITS = ("milliseconds", "microseconds", "ms", "us", "minutes", "hours", "days",
                  "percent", "kilobytes", "megabytes", "kb", "mb", "cents")  # fmt: skip
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
MIN = timedelta(minutes=1)


def _fill(path: Path, extra_requests: int = 0) -> None:
    """Rows behind every family.

    ``extra_requests`` more calls, each with its own request id and user, judged and queued
    for review, all in label sets that already exist.
    """
    with connect(path) as conn:
        insert(conn, "production_requests", [
            call(ago=MIN, request_id="r1", logprobs=[-0.5]),
            call(ago=MIN, request_id="r2", status="error", error_type="BadRequestError",
                 error_message="prompt is too long: 208310 tokens > 200000 maximum",
                 input_tokens=None, output_tokens=None),
        ])  # fmt: skip
        insert(conn, "judge_scores", [{"request_id": "r1", "judge_ref": "openai:gpt-4o",
                                       "rubric_version": "faithfulness@1#a", "score": 0.5,
                                       "created_at": NOW}])  # fmt: skip
        insert(conn, "review_queue", [{"request_id": "r1", "reason": "low_score",
                                       "status": "open", "created_at": NOW}])  # fmt: skip
        insert(conn, "judge_calibrations", [{"judge_ref": "openai:gpt-4o",
                                             "rubric_version": "faithfulness@1#a", "n": 50,
                                             "weighted_kappa": 0.7, "calibrated": True,
                                             "created_at": NOW}])  # fmt: skip
        insert(conn, "gate_decisions", [gate("g1", NOW - MIN, "pass")])
        if extra_requests:
            conn.execute(f"""
                INSERT INTO production_requests BY NAME
                SELECT 'x' || i AS record_id, 'x' || i AS request_id,
                    TIMESTAMPTZ '{NOW.isoformat()}' - INTERVAL 2 MINUTE AS ts,
                    'user-' || i AS user_hash, 'anthropic' AS provider,
                    'claude-sonnet-4-5' AS request_model, 'rag_qa@1.0.0' AS prompt_ref,
                    'answer' AS route, 'Answer number ' || i AS output, 0.5 + i / 1e5 AS latency_s,
                    1000 + i AS input_tokens, 10 AS output_tokens, '[-0.25]' AS logprobs,
                    'ok' AS status, 'extra.jsonl' AS source_file, i AS source_line,
                    TIMESTAMPTZ '{NOW.isoformat()}' AS ingested_at
                FROM range({extra_requests}) t(i)
            """)  # fmt: skip
            conn.execute("""
                INSERT INTO judge_scores BY NAME
                SELECT request_id, 'openai:gpt-4o' AS judge_ref,
                    'faithfulness@1#a' AS rubric_version, 0.25 AS score, ingested_at AS created_at
                FROM production_requests WHERE source_file = 'extra.jsonl'
            """)
            conn.execute("""
                INSERT INTO review_queue BY NAME
                SELECT request_id, 'low_score' AS reason, 'open' AS status, ingested_at AS created_at
                FROM production_requests WHERE source_file = 'extra.jsonl'
            """)
    row = PositionResultRow(
        run_id="p", task="kv", model_ref="local:smollm2", context_size=140, setting="position",
        strategy="original", position=0, n=10, correct=7, errors=0, skipped=1, accuracy=0.7,
        ci_low=0.4, ci_high=0.9,
    )  # fmt: skip
    with Store(path) as store:
        store.start_run("p", "position", "local:smollm2", "litm/x", "x")
        store.write_position_results("p", [row])
        store.finish_run("p", "finished")


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> list[Metric]:
    """Every family every collector reports, from a store with rows behind each of them."""
    path = new_store(tmp_path_factory.mktemp("labels") / "e.duckdb")
    _fill(path)
    found: list[Metric] = []
    for collector in (StoreCollector(path, clock=lambda: NOW), ProductionCollector(path, clock=lambda: NOW),
                      QualityCollector(path, clock=lambda: NOW), PositionCollector(path)):  # fmt: skip
        found += list(collector.describe()) + list(collector.collect())
    report = export_metrics(path, now=NOW)
    for registry in report.registries.values():
        found += list(registry.collect())
    return found


def _contract_names() -> set[str]:
    text = (ROOT / "dashboards" / "METRICS.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(evalmon_[a-z0-9_]+)`", text)) - {"evalmon_prompt_version"}


def test_every_family_is_in_the_contract_and_every_contract_gauge_is_exported(
    families: list[Metric],
) -> None:
    names = {f.name for f in families}
    live_only = {"evalmon_capture_dropped_records_total"}  # the capture library's counter
    assert names == _contract_names() - live_only
    # Each family has samples in the populated store (so the label checks below see them).
    sampled = {f.name for f in families if f.samples}
    assert sampled == names


def test_naming_rules(families: list[Metric]) -> None:
    for family in families:
        name = family.name
        assert SNAKE.fullmatch(name), f"{name} is not snake_case"
        assert name.startswith("evalmon_"), name
        parts = name.split("_")
        assert not set(parts) & set(NON_BASE_UNITS), (
            f"{name}: use base units (seconds, bytes, ratio)"
        )
        if family.type != "counter":
            assert not name.endswith(("_total", "_count", "_sum", "_bucket")), (
                f"{name} is a {family.type}"
            )
        assert family.type == "gauge", f"{name}: exported store metrics are gauges"
        if family.unit:
            assert name.endswith("_" + family.unit), name
        if {"latency", "duration", "timestamp"} & set(parts):
            assert name.endswith("_seconds"), f"{name} measures time: end it in _seconds"
        if "ratio" in parts:
            assert name.endswith("_ratio"), name
        if "cost" in parts:
            assert name.endswith("_usd"), f"{name} is money: say the currency"
        for sample in family.samples:
            assert SNAKE.fullmatch(sample.name), sample.name


def test_every_label_is_bounded(families: list[Metric]) -> None:
    for family in families:
        for sample in family.samples:
            for label in sample.labels:
                assert label in BOUNDED_LABELS, f"{family.name} has label {label!r}"
                assert not any(part in label.split("_") for part in UNBOUNDED_PARTS), label
            assert all(v and len(v) < 200 for v in sample.labels.values()), sample


def test_series_do_not_grow_with_requests_and_users(tmp_path: Path) -> None:
    small, big = new_store(tmp_path / "small.duckdb"), new_store(tmp_path / "big.duckdb")
    _fill(small)
    _fill(big, extra_requests=10_000)

    def series(path: Path) -> dict[str, set[tuple[tuple[str, str], ...]]]:
        report = export_metrics(path, now=NOW)
        out: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        for registry in report.registries.values():
            for family in registry.collect():
                for sample in family.samples:
                    out.setdefault(sample.name, set()).add(tuple(sorted(sample.labels.items())))
        return out

    few, many = series(small), series(big)
    assert many == few
    assert sum(len(s) for s in many.values()) == sum(len(s) for s in few.values())
    # The extra requests are there (the values changed), only the series did not multiply.
    report = export_metrics(big, now=NOW)
    labels = {"model": "claude-sonnet-4-5", "prompt_version": "rag_qa@1.0.0", "route": "answer",
              "window": "5m"}  # fmt: skip
    assert (
        report.registries["production"].get_sample_value("evalmon_llm_requests", labels) == 10_002
    )
    judged = {"rubric": "faithfulness", "judge": "openai:gpt-4o", "model": "claude-sonnet-4-5",
              "prompt_version": "rag_qa@1.0.0", "window": "5m"}  # fmt: skip
    assert (
        report.registries["quality"].get_sample_value("evalmon_judge_judgments", judged) == 10_001
    )
    review = {"reason": "low_score", "status": "open"}
    assert (
        report.registries["quality"].get_sample_value("evalmon_review_queue_items", review)
        == 10_001
    )
