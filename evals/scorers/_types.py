"""What a scorer is, what it is given, and what it returns."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's verdict on one output.

    Attributes:
        value: The score (0..1 for match scorers, the rubric's scale for judges); None when
            the output could not be scored, which is never the same as 0.
        reason: Why, when there is something to say (always set when ``value`` is None).
        details: Scorer-specific data (a judge's flags and reasoning, say).
    """

    value: float | None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """Everything a scorer may look at for one output.

    Attributes:
        output: The model's text.
        expected: The case's reference (an answer, a list of answers, any JSON), or None.
        inputs: The case's template inputs (``question``, ``documents``/``contexts``...).
        metadata: The case's free-form metadata.
    """

    output: str
    expected: Any = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


SyncScoreFn = Callable[[ScoreInput], Score]
AsyncScoreFn = Callable[[ScoreInput], Awaitable[Score]]


@dataclass(frozen=True, slots=True)
class Scorer:
    """A named, versioned scoring function of a :class:`ScoreInput`.

    ``fn`` is a plain function or a coroutine function (judges, ragas' metrics);
    :meth:`ascore` takes both.

    Attributes:
        name: Name in reports and the store.
        version: Bumped whenever the scorer's behaviour changes, so stored scores of an older
            version are not compared with new ones.
        fn: The scoring function.
        higher_is_better: Direction of the score, for gates.
    """

    name: str
    version: str
    fn: SyncScoreFn | AsyncScoreFn
    higher_is_better: bool = True

    @property
    def is_async(self) -> bool:
        """Whether ``fn`` is a coroutine function (model-graded and ragas scorers)."""
        return inspect.iscoroutinefunction(self.fn)

    async def ascore(self, item: ScoreInput) -> Score:
        """Score one output, awaiting the model call of an LLM scorer."""
        result = self.fn(item)
        if inspect.isawaitable(result):
            return await result
        return result

    def __call__(
        self,
        output: str,
        expected: Any = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Score:
        """Score one output with a deterministic scorer.

        Raises:
            TypeError: The scorer is asynchronous; use :meth:`ascore`.
        """
        if self.is_async:
            raise TypeError(f"scorer {self.name!r} is asynchronous; await scorer.ascore(...)")
        item = ScoreInput(output, expected, inputs or {}, metadata or {})
        result = self.fn(item)
        assert isinstance(result, Score)
        return result
