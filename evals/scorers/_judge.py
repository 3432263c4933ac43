"""The rubric LLM judge: a versioned rubric prompt, a model at temperature 0, a checked score.

Variables a rubric may declare, taken from the :class:`ScoreInput`:

* ``response``: ``output`` (required by every rubric).
* ``question``: ``inputs["question"]``.
* ``reference``: ``expected``; a list (or ``{"answers": [...]}``) of several answers is
  rendered as "Any of these answers is correct:" and a bullet list, other JSON as JSON.
* ``context``: ``inputs["documents"]`` (``{"title", "text"}`` dicts or strings) or else
  ``inputs["contexts"]`` (strings), numbered from 1 as ``Document [i] (Title: T)`` blocks,
  so that a citation ``[i]`` names ``Document [i]`` as in the ``rag_qa`` prompt.

A case without a variable its rubric needs is unscored (``None``) with the reason.

Delimiters: a rubric's user message places each variable inside ``<name>`` ... ``</name>``
tags, and :func:`load_rubric` checks that it does (and that no system message holds one).
In the judged text every ``<`` (or a look-alike) that starts an opening or closing tag of
any of the four names is replaced by ``&lt;``, so the text cannot close its block early
or open another; nothing else in it changes.

Replies are parsed by :func:`evals.scorers._judge_reply.parse_judge_reply`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.prompts import Prompt, load_prompt
from evals.providers import (
    CallResult,
    ConfigError,
    Message,
    Provider,
    ProviderError,
    RetryPolicy,
    call_with_retries,
)
from evals.scorers._judge_reply import (
    JudgeReplyError,
    parse_judge_reply,
    retry_messages,
)
from evals.scorers._types import Score, ScoreInput, Scorer

JUDGE_VARIABLES = ("response", "question", "reference", "context")
_TAG_START = re.compile(
    r"[<\uff1c\ufe64\u2039\u2329\u3008](?=\s*/?\s*(?:" + "|".join(JUDGE_VARIABLES) + r")\b)",
    re.IGNORECASE,
)
_SENTINEL = "\x1fjudged-{}\x1f"
_REPLY_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class Rubric:
    """A loaded judge rubric: the prompt and its score scale.

    Attributes:
        prompt: The rubric's prompt file.
        min_score: Lowest score of the scale (``minimum`` of ``score`` in the JSON schema).
        max_score: Highest score of the scale (``maximum``).
        integer: Whether the schema asks for an integer score.
    """

    prompt: Prompt
    min_score: float
    max_score: float
    integer: bool

    @property
    def version(self) -> str:
        """``name@version#content_hash``: changes whenever the rubric's behaviour does."""
        return f"{self.prompt.ref}#{self.prompt.content_hash}"


def neutralize_delimiters(text: str) -> str:
    """Replace the ``<`` of every judge tag in ``text`` (``</response>``...) by ``&lt;``."""
    return _TAG_START.sub("&lt;", text)


def load_rubric(path: str | Path) -> Rubric:
    """Load a rubric prompt file (a relative path is taken from the current directory).

    Raises:
        ConfigError: The file is missing or malformed, has no score scale in
            ``params.json_schema``, a temperature other than 0, an unknown variable, or a
            variable outside its tags.
    """
    resolved = Path(path) if Path(path).is_absolute() else Path.cwd() / path
    if not resolved.is_file():
        raise ConfigError(
            f"judge rubric {resolved} not found; give the path of a rubric prompt file, "
            "e.g. prompts/judges/answer_correctness.yaml"
        )
    prompt = load_prompt(resolved)
    params = prompt.spec.params
    score = ((params.json_schema or {}).get("properties") or {}).get("score") or {}
    low, high = score.get("minimum"), score.get("maximum")
    if not (isinstance(low, int | float) and isinstance(high, int | float) and low < high):
        raise ConfigError(
            f"{resolved}: a judge rubric needs params.json_schema.properties.score with "
            "numeric minimum < maximum (its score scale)"
        )
    if params.temperature != 0:
        raise ConfigError(f"{resolved}: judge rubrics run at temperature 0; set it to 0")
    variables = set(prompt.spec.variables)
    if "response" not in variables or variables - set(JUDGE_VARIABLES):
        raise ConfigError(
            f"{resolved}: a judge rubric's variables are response and any of question, "
            f"reference, context; it has {', '.join(prompt.spec.variables)}"
        )
    _check_delimited(prompt, resolved)
    return Rubric(prompt, float(low), float(high), score.get("type") == "integer")


def _check_delimited(prompt: Prompt, path: Path) -> None:
    """Raise ConfigError unless every variable appears only inside its own tags."""
    names = prompt.spec.variables
    messages = prompt.render({name: _SENTINEL.format(name) for name in names})
    for name in names:
        sentinel = _SENTINEL.format(name)
        block = re.compile(rf"<{name}>.*?</{name}>", re.DOTALL)
        for message in messages:
            stray = block.sub("", message.content) if message.role == "user" else message.content
            if sentinel in stray:
                raise ConfigError(
                    f"{path}: put {{{{ {name} }}}} only inside <{name}> ... </{name}> in a "
                    "user message, never in a system or assistant message"
                )


