"""Judging through the runner against the fake server: prose, fences, bad scores, 429s."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from evals.config import RunnerConfig
from evals.scorers import ScoreInput, load_rubric
from flows.config import EvalmonConfig
from flows.judge_batch import JudgeItem, judge_batch
from flows.running import open_provider
from metrics.store import Store
from tests.fakeserver import FakeLLMServer, Fault

ROOT = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(ROOT / "prompts/judges/answer_correctness.yaml")


def item(key: str, response: str) -> JudgeItem:
    return JudgeItem(key, RUBRIC, ScoreInput(response, ["Paris"], {"question": "Capital?"}))


def reply(score: int, reasoning: str = "ok") -> str:
    return json.dumps({"reasoning": reasoning, "score": score, "flags": []})


def response_of(body: dict[str, Any], api: str) -> str:
    # The first user message holds the judged material (a retry appends turns after it).
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    found = re.search(r"<response>\n(.*?)\n</response>", user, re.S)
    assert found is not None
    return found.group(1)


def run(fake_llm: FakeLLMServer, tmp_path: Path, items: list[JudgeItem], **runner: Any) -> Any:
    config = EvalmonConfig(store=tmp_path / "j.duckdb", runner=RunnerConfig(**runner))

    async def go() -> Any:
        provider = await open_provider(
            f"openai-compatible:judge@{fake_llm.openai_base_url}", config
        )
        try:
            with Store(config.store) as store:
                return await judge_batch(provider, store, "judge-run", items, config)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def generations(server: FakeLLMServer) -> list[dict[str, Any]]:
    return [r.body for r in server.history if r.path.endswith("/chat/completions")]


def test_replies_in_every_shape(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    answers = {
        "good": reply(5, "states Paris"),
        "fenced": "```json\n" + reply(4) + "\n```",
        "prose": "I think this deserves a 3.",  # no JSON: asked again, then parses
        "range": reply(9),  # out of the 1-5 scale: asked again, then still out
    }
    asked: dict[str, int] = {}

    def judge(body: dict[str, Any], api: str) -> str:
        key = response_of(body, api)
        asked[key] = asked.get(key, 0) + 1
        if key == "prose" and asked[key] > 1:
            return reply(2)
        return answers[key]

    fake_llm.set_responder(judge)
    result = run(fake_llm, tmp_path, [item(k, k) for k in answers])
    s = result.scores
    assert s["good"].value == 1.0 and s["good"].details["raw_score"] == 5
    assert s["good"].reason == "states Paris"
    assert s["fenced"].value == 0.75
    assert s["prose"].value == 0.25 and s["prose"].details["attempts"] == 2
    assert s["range"].value is None and "unparseable judge reply" in s["range"].reason
    assert asked == {"good": 1, "fenced": 1, "prose": 2, "range": 2}
    assert result.unparseable == 1 and result.errors == 0
    body = generations(fake_llm)[0]
    assert body["temperature"] == 0
    # The retry shows the judge its reply and what was wrong.
    retried = [b for b in generations(fake_llm) if len(b["messages"]) > 2]
    assert {m["role"] for m in retried[0]["messages"]} == {"system", "user", "assistant"}


def test_a_429_storm_is_retried_and_a_rerun_asks_nothing(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.set_responder(lambda body, api: reply(5))
    for _ in range(6):
        fake_llm.enqueue_fault("429", retry_after_s=0.01)
    items = [item(f"r{i}", f"Paris {i}") for i in range(8)]
    result = run(fake_llm, tmp_path, items, concurrency=4, max_retries=8)
    assert all(score.value == 1.0 for score in result.scores.values())
    assert result.errors == 0 and result.called == 8
    assert len(generations(fake_llm)) == 8 + 6
    again = run(fake_llm, tmp_path, items)
    assert again.called == 0 and len(generations(fake_llm)) == 14
    assert again.scores["r3"].value == 1.0


def test_a_failed_call_is_unscored_with_its_reason(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.set_responder(
        lambda body, api: (
            Fault("400", message="bad judge") if response_of(body, api) == "x" else reply(1)
        )
    )
    result = run(fake_llm, tmp_path, [item("x", "x"), item("y", "y")])
    assert result.scores["x"].value is None and "bad judge" in result.scores["x"].reason
    assert result.scores["y"].value == 0.0  # a real score of the lowest point, not an error
    assert result.errors == 1
