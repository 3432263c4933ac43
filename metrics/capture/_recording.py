"""One call in flight, and the ``Recording`` context manager around a call the app makes."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from metrics.capture._extract import ErrorInfo, Output, as_str, error_info
from metrics.capture._record import ChatMessage
from metrics.capture._scope import CallMetadata

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingCall:
    """What is known about a call when it starts.

    Attributes:
        request_id: The request id the record gets.
        started_at: Aware start time (the record's timestamp).
        started: ``time.perf_counter()`` at the start (for the latency).
        metadata: Route, prompt, user and contexts in effect.
        provider: ``gen_ai.provider.name``.
        model: The model asked for.
        operation: ``gen_ai.operation.name``.
        input_messages: The messages sent, reduced to text (snapshotted at the start, so
            the app may change its list afterwards).
        max_tokens: ``max_tokens`` as sent.
        temperature: ``temperature`` as sent.
        secrets: Values to redact from error messages (the client's API key).
    """

    request_id: str
    started_at: datetime
    started: float
    metadata: CallMetadata
    provider: str
    model: str
    operation: str = "chat"
    input_messages: list[ChatMessage] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    secrets: tuple[str, ...] = ()


class CallSink(Protocol):
    """Where finished calls go (the :class:`~metrics.capture.Capture`)."""

    def finish(
        self, call: PendingCall, *, output: Output | None, error: ErrorInfo | None, ended: float
    ) -> None:
        """Record a finished call; never raises."""


class Recording:
    """A call the app makes itself, recorded when the ``with`` block ends.

    Use it as ``with capture.record(...) as rec:`` (or ``async with``; both work in async
    code, since nothing here blocks) and call :meth:`set_output` with what the model
    returned. An exception leaving the block is recorded as the call's error (keeping any
    output already set) and propagates unchanged. A block that ends without output or
    error is recorded as ``ok`` with no output.
    """

    def __init__(self, sink: CallSink | None, call: PendingCall | None) -> None:
        """Wrap a pending call; with None for either, the recording does nothing."""
        self._sink = sink
        self._call = call
        self._output: Output | None = None
        self._error: ErrorInfo | None = None
        self._ended: float | None = None
        self._done = False

    @property
    def request_id(self) -> str | None:
        """The record's request id (None when the record could not be started)."""
        return self._call.request_id if self._call is not None else None

    def set_output(
        self,
        text: str | None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reason: str | Sequence[str] | None = None,
        model_version: str | None = None,
        response_id: str | None = None,
        logprobs: Sequence[float] | None = None,
    ) -> None:
        """Give the model's answer; the latency ends here (not at the end of the block).

        Args:
            text: The output text.
            input_tokens: Input tokens the provider reported.
            output_tokens: Output tokens the provider reported.
            finish_reason: The provider's finish reason, or one per choice.
            model_version: The model version the provider reported.
            response_id: The provider's response id.
            logprobs: Per-token logprobs, when the provider returned them.
        """
        self._ended = time.perf_counter()
        try:
            reasons = (finish_reason,) if isinstance(finish_reason, str) else finish_reason or ()
            self._output = Output(
                text=text,
                finish_reasons=tuple(str(r) for r in reasons),
                response_model=as_str(model_version),
                response_id=as_str(response_id),
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                logprobs=None if logprobs is None else tuple(float(v) for v in logprobs),
            )
        except Exception:  # recording must never break the app: keep what can be kept
            log.exception("evalmon capture: set_output got values it cannot record")
            self._output = Output(text=text if isinstance(text, str) else None)

    def set_error(self, exc: BaseException) -> None:
        """Record ``exc`` as the call's error, for an error the app catches in the block."""
        if self._ended is None:
            self._ended = time.perf_counter()
        secrets = self._call.secrets if self._call is not None else ()
        self._error = error_info(exc, secrets)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._error is None:
            self.set_error(exc)
        self._finish()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        if self._done or self._sink is None or self._call is None:
            return
        self._done = True
        ended = self._ended if self._ended is not None else time.perf_counter()
        self._sink.finish(self._call, output=self._output, error=self._error, ended=ended)
