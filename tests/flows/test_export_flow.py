"""The export_metrics flow on real Prefect: text file, retried pushes, a real Pushgateway."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.testing.utilities import prefect_test_harness
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from evals.providers import ConfigError
from flows.cli_deploy import export
from flows.config import load_config
from flows.export_config import ExportSettings
from flows.export_flow import ExportRun, export_metrics_flow
from flows.export_textfile import write_textfile
from metrics.prometheus import ExportReport, SourceExport
from metrics.store import connect
from tests.conftest import free_port, start_pushgateway
from tests.metrics.prometheus_store import NOW, insert, new_store, production_rows

SOURCES = {"production", "quality", "position"}


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = new_store(tmp_path / "e.duckdb")
    with connect(path) as conn:
        insert(conn, "production_requests", production_rows())
    return path


def _config(tmp_path: Path, store: Path, export: str = "") -> Path:
    path = tmp_path / "evalmon.toml"
    path.write_text(f'store = "{store}"\n\n[export]\n{export}')
    return path


def _samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                found[s.labels.get("source", "")] = s.value
    return found


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.fixture
def pushgateway_on(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> str:
        address = f"127.0.0.1:{port}"
        proc = start_pushgateway(address, tmp_path / "pushgateway.log")
        if proc is None:
            pytest.fail(f"the Pushgateway could not listen on {address}")
        procs.append(proc)
        return address

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


# -- settings and the text file (no Prefect) ------------------------------------------------


def test_export_settings_defaults_and_checks(tmp_path: Path) -> None:
    settings = ExportSettings()
    assert settings.textfile_for(Path("data/evalmon.duckdb")) == Path("data/evalmon-metrics.prom")
    assert ExportSettings(pushgateway_url="gw:9091").textfile_for(Path("e.duckdb")) is None
    assert ExportSettings(pushgateway_url="  ").pushgateway_url is None
    assert ExportSettings(push_retries=5, retry_delays_s=[1, 2]).delays() == [1, 2, 2, 2, 2]
    assert ExportSettings(push_retries=1).delays() == [10.0]
    config = tmp_path / "evalmon.toml"
    config.write_text('store = "e.duckdb"\n\n[export]\ntextfile = "metrics.txt"\n')
    with pytest.raises(ConfigError, match=r"evalmon.toml:4: export.textfile: .*\.prom"):
        load_config(config)
    config.write_text('[export]\npushgateway = "gw:9091"\n')
    with pytest.raises(ConfigError, match=r"evalmon.toml:2: export.pushgateway: Extra inputs"):
        load_config(config)


def _report(ok: bool, requests: float | None) -> ExportReport:
    registry = CollectorRegistry()
    Gauge("evalmon_store_up", "up", registry=registry).set(1.0 if ok else 0.0)
    if requests is not None:
        Gauge("evalmon_llm_requests", "requests", registry=registry).set(requests)
        Gauge("evalmon_export_last_success_timestamp_seconds", "t", registry=registry).set(100)
    return ExportReport(
        store_path=Path("e.duckdb"), now=NOW, pushgateway_url=None, open_s=0.0, compute_s=0.0,
        total_s=0.0, sources=(SourceExport("production", ok, 1, 0.0),),
        registries={"production": registry},
    )  # fmt: skip


def test_a_source_not_read_keeps_its_last_good_samples_in_the_textfile(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    write_textfile(path, _report(True, 5.0))
    write_textfile(path, _report(False, None))  # the store was locked this time
    text = path.read_text()
    assert _samples(text, "evalmon_store_up") == {"production": 0.0}
    assert _samples(text, "evalmon_llm_requests") == {"production": 5.0}
    assert _samples(text, "evalmon_export_last_success_timestamp_seconds") == {"production": 100}
    write_textfile(path, _report(True, 7.0))
    assert _samples(path.read_text(), "evalmon_llm_requests") == {"production": 7.0}


def test_a_run_with_a_source_not_read_is_not_ok() -> None:
    """A source whose query failed fails the run (and ``evalmon export``), store read or not."""
    assert ExportRun(_report(True, 5.0), None, 0).ok
    partial = ExportRun(_report(False, None), None, 0)
    assert not partial.ok
    assert partial.summary.endswith("; not read: production")


# -- the flow -------------------------------------------------------------------------------


@pytest.mark.integration
def test_without_a_pushgateway_the_flow_writes_a_textfile_beside_the_store(
    prefect_harness: None, store: Path, tmp_path: Path
) -> None:
    run = export_metrics_flow(config_path=str(_config(tmp_path, store)))
    assert run.ok and run.pushgateway_url is None
    assert run.textfile == tmp_path / "e-metrics.prom"
    assert {s.source for s in run.sources if s.ok} == SOURCES
    text = run.textfile.read_text()
    assert _samples(text, "evalmon_store_up") == dict.fromkeys(SOURCES, 1.0)
    assert run.samples_written == sum(len(f.samples) for f in text_string_to_metric_families(text))


class _Silent:
    """A loopback server that accepts connections and never answers (a hung Pushgateway)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


