"""Production end to end: capture real SDK calls, ingest, sample, redact, judge, review.

One fake server plays both the app's model and the judge: a request whose system message is
a judge rubric is graded (5 when the judged response says Paris, else 1); any other request
is the app's and is answered from its question.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import openai
import pytest

from evals.judging import calibrate
from flows.config import EvalmonConfig
from flows.judge_calibrate import run_calibration
from flows.judge_config import JudgeSettings
from flows.judge_sample import JudgeSampleRequest, run_judge_sample
from metrics.capture import Capture, CaptureConfig
from metrics.production import resolve_review, review_items
from metrics.store import Store
from tests.fakeserver import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
FAITHFULNESS = ROOT / "prompts/judges/faithfulness.yaml"
N = 12


def respond(body: dict[str, Any], api: str) -> str:
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if "evaluation judge" in system:
        judged = re.search(r"<response>\n(.*?)\n</response>", user, re.S)
        assert judged is not None
        score = 5 if "Paris" in judged.group(1) else 1
        return json.dumps({"reasoning": f"graded {score}", "score": score, "flags": []})
    number = int(re.search(r"question (\d+)", user).group(1))  # type: ignore[union-attr]
    if number % 3 == 0:
        return "I'm not sure, maybe Lyon [3]."
    return "Paris [1]. Contact jane.doe@example.com for details."


def capture_traffic(server: FakeLLMServer, directory: Path) -> None:
    config = CaptureConfig(directory=directory, app="rag-assistant", user_id_salt="s" * 32)
    with Capture(config) as capture:
        client = capture.wrap_openai(
            openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test-app"),
            route="answer",
            prompt="rag_qa@1.0.1",
        )
        for i in range(N):
            with capture.context(user_id=f"user-{i}", contexts=["Paris is the capital."]):
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"question {i}: capital of France?"}],
                )


@pytest.fixture
def config(tmp_path: Path, fake_llm: FakeLLMServer) -> EvalmonConfig:
    fake_llm.set_responder(respond)
    judge = JudgeSettings(
        rubrics=[FAITHFULNESS],
        models=[f"openai-compatible:judge@{fake_llm.openai_base_url}"],
        sample_rate=1.0,
        cap_requests=None,
    )
    return EvalmonConfig(store=tmp_path / "prod.duckdb", judge=judge)


def judge_calls(server: FakeLLMServer) -> int:
    return sum(
        1
        for r in server.history
        if r.path.endswith("/chat/completions") and "evaluation judge" in json.dumps(r.body)
    )


def test_capture_ingest_judge_and_review(
    config: EvalmonConfig, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    capture_traffic(fake_llm, tmp_path / "capture")
    request = JudgeSampleRequest(paths=(tmp_path / "capture",))
    report = asyncio.run(run_judge_sample(request, config))
    assert report.ingest is not None and report.ingest.rows_added == N
    [outcome] = report.rubrics
    assert outcome.sampled == N and outcome.judged == N and outcome.scored == N
    assert outcome.redactions == N - N // 3  # the email in each good response
    assert outcome.uncalibrated_judges == (config.judge.models[0],)
    assert judge_calls(fake_llm) == N
    # The judge saw the email redacted, never the address itself.
    judged = [
        json.dumps(r.body) for r in fake_llm.history if "evaluation judge" in json.dumps(r.body)
    ]
    assert not any("jane.doe@example.com" in body for body in judged)
    assert any("[EMAIL]" in body for body in judged)
    with Store(config.store) as store:
        items = review_items(store, limit=100)
        reasons = {(i.request_id, i.reason) for i in items}
        with store.connection() as conn:
            scores = conn.execute(
                "SELECT score, count(*) FROM judge_scores GROUP BY ALL ORDER BY score"
            ).fetchall()
            # Each score keeps its request's record, so the exporter needs no lookup.
            unlinked = conn.execute(
                "SELECT count(*) FROM judge_scores j JOIN production_requests p USING "
                "(request_id) WHERE j.request_ts IS DISTINCT FROM p.ts "
                "OR j.request_model IS DISTINCT FROM p.request_model "
                "OR j.prompt_ref IS DISTINCT FROM p.prompt_ref"
            ).fetchall()
    assert scores == [(0.0, N // 3), (1.0, N - N // 3)]
    assert unlinked == [(0,)]
    bad = {i.request_id for i in items}
    assert len(bad) == N // 3
    kinds = {reason for _, reason in reasons}
    assert kinds == {"low_score", "validator_failed", "uncertain"}
    # Judging again: everything sampled was judged, nothing is asked again.
    again = asyncio.run(run_judge_sample(JudgeSampleRequest(paths=(tmp_path / "capture",)), config))
    assert again.ingest is not None and again.ingest.rows_added == 0
    assert again.rubrics[0].judged == 0 and judge_calls(fake_llm) == N
    with Store(config.store) as store:
        first = sorted(bad)[0]
        assert resolve_review(store, first, label="hallucination", resolved_by="qa") == 3
        assert {i.request_id for i in review_items(store)} == bad - {first}


def test_calibration_of_a_perfect_judge_is_kappa_one(
    config: EvalmonConfig, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    labels = [json.loads(line) for line in (ROOT / "evals/datasets/judge_labels.jsonl").open()]
    by_response = {item["response"]: item["human_score"] for item in labels}

    def perfect(body: dict[str, Any], api: str) -> str:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        judged = re.search(r"<response>\n(.*?)\n</response>", user, re.S)
        assert judged is not None
        text = judged.group(1).replace("&lt;", "<")
        return json.dumps({"reasoning": "as labelled", "score": by_response[text], "flags": []})

    fake_llm.set_responder(perfect)
    reports = asyncio.run(
        run_calibration(
            ROOT / "evals/datasets/judge_labels.jsonl",
            config,
            model=config.judge.models[0],
            prompts_dir=ROOT / "prompts",
        )
    )
    assert {r.rubric_version.split("@")[0] for r in reports} == {
        "judges/answer_correctness",
        "judges/faithfulness",
    }
    for r in reports:
        assert r.calibration.weighted_kappa == pytest.approx(1.0)
        assert r.calibration.calibrated and r.calibration.unscored == 0
    assert calibrate([1, 2], [1, 2]).calibrated  # the engine agrees on a trivial case
    with Store(config.store) as store, store.connection() as conn:
        rows = conn.execute("SELECT judge_ref, calibrated FROM judge_calibrations").fetchall()
    assert len(rows) == 2 and all(calibrated for _, calibrated in rows)
