"""Several judges on one output: combine their scores into one, and say how much they agree.

Judges that did not score (``Score.value is None``) are left out of the value and the
agreement, and counted in ``unscored`` with their reasons.

Methods (``s`` the scored values, ``lo..hi`` the score scale):

* ``mean``: the value is ``mean(s)``; the agreement is ``1 - (max(s) - min(s)) / (hi - lo)``,
  1 when all judges gave the same score, 0 when they span the whole scale.
* ``majority``: the value is the most frequent score, ties broken towards the *lower* score
  (a conservative choice: low scores go to human review); the agreement is the share of the
  scoring judges that gave that score.

For both, ``spread = (max(s) - min(s)) / (hi - lo)`` and ``disagreement`` is
``spread > disagreement_threshold``. The default threshold 0.25 flags judges more than one
point apart on a 1-5 scale (0.25 is one point there), and more than 0.25 apart on 0..1
normalised scores. One scoring judge has agreement 1 and no disagreement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from evals.scorers import Score

Method = Literal["mean", "majority"]


@dataclass(frozen=True, slots=True)
class Combined:
    """The combined verdict of several judges on one output.

    Attributes:
        value: The combined score, or None when no judge scored.
        agreement: 0..1 (see the module docstring), or None when no judge scored.
        per_judge: Every judge's value by its reference (None for a judge that did not score).
        unscored: Number of judges that did not score.
        disagreement: Whether the spread of the scores exceeds the threshold.
        spread: ``(max - min) / (hi - lo)`` of the scores, or None when no judge scored.
        method: ``mean`` or ``majority``.
        unscored_reasons: Why each judge that did not score did not, by reference.
    """

    value: float | None
    agreement: float | None
    per_judge: dict[str, float | None]
    unscored: int
    disagreement: bool
    spread: float | None = None
    method: Method = "mean"
    unscored_reasons: dict[str, str] = field(default_factory=dict)


def combine(
    scores: Mapping[str, Score],
    method: Method = "mean",
    *,
    scale: tuple[float, float] = (0.0, 1.0),
    disagreement_threshold: float = 0.25,
) -> Combined:
    """Combine several judges' scores of one output.

    Args:
        scores: Each judge's score by its reference (``judge:faithfulness@openai:gpt-4o``...).
        method: ``mean`` or ``majority`` (see the module docstring).
        scale: The scale the values are on: (0, 1) for normalised judge scores (the
            default of :func:`evals.scorers.rubric_judge`), (1, 5) for raw ones.
        disagreement_threshold: Largest spread, as a share of the scale, that is not a
            disagreement.

    Returns:
        The combined verdict; ``value`` None when no judge scored.

    Raises:
        ValueError: Unknown method, an empty scale, a threshold outside 0..1, or a value
            outside the scale (pass the scale the judges' values are on).
    """
    if method not in ("mean", "majority"):
        raise ValueError(f"method must be 'mean' or 'majority', got {method!r}")
    low, high = scale
    if not low < high:
        raise ValueError(f"scale must be (min, max) with min < max, got {scale!r}")
    if not 0 <= disagreement_threshold <= 1:
        raise ValueError(
            f"disagreement_threshold is a share of the scale, 0..1; got {disagreement_threshold}"
        )
    per_judge = {ref: score.value for ref, score in scores.items()}
    reasons = {
        ref: score.reason or "no reason given"
        for ref, score in scores.items()
        if score.value is None
    }
    values = [v for v in per_judge.values() if v is not None]
    for ref, value in per_judge.items():
        if value is not None and not low <= value <= high:
            raise ValueError(
                f"judge {ref} scored {value}, outside the scale {low:g}..{high:g}; pass "
                "scale=(min, max) of the values the judges return"
            )
    if not values:
        return Combined(None, None, per_judge, len(reasons), False, None, method, reasons)
    spread = (max(values) - min(values)) / (high - low)
    if method == "mean":
        value = sum(values) / len(values)
        agreement = 1.0 - spread
    else:
        counts = Counter(values)
        top = max(counts.values())
        value = min(v for v, c in counts.items() if c == top)
        agreement = top / len(values)
    return Combined(
        value=value,
        agreement=agreement,
        per_judge=per_judge,
        unscored=len(reasons),
        disagreement=spread > disagreement_threshold + 1e-12,
        spread=spread,
        method=method,
        unscored_reasons=reasons,
    )
