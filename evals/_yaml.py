"""YAML loading with errors that name the file and line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evals.providers import ConfigError

M = TypeVar("M", bound=BaseModel)


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
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
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
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line = _line_of(root, first["loc"])
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ConfigError(f"{path}:{line or 1}: {where}: {first['msg']}") from None
