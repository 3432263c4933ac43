"""Prometheus metrics read from the evalmon store: collectors, the batch export, the endpoint.

The metric contract (names, types, labels) is ``dashboards/METRICS.md``.

* Scrape: :class:`StoreCollector` reads the store at each collect (production, quality
  and position families, or the ones given); :func:`build_store_registry` puts one on a
  private registry and :func:`start_metrics_server` / :func:`serve_metrics` serve it.
  :class:`ProductionCollector`, :class:`QualityCollector` and :class:`PositionCollector`
  read one group each.
* Push: :func:`export_metrics` computes every group once and pushes each to the
  Pushgateway under ``job="evalmon"`` and its own ``source`` grouping key.

Every read opens the DuckDB file read-only for the queries only, and reports
``evalmon_store_up 0`` rather than failing when a writer keeps it locked.
"""

from metrics.prometheus._collectors import (
    PositionSource,
    ProductionCollector,
    QualityCollector,
    StoreCollector,
    build_store_registry,
    default_sources,
)
from metrics.prometheus._common import (
    NONE,
    QUANTILES,
    WINDOWS,
    ExportSettings,
    Source,
    Window,
    export_duration,
    store_up,
)
from metrics.prometheus._context import DEFAULT_CONTEXT_WINDOWS, ContextWindows
from metrics.prometheus._export import (
    JOB,
    SOURCE_LABEL,
    ExportReport,
    FixedCollector,
    PushError,
    SourceExport,
    export_metrics,
)
from metrics.prometheus._position import (
    DEFAULT_SCRAPE_LOCK_TIMEOUT_S,
    NO_POSITION,
    PositionCollector,
    build_registry,
)
from metrics.prometheus._production import ProductionSource
from metrics.prometheus._quality import QualitySource
from metrics.prometheus._serve import MetricsServer, serve_metrics, start_metrics_server

__all__ = [
    "DEFAULT_CONTEXT_WINDOWS",
    "DEFAULT_SCRAPE_LOCK_TIMEOUT_S",
    "JOB",
    "NONE",
    "NO_POSITION",
    "QUANTILES",
    "SOURCE_LABEL",
    "WINDOWS",
    "ContextWindows",
    "ExportReport",
    "ExportSettings",
    "FixedCollector",
    "MetricsServer",
    "PositionCollector",
    "PositionSource",
    "ProductionCollector",
    "ProductionSource",
    "PushError",
    "QualityCollector",
    "QualitySource",
    "Source",
    "SourceExport",
    "StoreCollector",
    "Window",
    "build_registry",
    "build_store_registry",
    "default_sources",
    "export_duration",
    "export_metrics",
    "serve_metrics",
    "start_metrics_server",
    "store_up",
]
