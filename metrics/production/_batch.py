"""One batch of JSONL files: their lines in DuckDB, and the two ways of inserting them.

* :func:`insert_fast`: one ``INSERT`` parses, maps and checks every line and writes the new
  records straight into ``production_requests``. A line with a problem raises (the JSON
  parser's error, or DuckDB's ``error()`` on that row), which aborts the statement; so does
  a record id that occurs twice in the batch (checked afterwards). Clean batches, the usual
  case, cost one parse.
* Otherwise the transaction is rolled back and the batch is parsed again into the stage
  table (:func:`stage_lines`), where each rejected line keeps its number and reason, and
  the valid rows are inserted from there, first occurrence first (:func:`insert_staged`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from metrics.production._files import FilePlan
from metrics.production._lines import LINES_SCHEMA, LineBlock, LineReader
from metrics.production._report import QuarantinedLine
from metrics.production._schema import RAW_CHARS, RECORD_COLUMNS, literal, select_sql, struct_spec

STAGE = "_evalmon_ingest_stage"
LINES = "_evalmon_ingest_lines"
MARKER = "evalmon-ingest: a line needs checking"
# A CASE evaluates the trim only for the rare line that does not start with "{".
_OBJECT = (
    "CASE WHEN starts_with(line, '{') THEN true "
    "ELSE starts_with(ltrim(line, ' ' || chr(9) || chr(10) || chr(13)), '{') END"
)
_TRANSFORM = f"json_transform(line, {literal(struct_spec())})"
# The stage keeps a line that does not parse as a NULL struct; the one-pass insert lets it
# raise (``try`` costs a sixth of the parse), and the batch goes to the stage.
_SOURCE = f"SELECT file_id, line_no, line, try({_TRANSFORM}) AS j FROM {LINES}"
_SOURCE_FAST = f"SELECT file_id, line_no, line, {_TRANSFORM} AS j FROM {LINES}"
_MALFORMED = "Malformed JSON"
# The one-pass insert skips the object check: a line that is an array or a scalar parses to
# a struct of NULLs, so its missing request id already sends the batch to the stage.
_NOT_BLANK = " WHERE line <> chr(10) AND line <> (chr(13) || chr(10))"


@dataclass(slots=True)
class FileRun:
    """A file in the current batch: what was read of it, and what was wrong.

    Attributes:
        plan: What the bookkeeping said to do with it.
        file_id: Its number in this ingest.
        blocks: Its lines (JSONL files).
        lines: Lines read (blank ones included).
        blank: Empty lines among them (skipped, not quarantined).
        end: Offset after the last line read.
        next_line: Number of the line at ``end``.
        pending: Bytes of an unfinished last line left for the next ingest.
        quarantined: Lines rejected.
        raw: The start of each rejected line's text.
    """

    plan: FilePlan
    file_id: int
    blocks: list[LineBlock] = field(default_factory=list)
    lines: int = 0
    blank: int = 0
    end: int = 0
    next_line: int = 1
    pending: int = 0
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def reject(self, line: int, reason: str, raw: str) -> None:
        """Quarantine line ``line``."""
        self.quarantined.append(QuarantinedLine(str(self.plan.path), line, reason))
        self.raw.append(raw)

    def block_of(self, line: int) -> LineBlock:
        """The block holding line ``line``."""
        starts = [b.first_line for b in self.blocks]
        return self.blocks[bisect.bisect_right(starts, line) - 1]


class BatchLines:
    """The whole lines of a batch's files, split block by block as DuckDB asks for them.

    :meth:`stream` gives DuckDB a reader that splits the next block only when DuckDB wants
    it, so Python's newline scan overlaps DuckDB's parsing of the blocks before.
    :meth:`table` splits what is left and returns every line (for a second pass). Use as a
    context manager: the files are opened on entry (so errors surface there), closed on exit.

    Args:
        plans: ``(file_id, plan)`` of each file.
        block_bytes: Target block size.
        on_read: Called with the bytes of the file each block covers; the calls for a file
            add up to the bytes from its start offset to its size.
    """

    def __init__(
        self, plans: Sequence[tuple[int, FilePlan]], block_bytes: int,
        on_read: Callable[[int], None] | None = None,
    ) -> None:  # fmt: skip
        """Remember the files; nothing is opened yet."""
        self.runs = [FileRun(plan, file_id) for file_id, plan in plans]
        self._block_bytes = block_bytes
        self._on_read = on_read or (lambda n_bytes: None)
        self._files = ExitStack()
        self._readers: list[LineReader] = []
        self._tables: list[pa.Table] = []
        self._batches = self._split()

    def __enter__(self) -> BatchLines:
        """Open every file."""
        with ExitStack() as stack:
            for run in self.runs:
                p = run.plan
                reader = LineReader(p.path, p.size, p.start, p.first_line, self._block_bytes)
                self._readers.append(stack.enter_context(reader))
            self._files = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the files."""
        self._files.close()

    def _split(self) -> Iterator[pa.RecordBatch]:
        for run, reader in zip(self.runs, self._readers, strict=True):
            read = run.plan.start
            for block in reader.blocks():
                run.blocks.append(block)
                run.blank += block.blank_lines()
                table = block.table(run.file_id)
                self._tables.append(table)
                self._on_read(block.end - read)
                read = block.end
                yield from table.to_batches()
            run.lines = reader.next_line - run.plan.first_line
            run.end, run.next_line, run.pending = reader.end, reader.next_line, reader.pending
            if run.plan.size > read:  # a line still being written, or only a BOM
                self._on_read(run.plan.size - read)

    def stream(self) -> pa.RecordBatchReader:
        """The lines not split yet, as a stream DuckDB reads once."""
        return pa.RecordBatchReader.from_batches(LINES_SCHEMA, self._batches)

    def table(self) -> pa.Table:
        """Every line of the batch (splitting what the stream did not reach)."""
        for _ in self._batches:
            pass
        return pa.concat_tables(self._tables) if self._tables else LINES_SCHEMA.empty_table()


