"""Small hand-built stores for the Prometheus export tests (no ingest code involved)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from prometheus_client.registry import Collector, CollectorRegistry

from metrics.store import PositionResultRow, Store, connect, migrate

#: The end of every window in these tests.
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
MIN, HOUR = timedelta(minutes=1), timedelta(hours=1)
#: Label sets of the production rows.
CLAUDE = {"model": "claude-sonnet-4-5", "prompt_version": "rag_qa@1.0.0", "route": "answer"}
GPT = {"model": "gpt-4o", "prompt_version": "rag_qa@1.0.1", "route": "answer"}
LOCAL = {"model": "smollm2", "prompt_version": "none", "route": "none"}
MYSTERY = {"model": "mystery-1", "prompt_version": "rag_qa@1.0.0", "route": "answer"}
OVERFLOW = "Requested tokens (9000) exceed context window of 8192"


def new_store(path: Path) -> Path:
    """A migrated, empty store at ``path``."""
    with connect(path) as conn:
        migrate(conn)
    return path


def insert(conn: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append ``rows`` (dicts by column name; the others get their default) through Arrow."""
    if not rows:
        return
    batch = pa.Table.from_pylist([dict(r) for r in rows])
    name = f"rows_{uuid.uuid4().hex}"
    conn.register(name, batch)
    try:
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
    finally:
        conn.unregister(name)


def call(
    *,
    ago: timedelta = timedelta(minutes=1),
    provider: str | None = "anthropic",
    model: str | None = "claude-sonnet-4-5",
    prompt_ref: str | None = "rag_qa@1.0.0",
    route: str | None = "answer",
    latency_s: float = 1.0,
    input_tokens: int | None = 1200,
    output_tokens: int | None = 300,
    status: str = "ok",
    error_type: str | None = None,
    error_message: str | None = None,
    logprobs: list[float] | None = None,
    request_id: str | None = None,
    user_hash: str | None = "u1",
) -> dict[str, Any]:
    """One ``production_requests`` row made ``ago`` before :data:`NOW`."""
    record = uuid.uuid4().hex
    return {
        "record_id": record, "request_id": request_id or record, "ts": NOW - ago,
        "app": "rag-assistant", "route": route, "user_hash": user_hash, "provider": provider,
        "request_model": model, "response_model": None, "prompt_ref": prompt_ref,
        "latency_s": latency_s, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "logprobs": None if logprobs is None else json.dumps(logprobs), "status": status,
        "error_type": error_type, "error_message": error_message,
        "source_file": "test.jsonl", "source_line": 1, "ingested_at": NOW,
    }  # fmt: skip


def gate(
    gate_id: str, created_at: datetime, status: str, *, prompt: str = "rag_qa",
    suite: str = "nq_open_gate", branch: str = "main", scorer: str = "includes",
) -> dict[str, Any]:  # fmt: skip
    """One ``gate_decisions`` row."""
    return {
        "gate_id": gate_id, "created_at": created_at, "base_commit": "abc", "branch": branch,
        "prompt": prompt, "suite": suite, "suite_status": status, "scorer": scorer,
        "verdict": "pass" if status == "pass" else "fail", "gating": True,
        "candidate_ref": f"{prompt}@2", "candidate_run": f"run-{gate_id}",
        "reasons": json.dumps([]),
    }  # fmt: skip


def registry_of(collector: Collector) -> CollectorRegistry:
    """A private registry holding ``collector``."""
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def production_rows() -> list[dict[str, object]]:
    """Claude, GPT-4o, an unpriced model and SmolLM2 calls whose metrics are worked out by hand."""
    rows = []
    # Claude: latencies 0.1 .. 2.0 s; 4 calls in the last 5 minutes, 10 in the last hour.
    ages = [*(MIN * i for i in range(1, 5)), *(MIN * m for m in (10, 20, 30, 40, 50, 59)),
            *(HOUR * (2 + i) for i in range(10))]  # fmt: skip
    for i, ago in enumerate(ages, start=1):
        rows.append(call(ago=ago, latency_s=i / 10))
    # Never in a window: 24 hours and more ago, and after "now".
    for ago in (HOUR * 24, HOUR * 25, -MIN):
        rows.append(call(ago=ago, latency_s=100.0))
    # GPT-4o: 3 ok calls and a rate-limited one in 5 minutes, 4 more ok calls in the hour.
    gpt = {"provider": "openai", "model": "gpt-4o", "prompt_ref": "rag_qa@1.0.1",
           "input_tokens": 1000, "output_tokens": 100}  # fmt: skip
    rows += [call(ago=MIN * 2, **gpt) for _ in range(3)]
    rows.append(call(ago=MIN * 2, **{**gpt, "input_tokens": None, "output_tokens": None},
                     status="error", error_type="RateLimitError", error_message="429 slow down"))  # fmt: skip
    rows += [call(ago=MIN * 30, **gpt) for _ in range(4)]
    # An unpriced model of an unknown provider.
    rows.append(call(provider="acme", model="mystery-1"))
    # SmolLM2 (8192-token window), no prompt ref and no route: context use and perplexity.
    local = {"provider": "local", "model": "smollm2", "prompt_ref": None, "route": None}
    for tokens_in, tokens_out, logprobs in [
        (4000, 96, [-0.5, -0.5]), (7000, 372, [-1.0, -3.0]), (7000, 373, []),
        (8000, 192, None), (8800, 200, None),
    ]:  # fmt: skip
        rows.append(call(**local, input_tokens=tokens_in, output_tokens=tokens_out,
                         logprobs=logprobs))  # fmt: skip
    rows.append(call(**local, input_tokens=None, output_tokens=None, status="error",
                     error_type="BadRequestError", error_message=OVERFLOW))  # fmt: skip
    rows.append(call(**local, input_tokens=None, output_tokens=None, status="error",
                     error_type="APITimeoutError", error_message="request timed out"))  # fmt: skip
    return rows


