"""The position benchmark and the production judge with their calls sharded over Dask.

Both are "make the calls in shards, then run as usual" (see :mod:`flows.sharding`):

* ``position_benchmark_sharded`` starts (or resumes) the benchmark's run, makes its calls
  in shards on a :class:`~prefect_dask.DaskTaskRunner` and stores them under the run, then
  runs the ordinary ``position_benchmark`` flow with the same run id, which finds every
  call made (resumed) and summarises, stores and reports exactly as unsharded.
* ``judge_sample_sharded`` works out which requests the judge will judge (the same
  deterministic sample, with ``until`` fixed first), makes the first judge call of each in
  shards under a ``prefetch`` run, which fills the response cache, then runs the ordinary
  ``judge_sample`` flow: its calls come from the cache, and replies that do not parse are
  asked again there as usual.

Only the parent process writes the DuckDB store.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow

from evals.position import PositionConfig, plan
from evals.runner import CallSpec
from evals.scorers import load_rubric
from flows.config import EvalmonConfig, load_config
from flows.eval_run import new_run_id
from flows.judge_batch import judge_specs
from flows.judge_sample import JudgeSampleReport, choose_rubric_sample, judge_items
from flows.position_flow import position_benchmark
from flows.position_run import position_specs, start_position_run
from flows.production_flows import judge_sample_flow
from flows.sharding import ShardedCalls, dask_task_runner, provider_ref, sharded_calls
from metrics.production import ingest_files, load_requests, pending_requests
from metrics.store import Store


def _sharded(address: str | None, workers: int) -> Any:
    return sharded_calls.with_options(task_runner=dask_task_runner(address, workers))


@flow(name="position_benchmark_sharded", log_prints=True)
async def position_benchmark_sharded(
    bench: PositionConfig | None = None,
    model: str | None = None,
    run_id: str | None = None,
    report_path: str | None = None,
    config_path: str | None = None,
    shards: int = 4,
    dask_address: str | None = None,
    dask_workers: int = 2,
) -> dict[str, Any]:
    """The position benchmark with its prompts asked in ``shards`` shards over Dask.

    Args:
        bench: What to run (default: 20-document QA at the paper's positions).
        model: Model string (default: the configured default model).
        run_id: Run to create or resume.
        report_path: Write the Markdown report (and its plot) here.
        config_path: evalmon.toml to use.
        shards: Shards to split the prompts into (a few per worker balances them).
        dask_address: Scheduler of an existing Dask cluster; None starts a local one.
        dask_workers: Worker processes of the local cluster.

    Returns:
        What ``position_benchmark`` returns, plus ``shards``: each shard's worker and calls.
    """
    bench = bench or PositionConfig()
    config = load_config(Path(config_path) if config_path else None)
    model = model or config.default_model
    run_id = run_id or new_run_id(f"position-{bench.task}-{bench.context_size}")
    specs = position_specs(plan(bench))
    # The run exactly as run_position starts it, so that its resume accepts the calls.
    with Store(config.store) as store:
        start_position_run(store, bench, run_id, provider_ref(model, config))
    calls: ShardedCalls = _sharded(dask_address, dask_workers)(model, run_id, specs, config, shards)
    result: dict[str, Any] = await position_benchmark(
        bench=bench, model=model, run_id=run_id, report_path=report_path, config_path=config_path
    )
    return {**result, "shards": [asdict(s) for s in calls.shards]}


@dataclass(frozen=True, slots=True)
class _Batch:
    model: str
    ref: str
    run_id: str
    specs: list[CallSpec]


def _judge_batches(config: EvalmonConfig, since: datetime | None, until: datetime) -> list[_Batch]:
    """The first call of every judgment ``judge_sample`` is about to make, per judge model."""
    settings = config.judge
    models = settings.models or [config.default_model]
    refs = {model: provider_ref(model, config) for model in models}
    batches = []
    with Store(config.store) as store:
        for rubric in (load_rubric(path) for path in settings.rubrics):
            sample = choose_rubric_sample(store, rubric, settings, since, until, dry_run=True)
            pending = pending_requests(store, rubric.version, list(refs.values()))
            ids = list(dict.fromkeys([*pending, *sample.request_ids]))
            items = judge_items(rubric, load_requests(store, ids), config).items
            specs = list(judge_specs(items).values())
            digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:12]
            for model, ref in refs.items() if specs else ():
                who = hashlib.sha256(ref.encode()).hexdigest()[:6]
                name = rubric.prompt.spec.name.replace("/", "_")
                batches.append(_Batch(model, ref, f"judge-prefetch-{name}-{who}-{digest}", specs))
    return batches


@flow(name="judge_sample_sharded", log_prints=True, validate_parameters=False)
async def judge_sample_sharded(
    paths: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    config_path: str | None = None,
    config: EvalmonConfig | None = None,
    shards: int = 4,
    dask_address: str | None = None,
    dask_workers: int = 2,
) -> JudgeSampleReport:
    """``judge_sample`` with its judge calls made in ``shards`` shards over Dask first.

    Args:
        paths: Capture files or folders to ingest first.
        since: Start of the sampled window (UTC).
        until: End of the window (default: now, fixed before sampling).
        config_path: evalmon.toml to use.
        config: A loaded configuration (the CLI passes its own).
        shards: Shards per judge model.
        dask_address: Scheduler of an existing Dask cluster; None starts a local one.
        dask_workers: Worker processes of the local cluster.

    Returns:
        What ``judge_sample`` returns (its calls answered from the cache the shards filled).
    """
    config = config or load_config(Path(config_path) if config_path else None)
    until = until or datetime.now(UTC)
    if paths:
        with Store(config.store) as store:
            print(ingest_files(store, paths).summary)
    for batch in _judge_batches(config, since, until):
        with Store(config.store) as store:
            store.start_run(batch.run_id, kind="prefetch", model_ref=batch.ref,
                            prompt_ref=None, dataset_ref=None)  # fmt: skip
        _sharded(dask_address, dask_workers)(batch.model, batch.run_id, batch.specs, config, shards)
        with Store(config.store) as store:
            store.finish_run(batch.run_id, "finished", {"calls": len(batch.specs)})
    report: JudgeSampleReport = await judge_sample_flow(since=since, until=until, config=config)
    return report
