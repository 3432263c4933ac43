"""A one-off eval: a prompt over a dataset on one model, stored in DuckDB and scored."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.datasets import Case, load_cases
from evals.prompts import load_prompt
from evals.runner import CallSpec, ProgressReporter, RunSummary
from evals.scorers import ScoreInput, Scorer, get_scorer
from flows.config import EvalmonConfig
from flows.running import check_resume, open_provider, run_and_store
from metrics.store import ScoreRow, Store


@dataclass(frozen=True, slots=True)
class EvalRequest:
    """What to evaluate.

    Attributes:
        prompt: Prompt YAML file.
        dataset: JSONL dataset.
        model: Model string; default the prompt's model, then the configured default.
        run_id: Run to create or resume; a fresh id when None.
        repeats: Calls per case.
        limit: Use only the first N cases.
        scorers: Scorer names.
    """

    prompt: Path
    dataset: Path
    model: str | None = None
    run_id: str | None = None
    repeats: int = 1
    limit: int | None = None
    scorers: Sequence[str] = ("best_subspan_em",)


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One call of the eval with its scores."""

    case_id: str
    repeat: int
    output: str
    scores: dict[str, float | None]
    error: str | None
    latency_s: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cached: bool


@dataclass(frozen=True, slots=True)
class EvalReport:
    """The outcome of an eval run."""

    run_id: str
    prompt_ref: str
    model_ref: str
    status: str
    summary: RunSummary
    rows: list[CaseRow]
    scorer_means: dict[str, float | None] = field(default_factory=dict)
    error_share: float = 0.0


def new_run_id(prefix: str) -> str:
    """A fresh, sortable run id such as ``rag_qa-20261129T213000-1a2b3c``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix.replace('/', '_')}-{stamp}-{secrets.token_hex(3)}"


async def score_calls(
    calls: Sequence[dict[str, Any]], cases: dict[str, Case], scorers: Sequence[Scorer]
) -> list[CaseRow]:
    """Score every stored call; an errored call is unscored (None), never 0."""
    rows = []
    for call in calls:
        case = cases.get(call["case_id"])
        if case is None:  # a call of a case outside this selection (e.g. another --limit)
            continue
        error = call.get("error_kind")
        text = call.get("text") or ""
        item = ScoreInput(text, case.expected, case.inputs, case.metadata)
        scores = {s.name: (None if error else (await s.ascore(item)).value) for s in scorers}
        rows.append(
            CaseRow(
                case_id=call["case_id"], repeat=int(call["repeat"]), output=text, scores=scores,
                error=f"{error}: {call.get('error_message')}" if error else None,
                latency_s=float(call.get("latency_s") or 0.0),
                input_tokens=call.get("input_tokens"), output_tokens=call.get("output_tokens"),
                cost_usd=call.get("cost_usd"), cached=bool(call.get("cached")),
            )
        )  # fmt: skip
    return sorted(rows, key=lambda r: (r.case_id, r.repeat))


def _means(rows: Sequence[CaseRow], scorers: Sequence[Scorer]) -> dict[str, float | None]:
    means: dict[str, float | None] = {}
    for scorer in scorers:
        values = [v for r in rows if (v := r.scores.get(scorer.name)) is not None]
        means[scorer.name] = sum(values) / len(values) if values else None
    return means


async def run_eval(
    request: EvalRequest, config: EvalmonConfig, progress: ProgressReporter | None = None
) -> EvalReport:
    """Run (or resume) an eval and store calls, scores and the run summary.

    Everything that can be checked before a call is checked first (prompt, dataset, scorers,
    model string, API key, the endpoint answering), so bad input leaves the store untouched.

    Raises:
        ConfigError: Bad input or setup (exit code 2).
    """
    prompt = load_prompt(request.prompt)
    cases = load_cases(request.dataset, limit=request.limit)
    scorers = [get_scorer(name) for name in request.scorers]
    messages = {case.id: prompt.render(case.inputs) for case in cases}
    model = request.model or prompt.spec.model or config.default_model
    provider = await open_provider(model, config)
    try:
        params = prompt.spec.params.to_generate_params()
        specs = [
            CallSpec(case.id, repeat, messages[case.id], params)
            for case in cases
            for repeat in range(request.repeats)
        ]
        with Store(config.store) as store:
            run_id = request.run_id or new_run_id(prompt.spec.name)
            check_resume(store, run_id, provider.ref, prompt.ref, str(request.dataset))
            store.start_run(
                run_id, kind="eval", model_ref=provider.ref, prompt_ref=prompt.ref,
                dataset_ref=str(request.dataset),
                params={**params.as_key_dict(), "repeats": request.repeats, "limit": request.limit},
                config={"prompt_hash": prompt.content_hash, "scorers": list(request.scorers)},
            )  # fmt: skip
            summary = await run_and_store(provider, store, run_id, specs, config, progress)
            rows = await score_calls(
                store.run_calls(run_id).to_pylist(), {c.id: c for c in cases}, scorers
            )
            store.write_scores(
                ScoreRow(
                    run_id, r.case_id, r.repeat, s.name, r.scores[s.name], scorer_version=s.version
                )
                for r in rows
                for s in scorers
            )
            error_share = sum(r.error is not None for r in rows) / max(len(rows), 1)
            status = "failed" if error_share > config.max_error_share else "finished"
            means = _means(rows, scorers)
            store.finish_run(run_id, status, {"scorer_means": means, "error_share": error_share})
    finally:
        await provider.aclose()
    return EvalReport(run_id, prompt.ref, provider.ref, status, summary, rows, means, error_share)
