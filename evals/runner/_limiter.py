"""Admission control for calls: bounded concurrency, client-side rate limits, and AIMD on 429s."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from evals.providers import ProviderError

# On a 429, the request rate drops to this share of the successful calls of the last second.
DECREASE_FACTOR = 0.85
# Without 429s, the learned rate grows by this share per second.
INCREASE_PER_S = 0.08
# At most one cut per this many seconds (or per Retry-After, if longer): one congestion event.
CUT_COOLDOWN_S = 0.5
# The learned rate never falls below this share of the best second seen in the run.
FLOOR_SHARE_OF_PEAK = 0.25
# A cut is judged on the attempts right after it: if their share of 429s did not fall below
# this share of the last second's before the cut, slowing down did not help (the 429s don't
# depend on our rate), so the cut is undone; after two such cuts the limiter stops cutting
# and leaves 429s to Retry-After and the retries.
JUDGE_AFTER_ATTEMPTS = 40
INEFFECTIVE_SHARE = 0.5
# Cuts made when under this share of the last second's attempts were 429s are kept unjudged:
# a few 429s at the edge of a rate limit are exactly what a cut is for.
MIN_SHARE_TO_JUDGE = 0.05
MIN_RATE_PER_S = 0.05
WINDOW_S = 1.0


@dataclass(slots=True)
class Permit:
    """Proof that an attempt was admitted; handed back to :meth:`AdaptiveLimiter.release`."""

    issued_at: float


@dataclass(frozen=True, slots=True)
class LimiterStats:
    """Counters of a limiter, for progress and summaries."""

    rate_limited: int
    cuts: int
    rate_per_s: float | None
    undone_cuts: int


class AdaptiveLimiter:
    """Lets attempts start only within the concurrency, request-rate and token-rate limits.

    With ``adaptive`` on, a 429 pauses every caller until the server's ``Retry-After`` and
    cuts the request rate to :data:`DECREASE_FACTOR` of the calls that succeeded in the last
    second, at most once per :data:`CUT_COOLDOWN_S`. The rate then grows back by
    :data:`INCREASE_PER_S` a second while no 429 arrives, and the limit is lifted entirely
    once it is well above what the calls actually use. When a cut does not lower the share
    of 429s (they don't depend on our rate, e.g. an overloaded provider), it is undone, and
    after two such cuts the limiter leaves 429s to Retry-After and the retries.

    Args:
        concurrency: Most attempts in flight.
        requests_per_minute: Fixed request rate limit, if any.
        tokens_per_minute: Fixed token rate limit (estimated tokens), if any.
        adaptive: React to 429s.
    """

    def __init__(
        self,
        concurrency: int,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        adaptive: bool = True,
    ) -> None:
        """Create the limiter."""
        self._slots = asyncio.Semaphore(concurrency)
        self._ceiling = requests_per_minute / 60.0 if requests_per_minute else None
        self._rate: float | None = self._ceiling
        self._tokens_per_s = tokens_per_minute / 60.0 if tokens_per_minute else None
        self._adaptive = adaptive
        self._next_request_at = 0.0
        self._next_tokens_at = 0.0
        self._pause_until = 0.0
        self._last_cut = float("-inf")
        self._last_growth = time.monotonic()
        self._successes: deque[float] = deque()
        self._recent: deque[tuple[float, bool]] = deque()  # (time, was a 429) of attempts
        self._peak_per_s = 0
        self._rate_limited = 0
        self._cuts = 0
        self._undone = 0
        self._ineffective_in_a_row = 0
        self._attempts_since_cut = 0
        self._limited_since_cut = 0
        self._share_at_cut = 0.0
        self._judged = True
        self._rate_before_cut: float | None = None

    @property
    def stats(self) -> LimiterStats:
        """Current counters."""
        return LimiterStats(self._rate_limited, self._cuts, self._rate, self._undone)

    async def acquire(self, estimated_tokens: int) -> object:
        """Wait for a free slot, the end of any pause, and the rate limits."""
        await self._slots.acquire()
        try:
            now = time.monotonic()
            self._grow(now)
            start = max(now, self._pause_until)
            if self._rate is not None:
                start = max(start, self._next_request_at)
                self._next_request_at = start + 1.0 / self._rate
            if self._tokens_per_s is not None:
                start = max(start, self._next_tokens_at)
                self._next_tokens_at = start + estimated_tokens / self._tokens_per_s
            while (delay := max(start, self._pause_until) - time.monotonic()) > 0:
                await asyncio.sleep(delay)
        except BaseException:
            self._slots.release()
            raise
        return Permit(issued_at=time.monotonic())

    def release(self, permit: object, error: ProviderError | None) -> None:
        """Free the slot and learn from how the attempt ended."""
        self._slots.release()
        now = time.monotonic()
        limited = error is not None and error.kind == "rate_limited"
        self._recent.append((now, limited))
        issued = permit.issued_at if isinstance(permit, Permit) else now
        if issued > self._last_cut:  # attempts admitted before the cut don't judge it
            self._attempts_since_cut += 1
            self._limited_since_cut += limited
        if error is None:
            self._successes.append(now)
            self._peak_per_s = max(self._peak_per_s, self._recent_successes(now))
        if not self._judged and self._attempts_since_cut >= JUDGE_AFTER_ATTEMPTS:
            self._judge(now)
        if not limited:
            return
        assert error is not None
        self._rate_limited += 1
        retry_after = error.retry_after_s or 0.0
        self._pause_until = max(self._pause_until, now + retry_after)
        if (
            self._adaptive
            and self._judged
            and now - self._last_cut >= max(CUT_COOLDOWN_S, retry_after)
        ):
            self._cut(now)

    def _judge(self, now: float) -> None:
        """Did the last cut lower the share of 429s? If not, undo it."""
        self._judged = True
        share = self._limited_since_cut / self._attempts_since_cut
        if (
            self._share_at_cut >= MIN_SHARE_TO_JUDGE
            and share >= INEFFECTIVE_SHARE * self._share_at_cut
        ):
            self._undo_cut(now)
        else:
            self._ineffective_in_a_row = 0

    def _undo_cut(self, now: float) -> None:
        """Slowing down did not reduce the 429s: restore the rate before the last cut."""
        self._rate = self._rate_before_cut
        self._undone += 1
        self._ineffective_in_a_row += 1
        if self._ineffective_in_a_row >= 2:
            self._adaptive = False  # 429s here don't depend on our rate: retries handle them

    def _recent_successes(self, now: float) -> int:
        """Calls that succeeded in the last :data:`WINDOW_S` seconds."""
        while self._successes and self._successes[0] < now - WINDOW_S:
            self._successes.popleft()
        return len(self._successes)

    def _recent_share_limited(self, now: float) -> float:
        """Share of the last second's attempts that were answered 429."""
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            self._recent.popleft()
        return sum(limited for _, limited in self._recent) / max(len(self._recent), 1)

    def _cut(self, now: float) -> None:
        recent = self._recent_successes(now) / WINDOW_S
        if recent == 0:
            # No success in the last second to measure a sustainable rate by (a 429 burst
            # at the start of a run, say): a cut would only guess, and the floor of 0.05/s
            # would crawl. The Retry-After pause every worker takes is the back-off; the
            # limit, if any, stays where it was.
            self._last_cut = now
            return
        base = recent if self._rate is None else min(self._rate, recent)
        floor = max(MIN_RATE_PER_S, FLOOR_SHARE_OF_PEAK * self._peak_per_s / WINDOW_S)
        self._share_at_cut = self._recent_share_limited(now)
        self._rate_before_cut = self._rate
        self._judged = False
        self._rate = max(floor, base * DECREASE_FACTOR)
        self._attempts_since_cut = self._limited_since_cut = 0
        self._last_cut = now
        self._last_growth = now
        self._cuts += 1

    def _grow(self, now: float) -> None:
        if self._rate is None or not self._adaptive:
            return
        elapsed = now - self._last_growth
        if elapsed <= 0:
            return
        self._last_growth = now
        self._rate *= (1.0 + INCREASE_PER_S) ** elapsed
        if self._ceiling is not None:
            self._rate = min(self._rate, self._ceiling)
        elif self._rate > 4.0 * max(self._recent_successes(now) / WINDOW_S, MIN_RATE_PER_S):
            self._rate = None  # far above what is used: the limit no longer binds
