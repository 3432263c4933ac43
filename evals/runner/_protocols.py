"""What the runner needs from storage, as small protocols that ``metrics`` implements."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from evals.providers._types import CallResult, GenerateParams, Message


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One call the runner is asked to make.

    Attributes:
        case_id: The dataset case this call belongs to.
        repeat: Repeat index (0-based) when a case is sampled several times.
        messages: The rendered chat messages.
        params: Generation parameters.
    """

    case_id: str
    repeat: int
    messages: tuple[Message, ...]
    params: GenerateParams

    @property
    def call_key(self) -> str:
        """Identity of the call inside a run: ``case_id#repeat``."""
        return f"{self.case_id}#{self.repeat}"


def cache_key(model_ref: str, spec: CallSpec) -> str:
    """Content address of a call: provider, model, parameters, messages and repeat index."""
    payload = {
        "model": model_ref,
        "params": spec.params.as_key_dict(),
        "messages": [m.as_dict() for m in spec.messages],
        "repeat": spec.repeat,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A finished call (result or recorded error), as handed to a :class:`ResultSink`."""

    run_id: str
    case_id: str
    repeat: int
    cache_key: str
    result: CallResult
    started_at: datetime
    completed_at: datetime

    @property
    def call_key(self) -> str:
        """Identity of the call inside its run: ``case_id#repeat``."""
        return f"{self.case_id}#{self.repeat}"


@runtime_checkable
class ResultSink(Protocol):
    """Durable destination for call records.

    ``write`` is called once per finished call and must be cheap and durable against the
    process being killed (e.g. append to a journal, then load into the database in batches).
    """

    def completed_call_keys(self, run_id: str) -> set[str]:
        """Return the ``call_key`` of every call of ``run_id`` that finished without error."""
        ...

    def write(self, record: CallRecord) -> None:
        """Record one finished call."""
        ...

    def flush(self) -> None:
        """Make every written record visible in the store."""
        ...


@runtime_checkable
class ResponseCache(Protocol):
    """Content-addressed cache of successful responses.

    The DuckDB store fills it from the successful, non-cached records written to its sink.
    """

    def lookup(self, keys: Sequence[str]) -> dict[str, CallResult]:
        """Return the cached result for each key that has one."""
        ...
