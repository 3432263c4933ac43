"""The capture wrappers around the real OpenAI and Anthropic SDKs, against the fake server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from metrics.capture import Capture, CaptureConfig, ProductionRecord, hash_user_id
from tests.fakeserver._server import FakeLLMServer

SALT = "test-salt-0123456789abcdef"
USER = "alice@example.com"
OPENAI_KEY = "sk-test-capture-openai-0001"
ANTHROPIC_KEY = "sk-ant-test-capture-0001"
DOCS = ["Paris is the capital of France.", "France is in Europe."]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    config = CaptureConfig(directory=tmp_path / "capture", app="rag-assistant", user_id_salt=SALT)
    with Capture(config) as cap:
        yield cap


def records(capture: Capture) -> list[ProductionRecord]:
    assert capture.flush()
    lines = []
    for path in sorted(capture.config.directory.iterdir()):
        lines += path.read_text(encoding="utf-8").splitlines()
    return [ProductionRecord.model_validate_json(line) for line in lines]


def all_text(capture: Capture) -> str:
    assert capture.flush()
    return "".join(p.read_text(encoding="utf-8") for p in capture.config.directory.iterdir())


def openai_client(server: FakeLLMServer, *, is_async: bool) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(base_url=server.openai_base_url, api_key=OPENAI_KEY, max_retries=0)


def anthropic_client(server: FakeLLMServer, *, is_async: bool) -> Any:
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(base_url=server.anthropic_base_url, api_key=ANTHROPIC_KEY, max_retries=0)


def call(client: Any, sdk: str, **kwargs: Any) -> Any:
    """Make one create call, sync or async; return the SDK's response."""
    if sdk == "openai":
        result = client.chat.completions.create(
            **{"model": "gpt-4o", "messages": QUESTION, **kwargs}
        )
    else:
        result = client.messages.create(
            **{"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": QUESTION, **kwargs}
        )
    if asyncio.iscoroutine(result):
        return asyncio.run(result)
    return result


def wrap(capture: Capture, server: FakeLLMServer, sdk: str, is_async: bool, **kw: Any) -> Any:
    if sdk == "openai":
        return capture.wrap_openai(openai_client(server, is_async=is_async), **kw)
    return capture.wrap_anthropic(anthropic_client(server, is_async=is_async), **kw)


SDKS = [
    pytest.param("openai", False, id="openai-sync"),
    pytest.param("openai", True, id="openai-async"),
    pytest.param("anthropic", False, id="anthropic-sync"),
    pytest.param("anthropic", True, id="anthropic-async"),
]


@pytest.mark.parametrize(("sdk", "is_async"), SDKS)
def test_wrapped_call_records_every_field(
    capture: Capture, fake_llm: FakeLLMServer, sdk: str, is_async: bool
) -> None:
    version = "gpt-4o-2024-11-20" if sdk == "openai" else "claude-sonnet-4-5-20250929"
    fake_llm.enqueue("Paris", finish_reason="length", model=version, input_tokens=1200,
                     output_tokens=300)  # fmt: skip
    client = wrap(capture, fake_llm, sdk, is_async, route="answer", prompt="rag_qa@1.0.1")
    with capture.context(user_id=USER, contexts=DOCS, request_id="req-42"):
        response = call(client, sdk, **({"temperature": 0.0} if sdk == "openai" else {}))

    text = response.choices[0].message.content if sdk == "openai" else response.content[0].text
    assert text == "Paris"  # the app gets the SDK's own response object
    [rec] = records(capture)
    assert rec.status == "ok" and rec.app == "rag-assistant" and rec.route == "answer"
    assert rec.request_id == "req-42" and len(rec.record_id) == 36
    assert rec.timestamp.utcoffset() is not None and rec.timestamp.utcoffset().total_seconds() == 0
    assert rec.provider_name == sdk and rec.operation_name == "chat"
    assert rec.request_model == ("gpt-4o" if sdk == "openai" else "claude-sonnet-4-5")
    assert rec.response_model == version
    assert rec.response_id is not None
    assert (rec.input_tokens, rec.output_tokens) == (1200, 300)
    assert rec.finish_reasons == (["length"] if sdk == "openai" else ["max_tokens"])
    assert rec.request_temperature == (0.0 if sdk == "openai" else None)
    assert rec.latency_s > 0
    assert rec.user_hash == hash_user_id(USER, SALT) and rec.user_hash != USER
    assert rec.contexts == DOCS
    assert (rec.prompt_ref, rec.prompt_name, rec.prompt_version) == (
        "rag_qa@1.0.1", "rag_qa", "1.0.1"
    )  # fmt: skip
    assert [(m.role, m.content) for m in rec.input_messages] == [
        ("user", "What is the capital of France?")
    ]
    assert rec.output_text == "Paris"
    assert rec.error_type is None and rec.error_message is None
    # The SDK request carried nothing of evalmon's.
    [request] = fake_llm.history
    assert request.body is not None and "user_id" not in json.dumps(request.body)
    text_on_disk = all_text(capture)
    assert USER not in text_on_disk
    assert OPENAI_KEY not in text_on_disk and ANTHROPIC_KEY not in text_on_disk


