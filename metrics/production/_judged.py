"""What the production judge reads and writes: sampled requests, scores, reviews, calibrations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from evals.judging import Calibration
from metrics.store import LATEST_OK_REQUEST, Store


@dataclass(frozen=True, slots=True)
class ProductionRequest:
    """A request's answer as the judge sees it (its latest ``ok`` record)."""

    request_id: str
    question: str
    output: str
    contexts: list[str]
    model: str
    prompt_ref: str | None
    route: str | None


def question_of(messages: Any) -> str:
    """The last user message of a recorded input (a list of messages or its JSON text)."""
    if isinstance(messages, str):
        messages = json.loads(messages)
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def load_requests(store: Store, request_ids: Sequence[str]) -> list[ProductionRequest]:
    """The latest ``ok`` record of each request, in the order asked (missing ones left out)."""
    if not request_ids:
        return []
    ids = pa.table({"request_id": list(request_ids)})
    with store.connection() as conn:
        conn.register("_wanted", ids)
        try:
            rows = conn.execute(
                """
                SELECT p.request_id, p.input_messages, p.output, p.contexts,
                       coalesce(p.request_model, p.response_model, '') AS model,
                       p.prompt_ref, p.route
                FROM production_requests p JOIN _wanted USING (request_id)
                WHERE p.status = 'ok'
                QUALIFY row_number() OVER (PARTITION BY p.request_id ORDER BY p.ts DESC) = 1
                """
            ).fetchall()
        finally:
            conn.unregister("_wanted")
    found = {
        r[0]: ProductionRequest(
            r[0],
            question_of(r[1]),
            r[2] or "",
            [str(c) for c in (json.loads(r[3]) if isinstance(r[3], str) else r[3] or [])],
            r[4],
            r[5],
            r[6],
        )
        for r in rows
    }
    return [found[i] for i in request_ids if i in found]


def pending_requests(store: Store, rubric_version: str, judge_refs: Sequence[str]) -> list[str]:
    """Sampled requests some judge has not scored yet with this rubric version.

    A run killed after sampling leaves its sample here, so the next run judges it.
    """
    with store.connection() as conn:
        rows = conn.execute(
            """
            SELECT s.request_id FROM judge_samples s
            WHERE s.rubric_version = $rubric AND (
                SELECT count(DISTINCT j.judge_ref) FROM judge_scores j
                WHERE j.request_id = s.request_id AND j.rubric_version = s.rubric_version
                  AND list_contains($judges, j.judge_ref)
            ) < len($judges)
            ORDER BY s.sampled_at, s.request_id
            """,
            {"rubric": rubric_version, "judges": list(judge_refs)},
        ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True, slots=True)
class JudgeScoreRow:
    """One judge's verdict on one request with one rubric version."""

    request_id: str
    judge_ref: str
    rubric_version: str
    score: float | None
    raw_score: float | None
    reasoning: str | None
    flags: list[str]
    unscored_reason: str | None
    redactions: int = 0


def write_judge_scores(store: Store, rows: Sequence[JudgeScoreRow]) -> int:
    """Insert or replace judge scores (key: request, judge, rubric version)."""
    if not rows:
        return 0
    now = datetime.now(UTC)
    data = [{**asdict(r), "flags": json.dumps(r.flags), "created_at": now} for r in rows]
    with store.connection() as conn:
        conn.register("_scores", pa.Table.from_pylist(data))
        try:
            conn.execute(
                "INSERT OR REPLACE INTO judge_scores (request_id, judge_ref, rubric_version, "
                "score, raw_score, reasoning, flags, unscored_reason, redactions, created_at, "
                "request_ts, provider, request_model, prompt_ref) "
                "SELECT s.request_id, judge_ref, rubric_version, score, raw_score, reasoning, "
                "flags, unscored_reason, redactions, created_at, p.ts, p.provider, "
                "p.request_model, p.prompt_ref FROM _scores s LEFT JOIN "
                f"({LATEST_OK_REQUEST.format(judged='_scores')}) p USING (request_id)"
            ).fetchall()
        finally:
            conn.unregister("_scores")
    return len(rows)


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A response for a human to look at, and why."""

    request_id: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def enqueue_reviews(store: Store, items: Sequence[ReviewItem]) -> int:
    """Add items to the review queue; an item already there (same request and reason) stays."""
    if not items:
        return 0
    now = datetime.now(UTC)
    data = [
        {
            "request_id": i.request_id,
            "reason": i.reason,
            "details": json.dumps(i.details, default=str),
            "created_at": now,
        }
        for i in items
    ]
    with store.connection() as conn:
        conn.register("_reviews", pa.Table.from_pylist(data))
        try:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO review_queue (request_id, reason, details, status, "
                "created_at) SELECT request_id, reason, details, 'open', created_at FROM _reviews"
            ).fetchone()
        finally:
            conn.unregister("_reviews")
    return int(inserted[0]) if inserted else 0


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """A judge's agreement with human labels on one rubric version, as stored."""

    judge_ref: str
    rubric_version: str
    kappa: float | None
    weighted_kappa: float | None
    spearman: float | None
    n: int
    unscored: int
    exact_agreement: float | None
    within_one: float | None
    min_kappa: float
    confusion: list[list[int]]
    calibrated: bool

    @classmethod
    def from_calibration(
        cls, judge_ref: str, rubric_version: str, c: Calibration
    ) -> CalibrationRow:
        """The row of a :class:`evals.judging.Calibration`."""
        return cls(
            judge_ref,
            rubric_version,
            c.kappa,
            c.weighted_kappa,
            c.spearman,
            c.n,
            c.unscored,
            c.exact_agreement,
            c.within_one,
            c.min_kappa,
            [list(map(int, row)) for row in c.confusion],
            c.calibrated,
        )


def write_calibrations(store: Store, rows: Sequence[CalibrationRow]) -> int:
    """Append calibration results (the latest per judge and rubric version counts)."""
    if not rows:
        return 0
    now = datetime.now(UTC)
    data = [{**asdict(r), "confusion": json.dumps(r.confusion), "created_at": now} for r in rows]
    columns = ", ".join(data[0])
    with store.connection() as conn:
        conn.register("_calibrations", pa.Table.from_pylist(data))
        try:
            conn.execute(
                f"INSERT INTO judge_calibrations ({columns}) SELECT {columns} FROM _calibrations"
            ).fetchall()
        finally:
            conn.unregister("_calibrations")
    return len(rows)


def calibration_status(store: Store) -> dict[tuple[str, str], bool]:
    """Whether each (judge, rubric version) was calibrated at its latest calibration."""
    with store.connection() as conn:
        rows = conn.execute(
            "SELECT judge_ref, rubric_version, calibrated FROM judge_calibrations "
            "QUALIFY row_number() OVER (PARTITION BY judge_ref, rubric_version "
            "ORDER BY created_at DESC) = 1"
        ).fetchall()
    return {(r[0], r[1]): bool(r[2]) for r in rows}
