"""The U-curve picture: accuracy by gold position, with intervals and the paper's curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from flows.position_run import PositionReport, markdown_report

# Liu et al. (2023), accuracy % at the paper's positions (SPEC).
PAPER_QA_20 = {
    "GPT-3.5-Turbo": (75.8, 57.2, 53.8, 55.4, 63.2),
    "Claude-1.3": (59.9, 55.9, 56.8, 57.2, 60.1),
    "MPT-30B-Instruct": (53.7, 51.8, 52.2, 52.7, 56.3),
    "LongChat-13B (16K)": (68.6, 57.4, 55.3, 52.5, 55.0),
}
PAPER_QA_20_POSITIONS = (0, 4, 9, 14, 19)
PAPER_KV_140 = {"MPT-30B-Instruct": (100.0, 93.6, 88.6, 80.4, 96.2)}
PAPER_KV_140_POSITIONS = (0, 34, 69, 104, 139)


@dataclass(frozen=True, slots=True)
class WrittenReport:
    """A Markdown report written with its plot.

    Attributes:
        text: The Markdown, ending with the link to the plot.
        images: The plot's PNG and SVG files, beside the report.
    """

    text: str
    images: list[Path]


def write_report(report: PositionReport, path: Path) -> WrittenReport:
    """Write the Markdown report to ``path``, its plot beside it (same name), linked."""
    images = plot_report(report, path.with_suffix(""))
    text = markdown_report(report) + f"\n![accuracy by position]({images[0].name})\n"
    path.write_text(text, encoding="utf-8")
    return WrittenReport(text, images)


def plot_report(report: PositionReport, stem: Path) -> list[Path]:
    """Draw the report to ``stem.png`` and ``stem.svg``; return the two paths.

    Each strategy that varies the gold position is a line with 95% Wilson intervals; the
    closed-book and oracle baselines and the reordering strategies are horizontal lines;
    the paper's reference curves are drawn faintly (rescaled to this context size when it
    differs from theirs).
    """
    bench = report.config
    size = bench.context_size
    fig = Figure(figsize=(9, 6.5), dpi=120)  # no pyplot: no global state, no display needed
    ax = fig.subplots()
    _draw_reference(ax, bench.task, size)
    lines = [c for c in report.cells if c.setting == "position" and c.accuracy is not None]
    strategies = sorted({c.strategy for c in lines})
    for i, strategy in enumerate(strategies):
        cells = sorted((c for c in lines if c.strategy == strategy), key=lambda c: c.position or 0)
        shift = (i - (len(strategies) - 1) / 2) * 0.012 * size  # side by side, not on top
        xs = [(c.position or 0) + 1 + shift for c in cells]
        ys = [100 * (c.accuracy or 0.0) for c in cells]
        # Clamped: rounding can put 100% a hair above a Wilson bound of 0.99999...
        low = [max(0.0, y - 100 * c.interval.low) for y, c in zip(ys, cells, strict=True)]
        high = [max(0.0, 100 * c.interval.high - y) for y, c in zip(ys, cells, strict=True)]
        ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=4, linewidth=2,
                    label=f"{report.model_ref.split('@')[0]}: {strategy}")  # fmt: skip
    styles = {
        "closedbook": ("closed-book", "--", "black"),
        "oracle": ("oracle (gold only)", ":", "black"),
    }
    extra_colors = iter(("tab:green", "tab:red", "tab:purple", "tab:brown"))
    for cell in report.cells:
        if cell.accuracy is None or cell.setting == "position":
            continue
        name = cell.strategy.replace("_", " ")
        label, style, color = styles.get(cell.setting, (name, "-.", next(extra_colors)))
        percent = 100 * cell.accuracy
        ax.axhline(percent, linestyle=style, linewidth=1.3, color=color,
                   label=f"{label}: {percent:.0f}%")  # fmt: skip
    asked = sorted({(c.position or 0) + 1 for c in lines})
    if asked:
        ax.set_xticks(asked)
    unit = "document" if bench.task == "qa" else "key"
    ax.set_xlabel(f"position of the {unit} holding the answer (1 = first, {size} = last)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 104)
    ax.set_xlim(0.5, size + 0.5)
    what = f"{size}-document QA (rebuilt)" if bench.task == "qa" else f"{size}-key KV retrieval"
    ax.set_title(f"Lost in the middle: {what}, n={_n(report)} per point")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    fig.tight_layout()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path)
    return paths


def _n(report: PositionReport) -> int:
    return max((c.n for c in report.cells if c.setting == "position"), default=0)


def _draw_reference(ax: Axes, task: str, size: int) -> None:
    curves, positions, their_size = (
        (PAPER_QA_20, PAPER_QA_20_POSITIONS, 20) if task == "qa"
        else (PAPER_KV_140, PAPER_KV_140_POSITIONS, 140)
    )  # fmt: skip
    scale = (size - 1) / (their_size - 1)
    note = (
        ""
        if size == their_size
        else f", {their_size} {'docs' if task == 'qa' else 'keys'} rescaled"
    )
    for name, values in curves.items():
        xs = [p * scale + 1 for p in positions]
        ax.plot(xs, values, color="gray", alpha=0.25, linewidth=1, marker=".",
                label=f"paper: {name}{note}")  # fmt: skip
