"""The review-queue rules, and the response validators that feed them.

:func:`review_reasons` lists why a judged response must go to human review:

* ``low_score``: the combined score is under the threshold;
* ``judges_disagree``: the judges' spread exceeds the ensemble's threshold;
* ``order_flip``: a pairwise verdict changed with the order of the responses;
* ``unscored``: no judge scored it (a failed call, an unparseable reply...);
* ``validator_failed``: one per failed validator (a citation to a missing document...);
* ``uncertain``: the response expresses uncertainty (:func:`expresses_uncertainty`).

An empty list means no review is needed.

Uncertainty phrases, matched case-insensitively as whole words (curly apostrophes count):

* first-person doubt: "I'm not sure", "I am not certain", "I'm unsure", "I don't know",
  "I do not know", "I think", "I believe";
* "it is unclear", "it's not clear", "unclear whether|if|from|what|which|who|when|how";
* inability, with a subject: "I|we cannot|can't|am unable to" or "it is impossible|hard|
  difficult|not possible to" + determine, tell, say, confirm, verify, know, answer, be
  certain, be sure; and "cannot be determined|confirmed|verified|known|said";
* missing information: "not enough information", "insufficient information", "no
  information about|on|in", "the (provided|given|retrieved) documents|context|passages|
  sources|texts do not (doesn't, don't) say|mention|specify|state|contain|provide";
* "it may be that", "it might be that", "it is possible that".

The list aims at precision: bare "may be", "maybe", "might", "perhaps", "possibly" and
"probably" are *not* matched, nor "cannot determine" without a subject, since they are common
in confident answers ("This drug may be taken with food", "Maybe is a song by ...", "The test
cannot determine the sex of the fetus") and would flood the queue. Accepted false positive:
a quotation such as "I think, therefore I am".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from evals.judging._ensemble import Combined

ReasonKind = Literal[
    "low_score", "judges_disagree", "order_flip", "unscored", "validator_failed", "uncertain"
]

_VERBS = r"(?:determine|tell|say|confirm|verify|know|answer|be\s+(?:certain|sure))"
_SOURCES = r"(?:documents?|context|passages?|sources?|texts?|information\s+provided)"
_NEGATED = r"(?:(?:do|does)\s+not|doesn't|don't)"
_UNCERTAIN = re.compile(
    r"\b(?:"
    r"i(?:'m|\s+am)\s+not\s+(?:sure|certain)|i(?:'m|\s+am)\s+unsure"
    r"|i\s+(?:don't|do\s+not)\s+know|i\s+(?:think|believe)"
    r"|it(?:'s|\s+is)\s+(?:unclear|not\s+clear)"
    r"|unclear\s+(?:whether|if|from|what|which|who|when|how)"
    rf"|(?:i|we)(?:'m|\s+am|\s+are)?\s+(?:cannot|can't|can\s+not|unable\s+to)\s+{_VERBS}"
    rf"|it(?:'s|\s+is)\s+(?:impossible|hard|difficult|not\s+possible)\s+to\s+{_VERBS}"
    r"|(?:cannot|can't|can\s+not)\s+be\s+(?:determined|confirmed|verified|known|said)"
    r"|(?:not\s+enough|insufficient)\s+information|no\s+information\s+(?:about|on|in)"
    rf"|(?:provided\s+|given\s+|retrieved\s+)?{_SOURCES}\s+{_NEGATED}\s+"
    r"(?:say|mention|specify|state|contain|provide)"
    r"|it\s+(?:may|might)\s+be\s+that|it\s+is\s+possible\s+that"
    r")\b",
    re.IGNORECASE,
)
_CITATION = re.compile(
    r"\[\s*(\d+(?:\s*(?:,|-|–)\s*\d+)*)\s*\]|\bDocument\s+(\d+)\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ReviewReason:
    """One reason to send a response to human review.

    Attributes:
        kind: The rule that fired (see the module docstring).
        detail: What exactly, for the reviewer.
    """

    kind: ReasonKind
    detail: str


@dataclass(frozen=True, slots=True)
class ValidatorResult:
    """The outcome of one response validator.

    Attributes:
        name: The validator (``citation_check``...).
        passed: Whether the response passed.
        detail: What failed ("" when it passed).
    """

    name: str
    passed: bool
    detail: str = ""


def expresses_uncertainty(text: str) -> str | None:
    """The first uncertainty phrase in ``text`` (see the module docstring), or None."""
    match = _UNCERTAIN.search(text.replace("\u2019", "'").replace("\u2018", "'"))
    return None if match is None else match.group(0)


def cited_documents(output: str) -> list[int]:
    """The document numbers ``output`` cites, in order of first citation.

    Citations are ``[3]``, ``[1, 2]``, ``[1-3]`` (a range) and ``Document 3`` or
    ``Document [3]`` (the bracket form is found as ``[3]``).
    """
    found: dict[int, None] = {}
    for match in _CITATION.finditer(output):
        if match.group(2) is not None:
            found[int(match.group(2))] = None
            continue
        for part in re.split(r"\s*,\s*", match.group(1)):
            bounds = [int(b) for b in re.split(r"\s*[-–]\s*", part)]
            start, end = bounds[0], bounds[-1]
            # "[2-4]" cites 2, 3 and 4; "[4-2]" or "[1-1000]" only their two ends.
            numbers = range(start, end + 1) if start <= end <= start + 100 else (start, end)
            found.update(dict.fromkeys(numbers))
    return list(found)


def citation_check(output: str, n_contexts: int) -> ValidatorResult:
    """Check that every document ``output`` cites is among the retrieved ``1..n_contexts``.

    A response that cites nothing passes (whether citations are required is another rule).
    """
    unknown = [n for n in cited_documents(output) if not 1 <= n <= n_contexts]
    if not unknown:
        return ValidatorResult("citation_check", True)
    listed = ", ".join(f"[{n}]" for n in unknown)
    have = f"[1]..[{n_contexts}]" if n_contexts else "none"
    return ValidatorResult(
        "citation_check", False, f"cites {listed}, but the retrieved documents are {have}"
    )


def review_reasons(
    *,
    combined: Combined | None,
    threshold: float,
    flipped: bool = False,
    unscored_reason: str | None = None,
    validator_failures: Sequence[ValidatorResult] = (),
    output_text: str = "",
) -> list[ReviewReason]:
    """Why a judged response must be reviewed by a human (empty: it need not be).

    Args:
        combined: The judges' combined verdict (None when none was asked).
        threshold: Scores under this (on the combined value's scale) are ``low_score``.
        flipped: A pairwise verdict flipped with the order of the responses.
        unscored_reason: Why the response could not be scored, if it could not.
        validator_failures: Validator results; those that passed are ignored.
        output_text: The response, checked for expressions of uncertainty.

    Returns:
        The reasons, in the order of the module docstring's list.
    """
    reasons: list[ReviewReason] = []
    value = None if combined is None else combined.value
    if value is not None and value < threshold:
        reasons.append(ReviewReason("low_score", f"score {value:.3g} is under {threshold:g}"))
    if combined is not None and combined.disagreement:
        scores = ", ".join(
            f"{ref}={v:.3g}" for ref, v in combined.per_judge.items() if v is not None
        )
        reasons.append(ReviewReason("judges_disagree", f"the judges disagree: {scores}"))
    if flipped:
        reasons.append(ReviewReason("order_flip", "the pairwise verdict changed with the order"))
    if unscored_reason is None and combined is not None and combined.value is None:
        unscored_reason = (
            "; ".join(f"{ref}: {why}" for ref, why in combined.unscored_reasons.items())
            or "no judge scored it"
        )
    if unscored_reason is not None:
        reasons.append(ReviewReason("unscored", unscored_reason))
    for result in validator_failures:
        if not result.passed:
            detail = f"{result.name}: {result.detail}" if result.detail else result.name
            reasons.append(ReviewReason("validator_failed", detail))
    if phrase := expresses_uncertainty(output_text):
        reasons.append(ReviewReason("uncertain", f"the response says {phrase!r}"))
    return reasons
