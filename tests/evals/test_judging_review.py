"""Review-queue rules and the citation and uncertainty validators."""

from __future__ import annotations

import pytest

from evals.judging import (
    ReviewReason,
    ValidatorResult,
    citation_check,
    cited_documents,
    combine,
    expresses_uncertainty,
    review_reasons,
)
from evals.scorers import Score

GOOD = combine({"a": Score(0.9), "b": Score(1.0)})


def kinds(reasons: list[ReviewReason]) -> list[str]:
    return [r.kind for r in reasons]


# -- review_reasons ------------------------------------------------------------------------


def test_a_good_confident_answer_needs_no_review() -> None:
    assert review_reasons(combined=GOOD, threshold=0.5, output_text="Paris [1].") == []


def test_low_score() -> None:
    combined = combine({"a": Score(0.25), "b": Score(0.25)})
    (reason,) = review_reasons(combined=combined, threshold=0.5)
    assert reason.kind == "low_score" and reason.detail == "score 0.25 is under 0.5"
    # The threshold itself is not "under".
    assert review_reasons(combined=combined, threshold=0.25) == []


def test_judges_disagree() -> None:
    combined = combine({"a": Score(0.5), "b": Score(1.0)})
    (reason,) = review_reasons(combined=combined, threshold=0.5)
    assert reason.kind == "judges_disagree" and "a=0.5, b=1" in reason.detail


def test_order_flip() -> None:
    assert kinds(review_reasons(combined=GOOD, threshold=0.5, flipped=True)) == ["order_flip"]


def test_unscored_from_the_combined_verdict_or_given() -> None:
    combined = combine({"a": Score(None, "timeout"), "b": Score(None, "unparseable")})
    (reason,) = review_reasons(combined=combined, threshold=0.5)
    assert reason.kind == "unscored" and reason.detail == "a: timeout; b: unparseable"
    (given,) = review_reasons(combined=None, threshold=0.5, unscored_reason="redaction failed")
    assert (given.kind, given.detail) == ("unscored", "redaction failed")
    (empty,) = review_reasons(combined=combine({}), threshold=0.5)
    assert empty.detail == "no judge scored it"


def test_a_partly_scored_verdict_is_not_unscored() -> None:
    combined = combine({"a": Score(0.9), "b": Score(None, "timeout")})
    assert review_reasons(combined=combined, threshold=0.5) == []


def test_failed_validators_only() -> None:
    results = [
        ValidatorResult("citation_check", True),
        ValidatorResult("citation_check", False, "cites [7]"),
        ValidatorResult("unknown_entity", False),
    ]
    reasons = review_reasons(combined=GOOD, threshold=0.5, validator_failures=results)
    assert [(r.kind, r.detail) for r in reasons] == [
        ("validator_failed", "citation_check: cites [7]"),
        ("validator_failed", "unknown_entity"),
    ]


def test_uncertain_output() -> None:
    (reason,) = review_reasons(
        combined=GOOD, threshold=0.5, output_text="I'm not sure, but it may be Paris."
    )
    assert reason.kind == "uncertain" and reason.detail == 'the response says "I\'m not sure"'


def test_every_reason_in_order() -> None:
    combined = combine({"a": Score(0.0), "b": Score(1.0)}, "majority")
    reasons = review_reasons(
        combined=combined,
        threshold=0.5,
        flipped=True,
        unscored_reason="the pairwise round failed",
        validator_failures=[citation_check("See [9].", 5)],
        output_text="It is unclear from the documents.",
    )
    assert kinds(reasons) == [
        "low_score", "judges_disagree", "order_flip", "unscored", "validator_failed", "uncertain",
    ]  # fmt: skip


# -- citation_check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "cited"),
    [
        ("Paris [1].", [1]),
        ("Paris [1][2] and Lyon [ 3 ].", [1, 2, 3]),
        ("See Document [4] and Document 2.", [4, 2]),
        ("Both [1, 3] agree; also [2-4].", [1, 3, 2, 4]),
        ("Ranges [2–3] with an en dash.", [2, 3]),
        ("No citations at all, 3 of them in 2019.", []),
        ("A wild range [1-1000].", [1, 1000]),
    ],
)
def test_cited_documents(output: str, cited: list[int]) -> None:
    assert cited_documents(output) == cited


def test_citations_within_the_retrieved_documents_pass() -> None:
    assert citation_check("Paris [1], per Document [5].", 5) == ValidatorResult(
        "citation_check", True
    )
    assert citation_check("No citation.", 0).passed  # citing is not required here


@pytest.mark.parametrize(
    ("output", "n", "detail"),
    [
        ("Paris [6].", 5, "cites [6], but the retrieved documents are [1]..[5]"),
        (
            "Per Document [3] and [0].",
            2,
            "cites [3], [0], but the retrieved documents are [1]..[2]",
        ),
        ("See [2-4].", 3, "cites [4], but"),
        ("Paris [1].", 0, "cites [1], but the retrieved documents are none"),
    ],
)
def test_citations_to_missing_documents_fail(output: str, n: int, detail: str) -> None:
    result = citation_check(output, n)
    assert not result.passed and result.name == "citation_check"
    assert result.detail.startswith(detail)


# -- expresses_uncertainty -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("I'm not sure who owns the club.", "I'm not sure"),
        ("I’m not sure, honestly.", "I'm not sure"),  # curly apostrophe
        ("I am not certain of the date.", "I am not certain"),
        ("I don't know.", "I don't know"),
        ("I do not know the answer.", "I do not know"),
        ("I think it was 1901.", "I think"),
        ("It is unclear which season is meant.", "It is unclear"),
        ("It's not clear from the passage.", "It's not clear"),
        ("The passage leaves it unclear whether he won.", "unclear whether"),
        ("I cannot determine the owner from the context.", "I cannot determine"),
        ("We are unable to confirm this.", "We are unable to confirm"),
        ("It is impossible to say which came first.", "It is impossible to say"),
        ("The year cannot be determined from these passages.", "cannot be determined"),
        ("There is not enough information to answer.", "not enough information"),
        ("The documents do not mention a fourth film.", "documents do not mention"),
        ("The provided context doesn't say.", "provided context doesn't say"),
        ("It may be that the list is out of date.", "It may be that"),
    ],
)
def test_hedging_phrases_are_found(text: str, phrase: str) -> None:
    assert expresses_uncertainty(text) == phrase


@pytest.mark.parametrize(
    "text",
    [
        '"Maybe" is a 1957 song by the Chantels.',  # a title, not a hedge
        "This medication may be taken with food.",  # bare "may be" is too common
        "Symptoms might include fever; it is possibly viral but probably benign.",
        "Perhaps the best-known example is Old Trafford.",
        "I'm sure it is Paris, and it is clear from Document [1].",
        "The test cannot determine the sex of the fetus.",  # no subject: a fact, not doubt
        "You can't tell them apart by colour.",
        "The drug does not contain lactose.",  # not about the sources
        "Wilhelm Conrad Röntgen won the first Nobel Prize in Physics in 1901 [1].",
    ],
)
def test_confident_statements_are_not_uncertain(text: str) -> None:
    assert expresses_uncertainty(text) is None


def test_accepted_false_positive_a_quotation() -> None:
    # Documented: the list matches "I think" even inside a quotation.
    assert expresses_uncertainty('Descartes wrote "I think, therefore I am".') == "I think"
