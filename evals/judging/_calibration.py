"""Calibration of a judge against human labels: agreement statistics on an ordinal scale.

Formulas (``n`` scored pairs, ``O`` the confusion matrix of counts, human rows by judge
columns over the scale's ``k`` points, ``r``/``c`` its row and column sums):

* exact agreement ``p_o = trace(O) / n``;
* Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` with ``p_e = sum(r * c) / n**2``;
* quadratically weighted kappa ``1 - sum(W * O) / sum(W * E)`` with
  ``W[i, j] = (i - j)**2 / (k - 1)**2`` and ``E = outer(r, c) / n`` (Cohen 1968): a judge
  one point off loses far less than one four points off;
* Spearman's rho: Pearson's correlation of the ranks, ties given their average rank.

A statistic whose denominator is 0 is undefined and reported as ``None``: both kappas when
human and judge each used one and the same score only, rho when either used one score only,
everything when no pair was scored. A judge that always gives one score while the humans vary
gets kappas of exactly 0 (it agrees no better than chance). ``calibrated`` needs a defined
weighted kappa of at least ``min_kappa``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Calibration:
    """How well a judge's scores agree with human labels on the same items.

    Attributes:
        n: Pairs where the judge gave a score (the statistics use only these).
        unscored: Items the judge did not score (``None``).
        scale: The lowest and highest score.
        kappa: Cohen's (unweighted) kappa, or None when undefined.
        weighted_kappa: Quadratically weighted kappa, or None when undefined.
        spearman: Spearman's rank correlation, or None when undefined.
        exact_agreement: Share of pairs with the same score, or None when ``n`` is 0.
        within_one: Share of pairs at most one point apart, or None when ``n`` is 0.
        confusion: Counts, ``confusion[h][j]`` for human score ``scale[0] + h`` and judge
            score ``scale[0] + j``.
        min_kappa: The weighted kappa needed to count as calibrated.
        calibrated: Whether ``weighted_kappa >= min_kappa``.
    """

    n: int
    unscored: int
    scale: tuple[int, int]
    kappa: float | None
    weighted_kappa: float | None
    spearman: float | None
    exact_agreement: float | None
    within_one: float | None
    confusion: list[list[int]]
    min_kappa: float
    calibrated: bool

    @property
    def summary(self) -> str:
        """One line for a report, e.g. ``calibrated: weighted kappa 0.71 >= 0.60 ...``."""

        def fmt(value: float | None) -> str:
            return "undefined" if value is None else f"{value:.2f}"

        if self.n == 0:
            return f"not calibrated: the judge scored none of the {self.unscored} items"
        verdict = "calibrated" if self.calibrated else "NOT calibrated"
        relation = ">=" if self.calibrated else "<"
        agreement = f"{self.exact_agreement:.0%}" if self.exact_agreement is not None else "-"
        unscored = f", {self.unscored} unscored" if self.unscored else ""
        return (
            f"{verdict}: weighted kappa {fmt(self.weighted_kappa)} {relation} {self.min_kappa:.2f} "
            f"(n={self.n}{unscored}; kappa {fmt(self.kappa)}, Spearman {fmt(self.spearman)}, "
            f"exact agreement {agreement})"
        )


def _check_score(value: object, scale: tuple[int, int], who: str, index: int) -> int:
    low, high = scale
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{who}[{index}] = {value!r} is not an integer score; round it first")
    if not low <= value <= high:
        raise ValueError(
            f"{who}[{index}] = {value!r} is outside the scale {low}..{high}; pass the "
            "rubric's scale as scale=(min, max)"
        )
    return int(value)


def average_ranks(values: Sequence[float]) -> FloatArray:
    """Ranks from 1, tied values sharing the average of the ranks they span."""
    data = np.asarray(values, dtype=np.float64)
    order = np.argsort(data, kind="stable")
    ranks = np.empty(len(data), dtype=np.float64)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and data[order[end + 1]] == data[order[start]]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho with average ranks for ties; None when either side is constant."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs two sequences of one length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = float(np.sqrt((dx * dx).sum() * (dy * dy).sum()))
    return None if denominator == 0 else float((dx * dy).sum()) / denominator


def _kappas(confusion: FloatArray) -> tuple[float | None, float | None]:
    """Cohen's kappa and the quadratically weighted kappa of a confusion matrix."""
    n = confusion.sum()
    k = confusion.shape[0]
    rows, cols = confusion.sum(axis=1), confusion.sum(axis=0)
    p_o = np.trace(confusion) / n
    p_e = float((rows * cols).sum()) / n**2
    kappa = None if np.isclose(p_e, 1.0) else float((p_o - p_e) / (1 - p_e))
    index = np.arange(k, dtype=np.float64)
    weights = (index[:, None] - index[None, :]) ** 2 / (k - 1) ** 2
    expected = np.outer(rows, cols) / n
    chance = float((weights * expected).sum())
    weighted = (
        None if np.isclose(chance, 0.0) else 1.0 - float((weights * confusion).sum()) / chance
    )
    return kappa, weighted


def calibrate(
    human: Sequence[int],
    judge: Sequence[int | float | None],
    *,
    scale: tuple[int, int] = (1, 5),
    min_kappa: float = 0.6,
) -> Calibration:
    """Compare a judge's scores with human labels of the same items.

    Args:
        human: The human score of each item, integers on ``scale``.
        judge: The judge's raw score of each item in the same order (integral floats are
            accepted), ``None`` where it gave none.
        scale: The lowest and highest score of the rubric.
        min_kappa: The quadratically weighted kappa needed to call the judge calibrated
            (0.6 is "substantial" agreement on Landis and Koch's scale).

    Returns:
        The agreement statistics (see the module docstring).

    Raises:
        ValueError: The sequences differ in length, the scale has fewer than two points, or
            a score is not an integer on the scale.
    """
    low, high = scale
    if not (isinstance(low, int) and isinstance(high, int) and low < high):
        raise ValueError(f"scale must be two integers (min, max) with min < max, got {scale!r}")
    if len(human) != len(judge):
        raise ValueError(
            f"{len(human)} human labels but {len(judge)} judge scores; pass one judge score "
            "(or None) per labelled item, in the same order"
        )
    pairs: list[tuple[int, int]] = []
    unscored = 0
    for index, (h, j) in enumerate(zip(human, judge, strict=True)):
        h_score = _check_score(h, scale, "human", index)
        if j is None:
            unscored += 1
            continue
        pairs.append((h_score, _check_score(j, scale, "judge", index)))
    k = high - low + 1
    confusion = np.zeros((k, k), dtype=np.float64)
    for h_score, j_score in pairs:
        confusion[h_score - low, j_score - low] += 1
    matrix = [[int(v) for v in row] for row in confusion]
    if not pairs:
        return Calibration(0, unscored, scale, None, None, None, None, None, matrix, min_kappa,
                           calibrated=False)  # fmt: skip
    kappa, weighted = _kappas(confusion)
    n = len(pairs)
    return Calibration(
        n=n,
        unscored=unscored,
        scale=(low, high),
        kappa=kappa,
        weighted_kappa=weighted,
        spearman=spearman([h for h, _ in pairs], [j for _, j in pairs]),
        exact_agreement=sum(h == j for h, j in pairs) / n,
        within_one=sum(abs(h - j) <= 1 for h, j in pairs) / n,
        confusion=matrix,
        min_kappa=min_kappa,
        calibrated=weighted is not None and weighted >= min_kappa,
    )
