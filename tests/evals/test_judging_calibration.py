"""Judge calibration statistics against hand-computed values."""

from __future__ import annotations

import pytest

from evals.judging import average_ranks, calibrate, spearman


def pairs(table: dict[tuple[int, int], int]) -> tuple[list[int], list[int | None]]:
    """Expand ``{(human, judge): count}`` into two parallel lists."""
    human: list[int] = []
    judge: list[int | None] = []
    for (h, j), count in table.items():
        human += [h] * count
        judge += [j] * count
    return human, judge


def test_textbook_2x2_kappa() -> None:
    # Wikipedia, "Cohen's kappa", worked example: 50 grant proposals, Yes/Yes 20,
    # A yes B no 5, A no B yes 10, No/No 15: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    human, judge = pairs({(2, 2): 20, (2, 1): 5, (1, 2): 10, (1, 1): 15})
    result = calibrate(human, judge, scale=(1, 2))
    assert result.n == 50 and result.unscored == 0
    assert result.exact_agreement == pytest.approx(0.7)
    assert result.kappa == pytest.approx(0.4)
    # With two categories the quadratic weights are 0/1, so both kappas coincide.
    assert result.weighted_kappa == pytest.approx(0.4)
    assert result.confusion == [[15, 10], [5, 20]]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # Wikipedia's two further examples: same agreement 0.6, different kappas.
        ({(2, 2): 45, (2, 1): 15, (1, 2): 25, (1, 1): 15}, 0.1304),
        ({(2, 2): 25, (2, 1): 35, (1, 2): 5, (1, 1): 35}, 0.2593),
    ],
)
def test_textbook_kappas_with_equal_agreement(
    table: dict[tuple[int, int], int], expected: float
) -> None:
    human, judge = pairs(table)
    result = calibrate(human, judge, scale=(1, 2))
    assert result.exact_agreement == pytest.approx(0.6)
    assert result.kappa == pytest.approx(expected, abs=1e-4)


def test_hand_computed_3x3() -> None:
    # human 1,1,2,2,3,3 / judge 1,2,2,3,3,3 on 1..3.
    # p_o = 4/6, rows (2,2,2), cols (1,2,3): p_e = 12/36 -> kappa = (2/3-1/3)/(2/3) = 0.5.
    # W = (i-j)^2/4: sum(W*O) = 1/4 + 1/4 = 0.5; E = outer(r, c)/6, sum(W*E) = 2
    # -> weighted kappa = 1 - 0.5/2 = 0.75.
    # Ranks: human 1.5,1.5,3.5,3.5,5.5,5.5; judge 1,2.5,2.5,5,5,5
    # -> rho = 13 / sqrt(16 * 15) = 0.839146.
    result = calibrate([1, 1, 2, 2, 3, 3], [1, 2, 2, 3, 3, 3], scale=(1, 3))
    assert result.kappa == pytest.approx(0.5)
    assert result.weighted_kappa == pytest.approx(0.75)
    assert result.spearman == pytest.approx(13 / 240**0.5)
    assert result.exact_agreement == pytest.approx(4 / 6)
    assert result.within_one == 1.0
    assert result.confusion == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]


def test_perfect_agreement_is_one() -> None:
    scores = [1, 2, 3, 4, 5, 3, 2]
    result = calibrate(scores, list(scores))
    assert result.kappa == result.weighted_kappa == result.spearman == pytest.approx(1.0)
    assert result.exact_agreement == 1.0 and result.calibrated
    assert result.summary.startswith("calibrated: weighted kappa 1.00 >= 0.60")


def test_systematic_off_by_one_keeps_weighted_kappa_high() -> None:
    # human 1,2,3,4 / judge 2,3,4,5 on 1..5: p_o = 0, p_e = 3/16 -> kappa = -3/13.
    # Weighted: sum(W*O) = 4/16; sum over i=1..4, j=2..5 of (i-j)^2 = 56, E = 1/4 each
    # -> sum(W*E) = 56/64 -> weighted kappa = 1 - (1/4)/(7/8) = 5/7. Ranks agree: rho = 1.
    result = calibrate([1, 2, 3, 4], [2, 3, 4, 5])
    assert result.kappa == pytest.approx(-3 / 13)
    assert result.weighted_kappa == pytest.approx(5 / 7)
    assert result.spearman == pytest.approx(1.0)
    assert result.exact_agreement == 0.0 and result.within_one == 1.0
    assert result.calibrated  # 0.714 >= 0.6


def test_constant_judge_has_kappa_zero_and_no_correlation() -> None:
    result = calibrate([1, 2, 3, 4, 5, 3], [3, 3, 3, 3, 3, 3])
    assert result.kappa == pytest.approx(0.0, abs=1e-12)
    assert result.weighted_kappa == pytest.approx(0.0, abs=1e-12)
    assert result.spearman is None  # the judge's scores have no variance
    assert not result.calibrated
    assert "NOT calibrated" in result.summary and "Spearman undefined" in result.summary


def test_one_shared_score_only_is_undefined_not_a_division_error() -> None:
    result = calibrate([4, 4, 4], [4, 4, 4])
    assert result.kappa is None and result.weighted_kappa is None and result.spearman is None
    assert result.exact_agreement == 1.0 and not result.calibrated


def test_unscored_items_are_counted_and_left_out() -> None:
    result = calibrate([1, 2, 3, 5], [1, None, 3, None])
    assert (result.n, result.unscored) == (2, 2)
    assert result.exact_agreement == 1.0
    assert "n=2, 2 unscored" in result.summary


def test_nothing_scored() -> None:
    result = calibrate([1, 2], [None, None])
    assert result.n == 0 and result.unscored == 2 and result.kappa is None
    assert not result.calibrated
    assert result.summary == "not calibrated: the judge scored none of the 2 items"
    assert result.confusion == [[0] * 5 for _ in range(5)]


def test_min_kappa_decides_calibrated() -> None:
    human, judge = [1, 1, 2, 2, 3, 3], [1, 2, 2, 3, 3, 3]
    assert calibrate(human, judge, scale=(1, 3), min_kappa=0.75).calibrated
    assert not calibrate(human, judge, scale=(1, 3), min_kappa=0.76).calibrated


def test_integral_float_judge_scores_are_accepted() -> None:
    assert calibrate([1, 5], [1.0, 5.0]).exact_agreement == 1.0


@pytest.mark.parametrize(
    ("human", "judge", "scale", "message"),
    [
        ([1, 2], [1], (1, 5), "2 human labels but 1 judge scores"),
        ([1, 6], [1, 1], (1, 5), r"human\[1\] = 6 is outside the scale 1..5"),
        ([1, 2], [1, 2.5], (1, 5), r"judge\[1\] = 2.5 is not an integer"),
        ([1, 2], [True, 2], (1, 5), r"judge\[0\] = True is not an integer"),
        ([1, 2], [1, 2], (3, 3), "min < max"),
    ],
)
def test_bad_input_says_what_to_fix(
    human: list[int], judge: list[int | float | None], scale: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate(human, judge, scale=scale)


def test_average_ranks_and_spearman_helpers() -> None:
    assert average_ranks([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 2]).tolist() == [3.0, 1.0, 2.0]
    # Without ties rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)): x ranks 1,2,3,4 and y ranks
    # 1,4,2,3 give d^2 = 0,4,1,1, sum 6 -> 1 - 36/60 = 0.4.
    assert spearman([1, 2, 3, 4], [10, 40, 20, 30]) == pytest.approx(0.4)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1], [1]) is None
    with pytest.raises(ValueError, match="one length"):
        spearman([1, 2], [1])
