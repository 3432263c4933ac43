"""The deterministic sample of production requests to judge.

A request is in the sample when the first 15 hex digits of ``md5(salt + request_id)``, as
an integer, are under ``rate * 16**15`` (why that is stable across machines and DuckDB
versions: :mod:`metrics.production._policy`, whose :func:`in_sample` is the Python twin).

The same key orders requests when more are needed or fewer allowed:

* ``min_per_group``: each (model, prompt version) group of the window gets at least this
  many sampled requests (counting those sampled before with the same rubric version): a
  rare group is topped up with its next requests by key order (``chosen_by =
  'min_per_group'``; weight them apart when estimating the population's quality);
* ``cap_requests`` / ``cap_cost_usd``: at most this many requests per run, the first ones
  of each group first (round-robin by rank in the group, then by key), so a cap never
  starves a rare group.

A request is a ``request_id`` with an ``ok`` record in the window; its group is its latest
ok record's model (the response model, else the requested one) and prompt ref. Requests
already in ``judge_samples`` or ``judge_scores`` with the same rubric version are never
chosen again, so a run over an overlapping window picks only new requests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb

from metrics.production._policy import (
    KEY_DIGITS,
    KEY_SCALE,
    SamplePolicy,
    SampleResult,
    threshold,
)
from metrics.store import Store

_TEMP = "_evalmon_sample"
_GROUP = "coalesce(response_model, request_model, '') AS model, coalesce(prompt_ref, '') AS prompt"


def _hit_sql(rate: float) -> str:
    """SQL that is true for a request under the rate (``h`` is its md5 hex digest).

    ``h < hex(threshold)`` compares a 32-digit digest with a 15-digit bound: it holds
    exactly when the digest's first 15 digits are below the bound (equal digits make the
    longer string greater), i.e. when ``key < threshold``.
    """
    bound = threshold(rate)
    if bound >= KEY_SCALE:
        return "true"
    return f"h < '{bound:0{KEY_DIGITS}x}'"


def _window(since: datetime | None, until: datetime | None) -> str:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")
    where = ["status = 'ok'"]
    if since is not None:
        where.append("ts >= $since")
    if until is not None:
        where.append("ts < $until")
    return " AND ".join(where)


_NOT_JUDGED = """
    NOT EXISTS (SELECT 1 FROM judge_samples j
                WHERE j.request_id = c.request_id AND j.rubric_version = $rubric)
    AND NOT EXISTS (SELECT 1 FROM judge_scores s
                    WHERE s.request_id = c.request_id AND s.rubric_version = $rubric)
