"""The CI prompt gate: compare a prompt's base and candidate versions case by case.

- :func:`find_changes` (with :func:`repo_root`, :func:`resolve_base`, :func:`export_tree`)
  finds the prompts a change touches, through partials, suites and datasets;
- :func:`collapse_repeats` averages repeats per case, :func:`paired_bootstrap` estimates the
  mean candidate-minus-base delta with a paired bootstrap interval and minimum detectable
  effect, and :func:`decide` turns that into a pass / fail / inconclusive :class:`Verdict`;
- :func:`judge_scorer` and :func:`suite_status` decide per scorer and per suite;
- :func:`markdown`, :func:`junit_xml` and :func:`to_json` write the report.
"""

from evals.gate._changes import (
    GitError,
    PromptChange,
    changed_files,
    current_branch,
    export_tree,
    find_changes,
    repo_root,
    resolve_base,
)
from evals.gate._report import GateResult, junit_xml, markdown, to_json
from evals.gate._stats import (
    MIN_RESAMPLES,
    Decision,
    PairedComparison,
    Verdict,
    collapse_repeats,
    decide,
    paired_bootstrap,
)
from evals.gate._verdicts import (
    CaseDelta,
    ScorerRule,
    ScorerVerdict,
    SuiteStatus,
    SuiteVerdict,
    VersionScores,
    error_problems,
    exit_code,
    judge_scorer,
    suite_status,
)

__all__ = [
    "MIN_RESAMPLES",
    "CaseDelta",
    "Decision",
    "GateResult",
    "GitError",
    "PairedComparison",
    "PromptChange",
    "ScorerRule",
    "ScorerVerdict",
    "SuiteStatus",
    "SuiteVerdict",
    "Verdict",
    "VersionScores",
    "changed_files",
    "collapse_repeats",
    "current_branch",
    "decide",
    "error_problems",
    "exit_code",
    "export_tree",
    "find_changes",
    "judge_scorer",
    "junit_xml",
    "markdown",
    "paired_bootstrap",
    "repo_root",
    "resolve_base",
    "suite_status",
    "to_json",
]
