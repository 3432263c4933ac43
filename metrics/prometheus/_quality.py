"""Quality gauges: the production judge, its calibration, the review queue and the gate.

``evalmon_judge_score{rubric, judge, model, prompt_version, window}``
    Mean normalised score (0..1) of the scored judgments of requests made in the window
    (the request's time, as for the production families, so a 24h judge score describes
    the same traffic as the 24h request count; recent windows fill in as judge batches
    run). The request's time, model and prompt version are those of its latest ``ok``
    record, stored with the score when it was judged.
``evalmon_judge_judgments{...same}``
    Those scored judgments (unscored ones, a failed or unparseable judge call, are not
    judgments); ``score * judgments`` summed and divided gives a weighted mean.
``evalmon_judge_calibrated{rubric, judge}``, ``evalmon_judge_kappa{rubric, judge}``
    The latest calibration of the judge on the rubric: 1 when it reached its minimum
    weighted kappa, and that quadratically weighted kappa (absent when undefined).
``evalmon_review_queue_items{reason, status}``
    Items of the review queue; both statuses are reported for every reason seen (0 when
    none), so a reason whose items were all resolved shows 0 open rather than no series.
``evalmon_gate_status{prompt, suite, branch, status}``, ``evalmon_gate_last_run_timestamp_seconds``
    The latest gate of each prompt, suite and branch: 1 for its suite status, 0 for the
    three others; and when it ran. Gates older than ``gate_max_age_days`` are left out.

``rubric`` is the rubric's name (``faithfulness``): the stored rubric version
``name@version#hash`` changes with every edit, and the latest calibration of any version
is the one that counts. A review reason that is not a short identifier is counted under
``other``, so free text never becomes a label value.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import duckdb
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from metrics.prometheus._common import (
    WINDOWS,
    ExportSettings,
    gauge,
    sql_time,
    table_columns,
    window_values,
)
from metrics.store import LATEST_OK_REQUEST

GATE_STATUSES = ("pass", "fail", "inconclusive", "error")
REVIEW_STATUSES = ("open", "resolved")
OTHER_REASON = "other"
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")
_RUBRIC = "split_part(split_part({col}, '#', 1), '@', 1)"

_JUDGE_SQL = """
WITH j AS (
    SELECT request_id, judge_ref, {rubric} AS rubric, score, request_ts, provider,
        request_model, prompt_ref
    FROM judge_scores WHERE score IS NOT NULL
), r AS (
    SELECT judge_ref, rubric, score, request_ts AS ts, provider, request_model, prompt_ref
    FROM j WHERE request_ts IS NOT NULL
    UNION ALL
    SELECT judge_ref, rubric, score, p.ts, p.provider, p.request_model, p.prompt_ref
    FROM (SELECT * FROM j WHERE request_ts IS NULL) u
    JOIN ({latest}) p USING (request_id)
)
SELECT w.win, rubric, judge_ref, coalesce(provider, 'none'), coalesce(request_model, 'none'),
    coalesce(prompt_ref, 'none'), avg(score), count(*)
FROM r JOIN (VALUES {windows}) w(win, since) ON r.ts > w.since
WHERE r.ts > {since} AND r.ts <= {now}
GROUP BY ALL
"""
# Scores stored without their request's record (see migration m006) are looked up.
_UNLINKED = "(SELECT request_id FROM judge_scores WHERE request_ts IS NULL AND score IS NOT NULL)"
_CALIBRATION_SQL = """
SELECT {rubric} AS rubric, judge_ref, calibrated, weighted_kappa
FROM judge_calibrations WHERE created_at <= {now}
QUALIFY row_number() OVER (PARTITION BY rubric, judge_ref ORDER BY created_at DESC) = 1
"""
_REVIEW_SQL = "SELECT reason, status, count(*) FROM review_queue GROUP BY ALL"
_GATE_SQL = """
SELECT prompt, suite, branch, suite_status, epoch(created_at)
FROM (SELECT DISTINCT gate_id, created_at, prompt, suite, branch, suite_status
      FROM gate_decisions WHERE created_at > {cutoff} AND created_at <= {now})
QUALIFY row_number() OVER (
    PARTITION BY prompt, suite, branch ORDER BY created_at DESC, gate_id DESC) = 1
