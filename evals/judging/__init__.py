"""The production judge's engine pieces, as plain functions.

* Redaction of personal data before anything reaches a judge: :func:`redact`,
  :func:`redact_record`, :class:`RedactionConfig`.
* Calibration of a judge against human labels: :func:`calibrate`, and the labelled
  example set's loader :func:`load_labels`.
* Several judges: :func:`combine` (mean or majority, with agreement and disagreement), and
  :func:`pairwise` preference asked in both orders (position bias becomes a flagged tie).
* The review-queue rules: :func:`review_reasons`, with the validators
  :func:`citation_check` and :func:`expresses_uncertainty`.
* The injection set (:data:`INJECTION_ATTEMPTS`): judged responses that try to instruct
  the judge.
"""

from evals.judging._calibration import Calibration, average_ranks, calibrate, spearman
from evals.judging._ensemble import Combined, Method, combine
from evals.judging._injections import INJECTION_ATTEMPTS
from evals.judging._labels import LabelledExample, load_labels
from evals.judging._pairwise import (
    PAIRWISE_PROMPT,
    PairwiseReplyError,
    PairwiseRound,
    PairwiseVerdict,
    Winner,
    check_pairwise_prompt,
    load_pairwise_prompt,
    neutralize_pairwise_delimiters,
    pairwise,
    parse_pairwise_reply,
)
from evals.judging._redact import (
    BUILTIN_KINDS,
    Redacted,
    RedactedRecord,
    RedactionConfig,
    redact,
    redact_record,
)
from evals.judging._review import (
    ReviewReason,
    ValidatorResult,
    citation_check,
    cited_documents,
    expresses_uncertainty,
    review_reasons,
)

__all__ = [
    "BUILTIN_KINDS",
    "INJECTION_ATTEMPTS",
    "PAIRWISE_PROMPT",
    "Calibration",
    "Combined",
    "LabelledExample",
    "Method",
    "PairwiseReplyError",
    "PairwiseRound",
    "PairwiseVerdict",
    "Redacted",
    "RedactedRecord",
    "RedactionConfig",
    "ReviewReason",
    "ValidatorResult",
    "Winner",
    "average_ranks",
    "calibrate",
    "check_pairwise_prompt",
    "citation_check",
    "cited_documents",
    "combine",
    "expresses_uncertainty",
    "load_labels",
    "load_pairwise_prompt",
    "neutralize_pairwise_delimiters",
    "pairwise",
    "parse_pairwise_reply",
    "redact",
    "redact_record",
    "review_reasons",
    "spearman",
]
