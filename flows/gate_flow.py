"""The prompt gate as a Prefect flow: a thin flow over one batched, retried task.

``evalmon gate`` runs this flow; without ``PREFECT_API_URL`` Prefect starts a temporary
local server for it, so no Prefect server is needed. The work lives in
:func:`flows.gate_run.run_gate`: one task runs every call of every changed suite with asyncio.
A retried task reuses the calls stored before the failure (run ids are content-derived).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from evals.gate import GateResult
from evals.runner import ProgressReporter
from flows.config import EvalmonConfig, load_config
from flows.eval_flow import retry_unless_bad_input
from flows.gate_run import GateRequest, run_gate


@task(
    name="gate-changed-prompts",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_unless_bad_input,
    cache_policy=NO_CACHE,
)
async def gate_task(
    request: GateRequest, config: EvalmonConfig, progress: ProgressReporter | None = None
) -> GateResult:
    """Run the gate; see :func:`flows.gate_run.run_gate`."""
    return await run_gate(request, config, progress)


@flow(name="prompt_gate", log_prints=True, validate_parameters=False)
async def prompt_gate(
    base: str = "origin/main",
    path: str = ".",
    model: str | None = None,
    prompts: list[str] | None = None,
    config_path: str | None = None,
    config: EvalmonConfig | None = None,
    progress: Any = None,
) -> GateResult:
    """Gate the prompts changed since ``base``: run their suites on both versions, decide.

    Args:
        base: Git ref to compare with.
        path: A directory inside the repository.
        model: Model for both versions (default: each suite's, then each prompt's).
        prompts: Only these prompt names.
        config_path: evalmon.toml to use (ignored when ``config`` is given).
        config: A loaded configuration (the CLI passes its own).
        progress: A ``ProgressReporter`` for the model calls (typed ``Any``: Prefect builds
            a parameter schema, which a Protocol cannot have).

    Returns:
        The verdicts; ``result.exit_code`` is 0 pass, 1 regression, 2 error.
    """
    config = config or load_config(Path(config_path) if config_path else None)
    request = GateRequest(base=base, path=Path(path), model=model, prompts=tuple(prompts or ()))
    result = await gate_task(request, config, progress)
    print(
        f"prompt gate against {base}: {result.status} ({len(result.suites)} suite runs, "
        f"{result.model_calls} model calls)"
    )
    return result
