"""``evalmon demo`` / ``python -m flows.demo``: the whole pipeline on the embedded defaults.

Five steps, each with a banner and a progress bar, all under one output folder (default
``demo-output/``), with the embedded local model, one DuckDB file and no Prefect server
(Prefect starts a temporary one):

1. the prompt gate (flow ``prompt_gate``) on an example change to ``rag_qa``, in a
   throwaway git repository (:func:`flows.demo_steps.build_gate_repo`);
2. a small "lost in the middle" benchmark, with its Markdown report and U-curve plot;
3. ingest (flow ``ingest``) of the bundled generated traffic, replayed as the last 24 h;
4. the 1% production judge (flow ``judge_sample``) with the example's rubrics;
5. the metrics export (flow ``export_metrics``): to a Pushgateway when one is given, else
   to a ``.prom`` text file.

The model calls are stored and cached, so a second run is quick.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.providers import DEFAULT_MODEL, EvalmonError
from evals.runner import RichProgress
from flows.cli_common import fail
from flows.config import EvalmonConfig, load_config
from flows.demo_run import StepResult
from flows.demo_steps import ROOT, TRAFFIC_SAMPLE
from metrics.store import Store, StoreLockedError

#: The example app's rubrics (``prompts/judges/``).
JUDGE_RUBRICS = ("faithfulness.yaml", "answer_relevance.yaml")
WEAK_JUDGE = (
    "SmolLM2-135M is a weak judge: on the labelled set it barely beats chance (SPEC). Its "
    "scores show the plumbing, not the quality; set --model (or [judge] models) to a "
    "stronger model for real judgments."
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs, and how big.

    Attributes:
        out: Output folder (store, reports, plots, metrics).
        model: Model of the app, the gate, the benchmark and the judge.
        traffic: Folder of capture files to ingest and judge.
        pushgateway_url: Push the metrics here; None writes a ``.prom`` file instead.
        gate_cases: Cases of the demo's gate suite.
        position_questions: Questions of the position benchmark.
        position_documents: Documents per benchmark context (10, 20 or 30).
        judge_min_per_group: Judge at least this many requests per prompt version.
    """

    out: Path = Path("demo-output")
    model: str = DEFAULT_MODEL
    traffic: Path = TRAFFIC_SAMPLE
    pushgateway_url: str | None = None
    gate_cases: int = 6
    position_questions: int = 5
    position_documents: int = 10
    judge_min_per_group: int = 1


