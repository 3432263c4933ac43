"""Pairwise preference: which of two responses is better, asked in both orders.

The judge is asked twice, once with the responses in the order given (``ab``) and once
swapped (``ba``); the second verdict is mapped back to the original labels. When both rounds
name the same winner (or both say tie), that is the verdict. When they differ, the preference
followed the position rather than the content (position bias): the verdict is ``tie`` and
``flipped`` is set. A one-sided tie ("a" in one order, "tie" in the other) counts as a flip
too, as the preference still depended on the order. When either round gives no usable
verdict the pair is unscored (``winner`` None, with the reason), never a tie.

Each round: transport errors are retried by :func:`evals.providers.call_with_retries`; an
unparseable reply is retried ``max_parse_retries`` times (default once), showing the judge
its reply and what was wrong, then the round is unscored. The reply must hold exactly one
JSON object whose ``verdict`` is ``a``, ``b`` or ``tie`` (any case).

In the judged texts every ``<`` (or a look-alike) that starts an opening or closing
``question``, ``response_a`` or ``response_b`` tag becomes ``&lt;``, as
:func:`evals.scorers._judge.neutralize_delimiters` does for the rubric tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evals.prompts import Prompt, load_prompt
from evals.providers import (
    ConfigError,
    Message,
    Provider,
    ProviderError,
    RetryPolicy,
    call_with_retries,
)
from evals.scorers._judge_reply import json_objects

Winner = Literal["a", "b", "tie"]
Order = Literal["ab", "ba"]
PAIRWISE_PROMPT = "prompts/judges/pairwise_preference.yaml"
PAIRWISE_VARIABLES = ("question", "response_a", "response_b")
_VERDICTS: tuple[Winner, ...] = ("a", "b", "tie")
_SWAP: dict[Winner, Winner] = {"a": "b", "b": "a", "tie": "tie"}
_TAG_START = re.compile(
    r"[<\uff1c\ufe64\u2039\u2329\u3008](?=\s*/?\s*(?:question|response_a|response_b)\b)",
    re.IGNORECASE,
)
_SENTINEL = "\x1fpairwise-{}\x1f"
_REPLY_EXCERPT = 200


class PairwiseReplyError(ValueError):
    """A pairwise judge reply that is not one JSON object with a valid verdict."""


@dataclass(frozen=True, slots=True)
class PairwiseRound:
    """One of the two calls.

    Attributes:
        order: ``ab`` (responses as given) or ``ba`` (swapped).
        winner: The verdict in the *original* labels, or None when the round is unscored.
        reasoning: The judge's reasoning.
        reason: Why the round is unscored ("" when it is scored).
        attempts: Calls made for the round (parse retries included).
        judge: The ``provider:model`` that answered.
        cost_usd: Cost of the round's calls; None when any call was unpriced.
    """

    order: Order
    winner: Winner | None
    reasoning: str = ""
    reason: str = ""
    attempts: int = 0
    judge: str = ""
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class PairwiseVerdict:
    """The outcome of asking in both orders.

    Attributes:
        winner: ``a``, ``b`` or ``tie`` in the original labels; None when unscored.
        flipped: The two rounds disagreed (position bias); ``winner`` is then ``tie``.
        first: The round with the responses as given.
        second: The round with the responses swapped.
        prompt_version: ``name@version#content_hash`` of the prompt used.
        reason: Why it is unscored or flipped ("" otherwise).
    """

    winner: Winner | None
    flipped: bool
    first: PairwiseRound
    second: PairwiseRound
    prompt_version: str
    reason: str = ""


def neutralize_pairwise_delimiters(text: str) -> str:
    """Replace the ``<`` of every pairwise tag in ``text`` (``</response_a>``...) by ``&lt;``."""
    return _TAG_START.sub("&lt;", text)


def load_pairwise_prompt(path: str | Path = PAIRWISE_PROMPT) -> Prompt:
    """Load and check a pairwise prompt (a relative path is taken from the current directory).

    Raises:
        ConfigError: The file is missing or malformed, its temperature is not 0, its
            variables are not question, response_a and response_b, its JSON schema has no
            ``verdict`` enum with a, b and tie, or a variable is outside its tags.
    """
    resolved = Path(path) if Path(path).is_absolute() else Path.cwd() / path
    if not resolved.is_file():
        raise ConfigError(
            f"pairwise prompt {resolved} not found; give the path of a pairwise prompt file, "
            f"e.g. {PAIRWISE_PROMPT}"
        )
    prompt = load_prompt(resolved)
    check_pairwise_prompt(prompt)
    return prompt


def check_pairwise_prompt(prompt: Prompt) -> None:
    """Check that a loaded prompt is a pairwise prompt (see :func:`load_pairwise_prompt`).

    Raises:
        ConfigError: What is wrong, with the prompt's file.
    """
    where = prompt.path
    params = prompt.spec.params
    if params.temperature != 0:
        raise ConfigError(f"{where}: judge prompts run at temperature 0; set it to 0")
    verdict = ((params.json_schema or {}).get("properties") or {}).get("verdict") or {}
    if not set(_VERDICTS) <= {str(v).lower() for v in verdict.get("enum") or []}:
        raise ConfigError(
            f"{where}: a pairwise prompt needs params.json_schema.properties.verdict with "
            "enum [a, b, tie]"
        )
    if sorted(prompt.spec.variables) != sorted(PAIRWISE_VARIABLES):
        raise ConfigError(
            f"{where}: a pairwise prompt's variables are question, response_a and "
            f"response_b; it has {', '.join(prompt.spec.variables)}"
        )
    messages = prompt.render({name: _SENTINEL.format(name) for name in PAIRWISE_VARIABLES})
    for name in PAIRWISE_VARIABLES:
        block = re.compile(rf"<{name}>.*?</{name}>", re.DOTALL)
        for message in messages:
            stray = block.sub("", message.content) if message.role == "user" else message.content
            if _SENTINEL.format(name) in stray:
                raise ConfigError(
                    f"{where}: put {{{{ {name} }}}} only inside <{name}> ... </{name}> in a "
                    "user message, never in a system or assistant message"
                )


def parse_pairwise_reply(text: str) -> tuple[Winner, str]:
    """Return the verdict and reasoning of a reply (one JSON object, prose around tolerated).

    Raises:
        PairwiseReplyError: No single JSON object, or a verdict that is not a, b or tie.
    """
    objects = json_objects(text)
    if len(objects) != 1 or not isinstance(objects[0], dict):
        raise PairwiseReplyError(f"expected one JSON object, found {len(objects)}")
    verdict = objects[0].get("verdict")
    normalized = verdict.strip().lower() if isinstance(verdict, str) else None
    if normalized not in _VERDICTS:
        raise PairwiseReplyError(f'verdict must be "a", "b" or "tie", got {verdict!r}')
    reasoning = objects[0].get("reasoning", "")
    if not isinstance(reasoning, str):
        raise PairwiseReplyError("reasoning must be a string")
    winner: Winner = normalized
    return winner, reasoning


async def _round(
    provider: Provider,
    prompt: Prompt,
    order: Order,
    texts: dict[str, str],
    policy: RetryPolicy,
    max_parse_retries: int,
) -> PairwiseRound:
    """Ask once in ``order`` (retrying unparseable replies); map the verdict back."""
    first, second = ("a", "b") if order == "ab" else ("b", "a")
    values = {
        "question": texts["question"],
        "response_a": texts[first],
        "response_b": texts[second],
    }
    messages = list(prompt.render(values))
    params = prompt.spec.params.to_generate_params()
    costs: list[float | None] = []
    judge, failure = provider.ref, ""
    for attempt in range(1, max_parse_retries + 2):
        try:
            result = await call_with_retries(provider, messages, params, policy)
        except ProviderError as exc:
            reason = f"judge call failed ({exc.kind}): {exc}"
            return PairwiseRound(order, None, reason=reason, attempts=attempt, judge=judge)
        judge = result.answered_by or provider.ref
        costs.append(result.cost_usd)
        cost = None if None in costs else sum(c or 0.0 for c in costs)
        if result.error is not None:
            reason = f"judge call failed ({result.error.kind}): {result.error.message}"
            return PairwiseRound(order, None, "", reason, attempt, judge, cost)
        try:
            verdict, reasoning = parse_pairwise_reply(result.text)
        except PairwiseReplyError as exc:
            failure = f"{exc}; last reply: {result.text[:_REPLY_EXCERPT]!r}"
            messages += [
                Message("assistant", result.text),
                Message(
                    "user",
                    f"Your reply could not be used: {exc}. Reply with only one JSON object "
                    'with "reasoning" and "verdict" ("a", "b" or "tie"), nothing else.',
                ),
            ]
            continue
        winner = verdict if order == "ab" else _SWAP[verdict]
        return PairwiseRound(order, winner, reasoning, "", attempt, judge, cost)
    reason = f"unparseable judge reply: {failure}"
    return PairwiseRound(order, None, "", reason, max_parse_retries + 1, judge, cost)


async def pairwise(
    provider: Provider,
    prompt: str | Path | Prompt,
    question: str,
    response_a: str,
    response_b: str,
    *,
    policy: RetryPolicy | None = None,
    max_parse_retries: int = 1,
) -> PairwiseVerdict:
    """Ask ``provider`` which response is better, in both orders (see the module docstring).

    Args:
        provider: The judge model.
        prompt: A pairwise prompt file (e.g. :data:`PAIRWISE_PROMPT`) or a loaded prompt.
        question: The question both responses answer.
        response_a: The first response.
        response_b: The second response.
        policy: Transport retries (default :class:`RetryPolicy`).
        max_parse_retries: Extra calls per round after an unparseable reply.

    Returns:
        The verdict in the original labels, both rounds, and the prompt version.

    Raises:
        ConfigError: The prompt is not a pairwise prompt; ``max_parse_retries`` is negative.
    """
    if max_parse_retries < 0:
        raise ConfigError(f"max_parse_retries must be 0 or more, got {max_parse_retries}")
    if isinstance(prompt, Prompt):
        check_pairwise_prompt(prompt)
        loaded = prompt
    else:
        loaded = load_pairwise_prompt(prompt)
    texts = {
        "question": neutralize_pairwise_delimiters(question),
        "a": neutralize_pairwise_delimiters(response_a),
        "b": neutralize_pairwise_delimiters(response_b),
    }
    policy = policy or RetryPolicy()
    first = await _round(provider, loaded, "ab", texts, policy, max_parse_retries)
    second = await _round(provider, loaded, "ba", texts, policy, max_parse_retries)
    version = f"{loaded.ref}#{loaded.content_hash}"
    if first.winner is None or second.winner is None:
        reasons = [f"{r.order}: {r.reason}" for r in (first, second) if r.winner is None]
        return PairwiseVerdict(None, False, first, second, version, "; ".join(reasons))
    if first.winner != second.winner:
        reason = (
            f"the verdict followed the order: {first.winner!r} with the responses as given, "
            f"{second.winner!r} with them swapped (position bias); recorded as a tie"
        )
        return PairwiseVerdict("tie", True, first, second, version, reason)
    return PairwiseVerdict(first.winner, False, first, second, version)
