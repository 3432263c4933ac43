"""Per-request metadata for wrapped SDK calls, carried in a context variable.

The SDK's ``create`` takes no evalmon arguments, so the app states who is asking, which
documents were retrieved and which prompt was used in a scope around the call::

    with capture.context(user_id=user.id, contexts=docs, prompt="rag_qa@1.0.1"):
        reply = client.chat.completions.create(...)

Scopes nest (an inner value wins; ``None`` keeps the outer one) and follow the code into
``await`` and into tasks created inside them. Threads started with a plain
``threading.Thread`` or a ``ThreadPoolExecutor`` do not inherit them: submit with
``contextvars.copy_context().run`` when the SDK call happens in another thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from metrics.capture._extract import get


@dataclass(frozen=True, slots=True)
class CallMetadata:
    """What evalmon records about a call beyond the SDK arguments.

    Attributes:
        route: The app's route or step (``answer``).
        prompt: The prompt ref, ``name@version``.
        user_id: The raw user id; only its salted hash is written.
        contexts: Retrieved documents, in the order given to the model.
        request_id: The app's id of the request; a uuid4 when None.
    """

    route: str | None = None
    prompt: str | None = None
    user_id: str | None = None
    contexts: tuple[str, ...] | None = None
    request_id: str | None = None

    def merged(self, inner: CallMetadata) -> CallMetadata:
        """This metadata with every field that ``inner`` sets replaced by ``inner``'s."""
        changes = {f.name: v for f in fields(inner) if (v := getattr(inner, f.name)) is not None}
        return replace(self, **changes)


_CURRENT: ContextVar[CallMetadata] = ContextVar("evalmon_capture_metadata")
_EMPTY = CallMetadata()


def current_metadata() -> CallMetadata:
    """The metadata of the innermost scope (empty outside any)."""
    return _CURRENT.get(_EMPTY)


def context_text(item: Any) -> str:
    """Text of one retrieved context: a string, or a document object's text."""
    if isinstance(item, str):
        return item
    for name in ("page_content", "text", "content"):
        value = get(item, name)
        if isinstance(value, str):
            return value
    return str(item)


def as_contexts(contexts: Sequence[Any] | None) -> tuple[str, ...] | None:
    """Retrieved contexts as a tuple of strings (LangChain-style documents are read too)."""
    if contexts is None:
        return None
    if isinstance(contexts, str):
        return (contexts,)
    return tuple(context_text(c) for c in contexts)


@contextmanager
def metadata_scope(metadata: CallMetadata) -> Iterator[CallMetadata]:
    """Make ``metadata`` (merged over the enclosing scope) current inside the block."""
    merged = current_metadata().merged(metadata)
    token = _CURRENT.set(merged)
    try:
        yield merged
    finally:
        _CURRENT.reset(token)
