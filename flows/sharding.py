"""Scale-out: a batch of model calls split into shards, run as Prefect tasks on Dask.

The DuckDB store admits one writer at a time, so **shards never touch the store**. The
parent flow (:func:`sharded_calls`) reads what the run already has (finished calls, cached
responses), splits the rest into ``n`` contiguous shards (:func:`shard`) and maps
:func:`call_shard` over them on its task runner, a
:class:`~prefect_dask.DaskTaskRunner` (:func:`dask_task_runner`): each shard opens its own
provider on its worker, runs the runner with an in-memory sink and returns the finished
calls. The parent writes each shard's calls into the store as that shard finishes, through
the store's journal, so a failed shard loses only itself: run again with the same run id
and only its calls are made again.

The benchmark and the judge then run as usual over the same run id (or the response cache)
and find every call made, so the results are the unsharded ones by construction
(:mod:`flows.scaleout_flows`). A shard holds its calls in memory until it returns: keep
shards to a few thousand calls each.

Rate limits (``requests_per_minute``, ``tokens_per_minute``) are the provider's, for all
shards together, so each shard gets its share; ``concurrency`` is per shard.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from evals.providers import ConfigError
from evals.runner import CallRecord, CallSpec, Runner, RunSummary, cache_key
from flows.config import EvalmonConfig
from flows.eval_flow import retry_unless_bad_input
from flows.running import build_provider, open_provider
from metrics.store import Store

T = TypeVar("T")


def shard(items: Sequence[T], n: int) -> list[list[T]]:
    """Split ``items`` into at most ``n`` contiguous shards of near-equal size, in order.

    Contiguous, so prompts planned together (sharing a prefix) stay together. No shard is
    empty: fewer items than ``n`` give one shard per item.

    Raises:
        ValueError: ``n`` is below 1.
    """
    if n < 1:
        raise ValueError(f"shards must be 1 or more, got {n}")
    count = min(n, len(items))
    size, extra = divmod(len(items), count) if count else (0, 0)
    shards, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        shards.append(list(items[start:end]))
        start = end
    return shards


def worker_name() -> str:
    """The Dask worker this runs on (its address), else ``host:pid``."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ShardResult:
    """What one shard did.

    Attributes:
        index: Its position among the shards.
        worker: The worker it ran on.
        records: Its finished calls (results and recorded errors), for the parent to store.
        summary: Its runner's summary.
    """

    index: int
    worker: str
    records: list[CallRecord]
    summary: RunSummary


@dataclass(frozen=True, slots=True)
class ShardStat:
    """One shard, as reported (without its calls)."""

    index: int
    worker: str
    calls: int
    called: int
    errors: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ShardedCalls:
    """What :func:`sharded_calls` did.

    Attributes:
        run_id: The run the calls were stored under.
        total: Calls asked for.
        done: Already finished in the run (not sharded).
        cached: Answered by the response cache (left for the run itself).
        shards: Each shard that ran.
    """

    run_id: str
    total: int
    done: int
    cached: int
    shards: list[ShardStat] = field(default_factory=list)

    @property
    def workers(self) -> set[str]:
        """The workers the shards ran on."""
        return {s.worker for s in self.shards}


