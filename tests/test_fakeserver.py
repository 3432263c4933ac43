"""Tests of the fake LLM server, driven through the real openai and anthropic SDKs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pydantic
import pytest

from tests.fakeserver import (
    FakeLLMServer,
    FakeLLMServerProcess,
    Fault,
    Reply,
    TokenBucket,
)
from tests.fakeserver.__main__ import main as cli_main

USER: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(hang_s=5.0) as srv:
        yield srv


@pytest.fixture
def srv(_server: FakeLLMServer) -> FakeLLMServer:
    """Return the module's server, reset to a clean state."""
    _server.reset()
    _server.set_responder(None)
    return _server


def oai(srv: FakeLLMServer | FakeLLMServerProcess, **kw: Any) -> openai.AsyncOpenAI:
    """Return a real OpenAI SDK client for the fake server, without retries."""
    return openai.AsyncOpenAI(
        base_url=srv.openai_base_url, api_key="sk-test-key-123456", max_retries=0, **kw
    )


def ant(srv: FakeLLMServer, **kw: Any) -> anthropic.AsyncAnthropic:
    """Return a real Anthropic SDK client for the fake server, without retries."""
    return anthropic.AsyncAnthropic(
        base_url=srv.anthropic_base_url, api_key="sk-ant-test-key-123456", max_retries=0, **kw
    )


# -- happy paths -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_openai_scripted_reply_usage_and_model(srv: FakeLLMServer) -> None:
    """A scripted reply reaches the OpenAI SDK with usage, versioned model and history."""
    srv.enqueue("Paris is the capital.")
    async with oai(srv) as client:
        r = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "system", "content": "Be brief."}, *USER]
        )
    assert r.choices[0].message.content == "Paris is the capital."
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-4o-2024-08-06"
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.system_fingerprint
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (8, 4, 12)
    (rec,) = srv.history
    assert rec.api == "openai" and rec.path == "/v1/chat/completions"
    assert rec.body is not None and rec.body["messages"][1] == USER[0]
    assert rec.headers["authorization"] == "[redacted]"
    assert "sk-test" not in json.dumps(rec.to_json())
    assert srv.stats()["by_status"] == {200: 1}


@pytest.mark.asyncio
async def test_anthropic_scripted_reply_usage_and_model(srv: FakeLLMServer) -> None:
    """Scripted and default replies reach the Anthropic SDK with usage and model."""
    srv.enqueue("Paris, cut short", finish_reason="length", model="claude-pinned-20250101")
    async with ant(srv) as client:
        m = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=50, system="Be brief.", messages=USER
        )
        d = await client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=USER)
    assert m.type == "message" and m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text == "Paris, cut short"
    assert m.stop_reason == "max_tokens" and m.stop_sequence is None
    assert m.model == "claude-pinned-20250101"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (8, 3)
    # Unscripted: deterministic echo, and the request's model gets a version suffix.
    assert d.content[0].type == "text"
    assert d.content[0].text == "echo: What is the capital of France?"
    assert d.model == "claude-haiku-4-5-20250929" and d.stop_reason == "end_turn"


@pytest.mark.asyncio
async def test_max_tokens_and_stop_sequences_cut_the_reply(srv: FakeLLMServer) -> None:
    """max_tokens and stop sequences cut a reply as the real APIs do."""
    srv.enqueue("one two three four five six", api="openai")
    srv.enqueue("alpha beta STOP gamma", api="anthropic")
    async with oai(srv) as oc, ant(srv) as ac:
        r = await oc.chat.completions.create(model="gpt-4o", messages=USER, max_tokens=3)
        m = await ac.messages.create(
            model="claude-x", max_tokens=50, messages=USER, stop_sequences=["STOP"]
        )
    assert r.choices[0].message.content == "one two three"
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 3
    assert m.content[0].type == "text" and m.content[0].text == "alpha beta "
    assert (m.stop_reason, m.stop_sequence) == ("stop_sequence", "STOP")


