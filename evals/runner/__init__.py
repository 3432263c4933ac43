"""The async runner and the storage protocols it needs."""

from evals.runner._limiter import AdaptiveLimiter, LimiterStats
from evals.runner._progress import NoProgress, ProgressReporter, RichProgress
from evals.runner._protocols import (
    CallRecord,
    CallSpec,
    ResponseCache,
    ResultSink,
    cache_key,
)
from evals.runner._runner import Runner, RunSummary, retry_policy

__all__ = [
    "AdaptiveLimiter",
    "CallRecord",
    "CallSpec",
    "LimiterStats",
    "NoProgress",
    "ProgressReporter",
    "ResponseCache",
    "ResultSink",
    "RichProgress",
    "RunSummary",
    "Runner",
    "cache_key",
    "retry_policy",
]