@dataclass(slots=True)
class DemoReport:
    """Every step's result, and the store."""

    store: Path
    steps: list[StepResult] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Wall time of all the steps."""
        return sum(s.seconds for s in self.steps)


def write_config(options: DemoOptions) -> EvalmonConfig:
    """Write ``OUT/evalmon.toml`` for the demo (reusable with ``--config``) and load it."""
    out = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rubrics = [str(ROOT / "prompts/judges" / name) for name in JUDGE_RUBRICS]
    text = (
        "# The demo's settings, written by flows/demo.py; use them with --config.\n"
        f"store = {json.dumps(str(out / 'evalmon.duckdb'))}\n"
        f"default_model = {json.dumps(options.model)}\n\n"
        "[judge]\n"
        f"rubrics = {json.dumps(rubrics)}\n"
        f"models = {json.dumps([options.model])}\n"
        "sample_rate = 0.01\n"
        f"min_per_group = {options.judge_min_per_group}\n\n"
        "[export]\n"
    )
    if options.pushgateway_url:  # a demo does not wait minutes for a Pushgateway that is down
        text += (
            f"pushgateway_url = {json.dumps(options.pushgateway_url)}\n"
            "push_retries = 1\nretry_delays_s = [2]\n"
        )
    else:
        text += f"textfile = {json.dumps(str(out / 'metrics' / 'evalmon.prom'))}\n"
    path = out / "evalmon.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


class Demo:
    """Runs the steps in order, printing a banner before each and a line after."""

    def __init__(self, options: DemoOptions, console: Console) -> None:
        """Prepare the output folder and its configuration."""
        self.options = options
        self.console = console
        self.out = options.out.resolve()
        self.config = write_config(options)
        self.report = DemoReport(self.config.store)

    def store(self) -> Store:
        """The demo's store (open it with ``with``)."""
        return Store(self.config.store)

    def progress(self, what: str) -> RichProgress:
        """Progress bars for a step's model calls (one per batch of calls)."""
        return RichProgress(what, self.console)

    def step(self, number: int, title: str, detail: str, run: Callable[[], StepResult]) -> None:
        """Run one step between its banner and its timing."""
        self.console.rule(f"[bold cyan]Step {number}/5 · {title}")
        self.console.print(detail, highlight=False)
        started = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - started
        done = replace(result, seconds=seconds)
        self.report.steps.append(done)
        self.console.print(f"[green]✓[/] {done.outcome} [dim]({seconds:.1f} s)[/]")

    def run(self) -> DemoReport:
        """All five steps."""
        from flows.demo_run import export_step, gate_step, ingest_step, judge_step, position_step

        o = self.options
        self.step(1, "Prompt gate on an example change",
                  f"A throwaway git repository gets rag_qa bumped to 1.1.0 with a reworded "
                  f"instruction; the prompt_gate flow runs its demo suite ({o.gate_cases} NQ "
                  f"cases) on base and candidate with {o.model} and decides.",
                  lambda: gate_step(self))  # fmt: skip
        self.step(2, "Lost in the middle",
                  f"{o.position_questions} NQ-Open questions, {o.position_documents} documents, "
                  "the gold passage at the paper's positions, plus closed-book and oracle "
                  "baselines.",
                  lambda: position_step(self))  # fmt: skip
        self.step(3, "Ingest production traffic",
                  f"The bundled generated traffic ({o.traffic}) is replayed as the last 24 h "
                  "(timestamps shifted, nothing else changed) and loaded by the ingest flow.",
                  lambda: ingest_step(self))  # fmt: skip
        self.step(4, "Judge the 1% sample",
                  "The judge_sample flow picks the deterministic 1% (at least "
                  f"{o.judge_min_per_group} per prompt version), redacts personal data and "
                  f"judges faithfulness and answer relevance with {o.model}.\n"
                  f"[yellow]{escape(WEAK_JUDGE)}[/]",
                  lambda: judge_step(self))  # fmt: skip
        where = o.pushgateway_url or "a Prometheus text file (no Pushgateway given)"
        self.step(5, "Export metrics",
                  f"The export_metrics flow reads the store once and sends every metric to "
                  f"{where}.",
                  lambda: export_step(self))  # fmt: skip
        return self.report


def summary_table(report: DemoReport) -> Table:
    """Per step: time, outcome and files written."""
    table = Table(title=f"evalmon demo: {report.seconds:.0f} s", show_lines=True)
    for column in ("step", "time", "outcome", "files"):
        table.add_column(column, overflow="fold")
    for s in report.steps:
        files = "\n".join(str(p) for p in s.artefacts)
        table.add_row(s.name, f"{s.seconds:.1f} s", s.outcome, files)
    table.add_row("store", "", "every run, call, score, decision and request", str(report.store))
    return table


def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("demo-output"),
    model: Annotated[str, typer.Option(help="Model of every step.")] = DEFAULT_MODEL,
    traffic: Annotated[
        Path, typer.Option(help="Capture files to ingest and judge.")
    ] = TRAFFIC_SAMPLE,
    pushgateway: Annotated[
        str | None,
        typer.Option(
            envvar="EVALMON_PUSHGATEWAY", help="Pushgateway host:port (unset: a .prom file)."
        ),
    ] = None,
    gate_cases: Annotated[int, typer.Option(min=1, help="Cases of the gate suite.")] = 6,
    position_questions: Annotated[int, typer.Option(min=1, help="Benchmark questions.")] = 5,
) -> None:
    """Run the whole pipeline on the embedded defaults: gate, benchmark, ingest, judge, export."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    console = Console(width=None if sys.stdout.isatty() else 120)
    options = DemoOptions(
        out=out, model=model, traffic=traffic,
        pushgateway_url=pushgateway or None,
        gate_cases=gate_cases, position_questions=position_questions,
    )  # fmt: skip
    started = datetime.now(UTC)
    try:
        report = Demo(options, console).run()
    except (EvalmonError, StoreLockedError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(
            "interrupted: run again; finished calls are kept and not repeated", 130
        ) from None
    console.rule("[bold cyan]Done")
    console.print(summary_table(report))
    console.print(
        f"Started {started:%H:%M:%S} UTC. Run it again: the calls come from the cache. "
        f"Explore with `evalmon review list --config {options.out / 'evalmon.toml'}`.",
        highlight=False,
    )


if __name__ == "__main__":  # pragma: no cover
    typer.run(demo)
