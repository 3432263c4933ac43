"""Map the official SDKs' exceptions onto :class:`ProviderError`."""

from __future__ import annotations

import re
from typing import Any

from evals.providers._errors import CONTEXT_OVERFLOW, ProviderError, parse_retry_after

# llama.cpp's own words (llama-cpp-python 0.3.x ``Llama.create_completion``). Its server
# rewrites them into OpenAI's message with code ``context_length_exceeded`` (a 400), but
# answers a 500 with them verbatim when it cannot parse the request, so any status counts.
_LLAMA_CPP_OVERFLOW = re.compile(r"Requested tokens \(\d+\) exceed context window of \d+")
_OVERFLOW_MESSAGES = (
    _LLAMA_CPP_OVERFLOW,
    # OpenAI, vLLM and the llama-cpp-python server: "This model's maximum context length is
    # 8192 tokens. However, you requested 9100 tokens (...)".
    re.compile(r"maximum context length", re.IGNORECASE),
    # OpenAI's Responses API: "Your input exceeds the context window of this model."
    re.compile(r"exceeds? the context window", re.IGNORECASE),
    # Anthropic: "prompt is too long: 208310 tokens > 200000 maximum".
    re.compile(r"prompt is too long", re.IGNORECASE),
)
_OVERFLOW_CODES = frozenset({"context_length_exceeded"})
_OVERFLOW_STATUSES = frozenset({400, 413})


def kind_for_status(status: int) -> str:
    """Return the error kind for an HTTP status code."""
    if status == 429:
        return "rate_limited"
    if status in (408, 504):
        return "timeout"
    if status >= 500:  # 500, 502, 503, Anthropic's 529 overloaded
        return "server_error"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return "bad_request"


def from_sdk_exception(exc: BaseException, sdk: Any) -> ProviderError:
    """Translate an ``openai`` or ``anthropic`` SDK exception (both share one shape).

    Args:
        exc: The exception the SDK raised.
        sdk: The SDK module (``openai`` or ``anthropic``), whose exception classes are used.
    """
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("timeout", f"request timed out: {exc}")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderError("connection", f"connection failed: {type(cause).__name__}: {cause}")
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        detail, code = _error_detail(exc)
        kind = (
            CONTEXT_OVERFLOW
            if is_context_overflow(status, detail, code)
            else kind_for_status(status)
        )
        return ProviderError(
            kind,
            f"HTTP {status}: {detail[:300]}",
            status=status,
            retry_after_s=parse_retry_after(exc.response.headers),
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return ProviderError("malformed_response", f"unexpected response body: {exc}")
    if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed body
        return ProviderError("malformed_response", f"response is not valid JSON: {exc}")
    return ProviderError("other", f"{type(exc).__name__}: {exc}", retryable=False)


def is_context_overflow(status: int, message: str, code: str | None = None) -> bool:
    """Whether an error response says the prompt is longer than the model's context window.

    Recognises a 400 (or 413) with OpenAI's ``context_length_exceeded`` code or one of the
    llama.cpp, OpenAI and Anthropic messages, and llama.cpp's own message at any status.

    Args:
        status: HTTP status of the response.
        message: The error message from the response body.
        code: The error ``code`` from the body (OpenAI-style APIs), if any.
    """
    if _LLAMA_CPP_OVERFLOW.search(message):
        return True
    if status not in _OVERFLOW_STATUSES:
        return False
    return code in _OVERFLOW_CODES or any(p.search(message) for p in _OVERFLOW_MESSAGES)


def _error_detail(exc: Any) -> tuple[str, str | None]:
    """Return the body's error message (whole) and its ``code``, when the body has them."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            code = inner.get("code")
            return str(inner["message"]), None if code is None else str(code)
    return str(getattr(exc, "message", exc)), None
