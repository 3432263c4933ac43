"""evalmon's side of ragas' model seams: an LLM over a Provider, embeddings over /v1/embeddings.

The ``ragas.metrics.collections`` metrics of ragas 0.4.3 call ``await llm.agenerate(prompt,
ResponseModel)`` on an ``InstructorBaseRagasLLM`` and, for answer relevancy, ``aembed_text`` and
``aembed_texts`` on a ``BaseRagasEmbedding``. :class:`ProviderLLM` answers the first through
evalmon's :class:`Provider` with evalmon's retries (so cost accounting, the local model and
fallback chains apply); :class:`OpenAIEmbedder` answers the second through an OpenAI-compatible
``/v1/embeddings`` endpoint. ragas takes seconds to import, so this module does not import it;
:func:`load_ragas` does, when a scorer is built, and registers both adapters as virtual
subclasses of ragas' abstract base classes, which is what the metrics check (``isinstance``).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evals.config import ProvidersConfig
from evals.providers import (
    CallResult,
    ConfigError,
    GenerateParams,
    Message,
    Provider,
    ProviderError,
    RetryPolicy,
    call_with_retries,
    parse_model_ref,
)
from evals.providers._errors import register_secret
from evals.providers._http_errors import from_sdk_exception

_M = TypeVar("_M", bound=BaseModel)
_FENCE = re.compile(r"^```[\w-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
_SHOWN_CHARS = 200


class ReplyParseError(ValueError):
    """The model's reply is not the JSON object ragas asked for."""


def parse_reply(text: str, response_model: type[_M]) -> _M:
    """Parse a reply into ``response_model``: bare JSON, fenced JSON, or JSON amid prose.

    Raises:
        ReplyParseError: No JSON object in the reply validates against the model.
    """
    body = text.strip()
    if fenced := _FENCE.match(body):
        body = fenced.group(1).strip()
    try:
        return response_model.model_validate_json(body)
    except ValidationError as exc:
        start, end = body.find("{"), body.rfind("}")
        if 0 <= start < end and (start, end) != (0, len(body) - 1):
            try:
                return response_model.model_validate_json(body[start : end + 1])
            except ValidationError:
                pass
        problem = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        shown = body[:_SHOWN_CHARS] + ("..." if len(body) > _SHOWN_CHARS else "")
        raise ReplyParseError(
            f"the model's reply is not the JSON object ragas asked for "
            f"({response_model.__name__}: {problem}); reply was {json.dumps(shown)}"
        ) from None


def strict_schema(node: Any) -> Any:
    """Return a pydantic JSON schema in the form OpenAI's strict structured outputs accept.

    Every object gets ``additionalProperties: false`` and all its properties required.
    """
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_schema(value) for key, value in node.items()}
    if out.get("type") == "object" and isinstance(out.get("properties"), dict):
        out["additionalProperties"] = False
        out["required"] = list(out["properties"])
    return out


@dataclass
class Usage:
    """What one scored case cost: model calls, attempts, tokens, money, embedding calls."""

    model_calls: int = 0
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    embedding_calls: int = 0
    embedding_tokens: int = 0
    answered_by: set[str] = field(default_factory=set)

    def add_call(self, result: CallResult) -> None:
        """Count one model call (retries included); an unpriced call makes the cost unknown."""
        self.model_calls += 1
        self.attempts += result.attempts
        self.input_tokens += result.input_tokens or 0
        self.output_tokens += result.output_tokens or 0
        if result.answered_by:
            self.answered_by.add(result.answered_by)
        if result.error is None:
            known = self.cost_usd is not None and result.cost_usd is not None
            self.cost_usd = (self.cost_usd or 0.0) + (result.cost_usd or 0.0) if known else None

    def details(self) -> dict[str, Any]:
        """Return the counts for ``Score.details``."""
        data: dict[str, Any] = {
            "model_calls": self.model_calls,
            "attempts": self.attempts,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "answered_by": sorted(self.answered_by),
        }
        if self.embedding_calls:
            data["embedding_calls"] = self.embedding_calls
            data["embedding_tokens"] = self.embedding_tokens
        return data


class ProviderLLM:
    """ragas' ``InstructorBaseRagasLLM``, answered by an evalmon provider (async only).

    Args:
        provider: The model that answers ragas' prompts.
        max_tokens: Output budget per call.
        retry: Retry policy for each call.
        usage: Where calls are counted.
    """

    def __init__(
        self, provider: Provider, *, max_tokens: int, retry: RetryPolicy, usage: Usage
    ) -> None:
        """Wrap ``provider``; no call is made."""
        self.provider = provider
        self.max_tokens = max_tokens
        self.retry = retry
        self.usage = usage
        self.replies: list[BaseModel] = []

    def generate(self, prompt: str, response_model: type[_M]) -> _M:
        """Refuse: evalmon scores in an event loop. Use :meth:`agenerate`."""
        raise TypeError("evalmon's ragas adapter is async only; await agenerate(...)")

    async def agenerate(self, prompt: str, response_model: type[_M]) -> _M:
        """Ask the provider for ``response_model`` as JSON (temperature 0) and parse the reply.

        Raises:
            ProviderError: The call failed after evalmon's retries.
            ReplyParseError: The reply is not a valid ``response_model`` object.
        """
        schema = strict_schema(response_model.model_json_schema())
        params = GenerateParams(
            temperature=0.0, max_tokens=self.max_tokens, json_output=True, json_schema=schema
        )
        messages = [Message("user", prompt)]
        result = await call_with_retries(self.provider, messages, params, self.retry)
        self.usage.add_call(result)
        if result.error is not None:
            err = result.error
            raise ProviderError(err.kind, err.message, status=err.status, attempts=result.attempts)
        try:
            reply = parse_reply(result.text, response_model)
        except ReplyParseError as exc:
            if result.finish_reason == "length":
                raise ReplyParseError(
                    f"{exc}; the reply was cut at max_tokens={self.max_tokens}: raise max_tokens"
                ) from None
            raise
        self.replies.append(reply)
        return reply


