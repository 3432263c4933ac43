"""The position benchmark as a Prefect flow, for a weekly schedule.

Thin over :func:`flows.position_run.run_position`: one task batches every prompt with
asyncio; a retried task resumes the same run, so answered prompts are not asked again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from evals.position import PositionConfig
from flows.config import EvalmonConfig, load_config
from flows.eval_flow import retry_unless_bad_input
from flows.eval_run import new_run_id
from flows.position_run import PositionReport, markdown_report, run_position


@task(
    name="run-position-benchmark",
    retries=2,
    retry_delay_seconds=[30, 300],
    retry_condition_fn=retry_unless_bad_input,
    cache_policy=NO_CACHE,
)
async def run_position_task(
    bench: PositionConfig, config: EvalmonConfig, model: str | None, run_id: str
) -> PositionReport:
    """Run (or resume) the benchmark; see :func:`flows.position_run.run_position`."""
    return await run_position(bench, config, model=model, run_id=run_id)


@flow(name="position_benchmark", log_prints=True)
async def position_benchmark(
    bench: PositionConfig | None = None,
    model: str | None = None,
    run_id: str | None = None,
    report_path: str | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Replay the lost-in-the-middle experiment against ``model`` and store the results.

    Args:
        bench: What to run (default: 20-document QA at the paper's positions).
        model: Model string (default: the configured default model).
        run_id: Run to create or resume (fixed here, so task retries resume it).
        report_path: Write the Markdown report (and its plot, beside it) here.
        config_path: evalmon.toml to use.

    Returns:
        The run id, the prompts skipped as longer than the model's context window, and the
        accuracy of every cell.
    """
    bench = bench or PositionConfig()
    config = load_config(Path(config_path) if config_path else None)
    run_id = run_id or new_run_id(f"position-{bench.task}-{bench.context_size}")
    report = await run_position_task(bench, config, model, run_id)
    if report_path:
        from flows.position_plot import write_report

        write_report(report, Path(report_path))
    print(markdown_report(report))
    return {
        "run_id": report.run_id,
        "model": report.model_ref,
        "skipped": report.skipped,
        "cells": [
            {"setting": c.setting, "strategy": c.strategy, "position": c.position,
             "n": c.n, "accuracy": c.accuracy, "errors": c.errors, "skipped": c.skipped}
            for c in report.cells
        ],
    }  # fmt: skip
