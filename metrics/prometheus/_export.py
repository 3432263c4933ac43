"""The batch export: read every source from the store once, push each to the Pushgateway.

:func:`export_metrics` opens the store read-only once, computes the production, quality and
position families (one query per family group), closes it, and pushes each source under
``job="evalmon"`` with its own grouping key ``source="production"|"quality"|"position"``,
so no push ever touches another source's metrics. Within its own group:

* a source that was read is pushed with ``push_to_gateway`` (PUT), which replaces the
  group's previous snapshot. ``pushadd_to_gateway`` (POST) only replaces metric names
  that have samples in the push, so a series that has gone (a window without traffic, a
  review reason emptied, an old branch) would otherwise stay in the Pushgateway forever;
* a source that could not be read (store locked, missing, a failed query) is pushed with
  ``pushadd_to_gateway`` and only ``evalmon_store_up 0`` and the duration, so the last good
  values and their ``evalmon_export_last_success_timestamp_seconds`` stay and the staleness
  shows (alert ``EvalmonExporterStale``).

Each group also carries ``evalmon_export_duration_seconds`` (opening the store plus the
source's queries) and, when read, ``evalmon_export_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.error import URLError

from prometheus_client import push_to_gateway, pushadd_to_gateway
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from metrics.prometheus._collectors import default_sources
from metrics.prometheus._common import (
    ExportSettings,
    Source,
    SourceRead,
    export_duration,
    last_success,
    read_sources,
    store_up,
    utc_now,
)

JOB = "evalmon"
#: The label (the Pushgateway grouping key) that tells the sources' series apart.
SOURCE_LABEL = "source"
DEFAULT_PUSH_TIMEOUT_S = 10.0


class PushError(RuntimeError):
    """A push to the Pushgateway failed; :attr:`report` has what was computed and pushed."""

    def __init__(self, message: str, report: ExportReport) -> None:
        """Keep the report with the message."""
        super().__init__(message)
        self.report = report


@dataclass(frozen=True, slots=True)
class SourceExport:
    """The export of one source.

    Attributes:
        source: The grouping key value.
        ok: Whether it was read from the store.
        series: Samples computed (housekeeping included).
        compute_s: Opening the store plus its queries.
        push_s: Its push, or None when not pushed.
        push_error: Why its push failed, or None.
    """

    source: str
    ok: bool
    series: int
    compute_s: float
    push_s: float | None = None
    push_error: str | None = None


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What :func:`export_metrics` did.

    Attributes:
        store_path: The store read.
        now: End of the rolling windows.
        pushgateway_url: Where it pushed (None: computed only).
        open_s: Opening the store (with lock retries).
        compute_s: Opening the store and every query (until the store was closed).
        total_s: The whole export: computing, and pushing (which overlaps the computing).
        sources: Per source.
        error: Why the store could not be read, or None.
        registries: Each source's metrics, for inspection (``get_sample_value``).
    """

    store_path: Path
    now: datetime
    pushgateway_url: str | None
    open_s: float
    compute_s: float
    total_s: float
    sources: tuple[SourceExport, ...]
    error: str | None = None
    registries: Mapping[str, CollectorRegistry] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """Every source read and, if pushing, pushed."""
        return all(s.ok and s.push_error is None for s in self.sources)

    @property
    def series(self) -> int:
        """Samples over all sources."""
        return sum(s.series for s in self.sources)

    @property
    def push_s(self) -> float:
        """Time spent serialising and pushing, over all sources (0 when not pushing)."""
        return sum(s.push_s or 0.0 for s in self.sources)