@pytest.mark.asyncio
async def test_queue_entries_bound_to_an_api_wait_for_that_api(srv: FakeLLMServer) -> None:
    """A queue entry bound to one API is skipped by requests to the other."""
    srv.enqueue("for claude", api="anthropic")
    srv.enqueue("for gpt")
    async with oai(srv) as oc, ant(srv) as ac:
        r = await oc.chat.completions.create(model="gpt-4o", messages=USER)
        m = await ac.messages.create(model="claude-x", max_tokens=9, messages=USER)
    assert r.choices[0].message.content == "for gpt"
    assert m.content[0].type == "text" and m.content[0].text == "for claude"
    assert srv.queued() == 0


class Verdict(pydantic.BaseModel):
    """A judge's structured output."""

    score: int = pydantic.Field(ge=1, le=5)
    reasoning: str
    uncertain: bool


@pytest.mark.asyncio
async def test_json_modes_reply_with_json(srv: FakeLLMServer) -> None:
    """JSON mode and json_schema (SDK ``parse``) get valid JSON replies."""
    async with oai(srv) as client:
        r = await client.chat.completions.create(
            model="gpt-4o", messages=USER, response_format={"type": "json_object"}
        )
        p = await client.chat.completions.parse(
            model="gpt-4o", messages=USER, response_format=Verdict
        )
    assert json.loads(r.choices[0].message.content or "") == {
        "echo": "What is the capital of France?"
    }
    parsed = p.choices[0].message.parsed
    assert isinstance(parsed, Verdict) and parsed.score == 1 and parsed.uncertain is False


@pytest.mark.asyncio
async def test_logprobs_come_back_through_the_openai_sdk(srv: FakeLLMServer) -> None:
    """Scripted logprobs come back token by token through the OpenAI SDK."""
    srv.enqueue("Paris is lovely", logprobs=[-0.1, -0.2, -0.3])
    async with oai(srv) as client:
        r = await client.chat.completions.create(
            model="gpt-4o", messages=USER, logprobs=True, top_logprobs=3
        )
        plain = await client.chat.completions.create(model="gpt-4o", messages=USER)
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content is not None
    assert [t.token for t in lp.content] == ["Paris", " is", " lovely"]
    assert [t.logprob for t in lp.content] == [-0.1, -0.2, -0.3]
    assert lp.content[1].bytes == list(b" is")
    assert len(lp.content[0].top_logprobs) == 3
    assert lp.content[0].top_logprobs[0].logprob == -0.1
    assert all(t.logprob < -0.1 for t in lp.content[0].top_logprobs[1:])
    assert plain.choices[0].logprobs is None


@pytest.mark.asyncio
async def test_responder_answers_by_content(srv: FakeLLMServer) -> None:
    """The responder answers by content when the queue is empty."""

    def responder(body: dict[str, Any], api: str) -> Reply | Fault | str | None:
        text = body["messages"][-1]["content"]
        if "overload" in text:
            return Fault("529")
        if text.startswith("Document [1] GOLD"):
            return Reply("correct answer", model="judge-model")
        return "wrong answer" if api == "openai" else None

    srv.set_responder(responder)
    srv.enqueue("scripted wins")
    async with oai(srv) as oc, ant(srv) as ac:
        first = await oc.chat.completions.create(model="m", messages=USER)
        gold = await oc.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Document [1] GOLD ..."}]
        )
        other = await oc.chat.completions.create(model="m", messages=USER)
        default = await ac.messages.create(model="c", max_tokens=9, messages=USER)
        with pytest.raises(anthropic.OverloadedError):
            await ac.messages.create(
                model="c", max_tokens=9, messages=[{"role": "user", "content": "overload me"}]
            )
    assert first.choices[0].message.content == "scripted wins"
    assert gold.choices[0].message.content == "correct answer" and gold.model == "judge-model"
    assert other.choices[0].message.content == "wrong answer"
    assert default.content[0].type == "text" and default.content[0].text.startswith("echo:")


