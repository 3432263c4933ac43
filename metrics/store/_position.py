"""Rows of ``position_results``: one per (setting, strategy, position) of a benchmark run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class PositionResultRow:
    """Accuracy of one cell of a position-benchmark run (errors excluded from ``n``)."""

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
    accuracy: float | None
    ci_low: float
    ci_high: float


_COLUMNS = tuple(f.name for f in fields(PositionResultRow))


def replace_position_results(
    conn: duckdb.DuckDBPyConnection, run_id: str, rows: Sequence[PositionResultRow]
) -> int:
    """Replace the run's rows with ``rows`` in one transaction, through one Arrow batch."""
    table = pa.Table.from_pylist([asdict(r) for r in rows]) if rows else None
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