class FixedCollector(Collector):
    """Collects the same families every time (a source's read plus its housekeeping)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return list(self.families)


@dataclass(frozen=True, slots=True)
class _Pushed:
    registry: CollectorRegistry
    series: int
    seconds: float | None
    error: str | None


def _registry(read: SourceRead, open_s: float) -> tuple[CollectorRegistry, int]:
    families: list[Metric] = [*read.families, store_up(read.ok)]
    families.append(export_duration(open_s + read.seconds))
    if read.ok:
        families.append(last_success(read.finished_at))
    registry = CollectorRegistry()
    registry.register(FixedCollector(families))
    return registry, sum(len(f.samples) for f in families)


def export_metrics(
    store_path: Path | str,
    *,
    pushgateway_url: str | None = None,
    now: datetime | None = None,
    settings: ExportSettings | None = None,
    sources: Sequence[Source] | None = None,
    job: str = JOB,
    timeout_s: float = DEFAULT_PUSH_TIMEOUT_S,
) -> ExportReport:
    """Compute every source's metrics from the store once and push each under its own key.

    A source is pushed (from a background thread) as soon as it is computed, while the next
    one is read.

    Args:
        store_path: The DuckDB store (opened read-only, for the queries only).
        pushgateway_url: ``host:port`` or URL of the Pushgateway; None computes only.
        now: End of the rolling windows (default: the current UTC time).
        settings: Lock timeout, prices, context windows.
        sources: What to export (default: production, quality, position).
        job: The ``job`` grouping key.
        timeout_s: Timeout of each push.

    Returns:
        The figures, and each source's registry. A store that could not be read is not an
        exception: its sources are ``ok=False`` (and pushed as down).

    Raises:
        PushError: A push failed (the others were still attempted); its ``report`` says
            which, and the message what to check.
    """
    settings = settings or ExportSettings()
    moment = now or utc_now()
    chosen = list(default_sources(settings) if sources is None else sources)
    start = time.perf_counter()
    pushed: dict[str, Future[_Pushed]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalmon-push") as pool:

        def hand_over(source: SourceRead, open_s: float) -> None:
            pushed[source.name] = pool.submit(
                _export_one, source, open_s, pushgateway_url, job, timeout_s
            )

        read = read_sources(Path(store_path), chosen, moment, settings.lock_timeout_s, hand_over)
        compute_s = time.perf_counter() - start
        for source in read.sources:
            if source.name not in pushed:  # the store could not be opened
                hand_over(source, read.open_s)
        results = {name: future.result() for name, future in pushed.items()}
    exports = tuple(
        SourceExport(s.name, s.ok, results[s.name].series, read.open_s + s.seconds,
                     results[s.name].seconds, results[s.name].error)
        for s in read.sources
    )  # fmt: skip
    report = ExportReport(
        store_path=Path(store_path), now=moment, pushgateway_url=pushgateway_url,
        open_s=read.open_s, compute_s=compute_s, total_s=time.perf_counter() - start,
        sources=exports, error=read.error,
        registries={name: r.registry for name, r in results.items()},
    )  # fmt: skip
    failed = [s for s in exports if s.push_error is not None]
    if failed:
        details = "; ".join(f"{s.source}: {s.push_error}" for s in failed)
        raise PushError(
            f"could not push to the Pushgateway at {pushgateway_url} ({details}); check that "
            "it runs and that the URL (host:port) is right, then export again",
            report,
        )
    return report


def _export_one(
    read: SourceRead, open_s: float, url: str | None, job: str, timeout_s: float
) -> _Pushed:
    registry, series = _registry(read, open_s)
    if url is None:
        return _Pushed(registry, series, None, None)
    start = time.perf_counter()
    error = _push(url, job, read.name, registry, read.ok, timeout_s)
    return _Pushed(registry, series, time.perf_counter() - start, error)


def _push(
    url: str, job: str, source: str, registry: CollectorRegistry, ok: bool, timeout_s: float
) -> str | None:
    """Push one source's group (PUT when read, POST of the housekeeping when not)."""
    push = push_to_gateway if ok else pushadd_to_gateway
    try:
        push(
            url, job=job, registry=registry, grouping_key={SOURCE_LABEL: source}, timeout=timeout_s
        )
    except (URLError, OSError) as exc:
        return str(exc)
    return None
