"""The deterministic judge sample: stable hash, rate, top-up of rare groups, caps, exclusions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from metrics.production import SamplePolicy, choose_sample, in_sample, sample_key, threshold
from metrics.store import Store

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def add(
    store: Store,
    ids: Sequence[str],
    *,
    model: str = "claude-sonnet-4-5",
    prompt: str = "rag_qa@1",
    status: str = "ok",
    at: datetime = T0,
) -> None:
    """Add one record per request id (straight into the table: the sample reads only it)."""
    with store.connection() as conn:
        conn.execute(
            "INSERT INTO production_requests (record_id, request_id, ts, request_model, "
            "prompt_ref, status, source_file, source_line, ingested_at) "
            "SELECT $status || ':' || id, id, $at, $model, $prompt, $status, 'test.jsonl', "
            "1, now() FROM (SELECT unnest($ids::VARCHAR[]) AS id)",
            {"ids": list(ids), "model": model, "prompt": prompt, "status": status, "at": at},
        )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "evalmon.duckdb")


def ids(n: int, prefix: str = "req") -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(n)]


def test_duckdb_and_python_agree_on_every_id(store: Store) -> None:
    requests = [*ids(20_000), "é-ünïcode-✓", "", "with space", "x" * 200]
    add(store, requests)
    for salt, rate in [("evalmon", 0.01), ("other salt", 0.1), ("s", 0.5), ("évalmon", 0.003)]:
        chosen = choose_sample(store, rubric_version="r", rate=rate, salt=salt, dry_run=True)
        expected = {r for r in requests if in_sample(r, salt, rate)}
        assert set(chosen.request_ids) == expected, (salt, rate)
        assert chosen.by_rate == len(expected) > 0


def test_the_key_is_the_first_15_hex_digits_of_md5() -> None:
    # md5("evalmonabc") = 35af4ae081d17f85791c84acc99f1df3 (RFC 1321; any md5 tool)
    assert sample_key("abc", "evalmon") == 0x35AF4AE081D17F8
    assert threshold(0.01) == 11529215046068470  # the double 0.01 times 2**60, exactly
    assert threshold(1.0) == 16**15 and threshold(0.0) == 0
    assert in_sample("abc", "evalmon", 0.25) and not in_sample("abc", "evalmon", 0.2)


def test_the_sample_is_deterministic_and_the_salt_changes_it(tmp_path: Path) -> None:
    requests = ids(5_000)
    runs = []
    for name in ("one", "two"):
        store = Store(tmp_path / f"{name}.duckdb")
        add(store, requests)
        runs.append(choose_sample(store, rubric_version="r", rate=0.05).request_ids)
    assert runs[0] == runs[1] and len(runs[0]) > 0
    other = Store(tmp_path / "three.duckdb")
    add(other, requests)
    salted = choose_sample(other, rubric_version="r", rate=0.05, salt="another").request_ids
    assert set(salted) != set(runs[0])
    assert len(set(salted) & set(runs[0])) < len(runs[0]) / 2


def test_the_rate_is_accurate_on_100k_requests(store: Store) -> None:
    add(store, ids(100_000))
    chosen = choose_sample(store, rubric_version="r", rate=0.01, dry_run=True)
    # Binomial(100000, 0.01): sd 31.5, so +-150 is a 4.7-sigma band.
    assert abs(len(chosen.request_ids) - 1_000) < 150
    assert chosen.window_records == 100_000 and chosen.recorded is False
    assert choose_sample(store, rubric_version="r", rate=0.0, dry_run=True).request_ids == ()
    every = choose_sample(store, rubric_version="r", rate=1.0, dry_run=True)
    assert len(every.request_ids) == 100_000


def test_a_recorded_sample_is_not_chosen_again(store: Store) -> None:
    add(store, ids(3_000))
    first = choose_sample(store, rubric_version="r1", rate=0.05)
    again = choose_sample(store, rubric_version="r1", rate=0.05)
    other_rubric = choose_sample(store, rubric_version="r2", rate=0.05, dry_run=True)

    assert len(first.request_ids) > 0 and first.recorded
    assert again.request_ids == ()
    assert set(other_rubric.request_ids) == set(first.request_ids)
    with store.connection() as conn:
        stored = conn.execute(
            "SELECT count(*), any_value(salt), any_value(rate), any_value(chosen_by) "
            "FROM judge_samples WHERE rubric_version = 'r1'"
        ).fetchone()
    assert stored == (len(first.request_ids), "evalmon", 0.05, "rate")


def test_requests_judged_with_the_rubric_version_are_excluded(store: Store) -> None:
    requests = ids(3_000)
    add(store, requests)
    hits = [r for r in requests if in_sample(r, "evalmon", 0.05)]
    judged = hits[:5]
    with store.connection() as conn:
        conn.execute(
            "INSERT INTO judge_scores (request_id, judge_ref, rubric_version, score, created_at) "
            "SELECT unnest($ids::VARCHAR[]), 'openai:gpt-4o', 'v1', 0.8, now()",
            {"ids": judged},
        )
    v1 = choose_sample(store, rubric_version="v1", rate=0.05, dry_run=True)
    v2 = choose_sample(store, rubric_version="v2", rate=0.05, dry_run=True)
    assert set(v1.request_ids) == set(hits) - set(judged)
    assert set(v2.request_ids) == set(hits)


def test_only_ok_requests_in_the_window_count_once_each(store: Store) -> None:
    requests = ids(4_000)
    add(store, requests, status="error")  # the primary failed...
    add(store, requests[:2_000], model="gpt-4o")  # ...and half were answered by the fallback
    add(store, ids(1_000, "late"), at=T0 + timedelta(days=2))
    window = choose_sample(
        store, rubric_version="r", rate=0.05, since=T0, until=T0 + timedelta(days=1),
        dry_run=True,
    )  # fmt: skip
    assert set(window.request_ids) == {r for r in requests[:2_000] if in_sample(r, "evalmon", 0.05)}
    assert window.window_records == 2_000
    with pytest.raises(ValueError, match="since must be timezone-aware"):
        choose_sample(store, rubric_version="r", since=datetime(2025, 6, 1))  # noqa: DTZ001


def test_min_per_group_tops_up_a_rare_prompt_version_by_key_order(store: Store) -> None:
    common, rare = ids(10_000), ids(40, "rare")
    add(store, common)
    add(store, rare, prompt="rag_qa@2-beta")
    result = choose_sample(store, rubric_version="r", rate=0.01, min_per_group=5)

    rare_hits = [r for r in rare if in_sample(r, "evalmon", 0.01)]
    topped = sorted(set(rare) - set(rare_hits), key=lambda r: sample_key(r, "evalmon"))
    chosen_rare = {r for r in result.request_ids if r.startswith("rare")}
    assert chosen_rare == set(rare_hits) | set(topped[: 5 - len(rare_hits)])
    assert result.topped_up == 5 - len(rare_hits) > 0
    with store.connection() as conn:
        why = dict(
            conn.execute("SELECT chosen_by, count(*) FROM judge_samples GROUP BY 1").fetchall()
        )
    assert why == {"rate": result.by_rate, "min_per_group": result.topped_up}
    # Already sampled requests of the window count towards the minimum.
    assert choose_sample(store, rubric_version="r", rate=0.01, min_per_group=5).topped_up == 0


def test_caps_keep_each_groups_first_requests(store: Store) -> None:
    add(store, ids(10_000))
    add(store, ids(40, "rare"), prompt="rag_qa@2-beta")
    full = choose_sample(store, rubric_version="r", rate=0.01, min_per_group=3, dry_run=True)
    capped = choose_sample(
        store, rubric_version="r", rate=0.01, min_per_group=3, cap_requests=10, dry_run=True
    )
    assert len(capped.request_ids) == 10 and capped.capped == len(full.request_ids) - 10
    assert capped.request_ids == full.request_ids[:10]
    assert sum(r.startswith("rare") for r in capped.request_ids) == 3  # round-robin by group

    by_cost = choose_sample(
        store, rubric_version="r", rate=0.01, cap_cost_usd=0.25,
        cost_per_judgment_usd=0.02, dry_run=True,
    )  # fmt: skip
    assert len(by_cost.request_ids) == 12 and by_cost.estimated_cost_usd == pytest.approx(0.24)
    with pytest.raises(ValidationError, match="cap_cost_usd needs cost_per_judgment_usd"):
        choose_sample(store, rubric_version="r", cap_cost_usd=1.0)


def test_the_policy_checks_its_settings() -> None:
    assert SamplePolicy().rate == 0.01
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        SamplePolicy(rate=1.5)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        SamplePolicy.model_validate({"rate": 0.1, "sample_rate": 0.1})
    assert (
        SamplePolicy(cap_requests=50, cap_cost_usd=1.0, cost_per_judgment_usd=0.1).max_requests
        == 10
    )
    with pytest.raises(ValueError, match="rubric_version is empty"):
        choose_sample(Store(Path("unused.duckdb")), rubric_version="")


def test_the_benchmarks_run_on_small_inputs(tmp_path: Path) -> None:
    from tests.bench._production import bench_ingest, bench_sample

    ingest = bench_ingest(300, workdir=tmp_path, repeats=1)
    assert ingest.n_rows == 300 and ingest.rows_per_s > 0 and ingest.vs_load > 0
    sample = bench_sample(20_000, workdir=tmp_path, repeats=1)
    assert 100 < sample.chosen < 300
