"""Schema migrations: from empty, idempotent, transactional, versions recorded."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from metrics.store import (
    MIGRATIONS,
    PositionResultRow,
    SchemaVersionError,
    Store,
    applied_migrations,
    connect,
    migrate,
)

TABLES = {
    "runs", "calls", "scores", "position_results", "response_cache", "gate_decisions",
    "schema_version", "production_requests", "ingest_files", "ingest_quarantine",
    "judge_samples", "judge_scores", "review_queue", "judge_calibrations",
}  # fmt: skip


def _tables(db: Path) -> set[str]:
    with connect(db) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }


def test_migrate_from_empty_creates_tables_and_records_versions(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "dir" / "evalmon.duckdb"  # parent dirs are created
    applied = Store(db).migrate()

    assert [(m.version, m.name) for m in applied] == [
        (i, fn.__name__) for i, fn in enumerate(MIGRATIONS, start=1)
    ]
    assert applied[0].name == "m001_runs_calls_scores_cache"
    assert applied[0].applied_at.utcoffset() is not None  # timezone-aware
    assert _tables(db) == TABLES
    with connect(db) as conn:
        recorded = applied_migrations(conn)
    assert [(m.version, m.name) for m in recorded] == [(m.version, m.name) for m in applied]


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    assert Store(db).migrate() != []
    assert Store(db).migrate() == []  # a new store on a migrated file applies nothing
    with connect(db) as conn:
        assert migrate(conn) == []
        rows = conn.execute("SELECT count(*) FROM schema_version").fetchall()
    assert rows == [(len(MIGRATIONS),)]


def test_calls_table_has_the_specified_types(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    Store(db).migrate()
    with connect(db) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'calls'"
            ).fetchall()
        )
        pk = conn.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = 'calls' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    assert types["logprobs"] == "DOUBLE[]"
    assert types["started_at"] == types["completed_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["cached"] == "BOOLEAN"
    assert pk == [(["run_id", "call_key"],)]
    assert "api_key" not in types and "headers" not in types


def _ok(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE TABLE one (a INTEGER)")


def _fails_halfway(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE TABLE two (a INTEGER)")
    raise RuntimeError("boom")


def test_each_migration_runs_in_a_transaction(tmp_path: Path) -> None:
    with connect(tmp_path / "m.duckdb") as conn:
        with pytest.raises(RuntimeError, match="boom"):
            migrate(conn, [_ok, _fails_halfway])
        tables = {
            r[0]
            for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        versions = [(m.version, m.name) for m in applied_migrations(conn)]
    assert "one" in tables and "two" not in tables  # the failed one was rolled back
    assert versions == [(1, "_ok")]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    Store(db).migrate()
    with connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'm099_future', now())")
    with pytest.raises(SchemaVersionError, match="version 99"):
        Store(db).migrate()


def test_a_renamed_migration_is_refused(tmp_path: Path) -> None:
    with connect(tmp_path / "m.duckdb") as conn:
        migrate(conn, [_ok])
        with pytest.raises(SchemaVersionError, match="_ok"):
            migrate(conn, [_fails_halfway])


def test_m003_adds_skipped_to_a_v2_database(tmp_path: Path) -> None:
    """A store made before ``skipped`` existed keeps its rows, which read 0 skipped."""
    db = tmp_path / "v2.duckdb"
    with connect(db) as conn:
        migrate(conn, MIGRATIONS[:2])
        conn.execute(
            "INSERT INTO position_results VALUES ('old', 'qa', 'local:smollm2', 20, 'position', "
            "'original', 0, 10, 6, 2, 0.6, 0.31, 0.83, now())"
        )
    applied = Store(db).migrate()
    assert (applied[0].version, applied[0].name) == (3, "m003_position_skipped")
    assert [m.name for m in applied] == [fn.__name__ for fn in MIGRATIONS[2:]]
    with connect(db) as conn:
        old = conn.execute(
            "SELECT n, errors, skipped FROM position_results WHERE run_id = 'old'"
        ).fetchall()
        column = conn.execute(
            "SELECT data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'position_results' AND column_name = 'skipped'"
        ).fetchall()
    assert old == [(10, 2, 0)]
    assert column == [("INTEGER", "NO")]
    row = PositionResultRow(
        run_id="new", task="kv", model_ref="local:smollm2", context_size=140,
        setting="position", strategy="original", position=0, n=0, correct=0, errors=0,
        skipped=3, accuracy=None, ci_low=0.0, ci_high=1.0,
    )  # fmt: skip
    with Store(db) as store:
        store.write_position_results("new", [row])
        (stored,) = store.position_results("new").to_pylist()
    assert (stored["skipped"], stored["n"], stored["accuracy"]) == (3, 0, None)


def test_m006_links_existing_judge_scores_to_their_latest_ok_record(tmp_path: Path) -> None:
    """Scores stored before m006 get the time, provider, model and prompt of the request."""
    db = tmp_path / "v5.duckdb"
    with connect(db) as conn:
        migrate(conn, MIGRATIONS[:5])
        conn.execute(
            "INSERT INTO production_requests (record_id, request_id, ts, provider, "
            "request_model, prompt_ref, status, source_file, source_line, ingested_at) VALUES "
            "('a', 'r1', '2026-01-01 10:00:00+00', 'anthropic', 'claude', 'qa@1', 'ok', 'f', 1, now()),"
            "('b', 'r1', '2026-01-01 10:00:05+00', 'openai', 'gpt-4o', 'qa@1', 'ok', 'f', 2, now()),"
            "('c', 'r1', '2026-01-01 10:00:09+00', 'openai', 'gpt-4o', 'qa@1', 'error', 'f', 3, now())"
        )
        conn.execute(
            "INSERT INTO judge_scores (request_id, judge_ref, rubric_version, score, created_at) "
            "VALUES ('r1', 'j', 'faithfulness@1#a', 1.0, now()), "
            "('gone', 'j', 'faithfulness@1#a', 0.0, now())"
        )
    applied = Store(db).migrate()
    assert applied[0].name == "m006_judge_score_request"
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT request_id, strftime(request_ts, '%H:%M:%S'), provider, request_model, "
            "prompt_ref FROM judge_scores ORDER BY request_id"
        ).fetchall()
    assert rows == [
        ("gone", None, None, None, None),
        ("r1", "10:00:05", "openai", "gpt-4o", "qa@1"),
    ]


def test_m007_rebuilds_production_requests_with_zstd_keeping_rows_in_order(
    tmp_path: Path,
) -> None:
    """The long text columns are stored with zstd afterwards; rows, order and checks stay."""
    db = tmp_path / "v6.duckdb"
    with connect(db) as conn:
        migrate(conn, MIGRATIONS[:6])
        conn.execute(
            "INSERT INTO production_requests (record_id, request_id, ts, output, contexts, "
            "status, source_file, source_line, ingested_at) "
            "SELECT 'rec-' || i, 'req-' || (i // 2), TIMESTAMPTZ '2026-01-01 00:00:00+00' "
            "+ to_seconds(i), 'answer ' || repeat('x', 200) || i, '[\"doc ' || i || '\"]', "
            "'ok', 'f.jsonl', i + 1, now() FROM range(3000) t(i)"
        )
    applied = Store(db).migrate()
    assert [m.name for m in applied] == ["m007_production_zstd"]
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT record_id, source_line FROM production_requests"  # insertion order
        ).fetchall()
        assert rows == [(f"rec-{i}", i + 1) for i in range(3000)]
        conn.execute("CHECKPOINT")
        compression = dict(
            conn.execute(
                "SELECT column_name, string_agg(DISTINCT compression, ',') "
                "FROM pragma_storage_info('production_requests') "
                "WHERE segment_type IN ('VARCHAR', 'JSON') GROUP BY 1"
            ).fetchall()
        )
        with pytest.raises(duckdb.ConstraintException):
            conn.execute(
                "INSERT INTO production_requests (record_id, request_id, ts, status, "
                "source_file, source_line, ingested_at) "
                "VALUES ('x', 'y', now(), 'maybe', 'f', 1, now())"
            )
    for column in ("record_id", "request_id", "output", "contexts"):
        assert compression[column] == "ZSTD", (column, compression)
    assert compression["source_file"] != "ZSTD"
