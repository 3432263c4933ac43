"""Running the fake server: in a background thread (``FakeLLMServer``) or as a coroutine."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakeserver._app import FakeLLMApp
from tests.fakeserver._faults import Api, Fault, FaultConfig, Reply, validate_fault_kind
from tests.fakeserver._state import RecordedRequest, Responder, ServerState

HOST = "127.0.0.1"


async def start_site(app: FakeLLMApp, port: int = 0) -> tuple[web.AppRunner, str]:
    """Start serving ``app`` on ``127.0.0.1:port`` (0: ephemeral) in the running loop.

    Returns:
        The runner (call ``stop_site`` with it) and the root URL.
    """
    runner = web.AppRunner(
        app.build(), access_log=None, handler_cancellation=True, shutdown_timeout=2.0
    )
    await runner.setup()
    site = web.TCPSite(runner, HOST, port, reuse_address=True)
    await site.start()
    bound_port = int(runner.addresses[0][1])
    return runner, f"http://{HOST}:{bound_port}"


async def stop_site(app: FakeLLMApp, runner: web.AppRunner) -> None:
    """Wake any hanging handler and shut the server down."""
    app.closing.set()
    await runner.cleanup()


def make_reply(
    text: str,
    *,
    finish_reason: str | None = None,
    model: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    logprobs: list[float] | tuple[float, ...] | None = None,
    delay_s: float = 0.0,
    api: Api | None = None,
) -> Reply:
    """Build a :class:`Reply` (see its attributes for the meaning of each argument)."""
    return Reply(
        text=text,
        finish_reason=finish_reason,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        logprobs=tuple(logprobs) if logprobs is not None else None,
        delay_s=delay_s,
        api=api,
    )


class FakeLLMServer:
    """An in-process fake OpenAI/Anthropic server on 127.0.0.1, in its own thread and loop.

    Use it as a context manager::

        with FakeLLMServer() as srv:
            srv.enqueue("Paris")
            client = openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key="sk-test",
                                        max_retries=0)

    Every method is thread-safe and may be called from the test's own event loop.

    Attributes:
        url: Root URL, e.g. ``http://127.0.0.1:54321`` (set while running).
    """

    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        responder: Responder | None = None,
        max_history: int = 10_000,
        models: tuple[str, ...] | None = None,
        port: int = 0,
        **fault_fields: Any,
    ) -> None:
        """Configure the server (it starts on ``__enter__`` or ``start``).

        Args:
            faults: Fault, latency and rate-limit settings.
            responder: ``(request_json, api) -> Reply | Fault | str | None`` consulted when
                the scripted queue is empty; None falls back to the default echo reply.
            max_history: How many requests ``history`` keeps (oldest dropped first).
            models: Model ids listed by ``GET /v1/models``.
            port: Port to bind on 127.0.0.1; 0 picks a free one.
            **fault_fields: Shorthand for ``FaultConfig`` fields, e.g. ``latency_s=0.1``.
        """
        config = (faults or FaultConfig()).updated(**fault_fields)
        self._state = ServerState(faults=config, responder=responder, max_history=max_history)
        if models is not None:
            self._state.models = tuple(models)
        self._port = port
        self._app: FakeLLMApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a daemon thread; return once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeLLMServer is already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._app = FakeLLMApp(self._state)
                self._runner, self.url = loop.run_until_complete(start_site(self._app, self._port))
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(10.0) or errors:
            self._thread = None
            raise RuntimeError(f"fake LLM server failed to start: {errors}")
        return self

    def stop(self) -> None:
        """Stop the server, waking hanging requests, and join its thread."""
        loop, thread, app, runner = self._loop, self._thread, self._app, self._runner
        if loop is None or thread is None or app is None or runner is None:
            return
        future = asyncio.run_coroutine_threadsafe(stop_site(app, runner), loop)
        try:
            future.result(timeout=10.0)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10.0)
            self._thread = self._loop = self._runner = self._app = None

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # -- URLs ---------------------------------------------------------------------------

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.AsyncOpenAI``: the root URL plus ``/v1``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.AsyncAnthropic``: the root URL (it adds ``/v1``)."""
        return self.url

    # -- scripting ----------------------------------------------------------------------

    def enqueue(
        self,
        text: str,
        *,
        finish_reason: str | None = None,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        logprobs: list[float] | tuple[float, ...] | None = None,
        delay_s: float = 0.0,
        api: Api | None = None,
    ) -> None:
        """Queue one scripted reply; the next generation request (of ``api``) gets it.

        See :class:`Reply` for the arguments. A probabilistic fault drawn for a request
        does not consume the queue, so the scripted reply goes to the retry.
        """
        self._state.enqueue(
            make_reply(
                text,
                finish_reason=finish_reason,
                model=model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                logprobs=logprobs,
                delay_s=delay_s,
                api=api,
            )
        )

    def enqueue_fault(
        self,
        kind: str,
        *,
        retry_after_s: float | None = None,
        hang_s: float | None = None,
        message: str | None = None,
        api: Api | None = None,
    ) -> None:
        """Queue one fault for the next generation request (of ``api``).

        Args:
            kind: ``"429"``, ``"500"``, ``"529"`` or any HTTP error status; ``"timeout"``,
                ``"drop"`` or ``"malformed"``.
            retry_after_s: For HTTP errors, also send ``retry-after``/``retry-after-ms``.
            hang_s: For ``"timeout"``, seconds to hang (default ``FaultConfig.hang_s``).
            message: Error message to send.
            api: Only a request to this API takes the fault.
        """
        self._state.enqueue(
            Fault(
                validate_fault_kind(kind),
                retry_after_s=retry_after_s,
                hang_s=hang_s,
                message=message,
                api=api,
            )
        )

    def set_responder(self, responder: Responder | None) -> None:
        """Set (or clear) the responder consulted when the scripted queue is empty."""
        self._state.responder = responder

    def set_faults(self, **changes: Any) -> FaultConfig:
        """Change the given ``FaultConfig`` fields (others keep their value); reseed.

        Example: ``srv.set_faults(p_500=0.2, seed=7)``; ``srv.set_faults(p_500=0.0)``.

        Returns:
            The new configuration.
        """
        return self._state.set_faults(**changes)

    def reset(self) -> None:
        """Clear queue, history and counters; restore the constructor's fault settings."""
        self._state.reset()

    # -- inspection ---------------------------------------------------------------------

    @property
    def faults(self) -> FaultConfig:
        """The current fault configuration."""
        return self._state.faults

    @property
    def history(self) -> list[RecordedRequest]:
        """Snapshot of the received requests, oldest first."""
        return self._state.history

    def stats(self) -> dict[str, Any]:
        """Return the counters (see ``ServerState.stats``)."""
        return self._state.stats()

    def queued(self) -> int:
        """Return how many scripted replies/faults are not consumed yet."""
        return self._state.queued()
