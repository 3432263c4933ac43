"""``Capture``: records the app's LLM calls to JSON-lines files and live Prometheus metrics."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from prometheus_client import CollectorRegistry

from metrics.capture._build import RecordBuilder, provider_of
from metrics.capture._config import CaptureConfig, CaptureStats
from metrics.capture._extract import normalize_messages
from metrics.capture._live import LiveMetrics
from metrics.capture._recording import Recording
from metrics.capture._scope import CallMetadata, as_contexts, current_metadata, metadata_scope
from metrics.capture._sink import CallRecorder
from metrics.capture._wrap import ANTHROPIC_MESSAGES, OPENAI_CHAT, wrap_client
from metrics.capture._writer import JsonlWriter

log = logging.getLogger(__name__)

ClientT = TypeVar("ClientT")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Capture:
    """Records every LLM call of an app: one JSON line per call, plus live metrics.

    Args:
        config: Directory, app name, salt and limits.
        registry: Prometheus registry for the live metrics; default a new private one
            (:attr:`registry`). Serve it with ``prometheus_client.start_http_server(port,
            registry=capture.registry)``.
        clock: Returns the current aware time; for tests (default ``datetime.now(UTC)``).

    Raises:
        ValueError: When ``registry`` already holds another capture's metrics.

    Nothing here raises into, or waits inside, the app's calls: a record that cannot be
    built, queued or written is dropped and counted (:meth:`stats`, and the
    ``evalmon_capture_dropped_records_total`` counter). Call :meth:`close` (or use the
    capture as a context manager) at shutdown; it also runs at interpreter exit. Create
    the capture in the process that makes the calls (in each worker, after a pre-fork
    server forks): its writer thread does not survive ``fork()``.
    """

    def __init__(
        self,
        config: CaptureConfig,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Register the metrics and start the writer thread."""
        self._config = config
        self._registry = registry if registry is not None else CollectorRegistry()
        self._live = LiveMetrics(self._registry)
        self._clock = clock or _utc_now
        try:
            config.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning(
                "evalmon capture cannot create %s (%s): calls are dropped and counted until "
                "it can; point CaptureConfig.directory at a writable folder",
                config.directory,
                exc,
            )
        self._writer = JsonlWriter(
            directory=config.directory,
            app=config.app,
            max_file_bytes=config.max_file_bytes,
            queue_size=config.queue_size,
            clock=self._clock,
            on_drop=self._live.count_dropped,
        )
        self._recorder = CallRecorder(RecordBuilder(config, self._clock), self._live, self._writer)
        atexit.register(self.close)

    # -- public API -----------------------------------------------------------------------

    @property
    def config(self) -> CaptureConfig:
        """The settings."""
        return self._config

    @property
    def registry(self) -> CollectorRegistry:
        """The registry holding the live metrics."""
        return self._registry

    def wrap_openai(
        self,
        client: ClientT,
        *,
        route: str | None = None,
        prompt: str | None = None,
        provider: str = "openai",
    ) -> ClientT:
        """Return ``client`` (``openai.OpenAI`` or ``AsyncOpenAI``) recording its chat calls.

        Args:
            client: The SDK client; it is not modified.
            route: Default route of the calls (a :meth:`context` scope overrides it).
            prompt: Default prompt ref ``name@version``.
            provider: ``gen_ai.provider.name``, for OpenAI-compatible servers (``vllm`` ...).

        Raises:
            TypeError: When ``client`` has no ``chat.completions.create``.
        """
        defaults = CallMetadata(route=route, prompt=prompt)
        proxy = wrap_client(
            self._recorder, client, OPENAI_CHAT, provider=provider, defaults=defaults
        )
        return cast(ClientT, proxy)

    def wrap_anthropic(
        self, client: ClientT, *, route: str | None = None, prompt: str | None = None
    ) -> ClientT:
        """Return ``client`` (``anthropic.Anthropic`` or ``AsyncAnthropic``) recording calls.

        Args:
            client: The SDK client; it is not modified.
            route: Default route of the calls (a :meth:`context` scope overrides it).
            prompt: Default prompt ref ``name@version``.

        Raises:
            TypeError: When ``client`` has no ``messages.create``.
        """
        defaults = CallMetadata(route=route, prompt=prompt)
        proxy = wrap_client(
            self._recorder, client, ANTHROPIC_MESSAGES, provider="anthropic", defaults=defaults
        )
        return cast(ClientT, proxy)

    @contextmanager
    def context(
        self,
        *,
        route: str | None = None,
        prompt: str | None = None,
        user_id: str | None = None,
        contexts: Sequence[Any] | None = None,
        request_id: str | None = None,
    ) -> Iterator[CallMetadata]:
        """Attach metadata to the wrapped calls made inside the block (and its tasks).

        Args:
            route: The app's route or step.
            prompt: Prompt ref ``name@version``.
            user_id: The user's id; only its salted hash is recorded.
            contexts: Retrieved documents (strings, or objects with ``page_content``/``text``).
            request_id: The app's request id (shared by the calls in the block).
        """
        metadata = CallMetadata(
            route=route,
            prompt=prompt,
            user_id=user_id,
            contexts=as_contexts(contexts),
            request_id=request_id,
        )
        with metadata_scope(metadata) as merged:
            yield merged

    def record(
        self,
        *,
        model: str,
        provider: str | None = None,
        route: str | None = None,
        prompt: str | None = None,
        user_id: str | None = None,
        contexts: Sequence[Any] | None = None,
        input_messages: Sequence[Any] | None = None,
        request_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Recording:
        """Record a call the app makes itself: ``with capture.record(...) as rec:``.

        Args:
            model: The model asked for; ``provider:model`` sets the provider too.
            provider: ``gen_ai.provider.name``; guessed from the model when None.
            route: The app's route or step.
            prompt: Prompt ref ``name@version``.
            user_id: The user's id; only its salted hash is recorded.
            contexts: Retrieved documents.
            input_messages: ``[{"role": ..., "content": ...}]`` as sent.
            request_id: The app's request id; a uuid4 when None.
            max_tokens: ``max_tokens`` as sent.
            temperature: ``temperature`` as sent.

        Values not given come from the enclosing :meth:`context` scope.
        """
        try:
            guessed, name = provider_of(model)
            explicit = CallMetadata(
                route=route,
                prompt=prompt,
                user_id=user_id,
                contexts=as_contexts(contexts),
                request_id=request_id,
            )
            call = self._recorder.begin(
                provider=provider or guessed,
                model=name if provider is None else model,
                metadata=current_metadata().merged(explicit),
                messages=lambda: normalize_messages(input_messages),
                max_tokens=max_tokens,
                temperature=temperature,
                secrets=(),
            )
        except Exception:
            log.exception("evalmon capture could not start a record")
            self._recorder.count_invalid()
            call = None
        return Recording(self._recorder, call)

    def stats(self) -> CaptureStats:
        """Counters since the capture started."""
        return self._recorder.stats()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until the records queued so far are written; False on timeout or if closed."""
        return self._writer.flush(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, finish the open file and stop the writer (idempotent)."""
        atexit.unregister(self.close)
        if not self._writer.close(timeout_s):
            log.warning(
                "evalmon capture did not finish writing within %.1f s; queued records may be "
                "lost and the open file stays .part (recover_part_files finishes it)",
                timeout_s,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
