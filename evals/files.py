"""Reading the project's text files (prompts, suites, config) with errors that name the line."""

from __future__ import annotations

from pathlib import Path

from evals.providers import ConfigError


def read_text(path: Path) -> str:
    """Return the UTF-8 text of ``path``.

    Raises:
        ConfigError: ``FILE: file not found`` or ``FILE:LINE: not UTF-8 text``.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text: {exc.reason}") from None
