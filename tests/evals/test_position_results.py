"""Summarising the position benchmark: errors and skipped prompts are not wrong answers."""

from __future__ import annotations

from evals.position import PositionPrompt, summarise, wilson_interval


def _prompt(i: int, position: int | None, setting: str = "position") -> PositionPrompt:
    return PositionPrompt(
        case_id=f"c{i}", example=i, setting=setting, strategy="original",  # type: ignore[arg-type]
        position=position, prompt="...", answers=("Paris",),
    )  # fmt: skip


def test_skipped_prompts_are_neither_scored_nor_errors() -> None:
    prompts = [_prompt(i, 0) for i in range(5)] + [_prompt(5, None, "closedbook")]
    outputs = {"c0": "Paris", "c1": "Lyon", "c2": None, "c3": None, "c5": "Paris"}
    first, closedbook = summarise("qa", prompts, outputs, skipped={"c3", "c4"})
    assert (first.n, first.correct, first.errors, first.skipped) == (2, 1, 1, 2)
    assert first.accuracy == 0.5 and first.interval == wilson_interval(1, 2)
    assert (closedbook.position, closedbook.n, closedbook.skipped) == (None, 1, 0)


def test_a_cell_with_every_prompt_skipped_has_no_accuracy() -> None:
    (cell,) = summarise("kv", [_prompt(0, 3)], {"c0": None}, skipped=["c0"])
    assert (cell.n, cell.errors, cell.skipped, cell.accuracy) == (0, 0, 1, None)
    assert (cell.interval.low, cell.interval.high) == (0.0, 1.0)
