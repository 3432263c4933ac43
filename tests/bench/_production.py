"""Benchmarks of production ingest and sampling (issue #5); the figures, not pass/fail.

``bench_ingest(n)`` writes ``n`` capture records (every key the capture library writes,
nulls included, random hex record ids, a short RAG exchange: 1.36 KB a line; or, with
``compact``, 11 keys in 428 bytes) and measures

* DuckDB on its own: ``SELECT count(*)`` over ``read_json`` with the same columns (the
  parse), ``CREATE TABLE AS SELECT * FROM read_json(...)`` into a new database file (the
  parse plus DuckDB writing the rows with its default compression), and the same into a
  table stored like ``production_requests`` (zstd for the long text);
* :func:`metrics.production.ingest_files` into a migrated store, then a second time (the
  idempotent re-run, which only ``stat``s the file).

``bench_sample(n)`` fills ``production_requests`` with ``n`` rows in DuckDB and times
:func:`metrics.production.choose_sample` choosing 1% of them (dry run, then recorded).

Run: ``python -m tests.bench._production`` (or import the two functions; ``python -m
tests.bench`` is the runner's benchmark).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from metrics.production import FIELDS, choose_sample, ingest_files
from metrics.store import ZSTD_COLUMNS, Store, connect

_RECORDS = """
SELECT
    1 AS "evalmon.schema_version",
    md5('record' || i::VARCHAR) AS "evalmon.record_id",
    md5('request' || i::VARCHAR) AS "evalmon.request_id",
    strftime(TIMESTAMP '2025-06-01 00:00:00' + to_microseconds(i * 8640), '%Y-%m-%dT%H:%M:%S.%fZ')
        AS "evalmon.timestamp",
    'rag-assistant' AS "evalmon.app",
    'answer' AS "evalmon.route",
    CASE WHEN i % 97 = 0 THEN 'error' ELSE 'ok' END AS "evalmon.status",
    round(0.4 + (i % 1000) / 250.0, 3) AS "evalmon.latency_s",
    'rag_qa@' || (1 + i % 3)::VARCHAR AS "evalmon.prompt.ref",
    'rag_qa' AS "evalmon.prompt.name",
    (1 + i % 3)::VARCHAR AS "evalmon.prompt.version",
    [{'role': 'system', 'content': 'Answer from the documents.'},
     {'role': 'user', 'content': 'What is item ' || i::VARCHAR || '?'}] AS "evalmon.input.messages",
    'Item ' || i::VARCHAR || ' is described in document [2].' AS "evalmon.output.text",
    NULL::DOUBLE[] AS "evalmon.output.logprobs",
    ['Document one about item ' || i::VARCHAR, 'Document two about item ' || i::VARCHAR]
        AS "evalmon.retrieval.contexts",
    NULL::VARCHAR AS "evalmon.error.message",
    md5('user' || (i % 5000)::VARCHAR) AS "user.hash",
    'anthropic' AS "gen_ai.provider.name",
    'chat' AS "gen_ai.operation.name",
    'claude-sonnet-4-5' AS "gen_ai.request.model",
    512 AS "gen_ai.request.max_tokens",
    0.0 AS "gen_ai.request.temperature",
    'claude-sonnet-4-5-20250929' AS "gen_ai.response.model",
    'msg_' || md5(i::VARCHAR)[1:20] AS "gen_ai.response.id",
    ['end_turn'] AS "gen_ai.response.finish_reasons",
    1200 + i % 50 AS "gen_ai.usage.input_tokens",
    300 - i % 30 AS "gen_ai.usage.output_tokens",
    NULL::BIGINT AS "gen_ai.usage.cache_read.input_tokens",
    NULL::BIGINT AS "gen_ai.usage.cache_creation.input_tokens",
    NULL::VARCHAR AS "openai.response.system_fingerprint",
    NULL::VARCHAR AS "error.type",
    NULL::INTEGER AS "http.response.status_code"
