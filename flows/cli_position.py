"""``evalmon position``: the lost-in-the-middle position benchmark."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from evals.providers import ConfigError, EvalmonError
from flows.cli_common import ConfigOption, config_from, err, fail, out

position_app = typer.Typer(help="The lost-in-the-middle position benchmark.", no_args_is_help=True)


@position_app.command("run")
def position_run(
    task: Annotated[
        str, typer.Option(help="qa (multi-document QA) or kv (key-value retrieval).")
    ] = "qa",
    documents: Annotated[
        int, typer.Option(help="Documents per QA context (paper: 10, 20, 30).")
    ] = 20,
    keys: Annotated[int, typer.Option(help="Keys per KV context (75 or 140).")] = 140,
    positions: Annotated[
        str, typer.Option(help="'paper', 'all', or indices like 0,4,9.")
    ] = "paper",
    strategy: Annotated[
        list[str] | None,
        typer.Option(help="original, query_aware, strategic_order, top_k (repeatable)."),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Documents kept by the top_k strategy.")] = 5,
    baselines: Annotated[
        bool, typer.Option(help="Also ask closed-book and oracle prompts (QA).")
    ] = True,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Use N examples, chosen with --seed.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the example choice and distractor ties.")] = 0,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model string.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id to create or resume.")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write the Markdown report here, and the plot beside it (.png, .svg)."),
    ] = None,
    store: Annotated[Path | None, typer.Option(help="DuckDB file (default from config).")] = None,
    config_path: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Replay the position experiment of Liu et al. (2023) against a model."""
    from pydantic import ValidationError

    from evals.position import PositionConfig
    from evals.runner import NoProgress, RichProgress
    from flows.position_run import markdown_report, run_position
    from metrics.store import StoreLockedError

    try:
        config = config_from(config_path, store)
        chosen: object = positions
        if positions not in ("paper", "all"):
            try:
                chosen = [int(p) for p in positions.split(",") if p.strip()]
            except ValueError:
                raise ConfigError(f"--positions {positions!r}: use paper, all, or 0,4,9") from None
        try:
            bench = PositionConfig.model_validate({
                "task": task, "n_documents": documents, "n_keys": keys, "positions": chosen,
                "strategies": strategy or ["original"], "top_k": top_k, "baselines": baselines,
                "limit": limit, "seed": seed,
            })  # fmt: skip
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"position benchmark: {where}: {first['msg']}") from None
        reporter = RichProgress("position", err) if progress and err.is_terminal else NoProgress()
        result = asyncio.run(
            run_position(bench, config, model=model, run_id=run_id, progress=reporter)
        )
    except (EvalmonError, StoreLockedError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; run again with the same --run-id to resume", 130) from None
    if report is not None:
        from flows.position_plot import write_report

        text = write_report(result, report).text
    else:
        text = markdown_report(result)
    out.print(text, markup=False, highlight=False)
