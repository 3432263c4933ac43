"""evalmon's Prefect deployments: one table, deployed to a work pool or served in one process.

:data:`DEPLOYMENTS` is the single place the schedules and parameters live. From it:

* ``prefect.yaml`` (repository root) is generated for ``prefect deploy --all`` and checked
  against it (:mod:`flows.deploy_yaml`; ``evalmon deploy --write-yaml`` and ``--check``);
* :func:`deploy_all` (``evalmon deploy``) creates the same deployments through Prefect's API
  on the configured server, as ``prefect deploy --all`` run from the project folder does:
  code loaded from the project folder (a ``set_working_directory`` pull step) and runs
  handed to the work pool's workers (``prefect worker start --pool evalmon-process``);
* :func:`serve_all` (``evalmon serve``) serves them all with their schedules from one
  long-running process (``prefect.serve``): the single-machine setup, no worker or pool.

Crons are in UTC and staggered, so the flows that write the store seldom start together
(they wait for each other's DuckDB lock when they do): ingest at minutes 0, 5, 10 ...,
export at 2, 7, 12 ..., the judge at minute 11 of every hour, the position benchmark on
Mondays at 03:33. The prompt gate has no schedule: CI or ``prefect deployment run`` starts
it. Every deployment runs at most one flow run at a time (``concurrency_limit: 1``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from evals.providers import ConfigError

#: The process work pool ``evalmon deploy`` uses (and creates when missing).
WORK_POOL = "evalmon-process"
#: Deployment name of every flow (runs are ``FLOW/evalmon``).
DEPLOYMENT_NAME = "evalmon"
TIMEZONE = "UTC"
TAGS = ("evalmon",)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One scheduled (or on-demand) flow.

    Attributes:
        flow_name: The Prefect flow's name.
        entrypoint: ``path/to/file.py:function``, relative to the project folder.
        cron: Cron schedule in :data:`TIMEZONE`; None runs on demand only.
        parameters: Default parameters of its runs.
        description: What it is for.
    """

    flow_name: str
    entrypoint: str
    cron: str | None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def full_name(self) -> str:
        """``flow/deployment``, as ``prefect deployment run`` and ``run_deployment`` take it."""
        return f"{self.flow_name}/{DEPLOYMENT_NAME}"

    def load_flow(self) -> Any:
        """The flow object, imported from the installed ``flows`` package."""
        path, _, function = self.entrypoint.partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        return getattr(module, function)


#: The deployments of the example app, in one place.
DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment(
        "ingest", "flows/production_flows.py:ingest_flow", "*/5 * * * *",
        {"paths": ["captures"]},
        "Load the app's new capture files (captures/) into the store.",
    ),
    Deployment(
        "export_metrics", "flows/export_flow.py:export_metrics_flow", "2-59/5 * * * *", {},
        "Push the store's metrics to the Pushgateway ([export] in evalmon.toml), else write "
        "a Prometheus text file beside the store.",
    ),
    Deployment(
        "judge_sample", "flows/production_flows.py:judge_sample_flow", "11 * * * *", {},
        "Judge the deterministic 1% sample of new production traffic; queue what looks wrong.",
    ),
    Deployment(
        "position_benchmark", "flows/position_flow.py:position_benchmark", "33 3 * * 1",
        {"bench": {"task": "qa", "n_documents": 10, "positions": "paper",
                   "strategies": ["original"], "limit": 50}},
        "Lost in the middle, weekly: 10-document QA at positions 0/4/9 on the default model.",
    ),
    Deployment(
        "prompt_gate", "flows/gate_flow.py:prompt_gate", None,
        {"base": "origin/main", "path": "."},
        "Gate the prompts changed since origin/main (on demand; CI runs `evalmon gate`).",
    ),
)  # fmt: skip


