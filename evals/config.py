"""Configuration of the engine: providers and the runner. Validated, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderSettings(_Strict):
    """Connection settings of one API provider.

    Attributes:
        api_key_env: Environment variable holding the key (keys never live in config files).
        base_url: API base URL; None for the SDK's default (or its own environment variable).
        timeout_s: HTTP timeout per attempt.
    """

    api_key_env: str
    base_url: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)


class OpenAISettings(ProviderSettings):
    """``openai:`` models; the key is in ``OPENAI_API_KEY`` unless configured otherwise."""

    api_key_env: str = "OPENAI_API_KEY"


class AnthropicSettings(ProviderSettings):
    """``anthropic:`` models; the key is in ``ANTHROPIC_API_KEY`` unless configured otherwise."""

    api_key_env: str = "ANTHROPIC_API_KEY"


class OpenAICompatibleSettings(ProviderSettings):
    """``openai-compatible:`` servers; a key, if they need one, is optional."""

    api_key_env: str = "EVALMON_OPENAI_COMPATIBLE_API_KEY"


class LocalModelSettings(_Strict):
    """The embedded llama.cpp server.

    Attributes:
        n_ctx: Context window in tokens.
        n_threads: CPU threads (1 is fastest under load on a 2-core machine).
        timeout_s: HTTP timeout per attempt; local generation is slow.
    """

    n_ctx: int = Field(default=8192, ge=512)
    n_threads: int = Field(default=1, ge=1)
    timeout_s: float = Field(default=300.0, gt=0)


class ProvidersConfig(_Strict):
    """Settings of every provider, keyed as in model strings.

    A provider's table may set only some fields (``[providers.openai] base_url = ...``);
    the others keep their defaults, ``api_key_env`` included.
    """

    openai: OpenAISettings = OpenAISettings()
    anthropic: AnthropicSettings = AnthropicSettings()
    openai_compatible: OpenAICompatibleSettings = Field(
        default=OpenAICompatibleSettings(), alias="openai-compatible"
    )
    local: LocalModelSettings = LocalModelSettings()

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RunnerConfig(_Strict):
    """How the runner schedules calls.

    Attributes:
        concurrency: Most calls in flight at once (lowered for providers that need it).
        requests_per_minute: Client-side request rate limit; None for none.
        tokens_per_minute: Client-side token rate limit (estimated); None for none.
        timeout_s: Per-attempt timeout.
        max_retries: Retries after the first attempt on 429, 5xx, timeouts and connection errors.
        backoff_base_s: First backoff ceiling; doubles each retry, full jitter.
        backoff_max_s: Largest backoff.
        adaptive: Slow down on 429s and speed up again when they stop.
    """

    concurrency: int = Field(default=8, ge=1, le=1024)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    adaptive: bool = True
