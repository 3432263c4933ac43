"""Rows of ``position_results``: one per (setting, strategy, position) of a benchmark run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

import duckdb

from metrics.store._arrow import json_rows_table


@dataclass(frozen=True, slots=True)
class PositionResultRow:
    """Accuracy of one cell of a position-benchmark run.

    ``n`` counts the scored prompts only: errors and the prompts skipped as longer than the
    model's context window are excluded from it (and from each other).
    """

    run_id: str
    task: str
    model_ref: str
    context_size: int
    setting: str
    strategy: str
    position: int | None
    n: int
    correct: int
    errors: int
    skipped: int
    accuracy: float | None
    ci_low: float
    ci_high: float


_COLUMNS = tuple(f.name for f in fields(PositionResultRow))


def replace_position_results(
    conn: duckdb.DuckDBPyConnection, run_id: str, rows: Sequence[PositionResultRow]
) -> int:
    """Replace the run's rows with ``rows`` in one transaction, through one Arrow batch."""
    table = json_rows_table([asdict(r) for r in rows]) if rows else None
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM position_results WHERE run_id = ?", [run_id])
        if table is not None:
            name = f"position_{uuid.uuid4().hex}"
            conn.register(name, table)
            try:
                columns = ", ".join(_COLUMNS)
                conn.execute(
                    f"INSERT INTO position_results ({columns}, created_at) "
                    f"SELECT {columns}, ? FROM {name}",
                    [datetime.now(UTC)],
                )
            finally:
                conn.unregister(name)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(rows)


@dataclass(frozen=True, slots=True)
class LatestPositionResult:
    """One cell of the latest finished position run of its (task, model, context size).

    Attributes:
        row: The stored cell.
        finished_at: When its run finished (UTC).
    """

    row: PositionResultRow
    finished_at: datetime


# Columns a database not yet migrated to the current schema may lack, with their value then.
_ADDED_LATER = {"skipped": "0"}

_LATEST_SQL = """
WITH latest AS (
    SELECT DISTINCT p.run_id, p.task, p.model_ref, p.context_size, r.finished_at
    FROM position_results p JOIN runs r ON r.run_id = p.run_id
    WHERE r.kind = 'position' AND r.status = 'finished' AND r.finished_at IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY p.task, p.model_ref, p.context_size
        ORDER BY r.finished_at DESC, p.run_id DESC
    ) = 1
)
SELECT {columns}, latest.finished_at
FROM position_results p JOIN latest ON latest.run_id = p.run_id
ORDER BY p.task, p.model_ref, p.context_size, p.setting, p.strategy, p.position NULLS FIRST
"""


def latest_position_results(conn: duckdb.DuckDBPyConnection) -> list[LatestPositionResult]:
    """The cells of the latest finished run for each (task, model, context size).

    Only reads, so it works on a read-only connection, also to a database that an older
    evalmon migrated: without ``position_results`` there are no cells, and a column added
    since (``skipped``) reads as 0.
    """
    present = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'position_results'"
        ).fetchall()
    }
    if not present:
        return []
    columns = ", ".join(
        f"p.{name}" if name in present or name not in _ADDED_LATER
        else f"{_ADDED_LATER[name]} AS {name}"
        for name in _COLUMNS
    )  # fmt: skip
    rows = conn.execute(_LATEST_SQL.format(columns=columns)).fetchall()
    return [LatestPositionResult(row=PositionResultRow(*r[:-1]), finished_at=r[-1]) for r in rows]
