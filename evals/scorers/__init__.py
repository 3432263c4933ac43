"""Scorers: small versioned factories that turn an output into a :class:`Score`.

Deterministic scorers are plain functions; scorers that call a model (judges, ragas' LLM
metrics) are coroutine functions and take the provider they call as ``provider=``. Suites
name a scorer and its options; :func:`get_scorer` builds it.
"""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from evals.providers import ConfigError, Provider
from evals.scorers._json import json_schema, json_valid
from evals.scorers._judge import Rubric, load_rubric, render_judge_messages, rubric_judge
from evals.scorers._judge_reply import (
    JudgeReplyError,
    JudgeVerdict,
    parse_judge_reply,
    retry_messages,
)
from evals.scorers._match import (
    best_subspan_em,
    best_subspan_match,
    exact_match,
    includes,
    normalize_answer,
)
from evals.scorers._ragas_llm import answer_relevancy, faithfulness, llm_context_precision
from evals.scorers._ragas_text import (
    bleu,
    context_precision,
    context_recall,
    rouge,
    string_similarity,
)
from evals.scorers._text import contains, normalized_match, regex
from evals.scorers._types import Score, ScoreInput, Scorer

SCORERS: dict[str, Callable[..., Scorer]] = {
    # deterministic
    "best_subspan_em": best_subspan_match,
    "exact_match": exact_match,
    "normalized_match": normalized_match,
    "includes": includes,
    "contains": contains,
    "regex": regex,
    "json_valid": json_valid,
    "json_schema": json_schema,
    # ragas' non-LLM metrics
    "rouge": rouge,
    "bleu": bleu,
    "string_similarity": string_similarity,
    "context_recall": context_recall,
    "context_precision": context_precision,
    # model-graded: the rubric judge and ragas' LLM metrics, through evalmon's providers
    "judge": rubric_judge,
    "faithfulness": faithfulness,
    "answer_relevancy": answer_relevancy,
    "llm_context_precision": llm_context_precision,
}


def needs_model(name: str) -> bool:
    """Whether scorer ``name`` calls a model (its factory takes ``provider=``)."""
    factory = SCORERS.get(name)
    return factory is not None and "provider" in inspect.signature(factory).parameters


def get_scorer(
    name: str, options: Mapping[str, Any] | None = None, *, provider: Provider | None = None
) -> Scorer:
    """Build the scorer called ``name`` with its options.

    Args:
        name: A key of :data:`SCORERS`.
        options: Keyword options of the scorer's factory.
        provider: The model an LLM scorer calls (required for those, ignored otherwise).

    Raises:
        ConfigError: Unknown name (the message lists the known ones), unknown or bad options,
            or an LLM scorer without a provider.
    """
    factory = SCORERS.get(name)
    if factory is None:
        raise ConfigError(f"unknown scorer {name!r}; known scorers: {', '.join(sorted(SCORERS))}")
    kwargs = dict(options or {})
    if needs_model(name):
        if provider is None:
            raise ConfigError(f"scorer {name!r} calls a model; give it one with the model option")
        kwargs["provider"] = provider
    parameters = inspect.signature(factory).parameters
    if unknown := sorted(set(kwargs) - set(parameters)):
        known = ", ".join(p for p in parameters if p != "provider") or "none"
        raise ConfigError(
            f"scorer {name!r} has no option {', '.join(unknown)}; its options: {known}"
        )
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scorer {name!r}: {exc}") from None


__all__ = [
    "SCORERS",
    "JudgeReplyError",
    "JudgeVerdict",
    "Rubric",
    "Score",
    "ScoreInput",
    "Scorer",
    "best_subspan_em",
    "best_subspan_match",
    "exact_match",
    "get_scorer",
    "includes",
    "load_rubric",
    "needs_model",
    "normalize_answer",
    "parse_judge_reply",
    "render_judge_messages",
    "retry_messages",
    "rubric_judge",
]
