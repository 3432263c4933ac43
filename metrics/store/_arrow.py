"""Conversions between call records, journal rows, Arrow tables and the DuckDB tables.

Bulk writes go through Arrow only: rows become a ``pyarrow.Table`` that DuckDB reads
in place (``INSERT OR REPLACE INTO ... SELECT ... FROM batch``); ``executemany`` is never used.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.json as pa_json  # type: ignore[import-untyped]

from evals.providers import CallResult
from evals.runner import CallRecord

Row = dict[str, Any]

CALLS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("case_id", pa.string()),
        ("repeat", pa.int32()),
        ("call_key", pa.string()),
        ("cache_key", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("model_version", pa.string()),
        ("answered_by", pa.string()),
        ("text", pa.string()),
        ("finish_reason", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("latency_s", pa.float64()),
        ("cost_usd", pa.float64()),
        ("cached", pa.bool_()),
        ("attempts", pa.int32()),
        ("error_kind", pa.string()),
        ("error_message", pa.string()),
        ("error_status", pa.int32()),
        ("logprobs", pa.list_(pa.float64())),
        ("started_at", pa.string()),
        ("completed_at", pa.string()),
    ]
)
CALL_COLUMNS: tuple[str, ...] = tuple(CALLS_SCHEMA.names)
_TIME_COLUMNS = frozenset({"started_at", "completed_at"})
_ONE_PER = "QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY seq {order}) = 1"
_REQUIRED_KEYS = frozenset({"run_id", "case_id", "repeat", "call_key", "cache_key", "cached"})


def iso_utc(moment: datetime) -> str:
    """Return ``moment`` as an ISO-8601 UTC string (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def record_to_row(record: CallRecord) -> Row:
    """Flatten a call record into a JSON-safe row (the journal line and the Arrow row).

    Only the listed fields are kept: ``CallResult.extra`` (free-form provider data) is not
    stored, so nothing the provider attached, such as headers, reaches the database.
    """
    result = record.result
    error = result.error
    return {
        "run_id": record.run_id,
        "case_id": record.case_id,
        "repeat": record.repeat,
        "call_key": record.call_key,
        "cache_key": record.cache_key,
        "provider": result.provider,
        "model": result.model,
        "model_version": result.model_version,
        "answered_by": result.answered_by,
        "text": result.text,
        "finish_reason": result.finish_reason,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "latency_s": result.latency_s,
        "cost_usd": result.cost_usd,
        "cached": result.cached,
        "attempts": result.attempts,
        "error_kind": error.kind if error is not None else None,
        "error_message": error.message if error is not None else None,
        "error_status": error.status if error is not None else None,
        "logprobs": list(result.logprobs) if result.logprobs is not None else None,
        "started_at": iso_utc(record.started_at),
        "completed_at": iso_utc(record.completed_at),
    }


def encode_row(row: Row) -> bytes:
    """Encode a row as one journal line (UTF-8 JSON plus newline)."""
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def decode_line(line: bytes) -> Row | None:
    """Decode one journal line; return None when it is not a complete call row."""
    try:
        row = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(row, dict) or not row.keys() >= _REQUIRED_KEYS:
        return None
    return row


def rows_to_table(rows: Sequence[Row], lines: Sequence[bytes] | None = None) -> pa.Table:
    """Build the Arrow batch for ``rows``, plus a ``seq`` column giving their order.

    ``lines`` are the rows' journal lines (encoded here when not given); see
    :func:`parse_json_lines` for why the batch is parsed from JSON.
    """
    if not rows:
        table = CALLS_SCHEMA.empty_table()
    else:
        data = b"".join(lines if lines is not None else (encode_row(row) for row in rows))
        table = parse_json_lines(data, CALLS_SCHEMA)
    return table.append_column("seq", sequence_array(len(rows)))


def json_rows_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """Non-empty rows of JSON values as an Arrow table (datetimes become ISO-8601 UTC text).

    Args:
        rows: The rows; keys are column names.
        schema: The columns' types; None to infer them (an all-null column is typed null).
    """
    data = b"".join(
        (
            json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_value) + "\n"
        ).encode("utf-8")
        for row in rows
    )
    return parse_json_lines(data, schema)


def parse_json_lines(data: bytes, schema: pa.Schema | None = None) -> pa.Table:
    """Parse newline-delimited JSON objects with Arrow's JSON reader.

    Bulk writes build their Arrow batch this way rather than from Python objects, because
    the first ``pa.array`` of Python values in a process makes pyarrow import pandas: about
    a second (without bytecode caches) in the middle of a gate or benchmark run.
    """
    return pa_json.read_json(
        pa.BufferReader(data),
        read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) + 1)),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore" if schema else "infer"
        ),
    )


def sequence_array(length: int) -> pa.Array:
    """The int64 array ``0 .. length - 1``, without converting Python objects."""
    order = np.arange(length, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), length, [None, pa.py_buffer(order)])


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON batch")


