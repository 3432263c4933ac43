"""Fault configuration, scripted replies and the token-bucket rate limiter.

Everything here is plain data plus small deterministic helpers, so the server module
stays about HTTP and the same objects can travel as JSON to a server in another process.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["openai", "anthropic"]

#: Fault kinds that are not an HTTP error status.
SPECIAL_FAULTS = frozenset({"timeout", "drop", "malformed", "not_json", "bad_shape"})

#: Order in which the probabilistic faults share one uniform draw.
_RANDOM_FAULT_ORDER: tuple[tuple[str, str], ...] = (
    ("p_429", "429"),
    ("p_500", "500"),
    ("p_529", "529"),
    ("p_timeout", "timeout"),
    ("p_drop", "drop"),
    ("p_malformed", "malformed"),
)


def validate_fault_kind(kind: str) -> str:
    """Check a fault kind and return it.

    Args:
        kind: ``"timeout"``, ``"drop"``, ``"malformed"``, ``"not_json"``, ``"bad_shape"``
            or an HTTP error status as a string, such as ``"429"``, ``"500"``, ``"503"``,
            ``"529"``, ``"400"``, ``"401"``.

    Returns:
        The same kind.

    Raises:
        ValueError: When ``kind`` is none of those.
    """
    if kind in SPECIAL_FAULTS:
        return kind
    if kind.isdigit() and 400 <= int(kind) <= 599:
        return kind
    raise ValueError(
        f"unknown fault kind {kind!r}: use 'timeout', 'drop', 'malformed', 'not_json', "
        "'bad_shape' or an HTTP error status such as '429', '500', '503' or '529'"
    )


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure.

    Attributes:
        kind: ``"timeout"`` (hang ``hang_s`` before answering), ``"drop"`` (close the
            connection without a response), ``"malformed"`` (200 with truncated JSON),
            ``"not_json"`` (200 ``text/html``, like a proxy error page), ``"bad_shape"``
            (200 JSON without the expected fields) or an HTTP status string (``"429"``,
            ``"500"``, ``"529"`` ...) answered with that API's error JSON.
        retry_after_s: For HTTP errors, send ``retry-after`` (whole seconds, rounded up)
            and ``retry-after-ms`` headers with this delay. ``None`` sends neither.
        hang_s: For ``"timeout"``, how long to hang; ``None`` uses the server's
            ``FaultConfig.hang_s``.
        message: Error message to send instead of the default one.
        api: Only a request to this API consumes the fault from the queue (``None``: any).
    """

    kind: str
    retry_after_s: float | None = None
    hang_s: float | None = None
    message: str | None = None
    api: Api | None = None

    def __post_init__(self) -> None:
        """Validate the kind."""
        validate_fault_kind(self.kind)

    @property
    def status(self) -> int | None:
        """HTTP error status of the fault, or None for the kinds that are not one."""
        return int(self.kind) if self.kind.isdigit() else None


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted (or responder-made) successful reply.

    Attributes:
        text: The assistant text.
        finish_reason: ``"stop"``/``"length"`` (OpenAI names) or ``"end_turn"``/
            ``"max_tokens"``/``"stop_sequence"`` (Anthropic names); each API gets its own
            name. ``None`` means ``stop``, or ``length`` when the reply is cut at the
            request's ``max_tokens``.
        model: Model name to report; ``None`` reports the request's model with a version
            suffix (``gpt-4o`` -> ``gpt-4o-2024-08-06``).
        input_tokens: Prompt token count to report; ``None`` counts words of the request.
        output_tokens: Completion token count to report; ``None`` counts words of ``text``.
        logprobs: Per-token log-probabilities (one per whitespace token of ``text``) to
            return when the request asks for logprobs; ``None`` makes deterministic ones.
        delay_s: Extra seconds to wait before answering (on top of ``latency_s``).
        api: Only a request to this API consumes the reply from the queue (``None``: any).
    """

    text: str
    finish_reason: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    logprobs: tuple[float, ...] | None = None
    delay_s: float = 0.0
    api: Api | None = None


Scripted = Reply | Fault


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Probabilistic faults, latency and rate limit; deterministic for a given ``seed``.

    The probabilistic faults share one uniform draw per generation request, in arrival
    order, from ``random.Random(seed)``; so the n-th request always gets the same fault.
    Their probabilities must add up to at most 1.

    Attributes:
        seed: Seed of the fault and jitter draws.
        p_429: Probability of a 429 rate-limit error (with retry-after headers).
        p_500: Probability of a 500 server error.
        p_529: Probability of a 529 overloaded error (Anthropic's ``overloaded_error``).
        p_timeout: Probability of hanging ``hang_s`` before answering.
        p_drop: Probability of closing the connection without a response.
        p_malformed: Probability of a 200 response whose body is not valid JSON.
        retry_after_s: Delay advertised by the probabilistic 429s.
        hang_s: How long a timeout fault hangs (make it longer than the client timeout).
        latency_s: Fixed latency added before every generation response.
        latency_jitter_s: Extra uniform random latency in ``[0, latency_jitter_s)``.
        rate_limit_rps: Token-bucket refill rate in requests/second; ``None`` disables it.
        rate_limit_burst: Bucket size; ``None`` means ``rate_limit_rps`` (one second's worth).
    """

    seed: int = 0
    p_429: float = 0.0
    p_500: float = 0.0
    p_529: float = 0.0
    p_timeout: float = 0.0
    p_drop: float = 0.0
    p_malformed: float = 0.0
    retry_after_s: float = 1.0
    hang_s: float = 30.0
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    rate_limit_rps: float | None = None
    rate_limit_burst: float | None = None

    def __post_init__(self) -> None:
        """Validate probabilities and rates."""
        probs = [getattr(self, name) for name, _ in _RANDOM_FAULT_ORDER]
        if any(p < 0 or p > 1 for p in probs) or sum(probs) > 1 + 1e-9:
            raise ValueError(f"fault probabilities must be in [0, 1] and sum to <= 1: {probs}")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("rate_limit_rps must be > 0 (or None to disable)")
        if self.rate_limit_burst is not None and self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be >= 1")
        for name in ("retry_after_s", "hang_s", "latency_s", "latency_jitter_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    @property
    def any_random_fault(self) -> bool:
        """Whether any fault probability is above zero."""
        return any(getattr(self, name) > 0 for name, _ in _RANDOM_FAULT_ORDER)

    def to_json(self) -> dict[str, Any]:
        """Return the configuration as a JSON-ready dict."""
        return dataclasses.asdict(self)

    def updated(self, **changes: Any) -> FaultConfig:
        """Return a copy with ``changes`` applied (validated).

        Raises:
            TypeError: On an unknown field name.
            ValueError: On an invalid value.
        """
        return dataclasses.replace(self, **changes)


@dataclass
class FaultDice:
    """The seeded random stream behind probabilistic faults and latency jitter."""

    config: FaultConfig
    _rng: random.Random = field(init=False)
    _jitter_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        """Seed the streams."""
        self._rng = random.Random(self.config.seed)
        self._jitter_rng = random.Random(self.config.seed + 1)

    def draw_fault(self) -> Fault | None:
        """Draw the fault for the next request, or None for a normal answer."""
        cfg = self.config
        if not cfg.any_random_fault:
            return None
        u = self._rng.random()
        edge = 0.0
        for name, kind in _RANDOM_FAULT_ORDER:
            edge += getattr(cfg, name)
            if u < edge:
                retry = cfg.retry_after_s if kind == "429" else None
                return Fault(kind, retry_after_s=retry)
        return None

    def latency(self) -> float:
        """Return the latency to add to the next response, in seconds."""
        cfg = self.config
        if cfg.latency_jitter_s > 0:
            return cfg.latency_s + self._jitter_rng.random() * cfg.latency_jitter_s
        return cfg.latency_s


class TokenBucket:
    """A token bucket: ``rate`` tokens/second refill, at most ``burst`` stored.

    Not thread-safe by itself; the server calls it under its lock.
    """

    def __init__(self, rate: float, burst: float | None = None, now: float | None = None) -> None:
        """Create a full bucket.

        Args:
            rate: Refill rate in tokens per second (> 0).
            burst: Capacity; ``None`` means ``rate`` (one second's worth, at least 1).
            now: ``time.monotonic()`` value to start from (for tests).
        """
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self.capacity
        self._last = time.monotonic() if now is None else now

    def try_take(self, now: float | None = None) -> float:
        """Take one token.

        Args:
            now: ``time.monotonic()`` value to use (for tests).

        Returns:
            0.0 when a token was taken, else the seconds until one will be available.
        """
        t = time.monotonic() if now is None else now
        self._tokens = min(self.capacity, self._tokens + (t - self._last) * self.rate)
        self._last = t
        if self._tokens >= 1.0 - 1e-9:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


def retry_after_headers(seconds: float) -> dict[str, str]:
    """Return ``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` headers."""
    ms = max(1, math.ceil(seconds * 1000))
    return {"retry-after": str(max(0, math.ceil(seconds))), "retry-after-ms": str(ms)}
