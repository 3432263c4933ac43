"""Sharded position benchmark and judge on a local two-worker Dask cluster (real Prefect)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness

from evals.position import PositionConfig
from flows.config import EvalmonConfig, load_config
from flows.judge_config import JudgeSettings
from flows.judge_sample import JudgeSampleRequest, run_judge_sample
from flows.position_flow import position_benchmark
from flows.scaleout_flows import judge_sample_sharded, position_benchmark_sharded
from flows.sharding import shard
from metrics.store import Store
from tests.fakeserver import FakeLLMServer
from tests.flows.test_judge_sample import FAITHFULNESS, N, capture_traffic, judge_calls, respond
from tests.flows.test_position_run import first_or_last_reader


def test_shard_is_contiguous_balanced_and_never_empty() -> None:
    assert shard(list(range(10)), 3) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert shard([1, 2], 5) == [[1], [2]]
    assert shard([], 3) == []
    assert [x for part in shard(list(range(101)), 7) for x in part] == list(range(101))
    with pytest.raises(ValueError, match="1 or more"):
        shard([1], 0)


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _generations(server: FakeLLMServer) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.history)


def _config_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'store = "{tmp_path / name}.duckdb"\n')
    return path


def _cells(result: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(result["cells"], key=lambda c: (c["setting"], c["strategy"], c["position"] or 0))


@pytest.mark.integration
def test_sharded_position_benchmark_uses_both_workers_and_equals_unsharded(
    prefect_harness: None, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.set_responder(first_or_last_reader)
    fake_llm.set_faults(latency_s=0.05)
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    bench = PositionConfig(n_documents=10, positions=[0, 4, 9], limit=8)
    prompts = 8 * (3 + 2)  # three positions, closed-book and oracle

    sharded_config = _config_file(tmp_path, "sharded")
    sharded = asyncio.run(
        position_benchmark_sharded(
            bench=bench, model=model, run_id="pos-sharded", config_path=str(sharded_config),
            shards=4, dask_workers=2,
        )
    )  # fmt: skip
    shards = sharded["shards"]
    assert len(shards) == 4
    assert sum(s["calls"] for s in shards) == prompts
    assert len({s["worker"] for s in shards}) == 2, shards  # both Dask workers took shards
    assert _generations(fake_llm) == prompts  # the resumed run asked nothing again

    plain = asyncio.run(
        position_benchmark(bench=bench, model=model, run_id="pos-plain",
                           config_path=str(_config_file(tmp_path, "plain")))
    )  # fmt: skip
    assert _generations(fake_llm) == 2 * prompts
    assert _cells(sharded) == _cells(plain)
    assert any(c["accuracy"] == 0.0 for c in sharded["cells"])  # the middle was lost
    with Store(load_config(sharded_config).store) as store:
        run = store.get_run("pos-sharded")
        calls = store.run_calls("pos-sharded").to_pylist()
    assert run is not None and run.status == "finished"
    assert len(calls) == prompts and not any(c["cached"] for c in calls)


@pytest.mark.integration
def test_a_sharded_run_resumes_without_asking_again(
    prefect_harness: None, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.set_responder(first_or_last_reader)
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    bench = PositionConfig(n_documents=10, positions=[0, 9], limit=3, baselines=False)
    config = str(_config_file(tmp_path, "resume"))
    first = asyncio.run(
        position_benchmark_sharded(bench=bench, model=model, run_id="r", config_path=config,
                                   shards=2, dask_workers=1)
    )  # fmt: skip
    again = asyncio.run(
        position_benchmark_sharded(bench=bench, model=model, run_id="r", config_path=config,
                                   shards=2, dask_workers=1)
    )  # fmt: skip
    assert _generations(fake_llm) == 6
    assert again["shards"] == [] and _cells(again) == _cells(first)


def _scores(store: Path) -> list[tuple[Any, ...]]:
    with Store(store) as s, s.connection() as conn:
        return conn.execute(
            "SELECT request_id, score, raw_score FROM judge_scores ORDER BY request_id"
        ).fetchall()


@pytest.mark.integration
def test_sharded_judge_asks_each_request_once_and_equals_unsharded(
    prefect_harness: None, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.set_responder(respond)
    capture_traffic(fake_llm, tmp_path / "capture")
    judge = JudgeSettings(
        rubrics=[FAITHFULNESS], models=[f"openai-compatible:judge@{fake_llm.openai_base_url}"],
        sample_rate=1.0, cap_requests=None,
    )  # fmt: skip
    sharded_config = EvalmonConfig(store=tmp_path / "sharded.duckdb", judge=judge)
    report = asyncio.run(
        judge_sample_sharded(paths=[str(tmp_path / "capture")], config=sharded_config,
                             shards=3, dask_workers=2)
    )  # fmt: skip
    [outcome] = report.rubrics
    assert (outcome.sampled, outcome.judged, outcome.scored) == (N, N, N)
    assert judge_calls(fake_llm) == N  # asked by the shards only; the judge run used the cache
    assert report.model_calls == 0

    plain_config = EvalmonConfig(store=tmp_path / "plain.duckdb", judge=judge)
    plain = asyncio.run(
        run_judge_sample(JudgeSampleRequest(paths=(tmp_path / "capture",)), plain_config)
    )
    assert judge_calls(fake_llm) == 2 * N
    assert plain.rubrics[0].reviews == outcome.reviews
    assert _scores(sharded_config.store) == _scores(plain_config.store)
