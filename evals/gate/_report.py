"""The gate's outputs: Markdown for a PR comment, JUnit XML for CI, JSON for tools."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from evals.gate._verdicts import ScorerVerdict, SuiteStatus, SuiteVerdict, exit_code

_ICON = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "error": "🛑"}
_TEXT_LIMIT = 160


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything one gate run decided.

    Attributes:
        base_ref: The ``--base`` given.
        base_commit: The commit compared with (the merge base).
        changed_files: Files that differ from the base.
        suites: One verdict per (changed prompt, suite).
        unchanged: Prompts that did not change (not run).
        notes: Other remarks (a changed prompt without suites, say).
        model_calls: Model calls this gate made (0 when everything was reused).
        started_at: When the gate's own work began (UTC; after Prefect started the run).
    """

    base_ref: str
    base_commit: str
    changed_files: tuple[str, ...]
    suites: tuple[SuiteVerdict, ...]
    unchanged: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    model_calls: int = 0
    started_at: datetime | None = None

    @property
    def exit_code(self) -> int:
        """0 pass, 1 regression, 2 error."""
        return exit_code(self.suites)

    @property
    def status(self) -> str:
        """The overall outcome as a word."""
        return {0: "pass", 1: "fail", 2: "error"}[self.exit_code] if self.suites else "pass"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    text = text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
    return text.replace("|", "\\|")


def _scorer_row(s: ScorerVerdict) -> str:
    c = s.comparison
    interval = f"{_num(c.ci_low, True)} … {_num(c.ci_high, True)}" if c else "-"
    mde = _num(c.mde) if c and math.isfinite(c.mde) else "-"
    verdict = s.decision.verdict.value + ("" if s.gating else " (not gating)")
    return (
        f"| {s.scorer} | {_num(s.base_mean)} | {_num(s.candidate_mean)} | "
        f"{_num(c.delta, True) if c else '-'} | {interval} | {mde} | "
        f"{'-' if s.threshold is None else s.threshold} | {_ICON[s.decision.verdict.value]} "
        f"{verdict} |"
    )


def markdown(result: GateResult) -> str:
    """The report as Markdown, ready to post as a pull-request comment."""
    head = _ICON[result.status] + f" **evalmon prompt gate: {result.status.upper()}**"
    lines = [
        head,
        "",
        f"Compared with `{result.base_ref}` (merge base `{result.base_commit[:12]}`). "
        f"{len(result.suites)} suite run(s) for {len({s.prompt for s in result.suites})} changed "
        f"prompt(s); {result.model_calls} model calls.",
    ]
    for note in result.notes:
        lines += ["", f"> {note}"]
    for suite in result.suites:
        lines += ["", *_suite_markdown(suite)]
    if result.unchanged:
        lines += ["", f"Unchanged prompts, not run: {', '.join(result.unchanged)}."]
    lines += [
        "",
        "<sub>Paired comparison per case; 95% paired-bootstrap interval of the mean delta "
        "(candidate − base); MDE: smallest true delta detectable at 80% power. Errors are "
        "excluded from scores and counted separately.</sub>",
    ]
    return "\n".join(lines) + "\n"


def _suite_markdown(suite: SuiteVerdict) -> list[str]:
    base, cand = suite.base, suite.candidate
    title = f"### {_ICON[suite.status.value]} `{cand.prompt_ref}` · suite `{suite.suite}`"
    versions = f"base `{base.prompt_ref}`" if base else "new prompt (no base)"
    lines = [
        title,
        "",
        f"{versions} → candidate `{cand.prompt_ref}` on `{cand.model_ref}`"
        + (f" (base on `{base.model_ref}`)" if base and base.model_ref != cand.model_ref else "")
        + f". Changed: {'; '.join(suite.reasons)}.",
        "",
        f"Cases errored: candidate {cand.errors}/{cand.calls}"
        + (
            f", base {base.errors}/{base.calls}"
            + (" (reused from the store)" if base.reused else "")
            if base
            else ""
        )
        + ".",
    ]
    for problem in suite.problems:
        lines += ["", f"🛑 {problem}"]
    lines += [
        "",
        "| scorer | base | candidate | delta | 95% CI | MDE | threshold | verdict |",
        "|---|---|---|---|---|---|---|---|",
        *(_scorer_row(s) for s in suite.scorers),
    ]
    for s in suite.scorers:
        lines += ["", f"- **{s.scorer}**: " + " ".join(s.decision.reasons)]
        if s.worst and s.decision.verdict.value != "pass":
            lines += _worst_markdown(s)
    return lines


