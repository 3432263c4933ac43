"""Production traffic: ingest of capture files, and the deterministic sample for judging.

* :func:`ingest_files` loads the capture library's JSONL (and Parquet) files into
  ``production_requests``, idempotently, quarantining malformed lines with file, line and
  reason (:class:`IngestReport`). The input schema is in :mod:`metrics.production._schema`.
* :func:`choose_sample` picks the requests to judge: those whose md5 of salt and request id
  falls under the rate (:func:`in_sample` is its pure-Python twin), topped up per
  (model, prompt version) group and capped per run (:class:`SamplePolicy`).
* What the production judge reads and writes (sampled requests, scores, the review queue,
  calibrations) is in ``_judged`` and ``_review``, re-exported here.
"""

from metrics.production._files import expand_paths
from metrics.production._ingest import ingest_files
from metrics.production._judged import (
    CalibrationRow,
    JudgeScoreRow,
    ProductionRequest,
    ReviewItem,
    calibration_status,
    enqueue_reviews,
    load_requests,
    pending_requests,
    question_of,
    write_calibrations,
    write_judge_scores,
)
from metrics.production._policy import (
    SamplePolicy,
    SampleResult,
    in_sample,
    sample_key,
    threshold,
)
from metrics.production._progress import IngestProgress, NoIngestProgress
from metrics.production._report import FileIngest, IngestReport, QuarantinedLine
from metrics.production._review import ReviewRow, queue_sizes, resolve_review, review_items
from metrics.production._sample import choose_sample
from metrics.production._schema import FIELDS, INPUT_KEYS, Field

__all__ = [
    "FIELDS",
    "INPUT_KEYS",
    "CalibrationRow",
    "Field",
    "FileIngest",
    "IngestProgress",
    "IngestReport",
    "JudgeScoreRow",
    "NoIngestProgress",
    "ProductionRequest",
    "QuarantinedLine",
    "ReviewItem",
    "ReviewRow",
    "SamplePolicy",
    "SampleResult",
    "calibration_status",
    "choose_sample",
    "enqueue_reviews",
    "expand_paths",
    "in_sample",
    "ingest_files",
    "load_requests",
    "pending_requests",
    "question_of",
    "queue_sizes",
    "resolve_review",
    "review_items",
    "sample_key",
    "threshold",
    "write_calibrations",
    "write_judge_scores",
]
