"""Prometheus gauges of the position benchmark, read from the DuckDB store at each scrape.

:class:`PositionCollector` opens the store read-only for the duration of one ``collect`` and
closes it, so benchmark runs can keep writing between scrapes. It reports the latest
finished position run of each (task, model, context size):

``evalmon_position_accuracy_ratio{task, model, context_size, setting, strategy, position}``
    Share of the scored prompts answered correctly (absent for a cell with none scored).
``evalmon_position_accuracy_ci_low_ratio``, ``evalmon_position_accuracy_ci_high_ratio``
    The 95% Wilson interval of that share (same labels, absent with it).
``evalmon_position_prompts{...same labels}``
    Prompts scored in the cell (errors and skipped prompts excluded).
``evalmon_position_skipped_prompts{task, model, context_size}``
    Prompts the model rejected as longer than its context window, over the run.
``evalmon_position_last_run_timestamp_seconds{task, model, context_size}``
    When that run finished (Unix time).
``evalmon_store_up``
    1 when the scrape read the store; 0 when the store was locked by a writer for longer
    than ``lock_timeout_s``, missing or unreadable, and then no position metric is reported.

Labels are bounded: ``model`` is the model string (``local:smollm2``), ``context_size`` the
documents or keys per context, ``setting`` one of ``position``, ``closedbook``, ``oracle``,
``reordered``, and ``position`` the gold index, or ``none`` for the cells that have no gold
position (the baselines and the reordering strategies). ``none`` rather than ``""``, because
Prometheus treats an empty label value as a missing label. Run ids are never labels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from metrics.store import (
    DEFAULT_DB_PATH,
    LatestPositionResult,
    StoreLockedError,
    connect,
    latest_position_results,
)

log = logging.getLogger(__name__)

#: The ``position`` label of a cell without a gold position (baselines, reorderings).
NO_POSITION = "none"
#: How long one scrape retries a store locked by a writer before reporting it down.
DEFAULT_SCRAPE_LOCK_TIMEOUT_S = 1.0

_RUN_LABELS = ("task", "model", "context_size")
_CELL_LABELS = (*_RUN_LABELS, "setting", "strategy", "position")


@dataclass(frozen=True, slots=True)
class _Families:
    """The metric families of one scrape, empty until filled."""

    accuracy: GaugeMetricFamily
    ci_low: GaugeMetricFamily
    ci_high: GaugeMetricFamily
    prompts: GaugeMetricFamily
    skipped: GaugeMetricFamily
    last_run: GaugeMetricFamily

    @classmethod
    def empty(cls) -> _Families:
        """Families without samples, named and documented."""
        cell, run = list(_CELL_LABELS), list(_RUN_LABELS)
        return cls(
            accuracy=GaugeMetricFamily(
                "evalmon_position_accuracy_ratio",
                "Share of the scored prompts of a position-benchmark cell answered correctly.",
                labels=cell,
                unit="ratio",
            ),
            ci_low=GaugeMetricFamily(
                "evalmon_position_accuracy_ci_low_ratio",
                "Lower end of the 95% Wilson interval of the cell's accuracy.",
                labels=cell,
                unit="ratio",
            ),
            ci_high=GaugeMetricFamily(
                "evalmon_position_accuracy_ci_high_ratio",
                "Upper end of the 95% Wilson interval of the cell's accuracy.",
                labels=cell,
                unit="ratio",
            ),
            prompts=GaugeMetricFamily(
                "evalmon_position_prompts",
                "Prompts scored in the cell (errors and skipped prompts excluded).",
                labels=cell,
            ),
            skipped=GaugeMetricFamily(
                "evalmon_position_skipped_prompts",
                "Prompts of the run rejected as longer than the model's context window.",
                labels=run,
            ),
            last_run=GaugeMetricFamily(
                "evalmon_position_last_run_timestamp_seconds",
                "When the latest finished position run of the task, model and size finished.",
                labels=run,
                unit="seconds",
            ),
        )

    def add(self, results: Sequence[LatestPositionResult]) -> None:
        """Add the samples of ``results`` (the cells of the latest runs)."""
        runs: dict[tuple[str, str, str], tuple[int, float]] = {}
        for result in results:
            r = result.row
            run = (r.task, r.model_ref, str(r.context_size))
            position = NO_POSITION if r.position is None else str(r.position)
            cell = [*run, r.setting, r.strategy, position]
            self.prompts.add_metric(cell, r.n)
            if r.accuracy is not None:
                self.accuracy.add_metric(cell, r.accuracy)
                self.ci_low.add_metric(cell, r.ci_low)
                self.ci_high.add_metric(cell, r.ci_high)
            skipped, _ = runs.get(run, (0, 0.0))
            runs[run] = (skipped + r.skipped, result.finished_at.timestamp())
        for run, (skipped, finished) in runs.items():
            self.skipped.add_metric(list(run), skipped)
            self.last_run.add_metric(list(run), finished)

    def __iter__(self) -> Iterator[GaugeMetricFamily]:
        """The families, in declaration order."""
        return iter(
            (self.accuracy, self.ci_low, self.ci_high, self.prompts, self.skipped, self.last_run)
        )


def _store_up(up: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evalmon_store_up",
        "1 when the scrape read the evalmon store, 0 when it was locked, missing or unreadable.",
        value=1.0 if up else 0.0,
    )


class PositionCollector(Collector):
    """Position-benchmark gauges from the store's latest finished runs (see the module doc).

    Args:
        store_path: The DuckDB store the benchmark writes.
        lock_timeout_s: How long one scrape retries a store locked by a writer.
    """

    def __init__(
        self,
        store_path: Path | str = DEFAULT_DB_PATH,
        *,
        lock_timeout_s: float = DEFAULT_SCRAPE_LOCK_TIMEOUT_S,
    ) -> None:
        """Remember the store; nothing is opened until a scrape."""
        self.store_path = Path(store_path)
        self.lock_timeout_s = lock_timeout_s

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The families this collector reports, without samples (registering reads nothing)."""
        return [*_Families.empty(), _store_up(False)]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """Read the store once and yield the gauges; only ``evalmon_store_up 0`` if it failed."""
        try:
            with connect(
                self.store_path, read_only=True, lock_timeout_s=self.lock_timeout_s
            ) as conn:
                results = latest_position_results(conn)
        except StoreLockedError as exc:
            log.warning("position metrics left out of this scrape: %s", exc)
            yield _store_up(False)
            return
        except duckdb.Error as exc:
            log.warning(
                "position metrics left out of this scrape: cannot read the evalmon store %s "
                "(%s); check the store path, or run `evalmon position run` to create it",
                self.store_path,
                exc,
            )
            yield _store_up(False)
            return
        families = _Families.empty()
        families.add(results)
        yield from families
        yield _store_up(True)


def build_registry(
    store_path: Path | str = DEFAULT_DB_PATH,
    *,
    lock_timeout_s: float = DEFAULT_SCRAPE_LOCK_TIMEOUT_S,
) -> CollectorRegistry:
    """A new registry with a :class:`PositionCollector` on ``store_path`` (nothing else).

    Serve or push it with ``prometheus_client`` (``generate_latest(registry)``,
    ``start_http_server(port, registry=registry)``, ``push_to_gateway(..., registry)``).
    """
    registry = CollectorRegistry()
    registry.register(PositionCollector(store_path, lock_timeout_s=lock_timeout_s))
    return registry