def _worst_markdown(s: ScorerVerdict) -> list[str]:
    lines = [
        "",
        "<details><summary>Worst regressed cases</summary>",
        "",
        "| case | inputs | base output | candidate output | base | candidate |",
        "|---|---|---|---|---|---|",
    ]
    for case in s.worst:
        lines.append(
            f"| `{case.case_id}` | {_clip(dict(case.inputs))} | {_clip(case.base_output)} | "
            f"{_clip(case.candidate_output)} | {_num(case.base)} | {_num(case.candidate)} |"
        )
    return [*lines, "", "</details>"]


def junit_xml(result: GateResult) -> str:
    """One testsuite per (prompt, suite), one testcase per scorer; fail/error as JUnit does."""
    root = ET.Element("testsuites", name="evalmon prompt gate")
    for suite in result.suites:
        element = ET.SubElement(
            root, "testsuite", name=f"{suite.prompt}/{suite.suite}", tests=str(len(suite.scorers))
        )
        failures = errors = 0
        if suite.status is SuiteStatus.ERROR:
            errors += 1
            case = ET.SubElement(element, "testcase", classname=suite.suite, name="run")
            ET.SubElement(case, "error", message="; ".join(suite.problems))
        for s in suite.scorers:
            case = ET.SubElement(
                element, "testcase", classname=f"{suite.prompt}.{suite.suite}", name=s.scorer
            )
            message = " ".join(s.decision.reasons)
            if s.decision.verdict.value == "fail" and s.gating:
                failures += 1
                ET.SubElement(case, "failure", message=message)
            elif s.decision.verdict.value != "pass":
                ET.SubElement(case, "system-out").text = message
        element.set("failures", str(failures))
        element.set("errors", str(errors))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def to_json(result: GateResult) -> dict[str, Any]:
    """The result as JSON-ready data."""
    return {
        "status": result.status,
        "exit_code": result.exit_code,
        "base_ref": result.base_ref,
        "base_commit": result.base_commit,
        "changed_files": list(result.changed_files),
        "model_calls": result.model_calls,
        "started_at": result.started_at.isoformat() if result.started_at else None,
        "notes": list(result.notes),
        "suites": [_suite_json(s) for s in result.suites],
    }


def _suite_json(suite: SuiteVerdict) -> dict[str, Any]:
    def version(v: Any) -> dict[str, Any] | None:
        if v is None:
            return None
        return {
            "prompt": v.prompt_ref,
            "prompt_hash": v.prompt_hash,
            "model": v.model_ref,
            "run_id": v.run_id,
            "calls": v.calls,
            "errors": v.errors,
            "reused": v.reused,
        }

    return {
        "prompt": suite.prompt,
        "suite": suite.suite,
        "suite_hash": suite.suite_hash,
        "status": suite.status.value,
        "reasons": list(suite.reasons),
        "problems": list(suite.problems),
        "base": version(suite.base),
        "candidate": version(suite.candidate),
        "scorers": [_scorer_json(s) for s in suite.scorers],
    }


def _scorer_json(s: ScorerVerdict) -> dict[str, Any]:
    c = s.comparison
    return {
        "scorer": s.scorer,
        "gating": s.gating,
        "verdict": s.decision.verdict.value,
        "reasons": list(s.decision.reasons),
        "base_mean": s.base_mean,
        "candidate_mean": s.candidate_mean,
        "threshold": s.threshold,
        "tolerance": s.tolerance,
        "comparison": None
        if c is None
        else {
            "n": c.n,
            "n_unpaired": c.n_unpaired,
            "delta": c.delta,
            "ci_low": c.ci_low,
            "ci_high": c.ci_high,
            "mde": c.mde if math.isfinite(c.mde) else None,
            "resamples": c.resamples,
            "seed": c.seed,
            "confidence": c.confidence,
        },
        "worst_cases": [
            {
                "case_id": w.case_id,
                "base": w.base,
                "candidate": w.candidate,
                "base_output": w.base_output,
                "candidate_output": w.candidate_output,
            }
            for w in s.worst
        ],
    }