def test_openai_logprobs_system_fingerprint_and_anthropic_system_prompt(
    capture: Capture, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue("Paris France", logprobs=[-0.25, -0.5], api="openai")
    gpt = capture.wrap_openai(openai_client(fake_llm, is_async=False))
    call(gpt, "openai", logprobs=True, max_completion_tokens=20)
    claude = capture.wrap_anthropic(anthropic_client(fake_llm, is_async=False))
    call(claude, "anthropic", system="Answer briefly.")

    first, second = records(capture)
    assert first.logprobs == [-0.25, -0.5] and first.request_max_tokens == 20
    assert first.system_fingerprint == "fp_fakeserver"
    assert second.logprobs is None and second.request_max_tokens == 64
    assert [m.role for m in second.input_messages] == ["system", "user"]
    assert second.input_messages[0].content == "Answer briefly."
    assert second.cache_read_input_tokens == 0 and second.input_tokens is not None


@pytest.mark.parametrize(("sdk", "is_async"), SDKS)
def test_sdk_error_is_recorded_redacted_and_reraised_unchanged(
    capture: Capture, fake_llm: FakeLLMServer, sdk: str, is_async: bool
) -> None:
    key = OPENAI_KEY if sdk == "openai" else ANTHROPIC_KEY
    fake_llm.enqueue_fault("400", message=f"Bad request; your key {key} is fine")
    client = wrap(capture, fake_llm, sdk, is_async, route="answer")
    expected = openai.BadRequestError if sdk == "openai" else anthropic.BadRequestError

    with pytest.raises(expected) as raised, capture.context(user_id=USER):
        call(client, sdk)

    assert raised.value.status_code == 400
    assert key in str(raised.value)  # the app's exception is the SDK's, untouched
    [rec] = records(capture)
    assert rec.status == "error" and rec.error_type == "BadRequestError"
    assert rec.http_status == 400
    assert rec.error_message is not None and "Bad request" in rec.error_message
    assert "[redacted]" in rec.error_message and key not in rec.error_message
    assert rec.output_text is None and rec.input_tokens is None
    assert rec.user_hash == hash_user_id(USER, SALT)
    assert key not in all_text(capture) and USER not in all_text(capture)


def test_connection_error_is_recorded(capture: Capture) -> None:
    client = capture.wrap_openai(
        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key=OPENAI_KEY, max_retries=0)
    )
    with pytest.raises(openai.APIConnectionError):
        call(client, "openai")
    [rec] = records(capture)
    assert rec.status == "error" and rec.error_type == "APIConnectionError"
    assert rec.http_status is None


def test_streaming_passes_through_unrecorded_but_counted(
    capture: Capture, fake_llm: FakeLLMServer
) -> None:
    fake_llm.enqueue("streamed answer")
    client = capture.wrap_openai(openai_client(fake_llm, is_async=False))
    stream = client.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "streamed answer"
    assert records(capture) == []
    assert capture.stats().streams_unrecorded == 1