def _reference(expected: Any) -> str | None:
    if isinstance(expected, Mapping) and "answers" in expected:
        expected = expected["answers"]
    if expected is None or isinstance(expected, str):
        return expected or None
    if isinstance(expected, Sequence):
        answers = [str(a) for a in expected]
        if len(answers) <= 1:
            return answers[0] if answers else None
        return "Any of these answers is correct:\n" + "\n".join(f"- {a}" for a in answers)
    return json.dumps(expected, ensure_ascii=False, default=str)


def _document(index: int, doc: Any) -> str:
    if isinstance(doc, Mapping):
        title = f" (Title: {doc['title']})" if doc.get("title") else ""
        return f"Document [{index}]{title}\n{doc.get('text', '')}"
    return f"Document [{index}]\n{doc}"


def _context(inputs: Mapping[str, Any]) -> str | None:
    docs = inputs.get("documents") or inputs.get("contexts")
    if not docs:
        return None
    if isinstance(docs, str):
        return docs
    return "\n\n".join(_document(i, doc) for i, doc in enumerate(docs, start=1))


def judge_variables(item: ScoreInput) -> dict[str, str]:
    """The judge variables a case has (see the module docstring), delimiters neutralised."""
    question = item.inputs.get("question")
    values = {
        "response": item.output,
        "question": None if question is None else str(question),
        "reference": _reference(item.expected),
        "context": _context(item.inputs),
    }
    return {k: neutralize_delimiters(v) for k, v in values.items() if v is not None}


def render_judge_messages(rubric: Rubric, item: ScoreInput) -> tuple[Message, ...]:
    """Render the judge's messages for one case.

    Raises:
        ConfigError: The case lacks a variable the rubric needs (the message names it).
    """
    values = judge_variables(item)
    if missing := [name for name in rubric.prompt.spec.variables if name not in values]:
        raise ConfigError(
            f"the case has no {', '.join(missing)} for judge rubric {rubric.prompt.ref} "
            "(question: inputs.question, reference: expected, context: inputs.documents)"
        )
    return rubric.prompt.render(values)


def rubric_judge(
    *, provider: Provider, rubric: str, max_parse_retries: int = 2, normalize: bool = True
) -> Scorer:
    """A scorer that asks ``provider`` to grade each output with a rubric prompt.

    Args:
        provider: The judge model; called at temperature 0 with the rubric's JSON schema.
        rubric: Path of a rubric prompt file (``prompts/judges/*.yaml``), relative paths
            from the current directory.
        max_parse_retries: Extra calls after an unparseable or out-of-scale reply; each
            retry shows the judge its reply and what was wrong with it.
        normalize: Map the score to 0..1 (``(score - min) / (max - min)``); the raw score is
            always in ``details["raw_score"]``.

    Returns:
        A scorer named ``judge:<rubric name>``, versioned ``name@version#content_hash@model``
        (``+raw`` appended without ``normalize``, as its values are on another scale).
        Details: ``raw_score``, ``scale``, ``reasoning``, ``flags``, ``attempts``,
        ``judge`` (the model that answered), ``rubric`` and ``cost_usd``. A failed call, a
        reply still unparseable after the retries, or a case missing a variable gives
        ``None`` with the reason, never 0.

    Raises:
        ConfigError: The rubric file is missing or is not a judge rubric;
            ``max_parse_retries`` is negative.
    """
    if max_parse_retries < 0:
        raise ConfigError(f"max_parse_retries must be 0 or more, got {max_parse_retries}")
    loaded = load_rubric(rubric)
    params = loaded.prompt.spec.params.to_generate_params()
    span = loaded.max_score - loaded.min_score
    policy = RetryPolicy()  # transport retries (429, 5xx, timeouts), as the runner's calls get

    async def judge(item: ScoreInput) -> Score:
        details: dict[str, Any] = {"rubric": loaded.version, "judge": provider.ref, "attempts": 0}
        try:
            messages = list(render_judge_messages(loaded, item))
        except ConfigError as exc:
            return Score(None, reason=str(exc), details=details)
        costs: list[float | None] = []
        failure = ""
        for attempt in range(max_parse_retries + 1):
            details["attempts"] = attempt + 1
            try:
                result: CallResult = await call_with_retries(provider, messages, params, policy)
            except ProviderError as exc:
                return Score(None, f"judge call failed ({exc.kind}): {exc}", details)
            details["judge"] = result.answered_by or provider.ref
            costs.append(result.cost_usd)
            details["cost_usd"] = None if None in costs else sum(c or 0.0 for c in costs)
            if result.error is not None:
                error = result.error
                return Score(None, f"judge call failed ({error.kind}): {error.message}", details)
            try:
                verdict = parse_judge_reply(result.text, loaded)
            except JudgeReplyError as exc:
                cut = " (cut off at max_tokens)" if result.finish_reason == "length" else ""
                failure = f"{exc}; last reply{cut}: {result.text[:_REPLY_EXCERPT]!r}"
                messages += retry_messages(result.text, exc, loaded)
                continue
            value = (verdict.score - loaded.min_score) / span if normalize else verdict.score
            details.update(
                raw_score=verdict.score, scale=[loaded.min_score, loaded.max_score],
                reasoning=verdict.reasoning, flags=list(verdict.flags),
            )  # fmt: skip
            return Score(value, verdict.reasoning, details)
        return Score(None, f"unparseable judge reply: {failure}", details)

    # The judge model is part of the version: another judge's scores are not reused.
    version = f"{loaded.version}@{provider.ref}" + ("" if normalize else "+raw")
    return Scorer(name=f"judge:{loaded.prompt.spec.name}", version=version, fn=judge)
