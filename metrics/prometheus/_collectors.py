"""Collectors that read the store at each scrape: production, quality, position, or all three.

A :class:`StoreCollector` opens the store read-only for the duration of one ``collect``,
runs each of its sources' queries and closes it, so writers (ingest, judge, benchmark
runs) can open the file between scrapes. Besides its sources' families it reports:

``evalmon_store_up``
    1 when every source was read; 0 when the store stayed locked by a writer for longer
    than ``lock_timeout_s``, is missing or unreadable, or a source's query failed. Then
    the failed sources report no family at all (no stale or partial values).
``evalmon_export_duration_seconds``
    Time this collect spent reading the store.
``evalmon_export_last_success_timestamp_seconds``
    Unix time of this collector's latest fully successful collect (absent before one).

A metric name must appear once per registry, so register one :class:`StoreCollector` with
the sources you want rather than several collectors (:func:`build_store_registry` does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from metrics.prometheus._common import (
    Clock,
    ExportSettings,
    Source,
    export_duration,
    housekeeping,
    last_success,
    read_sources,
    store_up,
    utc_now,
)
from metrics.prometheus._position import _Families as _PositionFamilies
from metrics.prometheus._production import ProductionSource
from metrics.prometheus._quality import QualitySource
from metrics.store import DEFAULT_DB_PATH, latest_position_results


class PositionSource:
    """The position-benchmark families of :class:`~metrics.prometheus.PositionCollector`."""

    name = "position"

    def empty(self) -> list[Metric]:
        """The families without samples."""
        return list(_PositionFamilies.empty())

    def read(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> list[Metric]:
        """The latest finished run of each task, model and size (``now`` is not used)."""
        families = _PositionFamilies.empty()
        families.add(latest_position_results(conn))
        return list(families)


def default_sources(settings: ExportSettings | None = None) -> list[Source]:
    """The production, quality and position sources, in that order."""
    return [ProductionSource(settings), QualitySource(settings), PositionSource()]


class StoreCollector(Collector):
    """Gauges of ``sources`` read from the store at each collect (see the module doc).

    Args:
        store_path: The DuckDB store.
        sources: What to read; default :func:`default_sources`.
        settings: Lock timeout (and the default sources' prices and windows).
        clock: "Now" for the rolling windows; default the current UTC time.
    """

    def __init__(
        self,
        store_path: Path | str = DEFAULT_DB_PATH,
        sources: Sequence[Source] | None = None,
        *,
        settings: ExportSettings | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """Remember the store and sources; nothing is opened until a collect."""
        self.store_path = Path(store_path)
        self.settings = settings or ExportSettings()
        self.sources = list(default_sources(self.settings) if sources is None else sources)
        self.clock = clock
        self._last_success: float | None = None
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        """The families, without samples (registering reads nothing)."""
        return [family for source in self.sources for family in source.empty()] + housekeeping()

    def collect(self) -> Iterable[Metric]:
        """Read the store once and yield every source's families and the housekeeping."""
        read = read_sources(
            self.store_path, self.sources, self.clock(), self.settings.lock_timeout_s
        )
        ok = bool(read.sources) and all(s.ok for s in read.sources)
        with self._lock:
            if ok:
                self._last_success = max(s.finished_at for s in read.sources)
            last = self._last_success
        for source in read.sources:
            yield from source.families
        yield store_up(ok)
        yield export_duration(read.open_s + sum(s.seconds for s in read.sources))
        yield last_success(last)


class ProductionCollector(StoreCollector):
    """A :class:`StoreCollector` of the production families only."""

    def __init__(
        self,
        store_path: Path | str = DEFAULT_DB_PATH,
        *,
        settings: ExportSettings | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """Read ``store_path`` with :class:`ProductionSource` at each collect."""
        super().__init__(store_path, [ProductionSource(settings)], settings=settings, clock=clock)


class QualityCollector(StoreCollector):
    """A :class:`StoreCollector` of the judge, review-queue and gate families only."""

    def __init__(
        self,
        store_path: Path | str = DEFAULT_DB_PATH,
        *,
        settings: ExportSettings | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """Read ``store_path`` with :class:`QualitySource` at each collect."""
        super().__init__(store_path, [QualitySource(settings)], settings=settings, clock=clock)


def build_store_registry(
    store_path: Path | str = DEFAULT_DB_PATH,
    *,
    settings: ExportSettings | None = None,
    clock: Clock = utc_now,
) -> CollectorRegistry:
    """A new registry with one :class:`StoreCollector` of every source (what is served)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(store_path, settings=settings, clock=clock))
    return registry
