"""SQL for the ``runs`` and ``scores`` tables, on a connection the caller opened."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from metrics.store._arrow import json_rows_table
from metrics.store._migrations import RUN_STATUSES
from metrics.store._models import RunInfo, RunStart, ScoreRow, from_json, to_json

_RUN_COLUMNS = (
    "run_id, kind, status, model_ref, prompt_ref, dataset_ref, params, config, created_at, "
    "finished_at, n_calls, n_errors, n_cached, cost_usd, summary"
)
_SCORES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("case_id", pa.string()),
        ("repeat", pa.int32()),
        ("scorer", pa.string()),
        ("scorer_version", pa.string()),
        ("score", pa.float64()),
        ("passed", pa.bool_()),
        ("details", pa.string()),
        ("seq", pa.int64()),
    ]
)


def fetch_run(conn: duckdb.DuckDBPyConnection, run_id: str) -> RunInfo | None:
    """Return the ``runs`` row of ``run_id``, or None."""
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return None
    return RunInfo(
        run_id=row[0],
        kind=row[1],
        status=row[2],
        model_ref=row[3],
        prompt_ref=row[4],
        dataset_ref=row[5],
        params=from_json(row[6]),
        config=from_json(row[7]),
        created_at=row[8],
        finished_at=row[9],
        n_calls=row[10],
        n_errors=row[11],
        n_cached=row[12],
        cost_usd=row[13],
        summary=from_json(row[14]),
    )


def start_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    kind: str,
    refs: Mapping[str, str | None],
    params: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
) -> RunStart:
    """Insert the run, or set an existing one back to ``running``; see ``Store.start_run``."""
    params_json, config_json = to_json(params or {}), to_json(config or {})
    prev = fetch_run(conn, run_id)
    if prev is None:
        conn.execute(
            "INSERT INTO runs (run_id, kind, status, model_ref, prompt_ref, dataset_ref, params,"
            " config, created_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                kind,
                refs["model_ref"],
                refs["prompt_ref"],
                refs["dataset_ref"],
                params_json,
                config_json,
                datetime.now(UTC),
            ],
        )
    else:
        conn.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [run_id]
        )
    counts = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE error_kind IS NULL) FROM calls WHERE run_id = ?",
        [run_id],
    ).fetchone()
    n_calls, n_completed = counts if counts is not None else (0, 0)
    mismatched: tuple[str, ...] = ()
    if prev is not None:
        new: dict[str, Any] = {"kind": kind, **refs}
        new["params"], new["config"] = from_json(params_json), from_json(config_json)
        mismatched = tuple(k for k, v in new.items() if getattr(prev, k) != v)
    return RunStart(
        run_id=run_id,
        resumed=prev is not None,
        previous_status=prev.status if prev is not None else None,
        n_calls=int(n_calls),
        n_completed=int(n_completed),
        mismatched=mismatched,
    )


def finish_run(
    conn: duckdb.DuckDBPyConnection, run_id: str, status: str, summary: Mapping[str, Any] | None
) -> RunInfo:
    """Set the final status and summary and the counts and cost computed from ``calls``."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"finish status must be finished, failed or interrupted: {status!r}")
    if fetch_run(conn, run_id) is None:
        raise LookupError(f"no run {run_id!r} in the store")
    conn.execute(
        "UPDATE runs SET status = ?, finished_at = ?, summary = ?, n_calls = a.n, "
        "n_errors = a.e, n_cached = a.c, cost_usd = a.cost FROM ("
        "  SELECT count(*) AS n,"
        "    count(*) FILTER (WHERE error_kind IS NOT NULL) AS e,"
        "    count(*) FILTER (WHERE cached) AS c,"
        "    CASE WHEN count(*) FILTER (WHERE error_kind IS NULL AND cost_usd IS NULL) > 0"
        "      THEN NULL ELSE coalesce(sum(cost_usd), 0) END AS cost"
        "  FROM calls WHERE run_id = ?) AS a "
        "WHERE runs.run_id = ?",
        [status, datetime.now(UTC), to_json(summary or {}), run_id, run_id],
    )
    info = fetch_run(conn, run_id)
    if info is None:  # pragma: no cover - the row was there a moment ago
        raise LookupError(f"run {run_id!r} vanished from the store")
    return info


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def insert_scores(conn: duckdb.DuckDBPyConnection, items: Sequence[ScoreRow]) -> int:
    """Insert or replace scores through one Arrow batch (last row per key wins)."""
    if not items:
        return 0
    table = json_rows_table(
        [
            {
                "run_id": r.run_id,
                "case_id": r.case_id,
                "repeat": r.repeat,
                "scorer": r.scorer,
                "scorer_version": r.scorer_version,
                "score": _finite_or_none(r.score),
                "passed": r.passed,
                "details": to_json(r.details),
                "seq": seq,
            }
            for seq, r in enumerate(items)
        ],
        _SCORES_SCHEMA,
    )
    name = f"scores_{uuid.uuid4().hex}"
    conn.register(name, table)
    try:
        conn.execute(
            "INSERT OR REPLACE INTO scores (run_id, case_id, repeat, scorer, scorer_version, "
            "score, passed, details, created_at) SELECT run_id, case_id, repeat, scorer, "
            f"scorer_version, score, passed, details, ? FROM {name} QUALIFY row_number() OVER "
            "(PARTITION BY run_id, case_id, repeat, scorer ORDER BY seq DESC) = 1",
            [datetime.now(UTC)],
        )
    finally:
        conn.unregister(name)
    return len(items)
