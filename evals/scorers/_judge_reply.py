"""Judge replies: one JSON object with a score on the rubric's scale, and what to ask again.

The first and only top-level JSON object in the reply is used, so a ```json fence or prose
around it is tolerated; a reply with no object or with several is unparseable. ``score``
must be a number (an integer when the schema says so) within the schema's
``minimum``..``maximum``; a missing ``reasoning`` or ``flags`` defaults to empty.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evals.providers import Message

if TYPE_CHECKING:
    from evals.scorers._judge import Rubric


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """A parsed, checked judge reply."""

    score: float
    reasoning: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)


class JudgeReplyError(ValueError):
    """A judge reply that is not one JSON object with a score on the rubric's scale."""


def json_objects(text: str) -> list[Any]:
    """Every top-level JSON value that starts with ``{`` in ``text``, in order."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        found.append(value)
        start = text.find("{", end)
    return found


def parse_judge_reply(text: str, rubric: Rubric) -> JudgeVerdict:
    """Parse and check one judge reply (see the module docstring for what is tolerated).

    Raises:
        JudgeReplyError: No single JSON object, or a score missing, not a number, not an
            integer when the schema asks for one, or outside the scale.
    """
    objects = json_objects(text)
    if len(objects) != 1:
        raise JudgeReplyError(f"expected one JSON object, found {len(objects)}")
    reply = objects[0]
    score = reply.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise JudgeReplyError(f"score must be a number, got {score!r}")
    if rubric.integer and score != int(score):
        raise JudgeReplyError(f"score must be an integer, got {score!r}")
    if not rubric.min_score <= score <= rubric.max_score:
        raise JudgeReplyError(
            f"score {score!r} is outside the scale {rubric.min_score:g}..{rubric.max_score:g}"
        )
    reasoning, flags = reply.get("reasoning", ""), reply.get("flags", [])
    if not isinstance(reasoning, str):
        raise JudgeReplyError("reasoning must be a string")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise JudgeReplyError("flags must be a list of strings")
    return JudgeVerdict(float(score), reasoning, tuple(flags))


def retry_messages(reply: str, error: JudgeReplyError, rubric: Rubric) -> list[Message]:
    """The turns to append when a reply could not be used: the reply, then what was wrong."""
    scale = f"{rubric.min_score:g} to {rubric.max_score:g}"
    return [
        Message("assistant", reply),
        Message(
            "user",
            f"Your reply could not be used: {error}. Reply with only one JSON object with "
            f'"reasoning", "score" ({scale}) and "flags", nothing else.',
        ),
    ]
