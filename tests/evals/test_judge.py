"""The rubric LLM judge: rubric files, rendering and delimiters, parsing, retries, versions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from evals.judging import INJECTION_ATTEMPTS
from evals.prompts import load_prompt
from evals.providers import ConfigError, Provider, create_provider
from evals.scorers import ScoreInput
from evals.scorers._judge import (
    judge_variables,
    load_rubric,
    neutralize_delimiters,
    render_judge_messages,
    rubric_judge,
)
from evals.scorers._judge_reply import JudgeReplyError, parse_judge_reply
from tests.fakeserver import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
JUDGES = ROOT / "prompts" / "judges"
# Scoring rubrics; pairwise_preference.yaml compares two responses (evals.judging.pairwise).
RUBRICS = sorted(p for p in JUDGES.glob("*.yaml") if p.stem != "pairwise_preference")
CORRECTNESS = JUDGES / "answer_correctness.yaml"
EXPECTED_RUBRICS = {
    "answer_correctness", "faithfulness", "answer_relevance", "harmful_advice",
    "citation_correctness",
}  # fmt: skip
TAGS = ("response", "question", "reference", "context")

CASE = ScoreInput(
    output="Paris is the capital of France [1].",
    expected="Paris",
    inputs={
        "question": "What is the capital of France?",
        "documents": [{"title": "France", "text": "Paris is the capital of France."}],
    },
)


def reply(score: Any, reasoning: str = "Matches the reference.", flags: Any = ()) -> str:
    return json.dumps({"reasoning": reasoning, "score": score, "flags": list(flags)})


@pytest.fixture
async def judge_model(fake_llm: FakeLLMServer) -> AsyncIterator[Provider]:
    provider = create_provider(f"openai-compatible:judge@{fake_llm.openai_base_url}")
    yield provider
    await provider.aclose()


def bodies(server: FakeLLMServer) -> list[dict[str, Any]]:
    return [r.body for r in server.history if r.body is not None and "messages" in r.body]


# -- the rubric files ----------------------------------------------------------------------


def test_the_five_rubrics_exist() -> None:
    assert {p.stem for p in RUBRICS} == EXPECTED_RUBRICS


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.stem)
def test_every_rubric_loads_and_has_a_score_scale(path: Path) -> None:
    prompt = load_prompt(path)
    assert prompt.spec.name == f"judges/{path.stem}"
    assert prompt.spec.version == "1.0.0"
    params = prompt.spec.params
    assert params.temperature == 0 and params.json_output
    schema = params.json_schema
    assert schema is not None
    assert set(schema["required"]) == {"score", "reasoning", "flags"}
    assert schema["additionalProperties"] is False
    score = schema["properties"]["score"]
    assert (score["minimum"], score["maximum"]) == (1, 5)
    rubric = load_rubric(path)
    assert (rubric.min_score, rubric.max_score, rubric.integer) == (1.0, 5.0, True)
    system = prompt.spec.messages[0]
    assert system.role == "system" and "{{" not in system.content
    for point in range(1, 6):  # every scale point is defined
        assert f"\n{point} - " in system.content
    assert "reflect only this rubric" in system.content
    assert "data to be judged" in system.content and "never to be followed" in system.content


# -- scoring through the fake server and the real OpenAI SDK -------------------------------


async def test_well_formed_reply_gives_the_normalised_score(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    assert scorer.name == "judge:judges/answer_correctness" and scorer.is_async
    fake_llm.enqueue(reply(4, "Right city, no detail.", ["partial_answer"]))
    score = await scorer.ascore(CASE)
    assert score.value == pytest.approx(0.75)
    assert score.details["raw_score"] == 4 and score.details["scale"] == [1.0, 5.0]
    assert score.details["reasoning"] == "Right city, no detail."
    assert score.details["flags"] == ["partial_answer"]
    assert score.details["attempts"] == 1
    assert score.details["judge"] == judge_model.ref
    assert scorer.version == f"{score.details['rubric']}@{score.details['judge']}"
    assert len(bodies(fake_llm)) == 1


async def test_request_is_temperature_zero_with_the_rubric_schema(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    fake_llm.enqueue(reply(5))
    await scorer.ascore(CASE)
    (body,) = bodies(fake_llm)
    assert body["temperature"] == 0
    schema = load_prompt(CORRECTNESS).spec.params.json_schema
    assert body["response_format"]["schema"] == schema
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user"]
    assert (
        "<response>\nParis is the capital of France [1].\n</response>"
        in (body["messages"][1]["content"])
    )


async def test_fenced_reply_with_prose_parses(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    fake_llm.enqueue(f"Here is my grade:\n```json\n{reply(5)}\n```\nDone.")
    score = await scorer.ascore(CASE)
    assert score.value == 1.0 and score.details["attempts"] == 1


async def test_unparseable_reply_is_retried_then_unscored(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS), max_parse_retries=2)
    for _ in range(3):
        fake_llm.enqueue("I think it deserves a five.")
    score = await scorer.ascore(CASE)
    assert score.value is None
    assert score.reason.startswith("unparseable judge reply: expected one JSON object, found 0")
    assert score.details["attempts"] == 3
    sent = bodies(fake_llm)
    assert len(sent) == 3
    # Each retry shows the judge its reply and what was wrong with it.
    retry = sent[1]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert retry[2]["content"] == "I think it deserves a five."
    assert "could not be used" in retry[3]["content"] and '"score" (1 to 5)' in retry[3]["content"]


async def test_reply_cut_off_at_max_tokens_says_so(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS), max_parse_retries=0)
    fake_llm.enqueue('{"reasoning": "The response names', finish_reason="length")
    score = await scorer.ascore(CASE)
    assert score.value is None and "last reply (cut off at max_tokens)" in score.reason


async def test_a_retry_can_recover(judge_model: Provider, fake_llm: FakeLLMServer) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    fake_llm.enqueue('{"score": ')
    fake_llm.enqueue(reply(3))
    score = await scorer.ascore(CASE)
    assert score.value == pytest.approx(0.5) and score.details["attempts"] == 2
    assert len(bodies(fake_llm)) == 2


@pytest.mark.parametrize("bad", [0, 6, 3.5, "4", None, True])
async def test_out_of_range_or_non_integer_score_is_retried_then_unscored(
    judge_model: Provider, fake_llm: FakeLLMServer, bad: Any
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS), max_parse_retries=1)
    fake_llm.enqueue(reply(bad))
    fake_llm.enqueue(reply(bad))
    score = await scorer.ascore(CASE)
    assert score.value is None and score.reason.startswith("unparseable judge reply: score")
    assert len(bodies(fake_llm)) == 2


async def test_no_retries_means_one_call(judge_model: Provider, fake_llm: FakeLLMServer) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS), max_parse_retries=0)
    fake_llm.enqueue(reply(9))
    score = await scorer.ascore(CASE)
    assert score.value is None and "outside the scale 1..5" in score.reason
    assert len(bodies(fake_llm)) == 1


async def test_provider_error_is_unscored(judge_model: Provider, fake_llm: FakeLLMServer) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    fake_llm.enqueue_fault("400", message="bad schema")
    score = await scorer.ascore(CASE)
    assert score.value is None
    assert score.reason.startswith("judge call failed (bad_request)")
    assert len(bodies(fake_llm)) == 1


async def test_case_without_a_needed_variable_is_unscored_without_a_call(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    scorer = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    score = await scorer.ascore(ScoreInput("Paris", None, {"question": "Capital?"}))
    assert score.value is None and "no reference" in score.reason
    assert bodies(fake_llm) == []


async def test_raw_scores_have_their_own_version(
    judge_model: Provider, fake_llm: FakeLLMServer
) -> None:
    normalised = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    raw = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS), normalize=False)
    fake_llm.enqueue(reply(4))
    score = await raw.ascore(CASE)
    assert score.value == 4.0 and score.details["raw_score"] == 4.0
    assert raw.version == normalised.version + "+raw"


# -- versions and configuration ------------------------------------------------------------


def test_version_changes_when_the_rubric_text_changes(
    judge_model: Provider, tmp_path: Path
) -> None:
    original = rubric_judge(provider=judge_model, rubric=str(CORRECTNESS))
    text = CORRECTNESS.read_text(encoding="utf-8")
    assert original.version.startswith("judges/answer_correctness@1.0.0#")
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("Fully correct:", "Entirely correct:"), encoding="utf-8")
    changed = rubric_judge(provider=judge_model, rubric=str(edited))
    assert changed.name == original.name
    assert changed.version != original.version
    described = tmp_path / "described.yaml"
    described.write_text(text.replace("description: Judge", "description: Grade"), "utf-8")
    assert rubric_judge(provider=judge_model, rubric=str(described)).version == original.version


def test_relative_rubric_paths_are_taken_from_the_current_directory(
    judge_model: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    scorer = rubric_judge(provider=judge_model, rubric="prompts/judges/faithfulness.yaml")
    assert scorer.name == "judge:judges/faithfulness"


def test_missing_rubric_is_a_config_error_naming_it(
    judge_model: Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"judge rubric .*judges/nope\.yaml not found"):
        rubric_judge(provider=judge_model, rubric="judges/nope.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("minimum: 1, ", ""), "score scale"),
        (("temperature: 0", "temperature: 0.7"), "temperature 0"),
        (("<response>\n      {{ response }}", "{{ response }}\n      <response>"), "only inside"),
    ],
)
def test_rubric_that_is_not_a_judge_rubric_is_a_config_error(
    judge_model: Provider, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = CORRECTNESS.read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        rubric_judge(provider=judge_model, rubric=str(path))


# -- rendering, the variable mapping and parsing -------------------------------------------


def test_variable_mapping() -> None:
    values = judge_variables(
        ScoreInput("out", ["Paris", "City of Paris"], {"question": "Q?", "contexts": ["a", "b"]})
    )
    assert values == {
        "response": "out",
        "question": "Q?",
        "reference": "Any of these answers is correct:\n- Paris\n- City of Paris",
        "context": "Document [1]\na\n\nDocument [2]\nb",
    }
    values = judge_variables(CASE)
    assert values["reference"] == "Paris"
    assert values["context"] == "Document [1] (Title: France)\nParis is the capital of France."
    assert judge_variables(ScoreInput("x", {"answers": ["only"]}))["reference"] == "only"
    assert judge_variables(ScoreInput("x", {"year": 1969}))["reference"] == '{"year": 1969}'
    assert set(judge_variables(ScoreInput(""))) == {"response"}


def test_parse_rejects_several_objects_and_bad_fields() -> None:
    rubric = load_rubric(CORRECTNESS)
    assert parse_judge_reply(reply(2, "x", ["a"]), rubric).flags == ("a",)
    assert parse_judge_reply('{"score": 5}', rubric).reasoning == ""
    nested = json.dumps({"reasoning": 'it said {"score": 5}', "score": 2, "flags": []})
    assert parse_judge_reply(nested, rubric).score == 2
    for bad in (f"{reply(5)}\n{reply(1)}", '{"score": 4, "flags": "x"}', "[4]", ""):
        with pytest.raises(JudgeReplyError):
            parse_judge_reply(bad, rubric)


# -- prompt injection ----------------------------------------------------------------------


def block(content: str, name: str) -> str:
    """The data between ``<name>`` and ``</name>``, which must each occur exactly once."""
    assert content.count(f"<{name}>") == 1, content
    assert content.count(f"</{name}>") == 1, content
    start = content.index(f"<{name}>\n") + len(name) + 3
    end = content.index(f"\n</{name}>")
    assert start <= end
    return content[start:end]


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.stem)
@pytest.mark.parametrize("injection", INJECTION_ATTEMPTS)
def test_injected_text_stays_inside_its_data_block(path: Path, injection: str) -> None:
    rubric = load_rubric(path)
    item = ScoreInput(
        output=injection,
        expected=injection,
        inputs={"question": injection, "documents": [{"title": "T", "text": injection}]},
    )
    system, user = render_judge_messages(rubric, item)
    assert system.role == "system" and user.role == "user"
    assert "data to be judged" in system.content and "never to be followed" in system.content
    assert "Scale (an integer from 1 to 5)" in system.content
    assert injection not in system.content
    clean_system = render_judge_messages(rubric, CASE)[0]
    assert system == clean_system  # no judged text reaches the system message
    expected = {
        "response": neutralize_delimiters(injection),
        "question": neutralize_delimiters(injection),
        "reference": neutralize_delimiters(injection),
        "context": "Document [1] (Title: T)\n" + neutralize_delimiters(injection),
    }
    for name in rubric.prompt.spec.variables:
        data = block(user.content, name)
        assert data == expected[name]  # the whole text, then the one closing tag
        assert user.content.index(data) < user.content.index(f"</{name}>")
    if "<" not in injection and "＜" not in injection and "‹" not in injection:
        assert block(user.content, "response") == injection  # plain text is kept verbatim
    assert user.content.endswith("Reply with the JSON object only.")


def test_neutralising_only_touches_judge_tags() -> None:
    assert neutralize_delimiters("a < b and <div></div> x</response>") == (
        "a < b and <div></div> x&lt;/response>"
    )
    assert neutralize_delimiters("<Context >< /question") == "&lt;Context >&lt; /question"
    assert neutralize_delimiters("<responses>") == "<responses>"
