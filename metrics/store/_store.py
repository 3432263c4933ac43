"""The DuckDB store: runs, calls, scores and the response cache.

One :class:`Store` object is the runner's ``ResultSink`` *and* its ``ResponseCache``: pass
the same object for both. It never keeps the database open between operations (see
:mod:`metrics.store._connection`), so the exporter and other flows can use the file too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from evals.providers import CallResult
from evals.runner import CallRecord
from metrics.store import _runs
from metrics.store._arrow import cached_results, fetch_table, load_call_rows, record_to_row
from metrics.store._connection import (
    DEFAULT_DB_PATH,
    DEFAULT_LOCK_TIMEOUT_S,
    StoreLockedError,
    connect,
    open_connection,
)
from metrics.store._gate import GateDecisionRow, insert_gate_decisions
from metrics.store._journal import Journal, journal_dir
from metrics.store._migrations import AppliedMigration, migrate
from metrics.store._models import RunInfo, RunStart, ScoreRow
from metrics.store._position import PositionResultRow, replace_position_results

log = logging.getLogger(__name__)


class Store:
    """Results of evalmon runs in one DuckDB file, written through a journal.

    ``write`` appends the record to ``<db>.journal/<run>.jsonl`` (durable once it returns,
    even against SIGKILL) and loads pending records into DuckDB every ``batch_size`` records
    or ``batch_interval_s`` seconds; ``flush`` loads the rest. Every method that reads first
    loads journals left by killed processes and this store's own pending records, so reads
    see everything written. The store is thread-safe.

    Args:
        path: Database file (default ``evalmon.duckdb``; parent directories are created).
        lock_timeout_s: How long to retry when another process holds the file.
        batch_size: Pending records that trigger a load during ``write``.
        batch_interval_s: Seconds after the last load at which ``write`` loads again.
        fsync: ``fsync`` every journal line (survives power loss, much slower).
    """

    def __init__(
        self,
        path: Path | str = DEFAULT_DB_PATH,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
        *,
        batch_size: int = 10_000,
        batch_interval_s: float = 5.0,
        fsync: bool = False,
    ) -> None:
        """Remember the settings; nothing is opened until the first operation."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.batch_size = batch_size
        self.batch_interval_s = batch_interval_s
        self._journal = Journal(journal_dir(self.path), fsync=fsync)
        self._mutex = threading.RLock()  # guards the journal and the migrated flag
        self._load_lock = threading.Lock()  # one batch load at a time
        self._loader: threading.Thread | None = None
        self._migrated = False
        self._last_load = time.monotonic()

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def connection(
        self, *, lock_timeout_s: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the migrated database, with every written record loaded, for one operation.

        Yields:
            A connection that is closed on exit; don't keep it across a run.
        """
        timeout = self.lock_timeout_s if lock_timeout_s is None else lock_timeout_s
        with self._load_lock, self._mutex, connect(self.path, lock_timeout_s=timeout) as conn:
            if not self._migrated:
                migrate(conn)
                self._migrated = True
            self._journal.recover(lambda rows: load_call_rows(conn, rows))
            if self._journal.pending:
                load_call_rows(conn, self._journal.pending, self._journal.pending_lines)
                self._journal.mark_loaded(len(self._journal.pending))
            self._last_load = time.monotonic()
            yield conn

    @contextmanager
    def held(self) -> Iterator[Store]:
        """Keep the file open until the block ends, so each operation skips opening it.

        An open costs ~20 ms and a checkpoint on close; a short burst of operations (a gate)
        holds the file instead. No other process can open it meanwhile, so a long run should
        not hold it, and neither can this process open it read-only inside the block.

        Yields:
            The store itself.
        """
        with self._mutex:
            holder = open_connection(self.path, lock_timeout_s=self.lock_timeout_s)
        try:
            yield self
        finally:
            holder.close()

    def _load_in_background(self) -> None:
        """Load the pending rows without holding the journal, so ``write`` never waits.

        Rows written meanwhile stay pending (and in the journal files) for the next load.
        """
        try:
            with self._load_lock:
                with self._mutex:
                    rows = list(self._journal.pending)
                    lines = list(self._journal.pending_lines)
                if not rows:
                    return
                with connect(self.path, lock_timeout_s=0.0) as conn:
                    if not self._migrated:
                        migrate(conn)
                        self._migrated = True
                    load_call_rows(conn, rows, lines)
                with self._mutex:
                    self._journal.mark_loaded(len(rows))
        except StoreLockedError as exc:
            log.debug("batch load postponed: %s", exc)
        except Exception:  # the rows stay in the journal; flush() will report the problem
            log.exception("background batch load failed; the records stay in the journal")
        finally:
            self._last_load = time.monotonic()

    def migrate(self) -> list[AppliedMigration]:
        """Apply pending schema migrations; return the ones applied (idempotent)."""
        with self._mutex, connect(self.path, lock_timeout_s=self.lock_timeout_s) as conn:
            applied = migrate(conn)
            self._migrated = True
        return applied

    # -- runs ---------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        kind: str,
        model_ref: str | None,
        prompt_ref: str | None,
        dataset_ref: str | None,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> RunStart:
        """Create the run, or mark an existing one ``running`` again (resume).

        Journals left by killed processes are loaded first, so ``n_completed`` counts every
        call that finished. On resume the stored refs, params and config are kept and
        differences are reported in :attr:`RunStart.mismatched`. Values under secret-looking
        keys of ``params``/``config`` are stored as ``"[redacted]"``.
        """
        refs = {"model_ref": model_ref, "prompt_ref": prompt_ref, "dataset_ref": dataset_ref}
        with self.connection() as conn:
            return _runs.start_run(conn, run_id, kind, refs, params, config)

    def finish_run(
        self, run_id: str, status: str, summary: Mapping[str, Any] | None = None
    ) -> RunInfo:
        """Set the final status and summary; count calls, errors, cache hits and cost.

        ``cost_usd`` is the sum of the calls' costs, or None when any successful call had
        no price (an unknown model), because a partial sum would understate the cost.

        Raises:
            ValueError: ``status`` is not ``finished``, ``failed`` or ``interrupted``.
            LookupError: There is no such run.
        """
        with self.connection() as conn:
            return _runs.finish_run(conn, run_id, status, summary)

    def get_run(self, run_id: str) -> RunInfo | None:
        """Return the run, or None when there is none."""
        with self.connection() as conn:
            return _runs.fetch_run(conn, run_id)

    def run_calls(self, run_id: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Return the run's ``calls`` rows as an Arrow table, ordered by case and repeat.

        ``columns`` picks columns (all by default). Leave out the timestamps when the rows
        become Python objects: converting a time-zone-aware column makes pyarrow import
        pandas, about a second the first time in a process.
        """
        with self.connection() as conn:
            return fetch_table(
                conn,
                f"SELECT {_select(columns)} FROM calls WHERE run_id = ? ORDER BY case_id, repeat",
                [run_id],
            )

    def run_scores(self, run_id: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Return the run's ``scores`` rows as an Arrow table (``columns`` as in ``run_calls``)."""
        with self.connection() as conn:
            return fetch_table(
                conn,
                f"SELECT {_select(columns)} FROM scores WHERE run_id = ? "
                "ORDER BY case_id, repeat, scorer",
                [run_id],
            )

    def write_position_results(self, run_id: str, rows: Sequence[PositionResultRow]) -> int:
        """Replace the position-benchmark results of ``run_id``; return the row count."""
        with self.connection() as conn:
            return replace_position_results(conn, run_id, rows)

    def position_results(self, run_id: str) -> pa.Table:
        """The run's ``position_results`` rows as an Arrow table."""
        with self.connection() as conn:
            return fetch_table(
                conn,
                "SELECT * FROM position_results WHERE run_id = ? "
                "ORDER BY setting, strategy, position",
                [run_id],
            )

    def write_gate_decisions(self, rows: Sequence[GateDecisionRow]) -> int:
        """Append the prompt gate's decisions; return the row count."""
        with self.connection() as conn:
            return insert_gate_decisions(conn, rows)

    def write_scores(self, rows: Iterable[ScoreRow]) -> int:
        """Insert or replace scores (key: run, case, repeat, scorer); return the row count.

        A NaN score is stored as NULL (unscored); within ``rows`` the last row for a key wins.
        """
        items = list(rows)
        if not items:
            return 0
        with self.connection() as conn:
            return _runs.insert_scores(conn, items)

    # -- ResultSink ---------------------------------------------------------------------

    def completed_call_keys(self, run_id: str) -> set[str]:
        """Return the ``call_key`` of every call of ``run_id`` that finished without error."""
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT call_key FROM calls WHERE run_id = ? AND error_kind IS NULL", [run_id]
            ).fetchall()
        return {r[0] for r in rows}

    def write(self, record: CallRecord) -> None:
        """Journal one finished call; start loading a batch into DuckDB when one is due.

        The batch loads on a background thread, so the caller (the runner's event loop)
        never waits for DuckDB. A due batch is tried once without waiting for the file lock:
        if another process holds the database the records stay in the journal and the load
        is retried later (``flush`` waits).
        """
        row = record_to_row(record)
        with self._mutex:
            self._journal.append(row)
            due = len(self._journal.pending) >= self.batch_size or (
                time.monotonic() - self._last_load >= self.batch_interval_s
            )
            if not due or (self._loader is not None and self._loader.is_alive()):
                return
            self._last_load = time.monotonic()
            self._loader = threading.Thread(
                target=self._load_in_background, name="evalmon-store-loader", daemon=True
            )
            self._loader.start()

    def flush(self) -> None:
        """Load every journaled record into DuckDB (waits up to ``lock_timeout_s``)."""
        with self.connection():
            pass

    # -- ResponseCache ------------------------------------------------------------------

    def lookup(self, keys: Sequence[str]) -> dict[str, CallResult]:
        """Return cached results (``cached=True``, cost 0, 0 attempts) for the keys found."""
        if not keys:
            return {}
        with self.connection() as conn:
            return cached_results(conn, keys)

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Flush, then close the journal files (a failed flush leaves them for recovery)."""
        if self._loader is not None:
            self._loader.join()
        try:
            if self._journal.pending:
                self.flush()
        finally:
            with self._mutex:
                self._journal.close()

    def __enter__(self) -> Store:
        """Return the store itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """Show the database path."""
        return f"Store({str(self.path)!r})"


def _select(columns: Sequence[str] | None) -> str:
    """The select list of ``columns`` (all for None), each checked to be a plain name."""
    if columns is None:
        return "*"
    bad = [c for c in columns if not c.isidentifier()]
    if bad or not columns:
        raise ValueError(f"not column names: {bad or 'none given'}")
    return ", ".join(f'"{c}"' for c in columns)
