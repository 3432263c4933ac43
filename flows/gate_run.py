"""The prompt-change gate: run each changed prompt's suites on base and candidate, decide.

Each version's run id is derived from what determines its answers (prompt hash, suite hash,
model and parameters), so a version already run — typically the base, on every pull request
after the first — is taken from the store with its scores, not run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from evals.catalog import Catalog, load_catalog
from evals.datasets import Case, load_cases
from evals.gate import (
    GateResult,
    PromptChange,
    ScorerRule,
    SuiteVerdict,
    VersionScores,
    changed_files,
    current_branch,
    error_problems,
    export_tree,
    find_changes,
    judge_scorer,
    repo_root,
    resolve_base,
    suite_status,
)
from evals.prompts import Prompt
from evals.providers import CallResult, ConfigError
from evals.runner import CallSpec, NoProgress, ProgressReporter, RunSummary
from evals.scorers import get_scorer, needs_model
from evals.suites import Suite, scorer_key
from flows.config import EvalmonConfig
from flows.gate_scoring import NamedScorer, score_run
from flows.running import ProviderPool, run_and_store
from metrics.store import GateDecisionRow, Store


@dataclass(frozen=True, slots=True)
class GateRequest:
    """What to gate.

    Attributes:
        base: Git ref to compare with (its merge base with HEAD is used).
        path: A directory inside the repository.
        model: Model for both versions, overriding suites and prompts.
        prompts: Gate only these prompt names (default: every changed prompt).
    """

    base: str = "origin/main"
    path: Path = Path()
    model: str | None = None
    prompts: tuple[str, ...] = ()


async def run_gate(
    request: GateRequest, config: EvalmonConfig, progress: ProgressReporter | None = None
) -> GateResult:
    """Find the changed prompts, run their suites on both versions, decide and store.

    Raises:
        ConfigError: Bad input (a malformed prompt or suite, an unbumped version, an
            unknown base ref, a model that does not answer): exit code 2.
    """
    root = repo_root(request.path.resolve())
    commit = resolve_base(root, request.base)
    files = tuple(changed_files(root, commit))
    candidate = load_catalog(root)
    with tempfile.TemporaryDirectory(prefix="evalmon-gate-base-") as tmp:
        try:
            base = load_catalog(export_tree(root, commit, Path(tmp)))
        except ConfigError as exc:
            raise ConfigError(f"in the base {request.base} ({commit[:12]}): {exc}") from None
        changes = [
            c
            for c in find_changes(base, candidate)
            if not request.prompts or c.name in request.prompts
        ]
        unchanged = tuple(sorted(set(candidate.prompts) - {c.name for c in changes}))
        pool = ProviderPool(config)
        try:
            with Store(config.store) as store:
                runner = _GateRunner(store, pool, config, request, progress or NoProgress())
                verdicts, notes = [], []
                for change in changes:
                    suites = candidate.suites_of(change.name)
                    if not suites:
                        notes.append(
                            f"prompt {change.name} changed but no suite gates it; add "
                            "one under evals/suites/ and list it in the prompt's suites"
                        )
                    for suite in suites:
                        verdicts.append(await runner.gate_suite(change, suite, candidate))
                result = GateResult(
                    request.base,
                    commit,
                    files,
                    tuple(verdicts),
                    unchanged,
                    tuple(notes),
                    runner.model_calls,
                )
                store.write_gate_decisions(_decision_rows(result, current_branch(root)))
        finally:
            await pool.aclose()
    return result


class _GateRunner:
    def __init__(
        self,
        store: Store,
        pool: ProviderPool,
        config: EvalmonConfig,
        request: GateRequest,
        progress: ProgressReporter,
    ) -> None:
        self.store, self.pool, self.config = store, pool, config
        self.request, self.progress = request, progress
        self.model_calls = 0

    async def gate_suite(
        self, change: PromptChange, suite: Suite, catalog: Catalog
    ) -> SuiteVerdict:
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
        model = self.request.model or suite.spec.model or prompt.spec.model
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
        calls = self.store.run_calls(plan.run_id).to_pylist()
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


def _decision_rows(result: GateResult, branch: str) -> list[GateDecisionRow]:
    now = datetime.now(UTC)
    gate_id = f"{now:%Y%m%dT%H%M%S}-{result.base_commit[:12]}-{secrets.token_hex(3)}"
    rows = []
    for suite in result.suites:
        for s in suite.scorers:
            c = s.comparison
            rows.append(
                GateDecisionRow(
                    gate_id=gate_id,
                    created_at=now,
                    base_commit=result.base_commit,
                    branch=branch,
                    prompt=suite.prompt,
                    suite=suite.suite,
                    suite_status=suite.status.value,
                    scorer=s.scorer,
                    verdict=s.decision.verdict.value,
                    gating=s.gating,
                    candidate_ref=suite.candidate.prompt_ref,
                    candidate_run=suite.candidate.run_id,
                    base_ref=suite.base.prompt_ref if suite.base else None,
                    base_run=suite.base.run_id if suite.base else None,
                    base_mean=s.base_mean,
                    candidate_mean=s.candidate_mean,
                    delta=c.delta if c else None,
                    ci_low=c.ci_low if c else None,
                    ci_high=c.ci_high if c else None,
                    mde=c.mde if c else None,
                    n=c.n if c else None,
                    reasons=list(s.decision.reasons),
                )
            )
    return rows
