"""The position benchmark end to end against a scripted model with a known U-curve."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evals.position import PositionConfig, load_nq_oracle, plan
from evals.providers import ConfigError
from flows.cli import app
from flows.config import load_config
from flows.position_flow import run_position_task
from flows.position_run import markdown_report, run_position
from metrics.store import Store
from tests.fakeserver import FakeLLMServer, Fault

DOC = re.compile(r"^Document \[(\d+)\]\(Title: .*?\) (.*)$", re.MULTILINE)


def first_or_last_reader(request: dict[str, Any], api: str) -> str:
    """A model that finds the answer only when the gold passage is first or last."""
    prompt = request["messages"][-1]["content"]
    question = re.findall(r"Question: (.*)\n", prompt + "\n")[-1]
    example = next(ex for ex in load_nq_oracle() if ex.question == question)
    texts = [text for _, text in DOC.findall(prompt)]
    if texts and example.gold.text in (texts[0], texts[-1]):
        return example.answers[0]
    return "I don't know."


def expected_correct(position: int | None, shown: int) -> bool:
    return position is not None and position in (0, shown - 1)


@pytest.fixture
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "evalmon.toml"
    path.write_text(f'store = "{tmp_path / "pos.duckdb"}"\n')
    return load_config(path)


def test_u_curve_of_a_first_or_last_reader(fake_llm: FakeLLMServer, config: Any) -> None:
    fake_llm.set_responder(first_or_last_reader)
    bench = PositionConfig(
        n_documents=10, positions=[0, 4, 9], limit=12,
        strategies=["original", "query_aware", "strategic_order", "top_k"], top_k=5,
    )  # fmt: skip
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    report = asyncio.run(run_position(bench, config, model=model, run_id="pos-1"))
    cells = {(c.setting, c.strategy, c.position): c for c in report.cells}
    for strategy in ("original", "query_aware"):
        assert cells[("position", strategy, 0)].accuracy == 1.0
        assert cells[("position", strategy, 4)].accuracy == 0.0  # lost in the middle
        assert cells[("position", strategy, 9)].accuracy == 1.0
        assert cells[("position", strategy, 4)].interval.high < 0.3
    assert cells[("closedbook", "original", None)].accuracy == 0.0
    assert cells[("oracle", "original", None)].accuracy == 1.0
    # The reordering strategies: right exactly where the gold ended up first or last.
    prompts = [p for p in plan(bench) if p.setting == "reordered"]
    for strategy, shown in (("strategic_order", 10), ("top_k", 5)):
        mine = [p for p in prompts if p.strategy == strategy]
        want = sum(expected_correct(p.position, shown) for p in mine)
        assert cells[("reordered", strategy, None)].correct == want
        assert cells[("reordered", strategy, None)].n == 12
    assert report.summary.errors == 0 and report.summary.total == 12 * (2 + 3 + 3 + 2)
    text = markdown_report(report)
    assert "| position | original | 4 | 12 | 0.0% |" in text
    with Store(config.store) as store:
        stored = store.position_results("pos-1").to_pylist()
    assert len(stored) == len(report.cells)
    row = next(r for r in stored if r["setting"] == "position" and r["position"] == 4
               and r["strategy"] == "original")  # fmt: skip
    assert (row["n"], row["correct"], row["accuracy"], row["context_size"]) == (12, 0, 0.0, 10)
    # Resumed with the same run id: nothing is asked again.
    requests = fake_llm.stats()["requests_total"]
    again = asyncio.run(run_position(bench, config, model=model, run_id="pos-1"))
    assert again.summary.resumed == again.summary.total
    assert fake_llm.stats()["requests_total"] == requests + 1  # only the endpoint check
    # Another model may not take over the run: its answers would be reported as this one's.
    other = f"openai-compatible:other@{fake_llm.openai_base_url}"
    with pytest.raises(ConfigError, match="was started with lost-in-the-middle/qa on"):
        asyncio.run(run_position(bench, config, model=other, run_id="pos-1"))


def test_model_errors_are_excluded_not_wrong(fake_llm: FakeLLMServer, config: Any) -> None:
    fake_llm.set_responder(first_or_last_reader)
    for _ in range(3):
        fake_llm.enqueue_fault("400")  # not retried: recorded as the first prompt's error
    bench = PositionConfig(n_documents=10, positions=[0], limit=3, baselines=False)
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    report = asyncio.run(run_position(bench, config, model=model))
    (cell,) = report.cells
    assert cell.errors == 3 and cell.n == 0 and cell.accuracy is None


def test_prompts_longer_than_the_context_window_are_skipped(
    fake_llm: FakeLLMServer, config: Any
) -> None:
    """A server that rejects long prompts as llama.cpp does: skipped, not errors or wrong."""
    bench = PositionConfig(n_documents=10, positions=[0, 9], limit=6)
    prompts = plan(bench)
    lengths = sorted(len(p.prompt) for p in prompts if p.setting == "position")
    window = lengths[len(lengths) // 2]  # about half the position prompts are too long

    def small_context(request: dict[str, Any], api: str) -> str | Fault:
        prompt = request["messages"][-1]["content"]
        if len(prompt) > window:
            message = f"Requested tokens ({len(prompt)}) exceed context window of {window}"
            return Fault("400", message=message)
        return first_or_last_reader(request, api)

    fake_llm.set_responder(small_context)
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    report = asyncio.run(run_position(bench, config, model=model, run_id="overflow"))
    too_long = {p.case_id for p in prompts if len(p.prompt) > window}
    assert 0 < len(too_long) < len(prompts)
    for cell in report.cells:
        mine = [p for p in prompts if (p.setting, p.strategy) == (cell.setting, cell.strategy)
                and (cell.position is None or p.position == cell.position)]  # fmt: skip
        skipped = sum(p.case_id in too_long for p in mine)
        assert (cell.skipped, cell.errors, cell.n) == (skipped, 0, len(mine) - skipped)
        if cell.setting != "closedbook":  # every prompt with documents had its gold first or last
            assert cell.correct == cell.n
    assert (report.skipped, report.errors) == (len(too_long), 0)
    # One request per prompt (no retries) plus the endpoint check.
    assert fake_llm.stats()["requests_total"] == len(prompts) + 1
    text = markdown_report(report)
    assert "| errors | skipped |" in text
    assert (
        f"**Total:** {len(prompts)} prompts: {len(prompts) - len(too_long)} scored, 0 errors, "
        f"{len(too_long)} skipped as longer than the model's context window."
    ) in text
    assert "use a model with a longer context window, or fewer documents" in text
    with Store(config.store) as store:
        stored = store.position_results("overflow").to_pylist()
        calls = store.run_calls("overflow").to_pylist()
        run = store.get_run("overflow")
    assert sum(r["skipped"] for r in stored) == len(too_long)
    assert sum(r["errors"] for r in stored) == 0
    assert {c["error_kind"] for c in calls if c["case_id"] in too_long} == {"context_overflow"}
    assert run is not None and run.summary is not None and run.summary["skipped"] == len(too_long)


def test_cli_position_run_writes_the_report(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.set_responder(first_or_last_reader)
    report = tmp_path / "report.md"
    result = CliRunner().invoke(app, [
        "position", "run", "--documents", "10", "--positions", "0,9", "--limit", "4",
        "--model", f"openai-compatible:r@{fake_llm.openai_base_url}", "--store",
        str(tmp_path / "p.duckdb"), "--report", str(report), "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert "| position | original | 0 | 4 | 100.0% |" in text
    assert "![accuracy by position](report.png)" in text
    png, svg = tmp_path / "report.png", tmp_path / "report.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    drawing = svg.read_text()
    assert "paper: GPT-3.5-Turbo, 20 docs rescaled" in drawing and "closed-book" in drawing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--positions", "0,12", "--documents", "10"], "outside a context of 10"),
        (["--positions", "x"], "use paper, all, or 0,4,9"),
        (["--documents", "12"], "the paper has no positions for 12"),
        (["--task", "kv", "--strategy", "top_k"], "only the original and query_aware"),
        (["--keys", "300", "--task", "kv"], "n_keys"),
    ],
)
def test_bad_settings_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    store = tmp_path / "never.duckdb"
    result = CliRunner().invoke(
        app, ["position", "run", *args, "--model", "openai-compatible:x@http://127.0.0.1:9/v1",
              "--store", str(store)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not store.exists()


def test_position_flow_task_body_runs_without_a_server(
    fake_llm: FakeLLMServer, config: Any
) -> None:
    """``.fn`` runs the task's body as a plain coroutine, the way Prefect's docs test tasks."""
    fake_llm.set_responder(first_or_last_reader)
    bench = PositionConfig(n_documents=10, positions=[0, 4], limit=2, baselines=False)
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    report = asyncio.run(run_position_task.fn(bench, config, model, "flow-fn"))
    assert [(c.position, c.accuracy) for c in report.cells] == [(0, 1.0), (4, 0.0)]


def kv_first_or_last(request: dict[str, Any], api: str) -> str:
    """A model that reads the value only when the asked key is the first or last record."""
    prompt = request["messages"][-1]["content"]
    key = re.findall(r'Key: "([^"]+)"', prompt)[-1]
    pairs = re.findall(r'"([0-9a-f-]{36})": "([0-9a-f-]{36})"', prompt)
    keys = [k for k, _ in pairs]
    return dict(pairs)[key] if key in (keys[0], keys[-1]) else "not found"


def test_kv_retrieval_u_curve(fake_llm: FakeLLMServer, config: Any) -> None:
    fake_llm.set_responder(kv_first_or_last)
    bench = PositionConfig(task="kv", n_keys=75, limit=5, strategies=["original", "query_aware"])
    model = f"openai-compatible:reader@{fake_llm.openai_base_url}"
    report = asyncio.run(run_position(bench, config, model=model))
    accuracy = {(c.strategy, c.position): c.accuracy for c in report.cells}
    assert accuracy == {
        (s, p): (1.0 if p in (0, 74) else 0.0)
        for s in ("original", "query_aware")
        for p in (0, 24, 49, 74)
    }
    assert report.input_tokens > 0 and "input and" in markdown_report(report)
