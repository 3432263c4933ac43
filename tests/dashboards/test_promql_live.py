"""Every panel's PromQL, every variable and every recording rule against a real Prometheus.

A Pushgateway holds a representative set of evalmon's metrics (every family of
dashboards/METRICS.md: the export's three sources, and the capture library's live histograms
of two app replicas); Prometheus scrapes it every second with ``honor_labels`` and loads the
rule files. Last week's exported gauges are backfilled into Prometheus' storage with
``promtool tsdb create-blocks-from openmetrics``, so the ``offset 1w`` panels have data.
Each panel query must return series with finite values, and the panels drawn for specific
series (the closed-book and oracle lines, the three percentiles, ...) must return them.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, pushadd_to_gateway

from metrics.capture._live import CallLabels, LiveMetrics
from tests.conftest import free_port, require_binary
from tests.dashboards.helpers import (
    GRAFANA_BUILTINS,
    RULE_FILES,
    PanelQuery,
    load_dashboards,
    panel_queries,
    parse_label_values,
    recording_rules,
    rules,
    substitute,
    variable_query,
    variables,
)

pytestmark = pytest.mark.integration

#: How long Prometheus may take to start, scrape and evaluate rules before a test gives up.
DEADLINE_S = 60.0
WEEK_S = 7 * 86400
WINDOWS = {"5m": 35, "1h": 420, "24h": 10_000}  # requests per window (the reference load)
#: The variable values the test prefers when a query offers them (Grafana takes the first).
PREFERRED = {"task": "qa"}

DASHBOARDS = load_dashboards()
PANEL_QUERIES = panel_queries(DASHBOARDS)
#: Panels drawn for specific series: (dashboard, title prefix, ref id) -> (label, values).
EXPECTED_SERIES: dict[tuple[str, str, str], tuple[str, set[str]]] = {
    ("evalmon-long-context", "Accuracy by gold position", "A"): (
        "setting", {"position", "closedbook", "oracle"}),
    ("evalmon-long-context", "Accuracy by position over runs", "B"): (
        "setting", {"closedbook", "oracle"}),
    ("evalmon-long-context", "Mitigations", "A"): (
        "strategy", {"original", "query_aware", "strategic_order", "top_k"}),
    ("evalmon-overview", "Latency p50 / p95 / p99 (store", "A"): (
        "quantile", {"0.5", "0.95", "0.99"}),
    ("evalmon-overview", "Context-window use", "A"): ("quantile", {"0.5", "0.95", "0.99"}),
    ("evalmon-overview", "Tokens (store", "A"): ("type", {"input", "output"}),
    ("evalmon-overview", "Tokens per call", "A"): ("gen_ai_token_type", {"input", "output"}),
    ("evalmon-overview", "Errors by type", "A"): (
        "error_type", {"RateLimitError", "APITimeoutError"}),
    ("evalmon-quality", "Review queue: open and resolved", "A"): (
        "status", {"open", "resolved"}),
    ("evalmon-quality", "Latest gate results", "A"): ("status", {"pass"}),
}  # fmt: skip


# ------------------------------------------------------------------------------ test data
def production_registry(now: float) -> CollectorRegistry:
    """``source="production"``: the per-window production gauges (METRICS.md)."""
    reg = CollectorRegistry()
    base = ("model", "prompt_version", "route", "window")

    def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, (*base, *extra), registry=reg)

    latency = gauge("evalmon_llm_latency_seconds", "Latency percentile.", ("quantile",))
    requests = gauge("evalmon_llm_requests", "Requests in the window.")
    errors = gauge("evalmon_llm_errors", "Errored requests in the window.")
    ratio = gauge("evalmon_llm_error_ratio", "Errors over requests.")
    tokens = gauge("evalmon_llm_tokens", "Tokens in the window.", ("type",))
    cost = gauge("evalmon_llm_cost_usd", "Cost in the window.")
    context = gauge("evalmon_llm_context_usage_ratio", "Context-window use.", ("quantile",))
    near = gauge("evalmon_llm_context_near_limit_requests", "Requests at 90% of the window.")
    over = gauge("evalmon_llm_context_overflow_requests", "Requests over the window.")
    perplexity = gauge("evalmon_llm_perplexity", "Mean perplexity.")
    # The primary on two prompt versions, the fallback taking a little traffic.
    for model, version, share, slow in (
        ("claude-sonnet-4-5", "rag_qa@1.0.1", 0.6, 1.0),
        ("claude-sonnet-4-5", "rag_qa@1.0.2", 0.35, 1.1),
        ("gpt-4o", "rag_qa@1.0.1", 0.05, 0.8),
    ):
        for window, total in WINDOWS.items():
            labels = (model, version, "answer", window)
            n = round(total * share)
            failed = max(1, round(n * 0.01))
            requests.labels(*labels).set(n)
            errors.labels(*labels).set(failed)
            ratio.labels(*labels).set(failed / n)
            for q, seconds in (("0.5", 1.2), ("0.95", 3.1), ("0.99", 4.6)):
                latency.labels(*labels, q).set(seconds * slow)
            tokens.labels(*labels, "input").set(n * 1200)
            tokens.labels(*labels, "output").set(n * 300)
            cost.labels(*labels).set(n * (1200 * 3 + 300 * 15) / 1e6)
            for q, use in (("0.5", 0.006), ("0.95", 0.011), ("0.99", 0.02)):
                context.labels(*labels, q).set(use)
            near.labels(*labels).set(0)
            over.labels(*labels).set(0)
            perplexity.labels(*labels).set(3.2 * slow)
    housekeeping(reg, now)
    return reg


def quality_registry(now: float) -> CollectorRegistry:
    """``source="quality"``: judge scores, calibration, review queue, gates."""
    reg = CollectorRegistry()
    judged = ("rubric", "judge", "model", "prompt_version", "window")
    score = Gauge("evalmon_judge_score", "Mean judge score.", judged, registry=reg)
    judgments = Gauge("evalmon_judge_judgments", "Judged requests.", judged, registry=reg)
    for rubric, mean in (("faithfulness", 0.84), ("relevance", 0.78)):
        for model, version, share in (
            ("claude-sonnet-4-5", "rag_qa@1.0.1", 0.6),
            ("claude-sonnet-4-5", "rag_qa@1.0.2", 0.35),
            ("gpt-4o", "rag_qa@1.0.1", 0.05),
        ):
            for window, total in WINDOWS.items():
                labels = (rubric, "anthropic:claude-sonnet-4-5", model, version, window)
                score.labels(*labels).set(mean)
                judgments.labels(*labels).set(max(1, round(total * 0.01 * share)))
    calibrated = Gauge("evalmon_judge_calibrated", "Calibrated.", ("rubric", "judge"), registry=reg)
    kappa = Gauge("evalmon_judge_kappa", "Weighted kappa.", ("rubric", "judge"), registry=reg)
    for rubric, judge, k in (
        ("faithfulness", "anthropic:claude-sonnet-4-5", 0.78),
        ("relevance", "anthropic:claude-sonnet-4-5", 0.71),
        ("faithfulness", "local:smollm2", 0.21),
    ):
        calibrated.labels(rubric, judge).set(1 if k >= 0.6 else 0)
        kappa.labels(rubric, judge).set(k)
    queue = Gauge("evalmon_review_queue_items", "Review queue.", ("reason", "status"), registry=reg)
    for reason, open_, resolved in (
        ("low_judge_score", 12, 140),
        ("validation_failed", 5, 61),
        ("uncertain", 3, 20),
    ):
        queue.labels(reason, "open").set(open_)
        queue.labels(reason, "resolved").set(resolved)
    gate_labels = ("prompt", "suite", "branch")
    status = Gauge("evalmon_gate_status", "Gate status.", (*gate_labels, "status"), registry=reg)
    last = Gauge(
        "evalmon_gate_last_run_timestamp_seconds", "Latest gate.", gate_labels, registry=reg
    )
    for prompt, suite, branch, latest, ago in (
        ("rag_qa", "nq_open_gate", "main", "pass", 3600),
        ("rag_qa", "nq_open_gate", "prompt/shorter-answers", "fail", 1800),
        ("summarize", "summaries", "main", "inconclusive", 7200),
    ):
        for name in ("pass", "fail", "inconclusive", "error"):
            status.labels(prompt, suite, branch, name).set(1 if name == latest else 0)
        last.labels(prompt, suite, branch).set(now - ago)
    housekeeping(reg, now)
    return reg


def position_registry(now: float) -> CollectorRegistry:
    """``source="position"``: the latest position-benchmark runs (paper-like numbers)."""
    reg = CollectorRegistry()
    cell = ("task", "model", "context_size", "setting", "strategy", "position")
    run = ("task", "model", "context_size")
    accuracy = Gauge("evalmon_position_accuracy_ratio", "Accuracy.", cell, registry=reg)
    low = Gauge("evalmon_position_accuracy_ci_low_ratio", "CI low.", cell, registry=reg)
    high = Gauge("evalmon_position_accuracy_ci_high_ratio", "CI high.", cell, registry=reg)
    prompts = Gauge("evalmon_position_prompts", "Prompts scored.", cell, registry=reg)
    skipped = Gauge("evalmon_position_skipped_prompts", "Skipped.", run, registry=reg)
    finished = Gauge(
        "evalmon_position_last_run_timestamp_seconds", "Latest run.", run, registry=reg
    )

    def add(task: str, model: str, size: str, setting: str, strategy: str, pos: str, acc: float):
        labels = (task, model, size, setting, strategy, pos)
        accuracy.labels(*labels).set(acc)
        low.labels(*labels).set(max(0.0, acc - 0.04))
        high.labels(*labels).set(min(1.0, acc + 0.04))
        prompts.labels(*labels).set(500)

    # Claude-1.3's curve from the paper (20 documents), with its baselines and mitigations.
    claude = ("qa", "anthropic:claude-sonnet-4-5", "20")
    for pos, acc in zip(
        ("0", "4", "9", "14", "19"), (0.599, 0.559, 0.568, 0.572, 0.601), strict=True
    ):
        add(*claude, "position", "original", pos, acc)
        add(*claude, "position", "query_aware", pos, acc + 0.02)
    add(*claude, "closedbook", "original", "none", 0.561)
    add(*claude, "oracle", "original", "none", 0.883)
    add(*claude, "reordered", "strategic_order", "none", 0.61)
    add(*claude, "reordered", "top_k", "none", 0.63)
    smol = ("qa", "local:smollm2", "10")
    for pos, acc in zip(("0", "4", "9"), (0.3, 0.2, 0.26), strict=True):
        add(*smol, "position", "original", pos, acc)
    add(*smol, "closedbook", "original", "none", 0.08)
    add(*smol, "oracle", "original", "none", 0.7)
    kv = ("kv", "local:smollm2", "75")
    for pos, acc in zip(("0", "24", "49", "74"), (0.9, 0.5, 0.45, 0.8), strict=True):
        add(*kv, "position", "original", pos, acc)
    for labels, n in ((claude, 0), (smol, 3), (kv, 12)):
        skipped.labels(*labels).set(n)
        finished.labels(*labels).set(now - 86400)
    housekeeping(reg, now)
    return reg


def housekeeping(reg: CollectorRegistry, now: float) -> None:
    """The export's own health gauges, in each source's group."""
    Gauge("evalmon_store_up", "Store readable.", registry=reg).set(1)
    Gauge("evalmon_export_duration_seconds", "Export duration.", registry=reg).set(0.4)
    Gauge("evalmon_export_last_success_timestamp_seconds", "Last export.", registry=reg).set(now)


CALLS = (
    CallLabels("chat", "anthropic", "claude-sonnet-4-5", "rag_qa@1.0.1"),
    CallLabels("chat", "anthropic", "claude-sonnet-4-5", "rag_qa@1.0.2"),
    CallLabels("chat", "openai", "gpt-4o", "rag_qa@1.0.1"),
)


def observe_calls(live: LiveMetrics, rng: random.Random, n: int) -> int:
    """Record ``n`` calls of each label set: mostly 1-4 s, a few slow ones, some errors."""
    for labels in CALLS:
        for i in range(n):
            error = ("RateLimitError", "APITimeoutError")[i // 10 % 2] if i % 10 == 9 else None
            live.observe(
                labels,
                latency_s=rng.lognormvariate(0.4, 0.5),
                error_type=error,
                input_tokens=None if error else rng.randint(900, 1500),
                output_tokens=None if error else rng.randint(150, 450),
            )
    return n * len(CALLS)


# ------------------------------------------------------------------------------- servers
def http_json(url: str, params: dict[str, str] | list[tuple[str, str]] | None = None) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def wait_until(what: str, check: Callable[[], bool], logs: list[Path]) -> None:
    """Poll ``check`` until it holds, failing with the servers' logs after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if check():
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
            pytest.fail(f"gave up waiting for {what}\n{tails}")
        time.sleep(0.2)


def ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)

    return check


def openmetrics_backfill(registries: dict[str, CollectorRegistry], at: float) -> str:
    """The registries' gauges as OpenMetrics text, sampled every minute within 30 min of ``at``."""
    stamps = [at + offset for offset in range(-1800, 1801, 60)]
    lines = []
    families: dict[str, list[str]] = {}
    for source, reg in registries.items():
        for family in reg.collect():
            for sample in family.samples:
                labels = {"job": "evalmon", "source": source, **sample.labels}
                text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                series = f"{sample.name}{{{text}}}"
                families.setdefault(sample.name, []).extend(
                    f"{series} {sample.value} {t:.3f}" for t in stamps
                )
    for name, samples in families.items():
        lines.append(f"# TYPE {name} gauge")
        lines.extend(samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@dataclass
class Stack:
    """A running Pushgateway and Prometheus, and how to query Prometheus."""

    prometheus: str
    pushgateway: str
    logs: list[Path]

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = http_json(f"{self.prometheus}/api/v1/query", {"query": expr})
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def query_until_series(self, expr: str) -> list[dict[str, Any]]:
        """The query's result once non-empty (rules need an evaluation or two), or empty."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.25)

    def label_values(self, selector: str, label: str) -> list[str]:
        params = [("match[]", selector)]
        body = http_json(f"{self.prometheus}/api/v1/series", params)
        return sorted({s[label] for s in body["data"] if label in s})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = require_binary("prometheus")
    pushgateway_bin = require_binary("prometheus-pushgateway")
    promtool = require_binary("promtool")
    work = tmp_path_factory.mktemp("prometheus")
    data = work / "data"
    data.mkdir()
    now = time.time()

    exported = {
        "production": production_registry(now),
        "quality": quality_registry(now),
        "position": position_registry(now),
    }
    # Last week's export, so the week-over-week panels and alerts have something to compare.
    backfill = work / "last_week.om"
    backfill.write_text(openmetrics_backfill(exported, now - WEEK_S))
    made = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(backfill), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, f"backfill failed: {made.stdout}{made.stderr}"

    push_port, prom_port = free_port(), free_port()
    pushgateway = f"http://127.0.0.1:{push_port}"
    prometheus = f"http://127.0.0.1:{prom_port}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULE_FILES],
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{push_port}"]}],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    logs = [work / "pushgateway.log", work / "prometheus.log"]
    commands = [
        [pushgateway_bin, f"--web.listen-address=127.0.0.1:{push_port}", "--persistence.file="],
        [
            prometheus_bin,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command, log in zip(commands, logs, strict=True):
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work)
                )
        wait_until("the Pushgateway", ready(f"{pushgateway}/-/ready"), logs)
        wait_until("Prometheus", ready(f"{prometheus}/-/ready"), logs)
        address = f"127.0.0.1:{push_port}"
        for source, reg in exported.items():
            pushadd_to_gateway(
                address, job="evalmon", grouping_key={"source": source}, registry=reg
            )

        # Two app replicas: push, let Prometheus scrape, record more calls and push again, so
        # the rates over the live counters are not zero.
        rng = random.Random(6)
        replicas = {f"replica-{i}": CollectorRegistry() for i in (1, 2)}
        lives = {name: LiveMetrics(reg) for name, reg in replicas.items()}
        calls = 0
        for name, live in lives.items():
            calls += observe_calls(live, rng, 40)
            live.count_dropped("queue_full", 0)
            push_to_gateway(
                address, job="rag-app", grouping_key={"instance": name}, registry=replicas[name]
            )
        stack = Stack(prometheus, pushgateway, logs)
        total = "sum(gen_ai_client_operation_duration_seconds_count)"

        def scraped(expected: int) -> Callable[[], bool]:
            return lambda: any(float(s["value"][1]) == expected for s in stack.query(total))

        wait_until("the first scrape of the live histograms", scraped(calls), logs)
        for name, live in lives.items():
            calls += observe_calls(live, rng, 20)
            live.count_dropped("queue_full", 2 if name == "replica-2" else 0)
            push_to_gateway(
                address, job="rag-app", grouping_key={"instance": name}, registry=replicas[name]
            )
        wait_until("the second scrape of the live histograms", scraped(calls), logs)
        last_week = "evalmon_llm_requests offset 1w"
        wait_until("the backfilled week", lambda: bool(stack.query(last_week)), logs)
        yield stack
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def variable_values(stack: Stack) -> dict[str, dict[str, str]]:
    """Each dashboard's variables resolved like Grafana: label_values against the server."""
    resolved: dict[str, dict[str, str]] = {}
    for uid, dash in DASHBOARDS.items():
        values = dict(GRAFANA_BUILTINS)
        for var in variables(dash):
            if var["type"] in ("datasource", "custom"):
                values[var["name"]] = var["current"]["value"]
            else:
                selector, label = parse_label_values(substitute(variable_query(var), values))
                found = stack.label_values(selector, label)
                assert found, f"{uid}: variable {var['name']} ({selector}, {label}) has no values"
                preferred = PREFERRED.get(var["name"])
                values[var["name"]] = preferred if preferred in found else found[0]
        resolved[uid] = values
    return resolved


def test_every_variable_query_returns_values(variable_values: dict[str, dict[str, str]]) -> None:
    for uid, dash in DASHBOARDS.items():
        for var in variables(dash):
            assert variable_values[uid][var["name"]], (uid, var["name"])
    assert variable_values["evalmon-long-context"]["task"] == "qa"


def expected_series(query: PanelQuery) -> tuple[str, set[str]] | None:
    for (uid, title, ref), expected in EXPECTED_SERIES.items():
        if query.dashboard == uid and query.panel_title.startswith(title) and query.ref_id == ref:
            return expected
    return None


def test_expected_series_match_panels() -> None:
    """Every entry of EXPECTED_SERIES names a real panel target (no stale checks)."""
    for key in EXPECTED_SERIES:
        uid, title, ref = key
        assert any(
            q.dashboard == uid and q.panel_title.startswith(title) and q.ref_id == ref
            for q in PANEL_QUERIES
        ), key


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=lambda q: q.name)
def test_panel_query_returns_series(
    stack: Stack, variable_values: dict[str, dict[str, str]], query: PanelQuery
) -> None:
    expr = substitute(query.expr, variable_values[query.dashboard])
    result = stack.query_until_series(expr)
    assert result, f"{query.name}: no series for\n{expr}"
    values = [float(sample["value"][1]) for sample in result]
    assert all(math.isfinite(v) for v in values), f"{query.name}: {result}"
    expected = expected_series(query)
    if expected is not None:
        label, wanted = expected
        got = {sample["metric"].get(label) for sample in result}
        assert wanted <= got, f"{query.name}: {label} values {got}, expected {wanted}"