@pytest.mark.asyncio
async def test_a_failing_responder_is_reported_not_hidden(
    srv: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A responder that raises yields a 500 naming the error, and a traceback."""

    def responder(body: dict[str, Any], api: str) -> str:
        raise KeyError("gold_index")

    srv.set_responder(responder)
    async with oai(srv) as client:
        with pytest.raises(openai.InternalServerError, match="responder raised KeyError"):
            await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert srv.stats()["by_outcome"] == {"responder_error": 1}
    assert "KeyError: 'gold_index'" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_streaming_through_both_sdks(srv: FakeLLMServer) -> None:
    """``stream=True`` works through both SDKs, usage included."""
    srv.enqueue("one two three", api="openai")
    srv.enqueue("four five six", api="anthropic")
    async with oai(srv) as oc, ant(srv) as ac:
        stream = await oc.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        parts: list[str] = []
        usage = None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
            usage = chunk.usage or usage
        async with ac.messages.stream(model="claude-x", max_tokens=9, messages=USER) as st:
            texts = [t async for t in st.text_stream]
            final = await st.get_final_message()
    assert "".join(parts) == "one two three"
    assert usage is not None and usage.completion_tokens == 3
    assert texts == ["four", " five", " six"]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3


@pytest.mark.asyncio
async def test_models_list_in_each_api_shape(srv: FakeLLMServer) -> None:
    """``GET /v1/models`` answers each SDK in its own list shape."""
    async with oai(srv) as oc, ant(srv) as ac:
        o = [m.id async for m in oc.models.list()]
        a = [m.id async for m in ac.models.list()]
    assert "gpt-4o" in o and o == a


# -- faults ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_429_raises_rate_limit_error_with_retry_after(srv: FakeLLMServer) -> None:
    """A 429 fault raises RateLimitError with readable retry-after headers."""
    srv.enqueue_fault("429", retry_after_s=0.05)
    srv.enqueue_fault("429", retry_after_s=2.5, api="anthropic")
    async with oai(srv) as oc, ant(srv) as ac:
        with pytest.raises(openai.RateLimitError) as oe:
            await oc.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(anthropic.RateLimitError) as ae:
            await ac.messages.create(model="c", max_tokens=9, messages=USER)
    assert oe.value.status_code == 429
    assert oe.value.response.headers["retry-after"] == "1"  # whole seconds, rounded up
    assert oe.value.response.headers["retry-after-ms"] == "50"
    assert isinstance(oe.value.body, dict) and oe.value.body["code"] == "rate_limit_exceeded"
    assert ae.value.response.headers["retry-after"] == "3"
    assert ae.value.response.headers["retry-after-ms"] == "2500"
    body: Any = ae.value.body
    assert body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": body["error"]["message"]},
    }


@pytest.mark.asyncio
async def test_5xx_raise_internal_server_errors(srv: FakeLLMServer) -> None:
    """500 and 529 faults raise the SDKs' server-error classes."""
    srv.enqueue_fault("500", api="openai")
    srv.enqueue_fault("529", api="openai")
    srv.enqueue_fault("500", api="anthropic")
    srv.enqueue_fault("529", api="anthropic")
    async with oai(srv) as oc, ant(srv) as ac:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await oc.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(anthropic.InternalServerError) as e500:
            await ac.messages.create(model="c", max_tokens=9, messages=USER)
        with pytest.raises(anthropic.OverloadedError) as e529:
            await ac.messages.create(model="c", max_tokens=9, messages=USER)
    assert not isinstance(e500.value, anthropic.OverloadedError)
    assert isinstance(e529.value.body, dict)
    assert e529.value.body["error"]["type"] == "overloaded_error"
    assert srv.stats()["by_status"] == {500: 2, 529: 2}


@pytest.mark.asyncio
async def test_timeout_raises_api_timeout_error(srv: FakeLLMServer) -> None:
    """A hanging server makes a short-timeout client raise APITimeoutError."""
    srv.enqueue_fault("timeout", api="openai")
    srv.enqueue_fault("timeout", api="anthropic")
    start = time.monotonic()
    async with oai(srv, timeout=0.1) as oc, ant(srv, timeout=0.1) as ac:
        with pytest.raises(openai.APITimeoutError):
            await oc.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(anthropic.APITimeoutError):
            await ac.messages.create(model="c", max_tokens=9, messages=USER)
    assert time.monotonic() - start < 2.0  # the server hangs 5 s; the client gave up
    for _ in range(50):  # the server notices the disconnects
        if srv.stats()["by_outcome"].get("timeout") == 2:
            break
        await asyncio.sleep(0.02)
    assert srv.stats()["by_outcome"]["timeout"] == 2 and srv.stats()["in_flight"] == 0


@pytest.mark.asyncio
async def test_dropped_connection_raises_api_connection_error(srv: FakeLLMServer) -> None:
    """A dropped connection raises APIConnectionError, and serving goes on."""
    srv.enqueue_fault("drop", api="openai")
    srv.enqueue_fault("drop", api="anthropic")
    async with oai(srv) as oc, ant(srv) as ac:
        with pytest.raises(openai.APIConnectionError) as oe:
            await oc.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(anthropic.APIConnectionError) as ae:
            await ac.messages.create(model="c", max_tokens=9, messages=USER)
        after = await oc.chat.completions.create(model="gpt-4o", messages=USER)
    assert not isinstance(oe.value, openai.APITimeoutError)
    assert not isinstance(ae.value, anthropic.APITimeoutError)
    assert after.choices[0].message.content  # the server keeps serving
    assert srv.stats()["by_outcome"]["drop"] == 2


@pytest.mark.asyncio
async def test_malformed_bodies_surface_as_the_sdks_do(srv: FakeLLMServer) -> None:
    """Pin what the SDKs do with bodies that are not the expected JSON."""
    # Truncated JSON: neither SDK wraps the error; json.JSONDecodeError escapes as is.
    srv.enqueue_fault("malformed", api="openai")
    srv.enqueue_fault("malformed", api="anthropic")
    # text/html 200: the SDKs return the body as a str instead of a model object.
    srv.enqueue_fault("not_json", api="openai")
    # JSON of the wrong shape: a model object whose fields are all None.
    srv.enqueue_fault("bad_shape", api="openai")
    async with oai(srv) as oc, ant(srv) as ac:
        with pytest.raises(json.JSONDecodeError) as oe:
            await oc.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(json.JSONDecodeError):
            await ac.messages.create(model="c", max_tokens=9, messages=USER)
        html: Any = await oc.chat.completions.create(model="gpt-4o", messages=USER)
        shapeless = await oc.chat.completions.create(model="gpt-4o", messages=USER)
    assert not isinstance(oe.value, openai.OpenAIError)
    assert isinstance(html, str) and html.startswith("<html>")
    assert shapeless.model_dump()["choices"] is None and shapeless.usage is None
    assert srv.stats()["by_outcome"] == {"malformed": 2, "not_json": 1, "bad_shape": 1}


@pytest.mark.asyncio
async def test_random_faults_are_deterministic_and_keep_the_queue(srv: FakeLLMServer) -> None:
    """Seeded random faults repeat exactly and never consume a scripted reply."""

    async def outcomes() -> list[str]:
        seen: list[str] = []
        async with oai(srv) as client:
            for _ in range(30):
                try:
                    r = await client.chat.completions.create(model="gpt-4o", messages=USER)
                    seen.append(r.choices[0].message.content or "")
                except openai.RateLimitError:
                    seen.append("429")
                except openai.InternalServerError:
                    seen.append("500")
        return seen

    srv.set_faults(p_500=0.3, p_429=0.2, seed=7)
    srv.enqueue("scripted")
    first = await outcomes()
    srv.set_faults(seed=7)  # any set_faults call reseeds
    srv.enqueue("scripted")
    second = await outcomes()
    assert first == second
    assert {"429", "500", "scripted"} <= set(first)
    assert first.count("scripted") == 1  # a random fault never eats a scripted reply
    rate = (first.count("429") + first.count("500")) / len(first)
    assert 0.3 <= rate <= 0.7


@pytest.mark.asyncio
async def test_rate_limit_burst_gets_429s_with_time_to_next_token(srv: FakeLLMServer) -> None:
    """Requests beyond the token bucket get 429 with the wait until the next token."""
    srv.set_faults(rate_limit_rps=2.0, rate_limit_burst=3)

    async def call(client: openai.AsyncOpenAI) -> int | str:
        try:
            await client.chat.completions.create(model="gpt-4o", messages=USER)
            return 200
        except openai.RateLimitError as exc:
            return exc.response.headers["retry-after-ms"]

    async with oai(srv) as client:
        results = await asyncio.gather(*(call(client) for _ in range(10)))
        waits = [int(r) for r in results if isinstance(r, str)]
        assert results.count(200) == 3 and len(waits) == 7
        assert all(0 < w <= 500 for w in waits)  # 1 token / 2 rps = 500 ms
        await asyncio.sleep(max(waits) / 1000 + 0.02)
        assert await call(client) == 200
    assert srv.stats()["by_outcome"]["rate_limited"] == 7


def test_token_bucket_refills_at_its_rate() -> None:
    """The token bucket refills at its rate and reports the wait for a token."""
    now = 100.0
    bucket = TokenBucket(rate=10.0, burst=2, now=now)
    assert bucket.try_take(now) == 0.0 and bucket.try_take(now) == 0.0
    assert bucket.try_take(now) == pytest.approx(0.1)
    assert bucket.try_take(now + 0.05) == pytest.approx(0.05)
    assert bucket.try_take(now + 0.1) == 0.0


@pytest.mark.asyncio
async def test_latency_is_added(srv: FakeLLMServer) -> None:
    """Fixed latency and per-reply delay slow the answers down."""
    srv.set_faults(latency_s=0.08)
    srv.enqueue("slow", delay_s=0.05)
    async with oai(srv) as client:
        start = time.monotonic()
        await client.chat.completions.create(model="gpt-4o", messages=USER)
        slow = time.monotonic() - start
        start = time.monotonic()
        await client.chat.completions.create(model="gpt-4o", messages=USER)
        normal = time.monotonic() - start
    assert slow >= 0.13 and normal >= 0.08


def test_bad_settings_are_rejected() -> None:
    """Invalid probabilities and fault kinds are rejected with clear errors."""
    with pytest.raises(ValueError, match="sum to <= 1"):
        FakeLLMServer(p_500=0.8, p_429=0.5)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("teapot")
    assert cli_main(["--p-500", "2"]) == 2


@pytest.mark.asyncio
async def test_plugin_fixture_gives_a_fresh_server(fake_llm: FakeLLMServer) -> None:
    """The ``fake_llm`` fixture serves a fresh server with nothing recorded yet."""
    assert fake_llm.stats()["requests_total"] == 0 and fake_llm.url.startswith("http://127.")
    async with oai(fake_llm) as client:
        r = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert r.choices[0].message.content == "echo: What is the capital of France?"


# -- subprocess --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_subprocess_server_serves_and_reports_stats() -> None:
    """The subprocess server serves calls and is scripted and inspected over HTTP."""
    responder = "tests.fakeserver.responders:last_line"
    with FakeLLMServerProcess(latency_s=0.01, responder=responder) as proc:
        proc.enqueue("from the child", input_tokens=1200, output_tokens=300)
        proc.enqueue_fault("500", retry_after_s=0.1)
        async with oai(proc) as client:
            r = await client.chat.completions.create(model="gpt-4o", messages=USER)
            with pytest.raises(openai.InternalServerError) as exc:
                await client.chat.completions.create(model="gpt-4o", messages=USER)
            answered = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Doc 1\nAnswer: 42\n"}]
            )
            assert proc.set_faults(p_429=1.0).p_429 == 1.0
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="gpt-4o", messages=USER)
        stats = proc.stats()
        history = proc.history()
        proc.reset()
        after_reset = proc.stats()
    assert r.choices[0].message.content == "from the child"
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (1200, 300)
    assert exc.value.response.headers["retry-after-ms"] == "100"
    assert answered.choices[0].message.content == "Answer: 42"
    assert stats["requests_total"] == 4
    assert stats["by_status"] == {200: 2, 429: 1, 500: 1}
    assert [h["outcome"] for h in history] == ["ok", "500", "ok", "429"]
    assert history[0]["headers"]["authorization"] == "[redacted]"
    assert after_reset["requests_total"] == 0 and after_reset["faults"]["p_429"] == 0.0
