"""Reading SDK requests, responses and errors into record fields, by duck typing.

Nothing here imports an SDK: the OpenAI and Anthropic objects (pydantic models) and plain
dicts are read alike, and a missing field is None rather than an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evals.providers import redact_secrets
from metrics.capture._record import ChatMessage


@dataclass(frozen=True, slots=True)
class Output:
    """What a response says, in record terms (see ``ProductionRecord`` for each field)."""

    text: str | None = None
    finish_reasons: tuple[str, ...] = ()
    response_model: str | None = None
    response_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    logprobs: tuple[float, ...] | None = None
    system_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failed call: exception class, redacted message and HTTP status (if any)."""

    type: str
    message: str
    http_status: int | None


def get(obj: Any, name: str) -> Any:
    """Read ``name`` from a mapping or an object; None when it has none."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def as_int(value: Any) -> int | None:
    """Return ``value`` when it is an int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: Any) -> float | None:
    """Return ``value`` as a float when it is a number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def as_str(value: Any) -> str | None:
    """Return ``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def content_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of parts (text parts joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, Mapping | bytes):
        return "\n".join(_part_text(part) for part in content)
    return _part_text(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    kind = get(part, "type")
    text = get(part, "text")
    if isinstance(text, str):
        return text
    if kind == "tool_result":
        return content_text(get(part, "content"))
    return f"[{kind}]" if isinstance(kind, str) else "[part]"


def normalize_messages(messages: Any, system: Any = None) -> list[ChatMessage]:
    """Reduce chat messages (dicts or SDK objects) to ``ChatMessage``, system prompt first.

    Args:
        messages: An iterable of ``{"role": ..., "content": ...}`` mappings or objects.
        system: Anthropic's separate ``system`` parameter (a string or text blocks).
    """
    result: list[ChatMessage] = []
    if system is not None:
        result.append(ChatMessage(role="system", content=content_text(system)))
    if messages is None or isinstance(messages, str | bytes):
        return result
    for message in messages:
        role = get(message, "role")
        text = content_text(get(message, "content"))
        if not text and get(message, "tool_calls"):
            text = "[tool_calls]"
        result.append(ChatMessage(role=role if isinstance(role, str) else "unknown", content=text))
    return result


def openai_output(response: Any) -> Output:
    """Read a chat completion (``openai.types.chat.ChatCompletion`` or its JSON)."""
    choices = list(get(response, "choices") or [])
    first = choices[0] if choices else None
    message = get(first, "message")
    usage = get(response, "usage")
    details = get(usage, "prompt_tokens_details")
    logprobs: tuple[float, ...] | None = None
    tokens = get(get(first, "logprobs"), "content")
    if tokens:
        values = [as_float(get(token, "logprob")) for token in tokens]
        logprobs = tuple(v for v in values if v is not None)
    return Output(
        text=content_text(get(message, "content")) if message is not None else None,
        finish_reasons=tuple(
            str(reason) for c in choices if (reason := get(c, "finish_reason")) is not None
        ),
        response_model=as_str(get(response, "model")),
        response_id=as_str(get(response, "id")),
        input_tokens=as_int(get(usage, "prompt_tokens")),
        output_tokens=as_int(get(usage, "completion_tokens")),
        cache_read_input_tokens=as_int(get(details, "cached_tokens")),
        logprobs=logprobs,
        system_fingerprint=as_str(get(response, "system_fingerprint")),
    )


def anthropic_output(response: Any) -> Output:
    """Read a Messages API response (``anthropic.types.Message`` or its JSON).

    Anthropic's ``input_tokens`` leaves out prompt-cache reads and writes; the record's
    input tokens add them back, as the OpenTelemetry convention asks.
    """
    blocks = get(response, "content") or []
    texts = [t for b in blocks if get(b, "type") == "text" and isinstance(t := get(b, "text"), str)]
    usage = get(response, "usage")
    uncached = as_int(get(usage, "input_tokens"))
    cache_read = as_int(get(usage, "cache_read_input_tokens"))
    cache_creation = as_int(get(usage, "cache_creation_input_tokens"))
    total = None if uncached is None else uncached + (cache_read or 0) + (cache_creation or 0)
    stop = as_str(get(response, "stop_reason"))
    return Output(
        text="".join(texts),
        finish_reasons=(stop,) if stop else (),
        response_model=as_str(get(response, "model")),
        response_id=as_str(get(response, "id")),
        input_tokens=total,
        output_tokens=as_int(get(usage, "output_tokens")),
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
    )


def error_info(exc: BaseException, secrets: Iterable[str] = ()) -> ErrorInfo:
    """Describe a failed call, with API keys (and the given secrets) redacted."""
    message = str(exc) or type(exc).__name__
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    status = as_int(getattr(exc, "status_code", None))
    return ErrorInfo(type=type(exc).__name__, message=redact_secrets(message), http_status=status)
