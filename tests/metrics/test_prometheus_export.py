"""The production gauges' values on a small hand-built store, and the context-window table.

Percentiles are nearest-rank (``quantile_disc``): the ``ceil(q * n)``-th smallest value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest

from metrics.prometheus import ContextWindows, ExportSettings, ProductionCollector
from metrics.store import connect
from tests.metrics.prometheus_store import (
    CLAUDE,
    GPT,
    HOUR,
    LOCAL,
    MIN,
    MYSTERY,
    NOW,
    call,
    insert,
    new_store,
    production_rows,
    registry_of,
)


@pytest.fixture
def production_db(tmp_path: Path) -> Path:
    path = new_store(tmp_path / "e.duckdb")
    with connect(path) as conn:
        insert(conn, "production_requests", production_rows())
    return path


@pytest.fixture
def production(production_db: Path) -> Callable[..., float | None]:
    registry = registry_of(ProductionCollector(production_db, clock=lambda: NOW))
    return registry.get_sample_value


def test_latency_percentiles_are_exact_nearest_rank_per_window(
    production: Callable[..., float | None],
) -> None:
    expected = {"5m": (0.2, 0.4, 0.4), "1h": (0.5, 1.0, 1.0), "24h": (1.0, 1.9, 2.0)}
    for window, values in expected.items():
        for quantile, value in zip(("0.5", "0.95", "0.99"), values, strict=True):
            labels = {**CLAUDE, "window": window, "quantile": quantile}
            assert production("evalmon_llm_latency_seconds", labels) == pytest.approx(value)
    # The rows 24 hours old or more, and the one after "now", are in no window.
    for window, n in (("5m", 4), ("1h", 10), ("24h", 20)):
        assert production("evalmon_llm_requests", {**CLAUDE, "window": window}) == n


def test_requests_errors_and_error_ratio(production: Callable[..., float | None]) -> None:
    get = production
    assert get("evalmon_llm_requests", {**GPT, "window": "5m"}) == 4
    assert get("evalmon_llm_errors", {**GPT, "window": "5m"}) == 1
    assert get("evalmon_llm_error_ratio", {**GPT, "window": "5m"}) == 0.25
    assert get("evalmon_llm_requests", {**GPT, "window": "1h"}) == 8
    assert get("evalmon_llm_error_ratio", {**GPT, "window": "1h"}) == 0.125
    assert get("evalmon_llm_errors", {**CLAUDE, "window": "24h"}) == 0
    assert get("evalmon_llm_error_ratio", {**CLAUDE, "window": "24h"}) == 0


def test_tokens_and_cost_from_the_price_table(production: Callable[..., float | None]) -> None:
    get = production
    assert get("evalmon_llm_tokens", {**GPT, "window": "5m", "type": "input"}) == 3000
    assert get("evalmon_llm_tokens", {**GPT, "window": "5m", "type": "output"}) == 300
    # GPT-4o at $2.50/M input and $10/M output.
    assert get("evalmon_llm_cost_usd", {**GPT, "window": "5m"}) == pytest.approx(0.0105)
    assert get("evalmon_llm_cost_usd", {**GPT, "window": "1h"}) == pytest.approx(0.0245)
    # Claude Sonnet 4.5 at $3/M and $15/M: 1,200 + 300 tokens cost $0.0081 a call (SPEC).
    assert get("evalmon_llm_cost_usd", {**CLAUDE, "window": "24h"}) == pytest.approx(20 * 0.0081)
    # The local model is priced at 0; a model without a price has no cost series at all.
    assert get("evalmon_llm_cost_usd", {**LOCAL, "window": "5m"}) == 0
    assert get("evalmon_llm_requests", {**MYSTERY, "window": "5m"}) == 1
    assert get("evalmon_llm_cost_usd", {**MYSTERY, "window": "5m"}) is None


def test_context_usage_near_limit_and_overflow(production: Callable[..., float | None]) -> None:
    get = production
    labels = {**LOCAL, "window": "5m"}
    # Used tokens 4096, 7372, 7373, 8192, 9000 of 8192 (the errors used none).
    for quantile, used in (("0.5", 7373), ("0.95", 9000), ("0.99", 9000)):
        ratio = get("evalmon_llm_context_usage_ratio", {**labels, "quantile": quantile})
        assert ratio == pytest.approx(used / 8192)
    assert get("evalmon_llm_context_near_limit_requests", labels) == 3  # >= 7372.8 tokens
    # 9000 tokens is over the window; the rejected call says so; the timeout does not count.
    assert get("evalmon_llm_context_overflow_requests", labels) == 2
    assert get("evalmon_llm_errors", labels) == 2
    assert get(
        "evalmon_llm_context_usage_ratio", {**CLAUDE, "window": "5m", "quantile": "0.5"}
    ) == (pytest.approx(1500 / 200_000))
    assert get("evalmon_llm_context_overflow_requests", {**CLAUDE, "window": "5m"}) == 0
    # No known window: no ratio, no near-limit count.
    assert (
        get("evalmon_llm_context_usage_ratio", {**MYSTERY, "window": "5m", "quantile": "0.5"})
        is None
    )
    assert get("evalmon_llm_context_near_limit_requests", {**MYSTERY, "window": "5m"}) is None


def test_perplexity_from_logprobs_where_logged(production: Callable[..., float | None]) -> None:
    # exp(0.5) and exp(2); the empty and the missing logprobs are left out.
    expected = (math.exp(0.5) + math.exp(2.0)) / 2
    assert production("evalmon_llm_perplexity", {**LOCAL, "window": "5m"}) == pytest.approx(
        expected
    )
    assert production("evalmon_llm_perplexity", {**CLAUDE, "window": "5m"}) is None


def test_window_boundaries(tmp_path: Path) -> None:
    path = new_store(tmp_path / "e.duckdb")
    with connect(path) as conn:
        insert(conn, "production_requests", [
            call(ago=timedelta(0)), call(ago=MIN * 5), call(ago=HOUR),
            call(ago=HOUR * 24 - timedelta(seconds=1)), call(ago=HOUR * 24),
            call(ago=-timedelta(seconds=1)),
        ])  # fmt: skip
    get = registry_of(ProductionCollector(path, clock=lambda: NOW)).get_sample_value
    # (now - length, now]: the call at "now" counts, the one exactly a window ago does not.
    assert [get("evalmon_llm_requests", {**CLAUDE, "window": w}) for w in ("5m", "1h", "24h")] == [
        1, 2, 4,
    ]  # fmt: skip


def test_a_model_name_asked_of_two_providers_is_qualified(tmp_path: Path) -> None:
    path = new_store(tmp_path / "e.duckdb")
    with connect(path) as conn:
        insert(conn, "production_requests", [
            call(provider="openai", model="gpt-4o"), call(provider="azure", model="gpt-4o"),
            call(provider="azure", model="gpt-4o", ago=HOUR * 3),
        ])  # fmt: skip
    get = registry_of(ProductionCollector(path, clock=lambda: NOW)).get_sample_value
    base = {"prompt_version": "rag_qa@1.0.0", "route": "answer", "window": "5m"}
    assert get("evalmon_llm_requests", {**base, "model": "openai:gpt-4o"}) == 1
    assert get("evalmon_llm_requests", {**base, "model": "azure:gpt-4o"}) == 1
    assert get("evalmon_llm_requests", {**base, "model": "azure:gpt-4o", "window": "24h"}) == 2
    assert get("evalmon_llm_requests", {**base, "model": "gpt-4o"}) is None
    # Priced by provider: Azure is not in the price table.
    assert get("evalmon_llm_cost_usd", {**base, "model": "openai:gpt-4o"}) is not None
    assert get("evalmon_llm_cost_usd", {**base, "model": "azure:gpt-4o"}) is None


def test_context_window_and_price_overrides(production_db: Path) -> None:
    settings = ExportSettings(
        context_windows={"acme:mystery-1": 3000},
        prices={"acme:mystery-1": {"input_per_mtok_usd": 1.0, "output_per_mtok_usd": 2.0}},
        near_limit_ratio=0.5,
    )
    collector = ProductionCollector(production_db, settings=settings, clock=lambda: NOW)
    get = registry_of(collector).get_sample_value
    labels = {**MYSTERY, "window": "5m"}
    assert get("evalmon_llm_cost_usd", labels) == pytest.approx(1200e-6 + 300 * 2e-6)
    assert get("evalmon_llm_context_usage_ratio", {**labels, "quantile": "0.5"}) == 0.5
    assert get("evalmon_llm_context_near_limit_requests", labels) == 1
    with pytest.raises(ValueError, match="positive whole number"):
        ExportSettings(context_windows={"acme:x": 0}).context_table()


def test_context_windows_match_like_prices() -> None:
    windows = ContextWindows()
    assert windows.window_for("openai:gpt-4o") == 128_000
    assert windows.window_for("openai:gpt-4o-2024-08-06") == 128_000  # a dated snapshot
    assert windows.window_for("openai:gpt-4o-mini") == 128_000
    assert windows.window_for("openai:gpt-4.1-nano") == 1_047_576
    assert windows.window_for("openai:gpt-4o-audio-preview") is None  # not a version suffix
    assert windows.window_for("anthropic:claude-3-5-haiku-20241022") == 200_000  # anthropic:*
    assert windows.window_for("local:smollm2") == 8192
    assert windows.window_for("acme:mystery-1") is None
    assert windows.window_for("gpt-4o") is None  # no provider
    custom = windows.with_overrides({"local:qwen": 32_768})
    assert custom.window_for("local:qwen") == 32_768 and windows.window_for("local:qwen") == 8192
    # 0.9 x 1000 is 900 exactly (not 900.0000000000001, whose ceiling would be 901).
    assert ContextWindows({"x:y": 1000}).near_limit_floor(0.9) == {"x": 900}
    assert windows.near_limit_floor(0.9)["local"] == 7373
    with pytest.raises(ValueError, match="provider:model"):
        ContextWindows({"gpt-4o": 128_000})


def test_export_settings_reject_unknown_keys() -> None:
    with pytest.raises(pydantic.ValidationError, match="lock_timeout"):
        ExportSettings.model_validate({"lock_timeout": 1})
    with pytest.raises(pydantic.ValidationError):
        ExportSettings(near_limit_ratio=1.5)
