"""Scorers: small versioned factories that turn an output into a :class:`Score`."""

from collections.abc import Callable

from evals.providers import ConfigError
from evals.scorers._match import (
    best_subspan_em,
    best_subspan_match,
    exact_match,
    includes,
    normalize_answer,
)
from evals.scorers._types import Score, Scorer

SCORERS: dict[str, Callable[[], Scorer]] = {
    "best_subspan_em": best_subspan_match,
    "exact_match": exact_match,
    "includes": includes,
}


def get_scorer(name: str) -> Scorer:
    """Return the scorer called ``name``.

    Raises:
        ConfigError: Unknown name; the message lists the known ones.
    """
    try:
        return SCORERS[name]()
    except KeyError:
        raise ConfigError(f"unknown scorer {name!r}; known scorers: {', '.join(SCORERS)}") from None


__all__ = [
    "SCORERS",
    "Score",
    "Scorer",
    "best_subspan_em",
    "best_subspan_match",
    "exact_match",
    "get_scorer",
    "includes",
    "normalize_answer",
]