@dataclass(frozen=True, slots=True)
class EmbeddingEndpoint:
    """An OpenAI-compatible embeddings model: name, base URL, key and model string."""

    model: str
    base_url: str | None
    api_key: str = field(repr=False)
    ref: str


def embedding_endpoint(
    provider: Provider, embedding_model: str | None, env: Mapping[str, str] | None = None
) -> EmbeddingEndpoint:
    """Resolve the embeddings model: ``embedding_model``, else an OpenAI-compatible provider.

    Raises:
        ConfigError: No embeddings model can be used; the message says which option to set.
    """
    env = os.environ if env is None else env
    example = "'openai:text-embedding-3-small' or 'openai-compatible:NAME@http://HOST:PORT/v1'"
    text = embedding_model
    if text is None and provider.ref.startswith("openai-compatible:"):
        text = provider.ref
    if text is None:
        raise ConfigError(
            f"answer_relevancy compares embeddings and {provider.ref} serves none evalmon can "
            f"use; set the scorer's embedding_model option, e.g. {example}"
        )
    ref = parse_model_ref(text)
    settings = ProvidersConfig()
    if ref.provider == "openai":
        key = env.get(settings.openai.api_key_env, "")
        if not key:
            raise ConfigError(
                f"embedding model {text!r} needs an API key: set {settings.openai.api_key_env}"
            )
        register_secret(key)
        return EmbeddingEndpoint(ref.model, settings.openai.base_url, key, text)
    if ref.provider == "openai-compatible":
        key = env.get(settings.openai_compatible.api_key_env, "")
        register_secret(key)
        return EmbeddingEndpoint(ref.model, ref.base_url, key or "not-needed", text)
    raise ConfigError(
        f"embedding model {text!r} has no /v1/embeddings endpoint; set embedding_model to {example}"
    )


class OpenAIEmbedder:
    """ragas' ``BaseRagasEmbedding`` over an OpenAI-compatible ``/v1/embeddings`` (async only).

    Args:
        endpoint: The embeddings model.
        usage: Where calls are counted.
        timeout_s: HTTP timeout per attempt.
    """

    def __init__(self, endpoint: EmbeddingEndpoint, usage: Usage, timeout_s: float = 60.0) -> None:
        """Remember the endpoint; no request is made."""
        self.endpoint = endpoint
        self.usage = usage
        self.timeout_s = timeout_s

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        """Refuse: evalmon scores in an event loop. Use :meth:`aembed_text`."""
        raise TypeError("evalmon's ragas embeddings are async only; await aembed_text(...)")

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        """Embed one text."""
        return (await self.aembed_texts([text]))[0]

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        """Embed texts in one request.

        Raises:
            ProviderError: The endpoint failed; the message names the embedding_model option.
        """
        import openai

        end = self.endpoint
        client = openai.AsyncOpenAI(
            api_key=end.api_key, base_url=end.base_url, timeout=self.timeout_s, max_retries=2
        )
        self.usage.embedding_calls += 1
        try:
            async with client:
                reply = await client.embeddings.create(
                    model=end.model, input=texts, encoding_format="float"
                )
        except openai.OpenAIError as exc:
            error = from_sdk_exception(exc, openai)
            raise ProviderError(
                error.kind,
                f"embeddings call to {end.ref} failed: {error}; if that model does not embed, "
                "set the scorer's embedding_model option",
                status=error.status,
            ) from exc
        self.usage.embedding_tokens += reply.usage.prompt_tokens if reply.usage else 0
        return [item.embedding for item in sorted(reply.data, key=lambda item: item.index)]


@functools.cache
def load_ragas() -> str:
    """Import ragas once (telemetry off), register the adapters, and return ragas' version.

    Raises:
        ConfigError: ragas is not installed; the message says how to install it.
    """
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    try:
        from ragas.embeddings.base import BaseRagasEmbedding
        from ragas.llms.base import InstructorBaseRagasLLM
    except ImportError as exc:
        raise ConfigError(
            f"ragas' LLM metrics need ragas ({exc.name} is missing): run `uv sync` "
            "(or `pip install ragas==0.4.3`)"
        ) from exc
    InstructorBaseRagasLLM.register(ProviderLLM)
    BaseRagasEmbedding.register(OpenAIEmbedder)
    return version("ragas")
