"""Combining several judges' scores: mean and majority, agreement, disagreement, unscored."""

from __future__ import annotations

import pytest

from evals.judging import Method, combine
from evals.scorers import Score


def test_mean_of_normalised_scores_excludes_unscored_judges() -> None:
    combined = combine(
        {"judge:a": Score(0.75), "judge:b": Score(1.0), "judge:c": Score(None, "timeout")}
    )
    assert combined.value == pytest.approx(0.875)
    assert combined.spread == pytest.approx(0.25)
    assert combined.agreement == pytest.approx(0.75)  # 1 - spread
    assert not combined.disagreement  # 0.25 does not exceed 0.25
    assert combined.unscored == 1
    assert combined.unscored_reasons == {"judge:c": "timeout"}
    assert combined.per_judge == {"judge:a": 0.75, "judge:b": 1.0, "judge:c": None}
    assert combined.method == "mean"


def test_mean_on_the_raw_1_to_5_scale_flags_two_points_apart() -> None:
    close = combine({"a": Score(3.0), "b": Score(4.0)}, scale=(1, 5))
    assert close.agreement == pytest.approx(0.75) and not close.disagreement
    far = combine({"a": Score(2.0), "b": Score(5.0)}, scale=(1, 5))
    assert far.value == pytest.approx(3.5)
    assert far.spread == pytest.approx(0.75) and far.agreement == pytest.approx(0.25)
    assert far.disagreement


def test_majority_takes_the_most_frequent_score() -> None:
    combined = combine(
        {"a": Score(4.0), "b": Score(4.0), "c": Score(2.0)}, "majority", scale=(1, 5)
    )
    assert combined.value == 4.0
    assert combined.agreement == pytest.approx(2 / 3)  # two of three agree with the majority
    assert combined.spread == pytest.approx(0.5) and combined.disagreement


def test_majority_tie_goes_to_the_lower_score() -> None:
    combined = combine({"a": Score(5.0), "b": Score(3.0)}, "majority", scale=(1, 5))
    assert combined.value == 3.0 and combined.agreement == pytest.approx(0.5)


def test_one_judge_agrees_with_itself() -> None:
    methods: tuple[Method, ...] = ("mean", "majority")
    for method in methods:
        combined = combine({"a": Score(0.4)}, method)
        assert combined.value == 0.4 and combined.agreement == 1.0
        assert combined.spread == 0.0 and not combined.disagreement


def test_no_judge_scored() -> None:
    combined = combine({"a": Score(None, "unparseable"), "b": Score(None, "429")})
    assert combined.value is None and combined.agreement is None and combined.spread is None
    assert combined.unscored == 2 and not combined.disagreement
    assert combined.unscored_reasons == {"a": "unparseable", "b": "429"}


def test_empty_mapping() -> None:
    combined = combine({})
    assert combined.value is None and combined.unscored == 0 and combined.per_judge == {}


def test_threshold_is_configurable() -> None:
    scores = {"a": Score(0.5), "b": Score(0.6)}
    assert not combine(scores).disagreement
    assert combine(scores, disagreement_threshold=0.05).disagreement


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "median"}, "method must be"),
        ({"scale": (1, 1)}, "min < max"),
        ({"disagreement_threshold": 1.5}, "share of the scale"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        combine({"a": Score(0.5)}, **kwargs)  # type: ignore[arg-type]


def test_value_outside_the_scale_asks_for_the_scale() -> None:
    with pytest.raises(ValueError, match=r"judge a scored 4.0, outside the scale 0..1"):
        combine({"a": Score(4.0)})
