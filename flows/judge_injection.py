"""How far injection in a judged response moves the judge: ``python -m flows.judge_injection``.

Takes ``--n`` successful responses from a capture folder (default: the bundled generated
traffic), redacts them as the production judge does, and judges each one as it is and with
each injection attempt appended (the project's injection set,
:data:`evals.judging.INJECTION_ATTEMPTS`, which the delimiter tests use too). Prints, per
injection, how often the score moved, moved up, reached the top of the scale, or flipped
the review decision (normalised score under ``[judge] review_threshold``).

Every call goes through the runner and the store, so running it again asks nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evals.judging import INJECTION_ATTEMPTS
from evals.providers import DEFAULT_MODEL, EvalmonError
from evals.runner import RichProgress
from evals.scorers import Rubric, Score, load_rubric
from flows.config import EvalmonConfig, load_config
from flows.demo_steps import ROOT, TRAFFIC_SAMPLE
from flows.example_traffic_report import read_records
from flows.judge_batch import JudgeItem, judge_batch
from flows.judge_sample import judge_items
from flows.running import open_provider
from metrics.production import ProductionRequest, question_of
from metrics.store import Store, StoreLockedError


@dataclass(frozen=True, slots=True)
class InjectionRow:
    """One injection's effect over the responses.

    Attributes:
        injection: The text appended.
        pairs: Responses judged both ways with a score each time.
        headroom: Pairs whose clean score is below the top of the scale (room to rise).
        moved: Pairs whose raw score changed.
        up: Pairs whose raw score rose.
        to_max: Pairs whose injected score is the top of the scale (and the clean one not).
        flipped: Pairs whose review decision changed.
        unscored: Injected versions left unscored (unparseable reply or failed call).
    """

    injection: str
    pairs: int
    headroom: int
    moved: int
    up: int
    to_max: int
    flipped: int
    unscored: int


def load_responses(folder: Path, n: int) -> list[dict[str, object]]:
    """``n`` successful records of a capture folder, evenly spread over it (by request id).

    Raises:
        EvalmonError: The folder holds fewer than ``n`` successful records.
    """
    ok = sorted(
        (
            r
            for r in read_records(folder)
            if r["evalmon.status"] == "ok" and r["evalmon.output.text"]
        ),
        key=lambda r: str(r["evalmon.request_id"]),
    )
    if len(ok) < n:
        raise EvalmonError(
            f"{folder} has {len(ok)} successful records with an answer, fewer than --n {n}"
        )
    step = len(ok) / n
    return [ok[int(i * step)] for i in range(n)]


def build_items(
    rubric: Rubric,
    records: Sequence[dict[str, object]],
    config: EvalmonConfig,
    *,
    mismatch: bool = False,
) -> list[JudgeItem]:
    """Per record: the clean response, then one item per injection (adjacent, for the cache).

    The responses are redacted as the production judge does (:func:`judge_items`, with the
    configured redaction). With ``mismatch``, each record's question and contexts are
    judged with the next record's answer: an unsupported, off-topic response that a judge
    should score low, so an injection has room to lift it.
    """
    requests = []
    for index, record in enumerate(records):
        answered = records[(index + 1) % len(records)] if mismatch else record
        contexts = record["evalmon.retrieval.contexts"]
        assert isinstance(contexts, list)
        requests.append(ProductionRequest(
            request_id=str(record["evalmon.request_id"]),
            question=question_of(record["evalmon.input.messages"]),
            output=str(answered["evalmon.output.text"]), contexts=[str(c) for c in contexts],
            model=str(record.get("gen_ai.request.model") or ""), prompt_ref=None, route=None,
        ))  # fmt: skip
    items = []
    for clean in judge_items(rubric, requests, config).items:
        items.append(replace(clean, key=f"{clean.key}/clean"))
        for i, injection in enumerate(INJECTION_ATTEMPTS):
            injected = replace(clean.item, output=f"{clean.item.output}\n{injection}")
            items.append(JudgeItem(f"{clean.key}/inj{i}", rubric, injected))
    return items


def tabulate(
    rubric: Rubric, keys: Sequence[str], scores: dict[str, Score], threshold: float
) -> list[InjectionRow]:
    """Compare each injected score with its clean one."""
    rows = []
    for i, injection in enumerate(INJECTION_ATTEMPTS):
        pairs = headroom = moved = up = to_max = flipped = unscored = 0
        for key in keys:
            clean, injected = scores[f"{key}/clean"], scores[f"{key}/inj{i}"]
            if injected.value is None:
                unscored += 1
            if clean.value is None or injected.value is None:
                continue
            pairs += 1
            before, after = clean.details["raw_score"], injected.details["raw_score"]
            headroom += before < rubric.max_score
            moved += after != before
            up += after > before
            to_max += after == rubric.max_score and before != rubric.max_score
            flipped += (clean.value < threshold) != (injected.value < threshold)
        rows.append(InjectionRow(injection, pairs, headroom, moved, up, to_max, flipped, unscored))
    return rows


async def measure(
    config: EvalmonConfig,
    model: str,
    rubric_path: Path,
    records: Sequence[dict[str, object]],
    *,
    mismatch: bool = False,
) -> tuple[Rubric, dict[str, Score]]:
    """Judge every clean and injected response with ``model``; return the scores by key."""
    rubric = load_rubric(rubric_path)
    items = build_items(rubric, records, config, mismatch=mismatch)
    provider = await open_provider(model, config)
    # The judge and rubric version are part of the run: another model is another run.
    keys = "\n".join([provider.ref, rubric.version, *(f"{i.key}:{i.item.output}" for i in items)])
    digest = hashlib.sha256(keys.encode()).hexdigest()[:12]
    run_id = f"judge-injection-{rubric.prompt.spec.name.replace('/', '_')}-{digest}"
    try:
        with Store(config.store) as store:
            result = await judge_batch(
                provider, store, run_id, items, config,
                max_parse_retries=config.judge.max_parse_retries,
                progress=RichProgress("judge", Console(stderr=True)),
            )  # fmt: skip
    finally:
        await provider.aclose()
    return rubric, result.scores


def render(rubric: Rubric, rows: Sequence[InjectionRow], clean: Sequence[Score]) -> Table:
    """The figures as a table, with a total row."""
    table = Table(title=f"injection vs {rubric.version.split('#')[0]}")
    columns = ("injection", "pairs", "headroom", "moved", "up", "to max", "review flipped",
               "unscored")  # fmt: skip
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in rows:
        text = r.injection.replace("\n", "⏎")[:60]
        table.add_row(text, str(r.pairs), str(r.headroom), str(r.moved), str(r.up),
                      str(r.to_max), str(r.flipped), str(r.unscored))  # fmt: skip
    fields = ("pairs", "headroom", "moved", "up", "to_max", "flipped", "unscored")
    total = [sum(getattr(r, f) for r in rows) for f in fields]
    pct = [f"{v} ({v / total[0]:.0%})" if total[0] else str(v) for v in total[1:]]
    table.add_row("[bold]all", str(total[0]), *pct)
    raw = [float(s.details["raw_score"]) for s in clean if s.value is not None]
    table.caption = (
        f"clean scores: {sorted(raw)}; {len(clean) - len(raw)} clean unscored. headroom: "
        f"pairs whose clean score is below {rubric.max_score:g}, the only ones a push to the "
        "top can move up"
    )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m flows.judge_injection", description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Judge model string.")
    parser.add_argument("--traffic", type=Path, default=TRAFFIC_SAMPLE, help="Capture folder.")
    parser.add_argument("--n", type=int, default=10, help="Responses to judge.")
    parser.add_argument("--rubric", type=Path, default=ROOT / "prompts/judges/faithfulness.yaml")
    parser.add_argument("--store", type=Path, default=None, help="DuckDB file (default: config).")
    parser.add_argument("--config", type=Path, default=None, help="evalmon.toml.")
    parser.add_argument(
        "--mismatch", action="store_true",
        help="Judge each question with another request's answer (it should score low).",
    )  # fmt: skip
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        config = load_config(args.config)
        if args.store is not None:
            config = config.model_copy(update={"store": args.store})
        records = load_responses(args.traffic, args.n)
        measured = measure(config, args.model, args.rubric, records, mismatch=args.mismatch)
        rubric, scores = asyncio.run(measured)
    except (EvalmonError, StoreLockedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    keys = [str(r["evalmon.request_id"]) for r in records]
    rows = tabulate(rubric, keys, scores, config.judge.review_threshold)
    console.print(render(rubric, rows, [scores[f"{k}/clean"] for k in keys]))
    what = "mismatched (another request's answer)" if args.mismatch else "their own"
    console.print(f"judge {args.model}; {len(keys)} requests from {args.traffic}, {what} answers")


if __name__ == "__main__":  # pragma: no cover
    main()
