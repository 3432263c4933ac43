"""``evalmon deploy``, ``evalmon serve``, ``evalmon export`` and ``evalmon serve-metrics``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evals.providers import EvalmonError
from flows.cli_common import ConfigOption, config_from, err, fail, out
from flows.deploy import WORK_POOL

StoreOption = Annotated[Path | None, typer.Option(help="DuckDB file (default from config).")]


def _deployments_table(title: str) -> Table:
    from flows.deploy import DEPLOYMENTS, TIMEZONE

    table = Table(title=title)
    for column in ("deployment", "schedule", "entrypoint"):
        table.add_column(column, no_wrap=True)
    for spec in DEPLOYMENTS:
        when = f"{spec.cron} ({TIMEZONE})" if spec.cron else "on demand"
        table.add_row(spec.full_name, when, spec.entrypoint)
    return table


def deploy(
    work_pool: Annotated[
        str, typer.Option(help="Work pool for the runs (a process pool is created if missing).")
    ] = WORK_POOL,
    prefect_file: Annotated[
        Path, typer.Option(help="prefect.yaml; its folder is the runs' working directory.")
    ] = Path("prefect.yaml"),
    write_yaml: Annotated[
        bool, typer.Option(help="Write prefect.yaml from evalmon's deployments and stop.")
    ] = False,
    check: Annotated[
        bool, typer.Option(help="Only check that prefect.yaml agrees with evalmon's deployments.")
    ] = False,
    paused: Annotated[bool, typer.Option(help="Create them with their schedules paused.")] = False,
) -> None:
    """Create or update the scheduled deployments on the configured Prefect server.

    The same deployments as `prefect deploy --all` from the folder of prefect.yaml. Start a
    worker afterwards: `prefect worker start --pool evalmon-process`.
    """
    from flows.deploy import deploy_all
    from flows.deploy_yaml import check_prefect_yaml, render_prefect_yaml

    if write_yaml:
        prefect_file.write_text(render_prefect_yaml(work_pool=work_pool), encoding="utf-8")
        out.print(f"wrote {prefect_file}", highlight=False)
        return
    try:
        problems = check_prefect_yaml(prefect_file)
        if problems:
            listed = "; ".join(problems)
            raise fail(
                f"{prefect_file} does not match evalmon's deployments ({listed}); regenerate it "
                "with `evalmon deploy --write-yaml`, or deploy your edited file with "
                "`prefect deploy --all`",
                1 if check else 2,
            )
        if check:
            out.print(f"{prefect_file} agrees with evalmon's deployments", highlight=False)
            return
        ids = deploy_all(prefect_file.resolve().parent, work_pool, paused=paused)
    except EvalmonError as exc:
        raise fail(str(exc)) from None
    out.print(_deployments_table(f"{len(ids)} deployments in work pool {work_pool}"))
    out.print(
        f"Start a worker to run them: prefect worker start --pool {work_pool}\n"
        "Run one now: prefect deployment run export_metrics/evalmon",
        highlight=False,
    )


def serve(
    limit: Annotated[
        int | None, typer.Option(min=1, help="Most flow runs at once (default: no limit).")
    ] = None,
    paused: Annotated[
        bool, typer.Option(help="Serve with the schedules paused (runs started by hand only).")
    ] = False,
    replace: Annotated[
        bool, typer.Option(help="Delete the work-pool deployments `evalmon deploy` made first.")
    ] = False,
) -> None:
    """Serve every evalmon flow with its schedule from this process (one machine, no worker).

    Needs a Prefect server (`prefect server start`, PREFECT_API_URL); stop with Ctrl-C.
    """
    from flows.deploy import prepare_serve, serve_all

    try:
        url = prepare_serve(replace=replace)
    except EvalmonError as exc:
        raise fail(str(exc)) from None
    out.print(_deployments_table(f"serving on {url}"))
    serve_all(limit=limit, paused=paused, prepared=True)


def export(
    pushgateway: Annotated[
        str | None,
        typer.Option(
            help="Pushgateway host:port or URL (default: export.pushgateway_url in the config)."
        ),
    ] = None,
    textfile: Annotated[
        Path | None,
        typer.Option(
            help="Also write this .prom file (default: beside the store when not pushing)."
        ),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(min=0, help="Further push attempts (default: export.push_retries)."),
    ] = None,
    store: StoreOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Export the store's metrics once: push to the Pushgateway, or write a text file.

    Exit code 1 when the store could not be read or the push still failed after the retries.
    """
    from pydantic import ValidationError

    from flows.export_flow import export_metrics_flow, settings_for

    try:
        config = config_from(config_path, store)
        settings = settings_for(config, None, pushgateway, textfile, retries)
        run = export_metrics_flow(config=config, settings=settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"export: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    except (EvalmonError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(run.summary, markup=False, highlight=False)
    if not run.ok:
        raise typer.Exit(1)


def serve_metrics(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for a Prometheus elsewhere).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 9464,
    store: StoreOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Serve the store's metrics at /metrics for Prometheus to scrape, until Ctrl-C.

    Each scrape opens the store read-only for its queries only.
    """
    from metrics.prometheus import start_metrics_server

    try:
        config = config_from(config_path, store)
        server = start_metrics_server(config.store, host, port, settings=config.export_settings())
    except EvalmonError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port} ({exc}); choose another --port") from None
    err.print(f"serving {config.store} metrics at {server.url} (Ctrl-C to stop)", highlight=False)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