def rule_id(rule: dict[str, Any]) -> str:
    quantile = rule.get("labels", {}).get("quantile")
    return f"{rule['record']} q{quantile}" if quantile else str(rule["record"])


@pytest.mark.parametrize("rule", recording_rules(), ids=rule_id)
def test_recording_rule_expr_returns_series(stack: Stack, rule: dict[str, Any]) -> None:
    result = stack.query_until_series(rule["expr"])
    assert result, rule["record"]
    assert all(math.isfinite(float(s["value"][1])) for s in result), (rule["record"], result)
    recorded = stack.query_until_series(rule["record"])
    assert recorded, f"Prometheus did not record {rule['record']}"


def test_rules_are_loaded_and_healthy(stack: Stack) -> None:
    expected = sum(len(rules(path)) for path in RULE_FILES)

    def evaluated() -> list[dict[str, Any]]:
        groups = http_json(f"{stack.prometheus}/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def all_evaluated() -> bool:
        loaded = evaluated()
        # A rule not evaluated yet reports Go's zero time, 0001-01-01.
        return len(loaded) == expected and not any(
            r["lastEvaluation"].startswith("0001") for r in loaded
        )

    wait_until("every rule to be evaluated", all_evaluated, stack.logs)
    unhealthy = [(r["name"], r.get("lastError")) for r in evaluated() if r["health"] != "ok"]
    assert unhealthy == []
