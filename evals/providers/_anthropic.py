"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic

from evals.providers._errors import ProviderError
from evals.providers._http_errors import from_sdk_exception
from evals.providers._types import CallResult, GenerateParams, Message, PriceLookup

_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def json_instruction(schema: dict[str, Any] | None) -> str:
    """System-prompt text asking for one bare JSON object (optionally following ``schema``)."""
    text = "Reply with a single JSON object and nothing else: no prose, no code fences."
    if schema is not None:
        text += " The object must follow this JSON Schema:\n" + json.dumps(schema, sort_keys=True)
    return text


class AnthropicProvider:
    """Claude models over the ``anthropic`` SDK.

    Args:
        model: Model name, e.g. ``claude-sonnet-4-5``.
        api_key: API key; never stored or logged.
        base_url: API base URL; None for the SDK default.
        timeout_s: HTTP timeout per attempt (retries are evalmon's, not the SDK's).
        pricing: Price table for the ``cost_usd`` of each call.
    """

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        pricing: PriceLookup | None = None,
    ) -> None:
        """Create the SDK client; no request is made."""
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )
        self._model = model
        self._pricing = pricing
        self._ref = f"anthropic:{model}"

    @property
    def ref(self) -> str:
        """The ``provider:model`` reference."""
        return self._ref

    @property
    def max_concurrency(self) -> int | None:
        """Anthropic has no fixed concurrency limit; rate limits apply instead."""
        return None

    async def generate(self, messages: list[Message], params: GenerateParams) -> CallResult:
        """Make one Messages API call.

        System messages go to the ``system`` parameter. A JSON Schema goes out as structured
        output (``output_config.format``); plain JSON output is asked for in the system
        prompt. The current Messages API takes no sampling parameters (the SDK has no
        ``temperature``) and has no logprobs, so ``params.temperature``, ``params.seed`` and
        ``params.logprobs`` are not sent; the result's ``extra`` says so.
        """
        system_parts = [m.content for m in messages if m.role == "system"]
        kwargs: dict[str, Any] = {
            "model": self._model,
            "max_tokens": params.max_tokens,
            "messages": [m.as_dict() for m in messages if m.role != "system"],
        }
        if params.json_schema is not None:
            kwargs["output_config"] = {
                "format": {"type": "json_schema", "schema": params.json_schema}
            }
        elif params.json_output:
            system_parts.append(json_instruction(None))
        if system_parts:
            kwargs["system"] = "\n\n".join(system_parts)
        if params.stop:
            kwargs["stop_sequences"] = list(params.stop)
        started = time.perf_counter()
        try:
            response = await self._client.messages.create(**kwargs)
        except (anthropic.AnthropicError, ValueError) as exc:
            raise from_sdk_exception(exc, anthropic) from exc
        latency = time.perf_counter() - started
        return self._to_result(response, latency)

    def _to_result(self, response: Any, latency: float) -> CallResult:
        blocks = getattr(response, "content", None)
        if blocks is None:
            raise ProviderError("malformed_response", "response has no content")
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")
        usage = response.usage
        input_tokens = int(usage.input_tokens) if usage is not None else None
        output_tokens = int(usage.output_tokens) if usage is not None else None
        cost = None
        if self._pricing is not None and input_tokens is not None and output_tokens is not None:
            cost = self._pricing.cost_usd(self._ref, input_tokens, output_tokens)
        stop = str(response.stop_reason or "end_turn")
        return CallResult(
            text=text,
            finish_reason=_STOP_REASONS.get(stop, stop),
            provider="anthropic",
            model=self._model,
            model_version=getattr(response, "model", None),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_s=latency,
            cost_usd=cost,
            answered_by=self._ref,
            extra={"unsupported_params": ["temperature", "seed", "logprobs"]},
        )

    async def check(self) -> None:
        """List models to prove the endpoint answers.

        Only a failure to connect or to authenticate is an error: some compatible servers
        don't list models.
        """
        try:
            await self._client.models.list(limit=1)
        except (anthropic.AnthropicError, ValueError) as exc:
            error = from_sdk_exception(exc, anthropic)
            if error.kind in ("connection", "timeout", "auth"):
                raise error from exc

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()
