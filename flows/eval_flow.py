"""The eval as a Prefect flow: a thin flow over one batched, retried task.

The work lives in :func:`flows.eval_run.run_eval`; the task batches every call of the eval
with asyncio (one task, not one per case, which would swamp a Prefect server). A retried
task resumes the same run, so calls finished before the failure are not made again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from evals.prompts import load_prompt
from evals.providers import ConfigError
from flows.config import EvalmonConfig, load_config
from flows.eval_run import EvalReport, EvalRequest, new_run_id, run_eval


def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry outages and crashes, never bad input (it would fail the same way again).

    ``_sync=True``: in an async task, ``state.result()`` would return a coroutine instead
    of raising the task's exception, and every failure would look retryable.
    """
    try:
        state.result(_sync=True)
    except ConfigError:
        return False
    except Exception:
        return True
    return True


@task(
    name="run-eval",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_unless_bad_input,
    cache_policy=NO_CACHE,
)
async def run_eval_task(request: EvalRequest, config: EvalmonConfig) -> EvalReport:
    """Run (or resume) the eval; see :func:`flows.eval_run.run_eval`."""
    return await run_eval(request, config)


@flow(name="eval", log_prints=True)
async def eval_flow(
    prompt: str,
    dataset: str,
    model: str | None = None,
    run_id: str | None = None,
    repeats: int = 1,
    limit: int | None = None,
    scorers: list[str] | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Run a prompt over a dataset on one model and store the results.

    Args:
        prompt: Prompt YAML file.
        dataset: JSONL dataset.
        model: Model string (default: the prompt's, then the configured default).
        run_id: Run to create or resume (fixed here, so task retries resume it).
        repeats: Calls per case.
        limit: Use only the first N cases.
        scorers: Scorer names (default: best_subspan_em).
        config_path: evalmon.toml to use.

    Returns:
        The run id, status, scorer means, error share and call counts.
    """
    config = load_config(Path(config_path) if config_path else None)
    run_id = run_id or new_run_id(load_prompt(Path(prompt)).spec.name)
    request = EvalRequest(
        prompt=Path(prompt), dataset=Path(dataset), model=model, run_id=run_id,
        repeats=repeats, limit=limit, scorers=tuple(scorers or ("best_subspan_em",)),
    )  # fmt: skip
    report = await run_eval_task(request, config)
    s = report.summary
    print(
        f"{report.prompt_ref} on {report.model_ref}: {report.status}, {report.scorer_means}, "
        f"{s.total} calls ({s.called} called, {s.cached} cached, {s.resumed} resumed, "
        f"{s.errors} errors), ${s.cost_usd:.4f}"
    )
    return {
        "run_id": report.run_id,
        "status": report.status,
        "scorer_means": report.scorer_means,
        "error_share": report.error_share,
        "calls": s.total,
        "called": s.called,
        "cached": s.cached,
        "errors": s.errors,
        "cost_usd": s.cost_usd,
    }
