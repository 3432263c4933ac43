"""From per-case scores of two versions to a verdict per scorer and per suite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evals.gate._stats import (
    Decision,
    PairedComparison,
    Verdict,
    collapse_repeats,
    decide,
    paired_bootstrap,
)

WORST_CASES = 5


class SuiteStatus(StrEnum):
    """A suite's outcome; ``error`` means the gate could not judge (exit code 2)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class VersionScores:
    """One version's results on a suite.

    Attributes:
        prompt_ref: ``name@version``.
        prompt_hash: The prompt's content hash.
        model_ref: The model that answered.
        run_id: The stored run.
        scores: Per scorer, (case id, repeat) -> value (None: unscored or errored).
        outputs: (case id, repeat 0) -> output text, for the report's worst cases.
        errors: Calls that errored.
        calls: Calls in the run.
        reused: Whether the whole run was taken from the store.
    """

    prompt_ref: str
    prompt_hash: str
    model_ref: str
    run_id: str
    scores: Mapping[str, Mapping[tuple[str, int], float | None]]
    outputs: Mapping[str, str]
    errors: int
    calls: int
    reused: bool = False

    @property
    def error_share(self) -> float:
        """Share of calls that errored."""
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class CaseDelta:
    """One case's scores under both versions, for the list of worst regressions."""

    case_id: str
    base: float
    candidate: float
    inputs: Mapping[str, Any]
    base_output: str
    candidate_output: str

    @property
    def delta(self) -> float:
        """Candidate minus base."""
        return self.candidate - self.base


@dataclass(frozen=True, slots=True)
class ScorerVerdict:
    """The gate's decision for one scorer of one suite."""

    scorer: str
    gating: bool
    decision: Decision
    comparison: PairedComparison | None
    candidate_mean: float | None
    base_mean: float | None
    threshold: float | None
    tolerance: float
    worst: tuple[CaseDelta, ...] = ()


@dataclass(frozen=True, slots=True)
class SuiteVerdict:
    """The gate's decision for one (prompt, suite)."""

    prompt: str
    suite: str
    suite_hash: str
    reasons: tuple[str, ...]
    status: SuiteStatus
    candidate: VersionScores
    base: VersionScores | None
    scorers: tuple[ScorerVerdict, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class ScorerRule:
    """How one scorer is judged (from the suite's scorer entry)."""

    key: str
    threshold: float | None
    tolerance: float
    gating: bool
    higher_is_better: bool = True


def _mean(values: Mapping[str, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None


def judge_scorer(
    rule: ScorerRule,
    candidate: VersionScores,
    base: VersionScores | None,
    inputs: Mapping[str, Mapping[str, Any]],
    *,
    resamples: int,
    seed: int,
    confidence: float,
) -> ScorerVerdict:
    """Compare one scorer's per-case means between the versions and decide."""
    cand = collapse_repeats(candidate.scores.get(rule.key, {}))
    cand_mean = _mean(cand)
    if base is None:  # a new prompt: only its absolute threshold can be checked
        missed = rule.threshold is not None and (
            cand_mean is None or not _meets(cand_mean, rule.threshold, rule.higher_is_better)
        )
        reason = (
            f"new prompt, no baseline; mean {_fmt(cand_mean)} misses the threshold {rule.threshold}"
            if missed
            else "new prompt, no baseline: only the absolute threshold applies"
        )
        decision = Decision(Verdict.FAIL if missed else Verdict.PASS, (reason,))
        return ScorerVerdict(
            rule.key, rule.gating, decision, None, cand_mean, None, rule.threshold, rule.tolerance
        )
    old = collapse_repeats(base.scores.get(rule.key, {}))
    try:
        comparison = paired_bootstrap(
            old, cand, resamples=resamples, seed=seed, confidence=confidence
        )
    except ValueError as exc:
        decision = Decision(Verdict.INCONCLUSIVE, (str(exc),))
        return ScorerVerdict(
            rule.key,
            rule.gating,
            decision,
            None,
            cand_mean,
            _mean(old),
            rule.threshold,
            rule.tolerance,
        )
    decision = decide(
        comparison,
        threshold=rule.threshold,
        tolerance=rule.tolerance,
        higher_is_better=rule.higher_is_better,
    )
    sign = 1.0 if rule.higher_is_better else -1.0
    paired = sorted(set(old) & set(cand), key=lambda c: (sign * (cand[c] - old[c]), c))
    worst = tuple(
        CaseDelta(
            c,
            old[c],
            cand[c],
            inputs.get(c, {}),
            base.outputs.get(c, ""),
            candidate.outputs.get(c, ""),
        )
        for c in paired[:WORST_CASES]
        if sign * (cand[c] - old[c]) < 0
    )
    return ScorerVerdict(
        rule.key,
        rule.gating,
        decision,
        comparison,
        comparison.candidate_mean,
        comparison.base_mean,
        rule.threshold,
        rule.tolerance,
        worst,
    )


def _meets(value: float, threshold: float, higher_is_better: bool) -> bool:
    return value >= threshold if higher_is_better else value <= threshold


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def suite_status(
    scorers: Sequence[ScorerVerdict],
    problems: Sequence[str],
    *,
    inconclusive_fails: bool,
) -> SuiteStatus:
    """The suite's status from its scorers' verdicts.

    ERROR with problems; else FAIL if a gating scorer failed (or was inconclusive when that
    is set to fail); INCONCLUSIVE if one was inconclusive; else PASS.
    """
    if problems:
        return SuiteStatus.ERROR
    verdicts = {s.decision.verdict for s in scorers if s.gating}
    if Verdict.FAIL in verdicts or (inconclusive_fails and Verdict.INCONCLUSIVE in verdicts):
        return SuiteStatus.FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return SuiteStatus.INCONCLUSIVE
    return SuiteStatus.PASS


def error_problems(version: VersionScores, label: str, max_error_share: float) -> list[str]:
    """A version with more errored calls than allowed cannot be judged: say so."""
    if version.error_share > max_error_share:
        return [
            f"{label} {version.prompt_ref} on {version.model_ref}: {version.errors} of "
            f"{version.calls} calls errored ({version.error_share:.0%} > the allowed "
            f"{max_error_share:.0%}); errors are not scores, so the gate cannot judge"
        ]
    return []


def exit_code(suites: Sequence[SuiteVerdict]) -> int:
    """0 pass (inconclusive warns), 1 a regression, 2 an error."""
    statuses = {s.status for s in suites}
    if SuiteStatus.ERROR in statuses:
        return 2
    return 1 if SuiteStatus.FAIL in statuses else 0
