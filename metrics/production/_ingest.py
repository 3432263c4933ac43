"""Load capture files into ``production_requests``: fast, idempotent, bad lines quarantined.

How a JSONL file is read (see :mod:`metrics.production._lines`): its whole lines become an
Arrow string column next to their line numbers, without copying, and DuckDB parses them
with ``json_transform(line, <struct>)`` (the parser ``read_json`` uses), mapping and
checking every key on the way (:mod:`metrics.production._schema`). A batch of files is
inserted in one pass when all its lines are valid; a batch with a bad line (the pass stops
at it) is parsed again, with ``try``, into a stage table, where each rejected line keeps
its exact number and a reason, and only those lines go back to Python to word the reason
(``invalid JSON: Expecting ',' delimiter at column 57``) and keep the start of the raw text
(:mod:`metrics.production._batch`).

Each batch is one transaction: the new records (record id not in the table, first
occurrence in the batch), the quarantined lines (``ingest_quarantine``) and each file's
size, mtime, fingerprints and consumed length (``ingest_files``, see
:mod:`metrics.production._files`) are written together or not at all. So an ingest run
twice, or again after a crash, adds nothing twice. Ingests in one process take a lock;
DuckDB's file lock keeps other processes out.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from metrics.production._batch import (
    LINES,
    STAGE,
    BatchLines,
    FileRun,
    insert_fast,
    insert_staged,
    stage_lines,
)
from metrics.production._files import (
    FilePlan,
    FileState,
    expand_paths,
    load_states,
    plan_file,
    save_states,
)
from metrics.production._lines import BLOCK_BYTES, fingerprints
from metrics.production._parquet import parquet_raw_rows, parquet_source
from metrics.production._progress import IngestProgress, NoIngestProgress
from metrics.production._report import FileIngest, IngestReport, QuarantinedLine
from metrics.production._schema import literal, select_sql, stage_ddl
from metrics.store import Store, migrate

_LOCK = threading.Lock()

PathArg = str | os.PathLike[str]
Results = dict[str, tuple[FileIngest, list[QuarantinedLine]]]


def ingest_files(
    target: Store | duckdb.DuckDBPyConnection,
    paths: PathArg | Iterable[PathArg],
    *,
    block_bytes: int = BLOCK_BYTES,
    batch_bytes: int = 2 * 1024**3,
    progress: IngestProgress | None = None,
) -> IngestReport:
    """Load JSONL and Parquet capture files into ``production_requests``.

    Idempotent: a file read before is skipped when its size and mtime are unchanged and
    read from where the last ingest stopped when it grew; a record id already loaded is
    never loaded again. Malformed lines are quarantined (``ingest_quarantine``) with file,
    line and reason, and the rest of the file loads. In a ``*.jsonl.part`` file, which the
    capture library is still appending to, the text after the last newline is a line being
    written: it is left for the next ingest (``FileIngest.pending_bytes``), not quarantined.
    The database stays open (locked for other processes) while the files are read.

    Args:
        target: The store, or an open connection (it is migrated first).
        paths: Files, or directories whose ``*.jsonl``, ``*.jsonl.part``, ``*.ndjson`` and
            ``*.parquet`` files are read in name order.
        block_bytes: JSONL bytes per Arrow block.
        batch_bytes: JSONL bytes per transaction (bounds the memory a fallback uses).
        progress: Told the bytes to read, then each step (see
            :class:`~metrics.production.IngestProgress`).

    Returns:
        What was added, skipped and quarantined, per file and in total.

    Raises:
        FileNotFoundError: A path does not exist (nothing is read).
        ValueError: A file is neither JSONL nor Parquet (nothing is read).
    """
    started = time.perf_counter()
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files = expand_paths(items)
    reporter = progress or NoIngestProgress()
    if isinstance(target, Store):
        with target.connection() as conn:
            results = _ingest(conn, files, block_bytes, batch_bytes, reporter)
    else:
        migrate(target)
        results = _ingest(target, files, block_bytes, batch_bytes, reporter)
    ordered = tuple(results[str(p)][0] for p in files)
    return IngestReport(
        files=ordered,
        rows_added=sum(f.rows_added for f in ordered),
        duplicates_skipped=sum(f.duplicates_skipped for f in ordered),
        quarantined=tuple(q for p in files for q in results[str(p)][1]),
        seconds=time.perf_counter() - started,
    )


@contextmanager
def _session(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Times without an offset are UTC, and no progress bar; restored afterwards."""
    names = ("TimeZone", "enable_progress_bar")
    before = [conn.execute(f"SELECT current_setting('{n}')").fetchall()[0][0] for n in names]
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET enable_progress_bar = false")
    try:
        yield
    finally:
        for name, value in zip(names, before, strict=True):
            conn.execute(f"SET {name} = {literal(str(value))}")


def _ingest(
    conn: duckdb.DuckDBPyConnection, files: list[Path], block_bytes: int, batch_bytes: int,
    progress: IngestProgress,
) -> Results:  # fmt: skip
    results: Results = {}
    with _LOCK, _session(conn):
        conn.execute(stage_ddl(STAGE))
        try:
            states = load_states(conn, files)
            plans = [plan_file(path, states) for path in files]
            progress.start(sum(p.size - p.start for p in plans if not p.skip))
            batch: list[tuple[int, FilePlan]] = []
            for file_id, plan in enumerate(plans):
                if plan.skip:
                    results[str(plan.path)] = (FileIngest(str(plan.path), "unchanged"), [])
                elif plan.format == "parquet":
                    results.update(_parquet_batch(conn, plan, file_id))
                    progress.advance(plan.size - plan.start)
                else:
                    batch.append((file_id, plan))
                    if sum(p.size - p.start for _, p in batch) >= batch_bytes:
                        results.update(_jsonl_batch(conn, batch, block_bytes, progress))
                        batch = []
            results.update(_jsonl_batch(conn, batch, block_bytes, progress))
        finally:
            progress.stop()
            conn.execute(f"DROP TABLE IF EXISTS {STAGE}")
    return results


