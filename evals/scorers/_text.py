"""Deterministic text scorers: a regular expression, a fixed substring, normalised equality."""

from __future__ import annotations

import re

from evals.providers import ConfigError
from evals.scorers._match import _answers, normalize_answer
from evals.scorers._types import Score, ScoreInput, Scorer


def regex(*, pattern: str, ignore_case: bool = False, full_match: bool = False) -> Scorer:
    """Score 1 when the output matches a regular expression (Python ``re`` syntax).

    The pattern is searched for anywhere in the output, so ``^`` and ``$`` anchor at the
    output's start and end; put ``(?m)`` in the pattern to anchor at every line. With
    ``full_match`` the whole output, stripped of surrounding whitespace (models often end
    with a newline), must match.

    Args:
        pattern: The regular expression.
        ignore_case: Match case-insensitively.
        full_match: Require the pattern to match the whole (stripped) output.

    Returns:
        A scorer named ``regex``; a match's text is in ``details["match"]``.

    Raises:
        ConfigError: The pattern is empty or not a valid regular expression.
    """
    if not pattern:
        raise ConfigError("regex: pattern is empty, so it would match every output; give one")
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ConfigError(
            f"regex: pattern {pattern!r} is not a valid regular expression ({exc}); fix it, "
            "escaping literal characters such as ( [ . * + ? with a backslash"
        ) from None

    def score(item: ScoreInput) -> Score:
        found = (
            compiled.fullmatch(item.output.strip()) if full_match else compiled.search(item.output)
        )
        if found is None:
            how = "match the whole output" if full_match else "occur in the output"
            return Score(value=0.0, reason=f"pattern {pattern!r} does not {how}")
        return Score(value=1.0, details={"match": found.group(0)})

    return Scorer(name="regex", version="1", fn=score)


def contains(*, text: str | None = None, ignore_case: bool = True) -> Scorer:
    """Score 1 when the output contains a fixed string, or else an expected answer.

    Args:
        text: The string to look for. Without it, the case's expected answer (or any of a list
            of answers) is looked for, and a case without one is unscored (``None``).
        ignore_case: Compare case-insensitively (Unicode case folding).

    Returns:
        A scorer named ``contains``.

    Raises:
        ConfigError: ``text`` is empty.
    """
    if text is not None and not text:
        raise ConfigError(
            "contains: text is empty, so every output would contain it; give a string, or "
            "leave text out to look for the expected answer"
        )
    fold = str.casefold if ignore_case else str

    def score(item: ScoreInput) -> Score:
        needles = [text] if text is not None else _answers(item.expected)
        if not needles:
            return Score(value=None, reason="no expected answer; give the case one or set text")
        haystack = fold(item.output)
        if any(fold(needle) in haystack for needle in needles):
            return Score(value=1.0)
        if text is not None:
            return Score(value=0.0, reason=f"output does not contain {text!r}")
        return Score(value=0.0, reason="output contains no expected answer")

    return Scorer(name="contains", version="1", fn=score)


def normalized_match() -> Scorer:
    """Score 1 when the SQuAD-normalised output equals a normalised expected answer.

    Normalisation (:func:`~evals.scorers._match.normalize_answer`) lowercases and drops
    punctuation, articles and extra whitespace. A case without an expected answer, or whose
    answers all normalise to nothing (``"The"``, ``"?"``), is unscored (``None``).

    Returns:
        A scorer named ``normalized_match``.
    """

    def score(item: ScoreInput) -> Score:
        answers = [normalize_answer(a) for a in _answers(item.expected)]
        if not answers:
            return Score(value=None, reason="no expected answer")
        answers = [a for a in answers if a]
        if not answers:
            return Score(
                value=None,
                reason="every expected answer normalises to an empty string; fix the case",
            )
        output = normalize_answer(item.output)
        if output in answers:
            return Score(value=1.0)
        return Score(value=0.0, reason=f"normalised output {output!r} matches no answer")

    return Scorer(name="normalized_match", version="1", fn=score)
