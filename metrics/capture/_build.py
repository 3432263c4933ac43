"""Turning a finished call into a ``ProductionRecord``, and redacting one before writing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from evals.providers import redact_secrets
from metrics.capture._config import CaptureConfig
from metrics.capture._extract import ErrorInfo, Output
from metrics.capture._record import ChatMessage, ProductionRecord, hash_user_id, split_prompt_ref
from metrics.capture._recording import PendingCall
from metrics.capture._scope import CallMetadata

log = logging.getLogger(__name__)

#: ``gen_ai.provider.name`` guessed from a bare model name given to ``Capture.record``.
_PROVIDER_BY_PREFIX = (("claude", "anthropic"), ("gpt-", "openai"), ("o1", "openai"),
                       ("o3", "openai"), ("o4", "openai"))  # fmt: skip


def provider_of(model: str) -> tuple[str, str]:
    """``(provider, model)`` from ``provider:model`` or a well-known model name.

    An unknown bare name gets ``_OTHER``, the OpenTelemetry value for an unlisted provider.
    """
    provider, sep, name = model.partition(":")
    if sep and provider and name and "/" not in provider:
        return provider, name
    lowered = model.lower()
    for prefix, guess in _PROVIDER_BY_PREFIX:
        if lowered.startswith(prefix):
            return guess, model
    return "_OTHER", model


def redact_record(record: ProductionRecord) -> ProductionRecord:
    """Return ``record`` with API keys removed from every free-text field."""
    output, error = record.output_text, record.error_message
    return record.model_copy(
        update={
            "input_messages": [
                ChatMessage(role=m.role, content=redact_secrets(m.content))
                for m in record.input_messages
            ],
            "output_text": None if output is None else redact_secrets(output),
            "contexts": [redact_secrets(c) for c in record.contexts],
            "error_message": None if error is None else redact_secrets(error),
        }
    )


class RecordBuilder:
    """Starts calls and builds their records, for one :class:`CaptureConfig`.

    Args:
        config: App name, salt and content switch.
        clock: Returns the current aware time.
    """

    def __init__(self, config: CaptureConfig, clock: Callable[[], datetime]) -> None:
        """Keep the settings; no I/O."""
        self._config = config
        self._clock = clock
        salt = config.user_id_salt
        self._salt = salt.get_secret_value() if salt is not None else None
        self._warned_no_salt = False

    def start(
        self,
        *,
        started: float,
        provider: str,
        model: str,
        metadata: CallMetadata,
        messages: Callable[[], list[ChatMessage]] | None,
        max_tokens: int | None,
        temperature: float | None,
        secrets: tuple[str, ...],
    ) -> PendingCall:
        """Snapshot a call at its start (``started`` is its ``time.perf_counter()``)."""
        inputs = messages() if messages is not None and self._config.record_content else []
        return PendingCall(
            request_id=metadata.request_id or str(uuid.uuid4()),
            started_at=self._clock().astimezone(UTC),
            started=started,
            metadata=metadata,
            provider=provider,
            model=model,
            input_messages=inputs,
            max_tokens=max_tokens,
            temperature=temperature,
            secrets=secrets,
        )

    def build(
        self, call: PendingCall, output: Output | None, error: ErrorInfo | None, latency: float
    ) -> ProductionRecord:
        """The record of a finished call."""
        meta = call.metadata
        content = self._config.record_content
        out = output or Output()
        name, version = split_prompt_ref(meta.prompt)
        return ProductionRecord(
            record_id=str(uuid.uuid4()),
            request_id=call.request_id,
            timestamp=call.started_at,
            app=self._config.app,
            route=meta.route,
            status="ok" if error is None else "error",
            latency_s=latency,
            prompt_ref=meta.prompt,
            prompt_name=name,
            prompt_version=version,
            input_messages=call.input_messages,
            output_text=out.text if content else None,
            logprobs=list(out.logprobs) if out.logprobs is not None else None,
            contexts=list(meta.contexts or ()) if content else [],
            error_message=error.message if error is not None else None,
            user_hash=self._user_hash(meta.user_id),
            provider_name=call.provider,
            operation_name=call.operation,
            request_model=call.model,
            request_max_tokens=call.max_tokens,
            request_temperature=call.temperature,
            response_model=out.response_model,
            response_id=out.response_id,
            finish_reasons=list(out.finish_reasons),
            input_tokens=out.input_tokens,
            output_tokens=out.output_tokens,
            cache_read_input_tokens=out.cache_read_input_tokens,
            cache_creation_input_tokens=out.cache_creation_input_tokens,
            system_fingerprint=out.system_fingerprint,
            error_type=error.type if error is not None else None,
            http_status=error.http_status if error is not None else None,
        )

    def _user_hash(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        if self._salt is None:
            if not self._warned_no_salt:
                self._warned_no_salt = True
                log.warning(
                    "evalmon capture got a user id but CaptureConfig.user_id_salt is not set, "
                    "so user ids are not recorded; set it to record salted hashes"
                )
            return None
        return hash_user_id(str(user_id), self._salt)