FROM range({n}) t(i)
"""

_COLUMNS = {
    "evalmon.record_id": "VARCHAR", "evalmon.request_id": "VARCHAR",
    "evalmon.timestamp": "TIMESTAMPTZ", "evalmon.app": "VARCHAR", "evalmon.route": "VARCHAR",
    "evalmon.status": "VARCHAR", "evalmon.latency_s": "DOUBLE", "evalmon.prompt.ref": "VARCHAR",
    "evalmon.input.messages": "JSON", "evalmon.output.text": "VARCHAR",
    "evalmon.output.logprobs": "JSON", "evalmon.retrieval.contexts": "JSON",
    "evalmon.error.message": "VARCHAR", "user.hash": "VARCHAR",
    "gen_ai.provider.name": "VARCHAR", "gen_ai.request.model": "VARCHAR",
    "gen_ai.response.model": "VARCHAR", "gen_ai.response.finish_reasons": "VARCHAR[]",
    "gen_ai.usage.input_tokens": "BIGINT", "gen_ai.usage.output_tokens": "BIGINT",
    "error.type": "VARCHAR", "http.response.status_code": "INTEGER",
}  # fmt: skip


_COMPACT_KEYS = (
    "evalmon.record_id", "evalmon.request_id", "evalmon.timestamp", "evalmon.app",
    "evalmon.status", "evalmon.latency_s", "evalmon.prompt.ref", "gen_ai.request.model",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.response.finish_reasons",
)  # fmt: skip


def _zstd_table_ddl(columns: dict[str, str]) -> str:
    """``CREATE TABLE t`` of the reader's columns, zstd where the ingest's table uses it."""
    zstd_keys = {f.keys[0] for f in FIELDS if f.column in ZSTD_COLUMNS}
    items = [
        f'"{key}" {kind}' + (" USING COMPRESSION zstd" if key in zstd_keys else "")
        for key, kind in columns.items()
    ]
    return f"CREATE TABLE t ({', '.join(items)})"


def write_capture_file(path: Path, n_rows: int, *, compact: bool = False) -> None:
    """Write ``n_rows`` capture-like records as JSON lines (``compact``: 11 keys, ~420 B)."""
    conn = duckdb.connect()
    try:
        conn.execute("SET enable_progress_bar = false")
        query = _RECORDS.replace("{n}", str(n_rows))
        if compact:
            keys = ", ".join(f'"{k}"' for k in _COMPACT_KEYS)
            query = f"SELECT {keys} FROM ({query})"
        conn.execute(f"COPY ({query}) TO '{path}' (FORMAT json)")
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class Timing:
    """Best wall time and process CPU time (all threads) over the repeats, in seconds."""

    wall_s: float
    cpu_s: float


def _timed(fn: Callable[[], object], repeats: int) -> Timing:
    """Run ``fn`` ``repeats`` times; keep the best wall and CPU times (the least disturbed)."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu = time.process_time()
        wall = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


@dataclass(frozen=True, slots=True)
class IngestBench:
    """Figures of :func:`bench_ingest`.

    Attributes:
        n_rows: Records in the file.
        file_mb: Its size.
        parse: ``SELECT count(*), count(COLUMNS(*)) FROM read_json(...)``: DuckDB's parse.
        load: ``CREATE TABLE AS SELECT * FROM read_json(...)`` into a new database file:
            DuckDB reading the file into a table on its own.
        load_zstd: The same into a table whose columns are stored like
            ``production_requests``' (zstd for the long text): DuckDB on its own with
            the ingest's storage.
        ingest: :func:`ingest_files` into a new migrated store.
        reingest: The same ingest again (the file is unchanged: nothing is read).
    """

    n_rows: int
    file_mb: float
    parse: Timing
    load: Timing
    load_zstd: Timing
    ingest: Timing
    reingest: Timing

    @property
    def rows_per_s(self) -> float:
        """Records ingested per second (best wall time)."""
        return self.n_rows / self.ingest.wall_s

    @property
    def vs_load(self) -> float:
        """Ingest wall time over ``read_json`` loading the file into a table."""
        return self.ingest.wall_s / self.load.wall_s

    @property
    def vs_load_zstd(self) -> float:
        """Ingest wall time over ``read_json`` loading the file into a zstd table."""
        return self.ingest.wall_s / self.load_zstd.wall_s

    @property
    def vs_parse(self) -> float:
        """Ingest wall time over ``read_json``'s parse alone."""
        return self.ingest.wall_s / self.parse.wall_s


