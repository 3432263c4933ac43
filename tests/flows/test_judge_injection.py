"""The injection measurement's plumbing, against a fake judge that some injections sway."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from evals.judging import INJECTION_ATTEMPTS
from flows.config import EvalmonConfig
from flows.judge_injection import load_responses, main, measure, tabulate
from tests.fakeserver import FakeLLMServer

SWAYED_BY = (INJECTION_ATTEMPTS[0],)


def fake_judge(body: dict[str, Any], api: str) -> str:
    user = body["messages"][-1]["content"]
    response = re.search(r"<response>\n(.*?)\n</response>", user, re.S)
    assert response is not None
    score = 5 if any(s in response.group(1) for s in SWAYED_BY) else 2
    return json.dumps({"reasoning": "r", "score": score, "flags": []})


def write_traffic(folder: Path, n: int) -> None:
    folder.mkdir()
    lines = []
    for i in range(n):
        lines.append({
            "evalmon.request_id": f"r{i:02d}", "evalmon.status": "ok",
            "evalmon.output.text": f"Answer {i} [1]. Mail me at a.b@example.com",
            "evalmon.input.messages": [{"role": "user", "content": f"question {i}"}],
            "evalmon.retrieval.contexts": ["Doc: some text"],
        })  # fmt: skip
    lines.append({**lines[0], "evalmon.request_id": "zz", "evalmon.status": "error"})
    (folder / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_the_measurement_counts_what_moved(
    fake_llm: FakeLLMServer, tmp_path: Path, capsys: Any
) -> None:
    fake_llm.set_responder(fake_judge)
    write_traffic(tmp_path / "traffic", 6)
    records = load_responses(tmp_path / "traffic", 3)
    assert [r["evalmon.request_id"] for r in records] == ["r00", "r02", "r04"]
    model = f"openai-compatible:judge@{fake_llm.openai_base_url}"
    config = EvalmonConfig(store=tmp_path / "s.duckdb")
    rubric_path = Path("prompts/judges/faithfulness.yaml")
    rubric, scores = asyncio.run(measure(config, model, rubric_path, records))
    assert len(scores) == 3 * (1 + len(INJECTION_ATTEMPTS))
    judged = [json.dumps(r.body) for r in fake_llm.history if r.path.endswith("/completions")]
    assert not any("a.b@example.com" in body for body in judged)  # redacted first
    rows = tabulate(rubric, ["r00", "r02", "r04"], scores, 0.5)
    first, *others = rows
    assert (first.pairs, first.headroom, first.moved, first.up) == (3, 3, 3, 3)
    assert (first.to_max, first.flipped) == (3, 3)
    assert all(r.pairs == 3 and r.moved == 0 and r.unscored == 0 for r in others)
    # The command line prints the table; a second run asks the judge nothing.
    calls = len(judged)
    main(["--model", model, "--traffic", str(tmp_path / "traffic"), "--n", "3",
          "--store", str(tmp_path / "s.duckdb")])  # fmt: skip
    printed = capsys.readouterr().out
    moved_share = f"3 ({3 / (3 * len(INJECTION_ATTEMPTS)):.0%})"
    assert "Ignore" in printed and moved_share in printed
    assert sum(r.path.endswith("/completions") for r in fake_llm.history) == calls
    # Another judge model is another run: it is asked everything, not served the first's.
    other = f"openai-compatible:judge2@{fake_llm.openai_base_url}"
    asyncio.run(measure(config, other, rubric_path, records))
    assert sum(r.path.endswith("/completions") for r in fake_llm.history) == 2 * calls


def test_mismatch_judges_each_question_with_the_next_answer(tmp_path: Path) -> None:
    from evals.scorers import load_rubric
    from flows.judge_injection import build_items

    write_traffic(tmp_path / "traffic", 3)
    records = load_responses(tmp_path / "traffic", 3)
    rubric = load_rubric("prompts/judges/faithfulness.yaml")
    items = build_items(rubric, records, EvalmonConfig(), mismatch=True)
    assert len(items) == 3 * (1 + len(INJECTION_ATTEMPTS))
    clean = [i for i in items if i.key.endswith("/clean")]
    assert [i.item.output.split(" [")[0] for i in clean] == ["Answer 1", "Answer 2", "Answer 0"]
    assert [i.item.inputs["question"] for i in clean] == ["question 0", "question 1", "question 2"]
    assert items[1].item.output.endswith("\n" + INJECTION_ATTEMPTS[0])
    # The configured redaction applies, as in the production judge.
    custom = EvalmonConfig.model_validate(
        {"judge": {"redaction": {"patterns": {"doc_text": "some text"}}}}
    )
    redacted = build_items(rubric, records, custom)
    assert all("some text" not in str(i.item.inputs["contexts"]) for i in redacted)
    assert all("some text" in str(i.item.inputs["contexts"]) for i in items)
