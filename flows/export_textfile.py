"""The export as a Prometheus text file, for node_exporter's textfile collector.

Where no Pushgateway is configured, :func:`write_textfile` writes every source's metrics to
one ``.prom`` file (atomically, with ``prometheus_client.write_to_textfile``). Every sample
gets the label ``source="production"|"quality"|"position"``, as the Pushgateway's grouping
key adds it, so the dashboards and alert rules select the same series either way.

As with the Pushgateway, a source that could not be read this time (a store locked by a
writer) keeps its last good samples from the previous file and only its
``evalmon_store_up`` and ``evalmon_export_duration_seconds`` are replaced, so
``evalmon_export_last_success_timestamp_seconds`` ages and the staleness alert fires.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client import write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample

from metrics.prometheus import (
    SOURCE_LABEL,
    ExportReport,
    FixedCollector,
    export_duration,
    store_up,
)

log = logging.getLogger("flows.export")

#: Families a source that could not be read still reports afresh.
_HOUSEKEEPING = frozenset({store_up().name, export_duration().name})


def _labelled(family: Metric, source: str) -> list[Sample]:
    return [s._replace(labels={**s.labels, SOURCE_LABEL: source}) for s in family.samples]


def _previous(path: Path) -> list[Metric]:
    """The families of the previous file (none when it is missing or unreadable)."""
    try:
        return list(text_string_to_metric_families(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring the previous metrics file %s (%s); writing it afresh", path, exc)
        return []


def merge_sources(
    registries: Mapping[str, CollectorRegistry],
    read_ok: Mapping[str, bool],
    previous: Iterable[Metric] = (),
) -> list[Metric]:
    """One family per metric name, each sample labelled with its source.

    Args:
        registries: Each source's metrics (from :class:`~metrics.prometheus.ExportReport`).
        read_ok: Whether each source was read; one that was not keeps its samples from
            ``previous`` (except the housekeeping it reports afresh).
        previous: The families of the file written before.
    """
    merged: dict[str, Metric] = {}

    def add(family: Metric, samples: list[Sample]) -> None:
        if family.name not in merged:
            merged[family.name] = copy.copy(family)
            merged[family.name].samples = []
        merged[family.name].samples.extend(samples)

    for source, registry in registries.items():
        for family in registry.collect():
            add(family, _labelled(family, source))
    stale = {source for source, ok in read_ok.items() if not ok}
    for family in previous if stale else ():
        if family.name in _HOUSEKEEPING:
            continue
        kept = [s for s in family.samples if s.labels.get(SOURCE_LABEL) in stale]
        if kept:
            add(family, kept)
    return list(merged.values())


def write_textfile(path: Path, report: ExportReport) -> int:
    """Write ``report``'s metrics to ``path`` atomically; return the samples written.

    Raises:
        OSError: The file cannot be written; check the folder exists and is writable.
    """
    read_ok = {s.source: s.ok for s in report.sources}
    families = merge_sources(report.registries, read_ok, _previous(path))
    registry = CollectorRegistry()
    registry.register(FixedCollector(families))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return sum(len(f.samples) for f in families)
