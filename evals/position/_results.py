"""Scoring the answers and summarising accuracy per position with Wilson intervals."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from evals.position._plan import PositionPrompt
from evals.scorers import best_subspan_em

Z_95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval for a proportion."""

    low: float
    high: float


def wilson_interval(successes: int, n: int, z: float = Z_95) -> Interval:
    """The Wilson score interval (95% by default); ``[0, 1]`` when ``n`` is 0."""
    if n == 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def score_answer(task: str, output: str, answers: Sequence[str]) -> float:
    """The paper's metrics: best-subspan exact match (QA), value containment (KV)."""
    if task == "kv":
        return 1.0 if any(a.lower() in output.lower() for a in answers) else 0.0
    return best_subspan_em(output, answers)


@dataclass(frozen=True, slots=True)
class Cell:
    """Accuracy of one (setting, strategy, position) cell.

    Errors are excluded from ``n``: an error is not a wrong answer. So are the prompts the
    model rejected as longer than its context window (``skipped``), which the paper dropped
    too; they are not counted as errors either.
    """

    setting: str
    strategy: str
    position: int | None
    n: int
    correct: int
    errors: int
    interval: Interval
    skipped: int = 0

    @property
    def accuracy(self) -> float | None:
        """Share answered correctly, or None with no scored prompt."""
        return self.correct / self.n if self.n else None


def summarise(
    task: str,
    prompts: Sequence[PositionPrompt],
    outputs: Mapping[str, str | None],
    skipped: Collection[str] = frozenset(),
) -> list[Cell]:
    """Accuracy per cell from the outputs by ``case_id`` (None for a call that errored).

    Position-free settings (baselines, reordering strategies) form one cell each.

    Args:
        task: ``qa`` or ``kv`` (chooses the metric).
        prompts: The planned prompts.
        outputs: Answer text by ``case_id``; None (or missing) for a call that errored.
        skipped: ``case_id`` of the prompts rejected as longer than the model's context
            window; they count as skipped, neither scored nor errors.
    """
    tally: dict[tuple[str, str, int | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for prompt in prompts:
        key = (
            prompt.setting,
            prompt.strategy,
            prompt.position if prompt.setting == "position" else None,
        )
        counts = tally[key]
        if prompt.case_id in skipped:
            counts[3] += 1
            continue
        output = outputs.get(prompt.case_id)
        if output is None:
            counts[2] += 1
            continue
        counts[0] += 1
        counts[1] += int(score_answer(task, output, prompt.answers))
    order = {"position": 0, "closedbook": 1, "oracle": 2, "reordered": 3}
    cells = [
        Cell(setting, strategy, position, n, correct, errors, wilson_interval(correct, n), rejected)
        for (setting, strategy, position), (n, correct, errors, rejected) in tally.items()
    ]
    return sorted(cells, key=lambda c: (order[c.setting], c.strategy, c.position or 0))