def require_api_url() -> str:
    """The configured Prefect API URL.

    Raises:
        ConfigError: None is set (a temporary server would forget the deployments).
    """
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise ConfigError(
            "no Prefect server configured: start one (`prefect server start`) and point "
            "evalmon at it: `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    return str(url)


def ensure_work_pool(name: str = WORK_POOL) -> None:
    """Create the process work pool ``name`` unless it exists."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def _to_deployment(flow: Any, spec: Deployment, *, paused: bool, **where: Any) -> Any:
    """``flow`` as the deployment ``spec`` describes (``where``: its work pool, if any)."""
    from prefect.schedules import Cron

    return flow.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[Cron(spec.cron, timezone=TIMEZONE)] if spec.cron else [],
        parameters=dict(spec.parameters), description=spec.description, tags=list(TAGS),
        concurrency_limit=1, paused=paused, **where,
    )  # fmt: skip


def deploy_all(
    project_dir: Path,
    work_pool: str = WORK_POOL,
    deployments: Sequence[Deployment] = DEPLOYMENTS,
    *,
    paused: bool = False,
) -> dict[str, UUID]:
    """Create or update every deployment on the configured Prefect server.

    As ``prefect deploy --all`` from ``project_dir``: each flow is loaded from the project
    folder (``Flow.from_source``), which becomes its runs' working directory.

    Args:
        project_dir: The folder the flows are loaded from and run in.
        work_pool: The work pool (a process pool of this name is created when missing).
        deployments: What to deploy.
        paused: Create them with their schedules paused (resume them in the UI or with
            ``prefect deployment resume``); runs started by hand still run.

    Returns:
        Deployment ids by ``flow/deployment`` name.

    Raises:
        ConfigError: No Prefect server configured.
    """
    from prefect import Flow

    require_api_url()
    ensure_work_pool(work_pool)
    ids = {}
    for spec in deployments:
        flow = Flow.from_source(source=str(project_dir.resolve()), entrypoint=spec.entrypoint)
        deployment = _to_deployment(flow, spec, paused=paused, work_pool_name=work_pool)
        ids[spec.full_name] = deployment.apply()
    return ids


def runner_deployments(
    deployments: Sequence[Deployment] = DEPLOYMENTS, *, paused: bool = False
) -> list[Any]:
    """The deployments for ``prefect.serve``: the flows of this process, with schedules."""
    return [_to_deployment(spec.load_flow(), spec, paused=paused) for spec in deployments]


def pool_deployments(deployments: Sequence[Deployment] = DEPLOYMENTS) -> dict[str, UUID]:
    """Those of ``deployments`` that exist on the server in a work pool (``evalmon deploy``)."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    found = {}
    with get_client(sync_client=True) as client:
        for spec in deployments:
            try:
                existing = client.read_deployment_by_name(spec.full_name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                found[spec.full_name] = existing.id
    return found


def prepare_serve(deployments: Sequence[Deployment] = DEPLOYMENTS, *, replace: bool = False) -> str:
    """Check that :func:`serve_all` can serve ``deployments``; return the Prefect API URL.

    A deployment of the same name made by ``evalmon deploy`` cannot be taken over (Prefect
    keeps looking for its code where the work pool's runs found it, and its runs crash), so
    ``replace`` deletes those; without it they are an error.

    Raises:
        ConfigError: No Prefect server configured, or work-pool deployments in the way.
    """
    from prefect import get_client

    url = require_api_url()
    in_pools = pool_deployments(deployments)
    if in_pools and not replace:
        raise ConfigError(
            f"{', '.join(in_pools)} were deployed to a work pool (`evalmon deploy`); serve "
            "them with `evalmon serve --replace` (which deletes those deployments first), or "
            "keep them and start a worker instead: `prefect worker start --pool "
            f"{WORK_POOL}`"
        )
    with get_client(sync_client=True) as client:
        for deployment_id in in_pools.values():
            client.delete_deployment(deployment_id)
    return url


def serve_all(
    limit: int | None = None,
    deployments: Sequence[Deployment] = DEPLOYMENTS,
    *,
    paused: bool = False,
    replace: bool = False,
    prepared: bool = False,
) -> None:
    """Serve every deployment from this process until interrupted (``prefect.serve``).

    Scheduled runs (and runs started from the UI or ``prefect deployment run``) execute as
    subprocesses of this process, at most ``limit`` at once. ``paused`` serves them with
    their schedules paused (runs started by hand only). On exit their schedules are paused.
    Unless ``prepared`` (the caller ran it), :func:`prepare_serve` runs first, with
    ``replace``.

    Raises:
        ConfigError: See :func:`prepare_serve`.
    """
    from prefect import serve

    if not prepared:
        prepare_serve(deployments, replace=replace)
    serve(*runner_deployments(deployments, paused=paused), limit=limit)
