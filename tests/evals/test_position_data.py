"""The position benchmark's data, prompts and rebuilt multi-document contexts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evals.position import (
    DATA_DIR,
    Document,
    build_multidoc,
    closedbook_prompt,
    kv_prompt,
    load_kv,
    load_nq_oracle,
    qa_prompt,
)
from evals.providers import ConfigError
from evals.scorers import normalize_answer


def test_oracle_and_kv_files_load_with_their_checksums() -> None:
    oracle = load_nq_oracle()
    assert len(oracle) == 2655
    assert oracle[0].question == "who got the first nobel prize in physics"
    assert oracle[0].answers == ("Wilhelm Conrad Röntgen",)
    for n_keys in (75, 140):
        kv = load_kv(n_keys)
        assert len(kv) == 500 and all(len(ex.records) == n_keys for ex in kv)
        assert all(dict(ex.records)[ex.key] == ex.value for ex in kv)
    # The example quoted in the upstream README: the 75-key file's first gold pair is at 18.
    first = load_kv(75)[0]
    assert [k for k, _ in first.records].index(first.key) == 18


def test_a_corrupted_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    target = copy / "qa_data/nq-open-oracle.jsonl.gz"
    target.chmod(0o644)
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte
    target.write_bytes(bytes(blob))
    with pytest.raises(ConfigError, match=r"nq-open-oracle.jsonl.gz: checksum mismatch"):
        load_nq_oracle(copy)


def test_unknown_kv_size_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="available: 75, 140"):
        load_kv(300)


def test_qa_prompt_is_rendered_exactly_as_the_paper() -> None:
    docs = [Document("T1", "first text"), Document("T2", "second text")]
    assert qa_prompt("who?", docs) == (
        "Write a high-quality answer for the given question using only the provided search "
        "results (some of which might be irrelevant).\n\n"
        "Document [1](Title: T1) first text\nDocument [2](Title: T2) second text\n\n"
        "Question: who?\nAnswer:"
    )
    aware = qa_prompt("who?", docs, query_aware=True)
    assert aware.count("Question: who?") == 2 and aware.endswith("Question: who?\nAnswer:")
    assert "ordered randomly" in qa_prompt("who?", docs, mention_random_ordering=True)
    assert closedbook_prompt("who?") == "Question: who?\nAnswer:"
    with pytest.raises(ValueError):
        qa_prompt("who?", [])


def test_kv_prompt_is_rendered_exactly_as_the_paper() -> None:
    records = [("k1", "v1"), ("k2", "v2"), ("k3", "v3")]
    prompt = kv_prompt(records, "k2")
    assert '{"k1": "v1",\n "k2": "v2",\n "k3": "v3"}' in prompt
    assert prompt.endswith('Key: "k2"\nCorresponding value:')
    assert kv_prompt(records, "k2", query_aware=True).count('Key: "k2"') == 2
    with pytest.raises(ValueError):
        kv_prompt(records, "missing")


def test_rebuilt_contexts_hold_hard_negatives_without_answers() -> None:
    pool = load_nq_oracle()[:300]
    built = build_multidoc(pool, 10, seed=0)
    assert len(built) == 300
    for item in built:
        assert item.n_documents == 10 and len(set(d.text for d in item.distractors)) == 9
        assert item.example.gold.text not in {d.text for d in item.distractors}
        for doc in item.distractors:
            words = f" {normalize_answer(f'{doc.title} {doc.text}')} "
            assert not any(f" {normalize_answer(a)} " in words for a in item.example.answers)
    # Deterministic for a seed.
    again = build_multidoc(pool, 10, seed=0)
    assert [b.distractors for b in built] == [a.distractors for a in again]


def test_hard_negatives_share_words_with_the_question() -> None:
    # Question 0 is "who got the first nobel prize in physics"; the full pool has other
    # Nobel passages that don't name Röntgen, and BM25 ranks them first.
    item = build_multidoc(load_nq_oracle(), 5)[0]
    assert "Nobel" in item.distractors[0].title


def test_gold_goes_where_asked_and_positions_are_checked() -> None:
    item = build_multidoc(load_nq_oracle()[:50], 10)[3]
    for position in (0, 4, 9):
        docs = item.documents(position)
        assert len(docs) == 10 and docs[position] == item.example.gold
        assert [d for d in docs if d != item.example.gold] == list(item.distractors)
    with pytest.raises(ConfigError, match="outside a 10-document context"):
        item.documents(10)


def test_a_pool_too_small_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot fill 10 documents"):
        build_multidoc(load_nq_oracle()[:5], 10)
    with pytest.raises(ConfigError, match="at least 2 documents"):
        build_multidoc(load_nq_oracle()[:5], 1)


def test_building_a_subset_gives_the_same_contexts_as_the_whole_pool() -> None:
    pool = load_nq_oracle()[:400]
    whole = build_multidoc(pool, 10, seed=3)
    subset = build_multidoc(pool, 10, seed=3, only=[5, 77, 399])
    assert [m.example.index for m in subset] == [5, 77, 399]
    assert [m.distractors for m in subset] == [whole[i].distractors for i in (5, 77, 399)]
