"""Parquet input: columns named like the record keys (or the table columns), checked alike.

Each column is turned into what the JSONL reader would have produced for that key: text
keys become VARCHAR (nested values as JSON text), the others raw JSON (``to_json``; a
VARCHAR column of an array key is parsed as JSON text). The same SQL then maps and checks
them, so a Parquet file and the JSONL file it was made from load the same rows. Row numbers
(from 1) stand in for line numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from metrics.production._schema import FIELDS, RAW_CHARS, Kind, literal, quote, reader_type

_ARRAY_KINDS = ("list", "first")
_STRING_TYPES = ("VARCHAR", "JSON")


def _nested(sql_type: str) -> bool:
    return sql_type.endswith("]") or sql_type.startswith(("STRUCT", "MAP", "UNION"))


def _convert(column: str, sql_type: str, kind: Kind) -> str:
    """SQL turning a Parquet column into the reader's form for a key of ``kind``."""
    col = quote(column)
    if reader_type(kind) == "VARCHAR":
        if sql_type in _STRING_TYPES:
            return f"CAST({col} AS VARCHAR)"
        if _nested(sql_type):
            return f"CAST(to_json({col}) AS VARCHAR)"
        return f"CAST({col} AS VARCHAR)"
    if kind in _ARRAY_KINDS and sql_type in _STRING_TYPES:
        return f"try(json({col}))"
    return f"to_json({col})"


def parquet_columns(conn: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """Column name to DuckDB type of a Parquet file."""
    rows = conn.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(str(path))})").fetchall()
    return {r[0]: r[1] for r in rows}


def parquet_source(conn: duckdb.DuckDBPyConnection, path: Path, file_id: int) -> str:
    """A query of ``file_id``, ``line_no`` and the struct ``j`` (the reader's form of each key)."""
    columns = parquet_columns(conn, path)
    items: list[str] = []
    for f in FIELDS:
        for i, key in enumerate(f.keys):
            name = key if key in columns else (f.column if i == 0 else None)
            if name is not None and name in columns:
                value = _convert(name, columns[name], f.kind)
            else:
                value = f"NULL::{reader_type(f.kind)}"
            items.append(f"{quote(key)} := {value}")
    return (
        f"SELECT {file_id} AS file_id, file_row_number + 1 AS line_no, "
        f"struct_pack({', '.join(items)}) AS j "
        f"FROM read_parquet({literal(str(path))}, file_row_number = true)"
    )


def parquet_raw_rows(
    conn: duckdb.DuckDBPyConnection, path: Path, rows: list[int]
) -> dict[int, str]:
    """The given rows (numbered from 1) as JSON text, cut to the quarantine's length."""
    if not rows:
        return {}
    found = conn.execute(
        f"SELECT file_row_number + 1, CAST(to_json(t) AS VARCHAR) "
        f"FROM read_parquet({literal(str(path))}, file_row_number = true) t "
        "WHERE list_contains(?, file_row_number + 1)",
        [rows],
    ).fetchall()
    raw: dict[int, str] = {}
    for number, text in found:
        row = json.loads(text)
        row.pop("file_row_number", None)
        raw[int(number)] = json.dumps(row, ensure_ascii=False)[:RAW_CHARS]
    return raw
