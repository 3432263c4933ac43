"""Rows of ``gate_decisions``: one per (gate run, prompt, suite, scorer)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime

import duckdb

from metrics.store._arrow import json_rows_table


@dataclass(frozen=True, slots=True)
class GateDecisionRow:
    """The prompt gate's verdict on one scorer of one suite.

    Attributes:
        gate_id: One gate invocation (timestamp and base commit).
        created_at: When the gate decided (UTC).
        base_commit: The commit compared with.
        branch: The branch gated (``GITHUB_HEAD_REF``/``GITHUB_REF_NAME`` or git's HEAD).
        prompt: Prompt name.
        suite: Suite name.
        suite_status: pass, fail, inconclusive or error for the whole suite.
        scorer: Scorer key.
        verdict: pass, fail or inconclusive for this scorer.
        gating: Whether this scorer can fail the gate.
        candidate_ref: ``name@version`` of the candidate.
        candidate_run: Its stored run.
        base_ref: ``name@version`` of the base (None for a new prompt).
        base_run: Its stored run.
        base_mean: Base mean over paired cases.
        candidate_mean: Candidate mean.
        delta: Mean candidate-minus-base delta.
        ci_low: Lower end of the paired-bootstrap interval.
        ci_high: Upper end.
        mde: Minimum detectable effect.
        n: Paired cases.
        reasons: The decision's sentences.
    """

    gate_id: str
    created_at: datetime
    base_commit: str
    branch: str
    prompt: str
    suite: str
    suite_status: str
    scorer: str
    verdict: str
    gating: bool
    candidate_ref: str
    candidate_run: str
    base_ref: str | None
    base_run: str | None
    base_mean: float | None
    candidate_mean: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    mde: float | None
    n: int | None
    reasons: list[str]


_COLUMNS = tuple(f.name for f in fields(GateDecisionRow))

CREATE_GATE_DECISIONS = """
CREATE TABLE gate_decisions (
    gate_id VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    base_commit VARCHAR NOT NULL,
    branch VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    suite_status VARCHAR NOT NULL,
    scorer VARCHAR NOT NULL,
    verdict VARCHAR NOT NULL,
    gating BOOLEAN NOT NULL,
    candidate_ref VARCHAR NOT NULL,
    candidate_run VARCHAR NOT NULL,
    base_ref VARCHAR,
    base_run VARCHAR,
    base_mean DOUBLE,
    candidate_mean DOUBLE,
    delta DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    mde DOUBLE,
    n INTEGER,
    reasons JSON,
    PRIMARY KEY (gate_id, prompt, suite, scorer)
)
"""


def _finite(value: float | None) -> float | None:
    return value if value is None or (value == value and abs(value) != float("inf")) else None


def insert_gate_decisions(conn: duckdb.DuckDBPyConnection, rows: Sequence[GateDecisionRow]) -> int:
    """Append the rows through one Arrow batch; return how many."""
    if not rows:
        return 0
    data = []
    for row in rows:
        item = asdict(row)
        item["reasons"] = json.dumps(row.reasons)
        for key in ("base_mean", "candidate_mean", "delta", "ci_low", "ci_high", "mde"):
            item[key] = _finite(item[key])
        data.append(item)
    table = json_rows_table(data)
    name = f"gate_{uuid.uuid4().hex}"
    conn.register(name, table)
    try:
        columns = ", ".join(_COLUMNS)
        values = ", ".join(
            "CAST(created_at AS TIMESTAMPTZ)" if c == "created_at" else c for c in _COLUMNS
        )
        conn.execute(f"INSERT INTO gate_decisions ({columns}) SELECT {values} FROM {name}")
    finally:
        conn.unregister(name)
    return len(rows)
