"""The demo's five steps (see :mod:`flows.demo`); each returns a :class:`StepResult`."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from flows.demo_steps import build_gate_repo, replay_traffic
from metrics.production import queue_sizes

if TYPE_CHECKING:
    from flows.demo import Demo


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's outcome: how long it took, what it found, and what it wrote."""

    name: str
    seconds: float
    outcome: str
    artefacts: tuple[Path, ...] = ()


def _result(name: str, outcome: str, *artefacts: Path) -> StepResult:
    """A step's result; :meth:`flows.demo.Demo.step` fills in the time it took."""
    return StepResult(name, 0.0, outcome, artefacts)


def _rubric_name(version: str) -> str:
    """``faithfulness`` of ``judges/faithfulness@1.0.0#abc``."""
    return version.split("@")[0].removeprefix("judges/")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def gate_step(demo: Demo) -> StepResult:
    """Gate the example change in a throwaway repository; write Markdown and JUnit XML."""
    from evals.gate import junit_xml, markdown
    from flows.gate_flow import prompt_gate

    folder = demo.out / "gate"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evalmon-demo-repo-") as tmp:
        repo = build_gate_repo(Path(tmp) / "repo", cases=demo.options.gate_cases)
        demo.console.print(f"change on branch {repo.branch}: {repo.change}", highlight=False)
        progress = demo.progress("gate calls")
        gate = prompt_gate(
            base=repo.base, path=str(repo.path), model=demo.options.model,
            config=demo.config, progress=progress,
        )  # fmt: skip
        result = asyncio.run(gate)
    report_md, report_xml = folder / "gate.md", folder / "gate.junit.xml"
    report_md.write_text(markdown(result), encoding="utf-8")
    report_xml.write_text(junit_xml(result), encoding="utf-8")
    table = Table(title="gate verdicts")
    for column in ("suite", "scorer", "base", "candidate", "verdict"):
        table.add_column(column)
    for suite in result.suites:
        for s in suite.scorers:
            verdict = s.decision.verdict.value if s.gating else "not gating"
            table.add_row(suite.suite, s.scorer, _num(s.base_mean), _num(s.candidate_mean), verdict)
    demo.console.print(table)
    outcome = (
        f"gate {result.status.upper()} (exit code {result.exit_code}) for "
        f"{', '.join(f'{s.prompt}/{s.suite}: {s.status.value}' for s in result.suites)}; "
        f"{result.model_calls} model calls"
    )
    return _result("1 prompt gate", outcome, report_md, report_xml)


def position_step(demo: Demo) -> StepResult:
    """A small lost-in-the-middle run with its report and U-curve."""
    from evals.position import PositionConfig
    from flows.position_plot import write_report
    from flows.position_run import run_position

    o = demo.options
    bench = PositionConfig(
        task="qa", n_documents=o.position_documents, positions="paper",
        strategies=["original"], baselines=True, limit=o.position_questions, seed=0,
    )  # fmt: skip
    report = asyncio.run(
        run_position(bench, demo.config, model=o.model, progress=demo.progress("position"))
    )
    folder = demo.out / "position"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "position.md"
    images = write_report(report, path).images
    table = Table(title=f"accuracy, {bench.n_documents} documents")
    for column in ("setting", "gold position", "n", "accuracy"):
        table.add_column(column)
    for c in report.cells:
        accuracy = "-" if c.accuracy is None else f"{c.accuracy:.0%}"
        position = "-" if c.position is None else str(c.position)
        table.add_row(c.setting, position, str(c.n), accuracy)
    demo.console.print(table)
    s = report.summary
    outcome = (
        f"{report.scored} prompts scored ({s.called} called, {s.cached} cached, "
        f"{report.errors} errors, {report.skipped} skipped)"
    )
    return _result("2 position benchmark", outcome, path, *images)


def ingest_step(demo: Demo) -> StepResult:
    """Replay the bundled traffic as the last day and ingest it."""
    from flows.production_flows import ingest_flow

    folder = replay_traffic(demo.options.traffic, demo.out / "traffic", datetime.now(UTC))
    report = ingest_flow(paths=[str(folder)], config=demo.config)
    with demo.store() as store, store.connection() as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT prompt_ref), min(ts) AT TIME ZONE 'UTC', "
            "max(ts) AT TIME ZONE 'UTC', "
            "quantile_disc(latency_s, 0.95) FROM production_requests"  # as the exporter's p95
        ).fetchone()
    assert row is not None
    demo.console.print(
        f"production_requests: {row[0]} requests, {row[1]} prompt versions, "
        f"{row[2]:%Y-%m-%d %H:%M} to {row[3]:%Y-%m-%d %H:%M} UTC, latency p95 {row[4]:.2f} s",
        highlight=False,
    )
    return _result("3 ingest", report.summary, folder)


def judge_step(demo: Demo) -> StepResult:
    """The 1% production judge, with the judged requests shown."""
    from flows.production_flows import judge_sample_flow

    report = asyncio.run(judge_sample_flow(config=demo.config, progress=demo.progress("judge")))
    table = Table(title="judged requests (scores 0..1, SmolLM2 as judge)")
    for column in ("request", "prompt", "rubric", "score", "reasoning or why unscored"):
        table.add_column(column, overflow="fold")
    with demo.store() as store, store.connection() as conn:
        rows = conn.execute(
            "SELECT s.request_id, any_value(p.prompt_ref), s.rubric_version, s.score, "
            "coalesce(s.unscored_reason, s.reasoning) FROM judge_scores s "
            "JOIN production_requests p USING (request_id) GROUP BY ALL ORDER BY 1, 3"
        ).fetchall()
    for r in rows:
        reason = " ".join(str(r[4] or "").split())[:100]
        table.add_row(r[0], r[1], _rubric_name(r[2]), _num(r[3]), reason)
    demo.console.print(table)
    parts = [
        f"{_rubric_name(r.rubric)}: {r.sampled} sampled, {r.scored} scored, {r.unscored} "
        f"unscored, {r.redactions} redactions"
        if r.sampled or r.judged
        else f"{_rubric_name(r.rubric)}: sample judged already"
        for r in report.rubrics
    ]
    with demo.store() as store:
        queued = sum(queue_sizes(store).values())
    outcome = "; ".join(parts) + f"; {report.model_calls} judge calls; {queued} in review queue"
    return _result("4 judge 1%", outcome)


def export_step(demo: Demo) -> StepResult:
    """Export the store's metrics to the Pushgateway or the text file."""
    from flows.export_flow import export_metrics_flow

    run = export_metrics_flow(config=demo.config)
    files = (run.textfile,) if run.textfile is not None else ()
    return _result("5 export", run.summary, *files)
