"""The runner against the fake server: concurrency, retries, faults, cache and resume."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest

from evals.config import OpenAISettings, ProvidersConfig, RunnerConfig
from evals.providers import (
    CallResult,
    GenerateParams,
    Message,
    Provider,
    ProviderError,
    create_provider,
)
from evals.runner import AdaptiveLimiter, CallRecord, CallSpec, Runner
from tests.fakeserver import FakeLLMServer


class MemorySink:
    """Test double for the store: keeps records in a list, serves a dict as the cache."""

    def __init__(
        self, done: set[str] | None = None, cache: dict[str, CallResult] | None = None
    ) -> None:
        self.records: list[CallRecord] = []
        self.done = done or set()
        self.cache = cache or {}
        self.flushes = 0
        self.lookups: list[int] = []

    def completed_call_keys(self, run_id: str) -> set[str]:
        return set(self.done)

    def write(self, record: CallRecord) -> None:
        self.records.append(record)

    def flush(self) -> None:
        self.flushes += 1

    def lookup(self, keys: Sequence[str]) -> dict[str, CallResult]:
        self.lookups.append(len(keys))
        return {k: self.cache[k] for k in keys if k in self.cache}


def specs(n: int, repeats: int = 1) -> list[CallSpec]:
    return [
        CallSpec(f"case-{i}", r, (Message("user", f"question {i}"),), GenerateParams(max_tokens=8))
        for i in range(n)
        for r in range(repeats)
    ]


_OPEN_PROVIDERS: list[Provider] = []


def provider_for(server: FakeLLMServer, timeout_s: float = 5.0) -> Provider:
    settings = ProvidersConfig(
        openai=OpenAISettings(base_url=server.openai_base_url, timeout_s=timeout_s)
    )
    provider = create_provider("openai:gpt-4o-mini", settings, env={"OPENAI_API_KEY": "sk-test"})
    _OPEN_PROVIDERS.append(provider)
    return provider


@pytest.fixture(autouse=True)
async def _close_providers() -> AsyncIterator[None]:
    yield
    while _OPEN_PROVIDERS:
        await _OPEN_PROVIDERS.pop().aclose()


FAST = RunnerConfig(
    concurrency=16, max_retries=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2.0
)


async def test_every_call_is_recorded_once(fake_llm: FakeLLMServer) -> None:
    sink = MemorySink()
    runner = Runner(provider_for(fake_llm), sink, cache=sink, config=FAST)
    summary = await runner.run("r1", specs(40, repeats=2))
    keys = [r.call_key for r in sink.records]
    assert sorted(keys) == sorted(s.call_key for s in specs(40, repeats=2))
    assert summary.total == summary.called == 80 and summary.errors == 0
    assert all(r.result.ok and r.result.text for r in sink.records)
    assert sink.flushes >= 1
    assert fake_llm.stats()["requests_total"] == 80


async def test_concurrency_is_bounded(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_faults(latency_s=0.05)
    config = FAST.model_copy(update={"concurrency": 5})
    await Runner(provider_for(fake_llm), MemorySink(), config=config).run("r", specs(30))
    assert fake_llm.stats()["max_in_flight"] == 5


async def test_client_side_request_rate_limit(fake_llm: FakeLLMServer) -> None:
    config = FAST.model_copy(update={"requests_per_minute": 600.0})  # 10/s
    started = time.monotonic()
    await Runner(provider_for(fake_llm), MemorySink(), config=config).run("r", specs(11))
    arrivals = [r.received_at for r in fake_llm.history]
    # 11 requests at 10/s: the last leaves at least 1 s after the first.
    assert arrivals[-1] - arrivals[0] >= 0.95
    assert time.monotonic() - started >= 0.95


async def test_fault_mix_loses_and_duplicates_nothing(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_faults(
        p_429=0.20, p_500=0.05, p_timeout=0.02, retry_after_s=0.02, hang_s=1.5, seed=11
    )
    config = RunnerConfig(
        concurrency=32, max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=0.5
    )
    sink = MemorySink()
    summary = await Runner(provider_for(fake_llm, timeout_s=0.5), sink, config=config, seed=1).run(
        "r", specs(500)
    )
    counts = Counter(r.call_key for r in sink.records)
    assert len(counts) == 500 and max(counts.values()) == 1  # none lost, none duplicated
    for record in sink.records:
        assert 1 <= record.result.attempts <= config.max_retries + 1
        if not record.result.ok:
            assert record.result.error is not None
            assert record.result.error.kind in {"rate_limited", "server_error", "timeout"}
            assert record.result.text == "" and record.result.finish_reason == "error"
    stats = fake_llm.stats()
    assert stats["requests_total"] == summary.attempts
    assert stats["by_outcome"]["429"] == summary.rate_limited > 0
    assert summary.errors == sum(not r.result.ok for r in sink.records)
    assert summary.errors < 25  # 4 attempts each: a call fails only on 4 faults in a row


async def test_cache_hits_make_no_calls_and_cost_nothing(fake_llm: FakeLLMServer) -> None:
    first = MemorySink()
    runner = Runner(provider_for(fake_llm), first, cache=first, config=FAST)
    await runner.run("a", specs(10))
    cache = {
        r.cache_key: r.result.replace(cached=True, attempts=0, cost_usd=0.0) for r in first.records
    }
    second = MemorySink(cache=cache)
    summary = await Runner(provider_for(fake_llm), second, cache=second, config=FAST).run(
        "b", specs(10)
    )
    assert summary.cached == 10 and summary.called == 0 and summary.cost_usd == 0
    assert fake_llm.stats()["requests_total"] == 10  # only the first run called
    assert all(r.result.cached for r in second.records)


async def test_cache_key_covers_model_params_messages_and_repeat(fake_llm: FakeLLMServer) -> None:
    sink = MemorySink()
    await Runner(provider_for(fake_llm), sink, cache=sink, config=FAST).run(
        "a", specs(3, repeats=2)
    )
    assert len({r.cache_key for r in sink.records}) == 6


async def test_resume_skips_finished_calls(fake_llm: FakeLLMServer) -> None:
    done = {s.call_key for s in specs(10)[:7]}
    sink = MemorySink(done=done)
    summary = await Runner(provider_for(fake_llm), sink, config=FAST).run("r", specs(10))
    assert summary.resumed == 7 and summary.called == 3
    assert fake_llm.stats()["requests_total"] == 3
    assert {r.call_key for r in sink.records} == {s.call_key for s in specs(10)[7:]}


async def test_provider_concurrency_limit_wins(fake_llm: FakeLLMServer) -> None:
    provider = provider_for(fake_llm)
    provider._max_concurrency = 2  # type: ignore[attr-defined]  # as local:smollm2 declares
    runner = Runner(provider, MemorySink(), config=FAST)
    assert runner.concurrency == 2


async def test_limiter_backs_off_on_429_and_recovers() -> None:
    limiter = AdaptiveLimiter(8)
    for _ in range(20):
        limiter.release(await limiter.acquire(10), None)
    assert limiter.stats.rate_per_s is None
    permit = await limiter.acquire(10)
    limiter.release(permit, ProviderError("rate_limited", "429", status=429, retry_after_s=0.05))
    cut_rate = limiter.stats.rate_per_s
    # 20 successes in the last second: the rate drops to 85% of that.
    assert cut_rate == pytest.approx(17.0) and limiter.stats.cuts == 1
    # A second 429 within the cooldown is the same congestion event: no second cut.
    limiter.release(await limiter.acquire(10), ProviderError("rate_limited", "429", status=429))
    assert limiter.stats.cuts == 1 and limiter.stats.rate_limited == 2
    # The pause is honoured: the next attempt waits for Retry-After.
    started = time.monotonic()
    limiter.release(await limiter.acquire(10), None)
    assert time.monotonic() - started >= 0.04
    # Without 429s the rate grows back.
    limiter._last_growth -= 5.0
    limiter.release(await limiter.acquire(10), None)
    grown = limiter.stats.rate_per_s
    assert grown is None or grown > cut_rate


async def test_adaptive_runner_keeps_429s_rare_under_a_server_rate_limit(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.set_faults(rate_limit_rps=40.0, rate_limit_burst=10.0)
    config = RunnerConfig(concurrency=16, max_retries=8, backoff_base_s=0.05, timeout_s=2.0)
    sink = MemorySink()
    summary = await Runner(provider_for(fake_llm), sink, config=config).run("r", specs(120))
    assert summary.errors == 0 and len(sink.records) == 120
    # A naive client at concurrency 16 against a 40/s limit gets most requests refused.
    assert summary.rate_limited < 0.25 * summary.attempts


async def test_timeout_per_call_is_enforced(fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue_fault("timeout", hang_s=5.0)
    config = RunnerConfig(concurrency=1, max_retries=0, timeout_s=0.3)
    sink = MemorySink()
    started = time.monotonic()
    await Runner(provider_for(fake_llm, timeout_s=10.0), sink, config=config).run("r", specs(1))
    assert time.monotonic() - started < 3.0
    error = sink.records[0].result.error
    assert error is not None and error.kind == "timeout"


async def test_cancelled_run_still_flushes(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_faults(latency_s=0.2)
    sink = MemorySink()
    task = asyncio.create_task(
        Runner(provider_for(fake_llm), sink, config=FAST).run("r", specs(64))
    )
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink.flushes == 1 and 0 < len(sink.records) < 64
