"""Value types shared by every provider: messages, generation parameters, call results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        """Return the message as the ``{"role", "content"}`` dict both SDKs accept."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class GenerateParams:
    """Sampling and output parameters for one call.

    Attributes:
        temperature: Sampling temperature; 0 is greedy.
        max_tokens: Upper bound on generated tokens.
        json_output: Ask the provider for a single JSON object.
        json_schema: Optional JSON Schema the object must follow (implies ``json_output``).
        logprobs: Ask for per-token log-probabilities where the provider has them.
        stop: Stop sequences.
        seed: Sampling seed, for providers that honour one.
    """

    temperature: float = 0.0
    max_tokens: int = 256
    json_output: bool = False
    json_schema: dict[str, Any] | None = None
    logprobs: bool = False
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def as_key_dict(self) -> dict[str, Any]:
        """Return the parameters as plain data, for cache keys and storage."""
        data = dataclasses.asdict(self)
        data["stop"] = list(self.stop)
        return data


@dataclass(frozen=True, slots=True)
class CallError:
    """An error recorded on a call instead of a result.

    Attributes:
        kind: Error class (``rate_limited``, ``server_error``, ``timeout``, ``connection``,
            ``bad_request``, ``context_overflow`` (the prompt is longer than the model's
            context window), ``auth``, ``malformed_response``, ``not_found``, ``other``).
        message: One-line description, with secrets removed.
        status: HTTP status when there was one.
    """

    kind: str
    message: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    """Everything evalmon records about one model call.

    Attributes:
        text: The generated text ("" when the call errored).
        finish_reason: ``stop``, ``length``, ``content_filter``, ``error`` or the provider's own.
        provider: Provider name of the model that answered (``openai``, ``anthropic`` ...).
        model: Model name that was asked for, on the provider that answered.
        model_version: Model version the provider reported (e.g. ``gpt-4o-2024-08-06``).
        input_tokens: Prompt tokens the provider counted.
        output_tokens: Completion tokens the provider counted.
        latency_s: Wall time of the successful attempt, in seconds.
        cost_usd: Cost from the price table; ``None`` when the model has no price.
        error: Set when the call failed; the call is then not a score of anything.
        cached: True when the result came from the response cache (costs nothing).
        attempts: HTTP attempts made, retries included (0 for a cache hit).
        logprobs: Per-token log-probabilities, when asked for and available.
        answered_by: ``provider:model`` string of the model that answered (fallback chains).
    """

    text: str
    finish_reason: str
    provider: str
    model: str
    model_version: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float = 0.0
    cost_usd: float | None = None
    error: CallError | None = None
    cached: bool = False
    attempts: int = 1
    logprobs: tuple[float, ...] | None = None
    answered_by: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the call produced a result rather than an error."""
        return self.error is None

    def replace(self, **changes: Any) -> CallResult:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


@runtime_checkable
class PriceLookup(Protocol):
    """Prices calls. ``metrics.prices.PriceTable`` implements it."""

    def cost_usd(self, model_ref: str, input_tokens: int, output_tokens: int) -> float | None:
        """Return the USD cost of a call to ``provider:model``, or None when unpriced."""
        ...


@runtime_checkable
class Provider(Protocol):
    """The one async interface every model adapter implements."""

    @property
    def ref(self) -> str:
        """The ``provider:model`` string this provider answers for."""
        ...

    @property
    def max_concurrency(self) -> int | None:
        """Largest useful number of concurrent calls, or None for no provider limit."""
        ...

    async def generate(self, messages: list[Message], params: GenerateParams) -> CallResult:
        """Make one call. Raise :class:`evals.providers.ProviderError` on failure."""
        ...

    async def check(self) -> None:
        """Make sure the endpoint answers (cheaply); raise ProviderError when it does not."""
        ...

    async def aclose(self) -> None:
        """Release connections and any process the provider started."""
        ...
