"""The production record: one JSON line per LLM call, the app-side audit log.

A record is a flat JSON object: every key is a dotted string at the top level (only the
input messages are a list of uniform ``{"role", "content"}`` objects), so DuckDB's
``read_json`` loads the files fast with the fixed types of :data:`DUCKDB_COLUMNS`. Names
follow the OpenTelemetry GenAI semantic conventions where one exists; evalmon's own fields
are under ``evalmon.``. Absent values are ``null`` (lists are empty), never left out.
Ingest validates a line with ``ProductionRecord.model_validate_json(line)``.

Key                                          Type      Meaning
evalmon.schema_version                       int       ``1``; bumped on an incompatible change.
evalmon.record_id                            str       uuid4, unique per record (dedup key).
evalmon.request_id                           str       The app's request id, else a uuid4; the
                                                       calls of one request (primary then
                                                       fallback) share it when the app sets it.
evalmon.timestamp                            str       UTC ISO 8601 start of the call
                                                       (``2025-06-01T12:00:00.123456Z``).
evalmon.app                                  str       ``CaptureConfig.app``.
evalmon.route                                str?      The app's route or step (``answer``).
evalmon.status                               str       ``ok`` or ``error``.
evalmon.latency_s                            float     Seconds from the call to its response.
evalmon.prompt.ref                           str?      ``name@version`` of the prompt used.
evalmon.prompt.name                          str?      The part before ``@``.
evalmon.prompt.version                       str?      The part after ``@`` (None without one).
evalmon.input.messages                       list      ``[{"role": str, "content": str}]``, the
                                                       system prompt first; non-text parts
                                                       become ``[image]``-style placeholders.
evalmon.output.text                          str?      Text of the first choice.
evalmon.output.logprobs                      float[]?  Per-token logprobs, when returned.
evalmon.retrieval.contexts                   str[]     Retrieved documents (RAG), in order.
evalmon.error.message                        str?      The error's message, API keys redacted.
user.hash                                    str?      HMAC-SHA256 (hex) of the user id with
                                                       ``CaptureConfig.user_id_salt``; the raw
                                                       id is never written.
gen_ai.provider.name                         str       ``openai``, ``anthropic``, or the app's.
gen_ai.operation.name                        str       ``chat``.
gen_ai.request.model                         str       The model asked for.
gen_ai.request.max_tokens                    int?      As sent.
gen_ai.request.temperature                   float?    As sent.
gen_ai.response.model                        str?      The model version the provider reported
                                                       (``gpt-4o-2024-08-06``).
gen_ai.response.id                           str?      The provider's response id.
gen_ai.response.finish_reasons               str[]     The provider's own values, one per
                                                       choice (``stop``, ``end_turn`` ...).
gen_ai.usage.input_tokens                    int?      All input tokens, cached ones included.
gen_ai.usage.output_tokens                   int?      Output tokens.
gen_ai.usage.cache_read.input_tokens         int?      Of the input, read from a prompt cache.
gen_ai.usage.cache_creation.input_tokens     int?      Of the input, written to a prompt cache.
openai.response.system_fingerprint           str?      OpenAI's backend configuration id.
error.type                                   str?      Exception class (``BadRequestError``).
http.response.status_code                    int?      HTTP status of an API error.

API keys are redacted from every text field (messages, output, contexts and error) before
the line is written.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1


class ChatMessage(BaseModel):
    """One input message, reduced to text.

    Attributes:
        role: ``system``, ``user``, ``assistant``, ``tool`` ...
        content: The text; non-text parts appear as placeholders such as ``[image]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str
    content: str


