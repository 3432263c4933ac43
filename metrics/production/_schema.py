"""The input schema of an ingest: which record keys fill which ``production_requests`` column.

A capture file (see :mod:`metrics.capture`) holds one flat JSON object per line, with
OpenTelemetry GenAI keys (``gen_ai.*``) and evalmon's own (``evalmon.*``). The ingest reads:

==============================  ==================================  ==========================
Column                          Key                                 Accepted values
==============================  ==================================  ==========================
``record_id``                   ``evalmon.record_id``               non-empty text; absent:
                                                                    the request id is used
``request_id`` (required)       ``evalmon.request_id``              non-empty text
``ts`` (required)               ``evalmon.timestamp``               ISO 8601 string (no offset
                                                                    means UTC), or Unix seconds
``app``                         ``evalmon.app``                     text
``route``                       ``evalmon.route``                   text
``user_hash``                   ``user.hash``                       text (already hashed)
``provider``                    ``gen_ai.provider.name`` (or the    text
                                older ``gen_ai.system``)
``request_model``               ``gen_ai.request.model``            text
``response_model``              ``gen_ai.response.model``           text
``prompt_ref``                  ``evalmon.prompt.ref``              text (``name@version``)
``input_messages``              ``evalmon.input.messages``          JSON array
``output``                      ``evalmon.output.text``             text
``contexts``                    ``evalmon.retrieval.contexts``      JSON array
``latency_s``                   ``evalmon.latency_s``               number >= 0
``input_tokens``                ``gen_ai.usage.input_tokens``       whole number >= 0
``output_tokens``               ``gen_ai.usage.output_tokens``      whole number >= 0
``finish_reason``               ``gen_ai.response.finish_reasons``  JSON array; its first item
``logprobs``                    ``evalmon.output.logprobs``         JSON array
``error_type``                  ``error.type``                      text
``error_message``               ``evalmon.error.message``           text
``http_status``                 ``http.response.status_code``       whole number >= 0
``status``                      ``evalmon.status``                  ``ok`` or ``error``;
                                                                    absent: ``error`` when an
                                                                    error is set, else ``ok``
==============================  ==================================  ==========================

Every key but the two required ones may be absent or ``null``; other keys are ignored. Text
keys take any JSON value (a number is stored as its text). Numbers must be JSON numbers
(``"12"`` is not one; ``12.0`` is a whole number). A line whose value has the wrong type is
quarantined with the key named, rather than loaded with the value silently dropped.

The same mapping serves Parquet files: a column named like the key (or like the table
column) is read, converted to the JSON form above, and checked the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "time", "text", "int", "number", "list", "first", "status"]

#: Longest raw text kept for a quarantined line.
RAW_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Field:
    """One ``production_requests`` column and the record keys it is read from.

    Attributes:
        column: The table column.
        keys: Record keys; the first one present wins.
        kind: How the value is typed and checked (see the module docstring).
        required: A line without a valid value is quarantined.
    """

    column: str
    keys: tuple[str, ...]
    kind: Kind
    required: bool = False


FIELDS: tuple[Field, ...] = (
    Field("record_id", ("evalmon.record_id",), "id"),
    Field("request_id", ("evalmon.request_id",), "id", required=True),
    Field("ts", ("evalmon.timestamp",), "time", required=True),
    Field("app", ("evalmon.app",), "text"),
    Field("route", ("evalmon.route",), "text"),
    Field("user_hash", ("user.hash",), "text"),
    Field("provider", ("gen_ai.provider.name", "gen_ai.system"), "text"),
    Field("request_model", ("gen_ai.request.model",), "text"),
    Field("response_model", ("gen_ai.response.model",), "text"),
    Field("prompt_ref", ("evalmon.prompt.ref",), "text"),
    Field("input_messages", ("evalmon.input.messages",), "list"),
    Field("output", ("evalmon.output.text",), "text"),
    Field("contexts", ("evalmon.retrieval.contexts",), "list"),
    Field("latency_s", ("evalmon.latency_s",), "number"),
    Field("input_tokens", ("gen_ai.usage.input_tokens",), "int"),
    Field("output_tokens", ("gen_ai.usage.output_tokens",), "int"),
    Field("finish_reason", ("gen_ai.response.finish_reasons",), "first"),
    Field("logprobs", ("evalmon.output.logprobs",), "list"),
    Field("error_type", ("error.type",), "text"),
    Field("error_message", ("evalmon.error.message",), "text"),
    Field("http_status", ("http.response.status_code",), "int"),
    Field("status", ("evalmon.status",), "status"),
)

#: Every record key the ingest reads.
INPUT_KEYS: tuple[str, ...] = tuple(key for f in FIELDS for key in f.keys)

#: Columns of ``production_requests`` filled from a record, in table order.
RECORD_COLUMNS: tuple[str, ...] = tuple(f.column for f in FIELDS)

_SQL_TYPES = {"ts": "TIMESTAMPTZ", "latency_s": "DOUBLE", "input_tokens": "BIGINT",
              "output_tokens": "BIGINT", "http_status": "INTEGER", "input_messages": "JSON",
              "contexts": "JSON", "logprobs": "JSON"}  # fmt: skip

_PROBLEMS: dict[Kind, str] = {
    "time": "is not an ISO 8601 time or Unix seconds",
    "int": "is not a whole number >= 0",
    "number": "is not a number >= 0",
    "list": "is not a JSON array",
    "first": "is not a JSON array",
    "status": "is not 'ok' or 'error'",
}
#: Kinds read as VARCHAR (the JSON value's text); the others are read as raw JSON.
_TEXT_KINDS: tuple[Kind, ...] = ("id", "time", "text", "status")


def sql_type(column: str) -> str:
    """The DuckDB type of a record column of ``production_requests``."""
    return _SQL_TYPES.get(column, "VARCHAR")


def quote(identifier: str) -> str:
    """Quote a SQL identifier (record keys contain dots)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def reader_type(kind: Kind) -> str:
    """How a key of ``kind`` is read: ``VARCHAR`` (its text) or ``JSON`` (raw, to check)."""
    return "VARCHAR" if kind in _TEXT_KINDS else "JSON"


