"""Ingest of capture files: mapping, idempotence, duplicates, quarantine, partial lines, Parquet."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from metrics.production import INPUT_KEYS, IngestReport, ingest_files
from metrics.production import _ingest as ingest_module
from metrics.store import Store, connect

T = "2025-06-01T12:00:00Z"


def record(i: int | str, **fields: Any) -> dict[str, Any]:
    """A capture record (the keys the capture library writes) for request ``r<i>``."""
    base: dict[str, Any] = {
        "evalmon.schema_version": 1,
        "evalmon.record_id": f"rec-{i}",
        "evalmon.request_id": f"r{i}",
        "evalmon.timestamp": T,
        "evalmon.app": "rag-assistant",
        "evalmon.route": "answer",
        "evalmon.status": "ok",
        "evalmon.latency_s": 1.25,
        "evalmon.prompt.ref": "rag_qa@1.0.1",
        "evalmon.input.messages": [{"role": "user", "content": f"question {i}"}],
        "evalmon.output.text": f"answer {i}",
        "evalmon.output.logprobs": None,
        "evalmon.retrieval.contexts": ["doc a", "doc b"],
        "evalmon.error.message": None,
        "user.hash": "ab12",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "error.type": None,
        "http.response.status_code": None,
    }
    base.update(fields)
    return base


def line(i: int | str, **fields: Any) -> str:
    return json.dumps(record(i, **fields))


def write(path: Path, *lines: str, end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def rows(store: Store, columns: str = "record_id") -> list[tuple[Any, ...]]:
    with store.connection() as conn:
        return conn.execute(
            f"SELECT {columns} FROM production_requests ORDER BY source_file, source_line"
        ).fetchall()


def quarantine(store: Store) -> list[tuple[str, int, str]]:
    with store.connection() as conn:
        found = conn.execute(
            "SELECT file, line, reason FROM ingest_quarantine ORDER BY file, line"
        ).fetchall()
    return [(Path(f).name, n, r) for f, n, r in found]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "evalmon.duckdb")


def test_a_capture_record_fills_every_column(store: Store, tmp_path: Path) -> None:
    ts = "2025-06-01T12:00:00.123456Z"
    report = ingest_files(store, write(tmp_path / "a.jsonl", line(1, **{"evalmon.timestamp": ts})))

    assert (report.rows_added, report.duplicates_skipped, report.quarantined) == (1, 0, ())
    with store.connection() as conn:
        got = conn.execute("SELECT * FROM production_requests").fetchone()
        names = [d[0] for d in conn.description or []]
    assert got is not None
    row = dict(zip(names, got, strict=True))
    assert row["ts"] == datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert json.loads(row["input_messages"]) == [{"role": "user", "content": "question 1"}]
    assert json.loads(row["contexts"]) == ["doc a", "doc b"]
    assert {k: row[k] for k in ("record_id", "request_id", "app", "route", "user_hash")} == {
        "record_id": "rec-1", "request_id": "r1", "app": "rag-assistant", "route": "answer",
        "user_hash": "ab12",
    }  # fmt: skip
    assert (row["provider"], row["request_model"], row["response_model"]) == (
        "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
    )  # fmt: skip
    assert (row["prompt_ref"], row["output"], row["finish_reason"]) == (
        "rag_qa@1.0.1", "answer 1", "end_turn",
    )  # fmt: skip
    assert (row["latency_s"], row["input_tokens"], row["output_tokens"]) == (1.25, 1200, 300)
    assert (row["status"], row["logprobs"], row["error_type"], row["http_status"]) == (
        "ok", None, None, None,
    )  # fmt: skip
    assert (Path(row["source_file"]).name, row["source_line"]) == ("a.jsonl", 1)
    assert row["ingested_at"].tzinfo is not None


def test_the_mapping_reads_the_capture_librarys_keys() -> None:
    capture = pytest.importorskip("metrics.capture")
    wanted = set(INPUT_KEYS) - {"gen_ai.system"}  # an older OpenTelemetry name, also read
    assert wanted <= set(capture.RECORD_KEYS), wanted - set(capture.RECORD_KEYS)


def test_a_record_written_by_the_capture_library_loads(store: Store, tmp_path: Path) -> None:
    capture = pytest.importorskip("metrics.capture")
    rec = capture.ProductionRecord(
        record_id="rec-x", request_id="req-x", timestamp=datetime(2025, 6, 1, tzinfo=UTC),
        app="app", status="error", latency_s=0.5, provider_name="openai",
        request_model="gpt-4o", error_type="RateLimitError", error_message="slow down",
        http_status=429,
    )  # fmt: skip
    write(tmp_path / "c.jsonl", rec.model_dump_json())
    assert ingest_files(store, tmp_path / "c.jsonl").rows_added == 1
    assert rows(store, "request_id, status, error_type, error_message, http_status") == [
        ("req-x", "error", "RateLimitError", "slow down", 429)
    ]


def test_values_are_converted(store: Store, tmp_path: Path) -> None:
    minimal = {"evalmon.request_id": "m", "evalmon.timestamp": "2025-06-01T14:00:00+02:00"}
    epoch = {"evalmon.request_id": "e", "evalmon.timestamp": 1748779200.5, "error.type": "Boom"}
    naive = {"evalmon.request_id": "n", "evalmon.timestamp": "2025-06-01 12:00:00",
             "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 1e3}  # fmt: skip
    write(tmp_path / "a.jsonl", *(json.dumps(r) for r in (minimal, epoch, naive)))
    report = ingest_files(store, tmp_path / "a.jsonl")

    assert report.quarantined == ()
    noon = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    # No record id: the request id; no status: derived from the error.
    assert rows(store, "record_id, request_id, ts, status, provider, input_tokens") == [
        ("m", "m", noon, "ok", None, None),
        ("e", "e", datetime(2025, 6, 1, 12, 0, 0, 500000, tzinfo=UTC), "error", None, None),
        ("n", "n", noon, "ok", "openai", 1000),
    ]


def test_ingesting_twice_adds_nothing(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", line(1), line(2))
    write(tmp_path / "b.jsonl", line(3))
    first = ingest_files(store, tmp_path)
    second = ingest_files(store, tmp_path)

    assert first.rows_added == 3
    assert (second.rows_added, second.duplicates_skipped, second.files_skipped) == (0, 0, 2)
    assert [f.action for f in second.files] == ["unchanged", "unchanged"]
    assert len(rows(store)) == 3


def test_a_touched_file_is_checked_and_a_rewritten_one_read_again(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path / "a.jsonl", line(1), line(2))
    ingest_files(store, path)
    os.utime(path, ns=(1, 1))  # same content, new mtime: checked, nothing left to parse

    again = ingest_files(store, path)
    assert (again.files[0].action, again.files[0].lines, again.rows_added) == ("resumed", 0, 0)
    rewritten = write(path, line(3), line(1))  # rewritten: read from the start
    third = ingest_files(store, rewritten)
    assert (third.files[0].action, third.rows_added, third.duplicates_skipped) == ("read", 1, 1)


def test_duplicates_are_skipped_within_and_across_files(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", line(1), line(2), line(1, **{"evalmon.output.text": "again"}))
    write(tmp_path / "b.jsonl", line(2), line(3))
    report = ingest_files(store, tmp_path)

    assert (report.rows_added, report.duplicates_skipped) == (3, 2)
    assert [(f.rows_added, f.duplicates_skipped) for f in report.files] == [(2, 1), (1, 1)]
    # The first occurrence wins.
    assert rows(store, "record_id, output, source_line") == [
        ("rec-1", "answer 1", 1), ("rec-2", "answer 2", 2), ("rec-3", "answer 3", 2),
    ]  # fmt: skip
    write(tmp_path / "c.jsonl", line(3), line(4))  # a later ingest: known ids are skipped
    later = ingest_files(store, tmp_path / "c.jsonl")
    assert (later.rows_added, later.duplicates_skipped) == (1, 1)


def test_without_a_record_id_the_request_id_is_the_key(store: Store, tmp_path: Path) -> None:
    bare = {"evalmon.request_id": "req-1", "evalmon.timestamp": T}
    write(tmp_path / "a.jsonl", json.dumps(bare))
    write(tmp_path / "b.jsonl", json.dumps(bare | {"evalmon.output.text": "other"}))
    report = ingest_files(store, tmp_path)
    assert (report.rows_added, report.duplicates_skipped) == (1, 1)


def test_fallback_attempts_of_one_request_are_separate_records(
    store: Store, tmp_path: Path
) -> None:
    primary = line("p", **{"evalmon.request_id": "req", "evalmon.status": "error"})
    fallback = line("f", **{"evalmon.request_id": "req", "gen_ai.request.model": "gpt-4o"})
    assert ingest_files(store, write(tmp_path / "a.jsonl", primary, fallback)).rows_added == 2
    assert rows(store, "request_id, status") == [("req", "error"), ("req", "ok")]


BAD_CORPUS = [
    (line(1), None),
    ('{"evalmon.request_id": "x", "evalmon.timestamp": ', "invalid JSON: Expecting value at column 50"),
    ("", None),  # a blank line is skipped
    (line(2)[:40], "invalid JSON: Unterminated string starting at column 31"),
    (json.dumps({"evalmon.timestamp": T}), "missing evalmon.request_id"),
    (json.dumps({"evalmon.request_id": "no-time"}), "missing evalmon.timestamp"),
    (line(3, **{"evalmon.timestamp": "yesterday"}), "evalmon.timestamp is not an ISO 8601 time or Unix seconds"),
    (line(4, **{"gen_ai.usage.input_tokens": "lots"}), "gen_ai.usage.input_tokens is not a whole number >= 0"),
    (line(5, **{"gen_ai.usage.output_tokens": 12.5}), "gen_ai.usage.output_tokens is not a whole number >= 0"),
    (line(6, **{"gen_ai.usage.output_tokens": -1}), "gen_ai.usage.output_tokens is not a whole number >= 0"),
    (line(7, **{"gen_ai.usage.input_tokens": "12"}), "gen_ai.usage.input_tokens is not a whole number >= 0"),
    (line(8, **{"evalmon.latency_s": "fast"}), "evalmon.latency_s is not a number >= 0"),
    (line(9, **{"evalmon.retrieval.contexts": "doc a"}), "evalmon.retrieval.contexts is not a JSON array"),
    (line(10, **{"evalmon.status": "maybe"}), "evalmon.status is not 'ok' or 'error'"),
    ("[1, 2]", "not a JSON object"),
    ("null", "not a JSON object"),
    ("   ", None),  # whitespace only: skipped too
    (line(11), None),
]  # fmt: skip


def test_the_bad_input_corpus_is_quarantined_with_exact_lines(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", *(text for text, _ in BAD_CORPUS))
    report = ingest_files(store, path)

    expected = [(n, why) for n, (_, why) in enumerate(BAD_CORPUS, start=1) if why]
    assert [(q.line, q.reason) for q in report.quarantined] == expected
    assert quarantine(store) == [("bad.jsonl", n, why) for n, why in expected]
    assert report.rows_added == 2
    assert rows(store, "record_id, source_line") == [("rec-1", 1), ("rec-11", len(BAD_CORPUS))]
    assert report.files[0].quarantined == len(expected)
    with store.connection() as conn:
        raw = conn.execute("SELECT raw FROM ingest_quarantine WHERE line = 2").fetchone()
    assert raw == ('{"evalmon.request_id": "x", "evalmon.timestamp": ',)


def test_quarantine_is_not_repeated_and_raw_text_is_cut(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", "{" + "x" * 5000, line(1))
    ingest_files(store, path)
    os.utime(path, ns=(1, 1))
    again = ingest_files(store, path)

    assert again.quarantined == ()  # the file was resumed at its end: nothing re-read
    with store.connection() as conn:
        found = conn.execute("SELECT line, length(raw) FROM ingest_quarantine").fetchall()
    assert found == [(1, 2000)]


def test_a_bom_an_empty_file_and_invalid_utf8(store: Store, tmp_path: Path) -> None:
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + line(1).encode() + b"\n")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "latin1.jsonl").write_bytes(
        line(2).encode() + b'\n{"evalmon.request_id": "caf\xe9"}\n' + line(3).encode() + b"\r\n"
    )
    report = ingest_files(store, tmp_path)

    assert [(Path(f.path).name, f.rows_added, f.lines) for f in report.files] == [
        ("bom.jsonl", 1, 1), ("empty.jsonl", 0, 0), ("latin1.jsonl", 2, 3),
    ]  # fmt: skip
    assert [(Path(q.file).name, q.line, q.reason) for q in report.quarantined] == [
        ("latin1.jsonl", 2, "not valid UTF-8 (byte 28)")
    ]
    assert ingest_files(store, tmp_path).files_skipped == 3


def test_blank_lines_are_skipped_and_not_counted(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", "", line(1), "", "\r", line(2), "")
    report = ingest_files(store, path)
    assert (report.rows_added, report.duplicates_skipped, report.quarantined) == (2, 0, ())
    assert report.files[0].lines == 6
    assert rows(store, "source_line") == [(2,), (5,)]


def test_a_file_of_only_bad_lines(store: Store, tmp_path: Path) -> None:
    report = ingest_files(store, write(tmp_path / "junk.jsonl", "nope", "{", "[]"))
    assert (report.rows_added, len(report.quarantined)) == (0, 3)
    assert [q.line for q in report.quarantined] == [1, 2, 3]


def test_a_final_files_unterminated_last_line_is_a_line(store: Store, tmp_path: Path) -> None:
    report = ingest_files(store, write(tmp_path / "a.jsonl", line(1), line(2)[:30], end=""))
    assert report.rows_added == 1
    assert [(q.line, q.reason.split(":")[0]) for q in report.quarantined] == [(2, "invalid JSON")]


def test_a_part_files_partial_last_line_waits_for_the_next_ingest(
    store: Store, tmp_path: Path
) -> None:
    part = tmp_path / "app-20250601-12-0000abcd-0001.jsonl.part"
    complete, partial = line(1) + "\n" + line(2) + "\n", line(3)
    part.write_text(complete + partial[:25])
    first = ingest_files(store, tmp_path)

    assert (first.rows_added, first.quarantined) == (2, ())
    assert first.files[0].pending_bytes == 25
    with part.open("a") as f:  # the writer finishes the line and writes another
        f.write(partial[25:] + "\n" + line(4) + "\n")
    second = ingest_files(store, tmp_path)
    assert (second.files[0].action, second.files[0].lines, second.rows_added) == ("resumed", 2, 2)
    assert rows(store, "record_id, source_line") == [
        ("rec-1", 1), ("rec-2", 2), ("rec-3", 3), ("rec-4", 4),
    ]  # fmt: skip

    final = part.with_name(part.name.removesuffix(".part"))
    part.rename(final)  # the capture library finishes the file
    third = ingest_files(store, tmp_path)
    assert (third.files[0].path, third.files[0].action) == (str(final), "resumed")
    assert (third.rows_added, third.duplicates_skipped, third.files[0].lines) == (0, 0, 0)
    with store.connection() as conn:
        tracked = conn.execute("SELECT path, lines, rows FROM ingest_files").fetchall()
    assert tracked == [(str(final), 4, 4)]
    assert ingest_files(store, tmp_path).files_skipped == 1


def test_small_blocks_and_batches_keep_line_numbers(store: Store, tmp_path: Path) -> None:
    long = line(0, **{"evalmon.output.text": "y" * 3000})  # longer than a block
    lines = [line(i) for i in range(1, 40)] + ["oops"] + [long] + [line(i) for i in range(40, 60)]
    write(tmp_path / "a.jsonl", *lines)
    write(tmp_path / "b.jsonl", line(5), "oops too", line(60))
    report = ingest_files(store, tmp_path, block_bytes=1000, batch_bytes=5000)

    assert report.rows_added == 61
    assert [(Path(q.file).name, q.line) for q in report.quarantined] == [
        ("a.jsonl", 40), ("b.jsonl", 2),
    ]  # fmt: skip
    assert report.files[1].duplicates_skipped == 1
    numbered = dict(rows(store, "record_id, source_line"))
    assert (numbered["rec-0"], numbered["rec-59"], numbered["rec-60"]) == (41, 61, 3)


def test_a_clean_batch_and_a_checked_batch_load_the_same_rows(tmp_path: Path) -> None:
    good = [line(i, **{"evalmon.timestamp": 1748779200 + i}) for i in range(30)]
    clean, checked = Store(tmp_path / "clean.duckdb"), Store(tmp_path / "checked.duckdb")
    ingest_files(clean, write(tmp_path / "clean.jsonl", *good))
    ingest_files(checked, write(tmp_path / "checked.jsonl", *good, "not json"))
    columns = "* EXCLUDE (source_file, ingested_at)"
    assert rows(clean, columns) == rows(checked, columns)


def test_parquet_loads_like_jsonl(store: Store, tmp_path: Path) -> None:
    jsonl = write(tmp_path / "src.jsonl", line(1), line(2), line(3, **{"evalmon.request_id": None}))
    parquet = tmp_path / "export.parquet"
    with duckdb.connect() as conn:
        conn.execute(
            f"COPY (SELECT * FROM read_json('{jsonl}', format = 'newline_delimited')) "
            f"TO '{parquet}' (FORMAT parquet)"
        )
    reference = Store(tmp_path / "reference.duckdb")
    ingest_files(reference, jsonl)
    report = ingest_files(store, parquet)

    assert [(q.line, q.reason) for q in report.quarantined] == [(3, "missing evalmon.request_id")]
    columns = "* EXCLUDE (source_file, ingested_at)"
    assert rows(store, columns) == rows(reference, columns)
    with store.connection() as conn:
        raw = conn.execute("SELECT raw FROM ingest_quarantine").fetchone()
    assert raw is not None and json.loads(raw[0])["evalmon.record_id"] == "rec-3"
    assert ingest_files(store, parquet).files_skipped == 1


def test_bad_paths_fail_before_anything_is_read(store: Store, tmp_path: Path) -> None:
    good = write(tmp_path / "a.jsonl", line(1))
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl: no such file"):
        ingest_files(store, [good, tmp_path / "missing.jsonl"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt: not a capture file; ingest reads"):
        ingest_files(store, [good, tmp_path / "notes.txt"])
    assert rows(store) == []


def test_a_failure_writes_nothing_and_the_next_run_loads_all(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.jsonl", line(1), "bad", line(2))

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "save_states", broken)
    with pytest.raises(OSError, match="disk full"):
        ingest_files(store, path)
    assert rows(store) == [] and quarantine(store) == []
    monkeypatch.undo()
    report = ingest_files(store, path)
    assert (report.rows_added, len(report.quarantined)) == (2, 1)


def test_a_plain_connection_is_migrated_and_its_settings_kept(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", line(1, **{"evalmon.timestamp": "2025-06-01T12:00:00"}))
    with connect(tmp_path / "e.duckdb") as conn:
        conn.execute("SET TimeZone = 'America/New_York'")
        report = ingest_files(conn, tmp_path / "a.jsonl")
        zone = conn.execute("SELECT current_setting('TimeZone')").fetchone()
        ts = conn.execute("SELECT ts FROM production_requests").fetchone()
    assert isinstance(report, IngestReport) and report.rows_added == 1
    assert zone == ("America/New_York",)
    assert ts is not None and ts[0] == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # naive is UTC
