"""The example RAG app and its traffic generator, against the fake LLM server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evals.providers import ConfigError
from flows.example_app import Endpoint, RagApp, Retriever, serve, truncate
from flows.example_traffic import GENERATED_APP, GenerateOptions, generate, plan_day
from flows.example_traffic_report import read_capture_file, read_records
from metrics.capture import Capture, CaptureConfig
from tests.fakeserver import FakeLLMServer
from tests.fakeserver.responders import last_user_text

DAY = date(2026, 11, 29)


def answer_from_first_document(body: dict[str, Any], api: str) -> str:
    text = last_user_text(body, api)
    first = next(line for line in text.splitlines() if line.startswith("Document [1]"))
    return first.split(")", 1)[1].split(".")[0].strip() + " [1]."


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return Retriever()


def test_retriever_finds_the_gold_passage_of_an_nq_question(retriever: Retriever) -> None:
    docs = retriever.search("who wrote the song rainy days and mondays", 3)
    assert len(docs) == 3
    assert docs[0].title == "Rainy Days and Mondays"


def test_truncate_keeps_short_texts_and_marks_cut_ones() -> None:
    assert truncate("a b c", 3) == "a b c"
    assert truncate("a b c d", 2) == "a b ..."
    assert truncate("a b c d", None) == "a b c d"


def test_the_app_answers_through_the_sdk_and_the_capture_records_it(
    fake_llm: FakeLLMServer, tmp_path: Path, retriever: Retriever
) -> None:
    fake_llm.set_responder(answer_from_first_document)
    config = CaptureConfig(directory=tmp_path, app="rag-qa-example", user_id_salt="s" * 32)
    with serve(f"openai-compatible:fake@{fake_llm.openai_base_url}") as endpoint:
        assert endpoint == Endpoint(
            fake_llm.openai_base_url, "fake", "openai-compatible", "not-needed"
        )
        with Capture(config) as capture:
            app = RagApp(endpoint, capture, retriever=retriever, top_k=3, max_words=20)
            answer = app.answer(
                "who wrote the song rainy days and mondays", user_id="u1", request_id="r1"
            )
    assert answer.error is None and answer.prompt_ref == "rag_qa@1.0.1"
    assert answer.text is not None and answer.text.endswith("[1].")
    assert len(answer.documents) == 3
    assert all(len(d.text.split()) <= 21 for d in answer.documents)
    [record] = read_records(tmp_path)
    assert record["evalmon.request_id"] == "r1"
    assert record["evalmon.status"] == "ok"
    assert record["evalmon.prompt.ref"] == "rag_qa@1.0.1"
    assert record["gen_ai.provider.name"] == "openai-compatible"
    assert record["gen_ai.request.max_tokens"] == 100
    assert record["gen_ai.request.temperature"] == 0
    assert len(record["evalmon.retrieval.contexts"]) == 3
    assert record["evalmon.retrieval.contexts"][0].startswith("Rainy Days and Mondays: ")
    content = record["evalmon.input.messages"][0]["content"]
    assert "Document [1](Title: Rainy Days and Mondays)" in content
    assert content.endswith("Question: who wrote the song rainy days and mondays\nAnswer:")
    assert record["user.hash"] and "u1" not in json.dumps(record)


def test_a_failed_call_is_returned_and_recorded_as_an_error(
    tmp_path: Path, retriever: Retriever
) -> None:
    endpoint = Endpoint("http://127.0.0.1:9/v1", "nobody", "openai-compatible", "x")
    with Capture(CaptureConfig(directory=tmp_path, app="rag-qa-example")) as capture:
        app = RagApp(endpoint, capture, retriever=retriever, top_k=2, timeout_s=2)
        answer = app.answer("what is the capital of france")
    assert answer.text is None and answer.error is not None
    assert "APIConnectionError" in answer.error
    [record] = read_records(tmp_path)
    assert record["evalmon.status"] == "error"


def test_serve_rejects_a_provider_that_does_not_speak_the_openai_api() -> None:
    from evals.providers import ConfigError

    with pytest.raises(ConfigError, match="OpenAI chat API"), serve("anthropic:claude"):
        pass


def test_the_planned_day_is_seeded_sorted_and_rolled_out() -> None:
    plan = plan_day(200, day=DAY, seed=3)
    assert plan == plan_day(200, day=DAY, seed=3)
    assert plan != plan_day(200, day=DAY, seed=4)
    start = datetime(2026, 11, 29, tzinfo=UTC)
    times = [p.at for p in plan]
    assert times == sorted(times)
    assert all(start <= t < start + timedelta(days=1) for t in times)
    assert len({p.request_id for p in plan}) == 200
    night = sum(t.hour < 6 for t in times)
    afternoon = sum(12 <= t.hour < 18 for t in times)
    assert afternoon > 2 * night  # a daytime peak
    for p in plan:
        if p.at.hour < 9:
            assert p.prompt_ref == "rag_qa@1.0.0"
        elif p.at.hour >= 13:
            assert p.prompt_ref == "rag_qa@1.0.1"
    canary = {p.prompt_ref for p in plan if 9 <= p.at.hour < 13}
    assert canary == {"rag_qa@1.0.0", "rag_qa@1.0.1"}
    personal = [p for p in plan if p.personal_data]
    assert len(personal) == 6
    assert all("@example.com" in p.question or "+1 415 555" in p.question for p in personal)
    assert len({p.user_id for p in plan}) > 10


def test_generate_writes_hourly_capture_files_with_planned_times_and_a_readme(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.set_responder(answer_from_first_document)
    model = f"openai-compatible:fake@{fake_llm.openai_base_url}"
    out = tmp_path / "traffic"
    command = "python -m flows.example_app generate --n 8"
    summary = generate(GenerateOptions(model=model, n=8, out=out, seed=1, day=DAY, command=command))
    plan = plan_day(8, day=DAY, seed=1)
    records = read_records(out)
    assert summary.requests == 8 and summary.errors == 0 and summary.personal_data == 1
    assert [r["evalmon.request_id"] for r in records] == [p.request_id for p in plan]
    for record, planned in zip(records, plan, strict=True):
        assert record["evalmon.app"] == GENERATED_APP
        stamp = datetime.fromisoformat(record["evalmon.timestamp"])
        assert stamp == planned.at
        assert record["evalmon.prompt.ref"] == planned.prompt_ref
    for path in out.glob("*.jsonl"):  # each hourly file holds only its hour
        hour = path.name.split("-")[4]
        assert {r["evalmon.timestamp"][11:13] for r in read_capture_file(path)} == {hour}
    readme = (out / "README.md").read_text()
    assert "**This is generated traffic.**" in readme
    assert command in readme and model in readme
    assert not list(out.glob("*.part"))
    with pytest.raises(ConfigError, match="already holds capture files"):
        generate(GenerateOptions(model=model, n=2, out=out, day=DAY))
