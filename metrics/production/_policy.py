"""The sample's key, its settings and its result.

A request is in the sample when ``key < rate * 16**15``, where ``key`` is the integer of the
first 15 hex digits of ``md5(salt + request_id)`` (UTF-8 bytes). Why this is stable:

* MD5 is a fixed, standardised function (RFC 1321): every DuckDB version, every machine and
  Python's ``hashlib`` compute the same digest of the same bytes. DuckDB's ``hash()`` makes
  no such promise: it may change between versions.
* The bound ``floor(rate * 16**15)`` is an integer computed once, in Python, and exactly:
  16**15 is a power of two, so multiplying a double by it only shifts its exponent.
* The comparison is then exact integer arithmetic (:func:`in_sample`), or, in SQL, a
  comparison of lowercase hex strings of the digest and of the bound, which orders them as
  the integers; so :func:`in_sample` and the SQL agree on every id. 15 hex digits (60 bits)
  fit in a signed 64-bit integer and resolve rates down to about 1e-18.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY_DIGITS = 15
KEY_SCALE: int = 2 ** (4 * KEY_DIGITS)  # 16**15


class SamplePolicy(BaseModel):
    """How many production requests to judge (a flow's config section).

    Attributes:
        rate: Share of requests sampled, 0..1.
        salt: Changes which requests are sampled; keep it fixed for a stable sample.
        min_per_group: Minimum sampled requests per (model, prompt version) per window.
        cap_requests: Most requests chosen per run.
        cap_cost_usd: Most estimated judge cost per run (needs ``cost_per_judgment_usd``).
        cost_per_judgment_usd: Estimated cost of judging one request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(default=0.01, ge=0.0, le=1.0)
    salt: str = Field(default="evalmon", min_length=1)
    min_per_group: int = Field(default=0, ge=0)
    cap_requests: int | None = Field(default=None, ge=0)
    cap_cost_usd: float | None = Field(default=None, ge=0.0)
    cost_per_judgment_usd: float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _cost_cap_needs_a_price(self) -> SamplePolicy:
        if self.cap_cost_usd is not None and self.cost_per_judgment_usd is None:
            raise ValueError(
                "cap_cost_usd needs cost_per_judgment_usd: set the estimated cost of one "
                "judgment, or use cap_requests"
            )
        return self

    @property
    def max_requests(self) -> int | None:
        """The tighter of the two caps, in requests (None: no cap)."""
        caps = [] if self.cap_requests is None else [self.cap_requests]
        if self.cap_cost_usd is not None and self.cost_per_judgment_usd is not None:
            caps.append(math.floor(self.cap_cost_usd / self.cost_per_judgment_usd + 1e-9))
        return min(caps) if caps else None


@dataclass(frozen=True, slots=True)
class SampleResult:
    """The requests chosen by :func:`choose_sample`.

    Attributes:
        rubric_version: The rubric version sampled for.
        request_ids: Chosen requests, in priority order (see the module docstring).
        by_rate: How many were chosen because their key is under the rate.
        topped_up: How many were added for ``min_per_group``.
        capped: How many the caps left out.
        window_records: Ok records in the window (what the rate applies to).
        estimated_cost_usd: ``len(request_ids) * cost_per_judgment_usd``, if a cost is known.
        recorded: Whether they were written to ``judge_samples`` (False for a dry run).
        seconds: Wall time.
    """

    rubric_version: str
    request_ids: tuple[str, ...]
    by_rate: int
    topped_up: int
    capped: int
    window_records: int
    estimated_cost_usd: float | None
    recorded: bool
    seconds: float


def threshold(rate: float) -> int:
    """The key bound of ``rate``: ``floor(rate * 16**15)`` (exact: 16**15 is a power of 2)."""
    return min(KEY_SCALE, math.floor(rate * KEY_SCALE))


def sample_key(request_id: str, salt: str) -> int:
    """The first 15 hex digits of ``md5(salt + request_id)`` as an integer."""
    digest = hashlib.md5((salt + request_id).encode("utf-8"), usedforsecurity=False)
    return int(digest.hexdigest()[:KEY_DIGITS], 16)


def in_sample(request_id: str, salt: str, rate: float) -> bool:
    """Whether ``request_id`` is in the ``rate`` sample with ``salt`` (as the SQL decides)."""
    return sample_key(request_id, salt) < threshold(rate)
