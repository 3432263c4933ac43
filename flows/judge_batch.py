"""Judge many items through the foundation runner: concurrency, retries, cache and resume.

Each item is rendered with its rubric and asked as one call of a stored run. A reply that
does not parse is asked again (a new repeat, with the reply and what was wrong appended),
up to ``max_parse_retries`` times, then recorded as unscored with the reason, never as 0.
Because the calls go through the store, a killed judging run resumes without asking again,
and a request judged before with the same rubric, judge and text comes from the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evals.providers import Message, Provider
from evals.runner import CallSpec, NoProgress, ProgressReporter
from evals.scorers import (
    JudgeReplyError,
    Rubric,
    Score,
    ScoreInput,
    parse_judge_reply,
    render_judge_messages,
    retry_messages,
)
from flows.config import EvalmonConfig
from flows.running import run_and_store
from metrics.store import Store


@dataclass(frozen=True, slots=True)
class JudgeItem:
    """One thing to judge.

    Attributes:
        key: Unique within the batch (a request id, a label id); the call's case id.
        rubric: The rubric to judge it by.
        item: The response and what it answers.
    """

    key: str
    rubric: Rubric
    item: ScoreInput


@dataclass(frozen=True, slots=True)
class JudgeBatchResult:
    """Scores by item key (value normalised to 0..1; raw score in details)."""

    scores: dict[str, Score]
    calls: int
    called: int
    errors: int
    unparseable: int = 0
    by_attempt: dict[int, int] = field(default_factory=dict)


def judge_specs(items: Sequence[JudgeItem]) -> dict[str, CallSpec]:
    """The judge call of each item, by request id."""
    specs = {}
    for job in items:
        params = job.rubric.prompt.spec.params.to_generate_params()
        specs[job.key] = CallSpec(job.key, 0, render_judge_messages(job.rubric, job.item), params)
    return specs


def _score(job: JudgeItem, text: str, judge_ref: str, attempt: int) -> Score:
    verdict = parse_judge_reply(text, job.rubric)
    low, high = job.rubric.min_score, job.rubric.max_score
    details = {
        "raw_score": verdict.score,
        "scale": [low, high],
        "flags": list(verdict.flags),
        "judge": judge_ref,
        "rubric": job.rubric.version,
        "attempts": attempt + 1,
    }
    return Score((verdict.score - low) / (high - low), verdict.reasoning, details)


async def judge_batch(
    provider: Provider,
    store: Store,
    run_id: str,
    items: Sequence[JudgeItem],
    config: EvalmonConfig,
    *,
    max_parse_retries: int = 1,
    progress: ProgressReporter | None = None,
) -> JudgeBatchResult:
    """Judge ``items`` with ``provider`` as stored run ``run_id`` (created or resumed)."""
    jobs = {job.key: job for job in items}
    specs = judge_specs(items)
    rubrics = sorted({job.rubric.version for job in items})
    store.start_run(
        run_id,
        kind="judge",
        model_ref=provider.ref,
        prompt_ref=",".join(rubrics),
        dataset_ref=None,
        config={"max_parse_retries": max_parse_retries},
    )
    scores: dict[str, Score] = {}
    called = errors = unparseable = 0
    by_attempt: dict[int, int] = {}
    for attempt in range(max_parse_retries + 1):
        if not specs:
            break
        summary = await run_and_store(
            provider, store, run_id, list(specs.values()), config, progress or NoProgress()
        )
        called += summary.called
        calls = {
            c["case_id"]: c
            for c in store.run_calls(run_id).to_pylist()
            if int(c["repeat"]) == attempt and c["case_id"] in specs
        }
        retry: dict[str, CallSpec] = {}
        for key, spec in specs.items():
            call = calls.get(key)
            job = jobs[key]
            if call is None or call["error_kind"]:
                reason = (
                    "no call recorded"
                    if call is None
                    else (f"judge call failed ({call['error_kind']}): {call['error_message']}")
                )
                scores[key] = Score(None, reason, {"judge": provider.ref, "attempts": attempt + 1})
                errors += 1
                continue
            text = call["text"] or ""
            try:
                scores[key] = _score(job, text, call.get("answered_by") or provider.ref, attempt)
                by_attempt[attempt + 1] = by_attempt.get(attempt + 1, 0) + 1
            except JudgeReplyError as exc:
                if attempt < max_parse_retries:
                    more: tuple[Message, ...] = tuple(retry_messages(text, exc, job.rubric))
                    retry[key] = CallSpec(key, attempt + 1, (*spec.messages, *more), spec.params)
                else:
                    unparseable += 1
                    scores[key] = Score(
                        None,
                        f"unparseable judge reply: {exc}; last reply: {text[:200]!r}",
                        {"judge": provider.ref, "attempts": attempt + 1},
                    )
        specs = retry
    store.finish_run(run_id, "finished", {"judged": len(items), "unparseable": unparseable})
    return JudgeBatchResult(scores, len(items), called, errors, unparseable, by_attempt)
