"""What the store exporters share: settings, windows, label values and the store read.

A *source* (:class:`Source`) turns an open read-only connection into metric families: the
production, quality and position sources each run one query per family group.
:func:`read_sources` opens the store once for all the sources it is given, reads them and
closes it; a store that stays locked, is missing or cannot be read yields no family and is
reported down rather than raising, so a scrape or an export never crashes on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import duckdb
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from pydantic import BaseModel, ConfigDict, Field

from metrics.prices import ModelPrice, PriceTable
from metrics.prometheus._context import ContextWindows
from metrics.store import StoreLockedError, connect

log = logging.getLogger("metrics.prometheus")

#: The label value of an unknown prompt version, route or model (never ``""``, which
#: Prometheus treats as a missing label).
NONE = "none"
#: The quantiles exported for latency and context use, and their ``quantile`` label values.
QUANTILES = (0.5, 0.95, 0.99)
QUANTILE_LABELS = ("0.5", "0.95", "0.99")

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Window:
    """A rolling window ending at the export's "now": rows with ``now - length < ts <= now``.

    Attributes:
        label: The ``window`` label value.
        length: How far back it reaches.
    """

    label: str
    length: timedelta


#: The windows of every windowed family; each one contains the shorter ones.
WINDOWS = (
    Window("5m", timedelta(minutes=5)),
    Window("1h", timedelta(hours=1)),
    Window("24h", timedelta(hours=24)),
)


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


class ExportSettings(BaseModel):
    """How the store is read and exported (``[export]`` in the config).

    Attributes:
        lock_timeout_s: How long one read retries a store locked by a writer before the
            store is reported down (``evalmon_store_up 0``).
        near_limit_ratio: Share of the context window from which a request counts in
            ``evalmon_llm_context_near_limit_requests``.
        context_windows: Windows in tokens by ``provider:model`` added to or replacing
            :data:`~metrics.prometheus.DEFAULT_CONTEXT_WINDOWS`.
        prices: Prices added to or replacing :data:`metrics.prices.DEFAULT_PRICES`.
        gate_max_age_days: Gates older than this are not exported, so the series of long
            merged branches go away (None keeps every branch).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lock_timeout_s: float = Field(default=1.0, ge=0)
    near_limit_ratio: float = Field(default=0.9, gt=0, le=1)
    context_windows: dict[str, int] = Field(default_factory=dict)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    gate_max_age_days: float | None = Field(default=90, gt=0)

    def price_table(self) -> PriceTable:
        """The default price table with :attr:`prices` applied."""
        return PriceTable().with_overrides(self.prices)

    def context_table(self) -> ContextWindows:
        """The default context windows with :attr:`context_windows` applied."""
        return ContextWindows().with_overrides(self.context_windows)


def sql_time(moment: datetime) -> str:
    """A ``TIMESTAMPTZ`` literal of an aware datetime (inlined so DuckDB prunes row groups)."""
    if moment.tzinfo is None:
        raise ValueError(f"export time must be timezone-aware, got {moment!r}; pass UTC")
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"


def window_values(now: datetime) -> str:
    """SQL ``VALUES`` rows ``(window, since)`` of :data:`WINDOWS` ending at ``now``."""
    return ", ".join(f"('{w.label}', {sql_time(now - w.length)})" for w in WINDOWS)


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The columns of ``table`` (empty when a store migrated by an older evalmon lacks it)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


def gauge(name: str, doc: str, labels: Sequence[str], unit: str = "") -> GaugeMetricFamily:
    """An empty gauge family."""
    return GaugeMetricFamily(name, doc, labels=list(labels), unit=unit)


