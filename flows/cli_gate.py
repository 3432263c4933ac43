"""``evalmon gate``: the CI prompt-change gate."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from evals.providers import EvalmonError
from flows.cli_common import ConfigOption, config_from, err, fail, out


def gate(
    base: Annotated[str, typer.Option(help="Git ref to compare with (its merge base).")] = (
        "origin/main"
    ),
    path: Annotated[Path, typer.Option(help="A directory inside the repository.")] = Path(),
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model for both versions.")
    ] = None,
    prompt: Annotated[
        list[str] | None, typer.Option(help="Gate only this prompt (repeatable).")
    ] = None,
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown report here.")
    ] = None,
    junit_path: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here.")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON here.")] = None,
    store: Annotated[Path | None, typer.Option(help="DuckDB file (default from config).")] = None,
    config_path: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Gate changed prompts: run their suites on the base and the candidate, and compare.

    Exit codes: 0 pass (inconclusive only warns), 1 a regression, 2 bad input or an error.
    The Markdown report is printed, written to $GITHUB_STEP_SUMMARY when set, and to
    --markdown for a PR comment.
    """
    from evals.gate import junit_xml, markdown, to_json
    from evals.runner import NoProgress, RichProgress
    from flows.gate_flow import prompt_gate
    from metrics.store import StoreLockedError

    try:
        config = config_from(config_path, store)
        reporter = RichProgress("gate", err) if progress and err.is_terminal else NoProgress()
        result = asyncio.run(
            prompt_gate(
                base=base,
                path=str(path),
                model=model,
                prompts=prompt or None,
                config=config,
                progress=reporter,
            )
        )
    except (EvalmonError, StoreLockedError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; run the gate again: finished calls are reused", 130) from None
    text = markdown(result)
    if markdown_path is not None:
        markdown_path.write_text(text, encoding="utf-8")
    if junit_path is not None:
        junit_path.write_text(junit_xml(result), encoding="utf-8")
    if json_path is not None:
        json_path.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(text)
    out.print(text, markup=False, highlight=False)
    raise typer.Exit(result.exit_code)


SCHEMA_FILES = {
    Path("evals/suites/suite.schema.json"): "suite",
    Path("prompts/prompt.schema.json"): "prompt",
}


def schemas(
    root: Annotated[Path, typer.Option(help="Repository root.")] = Path(),
    check: Annotated[bool, typer.Option(help="Exit 1 if a committed schema is stale.")] = False,
) -> None:
    """Write the JSON Schemas of suite and prompt files (editors validate with them)."""
    from evals.prompts import prompt_json_schema
    from evals.suites import suite_json_schema

    stale = []
    for rel, kind in SCHEMA_FILES.items():
        schema = suite_json_schema() if kind == "suite" else prompt_json_schema()
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        path = root / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(str(rel))
        if not check:
            path.write_text(text, encoding="utf-8")
            out.print(f"wrote {path}")
    if check and stale:
        raise fail(f"stale JSON Schemas: {', '.join(stale)}; run evalmon schemas", 1)


def check(
    root: Annotated[Path, typer.Option(help="Repository root.")] = Path(),
) -> None:
    """Load every prompt and suite and report problems with file and line (exit 2)."""
    from rich.table import Table

    from evals.catalog import load_catalog

    try:
        catalog = load_catalog(root)
    except EvalmonError as exc:
        raise fail(str(exc)) from None
    table = Table("prompt", "version", "hash", "partials", "suites")
    for name, prompt in sorted(catalog.prompts.items()):
        suites = ", ".join(s.spec.name for s in catalog.suites_of(name)) or "-"
        table.add_row(
            name,
            prompt.spec.version,
            prompt.content_hash,
            ", ".join(prompt.partials) or "-",
            suites,
        )
    out.print(table)
    err.print(f"{len(catalog.prompts)} prompts and {len(catalog.suites)} suites are valid")
