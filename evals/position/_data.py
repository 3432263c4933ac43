"""The paper's data files, shipped in the repository and verified by sha256 before use."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from evals.providers import ConfigError

DATA_DIR = Path(__file__).resolve().parent.parent / "datasets" / "lost_in_the_middle"

# sha256 of every file, as recorded in SOURCE.md (upstream commit 29b8a6d).
CHECKSUMS: dict[str, str] = {
    "qa_data/nq-open-oracle.jsonl.gz":
        "6a7f72b846f663a133ef952244e5a4e43f06bcf190afe34e8fbe687ce0d1653e",
    "kv_retrieval_data/kv-retrieval-75_keys.jsonl.gz":
        "eb6d61fc3473349f2b86df76757c6ab659cc929d907d24caf1c69928e03f6203",
    "kv_retrieval_data/kv-retrieval-140_keys.jsonl.gz":
        "66d54aae7e38779da482895ccd538faaf5309f144e54f30dc530a95091581fa1",
    "prompts/closedbook_qa.prompt":
        "5b75e2b95b1562cdd9a1e8f69a32073eb8966cfa82634bd70b1259daf717193b",
    "prompts/kv_retrieval.prompt":
        "62a513f9d0e039c3a3783d1f946e18ffdb8c549d7ccd6f4f4c0b01bddee3e450",
    "prompts/kv_retrieval_with_query_aware_contextualization.prompt":
        "0f6e4c5db0ecf66f2f5bbe0e82335889bf5e72d8371929c985e15f50da5c76ad",
    "prompts/qa.prompt":
        "368a84fe24373cc0a3a789ce5e62e6854994ece138747c93c76f25aafea25411",
    "prompts/qa_ordered_randomly.prompt":
        "e3fb49897502903ff46db87f770d253f93e0d11c5bd4e1b48451c5cf4d4c4f67",
    "prompts/qa_with_query_aware_contextualization.prompt":
        "ff1168b14640bbb00ade41cf1d4d8d3a43835cb0e5ba95dd2c4d00b6684fb22e",
}  # fmt: skip

KV_KEY_COUNTS = (75, 140)


@dataclass(frozen=True, slots=True)
class Document:
    """A retrieved passage as the paper renders it (``Document [i](Title: t) text``)."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class QAExample:
    """An NQ-Open question with its answers and its gold passage.

    Attributes:
        index: Row number in the oracle file (a stable id).
        question: The question.
        answers: Acceptable answers.
        gold: The passage that contains an answer.
    """

    index: int
    question: str
    answers: tuple[str, ...]
    gold: Document


@dataclass(frozen=True, slots=True)
class KVExample:
    """A key-value retrieval example: JSON records and the key whose value is asked for."""

    index: int
    records: tuple[tuple[str, str], ...]
    key: str
    value: str


def read_verified(relative: str, data_dir: Path = DATA_DIR) -> bytes:
    """Return a data file's bytes after checking its sha256.

    Raises:
        ConfigError: The file is missing or its checksum does not match (corrupted).
    """
    path = data_dir / relative
    if relative not in CHECKSUMS:
        raise ConfigError(f"{path}: not one of the position benchmark's data files")
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: data file missing; restore it from git") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != CHECKSUMS[relative]:
        raise ConfigError(
            f"{path}: checksum mismatch (sha256 {digest[:12]}…, expected "
            f"{CHECKSUMS[relative][:12]}…); the file is corrupted: restore it from git"
        )
    return blob


def _jsonl_gz(relative: str, data_dir: Path) -> list[dict[str, Any]]:
    text = gzip.decompress(read_verified(relative, data_dir)).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@cache
def load_nq_oracle(data_dir: Path = DATA_DIR) -> tuple[QAExample, ...]:
    """The 2,655 NQ-Open questions of the oracle file, each with its gold passage."""
    rows = _jsonl_gz("qa_data/nq-open-oracle.jsonl.gz", data_dir)
    return tuple(
        QAExample(
            index=i, question=row["question"], answers=tuple(row["answers"]),
            gold=Document(title=row["ctxs"][0]["title"], text=row["ctxs"][0]["text"]),
        )
        for i, row in enumerate(rows)
    )  # fmt: skip


@cache
def load_kv(n_keys: int, data_dir: Path = DATA_DIR) -> tuple[KVExample, ...]:
    """The 500 key-value retrieval examples with ``n_keys`` pairs each (75 or 140).

    Raises:
        ConfigError: No file for that many keys.
    """
    if n_keys not in KV_KEY_COUNTS:
        known = ", ".join(str(n) for n in KV_KEY_COUNTS)
        raise ConfigError(f"no key-value data with {n_keys} keys; available: {known}")
    rows = _jsonl_gz(f"kv_retrieval_data/kv-retrieval-{n_keys}_keys.jsonl.gz", data_dir)
    return tuple(
        KVExample(
            index=i, records=tuple((k, v) for k, v in row["ordered_kv_records"]),
            key=row["key"], value=row["value"],
        )
        for i, row in enumerate(rows)
    )  # fmt: skip


@cache
def template(name: str, data_dir: Path = DATA_DIR) -> str:
    """A prompt template of the paper, with trailing newlines stripped as upstream does."""
    return read_verified(f"prompts/{name}.prompt", data_dir).decode("utf-8").rstrip("\n")