def bench_ingest(
    n_rows: int = 1_000_000, workdir: Path | None = None, repeats: int = 3, *,
    compact: bool = False,
) -> IngestBench:  # fmt: skip
    """Measure ingest of ``n_rows`` capture records against ``read_json`` alone."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        data = root / "capture-20250601-00-0000abcd-0001.jsonl"
        write_capture_file(data, n_rows, compact=compact)
        columns = {k: v for k, v in _COLUMNS.items() if not compact or k in _COMPACT_KEYS}
        reader = f"read_json('{data}', format = 'newline_delimited', columns = {columns!r})"
        runs = iter(range(repeats * 3))

        def parse() -> None:
            conn = duckdb.connect()
            conn.execute("SET enable_progress_bar = false")
            conn.execute(f"SELECT count(*), count(COLUMNS(*)) FROM {reader}").fetchall()
            conn.close()

        def load() -> None:
            db = root / f"baseline-{next(runs)}.duckdb"
            with connect(db) as conn:
                conn.execute("SET enable_progress_bar = false")
                conn.execute(f"CREATE TABLE t AS SELECT * FROM {reader}")
            db.unlink()

        def load_zstd() -> None:
            db = root / f"baseline-zstd-{next(runs)}.duckdb"
            with connect(db) as conn:
                conn.execute("SET enable_progress_bar = false")
                conn.execute(_zstd_table_ddl(columns))
                conn.execute(f"INSERT INTO t SELECT * FROM {reader}")
            db.unlink()

        fresh = [Store(root / f"evalmon-{i}.duckdb") for i in range(repeats)]
        for store in fresh:
            store.migrate()
        used: list[Store] = []

        def ingest() -> None:
            used.append(fresh.pop())
            report = ingest_files(used[-1], [data])
            assert report.rows_added == n_rows, report.summary

        def reingest() -> None:
            assert ingest_files(used[-1], [data]).rows_added == 0

        return IngestBench(
            n_rows=n_rows,
            file_mb=data.stat().st_size / 1e6,
            parse=_timed(parse, repeats),
            load=_timed(load, repeats),
            load_zstd=_timed(load_zstd, repeats),
            ingest=_timed(ingest, repeats),
            reingest=_timed(reingest, repeats),
        )


@dataclass(frozen=True, slots=True)
class SampleBench:
    """Figures of :func:`bench_sample`.

    Attributes:
        n_rows: Requests in ``production_requests``.
        chosen: Requests in the 1% sample.
        dry_run: Choosing it without recording it.
        recorded: Choosing and recording it in ``judge_samples`` (once).
        min_per_group: Choosing it with ``min_per_group=50`` (rare groups topped up).
    """

    n_rows: int
    chosen: int
    dry_run: Timing
    recorded: Timing
    min_per_group: Timing


_FILL = """
INSERT INTO production_requests (record_id, request_id, ts, app, response_model, prompt_ref,
    status, source_file, source_line, ingested_at)
SELECT md5('record' || i::VARCHAR), md5('request' || i::VARCHAR),
    TIMESTAMPTZ '2025-06-01 00:00:00+00' + to_microseconds(i * 8640), 'rag-assistant',
    CASE WHEN i % 1000 = 0 THEN 'gpt-4o-2024-08-06' ELSE 'claude-sonnet-4-5-20250929' END,
    'rag_qa@' || (1 + i % 3)::VARCHAR || CASE WHEN i % 50000 = 7 THEN '-rare' ELSE '' END,
    CASE WHEN i % 97 = 0 THEN 'error' ELSE 'ok' END, 'bench.jsonl', i + 1, now()
FROM range({n}) t(i)
"""


def bench_sample(
    n_rows: int = 10_000_000, workdir: Path | None = None, repeats: int = 3
) -> SampleBench:
    """Measure choosing the 1% sample from ``n_rows`` requests."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        store = Store(Path(tmp) / "evalmon.duckdb")
        store.migrate()
        with store.connection() as conn:
            conn.execute("SET enable_progress_bar = false")
            conn.execute(_FILL.replace("{n}", str(n_rows)))
        chosen: list[int] = []
        with store.connection() as conn:
            conn.execute("SET enable_progress_bar = false")

            def dry() -> None:
                result = choose_sample(conn, rubric_version="r1", rate=0.01, dry_run=True)
                chosen.append(len(result.request_ids))

            def record() -> None:
                choose_sample(conn, rubric_version="r1", rate=0.01)

            def grouped() -> None:
                choose_sample(conn, rubric_version="r2", rate=0.01, min_per_group=50, dry_run=True)

            dry_run = _timed(dry, repeats)
            recorded = _timed(record, 1)
            min_per_group = _timed(grouped, repeats)
        return SampleBench(n_rows, chosen[0], dry_run, recorded, min_per_group)


def main() -> None:
    """Print the figures as JSON lines: ingest (capture and compact records), then sample."""
    for compact in (False, True):
        ingest = bench_ingest(compact=compact)
        figures = {
            "compact": compact,
            "rows_per_s": ingest.rows_per_s,
            "vs_load": ingest.vs_load,
            "vs_load_zstd": ingest.vs_load_zstd,
            "vs_parse": ingest.vs_parse,
        }
        print(json.dumps({**asdict(ingest), **figures}), flush=True)
    print(json.dumps(asdict(bench_sample())), flush=True)


if __name__ == "__main__":
    main()
