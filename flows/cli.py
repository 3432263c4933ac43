"""The ``evalmon`` command line. Exit codes: 0 ok, 1 failed, 2 bad input or setup."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import platform
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evals.providers import PROVIDERS, ConfigError, EvalmonError, ProviderError, create_provider
from flows.cli_common import ConfigOption, config_from, err, fail, out
from flows.cli_deploy import deploy, export, serve, serve_metrics
from flows.cli_gate import check, gate, schemas
from flows.cli_position import position_app
from flows.cli_production import ingest, judge_app, review_app
from flows.config import EvalmonConfig
from flows.demo import demo
from flows.eval_run import EvalReport, EvalRequest, run_eval
from flows.report import eval_table

app = typer.Typer(
    name="evalmon",
    help="Evaluate and monitor LLM applications: prompt gate, position benchmark, production "
    "judge, Prometheus metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(position_app, name="position")
app.command("gate")(gate)
app.command("schemas")(schemas)
app.command("check")(check)
app.command("ingest")(ingest)
app.add_typer(judge_app, name="judge")
app.add_typer(review_app, name="review")
app.command("deploy")(deploy)
app.command("serve")(serve)
app.command("export")(export)
app.command("serve-metrics")(serve_metrics)
app.command("demo")(demo)


@app.command()
def version() -> None:
    """Print evalmon's version and the versions of the stack it runs on."""
    rows = [
        ("evalmon", importlib.metadata.version("evalmon")),
        ("python", platform.python_version()),
    ]
    for dist in (
        "openai",
        "anthropic",
        "duckdb",
        "prefect",
        "prometheus-client",
        "llama-cpp-python",
    ):
        try:
            rows.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((dist, "not installed"))
    for name, ver in rows:
        out.print(f"{name:<18} {ver}", highlight=False)


@app.command()
def models(
    config_path: ConfigOption = None,
    check: Annotated[
        bool, typer.Option(help="Call each configured provider to see it answers.")
    ] = False,
) -> None:
    """List the providers, whether they are configured, and (with --check) reachable."""
    try:
        config = config_from(config_path)
    except EvalmonError as exc:
        raise fail(str(exc)) from None
    table = Table(title="evalmon providers")
    for column in ("provider", "what", "example model string", "status", "reachable"):
        table.add_column(column, no_wrap=column in ("provider", "example model string"))
    for info in PROVIDERS.values():
        status, ref = _provider_status(info.name, info.sdk, config)
        reachable = "-"
        if check and ref is not None:
            reachable = asyncio.run(_reachable(ref, config))
        table.add_row(info.name, info.description, info.example, status, reachable)
    out.print(table)
    out.print(f"default model: {config.default_model}   store: {config.store}", highlight=False)


def _provider_status(name: str, sdk: str | None, config: EvalmonConfig) -> tuple[str, str | None]:
    if sdk is not None and importlib.util.find_spec(sdk) is None:
        return f"missing {sdk}: {PROVIDERS[name].install_hint}", None
    if name == "local":
        try:
            from evals.providers._local import find_model_file

            find_model_file("smollm2")
        except ConfigError as exc:
            return str(exc), None
        return "ready (started on demand)", "local:smollm2"
    if name in ("openai", "anthropic"):
        env_var = getattr(config.providers, name).api_key_env
        if not os.environ.get(env_var):
            return f"set {env_var} to use it", None
        default = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-haiku-4-5"}[name]
        return f"key in {env_var}", default
    return "configured per model string", None


async def _reachable(ref: str, config: EvalmonConfig) -> str:
    try:
        provider = create_provider(ref, config.providers)
    except ConfigError as exc:
        return f"no: {exc}"
    try:
        await provider.check()
        return "yes"
    except (ProviderError, ConfigError) as exc:
        return f"no: {exc}"
    finally:
        await provider.aclose()


@app.command()
def run(
    prompt: Annotated[Path, typer.Argument(help="Prompt YAML file.")],
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="JSONL dataset of cases.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model string, e.g. local:smollm2.")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id to create or resume.")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Calls per case.")] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N cases.")] = None,
    scorer: Annotated[list[str] | None, typer.Option(help="Scorer name (repeatable).")] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Fail (exit 1) when the first scorer's mean is below this.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Calls in flight at once.")] = None,
    store: Annotated[Path | None, typer.Option(help="DuckDB file (default from config).")] = None,
    config_path: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run a prompt over a dataset on one model, store every call, score and print a table."""
    from evals.runner import NoProgress, RichProgress
    from metrics.store import StoreLockedError

    try:
        config = config_from(config_path, store)
        if concurrency is not None:
            config = config.model_copy(
                update={"runner": config.runner.model_copy(update={"concurrency": concurrency})}
            )
        request = EvalRequest(
            prompt=prompt, dataset=dataset, model=model, run_id=run_id, repeats=repeats,
            limit=limit, scorers=tuple(scorer or ("best_subspan_em",)),
        )  # fmt: skip
        reporter = RichProgress("eval", err) if progress and err.is_terminal else NoProgress()
        report = asyncio.run(run_eval(request, config, reporter))
    except (EvalmonError, StoreLockedError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; run again with the same --run-id to resume", 130) from None
    out.print(eval_table(report))
    raise typer.Exit(_exit_code(report, min_score))


def _exit_code(report: EvalReport, min_score: float | None) -> int:
    if report.status != "finished":
        err.print(
            f"[red]run failed:[/] {report.error_share:.0%} of calls errored "
            f"(run id {report.run_id}; run again with --run-id to retry them)"
        )
        return 1
    if min_score is not None and report.scorer_means:
        name, mean = next(iter(report.scorer_means.items()))
        if mean is None or mean < min_score:
            err.print(f"[red]below threshold:[/] {name} = {mean} < {min_score}")
            return 1
    return 0


def main() -> None:
    """Entry point of the ``evalmon`` console script."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    try:
        app()
    except ConfigError as exc:  # pragma: no cover - commands catch their own
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