def test_scopes_nest_and_override_wrap_defaults(capture: Capture, fake_llm: FakeLLMServer) -> None:
    client = capture.wrap_openai(
        openai_client(fake_llm, is_async=False), route="answer", prompt="rag_qa@1.0.1"
    )
    with capture.context(user_id="u1", contexts=["outer doc"]):
        call(client, "openai")
        with capture.context(route="rewrite", prompt="rewrite@2"):
            call(client, "openai")
    call(client, "openai")

    outer, inner, bare = records(capture)
    assert (outer.route, outer.prompt_ref, outer.contexts) == (
        "answer",
        "rag_qa@1.0.1",
        ["outer doc"],
    )
    assert (inner.route, inner.prompt_ref, inner.contexts) == (
        "rewrite",
        "rewrite@2",
        ["outer doc"],
    )
    assert inner.user_hash == outer.user_hash == hash_user_id("u1", SALT)
    assert (bare.user_hash, bare.contexts, bare.route) == (None, [], "answer")
    assert len({outer.request_id, inner.request_id, bare.request_id}) == 3


def test_concurrent_async_calls_keep_their_own_scope(
    capture: Capture, fake_llm: FakeLLMServer
) -> None:
    client = capture.wrap_anthropic(anthropic_client(fake_llm, is_async=True))

    async def one(user: str) -> None:
        with capture.context(user_id=user, request_id=f"req-{user}"):
            await client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=QUESTION)

    async def main() -> None:
        await asyncio.gather(*(one(f"user{i}") for i in range(5)))

    asyncio.run(main())
    by_request = {r.request_id: r.user_hash for r in records(capture)}
    assert by_request == {f"req-user{i}": hash_user_id(f"user{i}", SALT) for i in range(5)}


def test_the_app_client_is_untouched_and_can_be_wrapped_per_route(
    capture: Capture, fake_llm: FakeLLMServer
) -> None:
    raw = openai_client(fake_llm, is_async=False)
    answer = capture.wrap_openai(raw, route="answer")
    rerank = capture.wrap_openai(raw, route="rerank").with_options(timeout=5.0)
    call(answer, "openai")
    call(rerank, "openai")
    call(raw, "openai")  # not wrapped: not recorded

    assert [r.route for r in records(capture)] == ["answer", "rerank"]
    assert type(raw.chat.completions.create).__name__ == "method"
    assert answer.api_key == OPENAI_KEY  # everything else is the client's own


def test_input_messages_are_snapshotted_at_the_call(
    capture: Capture, fake_llm: FakeLLMServer
) -> None:
    client = capture.wrap_openai(openai_client(fake_llm, is_async=False))
    conversation: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "image_url"}]},
    ]
    call(client, "openai", messages=conversation)
    conversation.append({"role": "assistant", "content": "later"})
    [rec] = records(capture)
    assert [(m.role, m.content) for m in rec.input_messages] == [
        ("system", "Be brief."),
        ("user", "Describe\n[image_url]"),
    ]


def test_wrapping_the_wrong_client_says_what_to_do(capture: Capture) -> None:
    with pytest.raises(TypeError, match="wrap_anthropic takes an anthropic SDK client"):
        capture.wrap_anthropic(openai.OpenAI(api_key=OPENAI_KEY, base_url="http://127.0.0.1:9"))


def test_user_ids_are_not_recorded_without_a_salt(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    with Capture(CaptureConfig(directory=tmp_path, app="app")) as cap:
        client = cap.wrap_openai(openai_client(fake_llm, is_async=False))
        with cap.context(user_id=USER):
            call(client, "openai")
        [rec] = records(cap)
    assert (
        rec.user_hash is None and USER not in (tmp_path / next(tmp_path.iterdir()).name).read_text()
    )


def test_the_client_key_is_redacted_even_when_it_does_not_look_like_one(
    capture: Capture, fake_llm: FakeLLMServer
) -> None:
    key = "vllm-local-key-4c7d1e9a"
    fake_llm.enqueue_fault("401", message=f"unknown key {key}")
    client = capture.wrap_openai(
        openai.OpenAI(base_url=fake_llm.openai_base_url, api_key=key, max_retries=0),
        provider="vllm",
    )
    with pytest.raises(openai.AuthenticationError):
        call(client, "openai")
    [rec] = records(capture)
    assert rec.provider_name == "vllm" and rec.http_status == 401
    assert rec.error_message is not None and "unknown key [redacted]" in rec.error_message
    assert key not in all_text(capture)