class Source(Protocol):
    """One group of families read from the store (one Pushgateway ``source``)."""

    name: str

    def empty(self) -> list[Metric]:
        """The families without samples (what a registry's ``describe`` shows)."""
        ...

    def read(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> list[Metric]:
        """The families with their samples, read through ``conn`` at time ``now``."""
        ...


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What one source read.

    Attributes:
        name: The source.
        families: Its families (empty when it failed).
        ok: Whether it was read.
        seconds: Time spent in its queries.
        finished_at: Wall-clock Unix time when its queries ended.
    """

    name: str
    families: list[Metric]
    ok: bool
    seconds: float
    finished_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class StoreRead:
    """One opening of the store for several sources.

    Attributes:
        sources: Each source's result, in the order asked.
        open_s: Time to open (and, once locked, retry) the store.
        error: Why the store could not be read, or None.
    """

    sources: list[SourceRead]
    open_s: float
    error: str | None = None

    @property
    def by_name(self) -> Mapping[str, SourceRead]:
        """The results by source name."""
        return {s.name: s for s in self.sources}


#: Called with each source's result and the store's opening time, as soon as it is read.
OnRead = Callable[[SourceRead, float], None]


def read_sources(
    store_path: Path,
    sources: Sequence[Source],
    now: datetime,
    lock_timeout_s: float,
    on_read: OnRead | None = None,
) -> StoreRead:
    """Open ``store_path`` read-only once, read every source, close it; never raise for it.

    A store locked for longer than ``lock_timeout_s``, missing or unreadable gives every
    source ``ok=False`` and the reason in :attr:`StoreRead.error` (also logged as a warning),
    and ``on_read`` is not called. A source whose query fails is logged and left out; the
    others are still read. ``on_read`` (say, a push) runs while the next source is read.
    """
    start = time.perf_counter()
    failed = [SourceRead(s.name, [], False, 0.0) for s in sources]
    if not store_path.is_file():
        error = (
            f"the evalmon store {store_path} does not exist; check the store path, or run "
            "`evalmon ingest` (or any evalmon run) to create it"
        )
        log.warning("store metrics left out: %s", error)
        return StoreRead(failed, time.perf_counter() - start, error)
    try:
        with connect(store_path, read_only=True, lock_timeout_s=lock_timeout_s) as conn:
            open_s = time.perf_counter() - start
            results = []
            for source in sources:
                results.append(_read_one(source, conn, now))
                if on_read is not None:
                    on_read(results[-1], open_s)
    except StoreLockedError as exc:
        log.warning("store metrics left out: %s", exc)
        return StoreRead(failed, time.perf_counter() - start, str(exc))
    except duckdb.Error as exc:
        error = f"cannot read the evalmon store {store_path} ({exc}); check that it is one"
        log.warning("store metrics left out: %s", error)
        return StoreRead(failed, time.perf_counter() - start, error)
    return StoreRead(results, open_s)


def _read_one(source: Source, conn: duckdb.DuckDBPyConnection, now: datetime) -> SourceRead:
    start = time.perf_counter()
    try:
        families = source.read(conn, now)
    except duckdb.Error as exc:
        log.warning(
            "%s metrics left out: their query failed (%s); the store's schema may be newer "
            "than this evalmon, so upgrade it, or report the error",
            source.name,
            exc,
        )
        return SourceRead(source.name, [], False, time.perf_counter() - start)
    return SourceRead(source.name, families, True, time.perf_counter() - start)


def store_up(up: bool | None = None) -> GaugeMetricFamily:
    """``evalmon_store_up``: 1 when the store was read (no sample when ``up`` is None)."""
    family = gauge(
        "evalmon_store_up",
        "1 when the evalmon store was read, 0 when it was locked, missing or unreadable.",
        [],
    )
    if up is not None:
        family.add_metric([], 1.0 if up else 0.0)
    return family


def export_duration(seconds: float | None = None) -> GaugeMetricFamily:
    """``evalmon_export_duration_seconds``: how long reading the store took."""
    family = gauge(
        "evalmon_export_duration_seconds",
        "Seconds the latest export or scrape spent reading these metrics from the store.",
        [],
        unit="seconds",
    )
    if seconds is not None:
        family.add_metric([], seconds)
    return family


def last_success(timestamp: float | None = None) -> GaugeMetricFamily:
    """``evalmon_export_last_success_timestamp_seconds`` (no sample before any success)."""
    family = gauge(
        "evalmon_export_last_success_timestamp_seconds",
        "Unix time of the latest export or scrape that read these metrics from the store.",
        [],
        unit="seconds",
    )
    if timestamp is not None:
        family.add_metric([], timestamp)
    return family


def housekeeping() -> list[Metric]:
    """The housekeeping families without samples."""
    return [store_up(), export_duration(), last_success()]
