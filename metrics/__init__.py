"""Where results and measurements go: the DuckDB store, its migrations and the price table.

``metrics`` may import ``evals`` (it implements the engine's ``ResultSink``,
``ResponseCache`` and ``PriceLookup`` protocols); ``evals`` never imports ``metrics``.
"""

from metrics.prices import DEFAULT_PRICES, CostBreakdown, ModelPrice, PriceTable
from metrics.store import (
    DEFAULT_DB_PATH,
    AppliedMigration,
    JournalBusyError,
    RunInfo,
    RunStart,
    SchemaVersionError,
    ScoreRow,
    Store,
    StoreLockedError,
    connect,
    migrate,
)

__all__ = [
    "DEFAULT_DB_PATH",
    "DEFAULT_PRICES",
    "AppliedMigration",
    "CostBreakdown",
    "JournalBusyError",
    "ModelPrice",
    "PriceTable",
    "RunInfo",
    "RunStart",
    "SchemaVersionError",
    "ScoreRow",
    "Store",
    "StoreLockedError",
    "connect",
    "migrate",
]