def struct_spec() -> str:
    """The ``json_transform`` structure of every input key."""
    return json.dumps({key: reader_type(f.kind) for f in FIELDS for key in f.keys})


def _value(kind: Kind, raw: str) -> str:
    """SQL for the typed value of a key (NULL when absent or of the wrong type).

    Raw JSON comes back from the reader as text: numbers as ``12`` or ``12.5``, strings
    with their quotes, so a quoted ``"12"`` is not a number.
    """
    text = f"CAST({raw} AS VARCHAR)"
    if kind == "id":
        return f"nullif({raw}, '')"
    if kind == "time":
        seconds = f"TRY_CAST({raw} AS DOUBLE)"
        epoch = f"CASE WHEN {seconds} >= 0 AND {seconds} < 1e11 THEN to_timestamp({seconds}) END"
        return f"COALESCE(TRY_CAST({raw} AS TIMESTAMPTZ), {epoch})"
    if kind == "int":  # 12 and 12.0 are whole; 12.5 (cast to 13) and "12" are not
        whole = f"TRY_CAST({text} AS BIGINT)"
        return f"CASE WHEN {whole} >= 0 AND {whole} = TRY_CAST({text} AS DOUBLE) THEN {whole} END"
    if kind == "number":
        number = f"TRY_CAST({text} AS DOUBLE)"
        return f"CASE WHEN isfinite({number}) AND {number} >= 0 THEN {number} END"
    if kind == "list":
        return f"CASE WHEN starts_with({text}, '[') THEN {raw} END"
    if kind == "first":
        return f"CASE WHEN starts_with({text}, '[') THEN {raw} ->> '$[0]' END"
    if kind == "status":
        return f"CASE WHEN {raw} IN ('ok', 'error') THEN {raw} END"
    return raw


def _checked(f: Field) -> bool:
    return f.kind in _PROBLEMS


def _inner(f: Field) -> list[str]:
    """Inner SELECT items of a field: its value, and its raw JSON when it is checked."""
    raws = [f"j.{quote(k)}" for k in f.keys]
    values = [_value(f.kind, r) for r in raws]
    value = values[0] if len(values) == 1 else f"COALESCE({', '.join(values)})"
    if f.column == "record_id":
        value = f"COALESCE({value}, {_value('id', 'j.' + quote('evalmon.request_id'))})"
    if f.column == "status":
        errors = ("error.type", "evalmon.error.message")
        error = " OR ".join(f"j.{quote(k)} IS NOT NULL" for k in errors)
        value = f"COALESCE({value}, CASE WHEN {error} THEN 'error' ELSE 'ok' END)"
    items = [f"CAST({value} AS {sql_type(f.column)}) AS {f.column}"]
    if _checked(f):
        items.append(f"{raws[0]} AS _raw_{f.column}")
    return items


def select_sql(source: str, source_ok: str) -> str:
    """A query mapping ``source`` to stage rows.

    Each value is computed once, in the inner query; the outer one words the reason.

    Args:
        source: A query with ``file_id``, ``line_no`` and the struct ``j`` (NULL when the
            line could not be parsed).
        source_ok: SQL, over ``source``, that is false for a row that is not a JSON object.

    Returns:
        A query of ``file_id, line_no, reason, <record columns>``; ``reason`` is NULL when
        the line is valid.
    """
    whens = ["WHEN NOT _parsed THEN 'invalid JSON'", "WHEN NOT _object THEN 'not a JSON object'"]
    for f in FIELDS:
        if f.required:
            raw = f"_raw_{f.column}" if _checked(f) else f.column
            missing = literal(f"missing {f.keys[0]}")
            whens.append(f"WHEN {f.column} IS NULL AND {raw} IS NULL THEN {missing}")
    for f in FIELDS:
        if _checked(f):
            raw = f"_raw_{f.column}"
            wrong = f"{f.column} IS NULL"  # present, but no value came out of it
            if f.kind == "first":  # an empty list has no first item, and is fine
                wrong = f"NOT starts_with(CAST({raw} AS VARCHAR), '[')"
            if f.kind == "status":  # the value falls back to one derived from the error
                wrong = f"{raw} NOT IN ('ok', 'error')"
            reason = literal(f"{f.keys[0]} {_PROBLEMS[f.kind]}")
            whens.append(f"WHEN {raw} IS NOT NULL AND {wrong} THEN {reason}")
    inner = [
        "file_id",
        "line_no",
        "j IS NOT NULL AS _parsed",
        f"coalesce({source_ok}, false) AS _object",
    ]
    for f in FIELDS:
        inner.extend(_inner(f))
    reason = "CASE " + " ".join(whens) + " END AS reason"
    return (
        f"SELECT file_id, line_no, {reason}, {', '.join(RECORD_COLUMNS)} "
        f"FROM (SELECT {', '.join(inner)} FROM ({source}))"
    )


def stage_ddl(table: str) -> str:
    """DDL of the temporary table that holds the mapped lines of one ingest."""
    columns = ", ".join(f"{c} {sql_type(c)}" for c in RECORD_COLUMNS)
    return (
        f"CREATE OR REPLACE TEMP TABLE {table} "
        f"(file_id INTEGER, line_no BIGINT, reason VARCHAR, {columns})"
    )
