"""Multi-document QA rebuilt from the oracle pool.

The paper's 10/20/30-document files are not available (see
``evals/datasets/lost_in_the_middle/SOURCE.md``). For each question, the distractors are
other questions' gold passages that contain none of its answers, ranked by BM25 against the
question (hard negatives, most relevant first, as the paper's Contriever distractors were),
with ties broken by a seeded permutation. The gold passage is then placed at the requested
position. This is a faithful reconstruction of the setting, not the original files.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from evals.position._data import Document, QAExample
from evals.providers import ConfigError
from evals.scorers import normalize_answer

# Candidates fetched per question beyond the distractors needed, to survive the filtering.
_MARGIN = 24


@dataclass(frozen=True, slots=True)
class MultiDocExample:
    """A question with its ranked distractors.

    Attributes:
        example: The question, answers and gold passage.
        distractors: ``n_documents - 1`` passages without an answer, most relevant first.
    """

    example: QAExample
    distractors: tuple[Document, ...]

    @property
    def n_documents(self) -> int:
        """Documents in the context, gold included."""
        return len(self.distractors) + 1

    def documents(self, gold_position: int) -> tuple[Document, ...]:
        """The context with the gold passage at ``gold_position`` (0-based).

        Raises:
            ConfigError: The position is outside the context.
        """
        if not 0 <= gold_position < self.n_documents:
            raise ConfigError(
                f"gold position {gold_position} is outside a {self.n_documents}-document "
                f"context (positions 0 to {self.n_documents - 1})"
            )
        docs = list(self.distractors)
        docs.insert(gold_position, self.example.gold)
        return tuple(docs)


def _contains_answer(padded_passage: str, answers: Sequence[str]) -> bool:
    """Whether a normalised answer occurs in the passage as whole words.

    Token-level, like the ``hasanswer`` flag of the paper's retrieval data: the answer "S"
    must not rule out every passage that contains the letter s.
    """
    return any(
        (norm := normalize_answer(answer)) and f" {norm} " in padded_passage for answer in answers
    )


def build_multidoc(
    examples: Sequence[QAExample],
    n_documents: int,
    *,
    seed: int = 0,
    only: Collection[int] | None = None,
) -> list[MultiDocExample]:
    """Give every example ``n_documents - 1`` BM25-ranked distractors from the others' golds.

    Args:
        examples: The pool; each example's gold passage is a candidate distractor for the
            others.
        n_documents: Documents per context, gold included (10, 20 and 30 in the paper).
        seed: Seed of the tie-breaking permutation.
        only: Build contexts only for the examples at these positions of ``examples`` (the
            whole pool still supplies the distractors); None for all.

    Raises:
        ConfigError: ``n_documents`` is below 2, or the pool cannot fill a context.
    """
    if n_documents < 2:
        raise ConfigError(f"a multi-document context needs at least 2 documents, not {n_documents}")
    pool = [ex.gold for ex in examples]
    normalized = [f" {normalize_answer(f'{doc.title} {doc.text}')} " for doc in pool]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([f"{d.title} {d.text}" for d in pool], stopwords="en", show_progress=False),
        show_progress=False,
    )
    rows = sorted(set(only)) if only is not None else list(range(len(examples)))
    queries = bm25s.tokenize(
        [examples[row].question for row in rows], stopwords="en", show_progress=False
    )
    tiebreak = np.array(random.Random(seed).sample(range(len(pool)), len(pool)))
    wanted = n_documents - 1
    k = min(len(pool), wanted + _MARGIN)
    built: list[MultiDocExample] = []
    ids, scores = retriever.retrieve(queries, k=k, show_progress=False, n_threads=1)
    for i, row in enumerate(rows):
        example = examples[row]
        chosen = _pick(row, example, ids[i], scores[i], pool, normalized, tiebreak, wanted)
        if chosen is None and k < len(pool):  # rare: too many filtered; rank the whole pool
            single = bm25s.tokenize([example.question], stopwords="en", show_progress=False)
            all_ids, all_scores = retriever.retrieve(single, k=len(pool), show_progress=False)
            chosen = _pick(
                row, example, all_ids[0], all_scores[0], pool, normalized, tiebreak, wanted
            )
        if chosen is None:
            raise ConfigError(
                f"the pool of {len(pool)} passages cannot fill {n_documents} documents for "
                f"question {example.index} ({example.question!r}): too few passages without "
                "its answers"
            )
        built.append(MultiDocExample(example, tuple(pool[i] for i in chosen)))
    return built


def _pick(
    row: int,
    example: QAExample,
    candidate_ids: np.ndarray,
    candidate_scores: np.ndarray,
    pool: Sequence[Document],
    normalized: Sequence[str],
    tiebreak: np.ndarray,
    wanted: int,
) -> list[int] | None:
    """The first ``wanted`` candidates by (score desc, seeded tiebreak) that qualify."""
    ids = np.asarray(candidate_ids)
    scores = np.asarray(candidate_scores)
    order = sorted(range(len(ids)), key=lambda j: (-float(scores[j]), int(tiebreak[ids[j]])))
    chosen: list[int] = []
    seen_texts = {example.gold.text}
    for j in order:
        index = int(ids[j])
        doc = pool[index]
        if index == row or doc.text in seen_texts:
            continue
        if _contains_answer(normalized[index], example.answers):
            continue
        seen_texts.add(doc.text)
        chosen.append(index)
        if len(chosen) == wanted:
            return chosen
    return None
