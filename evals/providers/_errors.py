"""Provider error taxonomy: which failures are retried and which trigger a fallback."""

from __future__ import annotations

import re

from evals.providers._types import CallError

# Error kinds that a retry may cure.
RETRYABLE_KINDS = frozenset(
    {"rate_limited", "server_error", "timeout", "connection", "malformed_response"}
)
# Error kinds that mean the provider is down, so a fallback chain moves on.
OUTAGE_KINDS = frozenset({"server_error", "timeout", "connection", "rate_limited"})
# The prompt does not fit the model's context window: asking again cannot help, and
# another model would answer a different experiment, so it is neither retried nor an outage.
CONTEXT_OVERFLOW = "context_overflow"

_SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(api[_-]?key|authorization|x-api-key)(\s*[:=]\s*)(\"?)[^\s\"',]+"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-\.]{8,}"),
)


# The API keys evalmon has read, redacted by value: keys of OpenAI-compatible servers need
# not look like ``sk-...``, and a server may echo a key back in an error message.
_KNOWN_SECRETS: set[str] = set()
_MIN_SECRET_LEN = 8


def register_secret(value: str) -> None:
    """Make :func:`redact_secrets` remove ``value`` wherever it appears (ignored if short)."""
    if len(value) >= _MIN_SECRET_LEN:
        _KNOWN_SECRETS.add(value)


def redact_secrets(text: str) -> str:
    """Remove every registered key and anything that looks like an API key from ``text``."""
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class EvalmonError(Exception):
    """Base of evalmon's own errors; its message says what to do next."""


class ConfigError(EvalmonError):
    """Bad input or setup: a malformed file, an unknown model, a missing key (exit code 2)."""


class ProviderError(EvalmonError):
    """A model call failed.

    Attributes:
        kind: One of the kinds in :class:`evals.providers.CallError`.
        status: HTTP status, when there was a response.
        retry_after_s: Delay the server asked for (``Retry-After`` / ``retry-after-ms``).
        retryable: Whether a retry may succeed; fallback chains clear it when exhausted.
        attempts: HTTP attempts behind this error (more than 1 for an exhausted fallback chain).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        retryable: bool | None = None,
        attempts: int = 1,
    ) -> None:
        """Create the error; ``message`` is scrubbed of anything that looks like a key."""
        super().__init__(redact_secrets(message))
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.attempts = attempts

    @property
    def is_outage(self) -> bool:
        """Whether this error means the provider is unavailable (fallbacks switch on it)."""
        return self.kind in OUTAGE_KINDS

    def to_call_error(self) -> CallError:
        """Return the error as the plain record stored with a call."""
        return CallError(kind=self.kind, message=str(self), status=self.status)


def parse_retry_after(headers: object) -> float | None:
    """Read ``retry-after-ms`` or ``Retry-After`` (seconds) from response headers."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw_ms = get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            return None
    return None
