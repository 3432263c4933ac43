"""Reading the project's text files (prompts, suites, config) with errors that name the line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from evals.providers import ConfigError

Item = TypeVar("Item", bound=BaseModel)


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


def read_jsonl(
    path: Path,
    model: type[Item],
    id_of: Callable[[Item], str],
    *,
    file_kind: str,
    item: str,
    limit: int | None = None,
) -> list[Item]:
    """Validate each line of a JSONL file as ``model``; blank lines and ``#`` comments skip.

    Args:
        path: The file.
        model: The pydantic model of a line.
        id_of: A line's id, unique within the file.
        file_kind: What the file is, for errors (``dataset``, ``labels``).
        item: What a line is, for errors (``case``, ``example``).
        limit: Stop after this many items.

    Raises:
        ConfigError: ``FILE:LINE`` for text that is not UTF-8, invalid JSON, a bad field or a
            duplicate id; ``FILE`` for a missing file or one without items.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: {file_kind} file not found")
    items: list[Item] = []
    seen: dict[str, int] = {}
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:  # a byte-order mark (some Windows editors write one) is not part of the data
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not UTF-8 text: {exc.reason}") from None
            if not text or text.startswith("#"):
                continue
            try:
                value = model.model_validate(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or item
                raise ConfigError(f"{path}:{lineno}: {where}: {first['msg']}") from None
            key = id_of(value)
            if key in seen:
                raise ConfigError(
                    f"{path}:{lineno}: duplicate {item} id {key!r} (first on line {seen[key]}); "
                    f"give every {item} its own id"
                )
            seen[key] = lineno
            items.append(value)
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise ConfigError(
            f"{path}: the {file_kind} file has no {item}s; add one JSON object a line"
        )
    return items
