"""Wrappers around the OpenAI and Anthropic SDK clients that record every call.

``wrap_client`` returns a thin proxy of the client: every attribute is the client's own,
except ``chat.completions.create`` (OpenAI) or ``messages.create`` (Anthropic), which
records the call and returns the SDK's response, or re-raises its exception, unchanged.
The app's client is not modified, so one client may be wrapped several times (per route).
The proxy is typed as the client but is not an instance of its class (``isinstance`` fails).
``with_options(...)`` and ``copy(...)`` return wrapped clients too.

The same wrapper serves sync and async clients: when ``create`` returns an awaitable, the
wrapper returns a coroutine that records once the response arrives.

Not recorded (passed straight through): ``stream=True`` calls (counted in
``Capture.stats().streams_unrecorded``), ``with_raw_response`` / ``with_streaming_response``,
``messages.stream``, ``chat.completions.parse`` and the ``beta`` namespaces.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from metrics.capture._extract import (
    Output,
    anthropic_output,
    as_float,
    as_int,
    error_info,
    normalize_messages,
    openai_output,
)
from metrics.capture._record import ChatMessage
from metrics.capture._recording import CallSink, PendingCall
from metrics.capture._scope import CallMetadata, current_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SdkApi:
    """Where an SDK's create method lives and how to read its request and response.

    Attributes:
        name: ``openai`` or ``anthropic`` (for messages).
        path: Attribute path from the client to the resource with ``create``.
        read_messages: Input messages from the ``create`` keyword arguments.
        read_output: Record fields from the response.
    """

    name: str
    path: tuple[str, ...]
    read_messages: Callable[[Mapping[str, Any]], list[ChatMessage]]
    read_output: Callable[[Any], Output]


OPENAI_CHAT = SdkApi(
    name="openai",
    path=("chat", "completions"),
    read_messages=lambda kwargs: normalize_messages(kwargs.get("messages")),
    read_output=openai_output,
)
ANTHROPIC_MESSAGES = SdkApi(
    name="anthropic",
    path=("messages",),
    read_messages=lambda kwargs: normalize_messages(kwargs.get("messages"), kwargs.get("system")),
    read_output=anthropic_output,
)


class CaptureSink(CallSink, Protocol):
    """What the wrappers need from a :class:`~metrics.capture.Capture`."""

    def begin(
        self,
        *,
        provider: str,
        model: str,
        metadata: CallMetadata,
        messages: Callable[[], list[ChatMessage]] | None,
        max_tokens: int | None,
        temperature: float | None,
        secrets: tuple[str, ...],
    ) -> PendingCall | None:
        """Start a call; None when it cannot be recorded (never raises)."""

    def count_stream(self) -> None:
        """Count a streaming call passed through unrecorded."""


class _Proxy:
    """Delegates every attribute to ``target`` except the ones in ``overrides``."""

    __slots__ = ("_evalmon_overrides", "_evalmon_target")

    def __init__(self, target: Any, overrides: dict[str, Any]) -> None:
        self._evalmon_target = target
        self._evalmon_overrides = overrides

    def __getattr__(self, name: str) -> Any:
        overrides = self._evalmon_overrides
        if name in overrides:
            return overrides[name]
        return getattr(self._evalmon_target, name)

    def __repr__(self) -> str:
        return f"<evalmon capture of {self._evalmon_target!r}>"


def _first_int(kwargs: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        if (value := as_int(kwargs.get(name))) is not None:
            return value
    return None


def wrap_client(
    sink: CaptureSink,
    client: Any,
    api: SdkApi,
    *,
    provider: str,
    defaults: CallMetadata,
) -> Any:
    """Return a proxy of ``client`` whose ``create`` (at ``api.path``) records each call.

    Raises:
        TypeError: When ``client`` has no ``create`` at ``api.path``.
    """
    chain = [client]
    for name in api.path:
        chain.append(getattr(chain[-1], name, None))
    if not callable(getattr(chain[-1], "create", None)):
        where = ".".join((*api.path, "create"))
        raise TypeError(
            f"{type(client).__name__} has no {where}: wrap_{api.name} takes an "
            f"{api.name} SDK client (sync or async); use the other wrap_ method for the "
            "other SDK, or capture.record(...) around any other call"
        )
    key = getattr(client, "api_key", None)
    secrets = (key,) if isinstance(key, str) and key else ()
    create = _recording_create(sink, chain[-1].create, api, provider, defaults, secrets)
    proxy: Any = _Proxy(chain[-1], {"create": create})
    for target, name in zip(reversed(chain[:-1]), reversed(api.path), strict=True):
        proxy = _Proxy(target, {name: proxy})

    def rewrap(method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            new = getattr(client, method)(*args, **kwargs)
            return wrap_client(sink, new, api, provider=provider, defaults=defaults)

        return call

    proxy._evalmon_overrides.update(with_options=rewrap("with_options"), copy=rewrap("copy"))
    return proxy


def _recording_create(
    sink: CaptureSink,
    original: Callable[..., Any],
    api: SdkApi,
    provider: str,
    defaults: CallMetadata,
    secrets: tuple[str, ...],
) -> Callable[..., Any]:
    def finish_ok(call: PendingCall | None, response: Any) -> None:
        if call is None:
            return
        ended = time.perf_counter()
        try:
            output: Output | None = api.read_output(response)
        except Exception:
            log.exception("evalmon capture could not read a %s response", api.name)
            output = None
        sink.finish(call, output=output, error=None, ended=ended)

    def finish_error(call: PendingCall | None, exc: BaseException) -> None:
        if call is None:
            return
        ended = time.perf_counter()
        try:
            error = error_info(exc, secrets)
        except Exception:
            log.exception("evalmon capture could not describe an error")
            return
        sink.finish(call, output=None, error=error, ended=ended)

    async def await_and_record(pending: Awaitable[Any], call: PendingCall | None) -> Any:
        try:
            response = await pending
        except BaseException as exc:
            finish_error(call, exc)
            raise
        finish_ok(call, response)
        return response

    def create(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream") is True:
            sink.count_stream()
            return original(*args, **kwargs)
        call = sink.begin(
            provider=provider,
            model=str(kwargs.get("model") or ""),
            metadata=defaults.merged(current_metadata()),
            messages=lambda: api.read_messages(kwargs),
            max_tokens=_first_int(kwargs, "max_tokens", "max_completion_tokens"),
            temperature=as_float(kwargs.get("temperature")),
            secrets=secrets,
        )
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            finish_error(call, exc)
            raise
        if inspect.isawaitable(result):
            return await_and_record(result, call)
        finish_ok(call, result)
        return result

    return create
