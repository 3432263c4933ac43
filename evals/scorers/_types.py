"""What a scorer is and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's verdict on one output.

    Attributes:
        value: The score (0..1 for match scorers); None when the output could not be scored,
            which is never the same as 0.
        reason: Why, when there is something to say.
        details: Scorer-specific data.
    """

    value: float | None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scorer:
    """A named, versioned scoring function ``fn(output, expected) -> Score``."""

    name: str
    version: str
    fn: Callable[[str, Any], Score]

    def __call__(self, output: str, expected: Any) -> Score:
        """Score one output."""
        return self.fn(output, expected)
