"""ragas' LLM metrics through evalmon's providers, against the fake server.

The responder reads ragas' real prompts (the instruction picks the task, the ``input:`` JSON at
the end gives the data) and answers with JSON for the schema ragas asked for, so each test
knows the exact score ragas must compute.
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from evals.config import AnthropicSettings, OpenAISettings, ProvidersConfig
from evals.providers import (
    CallResult,
    ConfigError,
    GenerateParams,
    Message,
    Provider,
    RetryPolicy,
    create_provider,
)
from evals.scorers._ragas_adapters import ReplyParseError, parse_reply, strict_schema
from evals.scorers._ragas_llm import answer_relevancy, faithfulness, llm_context_precision
from evals.scorers._types import ScoreInput
from tests.fakeserver import FakeLLMServer, Reply
from tests.fakeserver._synth import embedding_vector
from tests.fakeserver.responders import prompt_text

FAST = RetryPolicy(max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=5.0)
QUESTION = "What is the capital of France?"
# Three sentences, one statement each; the contexts support the first two only.
ANSWER = "Paris is the capital of France. Paris has two million inhabitants. Paris is on the Moon."
CONTEXTS = [
    "Paris is the capital of France.",
    "Berlin is the capital of Germany.",
    "Paris has two million inhabitants.",
]


class FlatPrice:
    """$1 per million tokens, in and out."""

    def cost_usd(self, model_ref: str, input_tokens: int, output_tokens: int) -> float | None:
        return (input_tokens + output_tokens) / 1e6


def _input(prompt: str) -> dict[str, Any]:
    """The data ragas put after the prompt's last ``input:``."""
    tail = prompt.rsplit("input: ", 1)[1]
    data: dict[str, Any] = json.loads(tail.rsplit("Output:", 1)[0])
    return data


def ragas_answer(prompt: str) -> dict[str, Any]:
    """What a careful judge answers to one of ragas' prompts."""
    data = _input(prompt)
    if "Break down each sentence" in prompt:
        sentences = [s.strip() for s in data["answer"].split(". ") if s.strip()]
        return {"statements": [s if s.endswith(".") else s + "." for s in sentences]}
    if "judge the faithfulness of a series of statements" in prompt:
        context = data["context"]
        verdicts = [
            {"statement": s, "reason": "in the context" if s in context else "not stated",
             "verdict": int(s in context)}
            for s in data["statements"]
        ]  # fmt: skip
        return {"statements": verdicts}
    if "verify if the context was useful" in prompt:
        useful = data["answer"].split()[0] in data["context"]
        return {"reason": "names the answer" if useful else "unrelated", "verdict": int(useful)}
    if "Generate a question for the given answer" in prompt:
        evasive = "don't know" in data["response"]
        return {"question": QUESTION, "noncommittal": int(evasive)}
    raise AssertionError(f"unexpected prompt: {prompt[:200]}")


def responder(
    wrap: Callable[[str], str] = lambda text: text,
) -> Callable[[dict[str, Any], str], str]:
    def respond(body: dict[str, Any], api: str) -> str:
        return wrap(json.dumps(ragas_answer(prompt_text(body, api))))

    return respond


def settings_for(server: FakeLLMServer) -> ProvidersConfig:
    return ProvidersConfig(
        openai=OpenAISettings(base_url=server.openai_base_url, timeout_s=5.0),
        anthropic=AnthropicSettings(base_url=server.anthropic_base_url, timeout_s=5.0),
    )


@pytest.fixture
async def compat(fake_llm: FakeLLMServer) -> AsyncIterator[Provider]:
    """An OpenAI-compatible provider (llama.cpp-style JSON mode) on the fake server."""
    provider = create_provider(
        f"openai-compatible:judge@{fake_llm.openai_base_url}", pricing=FlatPrice()
    )
    yield provider
    await provider.aclose()


