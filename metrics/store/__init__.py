"""The DuckDB store: migrations, short-lived connections, the journaled result sink and cache.

Use one :class:`Store` as both the runner's ``ResultSink`` and its ``ResponseCache``.
"""

from metrics.store._connection import (
    DEFAULT_DB_PATH,
    DEFAULT_LOCK_TIMEOUT_S,
    LockHolder,
    StoreLockedError,
    connect,
    open_connection,
    parse_lock_error,
)
from metrics.store._gate import GateDecisionRow
from metrics.store._journal import JournalBusyError, journal_dir
from metrics.store._migrations import (
    MIGRATIONS,
    RUN_STATUSES,
    AppliedMigration,
    SchemaVersionError,
    applied_migrations,
    migrate,
    migration,
)
from metrics.store._models import RunInfo, RunStart, ScoreRow
from metrics.store._position import (
    LatestPositionResult,
    PositionResultRow,
    latest_position_results,
)
from metrics.store._production import LATEST_OK_REQUEST, ZSTD_COLUMNS
from metrics.store._store import Store

__all__ = [
    "DEFAULT_DB_PATH",
    "DEFAULT_LOCK_TIMEOUT_S",
    "LATEST_OK_REQUEST",
    "MIGRATIONS",
    "RUN_STATUSES",
    "ZSTD_COLUMNS",
    "AppliedMigration",
    "GateDecisionRow",
    "JournalBusyError",
    "LatestPositionResult",
    "LockHolder",
    "PositionResultRow",
    "RunInfo",
    "RunStart",
    "SchemaVersionError",
    "ScoreRow",
    "Store",
    "StoreLockedError",
    "applied_migrations",
    "connect",
    "journal_dir",
    "latest_position_results",
    "migrate",
    "migration",
    "open_connection",
    "parse_lock_error",
]
