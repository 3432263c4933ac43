"""The background writer: a bounded queue drained by one thread into JSON-lines files.

``submit`` never blocks and never raises: when the queue is full, or after ``close``, the
record is dropped and counted. The thread takes what is queued (up to ``_BATCH`` records),
writes it with one unbuffered ``write(2)`` per batch (so the lines reach the OS within
milliseconds of the call) and wakes at least every ``tick_s`` to finish the file of a past
hour. A failed write is cut back to the last complete line (or the file is finished), its
records are counted as ``write_errors`` and the writer tries again with the next batch.
File naming and rotation are described in :mod:`metrics.capture._files`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from metrics.capture._build import redact_record
from metrics.capture._files import finish_part, hour_key, open_part, write_all
from metrics.capture._record import ProductionRecord

log = logging.getLogger(__name__)

_BATCH = 4096
_WARN_EVERY_S = 60.0

#: Called with a drop reason (``queue_full``, ``write_error``, ``invalid``, ``closed``)
#: and the number of records dropped.
DropHook = Callable[[str, int], None]


@dataclass(slots=True)
class _OpenFile:
    fd: int
    part: Path
    hour: str
    size: int = 0


@dataclass(slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class JsonlWriter:
    """Appends records to capture files from a daemon thread.

    Args:
        directory: Capture directory (created on the first write).
        app: App name, the start of each file name.
        max_file_bytes: Size at which a file is finished.
        queue_size: Records that may wait; more are dropped.
        clock: Returns the current aware time (the hour of each file name).
        on_drop: Told about every dropped record.
        tick_s: Longest sleep of the thread between checks for a new hour or ``close``.
    """

    def __init__(
        self,
        *,
        directory: Path,
        app: str,
        max_file_bytes: int,
        queue_size: int,
        clock: Callable[[], datetime],
        on_drop: DropHook,
        tick_s: float = 0.5,
    ) -> None:
        """Start the writer thread."""
        self._directory = directory
        self._app = app
        self._max_bytes = max_file_bytes
        self._clock = clock
        self._on_drop = on_drop
        self._tick_s = tick_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._writer_id = uuid.uuid4().hex[:8]
        self._seq = 0
        self._file: _OpenFile | None = None
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._closed = False
        self._stop = threading.Event()
        self._last_warning = -_WARN_EVERY_S
        self._thread = threading.Thread(
            target=self._run, name=f"evalmon-capture-{app}", daemon=True
        )
        self._thread.start()

    @property
    def writer_id(self) -> str:
        """The 8 hex digits that tell this writer's files apart."""
        return self._writer_id

    # -- producer side ------------------------------------------------------------------

    def submit(self, record: ProductionRecord) -> None:
        """Queue a record; drop and count it when the queue is full or the writer closed."""
        if self._closed:
            self._drop("dropped_closed", "closed", 1)
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._drop("dropped_queue_full", "queue_full", 1)

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued before this call is written; False on timeout."""
        if self._closed or not self._thread.is_alive():
            return False
        deadline = time.monotonic() + timeout_s
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout_s)
        except queue.Full:
            return False
        return marker.done.wait(max(0.0, deadline - time.monotonic()))

    def close(self, timeout_s: float) -> bool:
        """Write what is queued, finish the current file and stop; False on timeout."""
        if not self._closed:
            self._closed = True
            self._stop.set()
            # When the queue is full the thread drains it first, then sees the stop event.
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            return False
        # A submit that raced with close() left a record the thread will never see.
        late = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            late += isinstance(item, ProductionRecord)
        if late:
            self._drop("dropped_closed", "closed", late)
        return True

    def counts(self) -> dict[str, int]:
        """Counters so far, plus ``queued`` (records waiting now)."""
        with self._lock:
            counts = dict(self._counts)
        counts["queued"] = self._queue.qsize()
        return counts

    # -- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            items = self._take()
            records = [item for item in items if isinstance(item, ProductionRecord)]
            try:
                self._rotate_if_new_hour()
                if records:
                    self._write(records)
            except Exception:  # a bug must not kill the thread: count and carry on
                log.exception("evalmon capture writer failed; %d records lost", len(records))
                self._drop("write_errors", "write_error", len(records))
            for item in items:
                if isinstance(item, _Flush):
                    item.done.set()
            if self._stop.is_set() and self._queue.empty():
                break
        try:
            self._finish_file()
        except Exception:
            log.exception("evalmon capture writer could not finish its file")

    def _take(self) -> list[object]:
        try:
            items = [self._queue.get(timeout=self._tick_s)]
        except queue.Empty:
            return []
        while len(items) < _BATCH:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _write(self, records: list[ProductionRecord]) -> None:
        lines: list[bytes] = []
        for record in records:
            try:
                lines.append(redact_record(record).model_dump_json().encode("utf-8") + b"\n")
            except Exception:
                log.exception("evalmon capture could not serialize a record; dropped")
                self._drop("dropped_invalid", "invalid", 1)
        chunk: list[bytes] = []
        size = self._file.size if self._file is not None else 0
        for line in lines:
            if size > 0 and size + len(line) > self._max_bytes:
                self._append(chunk)
                chunk = []
                self._finish_file()
                size = 0
            chunk.append(line)
            size += len(line)
        self._append(chunk)

    def _append(self, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        try:
            if self._file is None:
                self._file = self._open()
            write_all(self._file.fd, data)
        except OSError as exc:
            self._drop("write_errors", "write_error", len(lines))
            self._warn(exc)
            self._recover_after_error()
            return
        self._file.size += len(data)
        with self._lock:
            self._counts["recorded"] += len(lines)

    def _open(self) -> _OpenFile:
        hour = hour_key(self._clock())
        fd, part, self._seq = open_part(
            self._directory, self._app, hour, self._writer_id, self._seq + 1
        )
        return _OpenFile(fd=fd, part=part, hour=hour)

    def _recover_after_error(self) -> None:
        """Cut the file back to its last complete line, or finish it if that fails too."""
        current = self._file
        if current is None:
            return
        try:
            os.ftruncate(current.fd, current.size)
        except OSError:
            self._finish_file()

    def _rotate_if_new_hour(self) -> None:
        if self._file is not None and self._file.hour != hour_key(self._clock()):
            self._finish_file()

    def _finish_file(self) -> None:
        current, self._file = self._file, None
        if current is None:
            return
        try:
            renamed = finish_part(current.fd, current.part, current.size)
        except OSError as exc:
            log.warning(
                "evalmon capture could not finish %s (%s); it stays a .part file: "
                "metrics.capture.recover_part_files finishes it later",
                current.part,
                exc,
            )
            return
        if renamed:
            with self._lock:
                self._counts["files_rotated"] += 1

    # -- counting -----------------------------------------------------------------------

    def _drop(self, counter: str, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self._counts[counter] += n
        try:
            self._on_drop(reason, n)
        except Exception:
            log.exception("evalmon capture drop hook failed")

    def _warn(self, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S:
            return
        self._last_warning = now
        log.warning(
            "evalmon capture cannot write to %s (%s): records are dropped and counted in "
            "Capture.stats().write_errors until it can; make the directory exist and be "
            "writable by this process (this warning repeats at most once a minute)",
            self._directory,
            exc,
        )
