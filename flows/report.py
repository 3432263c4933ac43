"""Human-readable renderings of results (terminal tables)."""

from __future__ import annotations

from rich.table import Table

from flows.eval_run import EvalReport


def _short(text: str, width: int = 48) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def eval_table(report: EvalReport) -> Table:
    """A table of every call with its scores, and a caption with the run's totals."""
    scorer_names = list(report.scorer_means)
    table = Table(title=f"{report.prompt_ref} on {report.model_ref}  (run {report.run_id})")
    table.add_column("case", no_wrap=True)
    table.add_column("output", no_wrap=True, overflow="ellipsis", ratio=1, min_width=20)
    for name in scorer_names:
        table.add_column(name, justify="right", no_wrap=True)
    for column in ("latency s", "tokens in/out", "cost $"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in report.rows:
        case = row.case_id if row.repeat == 0 else f"{row.case_id}#{row.repeat}"
        output = f"[red]{_short(row.error)}[/]" if row.error else _short(row.output)
        scores = ["-" if (v := row.scores[n]) is None else f"{v:.2f}" for n in scorer_names]
        tokens = f"{row.input_tokens or 0}/{row.output_tokens or 0}"
        cost = "-" if row.cost_usd is None else f"{row.cost_usd:.6f}"
        latency = "cached" if row.cached else f"{row.latency_s:.2f}"
        table.add_row(case, output, *scores, latency, tokens, cost)
    s = report.summary
    means = "  ".join(
        f"{n}={'-' if m is None else f'{m:.3f}'}" for n, m in report.scorer_means.items()
    )
    table.caption = (
        f"{means}  |  {s.total} calls: {s.called} called, {s.cached} cached, {s.resumed} resumed, "
        f"{s.errors} errors  |  cost ${s.cost_usd:.4f}  |  {s.elapsed_s:.1f} s  |  {report.status}"
    )
    return table
