"""A fallback chain: the primary model, then the next one when the primary is down."""

from __future__ import annotations

import random
from collections.abc import Sequence

from evals.providers._errors import ProviderError
from evals.providers._retry import RetryPolicy, call_with_retries
from evals.providers._types import CallResult, GenerateParams, Message, Provider


class FallbackProvider:
    """Try each model in turn; move on only when one is unavailable.

    Each member is retried on its own (``policy``) first. The chain moves to the next member
    only on an outage (5xx, timeout, connection failure or rate limit that outlasted the
    retries), never on a bad request or an authentication error, which would fail the same
    way everywhere. The result's ``answered_by`` names the model that answered, and
    ``extra["fallback_errors"]`` lists the members that failed before it.

    Args:
        members: Providers in order of preference (at least two).
        policy: Retry policy applied to each member.
    """

    def __init__(self, members: Sequence[Provider], policy: RetryPolicy | None = None) -> None:
        """Build the chain."""
        if len(members) < 2:
            raise ValueError("a fallback chain needs at least two models")
        self._members = list(members)
        self._policy = policy or RetryPolicy()
        self._rng = random.Random()

    @property
    def ref(self) -> str:
        """``fallback:`` followed by the members' references, comma-separated."""
        return "fallback:" + ",".join(m.ref for m in self._members)

    @property
    def members(self) -> list[Provider]:
        """The providers in order of preference."""
        return list(self._members)

    @property
    def max_concurrency(self) -> int | None:
        """The smallest limit among the members, if any has one."""
        limits = [m.max_concurrency for m in self._members if m.max_concurrency is not None]
        return min(limits) if limits else None

    async def generate(self, messages: list[Message], params: GenerateParams) -> CallResult:
        """Answer from the first member that is up.

        Raises:
            ProviderError: Not retryable: a member failed with a non-outage error, or every
                member was down.
        """
        failures: list[str] = []
        attempts = 0
        for member in self._members:
            result = await call_with_retries(member, messages, params, self._policy, rng=self._rng)
            attempts += result.attempts
            if result.error is None:
                return result.replace(
                    attempts=attempts, extra={**result.extra, "fallback_errors": failures}
                )
            failures.append(f"{member.ref}: {result.error.kind}")
            error = ProviderError(
                result.error.kind, result.error.message, status=result.error.status
            )
            if not error.is_outage:
                raise ProviderError(
                    error.kind, f"{member.ref}: {error}", status=error.status,
                    retryable=False, attempts=attempts,
                )  # fmt: skip
        raise ProviderError(
            error.kind, "every model in the chain failed: " + "; ".join(failures),
            status=error.status, retryable=False, attempts=attempts,
        )  # fmt: skip

    async def check(self) -> None:
        """Pass when at least one member answers; otherwise raise the primary's error."""
        errors: list[ProviderError] = []
        for member in self._members:
            try:
                await member.check()
            except ProviderError as exc:
                errors.append(exc)
        if len(errors) == len(self._members):
            raise errors[0]

    async def aclose(self) -> None:
        """Close every member."""
        for member in self._members:
            await member.aclose()