def _batch_time(conn: duckdb.DuckDBPyConnection) -> datetime:
    """Now (UTC), later than every ``ingested_at`` so far: it names this batch's rows."""
    now = datetime.now(UTC)
    ((last,),) = conn.execute("SELECT max(ingested_at) FROM production_requests").fetchall()
    return now if last is None or now > last else last + timedelta(microseconds=1)


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _jsonl_batch(
    conn: duckdb.DuckDBPyConnection, batch: list[tuple[int, FilePlan]], block_bytes: int,
    progress: IngestProgress,
) -> Results:  # fmt: skip
    if not batch:
        return {}
    with BatchLines(batch, block_bytes, progress.advance) as lines:
        runs = lines.runs
        try:
            now = _batch_time(conn)
            conn.register(LINES, lines.stream())
            try:
                conn.execute("BEGIN TRANSACTION")
                try:
                    fast = insert_fast(conn, runs, now)
                    lines.table()  # splits nothing more when the stream was read to its end
                    valid = {r.file_id: r.lines - r.blank for r in runs}
                    results = _record(conn, runs, valid, now) if fast else {}
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT" if fast else "ROLLBACK")
            finally:
                conn.unregister(LINES)
            if fast:
                return results
            conn.register(LINES, lines.table())
            try:
                with _transaction(conn):
                    stage_lines(conn, runs)
                    return _record(conn, runs, insert_staged(conn, runs, now), now)
            finally:
                conn.unregister(LINES)
        finally:
            conn.execute(f"DELETE FROM {STAGE}")


def _parquet_batch(conn: duckdb.DuckDBPyConnection, plan: FilePlan, file_id: int) -> Results:
    run = FileRun(plan, file_id, end=plan.size)
    try:
        now = _batch_time(conn)
        with _transaction(conn):
            source = parquet_source(conn, plan.path, file_id)
            conn.execute(f"INSERT INTO {STAGE} {select_sql(source, 'true')}")
            rejected = conn.execute(
                f"SELECT line_no, reason FROM {STAGE} WHERE reason IS NOT NULL ORDER BY line_no"
            ).fetchall()
            raw = parquet_raw_rows(conn, plan.path, [r[0] for r in rejected])
            for line_no, reason in rejected:
                run.reject(line_no, reason, raw.get(line_no, ""))
            ((count,),) = conn.execute(f"SELECT count(*) FROM {STAGE}").fetchall()
            run.lines = int(count)
            run.next_line = run.lines + 1
            results = _record(conn, [run], insert_staged(conn, [run], now), now)
    finally:
        conn.execute(f"DELETE FROM {STAGE}")
    return results


def _record(
    conn: duckdb.DuckDBPyConnection, runs: Sequence[FileRun], valid: dict[int, int], now: datetime
) -> Results:
    """Write the quarantine and bookkeeping of the batch just inserted; return its report."""
    added = dict(
        conn.execute(
            "SELECT source_file, count(*) FROM production_requests "
            "WHERE ingested_at = $now GROUP BY 1",
            {"now": now},
        ).fetchall()
    )
    quarantined = [q for r in runs for q in r.quarantined]
    conn.execute(
        "INSERT INTO ingest_quarantine SELECT unnest($file::VARCHAR[]), "
        "unnest($line::BIGINT[]), unnest($reason::VARCHAR[]), unnest($raw::VARCHAR[]), $now "
        "ON CONFLICT (file, line) DO UPDATE SET reason = excluded.reason, raw = excluded.raw",
        {
            "file": [q.file for q in quarantined],
            "line": [q.line for q in quarantined],
            "reason": [q.reason for q in quarantined],
            "raw": [text for r in runs for text in r.raw],
            "now": now,
        },
    )
    results: Results = {}
    states: list[FileState] = []
    for run in runs:
        path = str(run.plan.path)
        n_added = int(added.get(path, 0))
        report = FileIngest(
            path=path,
            action="resumed" if run.plan.start > 0 else "read",
            lines=run.lines,
            rows_added=n_added,
            duplicates_skipped=valid.get(run.file_id, 0) - n_added,
            quarantined=len(run.quarantined),
            pending_bytes=run.pending,
        )
        results[path] = (report, run.quarantined)
        states.append(_state(run, report, now))
    superseded = [
        r.plan.previous.path
        for r in runs
        if r.plan.previous is not None and r.plan.previous.path != str(r.plan.path)
    ]
    save_states(conn, states, superseded)
    return results


def _state(run: FileRun, report: FileIngest, now: datetime) -> FileState:
    """The file's new ``ingest_files`` row; counts carry on from the row it continues."""
    prev = run.plan.previous
    head, edge = fingerprints(run.plan.path, run.end)
    return FileState(
        path=report.path,
        size=run.plan.size,
        mtime_ns=run.plan.mtime_ns,
        head_sha256=head,
        edge_sha256=edge,
        consumed_bytes=run.end,
        lines=run.next_line - 1,
        rows=(prev.rows if prev else 0) + report.rows_added,
        duplicates=(prev.duplicates if prev else 0) + report.duplicates_skipped,
        quarantined=(prev.quarantined if prev else 0) + report.quarantined,
        ingested_at=now,
    )
