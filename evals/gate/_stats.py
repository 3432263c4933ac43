"""The prompt gate's statistics: a paired bootstrap of the mean delta and the verdict rules.

Base and candidate prompt versions are scored on the same eval cases, so each case gives one
paired delta (candidate minus base). The mean delta's confidence interval comes from a
percentile paired bootstrap: resample cases with replacement, keeping each case's pair
together. :func:`decide` turns that interval (and an optional absolute threshold) into a
pass / fail / inconclusive verdict with reasons written for a pull-request comment.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

MIN_RESAMPLES = 2000
_MAX_DRAW = 1_000_000  # entries of the (resamples x cases) index matrix drawn at once


def collapse_repeats(scores: Mapping[tuple[str, int], float | None]) -> dict[str, float]:
    """Average each case's repeats into one per-case score.

    Args:
        scores: ``(case_id, repeat) -> score``; ``None`` marks an errored or unscored repeat.

    Returns:
        ``case_id -> mean`` over the case's scored repeats, in order of first appearance.
        A case whose repeats are all ``None`` is omitted (it cannot be paired).
    """
    by_case: dict[str, list[float]] = {}
    for (case_id, _repeat), value in scores.items():
        scored = by_case.setdefault(case_id, [])
        if value is not None:
            scored.append(float(value))
    return {case_id: math.fsum(vals) / len(vals) for case_id, vals in by_case.items() if vals}


@dataclass(frozen=True)
class PairedComparison:
    """A candidate-versus-base comparison over the cases both sides scored.

    Attributes:
        n: Number of paired cases (scored on both sides).
        n_unpaired: Number of cases scored on only one side (left out of every statistic).
        base_mean: Mean base score over the paired cases.
        candidate_mean: Mean candidate score over the paired cases.
        delta: Mean of the per-case deltas, candidate minus base.
        ci_low: Lower end of the percentile bootstrap interval for ``delta``.
        ci_high: Upper end of the percentile bootstrap interval for ``delta``.
        resamples: Number of bootstrap resamples.
        confidence: Two-sided confidence level of the interval, e.g. 0.95.
        seed: Seed of the numpy generator that drew the resamples.
        mde: Minimum detectable effect: the smallest true mean delta (in absolute value) that
            a two-sided test at ``alpha = 1 - confidence`` detects with the requested power.
            ``inf`` with a single paired case, where the spread of deltas is unknown.
    """

    n: int
    n_unpaired: int
    base_mean: float
    candidate_mean: float
    delta: float
    ci_low: float
    ci_high: float
    resamples: int
    confidence: float
    seed: int
    mde: float


def paired_bootstrap(
    base: Mapping[str, float],
    candidate: Mapping[str, float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    power: float = 0.8,
) -> PairedComparison:
    """Compare per-case scores of two prompt versions with a percentile paired bootstrap.

    Args:
        base: ``case_id -> score`` for the base version (see :func:`collapse_repeats`).
        candidate: ``case_id -> score`` for the candidate version.
        resamples: Bootstrap resamples; at least 2,000.
        confidence: Two-sided confidence level of the interval, strictly between 0 and 1.
        seed: Seed for ``numpy.random.default_rng``; the same inputs and seed give the same
            interval.
        power: Power used for the minimum detectable effect, strictly between 0 and 1.

    Returns:
        The comparison over the case ids present in both mappings.

    Raises:
        ValueError: If ``resamples`` is below 2,000, ``confidence`` or ``power`` is outside
            (0, 1), a score is not finite, or no case id is present on both sides.
    """
    if resamples < MIN_RESAMPLES:
        raise ValueError(
            f"resamples={resamples}: the paired bootstrap needs at least 2,000 resamples for "
            "stable interval ends; pass resamples >= 2000"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must be strictly between 0 and 1, e.g. 0.95")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power={power} must be strictly between 0 and 1, e.g. 0.8")
    paired = sorted(base.keys() & candidate.keys())
    n_unpaired = len(base.keys() ^ candidate.keys())
    if not paired:
        raise ValueError(
            f"no paired cases: base scored {len(base)} case(s) and candidate {len(candidate)}, "
            "but no case id was scored on both sides; run both versions on the same cases "
            "and check that the case ids match"
        )
    base_scores = np.array([base[case_id] for case_id in paired], dtype=np.float64)
    candidate_scores = np.array([candidate[case_id] for case_id in paired], dtype=np.float64)
    if not (np.isfinite(base_scores).all() and np.isfinite(candidate_scores).all()):
        raise ValueError("a paired score is NaN or infinite; score unscored repeats as None")
    deltas = candidate_scores - base_scores
    alpha = 1.0 - confidence
    delta = _mean(deltas)
    if _all_equal(deltas):
        # Every resample has the same mean; skip the sampling and its rounding noise.
        ci_low = ci_high = delta
    else:
        means = _bootstrap_means(deltas, resamples, np.random.default_rng(seed))
        low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
        ci_low, ci_high = float(low), float(high)
    return PairedComparison(
        n=len(paired),
        n_unpaired=n_unpaired,
        base_mean=_mean(base_scores),
        candidate_mean=_mean(candidate_scores),
        delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        mde=_minimum_detectable_effect(deltas, alpha, power),
    )


def _mean(values: NDArray[np.float64]) -> float:
    """Correctly rounded mean, so ten scores of 0.6 average to exactly 0.6."""
    return math.fsum(values.tolist()) / len(values)


def _all_equal(deltas: NDArray[np.float64]) -> bool:
    """Whether the deltas agree up to float rounding (e.g. 0.2 - 0.1 versus 0.4 - 0.3)."""
    scale = max(1.0, float(np.max(np.abs(deltas))))
    return float(np.ptp(deltas)) <= 1e-12 * scale


def _bootstrap_means(
    deltas: NDArray[np.float64],
    resamples: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Mean delta of each bootstrap resample, drawn in row blocks to bound memory."""
    n = len(deltas)
    rows_per_block = max(1, _MAX_DRAW // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows_per_block):
        stop = min(start + rows_per_block, resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = deltas[indices].mean(axis=1)
    return means


def _minimum_detectable_effect(deltas: NDArray[np.float64], alpha: float, power: float) -> float:
    """``(z_{1-alpha/2} + z_power) * sd(deltas) / sqrt(n)``; ``inf`` when n < 2."""
    n = len(deltas)
    if n < 2:
        return math.inf
    if _all_equal(deltas):
        return 0.0
    sd = float(np.std(deltas, ddof=1))
    normal = statistics.NormalDist()
    z_sum = normal.inv_cdf(1.0 - alpha / 2.0) + normal.inv_cdf(power)
    return z_sum * sd / math.sqrt(n)


class Verdict(StrEnum):
    """The gate's outcome for one scorer."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Decision:
    """A verdict and the sentences that justify it, ready for a pull-request comment.

    Attributes:
        verdict: Pass, fail or inconclusive.
        reasons: One sentence per rule that fired, the deciding one first.
    """

    verdict: Verdict
    reasons: tuple[str, ...]


def decide(
    comparison: PairedComparison,
    *,
    threshold: float | None = None,
    tolerance: float = 0.0,
    higher_is_better: bool = True,
) -> Decision:
    """Turn a paired comparison into the gate's verdict.

    For a higher-is-better score: FAIL when the candidate mean is below ``threshold`` or the
    whole interval lies below ``-tolerance`` (a significant regression); INCONCLUSIVE when
    the interval straddles ``-tolerance``; PASS otherwise. For a lower-is-better score every
    direction is mirrored: the threshold is a ceiling and a regression lies above
    ``+tolerance``.

    Args:
        comparison: The result of :func:`paired_bootstrap`.
        threshold: Optional absolute bound the candidate mean must meet (a floor, or a
            ceiling when lower is better).
        tolerance: Non-negative regression the gate accepts, in score units.
        higher_is_better: Whether larger scores are better.

    Returns:
        The verdict with its reasons.

    Raises:
        ValueError: If ``tolerance`` is negative or not finite, or ``threshold`` is not finite.
    """
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        raise ValueError(f"tolerance={tolerance} must be a finite number >= 0, e.g. 0.02")
    if threshold is not None and not math.isfinite(threshold):
        raise ValueError(f"threshold={threshold} must be a finite number, or None for no bound")
    failures: list[str] = []
    sign = 1.0 if higher_is_better else -1.0
    if threshold is not None and _misses(sign * comparison.candidate_mean, sign * threshold):
        mean, bound = _num(comparison.candidate_mean), _num(threshold)
        if mean == bound:  # too close for three decimals
            mean, bound = f"{comparison.candidate_mean:.6f}", f"{threshold:.6f}"
        limit = "below the required minimum" if higher_is_better else "above the allowed maximum"
        failures.append(f"candidate mean {mean} is {limit} of {bound}")
    # Work in "improvement" units (positive is better), then report in the score's own units.
    worse, better = sorted((sign * comparison.ci_low, sign * comparison.ci_high))
    boundary = -sign * tolerance
    side = "below" if higher_is_better else "above"
    interval = (
        f"mean delta {_num(comparison.delta, signed=True)} "
        f"({comparison.confidence * 100:g}% CI {_num(comparison.ci_low)} to "
        f"{_num(comparison.ci_high)})"
    )
    if better < -tolerance:
        failures.append(
            f"{interval} lies wholly {side} {_num(boundary, signed=True)}: a significant regression"
        )
    if failures:
        return Decision(Verdict.FAIL, tuple(failures))
    if worse < -tolerance:
        if math.isinf(comparison.mde):
            power_note = "a single paired case cannot estimate the noise"
        else:
            power_note = (
                f"with {comparison.n} paired cases the smallest reliably detectable effect is "
                f"about {_num(comparison.mde)}"
            )
        return Decision(
            Verdict.INCONCLUSIVE,
            (
                f"{interval} straddles {_num(boundary, signed=True)}: a regression beyond the "
                f"tolerance is neither ruled out nor shown; {power_note}, so add cases or "
                "repeats to narrow the interval",
            ),
        )
    not_side = "above" if higher_is_better else "below"
    return Decision(
        Verdict.PASS,
        (
            f"{interval} lies wholly at or {not_side} {_num(boundary, signed=True)}: "
            "no regression beyond the tolerance",
        ),
    )


def _misses(value: float, floor: float) -> bool:
    """``value < floor``, except that a float-rounding shortfall still meets the floor."""
    return value < floor and not math.isclose(value, floor, rel_tol=1e-9, abs_tol=1e-12)


def _num(value: float, *, signed: bool = False) -> str:
    """Three decimals for a PR comment, never printing ``-0.000``."""
    text = f"{value:+.3f}" if signed else f"{value:.3f}"
    return "0.000" if text.lstrip("+-") == "0.000" else text
