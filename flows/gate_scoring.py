"""Score a stored run with a suite's scorers, reusing scores the store already holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evals.datasets import Case
from evals.scorers import Score, ScoreInput, Scorer
from metrics.store import ScoreRow, Store


@dataclass(frozen=True, slots=True)
class NamedScorer:
    """A built scorer and the name its results go under in this suite."""

    key: str
    scorer: Scorer


# What scoring reads of a run's calls and stored scores (no timestamps: see Store.run_calls).
CALL_COLUMNS = ("case_id", "repeat", "text", "error_kind")
_SCORE_COLUMNS = ("case_id", "repeat", "scorer", "scorer_version", "score")


@dataclass(frozen=True, slots=True)
class RunScores:
    """A run's scores per scorer key, keyed by (case id, repeat); None is unscored."""

    values: dict[str, dict[tuple[str, int], float | None]]
    computed: int
    reused: int


async def score_run(
    store: Store,
    run_id: str,
    calls: Sequence[Mapping[str, Any]],
    cases: Mapping[str, Case],
    scorers: Sequence[NamedScorer],
    *,
    concurrency: int = 8,
) -> RunScores:
    """Score every call of ``run_id`` and store the scores.

    A score already stored for the same (case, repeat, scorer key) and scorer version is
    reused, so a re-run of the gate makes no judge call. An errored call is unscored (None)
    and never reaches a scorer. Model-calling scorers run ``concurrency`` at a time.
    """
    stored = {
        (r["case_id"], int(r["repeat"]), r["scorer"]): r
        for r in store.run_scores(run_id, _SCORE_COLUMNS).to_pylist()
    }
    values: dict[str, dict[tuple[str, int], float | None]] = {s.key: {} for s in scorers}
    pending: list[tuple[NamedScorer, Mapping[str, Any], Case]] = []
    reused = 0
    for call in calls:
        case = cases.get(call["case_id"])
        if case is None:
            continue
        key = (case.id, int(call["repeat"]))
        for named in scorers:
            if call.get("error_kind"):
                values[named.key][key] = None
                continue
            old = stored.get((*key, named.key))
            if old is not None and old["scorer_version"] == named.scorer.version:
                values[named.key][key] = old["score"]
                reused += 1
                continue
            pending.append((named, call, case))
    gate = asyncio.Semaphore(concurrency)

    async def one(named: NamedScorer, call: Mapping[str, Any], case: Case) -> ScoreRow:
        item = ScoreInput(call.get("text") or "", case.expected, case.inputs, case.metadata)
        async with gate:
            try:
                score = await named.scorer.ascore(item)
            except Exception as exc:  # a scorer bug must not sink the whole gate
                score = Score(None, reason=f"scorer failed: {type(exc).__name__}: {exc}")
        details = {"reason": score.reason, **score.details} if score.reason else score.details
        return ScoreRow(
            run_id,
            case.id,
            int(call["repeat"]),
            named.key,
            score.value,
            scorer_version=named.scorer.version,
            details=json.loads(json.dumps(details, default=str)),
        )

    rows = await asyncio.gather(*(one(*job) for job in pending))
    store.write_scores(rows)
    for row in rows:
        values[row.scorer][(row.case_id, row.repeat)] = row.score
    return RunScores(values, computed=len(rows), reused=reused)
