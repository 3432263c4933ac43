"""Text-matching scorers, including the best-subspan exact match of Liu et al. (2023)."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from typing import Any

from evals.scorers._types import Score, ScoreInput, Scorer

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Deleting characters with str.translate: the same result as the SQuAD character filter.
_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = text.translate(_DROP_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _answers(expected: Any) -> list[str]:
    if expected is None:
        return []
    if isinstance(expected, str):
        return [expected]
    if isinstance(expected, Sequence):
        return [str(item) for item in expected]
    if isinstance(expected, dict) and "answers" in expected:
        return _answers(expected["answers"])
    return [str(expected)]


def best_subspan_em(prediction: str, answers: Sequence[str]) -> float:
    """The paper's metric: 1.0 if a normalised gold answer occurs in the normalised prediction.

    Only the first line of the output counts, taken before stripping as in Liu et al.'s
    evaluation code, so an output that starts with a newline scores 0.
    """
    first_line = prediction.split("\n")[0].strip()  # as upstream: split first, then strip
    normalized = normalize_answer(first_line)
    return 1.0 if any(normalize_answer(a) in normalized for a in answers) else 0.0


def _answer_scorer(name: str, version: str, matches: Callable[[str, str], bool]) -> Scorer:
    """A scorer that gives 1 when ``matches(output, answer)`` holds for any expected answer.

    Without an expected answer the output is unscored (``None``), never 0.
    """

    def score(item: ScoreInput) -> Score:
        answers = _answers(item.expected)
        if not answers:
            return Score(value=None, reason="no expected answer")
        return Score(value=1.0 if any(matches(item.output, a) for a in answers) else 0.0)

    return Scorer(name=name, version=version, fn=score)


def best_subspan_match() -> Scorer:
    """Score 1 when any expected answer is a subspan of the output's first line (normalised).

    Returns:
        A scorer named ``best_subspan_em``; ``expected`` is an answer or a list of answers.
    """
    return _answer_scorer("best_subspan_em", "1", lambda out, a: best_subspan_em(out, [a]) == 1.0)


def exact_match(*, normalize: bool = True) -> Scorer:
    """Score 1 when the output equals an expected answer.

    Args:
        normalize: Compare SQuAD-normalised text rather than the raw strings.

    Returns:
        A scorer named ``exact_match``.
    """
    norm = normalize_answer if normalize else str.strip
    return _answer_scorer("exact_match", "1", lambda out, a: norm(out) == norm(a))


def includes(*, ignore_case: bool = True) -> Scorer:
    """Score 1 when an expected answer occurs anywhere in the output.

    Args:
        ignore_case: Compare case-insensitively.

    Returns:
        A scorer named ``includes``.
    """
    fold = str.lower if ignore_case else str
    return _answer_scorer("includes", "1", lambda out, a: fold(a) in fold(out))
