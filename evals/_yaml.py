"""YAML loading with errors that name the file and line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evals.files import read_text
from evals.providers import ConfigError

M = TypeVar("M", bound=BaseModel)


def _node_at(root: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Node | None:
    """The node at ``loc``, or None when the document has nothing there."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            return None
    return node


def source_line(path: Path, loc: Sequence[int | str], text_line: int = 1) -> int | None:
    """1-based line in ``path`` of line ``text_line`` of the string at ``loc``.

    Maps a line of a multi-line string (a Jinja template, say) back to the file: a block
    scalar (``|`` or ``>``) starts on the line after its indicator. Best effort; None when
    the file cannot be read.
    """
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    node = _node_at(root, loc)
    if not isinstance(node, yaml.ScalarNode):
        return _line_of(root, loc)
    first = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
    return first + max(text_line, 1) - 1


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the node at ``loc`` (as far down as it exists)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` as YAML and validate it as ``model``.

    Raises:
        ConfigError: ``FILE:LINE: what is wrong`` for syntax errors and invalid fields.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    text = read_text(path)
    try:
        data: Any = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{mark.line + 1}" if mark is not None else "?"
        raise ConfigError(f"{path}:{where}: invalid YAML: {exc.problem}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line = _line_of(root, first["loc"])
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ConfigError(f"{path}:{line or 1}: {where}: {first['msg']}") from None
