"""The gate's statistics: repeat collapsing, the paired bootstrap, its coverage, the verdicts."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from evals.gate import (
    Decision,
    PairedComparison,
    Verdict,
    collapse_repeats,
    decide,
    paired_bootstrap,
)


def _scores(values: np.ndarray | list[float], prefix: str = "case") -> dict[str, float]:
    return {f"{prefix}-{i:04d}": float(v) for i, v in enumerate(values)}


# --- collapse_repeats -------------------------------------------------------------------------


def test_collapse_repeats_averages_scored_repeats_and_drops_none() -> None:
    collapsed = collapse_repeats(
        {
            ("a", 0): 1.0,
            ("a", 1): 0.0,
            ("a", 2): None,  # errored repeat: excluded, not counted as 0
            ("b", 0): 0.25,
            ("c", 0): None,  # no scored repeat at all: the case is omitted
            ("c", 1): None,
            ("b", 1): 0.75,
        }
    )
    assert collapsed == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}
    assert "c" not in collapsed


def test_collapse_repeats_of_nothing_is_empty() -> None:
    assert collapse_repeats({}) == {}


# --- paired_bootstrap -------------------------------------------------------------------------


def test_interval_covers_the_true_mean_delta_at_close_to_the_nominal_rate() -> None:
    rng = np.random.default_rng(20240601)
    true_delta, n, simulations = 0.05, 50, 400
    # Realistic paired scores: a per-case difficulty shared by both versions plus version noise.
    difficulty = rng.uniform(0.2, 0.9, size=(simulations, n))
    base = difficulty + rng.normal(0.0, 0.1, size=(simulations, n))
    candidate = difficulty + true_delta + rng.normal(0.0, 0.1, size=(simulations, n))
    covered = 0
    for sim in range(simulations):
        result = paired_bootstrap(_scores(base[sim]), _scores(candidate[sim]), seed=sim)
        covered += result.ci_low <= true_delta <= result.ci_high
    coverage = covered / simulations
    assert 0.91 <= coverage <= 0.98, coverage


def test_comparison_reports_means_delta_and_mde() -> None:
    base = _scores([0.2, 0.4, 0.6, 0.8, 1.0])
    candidate = _scores([0.3, 0.4, 0.9, 0.7, 1.0])
    result = paired_bootstrap(base, candidate, seed=3)
    deltas = [0.1, 0.0, 0.3, -0.1, 0.0]
    assert isinstance(result, PairedComparison)
    assert result.n == 5
    assert result.n_unpaired == 0
    assert result.base_mean == pytest.approx(0.6)
    assert result.candidate_mean == pytest.approx(0.66)
    assert result.delta == pytest.approx(0.06)
    assert result.ci_low <= result.delta <= result.ci_high
    # The bootstrap mean of a 5-case sample can only range between its extreme deltas.
    assert -0.1 <= result.ci_low < result.ci_high <= 0.3
    z = statistics.NormalDist()
    expected_mde = (z.inv_cdf(0.975) + z.inv_cdf(0.8)) * statistics.stdev(deltas) / math.sqrt(5)
    assert result.mde == pytest.approx(expected_mde)
    assert (result.resamples, result.confidence, result.seed) == (2000, 0.95, 3)


def test_more_power_or_confidence_means_a_larger_mde() -> None:
    rng = np.random.default_rng(1)
    base = _scores(rng.uniform(size=40))
    candidate = _scores(rng.uniform(size=40))
    default = paired_bootstrap(base, candidate)
    assert paired_bootstrap(base, candidate, power=0.9).mde > default.mde
    assert paired_bootstrap(base, candidate, confidence=0.99).mde > default.mde


def test_a_wider_confidence_level_gives_a_wider_interval() -> None:
    rng = np.random.default_rng(2)
    base = _scores(rng.uniform(size=60))
    candidate = _scores(rng.uniform(size=60))
    narrow = paired_bootstrap(base, candidate, confidence=0.80)
    wide = paired_bootstrap(base, candidate, confidence=0.99)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_identical_deltas_give_a_point_interval_and_zero_mde() -> None:
    base = _scores([0.1, 0.2, 0.3, 0.4])
    candidate = _scores([0.2, 0.3, 0.4, 0.5])
    shifted = paired_bootstrap(base, candidate)
    assert shifted.ci_low == shifted.ci_high == shifted.delta == pytest.approx(0.1)
    assert shifted.mde == 0.0


def test_unpaired_cases_are_counted_and_left_out() -> None:
    base = {"a": 1.0, "b": 0.0, "only-base": 1.0}
    candidate = {"a": 1.0, "b": 1.0, "only-cand-1": 0.0, "only-cand-2": 0.0}
    result = paired_bootstrap(base, candidate)
    assert result.n == 2
    assert result.n_unpaired == 3
    assert result.base_mean == pytest.approx(0.5)
    assert result.candidate_mean == pytest.approx(1.0)
    assert result.delta == pytest.approx(0.5)


def test_a_single_paired_case_has_no_detectable_effect() -> None:
    result = paired_bootstrap({"a": 0.5}, {"a": 0.7})
    assert result.ci_low == result.ci_high == pytest.approx(0.2)
    assert math.isinf(result.mde)


def test_the_same_seed_gives_the_same_interval() -> None:
    rng = np.random.default_rng(7)
    base = _scores(rng.uniform(size=30))
    candidate = _scores(rng.uniform(size=30))
    first = paired_bootstrap(base, candidate, seed=11)
    # Insertion order of the mappings must not matter either: cases are paired by id.
    again = paired_bootstrap(dict(reversed(base.items())), candidate, seed=11)
    other = paired_bootstrap(base, candidate, seed=12)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_fewer_than_2000_resamples_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2,000 resamples"):
        paired_bootstrap({"a": 1.0, "b": 0.0}, {"a": 1.0, "b": 1.0}, resamples=1999)


@pytest.mark.parametrize(
    ("base", "candidate"),
    [({}, {}), ({"a": 1.0}, {"b": 1.0})],
    ids=["empty", "disjoint"],
)
def test_no_paired_cases_is_refused(base: dict[str, float], candidate: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="no paired cases"):
        paired_bootstrap(base, candidate)


@pytest.mark.parametrize(
    "kwargs", [{"confidence": 1.0}, {"confidence": 0.0}, {"power": 1.0}, {"power": 0.0}]
)
def test_confidence_and_power_must_lie_strictly_between_0_and_1(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        paired_bootstrap({"a": 1.0, "b": 0.0}, {"a": 1.0, "b": 1.0}, **kwargs)  # type: ignore[arg-type]


def test_a_nan_score_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap({"a": math.nan, "b": 0.0}, {"a": 1.0, "b": 1.0})


# --- decide -----------------------------------------------------------------------------------


def _comparison(
    *, delta: float, ci_low: float, ci_high: float, candidate_mean: float = 0.5
) -> PairedComparison:
    return PairedComparison(
        n=100,
        n_unpaired=0,
        base_mean=candidate_mean - delta,
        candidate_mean=candidate_mean,
        delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        resamples=2000,
        confidence=0.95,
        seed=0,
        mde=0.05,
    )


def test_verdict_values() -> None:
    assert [v.value for v in Verdict] == ["pass", "fail", "inconclusive"]
    assert str(Verdict.PASS) == "pass"


def test_identical_base_and_candidate_pass() -> None:
    scores = _scores(np.random.default_rng(5).uniform(size=25))
    result = paired_bootstrap(scores, dict(scores))
    assert (result.delta, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    decision = decide(result, tolerance=0.02)
    assert isinstance(decision, Decision)
    assert decision.verdict is Verdict.PASS
    assert decision.reasons == (
        "mean delta 0.000 (95% CI 0.000 to 0.000) lies wholly at or above -0.020: "
        "no regression beyond the tolerance",
    )


def test_a_ten_point_drop_on_200_binary_cases_fails() -> None:
    rng = np.random.default_rng(42)
    base = (rng.uniform(size=200) < 0.7).astype(float)
    candidate = base.copy()
    # Flip 20 of the correct cases to wrong: exactly 10 points of accuracy lost.
    flipped = rng.choice(np.flatnonzero(base == 1.0), size=20, replace=False)
    candidate[flipped] = 0.0
    result = paired_bootstrap(_scores(base), _scores(candidate), seed=1)
    assert result.delta == pytest.approx(-0.10)
    decision = decide(result, tolerance=0.02)
    assert decision.verdict is Verdict.FAIL
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith("mean delta -0.100 (95% CI ")
    assert decision.reasons[0].endswith("lies wholly below -0.020: a significant regression")


def test_a_one_point_drop_on_20_noisy_cases_is_inconclusive() -> None:
    rng = np.random.default_rng(9)
    base = rng.uniform(0.3, 0.9, size=20)
    noise = rng.normal(0.0, 0.05, size=20)
    candidate = base - 0.01 + (noise - noise.mean())  # a true 1-point drop, realistic spread
    result = paired_bootstrap(_scores(base), _scores(candidate))
    assert result.delta == pytest.approx(-0.01)
    assert result.ci_low < -0.02 <= result.ci_high
    decision = decide(result, tolerance=0.02)
    assert decision.verdict is Verdict.INCONCLUSIVE
    (reason,) = decision.reasons
    assert "straddles -0.020" in reason
    assert (
        f"with 20 paired cases the smallest reliably detectable effect is about {result.mde:.3f}"
        in reason
    )
    assert reason.endswith("add cases or repeats to narrow the interval")


def test_a_missed_threshold_fails_even_with_no_delta() -> None:
    scores = _scores([0.6] * 10)
    result = paired_bootstrap(scores, dict(scores))
    decision = decide(result, threshold=0.7)
    assert decision.verdict is Verdict.FAIL
    assert decision.reasons == ("candidate mean 0.600 is below the required minimum of 0.700",)
    assert decide(result, threshold=0.6).verdict is Verdict.PASS


def test_a_threshold_too_close_for_three_decimals_prints_more() -> None:
    decision = decide(_comparison(delta=0.0, ci_low=0.0, ci_high=0.0), threshold=0.5001)
    assert decision.reasons == (
        "candidate mean 0.500000 is below the required minimum of 0.500100",
    )


def test_threshold_and_regression_failures_are_both_reported() -> None:
    comparison = _comparison(delta=-0.1, ci_low=-0.14, ci_high=-0.06, candidate_mean=0.55)
    decision = decide(comparison, threshold=0.6, tolerance=0.02)
    assert decision.verdict is Verdict.FAIL
    assert decision.reasons == (
        "candidate mean 0.550 is below the required minimum of 0.600",
        "mean delta -0.100 (95% CI -0.140 to -0.060) lies wholly below -0.020: "
        "a significant regression",
    )


@pytest.mark.parametrize(
    ("ci_low", "ci_high", "verdict"),
    [
        (-0.05, -0.021, Verdict.FAIL),  # wholly below -tolerance
        (-0.05, -0.02, Verdict.INCONCLUSIVE),  # touches -tolerance: not wholly below
        (-0.021, 0.03, Verdict.INCONCLUSIVE),
        (-0.02, 0.03, Verdict.PASS),  # at -tolerance is within tolerance
        (0.01, 0.05, Verdict.PASS),
    ],
)
def test_interval_rules_at_the_tolerance_boundary(
    ci_low: float, ci_high: float, verdict: Verdict
) -> None:
    comparison = _comparison(delta=(ci_low + ci_high) / 2, ci_low=ci_low, ci_high=ci_high)
    assert decide(comparison, tolerance=0.02).verdict is verdict


def test_lower_is_better_mirrors_the_rules() -> None:
    # e.g. an error rate: the candidate's rate rose by 0.1, significantly.
    worse = _comparison(delta=0.1, ci_low=0.06, ci_high=0.14, candidate_mean=0.3)
    assert decide(worse, tolerance=0.02).verdict is Verdict.PASS  # read as higher-is-better
    decision = decide(worse, tolerance=0.02, higher_is_better=False)
    assert decision.verdict is Verdict.FAIL
    assert decision.reasons == (
        "mean delta +0.100 (95% CI 0.060 to 0.140) lies wholly above +0.020: "
        "a significant regression",
    )
    straddling = _comparison(delta=0.01, ci_low=-0.02, ci_high=0.04)
    assert decide(straddling, tolerance=0.02, higher_is_better=False).verdict is (
        Verdict.INCONCLUSIVE
    )
    better = _comparison(delta=-0.1, ci_low=-0.14, ci_high=-0.06, candidate_mean=0.3)
    passed = decide(better, tolerance=0.02, higher_is_better=False)
    assert passed.verdict is Verdict.PASS
    assert "lies wholly at or below +0.020" in passed.reasons[0]
    # The threshold becomes a ceiling.
    assert decide(better, threshold=0.2, higher_is_better=False).reasons == (
        "candidate mean 0.300 is above the allowed maximum of 0.200",
    )
    assert decide(better, threshold=0.4, higher_is_better=False).verdict is Verdict.PASS


@pytest.mark.parametrize(
    "kwargs", [{"tolerance": -0.01}, {"tolerance": math.inf}, {"threshold": math.nan}]
)
def test_decide_refuses_bad_tolerance_or_threshold(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        decide(_comparison(delta=0.0, ci_low=0.0, ci_high=0.0), **kwargs)  # type: ignore[arg-type]


def test_a_mean_short_of_the_threshold_only_by_float_rounding_meets_it() -> None:
    floor = _comparison(delta=0.0, ci_low=0.0, ci_high=0.0, candidate_mean=0.7 - 0.4)
    assert decide(floor, threshold=0.3).verdict is Verdict.PASS
    ceiling = _comparison(delta=0.0, ci_low=0.0, ci_high=0.0, candidate_mean=0.1 + 0.2)
    assert decide(ceiling, threshold=0.3, higher_is_better=False).verdict is Verdict.PASS
    assert decide(ceiling, threshold=0.2999, higher_is_better=False).verdict is Verdict.FAIL
