"""Value types the store returns or takes, and the JSON encoding of free-form dicts."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Keys whose values are never stored (API keys, auth headers, environment dumps).
_SECRET_KEY = re.compile(
    r"(?i)(api[_-]?key|authorization|secret|passw(or)?d|access[_-]?token|auth[_-]?token"
    r"|bearer|cookie|^headers?$|^env$|^environ(ment)?$)"
)
_SECRET_VALUE = re.compile(r"sk-[A-Za-z0-9_\-]{8,}|(?i:bearer\s+[A-Za-z0-9_\-.]{8,})")
REDACTED = "[redacted]"


def _clean(value: Any) -> Any:
    """Return ``value`` as plain JSON data without secrets or non-finite floats."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) else _clean(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return _SECRET_VALUE.sub(REDACTED, str(value))


def to_json(value: Mapping[str, Any] | None) -> str | None:
    """Encode a free-form dict for a JSON column.

    Values under secret-looking keys (``api_key``, ``authorization``, ``headers``, ``env``...)
    and ``sk-...``/``Bearer ...`` strings are replaced by ``"[redacted]"``; NaN and infinity
    become null; other non-JSON values become strings.
    """
    if value is None:
        return None
    return json.dumps(_clean(value), sort_keys=True, ensure_ascii=False)


def from_json(text: str | None) -> dict[str, Any] | None:
    """Decode a JSON column holding an object (None stays None)."""
    if text is None:
        return None
    data = json.loads(text)
    return data if isinstance(data, dict) else {"value": data}


@dataclass(frozen=True, slots=True)
class RunStart:
    """What :meth:`Store.start_run` found.

    Attributes:
        run_id: The run.
        resumed: True when the run already existed (an interrupted or failed run resumed).
        previous_status: Its status before this start (None for a new run).
        n_calls: Calls already recorded for the run (errors included).
        n_completed: Of those, calls that finished without error (they are not re-run).
        mismatched: Fields (``kind``, ``model_ref``, ``prompt_ref``, ``dataset_ref``,
            ``params``, ``config``) whose stored value differs from this start's. The stored
            values are kept; the caller decides whether resuming is still valid.
    """

    run_id: str
    resumed: bool
    previous_status: str | None
    n_calls: int
    n_completed: int
    mismatched: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One row of ``runs``; the JSON columns decoded.

    Attributes:
        run_id: The run.
        kind: ``eval``, ``position``, ``judge`` ...
        status: ``running``, ``finished``, ``failed`` or ``interrupted``.
        model_ref: ``provider:model`` the run called.
        prompt_ref: Versioned prompt reference.
        dataset_ref: Dataset reference.
        params: Generation parameters.
        config: Run configuration (secrets redacted).
        created_at: When the run was first started (UTC).
        finished_at: When it last finished (UTC), None while running.
        n_calls: Calls recorded at finish.
        n_errors: Calls that ended in an error.
        n_cached: Calls answered from the response cache.
        cost_usd: Summed cost; None when a successful call had no price.
        summary: The summary given to :meth:`Store.finish_run`.
    """

    run_id: str
    kind: str
    status: str
    model_ref: str | None
    prompt_ref: str | None
    dataset_ref: str | None
    params: dict[str, Any] | None
    config: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None
    n_calls: int | None
    n_errors: int | None
    n_cached: int | None
    cost_usd: float | None
    summary: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One score of one call, as given to :meth:`Store.write_scores`.

    Attributes:
        run_id: The run.
        case_id: The dataset case.
        repeat: Repeat index of the call.
        scorer: Scorer name; one row per (run, case, repeat, scorer).
        score: The score; None means unscored (e.g. the call errored), never 0.
        passed: Pass/fail verdict when the scorer has a threshold.
        scorer_version: Version of the scorer or judge prompt.
        details: Free-form details (judge rationale, sub-scores).
    """

    run_id: str
    case_id: str
    repeat: int
    scorer: str
    score: float | None
    passed: bool | None = None
    scorer_version: str | None = None
    details: Mapping[str, Any] | None = None
