"""``evalmon ingest``, ``evalmon judge`` and ``evalmon review``: production monitoring."""

from __future__ import annotations

import asyncio
import getpass
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evals.providers import EvalmonError
from flows.cli_common import ConfigOption, config_from, err, fail, out

judge_app = typer.Typer(
    help="The production judge: sample, judge, calibrate.", no_args_is_help=True
)
review_app = typer.Typer(help="The human review queue.", no_args_is_help=True)
StoreOption = Annotated[Path | None, typer.Option(help="DuckDB file (default from config).")]


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r} is not an ISO date or time, e.g. 2026-11-30T09:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Capture files (JSONL, Parquet) or folders.")],
    store: StoreOption = None,
    config_path: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (on a terminal).")] = True,
) -> None:
    """Load capture files into DuckDB, idempotently; malformed lines are quarantined."""
    from flows.ingest_progress import IngestBar
    from flows.production_flows import check_capture_paths, ingest_flow

    try:
        check_capture_paths([str(p) for p in paths])  # before Prefect starts a server
        config = config_from(config_path, store)
        bar = IngestBar(err) if progress and err.is_terminal else None
        report = ingest_flow(paths=[str(p) for p in paths], config=config, progress=bar)
    except (EvalmonError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    out.print(report.summary, markup=False, highlight=False)
    for line in report.quarantined[:20]:
        err.print(
            f"quarantined {line.file}:{line.line}: {line.reason}", markup=False, soft_wrap=True
        )
    if len(report.quarantined) > 20:
        err.print(f"... and {len(report.quarantined) - 20} more (table ingest_quarantine)")


@judge_app.command("run")
def judge_run(
    ingest_path: Annotated[
        list[Path] | None, typer.Option("--ingest", help="Ingest these files or folders first.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Window start (ISO, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Window end (ISO, UTC).")] = None,
    store: StoreOption = None,
    config_path: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Judge the deterministic sample of production traffic and fill the review queue."""
    from evals.runner import NoProgress, RichProgress
    from flows.production_flows import check_capture_paths, judge_sample_flow

    try:
        check_capture_paths([str(p) for p in ingest_path or ()])
        config = config_from(config_path, store)
        reporter = RichProgress("judge", err) if progress and err.is_terminal else NoProgress()
        report = asyncio.run(
            judge_sample_flow(
                paths=[str(p) for p in ingest_path or ()],
                since=_when(since),
                until=_when(until),
                config=config,
                progress=reporter,
            )
        )
    except (EvalmonError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    table = Table(
        "rubric",
        "sampled",
        "judged",
        "scored",
        "unscored",
        "redactions",
        "to review",
        "mean score",
        "uncalibrated judges",
    )
    for r in report.rubrics:
        mean = "-" if r.mean_score is None else f"{r.mean_score:.3f}"
        table.add_row(
            r.rubric,
            str(r.sampled),
            str(r.judged),
            str(r.scored),
            str(r.unscored),
            str(r.redactions),
            str(r.reviews),
            mean,
            ", ".join(r.uncalibrated_judges) or "-",
        )
    out.print(table)


@judge_app.command("calibrate")
def judge_calibrate(
    labels: Annotated[Path | None, typer.Option(help="Labelled examples (JSONL).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Judge model.")] = None,
    store: StoreOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Run the judge on human-labelled examples; report kappa, Spearman, confusion matrix."""
    from flows.judge_calibrate import run_calibration

    try:
        config = config_from(config_path, store)
        reports = asyncio.run(run_calibration(labels or config.judge.labels, config, model=model))
    except EvalmonError as exc:
        raise fail(str(exc)) from None
    for r in reports:
        c = r.calibration
        verdict = "calibrated" if c.calibrated else "UNCALIBRATED"
        out.print(f"[bold]{r.rubric_version}[/] judged by {r.judge_ref}: {verdict} — {c.summary}")
        low, high = c.scale
        table = Table("human \\ judge", *[str(s) for s in range(low, high + 1)])
        for score, row in zip(range(low, high + 1), c.confusion, strict=True):
            table.add_row(str(score), *[str(v) for v in row])
        out.print(table)


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    store: StoreOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Show the review queue, oldest first."""
    from metrics.production import review_items
    from metrics.store import Store

    config = config_from(config_path, store)
    with Store(config.store) as db:
        items = review_items(
            db, status=None if status == "all" else status, reason=reason, limit=limit
        )
    table = Table("request", "reason", "status", "model", "prompt", "question", "response")
    for i in items:
        table.add_row(
            i.request_id,
            i.reason,
            i.status,
            i.model or "-",
            i.prompt_ref or "-",
            (i.question or "")[:60],
            (i.output or "")[:60],
        )
    out.print(table)
    err.print(f"{len(items)} item(s)")


@review_app.command("export")
def review_export(
    output: Annotated[Path, typer.Option("--out", help="JSONL file to write.")],
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    store: StoreOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Write the queue as JSON lines (for a labelling tool, or a spreadsheet)."""
    from metrics.production import review_items
    from metrics.store import Store

    config = config_from(config_path, store)
    with Store(config.store) as db:
        items = review_items(db, status=None if status == "all" else status, limit=1_000_000)
    with output.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(asdict(item), default=str, ensure_ascii=False) + "\n")
    err.print(f"wrote {len(items)} item(s) to {output}")


@review_app.command("resolve")
def review_resolve(
    request_id: Annotated[str, typer.Argument(help="The request's id.")],
    label: Annotated[str, typer.Option(help="Your verdict, e.g. ok, hallucination, 1-5.")],
    by: Annotated[str | None, typer.Option(help="Who resolved it (default: $USER).")] = None,
    store: StoreOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Resolve a request's open review items with a label (labels feed calibration)."""
    from metrics.production import resolve_review
    from metrics.store import Store

    config = config_from(config_path, store)
    try:
        with Store(config.store) as db:
            count = resolve_review(db, request_id, label=label, resolved_by=by or getpass.getuser())
    except LookupError as exc:
        raise fail(str(exc).strip("'\"")) from None
    err.print(f"resolved {count} item(s) of {request_id} as {label!r}")
