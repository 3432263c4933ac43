"""The human review queue: list, export and resolve items; resolved labels feed calibration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from metrics.production._judged import question_of
from metrics.store import Store


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """A review-queue item with the response it is about."""

    request_id: str
    reason: str
    status: str
    details: dict[str, Any]
    created_at: datetime
    label: str | None
    resolved_by: str | None
    question: str | None
    output: str | None
    model: str | None
    prompt_ref: str | None


def review_items(
    store: Store, *, status: str | None = "open", reason: str | None = None, limit: int = 100
) -> list[ReviewRow]:
    """Queue items, oldest first, with the question and response they are about."""
    where: list[str] = ["TRUE"]
    params: dict[str, object] = {"limit": limit}
    if status is not None:
        where.append("q.status = $status")
        params["status"] = status
    if reason is not None:
        where.append("q.reason = $reason")
        params["reason"] = reason
    with store.connection() as conn:
        rows = conn.execute(
            f"""
            WITH latest AS (
                SELECT request_id, input_messages, output, request_model, prompt_ref
                FROM production_requests WHERE status = 'ok'
                QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts DESC) = 1
            )
            SELECT q.request_id, q.reason, q.status, q.details, q.created_at, q.label,
                   q.resolved_by, l.input_messages, l.output, l.request_model, l.prompt_ref
            FROM review_queue q LEFT JOIN latest l USING (request_id)
            WHERE {" AND ".join(where)}
            ORDER BY q.created_at, q.request_id, q.reason LIMIT $limit
            """,
            params,
        ).fetchall()
    items = []
    for r in rows:
        question = question_of(r[7]) or None
        details = json.loads(r[3]) if isinstance(r[3], str) else (r[3] or {})
        items.append(
            ReviewRow(r[0], r[1], r[2], details, r[4], r[5], r[6], question, r[8], r[9], r[10])
        )
    return items


def resolve_review(store: Store, request_id: str, *, label: str, resolved_by: str) -> int:
    """Resolve every open item of a request with a human label; return how many.

    Raises:
        LookupError: The request has no open review item (the message says how to list them).
    """
    with store.connection() as conn:
        count = conn.execute(
            "SELECT count(*) FROM review_queue WHERE request_id = ? AND status = 'open'",
            [request_id],
        ).fetchone()
        if not count or not count[0]:
            raise LookupError(
                f"request {request_id!r} has no open review item; see evalmon review list"
            )
        conn.execute(
            "UPDATE review_queue SET status = 'resolved', label = ?, resolved_by = ?, "
            "resolved_at = ? WHERE request_id = ? AND status = 'open'",
            [label, resolved_by, datetime.now(UTC), request_id],
        ).fetchall()
    return int(count[0])


def queue_sizes(store: Store) -> dict[tuple[str, str], int]:
    """Items per (reason, status)."""
    with store.connection() as conn:
        rows = conn.execute(
            "SELECT reason, status, count(*) FROM review_queue GROUP BY ALL"
        ).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}
