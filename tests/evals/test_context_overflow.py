"""Prompts longer than the context window: the ``context_overflow`` error kind."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from evals.config import AnthropicSettings, OpenAISettings, ProvidersConfig
from evals.providers import (
    CONTEXT_OVERFLOW,
    GenerateParams,
    Message,
    ProviderError,
    RetryPolicy,
    call_with_retries,
    create_provider,
    is_context_overflow,
)
from evals.providers._http_errors import from_sdk_exception
from tests.fakeserver import FakeLLMServer

# llama-cpp-python 0.3.x: Llama.create_completion raises this ValueError ...
LLAMA_CPP_RAW = "Requested tokens (9731) exceed context window of 8192"
# ... and its server answers it as a 400 with OpenAI's wording and code.
LLAMA_CPP_SERVER = (
    "This model's maximum context length is 8192 tokens. However, you requested 9831 tokens "
    "(9731 in the messages, 100 in the completion). Please reduce the length of the messages "
    "or completion."
)
OPENAI = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted "
    "in 130412 tokens. Please reduce the length of the messages."
)
ANTHROPIC = "prompt is too long: 208310 tokens > 200000 maximum"


def _openai_error(status: int, message: str, code: str | None) -> openai.APIStatusError:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    response = httpx.Response(status, json=body, request=request)
    cls = openai.BadRequestError if status == 400 else openai.InternalServerError
    return cls(message, response=response, body=body)


def _anthropic_error(status: int, message: str) -> anthropic.APIStatusError:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/messages")
    response = httpx.Response(status, json=body, request=request)
    cls = anthropic.BadRequestError if status == 400 else anthropic.InternalServerError
    return cls(message, response=response, body=body)


@pytest.mark.parametrize(
    ("exc", "sdk"),
    [
        (_openai_error(400, LLAMA_CPP_SERVER, "context_length_exceeded"), openai),
        (_openai_error(400, LLAMA_CPP_RAW, None), openai),
        (_openai_error(500, LLAMA_CPP_RAW, None), openai),  # unparsable request: a 500
        (_openai_error(400, OPENAI, "context_length_exceeded"), openai),
        (_openai_error(400, "Your input exceeds the context window of this model.", None), openai),
        (_openai_error(400, "anything", "context_length_exceeded"), openai),
        (_anthropic_error(400, ANTHROPIC), anthropic),
    ],
    ids=["llama.cpp-server", "llama.cpp-raw", "llama.cpp-500", "openai", "openai-responses",
         "openai-code", "anthropic"],
)  # fmt: skip
def test_overflow_messages_map_to_context_overflow(exc: Exception, sdk: Any) -> None:
    error = from_sdk_exception(exc, sdk)
    assert error.kind == CONTEXT_OVERFLOW == "context_overflow"
    assert not error.retryable and not error.is_outage  # no retry, no fallback
    assert error.to_call_error().kind == "context_overflow"
    assert str(error).startswith(f"HTTP {error.status}: ")


@pytest.mark.parametrize(
    ("exc", "sdk", "kind"),
    [
        (_openai_error(400, "max_tokens is too large", None), openai, "bad_request"),
        (_openai_error(500, "maximum context length of the KV cache", None), openai,
         "server_error"),
        (_anthropic_error(400, "messages: roles must alternate"), anthropic, "bad_request"),
        (_anthropic_error(500, "prompt is too long"), anthropic, "server_error"),
    ],
)  # fmt: skip
def test_other_errors_keep_their_kind(exc: Exception, sdk: Any, kind: str) -> None:
    assert from_sdk_exception(exc, sdk).kind == kind


def test_is_context_overflow() -> None:
    assert is_context_overflow(400, ANTHROPIC)
    assert is_context_overflow(413, OPENAI)
    assert is_context_overflow(502, LLAMA_CPP_RAW)
    assert is_context_overflow(400, "x", "context_length_exceeded")
    assert not is_context_overflow(400, "the context is fine")
    assert not is_context_overflow(429, OPENAI, "context_length_exceeded")


FAST = RetryPolicy(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2.0)


@pytest.mark.parametrize(
    ("model", "api", "message"),
    [
        ("openai-compatible:smollm2@{openai}", "openai", LLAMA_CPP_RAW),
        ("openai-compatible:smollm2@{openai}", "openai", LLAMA_CPP_SERVER),
        ("openai:gpt-4o", "openai", OPENAI),
        ("anthropic:claude-sonnet-4-5", "anthropic", ANTHROPIC),
    ],
)
async def test_overflow_over_http_is_recorded_once_not_retried(
    fake_llm: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    api: str,
    message: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    settings = ProvidersConfig(
        openai=OpenAISettings(base_url=fake_llm.openai_base_url, timeout_s=2.0),
        anthropic=AnthropicSettings(base_url=fake_llm.anthropic_base_url, timeout_s=2.0),
    )
    provider = create_provider(model.format(openai=fake_llm.openai_base_url), settings)
    fake_llm.enqueue_fault("400", message=message)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.generate([Message("user", "long")], GenerateParams())
        assert caught.value.kind == "context_overflow" and caught.value.status == 400
        fake_llm.enqueue_fault("400", message=message)
        result = await call_with_retries(
            provider, [Message("user", "long")], GenerateParams(), FAST
        )
    finally:
        await provider.aclose()
    assert result.error is not None and result.error.kind == "context_overflow"
    assert message[:40] in result.error.message
    assert result.attempts == 1 and fake_llm.stats()["by_api"][api] == 2