class _MemorySink:
    """A :class:`~evals.runner.ResultSink` that keeps the records for the parent to store."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def completed_call_keys(self, run_id: str) -> set[str]:
        return set()  # the parent sends only calls the run has not finished

    def write(self, record: CallRecord) -> None:
        self.records.append(record)

    def flush(self) -> None:
        return None


def shard_config(config: EvalmonConfig, shards: int) -> EvalmonConfig:
    """``config`` with each shard's share of the provider's rate limits."""
    runner = config.runner
    update: dict[str, Any] = {}
    if runner.requests_per_minute is not None:
        update["requests_per_minute"] = runner.requests_per_minute / shards
    if runner.tokens_per_minute is not None:
        update["tokens_per_minute"] = runner.tokens_per_minute / shards
    return config.model_copy(update={"runner": runner.model_copy(update=update)})


def provider_ref(model: str, config: EvalmonConfig) -> str:
    """The ref ``model`` resolves to (as stored with each call), without a network call.

    Raises:
        ConfigError: Unknown model string, or missing key or SDK.
    """
    return build_provider(model, config).ref


@task(
    name="call-shard",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_unless_bad_input,
    cache_policy=NO_CACHE,
)
async def call_shard(
    index: int, model: str, run_id: str, specs: list[CallSpec], config: EvalmonConfig
) -> ShardResult:
    """Make one shard's calls on this worker and return them (nothing is stored here)."""
    provider = await open_provider(model, config)
    try:
        sink = _MemorySink()
        summary = await Runner(provider, sink, config=config.runner).run(run_id, specs)
    finally:
        await provider.aclose()
    return ShardResult(index, worker_name(), sink.records, summary)


@flow(name="sharded_calls", validate_parameters=False)
def sharded_calls(
    model: str, run_id: str, specs: list[CallSpec], config: EvalmonConfig, shards: int = 2
) -> ShardedCalls:
    """Make the calls of ``specs`` that run ``run_id`` lacks, in shards; store them here.

    The run must exist (``Store.start_run``). Run this flow with a Dask task runner
    (``sharded_calls.with_options(task_runner=dask_task_runner(...))``) to spread the
    shards over workers; with the default runner they run as threads of this process.

    Raises:
        ConfigError: A shard met bad input (an unknown model, a missing key).
        RuntimeError: Shards failed after their retries; the others' calls are stored.
    """
    with Store(config.store) as store:
        done = store.completed_call_keys(run_id)
        unfinished = [s for s in specs if s.call_key not in done]
        ref = provider_ref(model, config)
        keys = [cache_key(ref, s) for s in unfinished]
        hits = store.lookup(keys)
    todo = [s for s, key in zip(unfinished, keys, strict=True) if key not in hits]
    report = ShardedCalls(
        run_id, len(specs), len(specs) - len(unfinished), len(unfinished) - len(todo)
    )
    parts = shard(todo, shards) if todo else []
    share = shard_config(config, max(len(parts), 1))
    futures = [call_shard.submit(i, model, run_id, part, share) for i, part in enumerate(parts)]
    failures: list[BaseException] = []
    with Store(config.store) as store:
        for future in as_completed(futures):
            future.wait()  # a Dask future's final state is set here, not by as_completed
            state = future.state
            if not state.is_completed():
                error = state.result(raise_on_failure=False)
                failures.append(error if isinstance(error, BaseException) else RuntimeError(error))
                continue
            result = cast(ShardResult, future.result())
            for record in result.records:
                store.write(record)
            store.flush()
            report.shards.append(
                ShardStat(result.index, result.worker, result.summary.total,
                          result.summary.called, result.summary.errors, result.summary.cost_usd)
            )  # fmt: skip
    report.shards.sort(key=lambda s: s.index)
    get_run_logger().info(
        "%d calls: %d already done, %d cached, %d sharded over %d workers",
        report.total, report.done, report.cached, len(todo), len(report.workers),
    )  # fmt: skip
    if failures:
        bad = next((f for f in failures if isinstance(f, ConfigError)), None)
        if bad is not None:
            raise bad
        raise RuntimeError(
            f"{len(failures)} of {len(parts)} shards failed ({failures[0]}); the other shards' "
            f"calls are stored: run again with run id {run_id!r} to make only the missing ones"
        )
    return report


def dask_task_runner(address: str | None = None, workers: int = 2) -> Any:
    """A ``DaskTaskRunner``: on the cluster at ``address``, else a local one.

    Args:
        address: Scheduler address of an existing Dask cluster (``tcp://host:8786``).
        workers: Worker processes of the local cluster (one thread each).
    """
    from prefect_dask.task_runners import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": max(workers, 1), "threads_per_worker": 1,
                        "processes": True, "dashboard_address": None},
    )  # fmt: skip
