"""The eval flow on real Prefect (a temporary local server via prefect_test_harness)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.config import load_config
from flows.eval_flow import eval_flow, run_eval_task
from flows.eval_run import EvalRequest
from tests.fakeserver import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
PROMPT = ROOT / "prompts/example/rag_qa.yaml"
DATASET = ROOT / "evals/datasets/nq_open_oracle_demo.jsonl"


def _generations(server: FakeLLMServer) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.history)


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.integration
def test_eval_flow_runs_stores_and_resumes(
    prefect_harness: None, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    store = tmp_path / "flow.duckdb"
    config = tmp_path / "evalmon.toml"
    config.write_text(f'store = "{store}"\n')
    model = f"openai-compatible:m@{fake_llm.openai_base_url}"
    result = asyncio.run(eval_flow(
        prompt=str(PROMPT), dataset=str(DATASET), model=model, run_id="flow-1", limit=5,
        config_path=str(config),
    ))  # fmt: skip
    assert result["status"] == "finished" and result["calls"] == 5 and result["called"] == 5
    assert _generations(fake_llm) == 5
    with duckdb.connect(str(store), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM calls WHERE run_id = 'flow-1'").fetchone() == (5,)
    # The same run id again: everything was done, nothing is called.
    again = asyncio.run(eval_flow(
        prompt=str(PROMPT), dataset=str(DATASET), model=model, run_id="flow-1", limit=5,
        config_path=str(config),
    ))  # fmt: skip
    assert again["called"] == 0 and again["calls"] == 5
    assert _generations(fake_llm) == 5


def test_eval_task_logic_without_a_server(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    """``.fn`` runs the task's body as a plain coroutine, the way Prefect's docs test tasks."""
    config = tmp_path / "evalmon.toml"
    config.write_text(f'store = "{tmp_path / "fn.duckdb"}"\n')
    model = f"openai-compatible:m@{fake_llm.openai_base_url}"
    report = asyncio.run(
        run_eval_task.fn(EvalRequest(PROMPT, DATASET, model=model, limit=3), load_config(config))
    )
    assert report.status == "finished" and len(report.rows) == 3


@pytest.mark.integration
def test_position_benchmark_flow_on_prefect(
    prefect_harness: None, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    from evals.position import PositionConfig
    from flows.position_flow import position_benchmark
    from tests.flows.test_position_run import first_or_last_reader

    fake_llm.set_responder(first_or_last_reader)
    config = tmp_path / "evalmon.toml"
    config.write_text(f'store = "{tmp_path / "flow.duckdb"}"\n')
    report = tmp_path / "position.md"
    result = asyncio.run(
        position_benchmark(
            bench=PositionConfig(n_documents=10, positions=[0, 4, 9], limit=3),
            model=f"openai-compatible:reader@{fake_llm.openai_base_url}",
            report_path=str(report), config_path=str(config),
        )
    )  # fmt: skip
    accuracy = {(c["setting"], c["position"]): c["accuracy"] for c in result["cells"]}
    assert accuracy[("position", 0)] == 1.0 and accuracy[("position", 4)] == 0.0
    assert (
        tmp_path / "position.png"
    ).exists() and "| position | original | 9 |" in report.read_text()
