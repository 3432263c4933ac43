"""The fake server's shared state: scripted queue, faults, history and counters.

All methods take one ``threading.Lock`` briefly and never await, so a test thread can
script the server while its event loop thread is serving requests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakeserver._faults import (
    Api,
    Fault,
    FaultConfig,
    FaultDice,
    Reply,
    Scripted,
    TokenBucket,
)

#: What a responder may return: a reply text, a :class:`Reply`, a :class:`Fault`, or
#: ``None`` for the default echo reply (or an awaitable of one of those).
ResponderResult = Reply | Fault | str | None
Responder = Callable[[dict[str, Any], str], "ResponderResult | Awaitable[ResponderResult]"]

_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})


@dataclass
class RecordedRequest:
    """One request the server received.

    Attributes:
        seq: 1-based arrival number.
        api: ``"openai"``, ``"anthropic"`` or ``"other"``.
        method: HTTP method.
        path: URL path.
        body: The parsed JSON body (None when it was not JSON).
        headers: Request headers (lowercased names); auth header values are redacted.
        received_at: ``time.time()`` at arrival.
        outcome: ``"ok"``, ``"rate_limited"``, a fault kind (``"429"``, ``"500"``,
            ``"timeout"``, ``"drop"``, ``"malformed"`` ...), or None while in flight.
        status: HTTP status sent (None for a drop, or while in flight).
    """

    seq: int
    api: str
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    received_at: float
    outcome: str | None = None
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return {
            "seq": self.seq,
            "api": self.api,
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "headers": self.headers,
            "received_at": self.received_at,
            "outcome": self.outcome,
            "status": self.status,
        }


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return headers with lowercased names and auth values replaced by ``[redacted]``."""
    return {
        k.lower(): ("[redacted]" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()
    }


@dataclass
class Decision:
    """What the server decided to do with one generation request."""

    record: RecordedRequest
    fault: Fault | None = None
    scripted: Reply | None = None
    latency_s: float = 0.0
    rate_limited: bool = False


@dataclass
class ServerState:
    """Scripted replies, fault settings, history and counters of one fake server."""

    faults: FaultConfig = field(default_factory=FaultConfig)
    responder: Responder | None = None
    max_history: int = 10_000
    models: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "claude-haiku-4-5")

    def __post_init__(self) -> None:
        """Build the lock, queue and counters."""
        self._lock = threading.Lock()
        self._initial_faults = self.faults
        self._reset_locked(self.faults)

    def _reset_locked(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._dice = FaultDice(faults)
        self._bucket = (
            TokenBucket(faults.rate_limit_rps, faults.rate_limit_burst)
            if faults.rate_limit_rps is not None
            else None
        )
        self._queue: deque[Scripted] = deque()
        self._history: deque[RecordedRequest] = deque(maxlen=self.max_history or None)
        self._seq = 0
        self._by_status: Counter[int] = Counter()
        self._by_outcome: Counter[str] = Counter()
        self._by_api: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._started = time.monotonic()

    # -- scripting ------------------------------------------------------------------

    def enqueue(self, item: Scripted) -> None:
        """Append a scripted reply or fault to the FIFO queue."""
        with self._lock:
            self._queue.append(item)

    def set_faults(self, **changes: Any) -> FaultConfig:
        """Update fault settings (only the given fields) and reseed; return the new config."""
        with self._lock:
            new = self.faults.updated(**changes)
            self.faults = new
            self._dice = FaultDice(new)
            if "rate_limit_rps" in changes or "rate_limit_burst" in changes:
                self._bucket = (
                    TokenBucket(new.rate_limit_rps, new.rate_limit_burst)
                    if new.rate_limit_rps is not None
                    else None
                )
            return new

    def reset(self) -> None:
        """Clear queue, history and counters, and restore the initial fault settings."""
        with self._lock:
            self._reset_locked(self._initial_faults)

    # -- request path ---------------------------------------------------------------

    def record(
        self,
        api: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        headers: Mapping[str, str],
    ) -> RecordedRequest:
        """Record a request that is not subject to faults (models, count_tokens ...)."""
        with self._lock:
            return self._record_locked(api, method, path, body, headers)

    def _record_locked(
        self,
        api: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        headers: Mapping[str, str],
    ) -> RecordedRequest:
        self._seq += 1
        rec = RecordedRequest(
            self._seq, api, method, path, body, redact_headers(headers), time.time()
        )
        self._history.append(rec)
        self._by_api[api] += 1
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return rec

    def decide(
        self, api: Api, method: str, path: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Decision:
        """Record a generation request and decide its fault, scripted reply and latency."""
        with self._lock:
            rec = self._record_locked(api, method, path, body, headers)
            if self._bucket is not None:
                wait = self._bucket.try_take()
                if wait > 0:
                    return Decision(rec, Fault("429", retry_after_s=wait), rate_limited=True)
            latency = self._dice.latency()
            fault = self._dice.draw_fault()
            if fault is not None:
                return Decision(rec, fault, latency_s=latency)
            for i, item in enumerate(self._queue):
                if item.api is None or item.api == api:
                    del self._queue[i]
                    if isinstance(item, Fault):
                        return Decision(rec, item, latency_s=latency)
                    return Decision(rec, scripted=item, latency_s=latency + item.delay_s)
            return Decision(rec, latency_s=latency)

    def finish(self, rec: RecordedRequest, outcome: str, status: int | None) -> None:
        """Mark a request answered (or dropped) and count it."""
        with self._lock:
            rec.outcome, rec.status = outcome, status
            self._by_outcome[outcome] += 1
            if status is not None:
                self._by_status[status] += 1
            self._in_flight -= 1

    # -- inspection -----------------------------------------------------------------

    @property
    def history(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        with self._lock:
            return list(self._history)

    def queued(self) -> int:
        """Return how many scripted items are not consumed yet."""
        with self._lock:
            return len(self._queue)

    def stats(self) -> dict[str, Any]:
        """Return counters as a JSON-ready dict (``by_status`` keys are ints).

        Keys: ``requests_total``, ``by_status``, ``by_outcome``, ``by_api``,
        ``in_flight``, ``max_in_flight``, ``queued``, ``uptime_s`` and ``faults``.
        """
        with self._lock:
            return {
                "requests_total": self._seq,
                "by_status": dict(sorted(self._by_status.items())),
                "by_outcome": dict(self._by_outcome),
                "by_api": dict(self._by_api),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "queued": len(self._queue),
                "uptime_s": time.monotonic() - self._started,
                "faults": self.faults.to_json(),
            }
