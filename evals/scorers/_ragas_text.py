"""ragas' metrics that need no model: ROUGE, BLEU, string similarity, context recall/precision.

Where each case's data comes from:

* **reference** (``rouge``, ``bleu``, ``string_similarity``): the case's ``expected`` - a
  string, or the first of a list of answers (``{"answers": [...]}`` too).
* **retrieved contexts** (``context_recall``, ``context_precision``): ``inputs["contexts"]``
  (a list of strings), or else ``inputs["documents"]`` (a list of ``{title, text}`` objects,
  each taken as its ``text``; plain strings are taken as they are).
* **reference contexts**: ``metadata["reference_contexts"]`` (a list of strings).

A case without the data a metric needs is unscored (``None``) with a reason naming the field
to add. An empty retrieval recalls nothing (context recall 0) and has no precision (``None``).

ragas 0.4.3 is used as follows. ROUGE, BLEU and string similarity come from
``ragas.metrics.collections`` (``RougeScore``, ``BleuScore``, ``NonLLMStringSimilarity``),
whose ``ascore`` is a coroutine. The context metrics exist only in ragas' older
``SingleTurnSample`` API (``NonLLMContextRecall``, ``NonLLMContextPrecisionWithReference``):
``ragas.metrics.collections`` has LLM versions only, and ``from ragas.metrics import ...``
raises a DeprecationWarning that points to collections, so they are imported from their
defining modules (stable, as ragas is pinned). Both count a retrieved context as matching a
reference context when their Levenshtein similarity (1 - normalised edit distance) is above
0.5 (recall) or at least 0.5 (precision); precision is ragas' average precision, so rank
matters. Nothing here calls a model, downloads data or uses tiktoken; ROUGE stems with NLTK's
Porter stemmer, which needs no NLTK data. Scores are rounded to 9 decimal places, which drops
float noise such as BLEU's 1.0000000000000004 and context precision's 1e-10 smoothing.

ragas is imported by the factories, not by this module: it takes seconds to import. Its
usage tracking is turned off (``RAGAS_DO_NOT_TRACK``) unless the environment says otherwise.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, get_args

from evals.providers import ConfigError
from evals.scorers._types import Score, ScoreInput, Scorer

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

RougeType = Literal["rouge1", "rougeL"]
RougeMode = Literal["fmeasure", "precision", "recall"]
Distance = Literal["levenshtein", "hamming", "jaro", "jaro_winkler"]

_INSTALL_HINT = "needs ragas, a project dependency: run `uv sync` (or `pip install ragas==0.4.3`)"
_NO_REFERENCE = "no reference: give the case an expected answer (a string or a list of answers)"
_NO_RETRIEVED = (
    "no retrieved contexts: give the case inputs.contexts (a list of strings) or "
    "inputs.documents (a list of {title, text})"
)
_NO_REFERENCE_CONTEXTS = "no reference contexts: add metadata.reference_contexts (list of strings)"


class _TextMetric(Protocol):
    async def ascore(self, reference: str, response: str) -> Any: ...


class _SampleMetric(Protocol):
    async def single_turn_ascore(self, sample: Any) -> float: ...


def _check(option: str, value: str, allowed: tuple[str, ...], scorer: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{scorer}: {option} {value!r} is not one of {', '.join(allowed)}")


def _missing_ragas(scorer: str, exc: ImportError) -> ConfigError:
    return ConfigError(f"scorer {scorer!r} {_INSTALL_HINT} ({exc})")


def _value(raw: Any, what: str) -> Score:
    """A :class:`Score` of a ragas result, ``None`` when ragas gave NaN."""
    value = float(raw)
    if math.isnan(value):
        return Score(value=None, reason=f"ragas returned NaN for {what}")
    return Score(value=round(value, 9))


def _reference(expected: Any) -> str | None:
    """The reference text of ``expected``; None when it has none."""
    if isinstance(expected, Mapping) and "answers" in expected:
        return _reference(expected["answers"])
    if isinstance(expected, Sequence) and not isinstance(expected, str) and expected:
        expected = expected[0]
    if isinstance(expected, str) and expected.strip():
        return expected
    return None


def _strings(value: Any) -> list[str] | None:
    """``value`` as a list of strings, or None when it is not one."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return None
    return list(value) if all(isinstance(v, str) for v in value) else None


def _document_text(doc: Any) -> str | None:
    if isinstance(doc, Mapping):
        doc = doc.get("text")
    return doc if isinstance(doc, str) else None


def _retrieved(inputs: Mapping[str, Any]) -> list[str] | str:
    """The retrieved contexts, or the reason they are missing."""
    if "contexts" in inputs:
        contexts = _strings(inputs["contexts"])
        return "inputs.contexts must be a list of strings" if contexts is None else contexts
    documents = inputs.get("documents")
    if documents is None:
        return _NO_RETRIEVED
    if not isinstance(documents, Sequence) or isinstance(documents, str):
        return "inputs.documents must be a list of {title, text} objects"
    texts = [_document_text(doc) for doc in documents]
    if any(text is None for text in texts):
        return "every item of inputs.documents needs a text (a string)"
    return [text for text in texts if text is not None]


