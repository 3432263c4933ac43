"""The long-running ``/metrics`` endpoint: every scrape reads the store, nothing is held.

:func:`start_metrics_server` serves a private registry holding one
:class:`~metrics.prometheus.StoreCollector` (production, quality and position) with
``prometheus_client.start_http_server``. Each scrape opens the store read-only, runs the
queries and closes it before answering, so between scrapes any process may open the file
for writing; while a writer holds it the scrape retries for ``lock_timeout_s`` and then
answers ``evalmon_store_up 0``. :func:`serve_metrics` does the same and blocks (the
``evalmon serve-metrics`` command).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from metrics.prometheus._collectors import build_store_registry
from metrics.prometheus._common import Clock, ExportSettings, utc_now


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running ``/metrics`` endpoint.

    Attributes:
        host: The address it listens on.
        port: Its port (the one chosen when 0 was asked).
        registry: What it serves.
    """

    host: str
    port: int
    registry: CollectorRegistry
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """The ``/metrics`` URL."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_metrics_server(
    store_path: Path | str,
    host: str = "127.0.0.1",
    port: int = 9464,
    *,
    settings: ExportSettings | None = None,
    clock: Clock = utc_now,
) -> MetricsServer:
    """Serve the store's metrics at ``http://host:port/metrics`` from a background thread.

    Args:
        store_path: The DuckDB store, opened read-only during each scrape only.
        host: Address to listen on (loopback by default; ``0.0.0.0`` for Prometheus
            elsewhere).
        port: Port (0 picks a free one).
        settings: Lock timeout, prices, context windows.
        clock: "Now" of the rolling windows.

    Raises:
        OSError: The port is taken; choose another with ``--port``.
    """
    registry = build_store_registry(store_path, settings=settings, clock=clock)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(host, int(server.server_port), registry, server, thread)


def serve_metrics(
    store_path: Path | str,
    host: str = "127.0.0.1",
    port: int = 9464,
    *,
    settings: ExportSettings | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve the store's metrics until ``stop`` is set (or forever); see the module doc."""
    server = start_metrics_server(store_path, host, port, settings=settings)
    try:
        (stop or threading.Event()).wait()
    finally:
        server.close()
