"""The call path: start a call, then observe its metrics and queue its record.

Everything here runs in the app's call and nothing raises: a failure is logged, and the
record is dropped and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from metrics.capture._build import RecordBuilder
from metrics.capture._config import CaptureStats
from metrics.capture._extract import ErrorInfo, Output
from metrics.capture._live import CallLabels, LiveMetrics
from metrics.capture._record import ChatMessage
from metrics.capture._recording import PendingCall
from metrics.capture._scope import CallMetadata
from metrics.capture._writer import JsonlWriter

log = logging.getLogger(__name__)


class CallRecorder:
    """Implements the wrappers' and ``Recording``'s sink over a builder, metrics and writer.

    Args:
        builder: Builds records.
        live: The live metrics.
        writer: The background writer.
    """

    def __init__(self, builder: RecordBuilder, live: LiveMetrics, writer: JsonlWriter) -> None:
        """Keep the parts."""
        self._builder = builder
        self._live = live
        self._writer = writer
        self._lock = threading.Lock()
        self._dropped_invalid = 0
        self._streams = 0

    def begin(
        self,
        *,
        provider: str,
        model: str,
        metadata: CallMetadata,
        messages: Callable[[], list[ChatMessage]] | None,
        max_tokens: int | None,
        temperature: float | None,
        secrets: tuple[str, ...],
    ) -> PendingCall | None:
        """Start a call: note the time and snapshot the request; None if that fails."""
        started = time.perf_counter()
        try:
            return self._builder.start(
                started=started,
                provider=provider,
                model=model,
                metadata=metadata,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                secrets=secrets,
            )
        except Exception:
            log.exception("evalmon capture could not start a record")
            self.count_invalid()
            return None

    def finish(
        self, call: PendingCall, *, output: Output | None, error: ErrorInfo | None, ended: float
    ) -> None:
        """Observe the metrics and queue the record."""
        latency = max(0.0, ended - call.started)
        try:
            self._live.observe(
                CallLabels(call.operation, call.provider, call.model, call.metadata.prompt or ""),
                latency_s=latency,
                error_type=error.type if error is not None else None,
                input_tokens=output.input_tokens if output is not None else None,
                output_tokens=output.output_tokens if output is not None else None,
            )
        except Exception:
            log.exception("evalmon capture could not update its metrics")
        try:
            record = self._builder.build(call, output, error, latency)
        except Exception:
            log.exception("evalmon capture could not build a record; dropped")
            self.count_invalid()
            return
        self._writer.submit(record)

    def count_stream(self) -> None:
        """Count a streaming call passed through unrecorded."""
        with self._lock:
            self._streams += 1

    def count_invalid(self) -> None:
        """Count a call whose record could not be built."""
        with self._lock:
            self._dropped_invalid += 1
        try:
            self._live.count_dropped("invalid", 1)
        except Exception:
            log.exception("evalmon capture could not count a dropped record")

    def stats(self) -> CaptureStats:
        """Counters so far, the writer's included."""
        counts = self._writer.counts()
        with self._lock:
            invalid, streams = self._dropped_invalid, self._streams
        return CaptureStats(
            recorded=counts.get("recorded", 0),
            queued=counts.get("queued", 0),
            dropped_queue_full=counts.get("dropped_queue_full", 0),
            dropped_invalid=invalid + counts.get("dropped_invalid", 0),
            dropped_closed=counts.get("dropped_closed", 0),
            write_errors=counts.get("write_errors", 0),
            files_rotated=counts.get("files_rotated", 0),
            streams_unrecorded=streams,
        )
