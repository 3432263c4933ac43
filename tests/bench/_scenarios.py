"""Benchmark scenarios: each runs the real runner and DuckDB store against the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import resource
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.config import RunnerConfig
from evals.providers import GenerateParams, Message, create_provider
from evals.runner import CallSpec, Runner, RunSummary
from metrics.store import Store
from tests.fakeserver import FakeLLMServerProcess


@dataclass(frozen=True)
class Measurement:
    """One benchmark's figures."""

    name: str
    wall_s: float
    ideal_s: float | None
    summary: RunSummary
    server_requests: int
    server_429: int
    peak_rss_mb: float | None = None

    @property
    def ratio(self) -> float | None:
        """Wall time over the ideal."""
        return self.wall_s / self.ideal_s if self.ideal_s else None


def make_specs(n: int, tag: str = "") -> list[CallSpec]:
    """``n`` distinct one-message calls."""
    params = GenerateParams(max_tokens=16)
    return [
        CallSpec(f"c{i}", 0, (Message("user", f"{tag}question number {i}"),), params)
        for i in range(n)
    ]


async def _run(
    server: FakeLLMServerProcess, store: Store, run_id: str, specs: list[CallSpec],
    concurrency: int, ideal_s: float | None,
) -> Measurement:  # fmt: skip
    provider = create_provider(f"openai-compatible:bench@{server.openai_base_url}")
    config = RunnerConfig(concurrency=concurrency, timeout_s=30.0)
    runner = Runner(provider, store, cache=store, config=config)
    try:
        await provider.check()  # as `evalmon run` does before a run: the client is warm
        before = server.stats()  # counted from here: the run's own requests only
        started = time.perf_counter()
        summary = await runner.run(run_id, specs)
        wall = time.perf_counter() - started
        after = server.stats()
    finally:
        await provider.aclose()
    requests = after["requests_total"] - before["requests_total"]
    limited = after["by_status"].get(429, 0) - before["by_status"].get(429, 0)
    return Measurement(run_id, wall, ideal_s, summary, requests, limited)


def _run_on_server(name: str, server: FakeLLMServerProcess, specs: list[CallSpec], concurrency: int,
                   ideal_s: float | None, store: Store) -> Measurement:  # fmt: skip
    return asyncio.run(_run(server, store, name, specs, concurrency, ideal_s))


@contextlib.contextmanager
def _bench_env(**server_faults: Any) -> Iterator[tuple[FakeLLMServerProcess, Store]]:
    """A fake server in its own process and a fresh DuckDB store in a temporary folder."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeLLMServerProcess(**server_faults) as server,
        Store(Path(tmp) / "bench.duckdb") as store,
    ):
        store.migrate()
        yield server, store


def latency_bound(calls: int = 5000, latency_s: float = 0.1, concurrency: int = 64) -> Measurement:
    """Many calls, each ``latency_s`` long: the runner must keep ``concurrency`` in flight."""
    with _bench_env(latency_s=latency_s) as (server, store):
        ideal = calls * latency_s / concurrency
        return _run_on_server("latency-bound", server, make_specs(calls), concurrency, ideal, store)


def rate_limited(calls: int = 1000, rps: float = 50.0, concurrency: int = 32) -> Measurement:
    """A server that allows ``rps`` requests/s and answers 429 with Retry-After beyond it."""
    with _bench_env(rate_limit_rps=rps) as (server, store):
        return _run_on_server(
            "rate-limited", server, make_specs(calls), concurrency, calls / rps, store
        )


def cache_rerun(calls: int = 1000, concurrency: int = 32) -> tuple[Measurement, Measurement]:
    """The same eval twice on one store: the second run must not call the provider."""
    with _bench_env() as (server, store):
        specs = make_specs(calls, tag="cache ")
        first = _run_on_server("cache-first", server, specs, concurrency, None, store)
        second = _run_on_server("cache-second", server, specs, concurrency, None, store)
        return first, second


def memory(calls: int = 100_000, concurrency: int = 64) -> Measurement:
    """A long run with no latency; peak RSS of this process is what counts."""
    with _bench_env() as (server, store):
        result = _run_on_server("memory", server, make_specs(calls), concurrency, None, store)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dataclasses.replace(result, peak_rss_mb=peak_mb)


def position_build() -> float:
    """Seconds to rebuild the 30-document contexts for every question (data loaded first)."""
    from evals.position import build_multidoc, load_nq_oracle

    examples = load_nq_oracle()
    started = time.perf_counter()
    build_multidoc(examples, 30)
    return time.perf_counter() - started


def position_overhead(limit: int = 100) -> float:
    """Milliseconds per prompt of a whole position run against the fake server at 0 latency.

    Everything but the model counts: planning (contexts, reranking, rendering), the runner,
    the store, scoring and the summary.
    """
    # The SDK's one-time imports (~1.5 s here, where PYTHONDONTWRITEBYTECODE=1 makes every
    # import compile from source) are process start-up, not per prompt: its resources load
    # lazily on the first call, so import them too.
    import openai.resources  # noqa: F401

    from evals.position import PositionConfig
    from flows.config import EvalmonConfig
    from flows.position_run import run_position

    bench = PositionConfig(n_documents=20, limit=limit, strategies=["original", "strategic_order"])
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServerProcess() as server:
        config = EvalmonConfig(store=Path(tmp) / "bench.duckdb")
        config = config.model_copy(update={"runner": RunnerConfig(concurrency=16)})
        started = time.perf_counter()
        report = asyncio.run(
            run_position(bench, config, model=f"openai-compatible:b@{server.openai_base_url}")
        )
        elapsed = time.perf_counter() - started
    return 1000 * elapsed / report.summary.total
