"""Tables of production monitoring (migration ``m005_production``).

* ``production_requests``: the audit log, one row per captured LLM call (a *record*), loaded
  from capture files by :func:`metrics.production.ingest_files`. ``record_id`` is the unique
  key: the capture library's ``evalmon.record_id``, or the request id for sources without
  one. ``request_id`` is not unique, since the calls of one request (the primary model, then
  the fallback) share it; a request's answer is its latest ``ok`` record. Uniqueness of
  ``record_id`` is enforced by the ingest (one writer, an anti-join in one transaction), not
  by a PRIMARY KEY: DuckDB's ART index on random uuid keys made bulk loads twice as slow
  and must be held in memory on every write. Since migration m007 its long and unique text
  columns (:data:`ZSTD_COLUMNS`) are stored with zstd.
* ``ingest_files``: what was read from each file, so a second ingest skips it (same size and
  mtime) or resumes after its last complete line (it grew, and its head and the bytes
  before the old end are unchanged).
* ``ingest_quarantine``: malformed lines (file, line, reason, the start of the raw text).
* ``judge_samples``: requests chosen for judging with a rubric version, and why.
* ``judge_scores``: one judge's verdict on one request with one rubric version.
* ``review_queue``: responses for a human to look at; one item per request and reason kind
  (several failures of one kind go in ``details``).
* ``judge_calibrations``: a judge's agreement with human labels, per rubric version.
"""

from __future__ import annotations

import duckdb

REQUEST_STATUSES = ("ok", "error")
REVIEW_STATUSES = ("open", "resolved")
SAMPLE_REASONS = ("rate", "min_per_group")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


PRODUCTION_REQUESTS = f"""
CREATE TABLE production_requests (
    record_id VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    app VARCHAR,
    route VARCHAR,
    user_hash VARCHAR,
    provider VARCHAR,
    request_model VARCHAR,
    response_model VARCHAR,
    prompt_ref VARCHAR,
    input_messages JSON,
    output VARCHAR,
    contexts JSON,
    latency_s DOUBLE,
    input_tokens BIGINT,
    output_tokens BIGINT,
    finish_reason VARCHAR,
    logprobs JSON,
    error_type VARCHAR,
    error_message VARCHAR,
    http_status INTEGER,
    status VARCHAR NOT NULL CHECK (status IN ({_in(REQUEST_STATUSES)})),
    source_file VARCHAR NOT NULL,
    source_line BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
)
"""

INGEST_FILES = """
CREATE TABLE ingest_files (
    path VARCHAR PRIMARY KEY,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    head_sha256 VARCHAR NOT NULL,
    edge_sha256 VARCHAR NOT NULL,
    consumed_bytes BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
)
"""

INGEST_QUARANTINE = """
CREATE TABLE ingest_quarantine (
    file VARCHAR NOT NULL,
    line BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR,
    first_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (file, line)
)
"""

JUDGE_SAMPLES = f"""
CREATE TABLE judge_samples (
    request_id VARCHAR NOT NULL,
    rubric_version VARCHAR NOT NULL,
    sampled_at TIMESTAMPTZ NOT NULL,
    salt VARCHAR NOT NULL,
    rate DOUBLE NOT NULL,
    chosen_by VARCHAR NOT NULL CHECK (chosen_by IN ({_in(SAMPLE_REASONS)})),
    PRIMARY KEY (request_id, rubric_version)
)
"""

JUDGE_SCORES = """
CREATE TABLE judge_scores (
    request_id VARCHAR NOT NULL,
    judge_ref VARCHAR NOT NULL,
    rubric_version VARCHAR NOT NULL,
    score DOUBLE,
    raw_score DOUBLE,
    reasoning VARCHAR,
    flags JSON,
    unscored_reason VARCHAR,
    redactions INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, judge_ref, rubric_version)
)
"""

REVIEW_QUEUE = f"""
CREATE TABLE review_queue (
    request_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    details JSON,
    status VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ({_in(REVIEW_STATUSES)})),
    label VARCHAR,
    resolved_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    PRIMARY KEY (request_id, reason)
)
"""

