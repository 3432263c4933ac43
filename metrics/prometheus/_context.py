"""Context windows by model, for ``evalmon_llm_context_usage_ratio`` and its limit counts.

The table sits beside the price table (:mod:`metrics.prices`) and is looked up the same way:
``provider:model`` matches an exact entry; else the longest entry of the same provider that
the model starts with, followed only by a date or ``-latest`` (``gpt-4o-2024-08-06`` has the
window of ``gpt-4o``, ``gpt-4.1-nano`` does *not* get the window of ``gpt-4.1``); else a
``provider:*`` entry; else the model has no known window and no context series is exported
for it (a guess would be worse than a gap). Add or correct entries with
:meth:`ContextWindows.with_overrides` (``ExportSettings.context_windows`` in the config).

Windows are the total tokens a call may use, input plus output, as documented by the
providers (OpenAI's model pages, Anthropic's models overview) in 2025; the embedded local
server runs SmolLM2 with ``n_ctx`` 8192 (``evals/providers/_local.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

from metrics.prices import lookup_model

#: Known context windows in tokens, by ``provider:model``.
DEFAULT_CONTEXT_WINDOWS: Mapping[str, int] = {
    "openai:gpt-4o": 128_000,
    "openai:gpt-4o-mini": 128_000,
    "openai:gpt-4.1": 1_047_576,
    "openai:gpt-4.1-mini": 1_047_576,
    "openai:gpt-4.1-nano": 1_047_576,
    "anthropic:claude-opus-4-5": 200_000,
    "anthropic:claude-sonnet-4-5": 200_000,
    "anthropic:claude-haiku-4-5": 200_000,
    # Every current Claude model has a 200k window (Sonnet's 1M one is a beta header).
    "anthropic:*": 200_000,
    "local:smollm2": 8192,
    # The embedded local server starts with n_ctx 8192 whatever model it serves.
    "local:*": 8192,
}


def _split_ref(model_ref: str) -> tuple[str, str]:
    provider, sep, model = model_ref.partition(":")
    if not sep or not provider or not model:
        raise ValueError(
            f"context window key must look like 'provider:model' (or 'provider:*'), "
            f"got {model_ref!r}; fix the context_windows entry"
        )
    return provider, model


def near_limit_tokens(window: int, ratio: float) -> int:
    """The fewest tokens that use at least ``ratio`` of ``window`` (exact, in decimal)."""
    return math.ceil(Decimal(str(ratio)) * window)


class ContextWindows:
    """Context windows in tokens by ``provider:model``, matched like prices (module doc).

    Args:
        windows: The table; None means :data:`DEFAULT_CONTEXT_WINDOWS`.

    Raises:
        ValueError: A key is not ``provider:model`` or a window is not a positive integer.
    """

    def __init__(self, windows: Mapping[str, int] | None = None) -> None:
        """Validate the keys and sizes and keep a copy of ``windows``."""
        table = dict(DEFAULT_CONTEXT_WINDOWS if windows is None else windows)
        for ref, size in table.items():
            _split_ref(ref)
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(
                    f"context window of {ref!r} must be a positive whole number of tokens, "
                    f"got {size!r}"
                )
        self._windows = table

    @property
    def windows(self) -> dict[str, int]:
        """A copy of the table."""
        return dict(self._windows)

    def near_limit_floor(self, near_ratio: float) -> dict[str, int]:
        """Per provider, the fewest tokens that can be near the limit of any of its models.

        A model's window is one of its provider's entries, so a call with fewer tokens than
        its provider's floor is neither near its model's limit nor over it.
        """
        floors: dict[str, int] = {}
        for ref, size in self._windows.items():
            provider = ref.partition(":")[0]
            near = near_limit_tokens(size, near_ratio)
            floors[provider] = min(near, floors.get(provider, near))
        return floors

    def with_overrides(self, overrides: Mapping[str, int]) -> ContextWindows:
        """Return a new table with ``overrides`` added or replacing entries."""
        return ContextWindows({**self._windows, **overrides})

    def window_for(self, model_ref: str) -> int | None:
        """The window of ``provider:model`` in tokens; None when unknown or malformed.

        Looked up as prices are (:func:`metrics.prices.lookup_model`): exact, dated
        snapshot, then ``provider:*``.
        """
        return lookup_model(self._windows, model_ref)

    def __repr__(self) -> str:
        """List the entries."""
        return f"ContextWindows({sorted(self._windows)!r})"