def quality_store(path: Path) -> Path:
    """A store with judged requests, calibrations, a review queue and gates (worked out by hand)."""
    new_store(path)
    requests = [call(ago=a, request_id=f"r{i}") for i, a in
                enumerate((MIN, MIN * 2, MIN * 30, HOUR * 3), start=1)]  # fmt: skip
    # Retried: answered by Claude, then again by GPT-4o; the latest ok record counts.
    requests += [call(ago=MIN * 4, request_id="fb"),
                 call(ago=MIN * 3, request_id="fb", provider="openai", model="gpt-4o")]  # fmt: skip
    faith, helpful = "faithfulness@1#aaa", "helpfulness@1#ccc"
    scores = [("r1", faith, 1.0), ("r2", faith, 0.5), ("r3", faith, 0.0), ("r4", faith, 0.75),
              ("r2", helpful, 0.25), ("fb", faith, 1.0)]  # fmt: skip
    judged = [{"request_id": r, "judge_ref": "openai:gpt-4o", "rubric_version": v, "score": s,
               "created_at": NOW} for r, v, s in scores]  # fmt: skip
    judged.append({"request_id": "r1", "judge_ref": "local:smollm2", "rubric_version": faith,
                   "score": None, "unscored_reason": "unparseable", "created_at": NOW})  # fmt: skip
    calibrations = [
        ("openai:gpt-4o", faith, 0.5, False, NOW - HOUR * 48),
        ("openai:gpt-4o", "faithfulness@2#bbb", 0.8, True, NOW - HOUR),
        ("openai:gpt-4o", "faithfulness@3#ddd", 0.1, False, NOW + HOUR),  # after "now"
        ("local:smollm2", faith, None, False, NOW - HOUR),
    ]
    reviews = [("r1", "low_score", "open"), ("r2", "low_score", "open"),
               ("r3", "low_score", "resolved"), ("r4", "uncertain", "open"),
               ("fb", "Validator says: citation [3] is missing", "open")]  # fmt: skip
    gates = [
        gate("g1", NOW - HOUR * 48, "pass"),
        gate("g2", NOW - HOUR * 24, "fail"),
        gate("g2", NOW - HOUR * 24, "fail", scorer="judge"),
        gate("g3", NOW - HOUR * 24 * 200, "pass", branch="prompt/old"),
        gate("g4", NOW - HOUR, "inconclusive", prompt="summarize", suite="summaries"),
        gate("g5", NOW + HOUR, "error"),
    ]
    with connect(path) as conn:
        insert(conn, "production_requests", requests)
        insert(conn, "judge_scores", judged)
        insert(conn, "judge_calibrations", [
            {"judge_ref": j, "rubric_version": v, "weighted_kappa": k, "kappa": k, "n": 50,
             "calibrated": c, "created_at": at} for j, v, k, c, at in calibrations
        ])  # fmt: skip
        insert(conn, "review_queue", [
            {"request_id": r, "reason": why, "status": s, "created_at": NOW} for r, why, s in reviews
        ])  # fmt: skip
        insert(conn, "gate_decisions", gates)
    return path


def add_position_run(path: Path) -> None:
    """One finished position run: KV, 140 keys, 7/10 at position 0."""
    row = PositionResultRow(
        run_id="p1", task="kv", model_ref="local:smollm2", context_size=140, setting="position",
        strategy="original", position=0, n=10, correct=7, errors=0, skipped=0, accuracy=0.7,
        ci_low=0.4, ci_high=0.9,
    )  # fmt: skip
    with Store(path) as store:
        store.start_run("p1", "position", "local:smollm2", "lost-in-the-middle/x", "x")
        store.write_position_results("p1", [row])
        store.finish_run("p1", "finished")
