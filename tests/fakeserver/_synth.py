"""Synthetic content: JSON values that fit a schema, and bag-of-words embeddings."""

from __future__ import annotations

import re
import zlib
from typing import Any


def schema_instance(
    schema: dict[str, Any], text: str, root: dict[str, Any] | None = None, depth: int = 0
) -> Any:
    """Return a small value that satisfies a (simple) JSON Schema.

    Strings get ``text``, numbers their minimum (or 0), booleans false, arrays their
    minimum number of items; ``$ref`` into ``$defs``/``definitions`` is followed.
    """
    root = schema if root is None else root
    if depth > 20:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, dict) else {}
        return schema_instance(target, text, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return schema_instance(schema[key][0], text, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {k: schema_instance(v, text, root, depth + 1) for k, v in props.items()}
    if kind == "array":
        raw_items = schema.get("items")
        items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {}
        return [
            schema_instance(items, text, root, depth + 1)
            for _ in range(int(schema.get("minItems", 0)))
        ]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = low + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else low
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def embedding_vector(text: str, dims: int) -> list[float]:
    """Return a deterministic unit-length bag-of-words embedding of ``text``.

    Each lowercased word is hashed to one signed dimension, so texts that share words
    have a positive cosine similarity and identical texts have similarity 1.
    """
    vec = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        h = zlib.crc32(word.encode())
        vec[h % dims] += 1.0 if (h >> 16) & 1 else -1.0
    norm = sum(x * x for x in vec) ** 0.5
    if norm == 0.0:
        vec[0], norm = 1.0, 1.0
    return [x / norm for x in vec]
