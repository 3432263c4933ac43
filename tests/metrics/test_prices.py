"""The price table: SPEC's reference cost arithmetic, prefix matching, overrides."""

from __future__ import annotations

import pydantic
import pytest

from evals.providers import PriceLookup
from metrics import ModelPrice, PriceTable


def test_reproduces_the_reference_daily_cost_exactly() -> None:
    prices = PriceTable()
    requests, input_tokens, output_tokens = 10_000, 1_200, 300
    day = prices.breakdown(
        "anthropic:claude-sonnet-4-5", requests * input_tokens, requests * output_tokens
    )
    assert day is not None
    assert day.input_usd == 36.0  # 10,000 x 1,200 tokens at $3/M
    assert day.output_usd == 45.0  # 10,000 x 300 tokens at $15/M
    assert day.total_usd == 81.0
    per_request = prices.cost_usd("anthropic:claude-sonnet-4-5", input_tokens, output_tokens)
    assert per_request == 0.0081  # $0.0036 + $0.0045, exact in decimal
    assert round(per_request * requests, 9) == 81.0


def test_implements_the_engines_price_protocol() -> None:
    assert isinstance(PriceTable(), PriceLookup)


@pytest.mark.parametrize(
    ("model_ref", "expected"),
    [
        ("anthropic:claude-sonnet-4-5", 3 + 15),
        ("anthropic:claude-haiku-4-5", 1 + 5),
        ("anthropic:claude-opus-4-5", 5 + 25),
        ("anthropic:claude-sonnet-4-5-20250929", 3 + 15),  # dated snapshot
        ("openai:gpt-4o", 2.5 + 10),
        ("openai:gpt-4o-2024-08-06", 2.5 + 10),  # dated snapshot -> gpt-4o
        ("openai:gpt-4o-mini", 0.15 + 0.60),
        ("openai:gpt-4o-mini-2024-07-18", 0.15 + 0.60),  # longest prefix wins
        ("openai:gpt-4.1", 2 + 8),
        ("openai:gpt-4.1-mini", 0.40 + 1.60),
        ("openai:gpt-4.1-mini-2025-04-14", 0.40 + 1.60),
        ("local:smollm2", 0.0),
        ("local:SmolLM2-135M-Instruct-Q4_1", 0.0),  # the embedded server is always free
    ],
)
def test_list_prices_per_million_tokens(model_ref: str, expected: float) -> None:
    assert PriceTable().cost_usd(model_ref, 1_000_000, 1_000_000) == pytest.approx(expected)


@pytest.mark.parametrize(
    "model_ref",
    [
        "openai:gpt-5-turbo",  # unknown model
        "openai:gpt-4.1-nano",  # a different model, not a dated gpt-4.1
        "openai:gpt-4o-audio-preview",
        "openai-compatible:llama3",  # unpriced unless configured
        "anthropic:gpt-4o",  # the name belongs to another provider
        "not-a-ref",
    ],
)
def test_unknown_models_have_no_price_not_zero(model_ref: str) -> None:
    assert PriceTable().cost_usd(model_ref, 1000, 1000) is None
    assert model_ref not in PriceTable()


def test_overrides_add_and_replace_prices_and_are_validated() -> None:
    base = PriceTable()
    custom = base.with_overrides({
        "openai-compatible:llama3": ModelPrice(input_per_mtok_usd=0.1, output_per_mtok_usd=0.2),
        "openai:gpt-4o": {"input_per_mtok_usd": 1.0, "output_per_mtok_usd": 4.0},
    })  # fmt: skip
    assert custom.cost_usd("openai-compatible:llama3", 1_000_000, 0) == pytest.approx(0.1)
    assert custom.cost_usd("openai:gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(4.0)
    assert base.cost_usd("openai:gpt-4o", 0, 1_000_000) == pytest.approx(10.0)  # unchanged
    with pytest.raises(pydantic.ValidationError):
        base.with_overrides({"x:y": {"input_per_mtok_usd": 1, "output_per_mtok_usd": 1, "x": 2}})
    with pytest.raises(pydantic.ValidationError):
        ModelPrice(input_per_mtok_usd=-1, output_per_mtok_usd=0)
    with pytest.raises(ValueError, match="provider:model"):
        base.with_overrides({"gpt-4o": ModelPrice(input_per_mtok_usd=1, output_per_mtok_usd=1)})


def test_negative_token_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        PriceTable().cost_usd("openai:gpt-4o", -1, 0)