JUDGE_CALIBRATIONS = """
CREATE TABLE judge_calibrations (
    judge_ref VARCHAR NOT NULL,
    rubric_version VARCHAR NOT NULL,
    kappa DOUBLE,
    weighted_kappa DOUBLE,
    spearman DOUBLE,
    n INTEGER NOT NULL,
    unscored INTEGER,
    exact_agreement DOUBLE,
    within_one DOUBLE,
    min_kappa DOUBLE,
    confusion JSON,
    calibrated BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (judge_ref, rubric_version, created_at)
)
"""

# Added to judge_scores by migration m006: the judged request's latest ``ok`` record.
JUDGE_SCORE_REQUEST_COLUMNS = (
    ("request_ts", "TIMESTAMPTZ"),
    ("provider", "VARCHAR"),
    ("request_model", "VARCHAR"),
    ("prompt_ref", "VARCHAR"),
)

# The latest ``ok`` record of each request named in the table or view ``{judged}``.
LATEST_OK_REQUEST = """
SELECT p.request_id, p.ts, p.provider, p.request_model, p.prompt_ref
FROM production_requests p SEMI JOIN {judged} s ON p.request_id = s.request_id
WHERE p.status = 'ok'
QUALIFY row_number() OVER (PARTITION BY p.request_id ORDER BY p.ts DESC) = 1
"""


def link_judge_scores(conn: duckdb.DuckDBPyConnection) -> None:
    """Fill the request columns of the judge scores that lack them, where the record exists."""
    conn.execute(
        "UPDATE judge_scores j SET request_ts = p.ts, provider = p.provider, "
        "request_model = p.request_model, prompt_ref = p.prompt_ref FROM ("
        + LATEST_OK_REQUEST.format(
            judged="(SELECT request_id FROM judge_scores WHERE request_ts IS NULL)"
        )
        + ") p WHERE j.request_id = p.request_id AND j.request_ts IS NULL"
    ).fetchall()


#: Columns of ``production_requests`` stored with zstd (migration m007): long or unique text.
#: DuckDB's default choice weighs FSST and dictionary encodings for every segment: writing 1M
#: capture records took 2.2 s that way and 1.2 s with zstd, for a file no larger (77 vs 100
#: MB). ``user_hash`` and the mostly empty error text compress better by default.
ZSTD_COLUMNS = ("record_id", "request_id", "input_messages", "output", "contexts", "logprobs")


def _with_zstd(ddl: str, table: str) -> str:
    """``ddl`` for ``table``, its :data:`ZSTD_COLUMNS` declared ``USING COMPRESSION zstd``."""
    lines = ddl.replace("CREATE TABLE production_requests", f"CREATE TABLE {table}").split("\n")
    for i, line in enumerate(lines):
        words = line.split()
        if line.startswith("    ") and words and words[0] in ZSTD_COLUMNS:
            body, comma = (line[:-1], ",") if line.endswith(",") else (line, "")
            lines[i] = f"{body} USING COMPRESSION zstd{comma}"
    return "\n".join(lines)


def store_production_requests_zstd(conn: duckdb.DuckDBPyConnection) -> None:
    """Rebuild ``production_requests`` with :data:`ZSTD_COLUMNS` compressed by zstd.

    DuckDB cannot change a column's compression in place, so the rows are copied, in their
    order, into a new table that takes the old one's name.
    """
    conn.execute(_with_zstd(PRODUCTION_REQUESTS, "production_requests_zstd"))
    conn.execute("INSERT INTO production_requests_zstd SELECT * FROM production_requests")
    conn.execute("DROP TABLE production_requests")
    conn.execute("ALTER TABLE production_requests_zstd RENAME TO production_requests")


PRODUCTION_TABLES = (
    "production_requests",
    "ingest_files",
    "ingest_quarantine",
    "judge_samples",
    "judge_scores",
    "review_queue",
    "judge_calibrations",
)


def create_production_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the production-monitoring tables (the body of migration ``m005_production``)."""
    for ddl in (
        PRODUCTION_REQUESTS,
        INGEST_FILES,
        INGEST_QUARANTINE,
        JUDGE_SAMPLES,
        JUDGE_SCORES,
        REVIEW_QUEUE,
        JUDGE_CALIBRATIONS,
    ):
        conn.execute(ddl)
