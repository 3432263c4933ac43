"""The "lost in the middle" position benchmark (Liu et al., 2023): data, prompts, contexts.

The data is the paper's own release, shipped in ``evals/datasets/lost_in_the_middle`` and
checked by sha256 on load; the multi-document contexts are rebuilt from the oracle pool
(:func:`build_multidoc`), a faithful reconstruction rather than the original files.
"""

from evals.position._data import (
    CHECKSUMS,
    DATA_DIR,
    KV_KEY_COUNTS,
    Document,
    KVExample,
    QAExample,
    load_kv,
    load_nq_oracle,
    read_verified,
)
from evals.position._plan import (
    PAPER_POSITIONS,
    PositionConfig,
    PositionPrompt,
    plan,
    rerank,
    strategic_order,
)
from evals.position._prompts import (
    closedbook_prompt,
    format_documents,
    format_kv_records,
    kv_prompt,
    qa_prompt,
)
from evals.position._reconstruct import MultiDocExample, build_multidoc
from evals.position._results import Cell, Interval, score_answer, summarise, wilson_interval

__all__ = [
    "CHECKSUMS",
    "DATA_DIR",
    "KV_KEY_COUNTS",
    "PAPER_POSITIONS",
    "Cell",
    "Document",
    "Interval",
    "KVExample",
    "MultiDocExample",
    "PositionConfig",
    "PositionPrompt",
    "QAExample",
    "build_multidoc",
    "closedbook_prompt",
    "format_documents",
    "format_kv_records",
    "kv_prompt",
    "load_kv",
    "load_nq_oracle",
    "plan",
    "qa_prompt",
    "read_verified",
    "rerank",
    "score_answer",
    "strategic_order",
    "summarise",
    "wilson_interval",
]
