"""OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp) through the official SDK."""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx2 as httpx
import openai

from evals.providers._errors import ProviderError
from evals.providers._http_errors import from_sdk_exception
from evals.providers._transport import AiohttpTransport
from evals.providers._types import CallResult, GenerateParams, Message, PriceLookup

JsonStyle = Literal["json_schema", "json_object_schema"]


class OpenAIProvider:
    """Chat completions over the ``openai`` SDK.

    Args:
        provider: Provider name recorded with each call (``openai``, ``openai-compatible``,
            ``local``).
        model: Model name sent to the API.
        api_key: API key; never stored or logged.
        base_url: API base URL; None for the SDK default.
        timeout_s: HTTP timeout per attempt (retries are evalmon's, not the SDK's).
        pricing: Price table for the ``cost_usd`` of each call.
        json_style: ``json_schema`` for OpenAI's structured outputs; ``json_object_schema``
            for llama.cpp-style servers, which take ``{"type": "json_object", "schema": ...}``.
        max_concurrency: Largest useful number of concurrent calls, if the server has one.
        model_version: Version to record instead of what the server reports (local models).
        ref_name: Name used in the ``provider:name`` reference, when it differs from ``model``.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        pricing: PriceLookup | None = None,
        json_style: JsonStyle = "json_schema",
        max_concurrency: int | None = None,
        model_version: str | None = None,
        ref_name: str | None = None,
    ) -> None:
        """Create the SDK client; no request is made."""
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s,
            http_client=httpx.AsyncClient(transport=AiohttpTransport(), timeout=timeout_s),
        )  # fmt: skip
        self._provider = provider
        self._model = model
        self._pricing = pricing
        self._json_style = json_style
        self._max_concurrency = max_concurrency
        self._model_version = model_version
        self._ref = f"{provider}:{ref_name or model}"

    @property
    def ref(self) -> str:
        """The ``provider:model`` reference."""
        return self._ref

    @property
    def max_concurrency(self) -> int | None:
        """Largest useful number of concurrent calls, or None."""
        return self._max_concurrency

    async def generate(self, messages: list[Message], params: GenerateParams) -> CallResult:
        """Make one chat completion call."""
        body = {"model": self._model, "messages": [m.as_dict() for m in messages],
                **self._request_kwargs(params)}  # fmt: skip
        started = time.perf_counter()
        try:
            # The SDK's documented custom request: same client, auth and error classes as
            # ``chat.completions.create``, minus re-walking the plain-JSON body and building
            # pydantic models, which cost more CPU than the HTTP call at high concurrency.
            response = await self._client.post(
                "/chat/completions", body=body, cast_to=httpx.Response
            )
            data = response.json()
        except (openai.OpenAIError, ValueError) as exc:
            raise from_sdk_exception(exc, openai) from exc
        latency = time.perf_counter() - started
        return self._to_result(data, latency)

    def _request_kwargs(self, params: GenerateParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = 1
        if params.json_schema is not None:
            if self._json_style == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": params.json_schema, "strict": True},
                }
            else:
                kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
        elif params.json_output:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _to_result(self, data: Any, latency: float) -> CallResult:
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish_reason = str(choice.get("finish_reason") or "stop")
        except (TypeError, KeyError, IndexError, AttributeError):
            raise ProviderError(
                "malformed_response", "response has no choices[0].message"
            ) from None
        usage = data.get("usage") or {}
        input_tokens = _int_or_none(usage.get("prompt_tokens"))
        output_tokens = _int_or_none(usage.get("completion_tokens"))
        logprobs: tuple[float, ...] | None = None
        content = (choice.get("logprobs") or {}).get("content")
        if content:
            logprobs = tuple(float(token["logprob"]) for token in content)
        cost = None
        if self._pricing is not None and input_tokens is not None and output_tokens is not None:
            cost = self._pricing.cost_usd(self._ref, input_tokens, output_tokens)
        extra: dict[str, Any] = {}
        if data.get("system_fingerprint"):
            extra["system_fingerprint"] = data["system_fingerprint"]
        return CallResult(
            text=text,
            finish_reason=finish_reason,
            provider=self._provider,
            model=self._model,
            model_version=self._model_version or data.get("model"),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_s=latency,
            cost_usd=cost,
            logprobs=logprobs,
            answered_by=self._ref,
            extra=extra,
        )

    async def check(self) -> None:
        """List models to prove the endpoint answers.

        Only a failure to connect or to authenticate is an error: some compatible servers
        don't list models.
        """
        try:
            await self._client.models.list()
        except (openai.OpenAIError, ValueError) as exc:
            error = from_sdk_exception(exc, openai)
            if error.kind in ("connection", "timeout", "auth"):
                raise error from exc

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
