"""Model prices and call costs: implements the engine's ``PriceLookup`` protocol.

Prices are USD per million tokens. Costs are computed in :class:`decimal.Decimal` from the
decimal form of the price, so list-price arithmetic is exact (SPEC's reference: 10,000 calls
of 1,200 input tokens at $3/M plus 300 output tokens at $15/M is $36 + $45 = $81). An unknown
model has no price: its cost is None, never 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

_MILLION = Decimal(1_000_000)
# What may follow a priced model name for a dated snapshot of the same model:
# gpt-4o-2024-08-06, claude-sonnet-4-5-20250929, claude-sonnet-4-5@20250929, ...-latest.
_VERSION_SUFFIX = re.compile(r"[-@](\d{4}-\d{2}-\d{2}|\d{8}|latest)(-v\d+(:\d+)?)?")
WILDCARD = "*"
Entry = TypeVar("Entry")


class ModelPrice(BaseModel):
    """List price of one model.

    Attributes:
        input_per_mtok_usd: USD per million input (prompt) tokens.
        output_per_mtok_usd: USD per million output (completion) tokens.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok_usd: float = Field(ge=0)
    output_per_mtok_usd: float = Field(ge=0)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The cost of some tokens, in parts.

    Attributes:
        input_usd: Cost of the input tokens.
        output_usd: Cost of the output tokens.
        total_usd: Their sum.
    """

    input_usd: float
    output_usd: float
    total_usd: float


def _price(p: float, q: float) -> ModelPrice:
    return ModelPrice(input_per_mtok_usd=p, output_per_mtok_usd=q)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "anthropic:claude-opus-4-5": _price(5.0, 25.0),
    "anthropic:claude-sonnet-4-5": _price(3.0, 15.0),
    "anthropic:claude-haiku-4-5": _price(1.0, 5.0),
    "openai:gpt-4o": _price(2.50, 10.0),
    "openai:gpt-4o-mini": _price(0.15, 0.60),
    "openai:gpt-4.1": _price(2.0, 8.0),
    "openai:gpt-4.1-mini": _price(0.40, 1.60),
    "local:smollm2": _price(0.0, 0.0),
    # The embedded local server runs on this machine: whatever model it serves is free.
    "local:*": _price(0.0, 0.0),
}


def _split_ref(model_ref: str) -> tuple[str, str]:
    provider, sep, model = model_ref.partition(":")
    if not sep or not provider or not model:
        raise ValueError(f"model reference must look like 'provider:model', got {model_ref!r}")
    return provider, model


def lookup_model(table: Mapping[str, Entry], model_ref: str) -> Entry | None:
    """The entry of ``table`` that applies to ``provider:model``; None when none or malformed.

    The exact key; else the longest model name of the same provider that ``model`` starts
    with, followed only by a date or ``-latest`` (a dated snapshot); else ``provider:*``.
    Keys are assumed valid ``provider:model`` references.
    """
    provider, _, model = model_ref.partition(":")
    if not provider or not model:
        return None
    exact = table.get(model_ref)
    if exact is not None:
        return exact
    best: tuple[int, Entry] | None = None
    for ref, entry in table.items():
        ref_provider, _, ref_model = ref.partition(":")
        if ref_provider != provider or ref_model == WILDCARD:
            continue
        if (
            model.startswith(ref_model)
            and _VERSION_SUFFIX.fullmatch(model[len(ref_model) :])
            and (best is None or len(ref_model) > best[0])
        ):
            best = (len(ref_model), entry)
    if best is not None:
        return best[1]
    return table.get(f"{provider}:{WILDCARD}")


class PriceTable:
    """Prices by ``provider:model``; implements ``evals.providers.PriceLookup``.

    Lookup order for ``provider:model``: the exact entry; else the longest priced name of
    the same provider that ``model`` starts with, followed only by a date or ``-latest``
    (``gpt-4o-2024-08-06`` is priced as ``gpt-4o``; ``gpt-4.1-nano`` is *not* priced as
    ``gpt-4.1``); else a ``provider:*`` entry; else no price.

    Args:
        prices: The table; None means :data:`DEFAULT_PRICES`.
    """

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        """Validate the references and keep a copy of ``prices``."""
        table = dict(DEFAULT_PRICES if prices is None else prices)
        for ref, price in table.items():
            _split_ref(ref)
            if not isinstance(price, ModelPrice):
                raise TypeError(f"price of {ref!r} must be a ModelPrice, got {type(price)!r}")
        self._prices = table

    @property
    def prices(self) -> dict[str, ModelPrice]:
        """A copy of the table."""
        return dict(self._prices)

    def with_overrides(self, overrides: Mapping[str, ModelPrice | Mapping[str, Any]]) -> PriceTable:
        """Return a new table with ``overrides`` added or replacing entries.

        Values may be :class:`ModelPrice` or plain mappings from user config, which are
        validated (unknown fields and negative prices are rejected).
        """
        merged = dict(self._prices)
        for ref, value in overrides.items():
            merged[ref] = value if isinstance(value, ModelPrice) else ModelPrice(**value)
        return PriceTable(merged)

    def price_for(self, model_ref: str) -> ModelPrice | None:
        """Return the price that applies to ``provider:model``; None when unpriced or malformed."""
        return lookup_model(self._prices, model_ref)

    def breakdown(
        self, model_ref: str, input_tokens: int, output_tokens: int
    ) -> CostBreakdown | None:
        """Return the input, output and total cost, or None when the model is unpriced."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts cannot be negative")
        price = self.price_for(model_ref)
        if price is None:
            return None
        cost_in = Decimal(str(price.input_per_mtok_usd)) * input_tokens / _MILLION
        cost_out = Decimal(str(price.output_per_mtok_usd)) * output_tokens / _MILLION
        return CostBreakdown(
            input_usd=float(cost_in),
            output_usd=float(cost_out),
            total_usd=float(cost_in + cost_out),
        )

    def cost_usd(self, model_ref: str, input_tokens: int, output_tokens: int) -> float | None:
        """Return the USD cost of a call to ``provider:model``, or None when unpriced."""
        parts = self.breakdown(model_ref, input_tokens, output_tokens)
        return None if parts is None else parts.total_usd

    def __contains__(self, model_ref: object) -> bool:
        """Whether ``model_ref`` has a price."""
        return isinstance(model_ref, str) and self.price_for(model_ref) is not None

    def __repr__(self) -> str:
        """List the priced references."""
        return f"PriceTable({sorted(self._prices)!r})"
