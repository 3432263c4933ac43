"""The prompt-change gate: find the changed prompts, gate each of their suites, store.

The per-suite work (running and scoring both versions, deciding) is in
:mod:`flows.gate_versions`; a version already run — typically the base, on every pull
request after the first — is taken from the store with its scores, not run again.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from evals.catalog import load_catalog
from evals.gate import (
    GateResult,
    changed_files,
    current_branch,
    export_tree,
    find_changes,
    repo_root,
    resolve_base,
)
from evals.providers import ConfigError
from evals.runner import NoProgress, ProgressReporter
from flows.config import EvalmonConfig
from flows.gate_versions import GateRunner
from flows.running import ProviderPool
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
    started_at = datetime.now(UTC)
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
            with Store(config.store) as store, store.held():
                runner = GateRunner(store, pool, config, request.model, progress or NoProgress())
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
                    started_at,
                )
                store.write_gate_decisions(_decision_rows(result, current_branch(root)))
        finally:
            await pool.aclose()
    return result


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
