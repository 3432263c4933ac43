"""Integration: a real Pushgateway (two sources never wipe each other) and the HTTP endpoint."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics.prometheus import (
    ExportSettings,
    ProductionSource,
    PushError,
    QualitySource,
    export_metrics,
    serve_metrics,
    start_metrics_server,
)
from metrics.store import connect
from tests.conftest import free_port, start_pushgateway
from tests.metrics.helpers import hold_open
from tests.metrics.prometheus_store import (
    NOW,
    call,
    insert,
    new_store,
    production_rows,
    quality_store,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def production_db(tmp_path: Path) -> Path:
    path = new_store(tmp_path / "e.duckdb")
    with connect(path) as conn:
        insert(conn, "production_requests", production_rows())
    return path


@pytest.fixture
def quality_db(tmp_path: Path) -> Path:
    return quality_store(tmp_path / "q.duckdb")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "pushgateway.log"
    for _ in range(5):
        address = f"127.0.0.1:{free_port()}"
        proc = start_pushgateway(address, log)
        if proc is not None:
            break
    else:
        pytest.fail(f"the Pushgateway would not start: {log.read_text()}")
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(10)


def _series(text: str, name: str) -> dict[str, float]:
    """Samples of ``name`` in the Pushgateway's exposition, by their label text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name) :]] = float(value)
    return out


def test_pushes_of_two_sources_never_wipe_each_other(
    pushgateway: str, production_db: Path, quality_db: Path
) -> None:
    export_metrics(
        production_db, pushgateway_url=pushgateway, now=NOW, sources=[ProductionSource()]
    )
    export_metrics(quality_db, pushgateway_url=pushgateway, now=NOW, sources=[QualitySource()])
    text = _get(f"http://{pushgateway}/metrics")
    requests = _series(text, "evalmon_llm_requests")
    assert any('model="smollm2"' in k and 'source="production"' in k for k in requests)
    assert any('source="quality"' in k for k in _series(text, "evalmon_judge_score"))
    ups = _series(text, "evalmon_store_up")
    assert len(ups) == 2 and set(ups.values()) == {1.0}
    # Production again, from a store without the SmolLM2 traffic: its gone series go, the
    # quality source's metrics stay.
    with connect(production_db) as conn:
        conn.execute("DELETE FROM production_requests WHERE request_model = 'smollm2'")
    export_metrics(
        production_db, pushgateway_url=pushgateway, now=NOW, sources=[ProductionSource()]
    )
    text = _get(f"http://{pushgateway}/metrics")
    requests = _series(text, "evalmon_llm_requests")
    assert requests and not any('model="smollm2"' in k for k in requests)
    assert any('source="quality"' in k for k in _series(text, "evalmon_judge_score"))
    # A store that cannot be read: store_up 0, the last good values and their time stay.
    last = _series(text, "evalmon_export_last_success_timestamp_seconds")
    proc = hold_open(production_db, 30)
    try:
        report = export_metrics(
            production_db, pushgateway_url=pushgateway, now=NOW,
            sources=[ProductionSource()], settings=ExportSettings(lock_timeout_s=0.2),
        )  # fmt: skip
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    assert not report.ok and report.sources[0].push_error is None
    text = _get(f"http://{pushgateway}/metrics")
    assert _series(text, "evalmon_llm_requests") == requests
    assert _series(text, "evalmon_export_last_success_timestamp_seconds") == last
    ups = _series(text, "evalmon_store_up")
    assert {k: v for k, v in ups.items() if 'source="production"' in k} != {} and sorted(
        ups.values()
    ) == [0.0, 1.0]


def test_a_push_to_no_gateway_says_what_to_check(production_db: Path) -> None:
    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(PushError, match="check that it runs") as caught:
        export_metrics(production_db, pushgateway_url=url, now=NOW, settings=ExportSettings())
    assert {s.source for s in caught.value.report.sources if s.push_error} == {
        "production", "quality", "position",
    }  # fmt: skip


def test_served_metrics_read_the_store_per_scrape_and_hold_no_lock(quality_db: Path) -> None:
    settings = ExportSettings(lock_timeout_s=0.3)
    server = start_metrics_server(quality_db, "127.0.0.1", 0, settings=settings, clock=lambda: NOW)
    try:
        text = _get(server.url)
        assert "evalmon_store_up 1.0" in text
        assert 'evalmon_judge_judgments{judge="openai:gpt-4o"' in text
        # Between scrapes another process can open the store for writing (hold_open returns
        # once it has), and while it writes a scrape answers store_up 0 after its retry.
        writer = hold_open(quality_db, 30)
        try:
            assert "evalmon_store_up 0.0" in _get(server.url)
        finally:
            assert writer.stdin is not None
            writer.stdin.close()
            writer.wait(10)
        with connect(quality_db) as conn:
            insert(conn, "production_requests", [call(request_id="new")])
        text = _get(server.url)
        assert (
            'evalmon_llm_requests{model="claude-sonnet-4-5",prompt_version="rag_qa@1.0.0",route="answer",window="5m"} 4.0'
            in text
        )
    finally:
        server.close()


def test_serve_metrics_blocks_until_stopped(quality_db: Path) -> None:
    stop, port = threading.Event(), free_port()
    thread = threading.Thread(target=serve_metrics, args=(quality_db, "127.0.0.1", port),
                              kwargs={"stop": stop}, daemon=True)  # fmt: skip
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            text = _get(f"http://127.0.0.1:{port}/metrics")
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert "evalmon_store_up 1.0" in text
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/metrics")
