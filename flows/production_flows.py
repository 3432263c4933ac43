"""Prefect flows of production monitoring: ``ingest`` and ``judge_sample``.

Thin flows over one retried task each; the work lives in :mod:`metrics.production` and
:func:`flows.judge_sample.run_judge_sample` (which batches every judge call with asyncio
through the runner, so a retried task resumes instead of asking again).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from evals.providers import ConfigError
from flows.config import EvalmonConfig, load_config
from flows.eval_flow import retry_unless_bad_input
from flows.judge_sample import JudgeSampleReport, JudgeSampleRequest, run_judge_sample
from metrics.production import IngestReport, expand_paths, ingest_files
from metrics.store import Store


def _config(config_path: str | None, config: EvalmonConfig | None) -> EvalmonConfig:
    return config or load_config(Path(config_path) if config_path else None)


def check_capture_paths(paths: list[str]) -> None:
    """Fail, as bad input (never retried), when a path is missing or not a capture file.

    Raises:
        ConfigError: What is wrong with which path, and what ingest reads.
    """
    try:
        expand_paths(paths)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


@task(
    name="ingest-files",
    retries=2,
    retry_delay_seconds=[5, 30],
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_unless_bad_input,
)
def ingest_task(paths: list[str], config: EvalmonConfig, progress: Any = None) -> IngestReport:
    """Load capture files into ``production_requests`` (idempotent)."""
    check_capture_paths(paths)
    with Store(config.store) as store:
        return ingest_files(store, paths, progress=progress)


@flow(name="ingest", log_prints=True, validate_parameters=False)
def ingest_flow(
    paths: list[str], config_path: str | None = None, config: EvalmonConfig | None = None,
    progress: Any = None,
) -> IngestReport:  # fmt: skip
    """Ingest JSONL or Parquet capture files (or folders of them) into DuckDB.

    Args:
        paths: Files or folders.
        config_path: evalmon.toml to use.
        config: A loaded configuration (the CLI passes its own).
        progress: An ``IngestProgress`` for the bytes read (``Any``: Prefect builds a
            parameter schema, which a Protocol cannot have).

    Returns:
        Rows added, duplicates skipped and lines quarantined, per file.
    """
    report = ingest_task(paths, _config(config_path, config), progress)
    print(report.summary)
    return report


@task(
    name="judge-sample",
    retries=2,
    retry_delay_seconds=[30, 120],
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_unless_bad_input,
)
async def judge_sample_task(
    request: JudgeSampleRequest, config: EvalmonConfig, progress: Any = None
) -> JudgeSampleReport:
    """Sample, redact, judge, store and queue; see :func:`run_judge_sample`."""
    check_capture_paths([str(p) for p in request.paths])
    return await run_judge_sample(request, config, progress)


@flow(name="judge_sample", log_prints=True, validate_parameters=False)
async def judge_sample_flow(
    paths: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    config_path: str | None = None,
    config: EvalmonConfig | None = None,
    progress: Any = None,
) -> JudgeSampleReport:
    """Ingest new capture files, then judge the deterministic sample of production traffic.

    Args:
        paths: Capture files or folders to ingest first.
        since: Start of the sampled window (UTC).
        until: End of the sampled window (UTC).
        config_path: evalmon.toml to use.
        config: A loaded configuration (the CLI passes its own).
        progress: A ``ProgressReporter`` for the judge calls (``Any``: Prefect builds a
            parameter schema, which a Protocol cannot have).

    Returns:
        Per rubric: sampled, judged, scored, unscored, redactions, reviews, mean score.
    """
    request = JudgeSampleRequest(tuple(Path(p) for p in paths or ()), since, until)
    report = await judge_sample_task(request, _config(config_path, config), progress)
    for r in report.rubrics:
        print(
            f"{r.rubric}: {r.sampled} sampled, {r.judged} judged, {r.unscored} unscored, "
            f"{r.reviews} to review, mean {r.mean_score}"
        )
    return report
