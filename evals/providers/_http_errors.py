"""Map the official SDKs' exceptions onto :class:`ProviderError`."""

from __future__ import annotations

from typing import Any

from evals.providers._errors import ProviderError, parse_retry_after


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
        detail = _error_message(exc)
        return ProviderError(
            kind_for_status(status),
            f"HTTP {status}: {detail}",
            status=status,
            retry_after_s=parse_retry_after(exc.response.headers),
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return ProviderError("malformed_response", f"unexpected response body: {exc}")
    if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed body
        return ProviderError("malformed_response", f"response is not valid JSON: {exc}")
    return ProviderError("other", f"{type(exc).__name__}: {exc}", retryable=False)


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]