def rag_case(**changes: Any) -> ScoreInput:
    fields: dict[str, Any] = {
        "output": ANSWER,
        "expected": ["Paris"],
        "inputs": {"question": QUESTION, "contexts": CONTEXTS},
    }
    fields.update(changes)
    return ScoreInput(**fields)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every address a socket connects to (or tries to) during the test."""
    seen: list[Any] = []
    guarded = socket.socket.connect

    def record(self: socket.socket, address: Any) -> None:
        seen.append(address)
        guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    yield seen


def assert_loopback_only(server: FakeLLMServer, paths: set[str], addresses: list[Any]) -> None:
    assert {rec.path for rec in server.history} <= paths
    hosts = {str(a[0]) for a in addresses if isinstance(a, tuple)}
    assert hosts, "no connection was recorded"
    assert all(ipaddress.ip_address(host).is_loopback for host in hosts), hosts


# -- faithfulness -------------------------------------------------------------------------


async def test_faithfulness_counts_supported_statements(
    fake_llm: FakeLLMServer, compat: Provider, connections: list[Any]
) -> None:
    fake_llm.set_responder(responder())
    scorer = faithfulness(provider=compat, retry=FAST)
    assert scorer.name == "faithfulness"
    assert scorer.is_async
    assert scorer.version == f"1+ragas0.4.3@{compat.ref}"

    score = await scorer.ascore(rag_case())

    assert score.value == pytest.approx(2 / 3)
    assert round(score.value, 4) == 0.6667
    assert score.reason == ""
    assert score.details["model_calls"] == 2
    assert score.details["attempts"] == 2
    assert score.details["answered_by"] == [compat.ref]
    assert score.details["cost_usd"] > 0
    first, second = fake_llm.history
    assert first.body is not None and second.body is not None
    # JSON mode with the response model's schema, temperature 0, the question and answer sent.
    assert first.body["temperature"] == 0.0
    schema = first.body["response_format"]["schema"]
    assert schema["title"] == "StatementGeneratorOutput"
    assert schema["additionalProperties"] is False
    assert QUESTION in first.body["messages"][0]["content"]
    assert second.body["response_format"]["schema"]["title"] == "NLIStatementOutput"
    assert_loopback_only(fake_llm, {"/v1/chat/completions"}, connections)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_faithfulness_through_the_first_party_providers(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    fake_llm.set_responder(responder())
    model = "openai:gpt-4o" if api == "openai" else "anthropic:claude-haiku-4-5"
    provider = create_provider(model, settings_for(fake_llm))
    try:
        score = await faithfulness(provider=provider, retry=FAST).ascore(rag_case())
    finally:
        await provider.aclose()
    assert score.value == pytest.approx(2 / 3), score.reason
    assert {rec.api for rec in fake_llm.history} == {api}


async def test_a_fenced_json_reply_is_parsed(fake_llm: FakeLLMServer, compat: Provider) -> None:
    fake_llm.set_responder(responder(lambda text: f"```json\n{text}\n```"))
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value == pytest.approx(2 / 3), score.reason


async def test_json_amid_prose_is_parsed(fake_llm: FakeLLMServer, compat: Provider) -> None:
    fake_llm.set_responder(responder(lambda text: f"Sure! Here it is:\n{text}\nHope it helps."))
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value == pytest.approx(2 / 3), score.reason


async def test_an_unparseable_reply_is_unscored_not_zero(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    fake_llm.set_responder(lambda body, api: "I think the answer is mostly faithful.")
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value is None
    assert "not the JSON object ragas asked for" in score.reason
    assert "StatementGeneratorOutput" in score.reason
    assert "mostly faithful" in score.reason
    assert score.details["model_calls"] == 1  # no blind retries of a parse failure


async def test_a_reply_cut_at_max_tokens_says_to_raise_it(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    fake_llm.set_responder(lambda body, api: Reply('{"statements": ["Paris is', "length"))
    score = await faithfulness(provider=compat, max_tokens=5, retry=FAST).ascore(rag_case())
    assert score.value is None
    assert "raise max_tokens" in score.reason


async def test_a_wrong_shape_is_unscored(fake_llm: FakeLLMServer, compat: Provider) -> None:
    fake_llm.set_responder(lambda body, api: '{"statements": "Paris"}')
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value is None
    assert "StatementGeneratorOutput" in score.reason


async def test_no_statements_is_unscored(fake_llm: FakeLLMServer, compat: Provider) -> None:
    fake_llm.set_responder(lambda body, api: '{"statements": []}')
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value is None
    assert "no statements" in score.reason


async def test_provider_errors_are_retried_then_unscored(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    fake_llm.set_responder(responder())
    fake_llm.enqueue_fault("500")  # evalmon's retry cures this one
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value == pytest.approx(2 / 3)
    assert score.details == score.details | {"model_calls": 2, "attempts": 3}

    for _ in range(FAST.max_retries + 1):
        fake_llm.enqueue_fault("500")
    score = await faithfulness(provider=compat, retry=FAST).ascore(rag_case())
    assert score.value is None
    assert "model call failed (server_error)" in score.reason
    assert score.details["model_calls"] == 1
    assert score.details["attempts"] == FAST.max_retries + 1


async def test_a_fallback_chain_answers_when_the_primary_is_down(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.set_responder(responder())
    base = fake_llm.openai_base_url
    chain = create_provider(
        f"fallback:openai-compatible:down@http://127.0.0.1:9/v1,openai-compatible:up@{base}",
        retry=FAST,
    )
    try:
        score = await faithfulness(provider=chain, retry=FAST).ascore(rag_case())
    finally:
        await chain.aclose()
    assert score.value == pytest.approx(2 / 3), score.reason
    assert score.details["answered_by"] == [f"openai-compatible:up@{base}"]


@pytest.mark.parametrize(
    ("case", "field"),
    [
        (rag_case(inputs={"contexts": CONTEXTS}), "inputs.question"),
        (rag_case(inputs={"question": QUESTION}), "inputs.contexts"),
        (rag_case(inputs={"question": QUESTION, "contexts": []}), "inputs.documents"),
        (rag_case(output="  "), "empty output"),
    ],
)
async def test_missing_data_is_unscored_with_the_field_named(
    fake_llm: FakeLLMServer, compat: Provider, case: ScoreInput, field: str
) -> None:
    score = await faithfulness(provider=compat).ascore(case)
    assert score.value is None
    assert field in score.reason
    assert fake_llm.history == []


async def test_documents_are_read_as_contexts(fake_llm: FakeLLMServer, compat: Provider) -> None:
    fake_llm.set_responder(responder())
    docs = [{"title": f"Doc {i}", "text": text} for i, text in enumerate(CONTEXTS)]
    case = rag_case(inputs={"question": QUESTION, "documents": docs})
    score = await faithfulness(provider=compat, retry=FAST).ascore(case)
    assert score.value == pytest.approx(2 / 3)
    nli = fake_llm.history[1].body
    assert nli is not None
    assert "Doc 0" not in nli["messages"][0]["content"]


# -- context precision --------------------------------------------------------------------


async def test_context_precision_is_average_precision_of_useful_contexts(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    fake_llm.set_responder(responder())
    scorer = llm_context_precision(provider=compat, retry=FAST)
    score = await scorer.ascore(rag_case())
    # Verdicts 1, 0, 1 -> (1/1 + 2/3) / 2.
    assert score.value == pytest.approx(5 / 6)
    assert score.details["model_calls"] == 3
    titles = [r.body["response_format"]["schema"]["title"] for r in fake_llm.history if r.body]
    assert titles == ["ContextPrecisionOutput"] * 3


async def test_context_precision_needs_a_reference(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    score = await llm_context_precision(provider=compat).ascore(rag_case(expected=None))
    assert score.value is None
    assert "expected" in score.reason
    assert fake_llm.history == []


# -- answer relevancy ---------------------------------------------------------------------


async def test_answer_relevancy_embeds_through_the_openai_compatible_endpoint(
    fake_llm: FakeLLMServer, compat: Provider, connections: list[Any]
) -> None:
    fake_llm.set_responder(responder())
    case = rag_case(inputs={"question": "Which city is the capital of France?"})
    score = await answer_relevancy(provider=compat, strictness=2, retry=FAST).ascore(case)
    # The judge asks "What is the capital of France?"; the fake server embeds bags of words.
    a, b = embedding_vector(QUESTION, 64), embedding_vector(case.inputs["question"], 64)
    cosine = sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)
    assert 0 < cosine < 1
    assert score.value == pytest.approx(cosine)
    assert score.details["model_calls"] == 2
    assert score.details["embedding_calls"] == 2  # the question, then both generated ones
    embeddings = [r for r in fake_llm.history if r.path == "/v1/embeddings"]
    assert [r.body["model"] for r in embeddings if r.body] == ["judge", "judge"]
    assert_loopback_only(fake_llm, {"/v1/chat/completions", "/v1/embeddings"}, connections)


async def test_answer_relevancy_of_a_noncommittal_answer_is_zero(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    fake_llm.set_responder(responder())
    case = rag_case(output="I don't know.")
    score = await answer_relevancy(provider=compat, retry=FAST).ascore(case)
    assert score.value == 0.0


async def test_answer_relevancy_uses_the_embedding_model_option(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    fake_llm.set_responder(responder())
    judge = create_provider("anthropic:claude-haiku-4-5", settings_for(fake_llm))
    embedder = f"openai-compatible:embedder@{fake_llm.openai_base_url}"
    try:
        scorer = answer_relevancy(provider=judge, embedding_model=embedder, retry=FAST)
        score = await scorer.ascore(rag_case())
    finally:
        await judge.aclose()
    assert scorer.version == f"1+ragas0.4.3@anthropic:claude-haiku-4-5+{embedder}"
    assert score.value == pytest.approx(1.0)  # the generated question is the question
    assert [r.body["model"] for r in fake_llm.history if r.path == "/v1/embeddings" and r.body] == [
        "embedder",
        "embedder",
    ]


async def test_answer_relevancy_embedding_failure_is_unscored(
    fake_llm: FakeLLMServer, compat: Provider
) -> None:
    fake_llm.set_responder(responder())
    scorer = answer_relevancy(
        provider=compat, embedding_model="openai-compatible:emb@http://127.0.0.1:9/v1"
    )
    score = await scorer.ascore(rag_case())
    assert score.value is None
    assert "embedding_model" in score.reason
    assert score.details["model_calls"] == 1


class _NoEmbeddings:
    """A provider that is not OpenAI-compatible (it is never called)."""

    ref = "anthropic:claude-haiku-4-5"
    max_concurrency = None

    async def generate(self, messages: list[Message], params: GenerateParams) -> CallResult:
        raise AssertionError("not called")

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def test_a_retry_option_that_is_not_a_policy_is_refused() -> None:
    with pytest.raises(TypeError, match="RetryPolicy"):
        faithfulness(provider=_NoEmbeddings(), retry={"max_retries": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("embedding_model", "message"),
    [
        (None, "set the scorer's embedding_model option"),
        ("anthropic:claude-haiku-4-5", "has no /v1/embeddings endpoint"),
        ("openai:text-embedding-3-small", "set OPENAI_API_KEY"),
    ],
)
def test_answer_relevancy_without_embeddings_is_a_config_error(
    embedding_model: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        answer_relevancy(provider=_NoEmbeddings(), embedding_model=embedding_model)


# -- parsing helpers ----------------------------------------------------------------------


class _Verdict(BaseModel):
    reason: str
    verdict: int


class _Verdicts(BaseModel):
    items: list[_Verdict]


@pytest.mark.parametrize(
    "text",
    [
        '{"reason": "r", "verdict": 1}',
        '```json\n{"reason": "r", "verdict": 1}\n```',
        '```\n{"reason": "r", "verdict": 1}```',
        'Answer: {"reason": "r", "verdict": 1} done',
    ],
)
def test_parse_reply_accepts_bare_fenced_and_embedded_json(text: str) -> None:
    assert parse_reply(text, _Verdict) == _Verdict(reason="r", verdict=1)


@pytest.mark.parametrize("text", ["", "yes", '{"reason": "r"}', "```json\n{oops}\n```"])
def test_parse_reply_rejects_other_replies(text: str) -> None:
    with pytest.raises(ReplyParseError, match="_Verdict"):
        parse_reply(text, _Verdict)


def test_strict_schema_closes_every_object() -> None:
    schema = strict_schema(_Verdicts.model_json_schema())
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["items"]
    nested = schema["$defs"]["_Verdict"]
    assert nested["additionalProperties"] is False
    assert nested["required"] == ["reason", "verdict"]
