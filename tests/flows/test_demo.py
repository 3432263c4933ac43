"""The demo's plumbing end to end against the fake LLM server, with tiny sizes."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from evals.providers import ConfigError
from flows.demo import Demo, DemoOptions, summary_table
from flows.demo_steps import NEW_VERSION, build_gate_repo, replay_traffic
from flows.example_traffic import GenerateOptions, generate
from flows.example_traffic_report import read_records
from metrics.store import Store
from tests.fakeserver import FakeLLMServer
from tests.fakeserver.responders import last_user_text


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


def respond(body: dict[str, Any], api: str) -> str:
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    if "evaluation judge" in system:
        return json.dumps({"reasoning": "grounded in the documents", "score": 4, "flags": []})
    text = last_user_text(body, api)
    found = re.search(r"Document \[1\]\(Title: ([^)]*)\)", text)
    return f"{found.group(1) if found else 'Paris'} [1]"


def test_the_demo_runs_every_step_and_writes_every_artefact(
    prefect_server: None, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.set_responder(respond)
    model = f"openai-compatible:fake@{fake_llm.openai_base_url}"
    traffic = tmp_path / "traffic"
    generate(GenerateOptions(model=model, n=12, out=traffic, day=date(2026, 11, 1)))
    out = tmp_path / "demo-output"
    options = DemoOptions(out=out, model=model, traffic=traffic, gate_cases=2, position_questions=1)
    console = Console(file=io.StringIO(), width=120)
    report = Demo(options, console).run()
    printed = console.file.getvalue()  # type: ignore[attr-defined]

    assert [s.name for s in report.steps] == [
        "1 prompt gate", "2 position benchmark", "3 ingest", "4 judge 1%", "5 export",
    ]  # fmt: skip
    for title in ("Step 1/5", "Step 5/5", "SmolLM2-135M is a weak judge"):
        assert title in printed
    artefacts = [p for s in report.steps for p in s.artefacts]
    names = {p.name for p in artefacts}
    assert {"gate.md", "gate.junit.xml", "position.md", "position.png", "position.svg",
            "evalmon.prom"} <= names  # fmt: skip
    assert all(p.exists() for p in artefacts)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in artefacts)
    gate_md = (out / "gate" / "gate.md").read_text()
    assert f"rag_qa@{NEW_VERSION}" in gate_md and "rag_qa_demo" in gate_md
    assert "<testsuite" in (out / "gate" / "gate.junit.xml").read_text()
    assert "![accuracy by position](position.png)" in (out / "position" / "position.md").read_text()
    assert (out / "evalmon.toml").exists()

    with Store(out / "evalmon.duckdb") as store, store.connection() as conn:
        requests = conn.execute("SELECT count(*), max(ts) FROM production_requests").fetchone()
        judged = conn.execute("SELECT count(*), min(score) FROM judge_scores").fetchone()
        gates = conn.execute("SELECT count(*) FROM gate_decisions").fetchone()
        position = conn.execute("SELECT count(*) FROM position_results").fetchone()
    assert requests is not None and requests[0] == 12
    assert datetime.now(UTC) - requests[1] < timedelta(days=1)  # replayed as the last day
    assert judged is not None and judged[0] >= 2 and judged[1] == 0.75
    assert gates is not None and gates[0] >= 1
    assert position is not None and position[0] >= 3

    prom = (out / "metrics" / "evalmon.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(prom)}
    requests_24h = [
        s.value for s in families["evalmon_llm_requests"].samples if s.labels.get("window") == "24h"
    ]
    assert sum(requests_24h) == 12
    assert {s.labels["source"] for s in families["evalmon_store_up"].samples} == {
        "production", "quality", "position",
    }  # fmt: skip
    assert "evalmon demo" in str(summary_table(report).title)

    # Again: every model call comes from the store or the cache.
    def chat_calls() -> int:
        return sum(r.path.endswith("/chat/completions") for r in fake_llm.history)

    before = chat_calls()
    again = Demo(options, Console(file=io.StringIO())).run()
    assert chat_calls() == before  # (a health check of the endpoint is no model call)
    assert "0 model calls" in again.steps[0].outcome
    assert "0 judge calls" in again.steps[3].outcome


def test_the_gate_repo_has_the_base_and_the_change(tmp_path: Path) -> None:
    repo = build_gate_repo(tmp_path / "repo", cases=3)
    suites = sorted(p.name for p in (repo.path / "evals/suites").glob("*.yaml"))
    assert suites == ["rag_qa_demo.yaml"]
    assert "limit: 3" in (repo.path / "evals/suites/rag_qa_demo.yaml").read_text()
    prompt = (repo.path / "prompts/example/rag_qa.yaml").read_text()
    assert f"version: {NEW_VERSION}" in prompt and "in a few words" in prompt
    assert not (repo.path / "evals/datasets/traffic_sample").exists()


def test_replay_moves_the_day_to_end_now_and_keeps_everything_else(tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    sample.mkdir()
    lines = [
        {"evalmon.timestamp": "2026-11-01T00:30:00Z", "evalmon.latency_s": 1.5},
        {"evalmon.timestamp": "2026-11-01T23:00:00.250000Z", "evalmon.latency_s": 2.0},
    ]
    (sample / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    dest = replay_traffic(sample, tmp_path / "replayed", now)
    moved = read_records(dest)
    assert [r["evalmon.timestamp"] for r in moved] == [
        "2026-11-29T12:30:00Z", "2026-11-30T11:00:00.250000Z",
    ]  # fmt: skip
    assert [r["evalmon.latency_s"] for r in moved] == [1.5, 2.0]
    later = replay_traffic(sample, tmp_path / "replayed", now + timedelta(days=3))
    assert read_records(later) == moved  # kept: its records are in the store already
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.jsonl").write_text(json.dumps({**lines[0], "evalmon.latency_s": 9.0}) + "\n")
    replaced = read_records(replay_traffic(other, tmp_path / "replayed", now))
    assert [r["evalmon.latency_s"] for r in replaced] == [9.0]  # another sample: copied
    with pytest.raises(ConfigError, match="no capture files"):
        replay_traffic(tmp_path / "replayed" / "none", tmp_path / "x", now)