async def _task_attempts(flow_run_id: object) -> int:
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sum(r.run_count for r in runs)


@pytest.mark.integration
def test_a_down_pushgateway_is_retried_reported_and_caught_up_next_run(
    prefect_harness: None, store: Path, tmp_path: Path, pushgateway_on: object
) -> None:
    port = free_port()  # nothing listens there yet
    config = _config(
        tmp_path, store,
        f'pushgateway_url = "127.0.0.1:{port}"\npush_retries = 2\nretry_delays_s = [0.2]\n',
    )  # fmt: skip
    state = export_metrics_flow(config_path=str(config), return_state=True)
    assert state.is_completed()  # the flow does not fail
    run: ExportRun = state.result()
    assert run.push_error is not None and "could not push to the Pushgateway" in run.push_error
    assert not run.ok and run.textfile is None
    assert asyncio.run(_task_attempts(state.state_details.flow_run_id)) == 3

    address = pushgateway_on(port)  # type: ignore[operator]
    caught_up = export_metrics_flow(config_path=str(config))
    assert caught_up.ok and caught_up.push_error is None
    text = _get(f"http://{address}/metrics")
    assert _samples(text, "evalmon_store_up") == dict.fromkeys(SOURCES, 1.0)


@pytest.mark.integration
def test_a_slow_pushgateway_times_out_and_does_not_fail_the_flow(
    prefect_harness: None, store: Path, tmp_path: Path
) -> None:
    silent = _Silent()
    try:
        config = _config(
            tmp_path, store,
            f'pushgateway_url = "127.0.0.1:{silent.port}"\ntimeout_s = 0.3\npush_retries = 1\n'
            'retry_delays_s = [0]\ntextfile = "' + str(tmp_path / "also.prom") + '"\n',
        )  # fmt: skip
        run = export_metrics_flow(config_path=str(config))
    finally:
        silent.close()
    assert run.push_error is not None and "timed out" in run.push_error
    assert run.textfile == tmp_path / "also.prom"  # the file does not depend on the gateway
    assert _samples(run.textfile.read_text(), "evalmon_store_up") == dict.fromkeys(SOURCES, 1.0)


@pytest.mark.integration
def test_evalmon_export_exit_codes(prefect_harness: None, store: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("export")(export)
    app.command("unused")(lambda: None)  # two commands: typer keeps the command name
    config = _config(tmp_path, store)
    ok = CliRunner().invoke(app, ["export", "--config", str(config)])
    assert ok.exit_code == 0, ok.output
    assert "e-metrics.prom" in ok.output
    down = f"127.0.0.1:{free_port()}"
    failed = CliRunner().invoke(
        app, ["export", "--config", str(config), "--pushgateway", down, "--retries", "0"]
    )
    assert failed.exit_code == 1, failed.output
    assert "push failed" in failed.output
    bad = CliRunner().invoke(app, ["export", "--config", str(config), "--textfile", "x.txt"])
    assert bad.exit_code == 2 and ".prom" in bad.output