_COLUMNS = ", ".join(RECORD_COLUMNS)
_FILES = (
    "(SELECT unnest($ids::INTEGER[]) AS file_id, unnest($paths::VARCHAR[]) AS path) f "
    "USING (file_id)"
)
_NEW = "NOT EXISTS (SELECT 1 FROM production_requests p WHERE p.record_id = m.record_id)"
_FAST = f"""
INSERT INTO production_requests ({_COLUMNS}, source_file, source_line, ingested_at)
SELECT {", ".join(f"m.{c}" for c in RECORD_COLUMNS)}, f.path, m.line_no, $now
FROM (SELECT * REPLACE (
        CASE WHEN reason IS NULL THEN record_id ELSE error({literal(MARKER)}) END AS record_id)
      FROM ({select_sql(_SOURCE_FAST + _NOT_BLANK, "true")})) m
JOIN {_FILES}
WHERE {_NEW}
"""
_STAGED = f"""
INSERT INTO production_requests ({_COLUMNS}, source_file, source_line, ingested_at)
SELECT {", ".join(f"m.{c}" for c in RECORD_COLUMNS)}, f.path, m.line_no, $now
FROM {STAGE} m JOIN {_FILES}
WHERE m.reason IS NULL AND {_NEW}
QUALIFY row_number() OVER (PARTITION BY m.record_id ORDER BY m.file_id, m.line_no) = 1
"""


def _params(runs: Sequence[FileRun], now: object) -> dict[str, object]:
    return {
        "now": now,
        "ids": [r.file_id for r in runs],
        "paths": [str(r.plan.path) for r in runs],
    }


def insert_fast(conn: duckdb.DuckDBPyConnection, runs: Sequence[FileRun], now: object) -> bool:
    """Insert the batch in one pass; False (and nothing to keep) when it needs the stage.

    Run it in a transaction and roll back on False: rows may have been written.
    """
    try:
        conn.execute(_FAST, _params(runs, now)).fetchall()
    except duckdb.Error as exc:
        if MARKER in str(exc) or _MALFORMED in str(exc):
            return False
        raise
    except UnicodeDecodeError:  # DuckDB quoted a line that is not UTF-8 in its error
        return False
    # Distinct hashes are cheaper to count than strings; a collision only costs the stage.
    ((duplicates,),) = conn.execute(
        "SELECT count(*) - count(DISTINCT hash(record_id)) FROM production_requests "
        "WHERE ingested_at = $now",
        {"now": now},
    ).fetchall()
    return bool(duplicates == 0)


def explain(raw: bytes, reason: str) -> tuple[str, str] | None:
    """The worded reason and raw text of a rejected line; None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start + 1})", raw.decode("utf-8", "replace")[:RAW_CHARS]
    if not text.strip():
        return None
    if reason == "invalid JSON":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            where = "column" if exc.msg.endswith(" at") else "at column"
            reason = f"invalid JSON: {exc.msg} {where} {exc.colno}"
        except RecursionError:
            reason = "invalid JSON: nested too deeply"
        else:
            reason = (
                "not a JSON object"
                if not isinstance(value, dict)
                else "invalid JSON (DuckDB's JSON reader rejects it)"
            )
    return reason, text[:RAW_CHARS]


def stage_lines(conn: duckdb.DuckDBPyConnection, runs: Sequence[FileRun]) -> None:
    """Parse the batch into the stage; quarantine each rejected line with its reason."""
    conn.execute(f"INSERT INTO {STAGE} {select_sql(_SOURCE, _OBJECT)}")
    rejected = conn.execute(
        f"SELECT file_id, line_no, reason FROM {STAGE} WHERE reason IS NOT NULL "
        "ORDER BY file_id, line_no"
    ).fetchall()
    by_id = {r.file_id: r for r in runs}
    for file_id, line_no, reason in rejected:
        run = by_id[file_id]
        found = explain(run.block_of(line_no).raw(line_no), reason)
        if found is not None:
            run.reject(line_no, *found)


def insert_staged(
    conn: duckdb.DuckDBPyConnection, runs: Sequence[FileRun], now: object
) -> dict[int, int]:
    """Insert the stage's new valid rows; return the valid rows per file id."""
    conn.execute(_STAGED, _params(runs, now))
    return {
        int(r[0]): int(r[1])
        for r in conn.execute(
            f"SELECT file_id, count(*) FROM {STAGE} WHERE reason IS NULL GROUP BY 1"
        ).fetchall()
    }
