"""Retries with exponential backoff and jitter that honour ``Retry-After``."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from evals.providers._errors import ProviderError
from evals.providers._types import CallResult, GenerateParams, Message, Provider


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again.

    Attributes:
        max_retries: Retries after the first attempt (so at most ``max_retries + 1`` attempts).
        backoff_base_s: First backoff ceiling; doubles with each retry (full jitter).
        backoff_max_s: Largest backoff.
        timeout_s: Per-attempt timeout.
        max_retry_after_s: Longest ``Retry-After`` honoured as given; longer ones are capped.
    """

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 60.0
    max_retry_after_s: float = 120.0

    def backoff_s(self, retry_index: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Return the delay before retry number ``retry_index`` (0-based)."""
        if retry_after_s is not None:
            # The server said when; add a little jitter so callers don't return in lockstep.
            return min(retry_after_s, self.max_retry_after_s) * (1.0 + 0.1 * rng.random())
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2.0**retry_index))
        return rng.uniform(0.0, ceiling)


class AttemptGate(Protocol):
    """Admission control around each attempt (rate limits, adaptive concurrency)."""

    async def acquire(self, estimated_tokens: int) -> object:
        """Wait until an attempt may start; return a permit for :meth:`release`."""
        ...

    def release(self, permit: object, error: ProviderError | None) -> None:
        """Report how the attempt ended."""
        ...


def estimate_tokens(messages: list[Message], params: GenerateParams) -> int:
    """Rough token estimate (4 characters a token plus the output budget) for rate limits."""
    return sum(len(m.content) for m in messages) // 4 + params.max_tokens


async def call_with_retries(
    provider: Provider,
    messages: list[Message],
    params: GenerateParams,
    policy: RetryPolicy,
    *,
    gate: AttemptGate | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> CallResult:
    """Call ``provider`` until it answers, a non-retryable error occurs, or retries run out.

    Returns:
        The provider's result with ``attempts`` set; on failure a result carrying ``error``
        (``finish_reason="error"``), never an exception for a provider failure.
    """
    rng = rng or random.Random()
    tokens = estimate_tokens(messages, params)
    last: ProviderError | None = None
    attempts = 0
    for attempt in range(policy.max_retries + 1):
        permit = await gate.acquire(tokens) if gate is not None else None
        error: ProviderError | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(policy.timeout_s):
                result = await provider.generate(messages, params)
        except ProviderError as exc:
            error = exc
        except TimeoutError:
            error = ProviderError("timeout", f"no answer within {policy.timeout_s:g} s")
        finally:
            if gate is not None:
                gate.release(permit, error)
        if error is None:
            latency = result.latency_s or (time.perf_counter() - started)
            return result.replace(attempts=attempts + result.attempts, latency_s=latency)
        attempts += error.attempts
        last = error
        if not error.retryable or attempt == policy.max_retries:
            break
        await sleep(policy.backoff_s(attempt, error.retry_after_s, rng))
    assert last is not None
    return error_result(provider.ref, last, attempts=attempts)


def error_result(model_ref: str, error: ProviderError, *, attempts: int) -> CallResult:
    """Build the recorded result of a call that failed with ``error``."""
    provider_name, _, model = model_ref.partition(":")
    return CallResult(
        text="",
        finish_reason="error",
        provider=provider_name,
        model=model,
        error=error.to_call_error(),
        attempts=attempts,
        answered_by="",
    )