def load_call_rows(
    conn: duckdb.DuckDBPyConnection, rows: Sequence[Row], lines: Sequence[bytes] | None = None
) -> None:
    """Upsert ``rows`` into ``calls`` and fill ``response_cache``, in one transaction.

    ``lines`` are the rows' journal lines when the caller has them (saves encoding again).

    ``calls``: within the batch the last row for a ``(run_id, call_key)`` wins and replaces
    the stored row. A row already stored as is (same key, ``started_at`` and
    ``completed_at``: a journal loaded twice) is skipped, so replaying is idempotent and
    cheap (DuckDB replaces a conflicting row at ~0.1-0.2 ms each in a large table).

    ``response_cache``: successful, non-cached rows are added; an existing entry for the
    same content address is kept (first response wins, ``INSERT OR IGNORE``).
    """
    if not rows:
        return
    calls_unique = len({(r["run_id"], r["call_key"]) for r in rows}) == len(rows)
    cacheable = [r["cache_key"] for r in rows if _cacheable(r)]
    cache_unique = len(set(cacheable)) == len(cacheable)
    name = f"batch_{uuid.uuid4().hex}"
    conn.register(name, rows_to_table(rows, lines))
    select = ", ".join(
        f"CAST(b.{c} AS TIMESTAMPTZ)" if c in _TIME_COLUMNS else f"b.{c}" for c in CALL_COLUMNS
    )
    # The windows are only needed when the batch repeats a key (an INSERT OR REPLACE/IGNORE
    # batch with duplicate keys silently keeps the *first*); skipping them saves ~30%.
    latest = (
        name
        if calls_unique
        else f"(SELECT * FROM {name} {_ONE_PER.format(key='run_id, call_key', order='DESC')})"
    )
    first_cache = "" if cache_unique else _ONE_PER.format(key="cache_key", order="ASC")
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(
                f"INSERT OR REPLACE INTO calls ({', '.join(CALL_COLUMNS)}) "
                f"SELECT {select} FROM {latest} AS b ANTI JOIN calls AS c "
                "ON c.run_id = b.run_id AND c.call_key = b.call_key "
                "AND c.started_at IS NOT DISTINCT FROM CAST(b.started_at AS TIMESTAMPTZ) "
                "AND c.completed_at IS NOT DISTINCT FROM CAST(b.completed_at AS TIMESTAMPTZ)"
            )
            if cacheable:
                conn.execute(
                    "INSERT OR IGNORE INTO response_cache (cache_key, provider, model, "
                    "model_version, text, finish_reason, input_tokens, output_tokens, logprobs, "
                    "created_at) SELECT cache_key, provider, model, model_version, text, "
                    "finish_reason, input_tokens, output_tokens, logprobs, "
                    f"CAST(completed_at AS TIMESTAMPTZ) FROM {name} "
                    f"WHERE error_kind IS NULL AND NOT cached AND text IS NOT NULL {first_cache}"
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.unregister(name)


def _cacheable(row: Row) -> bool:
    return row.get("error_kind") is None and not row["cached"] and row.get("text") is not None


def fetch_table(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
) -> pa.Table:
    """Run a query and return its result as an Arrow table."""
    table = conn.sql(sql, params=params).to_arrow_table()
    if table is None:
        raise RuntimeError(f"query returned no result set: {sql}")
    return table


def cached_results(conn: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> dict[str, CallResult]:
    """Return the ``response_cache`` entry for each of ``keys`` that has one, in one query."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    # The keys go in as a list parameter: building an Arrow array from Python objects
    # makes pyarrow import pandas, a second of start-up before the first call can go out.
    table = fetch_table(
        conn,
        "SELECT c.cache_key, c.provider, c.model, c.model_version, c.text, "
        "c.finish_reason, c.input_tokens, c.output_tokens, c.logprobs "
        "FROM response_cache c WHERE c.cache_key IN (SELECT unnest($keys::VARCHAR[]))",
        {"keys": unique},
    )
    cols = table.to_pydict()
    out: dict[str, CallResult] = {}
    for key, provider, model, version, text, finish, n_in, n_out, logprobs in zip(
        cols["cache_key"],
        cols["provider"],
        cols["model"],
        cols["model_version"],
        cols["text"],
        cols["finish_reason"],
        cols["input_tokens"],
        cols["output_tokens"],
        cols["logprobs"],
        strict=True,
    ):
        out[key] = CallResult(
            text=text,
            finish_reason=finish,
            provider=provider,
            model=model,
            model_version=version,
            input_tokens=n_in,
            output_tokens=n_out,
            latency_s=0.0,
            cost_usd=0.0,
            cached=True,
            attempts=0,
            logprobs=tuple(logprobs) if logprobs is not None else None,
            answered_by=f"{provider}:{model}" if provider and model else "",
        )
    return out
