"""Deployments on a real ``prefect server start``, run by a worker or a served process.

Also: prefect.yaml agrees with flows.deploy.DEPLOYMENTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import typer
import yaml
from prefect import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from evals.providers import ConfigError
from flows.cli_deploy import deploy
from flows.deploy import DEPLOYMENT_NAME, DEPLOYMENTS, WORK_POOL, deploy_all, serve_all
from flows.deploy_yaml import check_prefect_yaml, render_prefect_yaml
from metrics.store import Store
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
SCHEDULES = {
    "ingest": "*/5 * * * *",
    "export_metrics": "2-59/5 * * * *",
    "judge_sample": "11 * * * *",
    "position_benchmark": "33 3 * * 1",
    "prompt_gate": None,
}


# -- prefect.yaml and the table agree (no server) -------------------------------------------


def test_prefect_yaml_agrees_with_the_deployments_table() -> None:
    assert check_prefect_yaml(ROOT / "prefect.yaml") == []
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    crons = {}
    for entry in data["deployments"]:
        flow = next(d.flow_name for d in DEPLOYMENTS if d.entrypoint == entry["entrypoint"])
        crons[flow] = entry["schedules"][0]["cron"] if entry["schedules"] else None
        assert entry["work_pool"]["name"] == WORK_POOL
    assert crons == SCHEDULES == {d.flow_name: d.cron for d in DEPLOYMENTS}
    for spec in DEPLOYMENTS:  # every entrypoint names the flow it claims
        assert spec.load_flow().name == spec.flow_name


def test_check_prefect_yaml_names_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(render_prefect_yaml().replace("*/5 * * * *", "*/10 * * * *"))
    problems = check_prefect_yaml(path)
    assert len(problems) == 1 and "ingest/evalmon: schedules" in problems[0]
    app = typer.Typer()
    app.command("deploy")(deploy)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(app, ["deploy", "--check", "--prefect-file", str(path)])
    assert result.exit_code == 1 and "--write-yaml" in result.output
    result = CliRunner().invoke(app, ["deploy", "--write-yaml", "--prefect-file", str(path)])
    assert result.exit_code == 0 and check_prefect_yaml(path) == []
    other = tmp_path / "other.yaml"
    args = ["deploy", "--write-yaml", "--work-pool", "gpu-pool", "--prefect-file", str(other)]
    assert CliRunner().invoke(app, args).exit_code == 0
    pools = {e["work_pool"]["name"] for e in yaml.safe_load(other.read_text())["deployments"]}
    assert pools == {"gpu-pool"} and "prefect worker start --pool gpu-pool" in other.read_text()
    result = CliRunner().invoke(app, ["deploy", "--prefect-file", str(path)])
    assert result.exit_code == 2 and "PREFECT_API_URL" in result.output  # no server configured


# -- a real server -------------------------------------------------------------------------


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_SERVER_UI_ENABLED="false", **extra)  # fmt: skip
    return env


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop ``proc`` and everything it started (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # flow-run subprocesses left behind, if any


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        # No services: no scheduler creating runs of the crons while the tests run.
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-services"],
        env=_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prefect server did not start: {(home / 'server.log').read_text()}")
            time.sleep(0.2)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url, home
    finally:
        _stop(proc)
        log.close()


def _wait_final(flow_run_id: UUID, seconds: float = 90) -> FlowRun:
    async def read() -> FlowRun:
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    deadline = time.monotonic() + seconds
    while True:
        run = asyncio.run(read())
        if run.state is not None and run.state.is_final():
            return run
        assert time.monotonic() < deadline, f"flow run still {run.state_name}"
        time.sleep(0.5)


async def _deployments() -> dict[str, Any]:
    async with get_client() as client:
        found = await client.read_deployments()
        flows = {f.id: f.name for f in await client.read_flows()}
    return {f"{flows[d.flow_id]}/{d.name}": d for d in found}


def _essentials(deployments: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        name: (d.entrypoint, d.path, d.pull_steps, d.work_pool_name, d.parameters, d.tags,
               d.paused, d.job_variables, d.global_concurrency_limit.limit,
               [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules])
        for name, d in deployments.items()
    }  # fmt: skip


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "evalmon.toml"
    path.write_text(f'store = "{tmp_path / "e.duckdb"}"\n')
    return path


@pytest.mark.integration
def test_evalmon_deploy_then_a_worker_runs_the_export(
    prefect_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, home = prefect_server
    env = _env(home, PREFECT_API_URL=url)
    subprocess.run([PREFECT, "work-pool", "create", WORK_POOL, "--type", "process"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    cli = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all"], cwd=ROOT, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    by_prefect = _essentials(asyncio.run(_deployments()))
    ids = deploy_all(ROOT)
    assert set(ids) == {f"{d.flow_name}/{DEPLOYMENT_NAME}" for d in DEPLOYMENTS}
    created = asyncio.run(_deployments())
    assert _essentials(created) == by_prefect  # evalmon deploy == prefect deploy --all
    for spec in DEPLOYMENTS:
        d = created[spec.full_name]
        assert d.work_pool_name == WORK_POOL and d.entrypoint == spec.entrypoint
        assert [s.schedule.cron for s in d.schedules] == ([spec.cron] if spec.cron else [])
        assert d.parameters == dict(spec.parameters)
        assert d.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ]
    Store(tmp_path / "e.duckdb").migrate()
    run = run_deployment(
        "export_metrics/evalmon", parameters={"config_path": str(_config(tmp_path))}, timeout=0
    )
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", WORK_POOL, "--limit", "1"],
        env=_env(home, PREFECT_API_URL=url, PREFECT_WORKER_QUERY_SECONDS="1",
                 EVALMON_CONFIG=str(_config(tmp_path))),
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        final = _wait_final(run.id)
    finally:
        _stop(worker)
    assert final.state is not None and final.state.is_completed(), final.state
    prom = (tmp_path / "e-metrics.prom").read_text()
    assert 'evalmon_store_up{source="production"} 1.0' in prom


@pytest.mark.integration
def test_evalmon_serve_runs_an_ingest(prefect_server: tuple[str, Path], tmp_path: Path) -> None:
    url, home = prefect_server
    deploy_all(ROOT, paused=True)  # as if `evalmon deploy` ran before: serve must replace them
    with pytest.raises(ConfigError, match=r"evalmon serve --replace"):
        serve_all(replace=False)
    captures = tmp_path / "captures"
    captures.mkdir()
    (captures / "app.jsonl").write_text("")
    log = tmp_path / "serve.log"
    served = subprocess.Popen(
        [sys.executable, "-c",
         "from flows.deploy import serve_all; serve_all(paused=True, replace=True)"],
        env=_env(home, PREFECT_API_URL=url, PREFECT_RUNNER_POLL_FREQUENCY="1",
                 EVALMON_CONFIG=str(_config(tmp_path))),
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "ingest/evalmon" not in (d := asyncio.run(_deployments())) or (
            d["ingest/evalmon"].work_pool_name  # still the one `evalmon deploy` made
        ):
            assert served.poll() is None, "evalmon serve exited"
            assert time.monotonic() < deadline, "evalmon serve registered no deployment"
            time.sleep(0.5)
        run = run_deployment(
            "ingest/evalmon",
            parameters={"paths": [str(captures)], "config_path": str(_config(tmp_path))},
            timeout=0,
        )
        final = _wait_final(run.id)
    finally:
        _stop(served, signal.SIGINT)
    assert final.state is not None and final.state.is_completed(), log.read_text()[-3000:]
    assert (tmp_path / "e.duckdb").is_file()
