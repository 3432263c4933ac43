"""A position-benchmark run: plan the prompts, ask them through the runner, summarise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evals.position import Cell, PositionConfig, PositionPrompt, plan, summarise
from evals.providers import CONTEXT_OVERFLOW, GenerateParams, Message
from evals.runner import CallSpec, ProgressReporter, RunSummary
from flows.config import EvalmonConfig
from flows.eval_run import new_run_id
from flows.running import check_resume, open_provider, run_and_store
from metrics.store import PositionResultRow, Store

# The paper's decoding: greedy, at most 100 new tokens.
PAPER_PARAMS = GenerateParams(temperature=0.0, max_tokens=100)


@dataclass(frozen=True, slots=True)
class PositionReport:
    """What a position-benchmark run measured.

    Attributes:
        run_id: The stored run.
        model_ref: The model that answered.
        config: What was run.
        cells: Accuracy per (setting, strategy, position).
        summary: What the runner did in this attempt.
        input_tokens: Prompt tokens of every stored call of the run.
        output_tokens: Completion tokens of every stored call of the run.
    """

    run_id: str
    model_ref: str
    config: PositionConfig
    cells: list[Cell]
    summary: RunSummary
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def scored(self) -> int:
        """Prompts answered and scored, over all cells."""
        return sum(c.n for c in self.cells)

    @property
    def errors(self) -> int:
        """Prompts whose call failed (excluded from the accuracy), over all cells."""
        return sum(c.errors for c in self.cells)

    @property
    def skipped(self) -> int:
        """Prompts the model rejected as longer than its context window, over all cells."""
        return sum(c.skipped for c in self.cells)


def position_specs(prompts: Sequence[PositionPrompt]) -> list[CallSpec]:
    """One call per prompt, with the paper's decoding parameters."""
    return [CallSpec(p.case_id, 0, (Message("user", p.prompt),), PAPER_PARAMS) for p in prompts]


def start_position_run(store: Store, bench: PositionConfig, run_id: str, model_ref: str) -> None:
    """Start (or check the resume of) a position run, as every way of running it does.

    Raises:
        ConfigError: ``run_id`` was started with another model, task or context size.
    """
    prompt_ref = f"lost-in-the-middle/{bench.task}"
    dataset_ref = f"{bench.task}-{bench.context_size}"
    check_resume(store, run_id, model_ref, prompt_ref, dataset_ref)
    store.start_run(
        run_id, kind="position", model_ref=model_ref, prompt_ref=prompt_ref,
        dataset_ref=dataset_ref, params=PAPER_PARAMS.as_key_dict(), config=bench.model_dump(),
    )  # fmt: skip


async def run_position(
    bench: PositionConfig,
    config: EvalmonConfig,
    *,
    model: str | None = None,
    run_id: str | None = None,
    progress: ProgressReporter | None = None,
) -> PositionReport:
    """Run (or resume) the benchmark; every answer is stored as a call of the run.

    Prompts are asked in plan order, so the ones that share a prefix go out together.

    Raises:
        ConfigError: Bad settings or an unreachable model (exit code 2).
    """
    prompts = plan(bench)
    provider = await open_provider(model or config.default_model, config)
    try:
        specs = position_specs(prompts)
        run_id = run_id or new_run_id(f"position-{bench.task}-{bench.context_size}")
        with Store(config.store) as store:
            start_position_run(store, bench, run_id, provider.ref)
            summary = await run_and_store(provider, store, run_id, specs, config, progress)
            calls = store.run_calls(
                run_id, ("case_id", "text", "error_kind", "input_tokens", "output_tokens")
            ).to_pylist()
            outputs = {c["case_id"]: (None if c["error_kind"] else c["text"] or "") for c in calls}
            overflowed = {c["case_id"] for c in calls if c["error_kind"] == CONTEXT_OVERFLOW}
            cells = summarise(bench.task, prompts, outputs, overflowed)
            tokens_in = sum(c["input_tokens"] or 0 for c in calls)
            tokens_out = sum(c["output_tokens"] or 0 for c in calls)
            store.write_position_results(
                run_id, [_result_row(run_id, provider.ref, bench, c) for c in cells]
            )
            skipped = sum(c.skipped for c in cells)
            store.finish_run(run_id, "finished", {"cells": len(cells), "skipped": skipped})
    finally:
        await provider.aclose()
    return PositionReport(run_id, provider.ref, bench, cells, summary, tokens_in, tokens_out)


def _result_row(
    run_id: str, model_ref: str, bench: PositionConfig, cell: Cell
) -> PositionResultRow:
    return PositionResultRow(
        run_id=run_id, task=bench.task, model_ref=model_ref, context_size=bench.context_size,
        setting=cell.setting, strategy=cell.strategy, position=cell.position, n=cell.n,
        correct=cell.correct, errors=cell.errors, skipped=cell.skipped, accuracy=cell.accuracy,
        ci_low=cell.interval.low, ci_high=cell.interval.high,
    )  # fmt: skip


def markdown_report(report: PositionReport) -> str:
    """The results as Markdown: one row per cell, accuracy with its 95% Wilson interval."""
    bench = report.config
    what = (
        f"{bench.n_documents}-document QA (rebuilt from the NQ-Open oracle pool)"
        if bench.task == "qa"
        else f"{bench.n_keys}-key KV retrieval"
    )
    lines = [
        f"# Lost in the middle: {what}",
        "",
        f"Model `{report.model_ref}`, run `{report.run_id}`. Accuracy with 95% Wilson intervals;"
        " errored calls are excluded, not counted wrong, and so are the prompts the model"
        " rejected as longer than its context window (skipped, as the paper dropped them).",
        "",
        "| setting | strategy | gold position | n | accuracy | 95% CI | errors | skipped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in report.cells:
        accuracy = "-" if c.accuracy is None else f"{c.accuracy:.1%}"
        position = "-" if c.position is None else str(c.position)
        lines.append(
            f"| {c.setting} | {c.strategy} | {position} | {c.n} | {accuracy} | "
            f"{c.interval.low:.1%}–{c.interval.high:.1%} | {c.errors} | {c.skipped} |"
        )
    lines += ["", _total_line(report)]
    s = report.summary
    lines += ["", f"{s.total} prompts: {s.called} called, {s.cached} cached, {s.resumed} "
              f"resumed, {s.errors} failed (skipped ones included); {report.input_tokens:,} "
              f"input and {report.output_tokens:,} output tokens; cost of this attempt "
              f"${s.cost_usd:.4f}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _total_line(report: PositionReport) -> str:
    total = report.scored + report.errors + report.skipped
    line = (
        f"**Total:** {total} prompts: {report.scored} scored, {report.errors} errors, "
        f"{report.skipped} skipped as longer than the model's context window."
    )
    if report.skipped:
        line += " To score them, use a model with a longer context window, or fewer " + (
            "keys." if report.config.task == "kv" else "documents."
        )
    return line
