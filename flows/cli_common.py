"""What the CLI's commands share: consoles, the config option, the error exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from flows.config import EvalmonConfig, load_config

out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="evalmon.toml (default: ./evalmon.toml).")
]


def config_from(path: Path | None, store: Path | None = None) -> EvalmonConfig:
    """Load the configuration; ``--store`` overrides the configured DuckDB file."""
    config = load_config(path)
    if store is not None:
        config = config.model_copy(update={"store": store})
    return config


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    # Escaped: a message quoting "[tool.evalmon]" or a model string must not read as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
