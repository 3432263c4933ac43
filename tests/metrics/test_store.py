"""The store: runs, the journaled Arrow write path, resume after a kill, cache, scores."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from evals.runner import CallRecord, ResponseCache, ResultSink
from metrics import ScoreRow, Store
from metrics.store import connect, journal_dir
from metrics.store._arrow import CALLS_SCHEMA, record_to_row, rows_to_table
from tests.metrics.helpers import T0, make_record

ROOT = Path(__file__).resolve().parents[2]


def _count(db: Path, sql: str) -> int:
    """Query the file directly, as another process would (the store holds no connection)."""
    with duckdb.connect(str(db)) as conn:
        row = conn.execute(sql).fetchall()
    return int(row[0][0])


def _start(store: Store, run_id: str = "run-1") -> None:
    store.start_run(run_id, "eval", "openai:gpt-4o", "qa@1", "nq@1", {"temperature": 0}, {})


def test_store_is_the_runners_sink_and_cache(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.duckdb")
    assert isinstance(store, ResultSink)
    assert isinstance(store, ResponseCache)


def test_write_loads_batches_through_arrow_and_keeps_the_rest_in_the_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "e.duckdb"
    store = Store(db, batch_size=3, batch_interval_s=3600)
    _start(store)
    for i in range(3):
        store.write(make_record(i))
    assert store._loader is not None
    store._loader.join()  # the due batch loads on a background thread
    for i in range(3, 5):
        store.write(make_record(i))
    journal = journal_dir(db) / "run-1.jsonl"

    assert _count(db, "SELECT count(*) FROM calls") == 3  # one batch of 3 was loaded
    assert len(journal.read_bytes().splitlines()) == 2  # the other 2 wait in the journal
    store.flush()
    assert _count(db, "SELECT count(*) FROM calls") == 5
    assert journal.read_bytes() == b""
    store.close()
    assert not journal.exists()


def test_text_and_non_finite_numbers_survive_the_json_batch(tmp_path: Path) -> None:
    """Batches are parsed from the journal's JSON lines.

    Quotes, newlines, non-ASCII text and a -inf logprob (a token the model gave no
    probability) come back as written.
    """
    text = 'He said "hi"\n\tthen left: naïve café ✓ \\ {"json": [1]}'
    base = make_record(1, text=text)
    record = dataclasses.replace(base, result=base.result.replace(logprobs=(-0.5, float("-inf"))))
    store = Store(tmp_path / "e.duckdb")
    store.write(record)
    store.flush()
    (row,) = store.run_calls("run-1", ["text", "logprobs"]).to_pylist()
    assert row == {"text": text, "logprobs": [-0.5, float("-inf")]}
    store.close()


def test_rows_become_typed_arrow_and_typed_columns(tmp_path: Path) -> None:
    record = make_record(7, at=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    table = rows_to_table([record_to_row(record)])
    assert table.schema.remove(table.schema.get_field_index("seq")) == CALLS_SCHEMA
    assert table.column("logprobs").type == pa.list_(pa.float64())

    store = Store(tmp_path / "e.duckdb")
    store.write(record)
    calls = store.run_calls("run-1")
    row = calls.to_pylist()[0]
    assert calls.schema.field("started_at").type == pa.timestamp("us", tz="UTC")
    assert row["started_at"] == datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert row["logprobs"] == [-0.5, -0.25]
    assert (row["call_key"], row["cache_key"], row["cached"]) == ("c7#0", "key-7-0", False)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (1200, 300, 0.0075)
    assert row["error_kind"] is None


def test_no_executemany_anywhere_in_metrics() -> None:
    sources = "".join(p.read_text() for p in (ROOT / "metrics").rglob("*.py"))
    assert ".executemany(" not in sources


def test_a_retried_call_replaces_the_earlier_record(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    store = Store(db)
    _start(store)
    store.write(make_record(1, error="server_error"))
    store.write(make_record(2))
    store.flush()
    assert store.completed_call_keys("run-1") == {"c2#0"}

    later = datetime(2025, 6, 2, tzinfo=UTC)
    store.write(make_record(1, at=later))  # the resumed run retries the errored call
    store.flush()
    rows = {r["call_key"]: r for r in store.run_calls("run-1").to_pylist()}
    assert len(rows) == 2
    assert rows["c1#0"]["error_kind"] is None and rows["c1#0"]["text"] == "answer 1"
    assert rows["c1#0"]["started_at"] == later
    assert store.completed_call_keys("run-1") == {"c1#0", "c2#0"}

    # Within one batch the last record for a key wins too.
    store.write(make_record(3, error="timeout"))
    store.write(make_record(3, at=later))
    store.write(make_record(4, at=later))
    store.write(make_record(4, error="timeout", at=datetime(2025, 6, 3, tzinfo=UTC)))
    store.flush()
    rows = {r["call_key"]: r for r in store.run_calls("run-1").to_pylist()}
    assert rows["c3#0"]["error_kind"] is None
    assert rows["c4#0"]["error_kind"] == "timeout"
    assert _count(db, "SELECT count(*) FROM calls") == 4


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    from metrics import Store
    from tests.metrics.helpers import make_record
    store = Store(sys.argv[1], batch_size=10**6, batch_interval_s=3600)
    store.start_run("run-1", "eval", "openai:gpt-4o", "qa@1", "nq@1", {}, {})
    store.write(make_record(0, error="rate_limited"))
    for i in range(1, 50):
        store.write(make_record(i))
    store.flush()  # 50 calls are in DuckDB, c0 as an error
    store.write(make_record(0, at=datetime(2025, 7, 1, tzinfo=UTC)))  # c0 retried: success
    for i in range(50, 120):
        store.write(make_record(i))  # 71 records only in the journal
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_records_of_a_killed_process_are_recovered_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(db)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.strip() == "written"
    assert _count(db, "SELECT count(*) FROM calls") == 50  # the last 71 never reached DuckDB

    store = Store(db)
    start = store.start_run("run-1", "eval", "openai:gpt-4o", "qa@1", "nq@1", {}, {})
    assert start.resumed and start.previous_status == "running"
    assert (start.n_calls, start.n_completed) == (120, 120)
    assert store.completed_call_keys("run-1") == {f"c{i}#0" for i in range(120)}
    assert list(journal_dir(db).glob("*.jsonl")) == []

    # Loading the same journal again (a crash between load and truncate) changes nothing.
    lines = [json.dumps(record_to_row(make_record(i))) for i in range(60, 70)]
    (journal_dir(db) / "orphan.jsonl").write_text("\n".join(lines) + "\n")
    assert len(Store(db).completed_call_keys("run-1")) == 120
    assert _count(db, "SELECT count(*) FROM calls") == 120
    assert _count(db, "SELECT count(*) FROM calls WHERE call_key = 'c0#0'") == 1
    assert _count(db, "SELECT count(*) FROM calls WHERE error_kind IS NOT NULL") == 0


def test_a_live_writers_journal_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    writer = Store(db, batch_interval_s=3600)
    _start(writer)
    writer.write(make_record(1))
    reader = Store(db)
    assert reader.completed_call_keys("run-1") == set()  # not loaded behind the writer's back
    assert (journal_dir(db) / "run-1.jsonl").read_bytes() != b""
    writer.flush()
    assert reader.completed_call_keys("run-1") == {"c1#0"}


def test_a_torn_last_line_is_dropped_and_the_rest_recovered(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    Store(db).migrate()
    good = json.dumps(record_to_row(make_record(1)))
    torn = json.dumps(record_to_row(make_record(2)))[:40]
    journal_dir(db).mkdir()
    (journal_dir(db) / "run-1.jsonl").write_text(good + "\n" + torn)
    assert Store(db).completed_call_keys("run-1") == {"c1#0"}


def test_start_and_finish_a_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.duckdb")
    config = {"model": "openai:gpt-4o", "api_key": "sk-live-abcdefghijklmnop", "nested": {
        "headers": {"Authorization": "Bearer abcdefghijkl"}}}  # fmt: skip
    first = store.start_run("r", "eval", "openai:gpt-4o", "qa@1", "nq@1", {"t": 0}, config)
    assert (first.resumed, first.n_calls, first.previous_status) == (False, 0, None)
    store.write(make_record(1, run_id="r", cost=0.25))
    store.write(make_record(2, run_id="r", cost=0.5))
    store.write(make_record(3, run_id="r", error="timeout"))
    store.write(make_record(4, run_id="r", cached=True))
    info = store.finish_run("r", "interrupted", {"accuracy": 0.5, "nan": math.nan})

    assert (info.status, info.n_calls, info.n_errors, info.n_cached) == ("interrupted", 4, 1, 1)
    assert info.cost_usd == pytest.approx(0.75)
    assert info.summary == {"accuracy": 0.5, "nan": None}
    assert info.finished_at is not None and info.finished_at >= info.created_at
    assert info.config == {"model": "openai:gpt-4o", "api_key": "[redacted]",
                           "nested": {"headers": "[redacted]"}}  # fmt: skip

    again = store.start_run("r", "eval", "openai:gpt-4o", "qa@2", "nq@1", {"t": 0}, config)
    assert (again.resumed, again.previous_status) == (True, "interrupted")
    assert (again.n_calls, again.n_completed) == (4, 3)
    assert again.mismatched == ("prompt_ref",)
    run = store.get_run("r")
    assert run is not None and run.status == "running" and run.finished_at is None
    assert run.prompt_ref == "qa@1"  # the stored refs are kept
    assert store.get_run("nope") is None
    with pytest.raises(ValueError, match="finish status"):
        store.finish_run("r", "running", {})
    with pytest.raises(LookupError):
        store.finish_run("nope", "finished", {})


def test_run_cost_is_unknown_when_a_call_has_no_price(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.duckdb")
    _start(store)
    store.write(make_record(1, cost=0.5))
    store.write(make_record(2, cost=None))  # a model without a price
    assert store.finish_run("run-1", "finished", {}).cost_usd is None


def test_cache_holds_successful_uncached_responses_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.duckdb")
    store.write(make_record(1, text="Paris"))
    store.write(make_record(2, error="server_error"))
    store.write(make_record(3, cached=True))
    later = make_record(4, text="later answer")
    store.write(CallRecord("other-run", "x", 0, "key-1-0", later.result, T0, T0))  # same key
    hits = store.lookup(["key-1-0", "key-2-0", "key-3-0", "missing"])

    assert set(hits) == {"key-1-0"}
    hit = hits["key-1-0"]
    assert hit.text == "Paris"  # the first response for a content address is kept
    assert (hit.cached, hit.attempts, hit.cost_usd, hit.latency_s) == (True, 0, 0.0, 0.0)
    assert (hit.model, hit.model_version, hit.finish_reason) == (
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "stop",
    )
    assert (hit.input_tokens, hit.output_tokens, hit.logprobs) == (1200, 300, (-0.5, -0.25))
    assert hit.answered_by == "openai:gpt-4o" and hit.ok
    assert store.lookup([]) == {}


def test_lookup_of_100k_keys_is_one_query(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.duckdb")
    n = 100_000
    keys = [f"{i:064x}" for i in range(n)]
    entries = pa.table({
        "cache_key": keys, "provider": ["openai"] * n, "model": ["gpt-4o"] * n,
        "model_version": ["v1"] * n, "text": [f"t{i}" for i in range(n)],
        "finish_reason": ["stop"] * n, "input_tokens": list(range(n)), "output_tokens": [7] * n,
        "logprobs": pa.array([None] * n, pa.list_(pa.float64())),
        "created_at": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    with store.connection() as conn:
        conn.register("entries", entries)
        conn.execute("INSERT INTO response_cache SELECT * FROM entries")

    wanted = [*keys[::-1], "absent-1", "absent-2"]
    hits = store.lookup(wanted)
    assert len(hits) == n
    assert hits[keys[12345]].text == "t12345" and hits[keys[12345]].input_tokens == 12345
    assert hits[keys[-1]].logprobs is None and hits[keys[-1]].cached
    assert "absent-1" not in hits


def test_scores_are_replaced_per_key_and_nan_is_unscored(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.duckdb")
    written = store.write_scores([
        ScoreRow("r", "c1", 0, "exact", 1.0, passed=True, scorer_version="1"),
        ScoreRow("r", "c2", 0, "exact", math.nan, details={"why": "call errored"}),
        ScoreRow("r", "c1", 0, "judge", 0.25, details={"rationale": "meh"}),
    ])  # fmt: skip
    store.write_scores([ScoreRow("r", "c1", 0, "exact", 0.0, passed=False, scorer_version="2")])
    rows = {(r["case_id"], r["scorer"]): r for r in store.run_scores("r").to_pylist()}

    assert written == 3 and len(rows) == 3
    assert (rows[("c1", "exact")]["score"], rows[("c1", "exact")]["scorer_version"]) == (0.0, "2")
    assert rows[("c2", "exact")]["score"] is None  # unscored, not 0
    assert json.loads(rows[("c1", "judge")]["details"]) == {"rationale": "meh"}
    assert store.write_scores([]) == 0


def test_nothing_secret_reaches_the_journal_or_the_database(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    store = Store(db, batch_interval_s=3600)
    secret = "sk-test-0123456789abcdef"
    store.write(make_record(1, extra={"headers": {"authorization": f"Bearer {secret}"}}))
    assert secret not in (journal_dir(db) / "run-1.jsonl").read_text()
    store.close()
    with connect(db) as conn:
        dump = conn.execute("SELECT to_json(c)::VARCHAR FROM calls c").fetchall()
    assert dump and secret not in dump[0][0]


def test_a_writer_adopts_an_orphaned_journal_of_its_run(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    journal_dir(db).mkdir(parents=True)
    orphan = json.dumps(record_to_row(make_record(1, error="timeout")))
    (journal_dir(db) / "run-1.jsonl").write_text(orphan + "\n")
    store = Store(db, batch_interval_s=0.0)  # every write loads
    store.write(make_record(1, at=datetime(2025, 8, 1, tzinfo=UTC)))  # the retry, written later
    assert store._loader is not None
    store._loader.join()  # the batch loads on a background thread
    assert _count(db, "SELECT count(*) FROM calls") == 1  # loaded without a flush
    assert store.completed_call_keys("run-1") == {"c1#0"}  # the later record won
    assert (journal_dir(db) / "run-1.jsonl").read_bytes() == b""


def test_odd_run_ids_get_distinct_safe_journal_names(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    store = Store(db, batch_interval_s=3600)
    for run_id in ("a/b", "a_b", "../x", "ünï"):
        store.write(make_record(1, run_id=run_id))
    names = sorted(p.name for p in journal_dir(db).iterdir())
    assert len(names) == 4 and all("/" not in n and not n.startswith(".") for n in names)
    store.flush()
    assert _count(db, "SELECT count(DISTINCT run_id) FROM calls") == 4


def test_background_load_keeps_rows_written_during_it(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    store = Store(db, batch_size=50, batch_interval_s=3600)
    _start(store)
    written = set()
    for i in range(2000):  # loads on the background thread overlap with these writes
        record = make_record(i)
        store.write(record)
        written.add(record.call_key)
    assert store._loader is not None
    store._loader.join()
    # Every record is in DuckDB or still in the journal file: a kill now would lose nothing.
    journal = journal_dir(db) / "run-1.jsonl"
    in_journal = {json.loads(line)["call_key"] for line in journal.read_bytes().splitlines()}
    with duckdb.connect(str(db), read_only=True) as conn:
        in_db = {r[0] for r in conn.execute("SELECT call_key FROM calls").fetchall()}
    assert in_db | in_journal == written
    assert len(in_db) >= 50  # batches did load while writing
    store.close()
    assert _count(db, "SELECT count(*) FROM calls") == 2000
