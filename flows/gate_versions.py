"""One gate suite: plan, run and score the base and candidate versions, then decide.

Each version's run id derives from what determines its answers (prompt hash, suite hash,
model and parameters): a version already in the store is reused with its scores. Versions
still to run go out side by side, sharing the concurrency, under one progress bar.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from evals.catalog import Catalog
from evals.datasets import Case, load_cases
from evals.gate import (
    PromptChange,
    ScorerRule,
    SuiteVerdict,
    VersionScores,
    error_problems,
    judge_scorer,
    suite_status,
)
from evals.prompts import Prompt
from evals.providers import CallResult, ConfigError
from evals.runner import CallSpec, ProgressReporter, RunSummary
from evals.scorers import get_scorer, needs_model
from evals.suites import Suite, scorer_key
from flows.config import EvalmonConfig
from flows.gate_scoring import CALL_COLUMNS, NamedScorer, score_run
from flows.running import ProviderPool, run_and_store
from metrics.store import Store


class GateRunner:
    """Runs the gate suites of one gate invocation over one store and provider pool."""

    def __init__(
        self,
        store: Store,
        pool: ProviderPool,
        config: EvalmonConfig,
        model: str | None,
        progress: ProgressReporter,
    ) -> None:
        self.store, self.pool, self.config = store, pool, config
        self.model, self.progress = model, progress
        self.model_calls = 0

    async def gate_suite(
        self, change: PromptChange, suite: Suite, catalog: Catalog
    ) -> SuiteVerdict:
        """Run one suite on both versions of a changed prompt and decide per scorer.

        Raises:
            ConfigError: A bad scorer entry (``FILE:LINE`` of the suite), a model that
                does not answer.
        """
        cases = load_cases(suite.dataset, limit=suite.spec.limit)
        scorers = [
            await self._scorer(spec_index, suite, catalog)
            for spec_index in range(len(suite.spec.scorers))
        ]
        plans = [self._plan(change.candidate, suite, cases)]
        if change.base is not None:
            plans.append(self._plan(change.base, suite, cases))
        await self._run_pending(plans, suite)
        candidate = await self._scores(plans[0], cases, scorers)
        base = await self._scores(plans[1], cases, scorers) if len(plans) > 1 else None
        limit = suite.spec.gate.max_error_share
        problems = error_problems(candidate, "candidate", limit)
        if base is not None:
            problems += error_problems(base, "base", limit)
        inputs = {c.id: c.inputs for c in cases}
        gate = suite.spec.gate
        verdicts = tuple(
            judge_scorer(
                ScorerRule(
                    named.key,
                    spec.threshold,
                    spec.tolerance,
                    spec.gate,
                    named.scorer.higher_is_better,
                ),
                candidate,
                base,
                inputs,
                resamples=gate.resamples,
                seed=gate.seed,
                confidence=gate.confidence,
            )
            for named, spec in zip(scorers, suite.spec.scorers, strict=True)
        )
        status = suite_status(verdicts, problems, inconclusive_fails=gate.inconclusive == "fail")
        return SuiteVerdict(
            change.name,
            suite.spec.name,
            suite.content_hash,
            change.reasons,
            status,
            candidate,
            base,
            verdicts,
            tuple(problems),
        )

    async def _scorer(self, index: int, suite: Suite, catalog: Catalog) -> NamedScorer:
        spec = suite.spec.scorers[index]
        options = {k: _rooted(v, catalog.root) for k, v in spec.options.items()}
        provider = None
        if needs_model(spec.name):
            provider = await self.pool.get(spec.model or self.config.default_model)
        try:
            scorer = get_scorer(spec.name, options, provider=provider)
        except ConfigError as exc:
            raise ConfigError(f"{suite.where(('scorers', index))}: {exc}") from None
        return NamedScorer(scorer_key(spec), scorer)

    def _plan(self, prompt: Prompt, suite: Suite, cases: list[Case]) -> _VersionRun:
        """The version's run: its id derives from everything that determines its answers."""
        model = self.model or suite.spec.model or prompt.spec.model
        model = model or self.config.default_model
        ref = self.pool.ref(model)
        params = prompt.spec.params.to_generate_params()
        repeats = suite.spec.repeats
        identity = json.dumps(
            [prompt.content_hash, suite.content_hash, ref, params.as_key_dict(), repeats],
            sort_keys=True,
        )
        run_id = (
            f"gate-{prompt.spec.name.replace('/', '_')}-{prompt.spec.version}-"
            f"{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
        )
        existing = self.store.get_run(run_id)
        reused = existing is not None and existing.status == "finished"
        specs = (
            []
            if reused
            else [
                CallSpec(c.id, r, prompt.render(c.inputs), params)
                for c in cases
                for r in range(repeats)
            ]
        )
        return _VersionRun(prompt, model, ref, run_id, reused, specs)

    async def _run_pending(self, plans: list[_VersionRun], suite: Suite) -> None:
        """Run the versions not in the store side by side, sharing the concurrency.

        Two versions at half the concurrency each finish together, instead of one after
        the other with two tails of slow calls.
        """
        pending = list({p.run_id: p for p in plans if not p.reused}.values())
        if not pending:
            return
        share = max(1, self.config.runner.concurrency // len(pending))
        config = self.config.model_copy(
            update={"runner": self.config.runner.model_copy(update={"concurrency": share})}
        )
        self.progress.start(sum(len(p.specs) for p in pending), 0)
        shared = _SharedProgress(self.progress)
        try:
            summaries = await asyncio.gather(
                *(self._run_version(p, suite, config, shared) for p in pending)
            )
        finally:
            self.progress.stop()
        self.model_calls += sum(s.called for s in summaries)

    async def _run_version(
        self, plan: _VersionRun, suite: Suite, config: EvalmonConfig, progress: ProgressReporter
    ) -> RunSummary:
        provider = await self.pool.get(plan.model)
        params = plan.specs[0].params if plan.specs else None
        self.store.start_run(
            plan.run_id,
            kind="gate",
            model_ref=provider.ref,
            prompt_ref=plan.prompt.ref,
            dataset_ref=suite.spec.dataset,
            params={**(params.as_key_dict() if params else {}), "repeats": suite.spec.repeats},
            config={
                "prompt_hash": plan.prompt.content_hash,
                "suite": suite.spec.name,
                "suite_hash": suite.content_hash,
            },
        )
        summary = await run_and_store(
            provider, self.store, plan.run_id, plan.specs, config, progress
        )
        self.store.finish_run(plan.run_id, "finished", {"suite": suite.spec.name})
        return summary

    async def _scores(
        self, plan: _VersionRun, cases: list[Case], scorers: list[NamedScorer]
    ) -> VersionScores:
        calls = self.store.run_calls(plan.run_id, CALL_COLUMNS).to_pylist()
        scores = await score_run(
            self.store,
            plan.run_id,
            calls,
            {c.id: c for c in cases},
            scorers,
            concurrency=self.config.runner.concurrency,
        )
        outputs = {c["case_id"]: c["text"] or "" for c in calls if int(c["repeat"]) == 0}
        errors = sum(1 for c in calls if c["error_kind"])
        return VersionScores(
            plan.prompt.ref,
            plan.prompt.content_hash,
            plan.ref,
            plan.run_id,
            scores.values,
            outputs,
            errors,
            len(calls),
            plan.reused,
        )


@dataclass(frozen=True, slots=True)
class _VersionRun:
    """One version's planned run."""

    prompt: Prompt
    model: str
    ref: str
    run_id: str
    reused: bool
    specs: list[CallSpec]


class _SharedProgress:
    """One progress bar for several concurrent runs: only ``advance`` is forwarded."""

    def __init__(self, inner: ProgressReporter) -> None:
        self._inner = inner

    def start(self, total: int, already_done: int) -> None:
        """Started once by the gate for all runs."""

    def advance(self, result: CallResult) -> None:
        """Forward one finished call."""
        self._inner.advance(result)

    def stop(self) -> None:
        """Stopped once by the gate."""


def _rooted(value: object, root: Path) -> object:
    """A scorer option naming a file in the repository, made absolute."""
    if isinstance(value, str) and value.endswith((".yaml", ".yml", ".json")):
        path = root / value
        if path.is_file():
            return str(path)
    return value
