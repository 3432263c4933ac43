"""The production judge: ingest, sample, redact, judge, store, queue for review.

Per rubric: the deterministic sample of the window is chosen (and recorded), every sampled
request some judge has not scored yet is loaded (so a killed run's sample is judged by the
next), its question, response and contexts are redacted, each configured judge scores it
through the runner (cache, retries, resume), the judges' scores are combined, and what
looks wrong goes to the review queue: a low score, judges that disagree, an unscored reply,
a failed citation check, an answer that expresses uncertainty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evals.judging import citation_check, combine, redact_record, review_reasons
from evals.runner import ProgressReporter
from evals.scorers import Rubric, Score, ScoreInput, load_rubric
from flows.config import EvalmonConfig
from flows.judge_batch import JudgeItem, judge_batch
from flows.judge_config import JudgeSettings
from flows.running import ProviderPool
from metrics.production import (
    IngestReport,
    JudgeScoreRow,
    ProductionRequest,
    ReviewItem,
    SampleResult,
    calibration_status,
    choose_sample,
    enqueue_reviews,
    ingest_files,
    load_requests,
    pending_requests,
    write_judge_scores,
)
from metrics.store import Store


@dataclass(frozen=True, slots=True)
class JudgeSampleRequest:
    """What to judge.

    Attributes:
        paths: Capture files or folders to ingest first (none: judge what is stored).
        since: Start of the window sampled (UTC; None: from the start).
        until: End of the window (None: now).
    """

    paths: tuple[Path, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RubricOutcome:
    """One rubric's judging."""

    rubric: str
    sampled: int
    judged: int
    scored: int
    unscored: int
    redactions: int
    reviews: int
    mean_score: float | None
    uncalibrated_judges: tuple[str, ...]
    model_calls: int


@dataclass(frozen=True, slots=True)
class JudgeSampleReport:
    """What a judging run did."""

    ingest: IngestReport | None
    rubrics: list[RubricOutcome] = field(default_factory=list)
    model_calls: int = 0


async def run_judge_sample(
    request: JudgeSampleRequest, config: EvalmonConfig, progress: ProgressReporter | None = None
) -> JudgeSampleReport:
    """Ingest, sample, redact, judge, store and queue; see the module docstring.

    Raises:
        ConfigError: A bad rubric, an unknown judge model, a judge that does not answer.
    """
    settings = config.judge
    rubrics = [load_rubric(path) for path in settings.rubrics]
    models = settings.models or [config.default_model]
    pool = ProviderPool(config)
    try:
        with Store(config.store) as store:
            ingest = ingest_files(store, request.paths) if request.paths else None
            judges = [pool.ref(model) for model in models]
            outcomes = []
            for rubric in rubrics:
                sample = choose_rubric_sample(store, rubric, settings, request.since, request.until)
                pending = pending_requests(store, rubric.version, judges)
                requests = load_requests(store, pending)
                outcomes.append(
                    await _judge_rubric(
                        store,
                        pool,
                        models,
                        rubric,
                        requests,
                        config,
                        len(sample.request_ids),
                        progress,
                    )
                )
    finally:
        await pool.aclose()
    return JudgeSampleReport(ingest, outcomes, sum(o.model_calls for o in outcomes))


def choose_rubric_sample(
    store: Store,
    rubric: Rubric,
    settings: JudgeSettings,
    since: datetime | None,
    until: datetime | None,
    *,
    dry_run: bool = False,
) -> SampleResult:
    """The rubric's sample of the window, as ``[judge]`` configures it (rate, salt, caps)."""
    return choose_sample(
        store, rubric_version=rubric.version, rate=settings.sample_rate, salt=settings.salt,
        since=since, until=until, min_per_group=settings.min_per_group,
        cap_requests=settings.cap_requests, dry_run=dry_run,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class JudgeItems:
    """The requests to judge, redacted, and how many redactions each needed."""

    items: list[JudgeItem]
    redactions: dict[str, int]


def judge_items(
    rubric: Rubric, requests: Sequence[ProductionRequest], config: EvalmonConfig
) -> JudgeItems:
    """Redact each request (as configured) and pair it with the rubric to judge it by."""
    items, redactions = [], {}
    for req in requests:
        red = redact_record(
            output=req.output,
            question=req.question,
            contexts=req.contexts,
            config=config.judge.redaction,
        )
        redactions[req.request_id] = red.total
        inputs = {"question": red.question or "", "contexts": [str(c) for c in red.contexts]}
        items.append(JudgeItem(req.request_id, rubric, ScoreInput(red.output, None, inputs)))
    return JudgeItems(items, redactions)


async def _judge_rubric(
    store: Store,
    pool: ProviderPool,
    models: Sequence[str],
    rubric: Rubric,
    requests: Sequence[ProductionRequest],
    config: EvalmonConfig,
    sampled: int,
    progress: ProgressReporter | None,
) -> RubricOutcome:
    settings = config.judge
    prepared = judge_items(rubric, requests, config)
    items, redactions = prepared.items, prepared.redactions
    per_judge: dict[str, dict[str, Score]] = {}
    called = 0
    batch = hashlib.sha256("\n".join(sorted(r.request_id for r in requests)).encode())
    for model in models if items else ():
        provider = await pool.get(model)
        run_id = (
            f"judge-{rubric.prompt.spec.name.replace('/', '_')}-"
            f"{hashlib.sha256(provider.ref.encode()).hexdigest()[:6]}-"
            f"{batch.hexdigest()[:12]}"
        )
        result = await judge_batch(
            provider,
            store,
            run_id,
            items,
            config,
            max_parse_retries=settings.max_parse_retries,
            progress=progress,
        )
        called += result.called
        per_judge[provider.ref] = result.scores
        write_judge_scores(
            store,
            [
                JudgeScoreRow(
                    key,
                    provider.ref,
                    rubric.version,
                    s.value,
                    s.details.get("raw_score"),
                    s.reason if s.value is not None else None,
                    list(s.details.get("flags", [])),
                    None if s.value is not None else s.reason,
                    redactions.get(key, 0),
                )
                for key, s in result.scores.items()
            ],
        )
    calibrated = calibration_status(store)
    uncalibrated = tuple(j for j in per_judge if not calibrated.get((j, rubric.version), False))
    reviews, values, unscored = [], [], 0
    for req in requests:
        scores = {judge: per_judge[judge][req.request_id] for judge in per_judge}
        combined = combine(
            scores, settings.combine, disagreement_threshold=settings.disagreement_threshold
        )
        if combined.value is None:
            unscored += 1
        else:
            values.append(combined.value)
        reasons = review_reasons(
            combined=combined,
            threshold=settings.review_threshold,
            validator_failures=[citation_check(req.output, len(req.contexts))],
            output_text=req.output,
        )
        reviews += [
            ReviewItem(
                req.request_id,
                r.kind,
                {
                    "detail": r.detail,
                    "rubric": rubric.version,
                    "score": combined.value,
                    "uncalibrated_judges": list(uncalibrated),
                },
            )
            for r in reasons
        ]
    added = enqueue_reviews(store, reviews)
    mean = sum(values) / len(values) if values else None
    return RubricOutcome(
        rubric.version,
        sampled,
        len(requests),
        len(values),
        unscored,
        sum(redactions.values()),
        added,
        mean,
        uncalibrated,
        called,
    )
