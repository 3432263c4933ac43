"""The async runner: many calls, bounded and rate-limited, retried, cached and resumable."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from evals.config import RunnerConfig
from evals.providers import CallResult, Provider, RetryPolicy, call_with_retries
from evals.runner._limiter import AdaptiveLimiter
from evals.runner._progress import NoProgress, ProgressReporter
from evals.runner._protocols import CallRecord, CallSpec, ResponseCache, ResultSink, cache_key

LOOKUP_CHUNK = 20_000


def retry_policy(config: RunnerConfig) -> RetryPolicy:
    """The retry policy the runner's configuration describes (also for fallback chains)."""
    return RetryPolicy(
        max_retries=config.max_retries,
        backoff_base_s=config.backoff_base_s,
        backoff_max_s=config.backoff_max_s,
        timeout_s=config.timeout_s,
    )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did.

    Attributes:
        run_id: The run.
        total: Calls in the run.
        resumed: Calls already finished by an earlier, interrupted attempt (not repeated).
        cached: Calls answered from the response cache (no provider call, no cost).
        called: Calls sent to the provider in this attempt.
        errors: Calls that ended in a recorded error.
        attempts: HTTP attempts made, retries included.
        rate_limited: Attempts answered with 429.
        cost_usd: Cost of this attempt's provider calls.
        elapsed_s: Wall time.
    """

    run_id: str
    total: int
    resumed: int
    cached: int
    called: int
    errors: int
    attempts: int
    rate_limited: int
    cost_usd: float
    elapsed_s: float


class Runner:
    """Runs call specs against one provider and hands each finished call to a sink.

    Args:
        provider: The model to call.
        sink: Where finished calls go, as they finish (durable; see :class:`ResultSink`).
        cache: Response cache consulted before calling; None to always call.
        config: Concurrency, rate limits, timeouts and retries.
        progress: Progress display.
        seed: Seed for retry jitter (None for fresh randomness).
    """

    def __init__(
        self,
        provider: Provider,
        sink: ResultSink,
        *,
        cache: ResponseCache | None = None,
        config: RunnerConfig | None = None,
        progress: ProgressReporter | None = None,
        seed: int | None = None,
    ) -> None:
        """Configure the runner; nothing runs until :meth:`run`."""
        self.provider = provider
        self.sink = sink
        self.cache = cache
        self.config = config or RunnerConfig()
        self.progress = progress or NoProgress()
        self._rng = random.Random(seed)
        concurrency = self.config.concurrency
        if provider.max_concurrency is not None:
            concurrency = min(concurrency, provider.max_concurrency)
        self.concurrency = concurrency
        self.policy = retry_policy(self.config)

    async def run(self, run_id: str, specs: Sequence[CallSpec]) -> RunSummary:
        """Make every call of ``specs`` not already finished in ``run_id``.

        Finished calls of an earlier attempt of the same run are skipped; cached responses are
        recorded without calling the provider; the rest are called concurrently. Every call
        ends as a result or a recorded error, written to the sink as soon as it finishes.
        """
        started = time.perf_counter()
        done = await asyncio.to_thread(self.sink.completed_call_keys, run_id)
        todo = [spec for spec in specs if spec.call_key not in done]
        resumed = len(specs) - len(todo)
        limiter = AdaptiveLimiter(
            self.concurrency,
            requests_per_minute=self.config.requests_per_minute,
            tokens_per_minute=self.config.tokens_per_minute,
            adaptive=self.config.adaptive,
        )
        counts = _Counts()
        queue: asyncio.Queue[tuple[CallSpec, str] | None] = asyncio.Queue(4 * self.concurrency)
        self.progress.start(len(specs), resumed)
        try:
            workers = [
                asyncio.create_task(self._worker(run_id, queue, limiter, counts))
                for _ in range(self.concurrency)
            ]
            await self._feed(run_id, todo, queue, counts)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            self.sink.flush()
            self.progress.stop()
        return RunSummary(
            run_id=run_id, total=len(specs), resumed=resumed, cached=counts.cached,
            called=counts.called, errors=counts.errors, attempts=counts.attempts,
            rate_limited=limiter.stats.rate_limited, cost_usd=counts.cost,
            elapsed_s=time.perf_counter() - started,
        )  # fmt: skip

    async def _feed(
        self,
        run_id: str,
        todo: list[CallSpec],
        queue: asyncio.Queue[tuple[CallSpec, str] | None],
        counts: _Counts,
    ) -> None:
        """Answer what the cache can, chunk by chunk, and queue the rest for the workers."""
        offset = 0
        while offset < len(todo):
            # A small first chunk gets the workers going at once; then a few large lookups
            # (each opens the database, so fewer is cheaper).
            size = 2 * self.concurrency if offset == 0 else LOOKUP_CHUNK
            chunk = todo[offset : offset + size]
            offset += size
            keys = [cache_key(self.provider.ref, spec) for spec in chunk]
            hits = (
                await asyncio.to_thread(self.cache.lookup, keys) if self.cache is not None else {}
            )
            for spec, key in zip(chunk, keys, strict=True):
                hit = hits.get(key)
                if hit is not None:
                    now = datetime.now(UTC)
                    self._finish(
                        CallRecord(run_id, spec.case_id, spec.repeat, key, hit, now, now), counts
                    )
                else:
                    await queue.put((spec, key))

    async def _worker(
        self,
        run_id: str,
        queue: asyncio.Queue[tuple[CallSpec, str] | None],
        limiter: AdaptiveLimiter,
        counts: _Counts,
    ) -> None:
        while (item := await queue.get()) is not None:
            spec, key = item
            started_at = datetime.now(UTC)
            result = await call_with_retries(
                self.provider, list(spec.messages), spec.params, self.policy,
                gate=limiter, rng=self._rng,
            )  # fmt: skip
            record = CallRecord(
                run_id, spec.case_id, spec.repeat, key, result, started_at, datetime.now(UTC)
            )
            self._finish(record, counts)

    def _finish(self, record: CallRecord, counts: _Counts) -> None:
        self.sink.write(record)
        counts.add(record.result)
        self.progress.advance(record.result)


@dataclass(slots=True)
class _Counts:
    cached: int = 0
    called: int = 0
    errors: int = 0
    attempts: int = 0
    cost: float = 0.0

    def add(self, result: CallResult) -> None:
        if result.cached:
            self.cached += 1
        else:
            self.called += 1
            self.attempts += result.attempts
            self.cost += result.cost_usd or 0.0
        self.errors += result.error is not None