"""


def _requests(window: str, where: str, groups: str | None = None) -> str:
    """Requests (latest ok record in the window) matching ``where``, with key and group.

    ``where`` may use ``h``, the request's md5 hex digest; ``groups`` names a table of
    (model, prompt) pairs to keep (hashing only their records).
    """
    semi = f"SEMI JOIN {groups} g ON g.model = r.model AND g.prompt = r.prompt" if groups else ""
    requests = f"""
        SELECT request_id, arg_max(model, ts) AS model, arg_max(prompt, ts) AS prompt,
               any_value(h) AS h
        FROM (SELECT r.*, md5($salt || r.request_id) AS h
              FROM (SELECT request_id, ts, {_GROUP} FROM production_requests WHERE {window}) r
              {semi}) x
        {"" if groups else f"WHERE {where}"}
        GROUP BY request_id
    """
    # With groups, ``where`` goes after the grouping: under it, DuckDB would push it below
    # the join and hash every request of the window rather than those of the groups.
    return f"SELECT * FROM ({requests}) WHERE {where}" if groups else requests


def choose_sample(
    target: Store | duckdb.DuckDBPyConnection,
    *,
    rubric_version: str,
    rate: float = 0.01,
    salt: str = "evalmon",
    since: datetime | None = None,
    until: datetime | None = None,
    min_per_group: int = 0,
    cap_requests: int | None = None,
    cap_cost_usd: float | None = None,
    cost_per_judgment_usd: float | None = None,
    dry_run: bool = False,
) -> SampleResult:
    """Choose the requests of ``[since, until)`` to judge with ``rubric_version``.

    See the module docstring for the rule. Unless ``dry_run``, the chosen requests are
    added to ``judge_samples`` (so the next run does not choose them again).

    Raises:
        ValueError: A bad setting (a rate outside 0..1, a naive datetime, a cost cap
            without a cost per judgment...), with what to change.
    """
    if not rubric_version:
        raise ValueError("rubric_version is empty: pass the judge rubric's version")
    policy = SamplePolicy(
        rate=rate, salt=salt, min_per_group=min_per_group, cap_requests=cap_requests,
        cap_cost_usd=cap_cost_usd, cost_per_judgment_usd=cost_per_judgment_usd,
    )  # fmt: skip
    window = _window(since, until)
    if isinstance(target, Store):
        with target.connection() as conn:
            return _choose(conn, rubric_version, policy, window, since, until, dry_run)
    return _choose(target, rubric_version, policy, window, since, until, dry_run)


def _choose(
    conn: duckdb.DuckDBPyConnection, rubric: str, policy: SamplePolicy, window: str,
    since: datetime | None, until: datetime | None, dry_run: bool,
) -> SampleResult:  # fmt: skip
    started = time.perf_counter()
    params: dict[str, object] = {"salt": policy.salt, "rubric": rubric}
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    hit = _hit_sql(policy.rate)
    count = f"SELECT count(*) FROM production_requests WHERE {window}"
    ((window_records,),) = _run(conn, count, params).fetchall()
    _run(
        conn,
        f"CREATE OR REPLACE TEMP TABLE {_TEMP} AS SELECT *, 'rate' AS chosen_by FROM "
        f"({_requests(window, hit)}) c WHERE {_NOT_JUDGED}",
        params,
    )
    try:
        if policy.min_per_group > 0:
            _top_up(conn, policy.min_per_group, window, hit, params)
        limit = "" if policy.max_requests is None else f"LIMIT {policy.max_requests}"
        chosen = conn.execute(
            f"SELECT request_id, chosen_by FROM {_TEMP} ORDER BY "
            "row_number() OVER (PARTITION BY model, prompt ORDER BY h, request_id), h, "
            f"request_id {limit}"
        ).fetchall()
        ((total, by_rate),) = conn.execute(
            f"SELECT count(*), count(*) FILTER (chosen_by = 'rate') FROM {_TEMP}"
        ).fetchall()
        if not dry_run and chosen:
            _record(conn, chosen, rubric, policy)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    price = policy.cost_per_judgment_usd
    return SampleResult(
        rubric_version=rubric,
        request_ids=tuple(r[0] for r in chosen),
        by_rate=by_rate,
        topped_up=total - by_rate,
        capped=total - len(chosen),
        window_records=window_records,
        estimated_cost_usd=None if price is None else len(chosen) * price,
        recorded=not dry_run,
        seconds=time.perf_counter() - started,
    )


def _top_up(
    conn: duckdb.DuckDBPyConnection, minimum: int, window: str, hit: str,
    params: dict[str, object],
) -> None:  # fmt: skip
    """Add each short group's next requests by key order, up to ``minimum`` per group."""
    _run(
        conn,
        f"""
        CREATE OR REPLACE TEMP TABLE {_TEMP}_need AS
        WITH groups AS (SELECT DISTINCT {_GROUP} FROM production_requests WHERE {window}),
        before AS (
            SELECT model, prompt, count(DISTINCT request_id) AS n FROM (
                SELECT p.request_id, {_GROUP} FROM production_requests p
                SEMI JOIN judge_samples j ON j.request_id = p.request_id
                    AND j.rubric_version = $rubric
                WHERE {window}) GROUP BY ALL),
        now AS (SELECT model, prompt, count(*) AS n FROM {_TEMP} GROUP BY ALL)
        SELECT g.model, g.prompt,
               {minimum} - coalesce(b.n, 0) - coalesce(c.n, 0) AS need
        FROM groups g
        LEFT JOIN before b ON b.model = g.model AND b.prompt = g.prompt
        LEFT JOIN now c ON c.model = g.model AND c.prompt = g.prompt
        WHERE {minimum} - coalesce(b.n, 0) - coalesce(c.n, 0) > 0
        """,
        params,
    )
    try:
        _run(
            conn,
            f"""
            INSERT INTO {_TEMP}
            SELECT request_id, model, prompt, h, 'min_per_group' FROM (
                SELECT c.*, n.need,
                       row_number() OVER (PARTITION BY c.model, c.prompt
                                          ORDER BY c.h, c.request_id) AS k
                FROM ({_requests(window, f"NOT ({hit})", f"{_TEMP}_need")}) c
                JOIN {_TEMP}_need n ON n.model = c.model AND n.prompt = c.prompt
                WHERE {_NOT_JUDGED})
            WHERE k <= need
            """,
            params,
        )
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_TEMP}_need")


def _run(
    conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the named parameters it uses (DuckDB refuses extra ones)."""
    return conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


def _record(
    conn: duckdb.DuckDBPyConnection, chosen: list[tuple[str, str]], rubric: str,
    policy: SamplePolicy,
) -> None:  # fmt: skip
    """Append the chosen requests to ``judge_samples`` (one statement: all or nothing)."""
    conn.execute(
        "INSERT INTO judge_samples (request_id, rubric_version, sampled_at, salt, rate, chosen_by) "
        "SELECT unnest($ids), $rubric, $now, $salt, $rate, unnest($why)",
        {
            "ids": [r[0] for r in chosen],
            "why": [r[1] for r in chosen],
            "rubric": rubric,
            "now": datetime.now(UTC),
            "salt": policy.salt,
            "rate": policy.rate,
        },
    )
