"""``prefect.yaml``: generated from :data:`flows.deploy.DEPLOYMENTS`, and checked against it.

``prefect deploy --all`` reads the file; ``evalmon deploy`` and ``evalmon serve`` read the
table. :func:`check_prefect_yaml` (``evalmon deploy``, ``evalmon deploy --check`` and the
tests) makes sure the two still agree on what runs when.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from evals.providers import ConfigError
from flows.deploy import DEPLOYMENT_NAME, DEPLOYMENTS, TAGS, TIMEZONE, WORK_POOL, Deployment


def deployment_entry(spec: Deployment, work_pool: str = WORK_POOL) -> dict[str, Any]:
    """One ``deployments:`` entry of ``prefect.yaml``."""
    return {
        "name": DEPLOYMENT_NAME,
        "entrypoint": spec.entrypoint,
        "description": spec.description,
        "tags": list(TAGS),
        "parameters": dict(spec.parameters),
        "schedules": [{"cron": spec.cron, "timezone": TIMEZONE}] if spec.cron else [],
        "concurrency_limit": 1,
        "work_pool": {"name": work_pool, "work_queue_name": None, "job_variables": {}},
    }


_HEADER = """\
# evalmon's Prefect deployments, generated from flows.deploy.DEPLOYMENTS
# (`evalmon deploy --write-yaml`); a test checks that the two agree.
# Deploy from this folder with `evalmon deploy` or `prefect deploy --all`, into the process
# work pool `{pool}` (`prefect work-pool create {pool} --type process`),
# then start a worker: `prefect worker start --pool {pool}`. Without `pull`
# steps, `prefect deploy` adds one that runs the flows from the folder it was run in.
# See flows/DEPLOY.md.
"""


def render_prefect_yaml(
    deployments: Sequence[Deployment] = DEPLOYMENTS, work_pool: str = WORK_POOL
) -> str:
    """The text of ``prefect.yaml`` for ``deployments``, run in ``work_pool``."""
    entries = [deployment_entry(d, work_pool) for d in deployments]
    body = {"name": "evalmon", "deployments": entries}
    return _HEADER.format(pool=work_pool) + yaml.safe_dump(body, sort_keys=False, width=100)


def check_prefect_yaml(path: Path, deployments: Sequence[Deployment] = DEPLOYMENTS) -> list[str]:
    """What differs between ``path`` and ``deployments`` (empty when they agree).

    Entrypoints, schedules, parameters, work pool and concurrency are compared; comments,
    descriptions and extra keys (pull steps, job variables) may differ.

    Raises:
        ConfigError: The file is missing or not YAML.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise yaml.YAMLError("the top level must be a mapping with `deployments:`")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found; write it with `evalmon deploy --write-yaml`"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    found = {(d.get("entrypoint"), d.get("name")): d for d in data.get("deployments") or []}
    problems = []
    for spec in deployments:
        entry = found.pop((spec.entrypoint, DEPLOYMENT_NAME), None)
        if entry is None:
            problems.append(f"{spec.full_name} ({spec.entrypoint}) is missing")
            continue
        pool = (entry.get("work_pool") or {}).get("name")
        want = deployment_entry(spec, pool or WORK_POOL)
        for key in ("parameters", "schedules", "concurrency_limit"):
            if (entry.get(key) or None) != (want[key] or None):
                problems.append(f"{spec.full_name}: {key} is {entry.get(key)!r}, "
                                f"evalmon has {want[key]!r}")  # fmt: skip
        if not pool:
            problems.append(f"{spec.full_name}: no work_pool.name")
    problems += [f"{name[1]} ({name[0]}) is not one of evalmon's deployments" for name in found]
    return problems
