"""ragas' non-LLM metrics: ROUGE, BLEU, string similarity, context recall and precision.

Expected values are computed by hand in the comments. The first test to build a scorer pays
for importing ragas (a few seconds).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from evals.providers import ConfigError
from evals.scorers._ragas_text import (
    bleu,
    context_precision,
    context_recall,
    rouge,
    string_similarity,
)
from evals.scorers._types import ScoreInput, Scorer

PARIS = "Paris is the capital and largest city of France."
EVEREST = "Mount Everest is Earth's highest mountain above sea level."
NILE = "The Nile is a major north-flowing river in northeastern Africa."


async def value(
    scorer: Scorer,
    output: str = "",
    expected: Any = None,
    inputs: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> float | None:
    score = await scorer.ascore(ScoreInput(output, expected, inputs or {}, metadata or {}))
    return score.value


# --- ROUGE ---------------------------------------------------------------------------------


async def test_rouge_identical_and_disjoint() -> None:
    scorer = rouge()
    assert (scorer.name, scorer.version, scorer.is_async) == ("rouge", "1", True)
    assert await value(scorer, "the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert await value(scorer, "dogs bark loudly", "the cat sat on the mat") == 0.0


@pytest.mark.parametrize(
    ("mode", "expected_value"),
    [
        # reference: red green blue yellow (4 words); output: red blue black (3 words).
        # LCS = "red blue" (2): precision 2/3, recall 2/4, F = 2PR/(P+R) = 4/7.
        ("precision", 2 / 3),
        ("recall", 1 / 2),
        ("fmeasure", 4 / 7),
    ],
)
async def test_rouge_l_partial_overlap(mode: Any, expected_value: float) -> None:
    scorer = rouge(rouge_type="rougeL", mode=mode)
    got = await value(scorer, "red blue black", "red green blue yellow")
    assert got == pytest.approx(expected_value, abs=1e-9)


async def test_rouge1_ignores_order_rouge_l_does_not() -> None:
    # Same words, reversed: every unigram matches, but the longest common subsequence is 1/3.
    assert await value(rouge(rouge_type="rouge1"), "blue green red", "red green blue") == 1.0
    got = await value(rouge(rouge_type="rougeL"), "blue green red", "red green blue")
    assert got == pytest.approx(1 / 3, abs=1e-9)


async def test_rouge_stems_words() -> None:
    assert await value(rouge(rouge_type="rouge1"), "cats running", "cat run") == 1.0


async def test_rouge_reference_is_the_first_answer() -> None:
    scorer = rouge()
    assert await value(scorer, "red green", ["red green", "other"]) == 1.0
    assert await value(scorer, "red green", {"answers": ["red green"]}) == 1.0
    assert await value(scorer, "red green", ["other", "red green"]) == 0.0


# --- BLEU ----------------------------------------------------------------------------------


async def test_bleu_values() -> None:
    scorer = bleu()
    assert scorer.name == "bleu"
    assert await value(scorer, "the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert await value(scorer, "dogs bark loudly", "the cat sat on the mat") == 0.0
    # 1- to 4-gram precisions 5/6, 3/5, 2/4, 1/3, same length (no brevity penalty):
    # BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = (1/12) ** 0.25.
    got = await value(scorer, "the cat sat on a mat", "the cat sat on the mat")
    assert got == pytest.approx((1 / 12) ** 0.25, abs=1e-9)


async def test_bleu_of_fewer_than_four_words_is_zero_even_when_equal() -> None:
    # No 4-grams, so sacreBLEU's 4-gram precision is 0 (documented in bleu()).
    assert await value(bleu(), "Paris", "Paris") == 0.0
    assert await value(bleu(), "a b c d", "a b c d") == 1.0


# --- string similarity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance", "output", "reference", "expected_value"),
    [
        ("levenshtein", "sitting", "kitten", 1 - 3 / 7),  # 3 edits over the longer length 7
        ("levenshtein", "same", "same", 1.0),
        ("hamming", "abxd", "abcd", 0.75),  # 1 of 4 positions differs
        ("hamming", "ab", "abcd", 0.5),  # the shorter string is padded
        ("jaro", "MARHTA", "MARTHA", (1 + 1 + (6 - 1) / 6) / 3),  # 6 matches, 1 transposition
        ("jaro_winkler", "MARHTA", "MARTHA", 17 / 18 + 3 * 0.1 * (1 - 17 / 18)),  # prefix "MAR"
    ],
)
async def test_string_similarity(
    distance: Any, output: str, reference: str, expected_value: float
) -> None:
    scorer = string_similarity(distance=distance)
    assert await value(scorer, output, reference) == pytest.approx(expected_value, abs=1e-9)


# --- context recall and precision ----------------------------------------------------------


async def test_context_recall() -> None:
    scorer = context_recall()
    assert (scorer.name, scorer.is_async) == ("context_recall", True)
    refs = {"reference_contexts": [PARIS]}
    assert await value(scorer, inputs={"contexts": [NILE, PARIS]}, metadata=refs) == 1.0
    assert await value(scorer, inputs={"contexts": [NILE, EVEREST]}, metadata=refs) == 0.0
    both = {"reference_contexts": [PARIS, EVEREST]}
    assert await value(scorer, inputs={"contexts": [PARIS, NILE]}, metadata=both) == 0.5


async def test_context_recall_tolerates_small_edits() -> None:
    # Levenshtein similarity above 0.5 counts as found: one changed word still matches.
    nearly = PARIS.replace("largest", "biggest")
    got = await value(
        context_recall(), inputs={"contexts": [nearly]}, metadata={"reference_contexts": [PARIS]}
    )
    assert got == 1.0


async def test_context_recall_reads_documents_text() -> None:
    documents = [{"title": "Nile", "text": NILE}, {"title": "Paris", "text": PARIS}]
    got = await value(
        context_recall(), inputs={"documents": documents}, metadata={"reference_contexts": [PARIS]}
    )
    assert got == 1.0


async def test_context_recall_prefers_contexts_over_documents() -> None:
    inputs = {"contexts": [NILE], "documents": [{"title": "Paris", "text": PARIS}]}
    got = await value(context_recall(), inputs=inputs, metadata={"reference_contexts": [PARIS]})
    assert got == 0.0


@pytest.mark.parametrize(
    ("retrieved", "expected_value"),
    [
        ([PARIS, NILE], 1.0),  # the relevant context ranked first
        ([NILE, PARIS], 0.5),  # average precision: precision@2 = 1/2, one relevant context
        ([NILE, EVEREST, PARIS], 1 / 3),
        ([NILE, EVEREST], 0.0),
    ],
)
async def test_context_precision_is_average_precision(
    retrieved: list[str], expected_value: float
) -> None:
    scorer = context_precision()
    assert scorer.name == "context_precision"
    got = await value(
        scorer, inputs={"contexts": retrieved}, metadata={"reference_contexts": [PARIS]}
    )
    # Exact once rounded to 9 places: ragas' 1e-10 smoothing (0.49999999995) is gone.
    assert got == round(expected_value, 9)


async def test_empty_retrieval_recalls_nothing_and_has_no_precision() -> None:
    refs = {"reference_contexts": [PARIS]}
    recall = await context_recall().ascore(ScoreInput("", None, {"contexts": []}, refs))
    assert (recall.value, recall.reason) == (0.0, "no contexts were retrieved")
    precision = await context_precision().ascore(ScoreInput("", None, {"contexts": []}, refs))
    assert precision.value is None
    assert "no contexts were retrieved" in precision.reason


# --- unscored cases and bad options --------------------------------------------------------


@pytest.mark.parametrize("factory", [rouge, bleu, string_similarity])
@pytest.mark.parametrize("expected", [None, "", "  ", [], {"answers": []}, 42])
async def test_no_reference_is_unscored(factory: Any, expected: Any) -> None:
    score = await factory().ascore(ScoreInput("some output", expected))
    assert score.value is None
    assert "give the case an expected answer" in score.reason


@pytest.mark.parametrize("factory", [context_recall, context_precision])
@pytest.mark.parametrize(
    ("inputs", "metadata", "reason"),
    [
        ({}, {"reference_contexts": [PARIS]}, "give the case inputs.contexts"),
        ({"contexts": PARIS}, {"reference_contexts": [PARIS]}, "must be a list of strings"),
        ({"documents": [{"title": "x"}]}, {"reference_contexts": [PARIS]}, "needs a text"),
        ({"contexts": [PARIS]}, {}, "add metadata.reference_contexts"),
        ({"contexts": [PARIS]}, {"reference_contexts": []}, "add metadata.reference_contexts"),
        ({"contexts": [PARIS]}, {"reference_contexts": PARIS}, "add metadata.reference_contexts"),
    ],
)
async def test_missing_context_data_is_unscored(
    factory: Any, inputs: dict[str, Any], metadata: dict[str, Any], reason: str
) -> None:
    score = await factory().ascore(ScoreInput("", None, inputs, metadata))
    assert score.value is None
    assert reason in score.reason


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: rouge(rouge_type="rouge2"),  # type: ignore[arg-type]
            "rouge_type 'rouge2' is not one of rouge1, rougeL",
        ),
        (
            lambda: rouge(mode="f1"),  # type: ignore[arg-type]
            "mode 'f1' is not one of fmeasure, precision, recall",
        ),
        (
            lambda: string_similarity(distance="cosine"),  # type: ignore[arg-type]
            "distance 'cosine' is not one of",
        ),
    ],
)
def test_bad_options_are_config_errors(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_missing_ragas_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ragas.metrics.collections", None)
    with pytest.raises(ConfigError, match=r"scorer 'rouge' needs ragas.*uv sync"):
        rouge()


@pytest.mark.filterwarnings("error")
async def test_no_warnings_when_building_and_scoring() -> None:
    refs = {"reference_contexts": [PARIS]}
    for scorer in (rouge(), bleu(), string_similarity()):
        assert await value(scorer, "one two three four", "one two three four") == 1.0
    for scorer in (context_recall(), context_precision()):
        assert await value(scorer, inputs={"contexts": [PARIS]}, metadata=refs) == 1.0


def test_importing_the_module_does_not_import_ragas() -> None:
    code = "import sys, evals.scorers._ragas_text; sys.exit('ragas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
