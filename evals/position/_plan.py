"""Which prompts a position-benchmark run asks: tasks, positions, baselines and mitigations."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import bm25s
from pydantic import BaseModel, ConfigDict, Field

from evals.position._data import Document, QAExample, load_kv, load_nq_oracle
from evals.position._prompts import closedbook_prompt, kv_prompt, qa_prompt
from evals.position._reconstruct import MultiDocExample, build_multidoc
from evals.providers import ConfigError

# The paper's positions per context size (0-based index of the gold document or key).
PAPER_POSITIONS: dict[int, tuple[int, ...]] = {
    10: (0, 4, 9),
    20: (0, 4, 9, 14, 19),
    30: (0, 4, 9, 14, 19, 24, 29),
    75: (0, 24, 49, 74),
    140: (0, 34, 69, 104, 139),
}

Strategy = Literal["original", "query_aware", "strategic_order", "top_k"]
Setting = Literal["position", "closedbook", "oracle", "reordered"]
_ORIGINAL: list[Strategy] = ["original"]


class PositionConfig(BaseModel):
    """One position-benchmark run.

    Attributes:
        task: ``qa`` (multi-document question answering) or ``kv`` (key-value retrieval).
        n_documents: Documents per QA context (the paper: 10, 20, 30).
        n_keys: Key-value pairs per KV context (75 or 140).
        positions: ``paper`` (the paper's), ``all``, or a list of 0-based indices.
        strategies: ``original``; ``query_aware`` (question before and after the context);
            ``strategic_order`` (a reranker's most relevant document first, second-most
            last); ``top_k`` (only the reranker's ``top_k`` documents). QA only except
            ``original`` and ``query_aware``.
        top_k: Documents kept by the ``top_k`` strategy.
        baselines: Also ask closed-book (no documents) and oracle (gold only) prompts (QA).
        limit: Use this many examples, chosen with ``seed`` (None: all).
        seed: Seed of the example choice and of the distractors' tie-breaking.
    """

    model_config = ConfigDict(extra="forbid")

    task: Literal["qa", "kv"] = "qa"
    n_documents: int = Field(default=20, ge=2, le=200)
    n_keys: Literal[75, 140] = 140
    positions: Literal["paper", "all"] | list[int] = "paper"
    strategies: list[Strategy] = Field(default_factory=lambda: list(_ORIGINAL), min_length=1)
    top_k: int = Field(default=5, ge=1)
    baselines: bool = True
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0

    @property
    def context_size(self) -> int:
        """Documents (QA) or keys (KV) per context."""
        return self.n_documents if self.task == "qa" else self.n_keys

    def resolved_positions(self) -> tuple[int, ...]:
        """The gold positions to ask.

        Raises:
            ConfigError: A position outside the context, or no paper positions for this size.
        """
        size = self.context_size
        if self.positions == "all":
            return tuple(range(size))
        if self.positions == "paper":
            if size not in PAPER_POSITIONS:
                known = ", ".join(str(n) for n in PAPER_POSITIONS)
                raise ConfigError(f"the paper has no positions for {size}; sizes: {known}")
            return PAPER_POSITIONS[size]
        bad = [p for p in self.positions if not 0 <= p < size]
        if bad:
            raise ConfigError(f"positions {bad} are outside a context of {size} (0 to {size - 1})")
        return tuple(sorted(set(self.positions)))


@dataclass(frozen=True, slots=True)
class PositionPrompt:
    """One prompt of the benchmark.

    Attributes:
        case_id: Stable id: ``task/size/example/setting/strategy/position``.
        example: Index of the example in its data file.
        setting: ``position`` (gold at ``position``), ``closedbook``, ``oracle`` or
            ``reordered`` (a strategy that decides the order itself).
        strategy: The mitigation the prompt uses.
        position: Gold index in the context, or None where the setting has none.
        prompt: The exact prompt text.
        answers: What counts as correct.
    """

    case_id: str
    example: int
    setting: Setting
    strategy: Strategy
    position: int | None
    prompt: str
    answers: tuple[str, ...]


def choose(count: int, limit: int | None, seed: int) -> list[int]:
    """A deterministic subset of ``range(count)`` (in index order); all when no limit."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(random.Random(seed).sample(range(count), limit))


def rerank(question: str, documents: Sequence[Document]) -> list[Document]:
    """The documents by BM25 relevance to the question (bm25s over the context), best first."""
    retriever = bm25s.BM25()
    texts = [f"{d.title} {d.text}" for d in documents]
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    query = bm25s.tokenize([question], stopwords="en", show_progress=False)
    ids, _ = retriever.retrieve(query, k=len(documents), show_progress=False, n_threads=1)
    return [documents[int(i)] for i in ids[0]]


def strategic_order(ranked: Sequence[Document]) -> list[Document]:
    """Most relevant first, second-most last, and so on inwards (the middle gets the least)."""
    front: list[Document] = []
    back: list[Document] = []
    for i, doc in enumerate(ranked):
        (front if i % 2 == 0 else back).append(doc)
    return front + back[::-1]


def plan(config: PositionConfig) -> list[PositionPrompt]:
    """Every prompt of a run, grouped so prompts that share a prefix are adjacent.

    Raises:
        ConfigError: Positions outside the context, or a strategy the task does not have.
    """
    positions = config.resolved_positions()
    if config.task == "kv":
        if set(config.strategies) - {"original", "query_aware"}:
            raise ConfigError(
                "key-value retrieval takes only the original and query_aware strategies"
            )
        return _plan_kv(config, positions)
    return _plan_qa(config, positions)


def _plan_kv(config: PositionConfig, positions: tuple[int, ...]) -> list[PositionPrompt]:
    examples = load_kv(config.n_keys)
    prompts = []
    for index in choose(len(examples), config.limit, config.seed):
        ex = examples[index]
        others = [r for r in ex.records if r[0] != ex.key]
        for strategy in config.strategies:
            for position in positions:
                records = [*others[:position], (ex.key, ex.value), *others[position:]]
                text = kv_prompt(records, ex.key, query_aware=strategy == "query_aware")
                case_id = f"kv/{config.n_keys}/{index}/position/{strategy}/{position}"
                prompts.append(
                    PositionPrompt(
                        case_id, index, "position", strategy, position, text, (ex.value,)
                    )
                )
    return prompts


def _plan_qa(config: PositionConfig, positions: tuple[int, ...]) -> list[PositionPrompt]:
    pool = load_nq_oracle()
    chosen = choose(len(pool), config.limit, config.seed)
    contexts: dict[int, MultiDocExample] = {
        m.example.index: m
        for m in build_multidoc(pool, config.n_documents, seed=config.seed, only=chosen)
    }
    prompts: list[PositionPrompt] = []
    for index in chosen:
        item = contexts[index]
        ex = item.example

        def add(setting: Setting, strategy: Strategy, position: int | None, text: str) -> None:
            prompts.append(_qa_prompt(config, ex, setting, strategy, position, text))  # noqa: B023

        if config.baselines:
            add("closedbook", "original", None, closedbook_prompt(ex.question))
            add("oracle", "original", None, qa_prompt(ex.question, [ex.gold]))
        for strategy in config.strategies:
            if strategy in ("original", "query_aware"):
                aware = strategy == "query_aware"
                for position in positions:
                    text = qa_prompt(ex.question, item.documents(position), query_aware=aware)
                    add("position", strategy, position, text)
                continue
            ranked = rerank(ex.question, item.documents(0))
            docs = (
                strategic_order(ranked) if strategy == "strategic_order" else ranked[: config.top_k]
            )
            gold_at = docs.index(ex.gold) if ex.gold in docs else None
            add("reordered", strategy, gold_at, qa_prompt(ex.question, docs))
    return prompts


def _qa_prompt(
    config: PositionConfig, ex: QAExample, setting: Setting, strategy: Strategy,
    position: int | None, text: str,
) -> PositionPrompt:  # fmt: skip
    where = "-" if setting != "position" else str(position)
    case_id = f"qa/{config.n_documents}/{ex.index}/{setting}/{strategy}/{where}"
    return PositionPrompt(case_id, ex.index, setting, strategy, position, text, ex.answers)