"""


@dataclass(frozen=True, slots=True)
class _Families:
    judge_score: GaugeMetricFamily
    judgments: GaugeMetricFamily
    calibrated: GaugeMetricFamily
    kappa: GaugeMetricFamily
    review: GaugeMetricFamily
    gate_status: GaugeMetricFamily
    gate_last_run: GaugeMetricFamily

    @classmethod
    def empty(cls) -> _Families:
        judged = ["rubric", "judge", "model", "prompt_version", "window"]
        gate = ["prompt", "suite", "branch"]
        return cls(
            judge_score=gauge("evalmon_judge_score",
                              "Mean normalised (0..1) judge score of the window's requests.",
                              judged),
            judgments=gauge("evalmon_judge_judgments",
                            "Scored judgments of the window's requests.", judged),
            calibrated=gauge("evalmon_judge_calibrated",
                             "1 when the judge's latest calibration on the rubric reached its "
                             "minimum weighted kappa.", ["rubric", "judge"]),
            kappa=gauge("evalmon_judge_kappa",
                        "Quadratically weighted kappa of the judge's latest calibration.",
                        ["rubric", "judge"]),
            review=gauge("evalmon_review_queue_items", "Items in the human review queue.",
                         ["reason", "status"]),
            gate_status=gauge("evalmon_gate_status",
                              "1 for the status of the latest gate run, 0 for the others.",
                              [*gate, "status"]),
            gate_last_run=gauge("evalmon_gate_last_run_timestamp_seconds",
                                "When the latest gate of the prompt, suite and branch ran.",
                                gate, "seconds"),
        )  # fmt: skip

    def __iter__(self) -> Iterator[GaugeMetricFamily]:
        return iter([getattr(self, f.name) for f in fields(self)])


def review_reason(reason: str) -> str:
    """The ``reason`` label of a stored reason: itself if a short identifier, else ``other``."""
    return reason if _REASON.fullmatch(reason) else OTHER_REASON


class QualitySource:
    """The quality families (see the module doc); one Pushgateway source.

    Args:
        settings: How old a gate may be and still be exported.
    """

    name = "quality"

    def __init__(self, settings: ExportSettings | None = None) -> None:
        """Keep the settings."""
        self.settings = settings or ExportSettings()

    def empty(self) -> list[Metric]:
        """The families without samples."""
        return list(_Families.empty())

    def read(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> list[Metric]:
        """Run one query per table present and fill the families."""
        f = _Families.empty()
        if table_columns(conn, "judge_scores") and table_columns(conn, "production_requests"):
            self._judge(conn, now, f)
        if table_columns(conn, "judge_calibrations"):
            sql = _CALIBRATION_SQL.format(rubric=_RUBRIC.format(col="rubric_version"),
                                          now=sql_time(now))  # fmt: skip
            for rubric, judge, calibrated, kappa in conn.execute(sql).fetchall():
                f.calibrated.add_metric([rubric, judge], 1.0 if calibrated else 0.0)
                if kappa is not None:
                    f.kappa.add_metric([rubric, judge], kappa)
        if table_columns(conn, "review_queue"):
            self._review(conn, f)
        if table_columns(conn, "gate_decisions"):
            self._gates(conn, now, f)
        return list(f)

    def _judge(self, conn: duckdb.DuckDBPyConnection, now: datetime, f: _Families) -> None:
        longest = max(w.length for w in WINDOWS)
        sql = _JUDGE_SQL.format(
            rubric=_RUBRIC.format(col="rubric_version"), since=sql_time(now - longest),
            now=sql_time(now), windows=window_values(now),
            latest=LATEST_OK_REQUEST.format(judged=_UNLINKED),
        )  # fmt: skip
        rows = conn.execute(sql).fetchall()
        providers: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            providers[row[4]].add(row[3])
        for window, rubric, judge, provider, model, prompt_version, score, n in rows:
            label = model if len(providers[model]) == 1 else f"{provider}:{model}"
            labels = [rubric, judge, label, prompt_version, window]
            f.judge_score.add_metric(labels, score)
            f.judgments.add_metric(labels, n)

    def _review(self, conn: duckdb.DuckDBPyConnection, f: _Families) -> None:
        counts: dict[str, dict[str, int]] = {}
        for reason, status, n in conn.execute(_REVIEW_SQL).fetchall():
            if status in REVIEW_STATUSES:
                by_status = counts.setdefault(
                    review_reason(reason), dict.fromkeys(REVIEW_STATUSES, 0)
                )
                by_status[status] += n
        for reason, by_status in sorted(counts.items()):
            for status, n in by_status.items():
                f.review.add_metric([reason, status], n)

    def _gates(self, conn: duckdb.DuckDBPyConnection, now: datetime, f: _Families) -> None:
        days = self.settings.gate_max_age_days
        cutoff = "'-infinity'::TIMESTAMPTZ" if days is None else sql_time(now - timedelta(days))
        for prompt, suite, branch, status, ran in conn.execute(
            _GATE_SQL.format(cutoff=cutoff, now=sql_time(now))
        ).fetchall():
            for candidate in GATE_STATUSES:
                f.gate_status.add_metric(
                    [prompt, suite, branch, candidate], 1.0 if candidate == status else 0.0
                )
            f.gate_last_run.add_metric([prompt, suite, branch], ran)