def _text_scorer(name: str, metric: _TextMetric) -> Scorer:
    async def score(item: ScoreInput) -> Score:
        reference = _reference(item.expected)
        if reference is None:
            return Score(value=None, reason=_NO_REFERENCE)
        result = await metric.ascore(reference=reference, response=item.output)
        return _value(result.value, name)

    return Scorer(name=name, version="1", fn=score)


def rouge(*, rouge_type: RougeType = "rougeL", mode: RougeMode = "fmeasure") -> Scorer:
    """ROUGE of the output against the reference (ragas ``RougeScore``; Porter-stemmed words).

    Args:
        rouge_type: ``rouge1`` (word overlap) or ``rougeL`` (longest common subsequence).
        mode: ``fmeasure``, ``precision`` (share of the output's words) or ``recall`` (share
            of the reference's words).

    Returns:
        A scorer named ``rouge`` (0..1).

    Raises:
        ConfigError: An unknown ``rouge_type`` or ``mode``, or ragas is not installed.
    """
    _check("rouge_type", rouge_type, get_args(RougeType), "rouge")
    _check("mode", mode, get_args(RougeMode), "rouge")
    try:
        from ragas.metrics.collections import RougeScore
    except ImportError as exc:
        raise _missing_ragas("rouge", exc) from None
    return _text_scorer("rouge", RougeScore(rouge_type=rouge_type, mode=mode))


def bleu() -> Scorer:
    """BLEU of the output against the reference (ragas ``BleuScore``: sacreBLEU, 0..1).

    As in ragas, both texts are split into sentences at ``". "`` before sacreBLEU's corpus
    BLEU over 1- to 4-grams. An output under four words therefore scores 0 even when it
    equals the reference (it has no 4-grams): use another scorer for short answers.

    Returns:
        A scorer named ``bleu``.

    Raises:
        ConfigError: ragas is not installed.
    """
    try:
        from ragas.metrics.collections import BleuScore
    except ImportError as exc:
        raise _missing_ragas("bleu", exc) from None
    return _text_scorer("bleu", BleuScore())


def string_similarity(*, distance: Distance = "levenshtein") -> Scorer:
    """One minus the normalised distance between output and reference (rapidfuzz via ragas).

    Args:
        distance: ``levenshtein``, ``hamming`` (strings of unequal length are padded),
            ``jaro`` or ``jaro_winkler``.

    Returns:
        A scorer named ``string_similarity`` (1 for identical strings).

    Raises:
        ConfigError: An unknown ``distance``, or ragas is not installed.
    """
    _check("distance", distance, get_args(Distance), "string_similarity")
    try:
        from ragas.metrics.collections import DistanceMeasure, NonLLMStringSimilarity
    except ImportError as exc:
        raise _missing_ragas("string_similarity", exc) from None
    metric = NonLLMStringSimilarity(distance_measure=DistanceMeasure(distance))
    return _text_scorer("string_similarity", metric)


def _context_scorer(name: str, metric: _SampleMetric, sample_cls: Any, recall: bool) -> Scorer:
    async def score(item: ScoreInput) -> Score:
        retrieved = _retrieved(item.inputs)
        if isinstance(retrieved, str):
            return Score(value=None, reason=retrieved)
        references = _strings(item.metadata.get("reference_contexts"))
        if not references:
            return Score(value=None, reason=_NO_REFERENCE_CONTEXTS)
        if not retrieved:
            if recall:
                return Score(value=0.0, reason="no contexts were retrieved")
            return Score(value=None, reason="no contexts were retrieved, so no precision")
        sample = sample_cls(retrieved_contexts=retrieved, reference_contexts=references)
        return _value(await metric.single_turn_ascore(sample), name)

    return Scorer(name=name, version="1", fn=score)


def context_recall() -> Scorer:
    """Share of reference contexts found among the retrieved ones (ragas ``NonLLMContextRecall``).

    Returns:
        A scorer named ``context_recall`` (0..1).

    Raises:
        ConfigError: ragas is not installed.
    """
    try:
        from ragas.dataset_schema import SingleTurnSample
        from ragas.metrics._context_recall import NonLLMContextRecall
    except ImportError as exc:
        raise _missing_ragas("context_recall", exc) from None
    return _context_scorer("context_recall", NonLLMContextRecall(), SingleTurnSample, True)


def context_precision() -> Scorer:
    """Average precision of the retrieved contexts (ragas ``NonLLMContextPrecisionWithReference``).

    A retrieved context is relevant when it matches a reference context; relevant contexts
    ranked first score higher.

    Returns:
        A scorer named ``context_precision`` (0..1).

    Raises:
        ConfigError: ragas is not installed.
    """
    try:
        from ragas.dataset_schema import SingleTurnSample
        from ragas.metrics._context_precision import NonLLMContextPrecisionWithReference
    except ImportError as exc:
        raise _missing_ragas("context_precision", exc) from None
    metric = NonLLMContextPrecisionWithReference()
    return _context_scorer("context_precision", metric, SingleTurnSample, False)