#: JSON key of each ``ProductionRecord`` attribute, in schema order.
JSON_KEYS: dict[str, str] = {
    "schema_version": "evalmon.schema_version",
    "record_id": "evalmon.record_id",
    "request_id": "evalmon.request_id",
    "timestamp": "evalmon.timestamp",
    "app": "evalmon.app",
    "route": "evalmon.route",
    "status": "evalmon.status",
    "latency_s": "evalmon.latency_s",
    "prompt_ref": "evalmon.prompt.ref",
    "prompt_name": "evalmon.prompt.name",
    "prompt_version": "evalmon.prompt.version",
    "input_messages": "evalmon.input.messages",
    "output_text": "evalmon.output.text",
    "logprobs": "evalmon.output.logprobs",
    "contexts": "evalmon.retrieval.contexts",
    "error_message": "evalmon.error.message",
    "user_hash": "user.hash",
    "provider_name": "gen_ai.provider.name",
    "operation_name": "gen_ai.operation.name",
    "request_model": "gen_ai.request.model",
    "request_max_tokens": "gen_ai.request.max_tokens",
    "request_temperature": "gen_ai.request.temperature",
    "response_model": "gen_ai.response.model",
    "response_id": "gen_ai.response.id",
    "finish_reasons": "gen_ai.response.finish_reasons",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "system_fingerprint": "openai.response.system_fingerprint",
    "error_type": "error.type",
    "http_status": "http.response.status_code",
}


def _json_key(name: str) -> str:
    return JSON_KEYS[name]


class ProductionRecord(BaseModel):
    """One captured LLM call; the schema of each line of a capture file.

    Attributes are Python names (see the module docstring for their meaning); the JSON keys
    are the dotted names of :data:`JSON_KEYS`. Validate a line with
    ``ProductionRecord.model_validate_json(line)``; ``model_dump_json()`` writes one. Both
    use the dotted keys; the constructor takes the Python names.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=_json_key,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )

    schema_version: Literal[1] = SCHEMA_VERSION
    record_id: str = Field(min_length=1)
    request_id: str = Field(min_length=1)
    timestamp: AwareDatetime
    app: str = Field(min_length=1)
    route: str | None = None
    status: Literal["ok", "error"]
    latency_s: float = Field(ge=0)
    prompt_ref: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    input_messages: list[ChatMessage] = Field(default_factory=list)
    output_text: str | None = None
    logprobs: list[float] | None = None
    contexts: list[str] = Field(default_factory=list)
    error_message: str | None = None
    user_hash: str | None = None
    provider_name: str = Field(min_length=1)
    operation_name: str = "chat"
    request_model: str
    request_max_tokens: int | None = None
    request_temperature: float | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = Field(default_factory=list)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    system_fingerprint: str | None = None
    error_type: str | None = None
    http_status: int | None = None


#: The JSON keys of a record, in schema order (the columns an ingest reads).
RECORD_KEYS: tuple[str, ...] = tuple(JSON_KEYS.values())


_INT, _FLOAT, _TEXT = "BIGINT", "DOUBLE", "VARCHAR"
_TYPES: dict[str, str] = {
    "schema_version": "INTEGER",
    "timestamp": "TIMESTAMPTZ",
    "latency_s": _FLOAT,
    "input_messages": "STRUCT(role VARCHAR, content VARCHAR)[]",
    "logprobs": "DOUBLE[]",
    "contexts": "VARCHAR[]",
    "finish_reasons": "VARCHAR[]",
    "request_max_tokens": _INT,
    "request_temperature": _FLOAT,
    "input_tokens": _INT,
    "output_tokens": _INT,
    "cache_read_input_tokens": _INT,
    "cache_creation_input_tokens": _INT,
    "http_status": _INT,
}
#: DuckDB type of each JSON key, for ``read_json(..., columns=DUCKDB_COLUMNS)``: fixed types
#: load faster than auto-detection and do not change with a file's content.
DUCKDB_COLUMNS: dict[str, str] = {key: _TYPES.get(name, _TEXT) for name, key in JSON_KEYS.items()}


def hash_user_id(user_id: str, salt: str) -> str:
    """Return the hex HMAC-SHA256 of ``user_id`` keyed with ``salt`` (the ``user.hash``)."""
    return hmac.new(salt.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def split_prompt_ref(ref: str | None) -> tuple[str | None, str | None]:
    """Split ``name@version`` into its parts (``version`` is None without an ``@``)."""
    if not ref:
        return None, None
    name, sep, version = ref.rpartition("@")
    if not sep:
        return ref, None
    return name or None, version or None
