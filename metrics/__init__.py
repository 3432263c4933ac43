"""Where results and measurements go: the DuckDB store, its migrations and the price table.

``metrics`` may import ``evals`` (it implements the engine's ``ResultSink``,
``ResponseCache`` and ``PriceLookup`` protocols); ``evals`` never imports ``metrics``.

The names below are loaded on first use, so an app importing only ``metrics.capture``
does not pay for DuckDB and Arrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    **dict.fromkeys(("DEFAULT_PRICES", "CostBreakdown", "ModelPrice", "PriceTable"), "prices"),
    **dict.fromkeys(
        ("DEFAULT_DB_PATH", "AppliedMigration", "JournalBusyError", "RunInfo", "RunStart",
         "SchemaVersionError", "ScoreRow", "Store", "StoreLockedError", "connect", "migrate"),
        "store",
    ),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import ``metrics.prices`` or ``metrics.store`` when one of their names is used."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"metrics.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")


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
