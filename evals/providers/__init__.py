"""Model providers behind one async interface, chosen by a model string.

Model strings: ``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``,
``openai-compatible:NAME@http://127.0.0.1:8000/v1``, ``local:smollm2`` (the embedded default)
and ``fallback:PRIMARY,FALLBACK``. Adapters and their SDKs are imported only when used.
"""

from evals.providers._errors import (
    CONTEXT_OVERFLOW,
    ConfigError,
    EvalmonError,
    ProviderError,
    parse_retry_after,
    redact_secrets,
)
from evals.providers._http_errors import is_context_overflow
from evals.providers._registry import (
    PROVIDERS,
    ModelRef,
    ProviderInfo,
    create_provider,
    known_models_hint,
    parse_model_ref,
)
from evals.providers._retry import AttemptGate, RetryPolicy, call_with_retries, error_result
from evals.providers._types import (
    CallError,
    CallResult,
    GenerateParams,
    Message,
    PriceLookup,
    Provider,
)

DEFAULT_MODEL = "local:smollm2"

__all__ = [
    "CONTEXT_OVERFLOW",
    "DEFAULT_MODEL",
    "PROVIDERS",
    "AttemptGate",
    "CallError",
    "CallResult",
    "ConfigError",
    "EvalmonError",
    "GenerateParams",
    "Message",
    "ModelRef",
    "PriceLookup",
    "Provider",
    "ProviderError",
    "ProviderInfo",
    "RetryPolicy",
    "call_with_retries",
    "create_provider",
    "error_result",
    "is_context_overflow",
    "known_models_hint",
    "parse_model_ref",
    "parse_retry_after",
    "redact_secrets",
]
