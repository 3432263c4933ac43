"""Configuration of the engine: providers and the runner. Validated, unknown keys rejected."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


_DEFAULT_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai-compatible": "EVALMON_OPENAI_COMPATIBLE_API_KEY",
    "openai_compatible": "EVALMON_OPENAI_COMPATIBLE_API_KEY",
}


class ProvidersConfig(_Strict):
    """Settings of every provider, keyed as in model strings.

    A provider's table may set only some fields (``[providers.openai] base_url = ...``);
    ``api_key_env`` then keeps the provider's default variable.
    """

    openai: ProviderSettings = ProviderSettings(api_key_env="OPENAI_API_KEY")
    anthropic: ProviderSettings = ProviderSettings(api_key_env="ANTHROPIC_API_KEY")
    openai_compatible: ProviderSettings = Field(
        default=ProviderSettings(api_key_env="EVALMON_OPENAI_COMPATIBLE_API_KEY"),
        alias="openai-compatible",
    )
    local: LocalModelSettings = LocalModelSettings()

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _default_key_env(cls, data: Any) -> Any:
        """Fill in the default ``api_key_env`` of a provider table that leaves it out."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, env_var in _DEFAULT_KEY_ENV.items():
            section = filled.get(name)
            if isinstance(section, dict) and "api_key_env" not in section:
                filled[name] = {**section, "api_key_env": env_var}
        return filled


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
