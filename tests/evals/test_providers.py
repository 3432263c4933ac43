"""Providers over real HTTP: the official SDKs against the loopback fake server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from evals.config import AnthropicSettings, OpenAISettings, ProvidersConfig
from evals.providers import (
    ConfigError,
    GenerateParams,
    Message,
    ProviderError,
    RetryPolicy,
    call_with_retries,
    create_provider,
    parse_model_ref,
)
from evals.providers._fallback import FallbackProvider
from evals.providers._types import Provider
from tests.fakeserver import FakeLLMServer

QUESTION = [Message("system", "Be brief."), Message("user", "Capital of France?")]
FAST = RetryPolicy(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2.0)


class FlatPrice:
    """$3/M input, $15/M output for every model."""

    def cost_usd(self, model_ref: str, input_tokens: int, output_tokens: int) -> float | None:
        return (input_tokens * 3.0 + output_tokens * 15.0) / 1e6


def settings_for(server: FakeLLMServer, timeout_s: float = 2.0) -> ProvidersConfig:
    return ProvidersConfig(
        openai=OpenAISettings(base_url=server.openai_base_url, timeout_s=timeout_s),
        anthropic=AnthropicSettings(base_url=server.anthropic_base_url, timeout_s=timeout_s),
    )  # fmt: skip


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")


@pytest.fixture
async def openai_provider(fake_llm: FakeLLMServer, keys: None) -> AsyncIterator[Provider]:
    provider = create_provider("openai:gpt-4o", settings_for(fake_llm), pricing=FlatPrice())
    yield provider
    await provider.aclose()


@pytest.fixture
async def anthropic_provider(fake_llm: FakeLLMServer, keys: None) -> AsyncIterator[Provider]:
    provider = create_provider(
        "anthropic:claude-sonnet-4-5", settings_for(fake_llm), pricing=FlatPrice()
    )
    yield provider
    await provider.aclose()


async def test_openai_call_records_everything(
    openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue("Paris", model="gpt-4o-2024-08-06", input_tokens=1200, output_tokens=300)
    result = await openai_provider.generate(QUESTION, GenerateParams(temperature=0, max_tokens=50))
    assert result.ok and result.text == "Paris"
    assert result.provider == "openai" and result.model == "gpt-4o"
    assert result.model_version == "gpt-4o-2024-08-06"
    assert (result.input_tokens, result.output_tokens) == (1200, 300)
    assert result.finish_reason == "stop"
    assert result.latency_s > 0
    assert result.cost_usd == pytest.approx(0.0036 + 0.0045)
    assert result.answered_by == "openai:gpt-4o"
    body = fake_llm.history[-1].body
    assert body is not None
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["temperature"] == 0 and body["max_tokens"] == 50


async def test_openai_json_schema_and_logprobs(
    openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    fake_llm.enqueue('{"answer": "Paris"}', logprobs=[-0.1, -0.2])
    params = GenerateParams(json_schema=schema, logprobs=True)
    result = await openai_provider.generate(QUESTION, params)
    assert json.loads(result.text) == {"answer": "Paris"}
    assert result.logprobs == pytest.approx((-0.1, -0.2))
    body = fake_llm.history[-1].body
    assert body is not None
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["logprobs"] is True


async def test_anthropic_call_maps_system_and_stop_reason(
    anthropic_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue("Paris is the capital", finish_reason="max_tokens", model="claude-sonnet-4-5-20250929",
                     input_tokens=10, output_tokens=4)  # fmt: skip
    result = await anthropic_provider.generate(QUESTION, GenerateParams(max_tokens=4))
    assert result.text == "Paris is the capital"
    assert result.finish_reason == "length"
    assert result.model_version == "claude-sonnet-4-5-20250929"
    assert (result.input_tokens, result.output_tokens) == (10, 4)
    assert result.logprobs is None
    body = fake_llm.history[-1].body
    assert body is not None
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Capital of France?"}]


@pytest.mark.parametrize(
    ("fault", "kind", "retryable"),
    [
        ("429", "rate_limited", True),
        ("500", "server_error", True),
        ("529", "server_error", True),
        ("drop", "connection", True),
        ("malformed", "malformed_response", True),
        ("400", "bad_request", False),
        ("401", "auth", False),
    ],
)
async def test_sdk_errors_map_to_provider_errors(
    openai_provider: Provider, fake_llm: FakeLLMServer, fault: str, kind: str, retryable: bool
) -> None:
    fake_llm.enqueue_fault(fault, retry_after_s=0.25 if fault == "429" else None)
    with pytest.raises(ProviderError) as caught:
        await openai_provider.generate(QUESTION, GenerateParams())
    assert caught.value.kind == kind
    assert caught.value.retryable is retryable
    if fault == "429":
        assert caught.value.retry_after_s == pytest.approx(0.25)


async def test_timeout_is_an_error_not_a_hang(fake_llm: FakeLLMServer, keys: None) -> None:
    provider = create_provider("openai:gpt-4o", settings_for(fake_llm, timeout_s=0.3))
    fake_llm.enqueue_fault("timeout", hang_s=3.0)
    with pytest.raises(ProviderError) as caught:
        await provider.generate(QUESTION, GenerateParams())
    await provider.aclose()
    assert caught.value.kind == "timeout"


async def test_retries_recover_and_count_attempts(
    openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue_fault("500")
    fake_llm.enqueue_fault("429", retry_after_s=0.05)
    fake_llm.enqueue("Paris")
    result = await call_with_retries(openai_provider, QUESTION, GenerateParams(), FAST)
    assert result.ok and result.text == "Paris"
    assert result.attempts == 3
    assert fake_llm.stats()["requests_total"] == 3


async def test_retries_stop_at_the_limit(
    openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    for _ in range(10):
        fake_llm.enqueue_fault("503")
    result = await call_with_retries(openai_provider, QUESTION, GenerateParams(), FAST)
    assert not result.ok and result.error is not None
    assert result.error.kind == "server_error" and result.error.status == 503
    assert result.attempts == FAST.max_retries + 1
    assert fake_llm.stats()["requests_total"] == FAST.max_retries + 1


async def test_bad_request_is_not_retried(
    openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue_fault("400", message="max_tokens is too large")
    result = await call_with_retries(openai_provider, QUESTION, GenerateParams(), FAST)
    assert result.error is not None and result.error.kind == "bad_request"
    assert "max_tokens is too large" in result.error.message
    assert result.attempts == 1


async def test_fallback_switches_on_outage_and_records_who_answered(
    anthropic_provider: Provider, openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    for _ in range(FAST.max_retries + 1):
        fake_llm.enqueue_fault("529", api="anthropic")
    fake_llm.enqueue("from gpt-4o", api="openai")
    chain = FallbackProvider([anthropic_provider, openai_provider], FAST)
    result = await chain.generate(QUESTION, GenerateParams())
    assert result.text == "from gpt-4o"
    assert result.answered_by == "openai:gpt-4o"
    assert result.attempts == FAST.max_retries + 2
    assert result.extra["fallback_errors"] == ["anthropic:claude-sonnet-4-5: server_error"]


async def test_fallback_does_not_switch_on_bad_request(
    anthropic_provider: Provider, openai_provider: Provider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue_fault("400", api="anthropic")
    chain = FallbackProvider([anthropic_provider, openai_provider], FAST)
    with pytest.raises(ProviderError) as caught:
        await chain.generate(QUESTION, GenerateParams())
    assert caught.value.kind == "bad_request" and not caught.value.retryable
    assert fake_llm.stats()["by_api"].get("openai", 0) == 0


async def test_fallback_model_string(fake_llm: FakeLLMServer, keys: None) -> None:
    chain = create_provider(
        "fallback:anthropic:claude-sonnet-4-5,openai:gpt-4o", settings_for(fake_llm)
    )
    assert chain.ref == "fallback:anthropic:claude-sonnet-4-5,openai:gpt-4o"
    fake_llm.enqueue("hi", api="anthropic")
    result = await chain.generate(QUESTION, GenerateParams())
    await chain.aclose()
    assert result.answered_by == "anthropic:claude-sonnet-4-5"


async def test_openai_compatible_endpoint(fake_llm: FakeLLMServer) -> None:
    provider = create_provider(f"openai-compatible:llama3@{fake_llm.openai_base_url}")
    assert provider.ref == f"openai-compatible:llama3@{fake_llm.openai_base_url}"
    fake_llm.enqueue("ok")
    result = await provider.generate(QUESTION, GenerateParams(json_output=True))
    await provider.aclose()
    assert result.provider == "openai-compatible" and result.model == "llama3"
    body = fake_llm.history[-1].body
    assert body is not None and body["response_format"] == {"type": "json_object"}


async def test_check_reports_an_unreachable_endpoint() -> None:
    provider = create_provider("openai-compatible:x@http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as caught:
        await provider.check()
    await provider.aclose()
    assert caught.value.kind == "connection"


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown provider 'gemini'.*openai:gpt-4o-mini.*local:smollm2"
    ):
        parse_model_ref("gemini:pro")


def test_model_string_without_provider() -> None:
    with pytest.raises(ConfigError, match="is not 'provider:model'"):
        parse_model_ref("gpt-4o")


def test_missing_api_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        create_provider("openai:gpt-4o")
    with pytest.raises(ConfigError, match="set ANTHROPIC_API_KEY"):
        create_provider("anthropic:claude-sonnet-4-5")


def test_unknown_local_model_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="known local models: local:smollm2"):
        create_provider("local:llama-70b")


def test_missing_sdk_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def fake_import(name: str, package: str | None = None) -> object:
        if name == "evals.providers._anthropic":
            raise ModuleNotFoundError("No module named 'anthropic'", name="anthropic")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    with pytest.raises(ConfigError, match="install it with: uv add anthropic"):
        create_provider("anthropic:claude-sonnet-4-5")


def test_openai_compatible_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="NAME@URL"):
        parse_model_ref("openai-compatible:llama3")
