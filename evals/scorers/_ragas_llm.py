"""ragas' LLM metrics (faithfulness, answer relevancy, context precision) on evalmon's providers.

Each factory wraps a ``ragas.metrics.collections`` metric whose model calls go through
evalmon's :class:`Provider` (see :mod:`evals.scorers._ragas_adapters`), so retries, cost
accounting, the local model and fallback chains apply. A case is read as: question =
``inputs["question"]``, response = the output, retrieved contexts = ``inputs["contexts"]``
(strings) or the ``text`` of ``inputs["documents"]`` (``{title, text}``), reference =
``expected`` (a string, or the first of a list or of ``{"answers": [...]}``). Missing data, a
failed call or a reply that is not the JSON ragas asked for leave the case unscored (``None``
with a reason), never 0. ``Score.details`` counts the case's model calls, tokens and cost.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from evals.providers import ConfigError, Provider, ProviderError, RetryPolicy
from evals.scorers._ragas_adapters import (
    OpenAIEmbedder,
    ProviderLLM,
    ReplyParseError,
    Usage,
    embedding_endpoint,
    load_ragas,
)
from evals.scorers._types import Score, ScoreInput, Scorer

if TYPE_CHECKING:
    from ragas.metrics.result import MetricResult

    _Ascore = Callable[..., Awaitable[MetricResult]]


def _question(item: ScoreInput) -> str | None:
    question = item.inputs.get("question")
    return question if isinstance(question, str) and question.strip() else None


def _response(item: ScoreInput) -> str | None:
    return item.output if item.output.strip() else None


def _contexts(item: ScoreInput) -> list[str] | None:
    found = item.inputs.get("contexts")
    if not isinstance(found, list | tuple):
        found = item.inputs.get("documents")
    if not isinstance(found, list | tuple):
        return None
    texts = [str(d.get("text") or "") if isinstance(d, Mapping) else str(d) for d in found]
    return [text for text in texts if text.strip()] or None


def _reference(item: ScoreInput) -> str | None:
    expected = item.expected
    if isinstance(expected, Mapping):
        expected = expected.get("answers")
    if isinstance(expected, list | tuple):
        expected = expected[0] if expected else None
    return expected if isinstance(expected, str) and expected.strip() else None


# Case field -> (reader, ragas' argument name, reason when missing).
_FIELDS: dict[str, tuple[Callable[[ScoreInput], Any], str, str]] = {
    "question": (_question, "user_input", "no question: the case needs inputs.question"),
    "response": (_response, "response", "empty output: there is nothing to score"),
    "contexts": (
        _contexts,
        "retrieved_contexts",
        "no retrieved contexts: the case needs inputs.contexts (a list of strings) "
        "or inputs.documents (a list of {title, text})",
    ),
    "reference": (
        _reference,
        "reference",
        "no reference: the case needs expected (the reference answer)",
    ),
}


def _ragas_scorer(
    name: str,
    fields: tuple[str, ...],
    build: Callable[[ProviderLLM, Usage], _Ascore],
    *,
    provider: Provider,
    max_tokens: int,
    retry: RetryPolicy | None,
    unscored: Callable[[ProviderLLM], str | None],
    embeddings: str = "",
) -> Scorer:
    """A scorer that runs a ragas metric (``build`` returns its ``ascore``) on each case.

    ``unscored`` looks at the model's parsed replies and says why the case has no score, when
    ragas' number would hide a failure (no statements extracted, no question generated).
    """
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be an evals.providers.RetryPolicy, not {retry!r}")
    ragas_version = load_ragas()
    policy = retry or RetryPolicy()

    async def score(item: ScoreInput) -> Score:
        args: dict[str, Any] = {}
        for key in fields:
            read, ragas_arg, missing = _FIELDS[key]
            if (value := read(item)) is None:
                return Score(None, reason=f"{name}: {missing}")
            args[ragas_arg] = value
        usage = Usage()
        llm = ProviderLLM(provider, max_tokens=max_tokens, retry=policy, usage=usage)
        try:
            result = await build(llm, usage)(**args)
        except ProviderError as exc:
            reason = f"{name}: a model call failed ({exc.kind}): {exc}"
            return Score(None, reason=reason, details=usage.details())
        except ReplyParseError as exc:
            reason = f"{name}: {exc}; a stronger judge model may follow the schema"
            return Score(None, reason=reason, details=usage.details())
        value = float(result.value)
        if (why := unscored(llm)) is not None or math.isnan(value):
            reason = f"{name}: {why or 'ragas returned no score (NaN)'}"
            return Score(None, reason=reason, details=usage.details())
        return Score(value, details=usage.details())

    # The judge (and embeddings) model is part of the version, as for rubric judges: scores
    # from another model are not compared with these.
    version = f"1+ragas{ragas_version}@{provider.ref}" + (f"+{embeddings}" if embeddings else "")
    return Scorer(name=name, version=version, fn=score)


def _no_statements(llm: ProviderLLM) -> str | None:
    found = [getattr(reply, "statements", None) for reply in llm.replies]
    if not found or not found[0]:
        return "the model extracted no statements from the output"
    if len(found) > 1 and not found[1]:
        return "the model gave no verdicts on the output's statements"
    return None


def _no_question(llm: ProviderLLM) -> str | None:
    if any(getattr(reply, "question", "") for reply in llm.replies):
        return None
    return "the model generated no question from the output"


def faithfulness(
    *, provider: Provider, max_tokens: int = 1024, retry: RetryPolicy | None = None
) -> Scorer:
    """Ragas' faithfulness: the share of the output's statements the contexts support.

    Two model calls per case: statement extraction, then NLI verdicts on the statements.

    Args:
        provider: The judge model.
        max_tokens: Output budget per call.
        retry: Retry policy per call (evalmon's default when None).

    Returns:
        A scorer named ``faithfulness`` (0..1) that needs ``inputs.question``, the output and
        ``inputs.contexts`` or ``inputs.documents``.
    """
    load_ragas()
    from ragas.metrics.collections import Faithfulness

    return _ragas_scorer(
        "faithfulness", ("question", "response", "contexts"),
        lambda llm, usage: Faithfulness(llm=llm).ascore,  # type: ignore[arg-type]
        provider=provider, max_tokens=max_tokens, retry=retry, unscored=_no_statements,
    )  # fmt: skip


def answer_relevancy(
    *,
    provider: Provider,
    embedding_model: str | None = None,
    strictness: int = 1,
    max_tokens: int = 1024,
    retry: RetryPolicy | None = None,
) -> Scorer:
    """Ragas' answer relevancy: how close questions generated from the output are to the question.

    ``strictness`` model calls each generate a question the output answers; the score is the
    mean cosine similarity of their embeddings with the question's, and 0 when every call
    finds the output noncommittal ("I don't know").

    Args:
        provider: The judge model.
        embedding_model: Embeddings model, ``openai:MODEL`` or ``openai-compatible:NAME@URL``;
            by default the provider itself when it is OpenAI-compatible.
        strictness: Questions generated per case (ragas defaults to 3, which at temperature 0
            repeats one call).
        max_tokens: Output budget per call.
        retry: Retry policy per call (evalmon's default when None).

    Returns:
        A scorer named ``answer_relevancy`` that needs ``inputs.question`` and the output.

    Raises:
        ConfigError: No embeddings model can be used (the message says which option to set),
            or ``strictness`` is below 1.
    """
    if strictness < 1:
        raise ConfigError(f"answer_relevancy: set strictness to 1 or more, not {strictness}")
    endpoint = embedding_endpoint(provider, embedding_model)
    load_ragas()
    from ragas.metrics.collections import AnswerRelevancy

    return _ragas_scorer(
        "answer_relevancy", ("question", "response"),
        lambda llm, usage: AnswerRelevancy(
            llm=llm, embeddings=OpenAIEmbedder(endpoint, usage),  # type: ignore[arg-type]
            strictness=strictness,
        ).ascore,
        provider=provider, max_tokens=max_tokens, retry=retry, unscored=_no_question,
        embeddings=endpoint.ref,
    )  # fmt: skip


def llm_context_precision(
    *, provider: Provider, max_tokens: int = 1024, retry: RetryPolicy | None = None
) -> Scorer:
    """Ragas' context precision with a reference: average precision of the useful contexts.

    One model call per retrieved context asks whether it helps reach the reference answer;
    order matters (useful contexts ranked first score higher).

    Args:
        provider: The judge model.
        max_tokens: Output budget per call.
        retry: Retry policy per call (evalmon's default when None).

    Returns:
        A scorer named ``llm_context_precision`` (0..1) that needs ``inputs.question``,
        ``expected`` and ``inputs.contexts`` or ``inputs.documents``.
    """
    load_ragas()
    from ragas.metrics.collections import ContextPrecision

    return _ragas_scorer(
        "llm_context_precision", ("question", "reference", "contexts"),
        lambda llm, usage: ContextPrecision(llm=llm).ascore,  # type: ignore[arg-type]
        provider=provider, max_tokens=max_tokens, retry=retry, unscored=lambda llm: None,
    )  # fmt: skip
