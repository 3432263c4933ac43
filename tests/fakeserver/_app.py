"""The aiohttp application: OpenAI/Anthropic endpoints plus ``/_control`` endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import sys
import traceback
from typing import Any

from aiohttp import web

from tests.fakeserver import _stream, _synth, _wire
from tests.fakeserver._control import ControlRoutes, json_response
from tests.fakeserver._faults import Api, Fault, Reply, retry_after_headers
from tests.fakeserver._state import Decision, RecordedRequest, ServerState

_JSON = "application/json"
_BAD_BODIES: dict[str, tuple[str, dict[str, bytes]]] = {
    # 200 with truncated JSON: both SDKs raise json.JSONDecodeError.
    "malformed": (
        _JSON,
        {
            "openai": b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"in',
            "anthropic": b'{"id": "msg_malformed", "type": "message", "content": [{"type": "te',
        },
    ),
    # 200 text/html, like a captive proxy: both SDKs return the body as a plain str.
    "not_json": (
        "text/html",
        {
            "openai": b"<html><body>502 Bad Gateway (fake proxy)</body></html>",
            "anthropic": b"<html><body>502 Bad Gateway (fake proxy)</body></html>",
        },
    ),
    # 200 JSON of the wrong shape: the SDKs build a model whose fields are all None.
    "bad_shape": (_JSON, {"openai": b'{"unexpected": true}', "anthropic": b'{"unexpected": true}'}),
}
STATE_KEY = web.AppKey("fakeserver_state", ServerState)
CLOSING_KEY = web.AppKey("fakeserver_closing", asyncio.Event)


class FakeLLMApp:
    """Request handlers bound to one :class:`ServerState`."""

    def __init__(self, state: ServerState) -> None:
        """Bind the handlers to ``state``."""
        self.state = state
        self.closing = asyncio.Event()

    def build(self) -> web.Application:
        """Return the aiohttp application with every route registered."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app[STATE_KEY] = self.state
        app[CLOSING_KEY] = self.closing
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/v1/models/{model}", self.model)
        ControlRoutes(self.state).register(app.router)
        return app

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when the server shuts down."""
        if seconds <= 0 or self.closing.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    # -- generation -------------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        """Handle ``POST /v1/chat/completions`` (OpenAI)."""
        return await self._generate(request, "openai")

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Handle ``POST /v1/messages`` (Anthropic)."""
        return await self._generate(request, "anthropic")

    async def _generate(self, request: web.Request, api: Api) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            rec = self.state.record(api, request.method, request.path, None, request.headers)
            self.state.finish(rec, "bad_request", 400)
            return json_response(
                _wire.error_body(api, 400, "request body is not a JSON object"), 400
            )
        decision = self.state.decide(api, request.method, request.path, body, request.headers)
        rec = decision.record
        try:
            return await self._answer(request, api, body, decision)
        except BaseException as exc:
            if rec.outcome is None:
                cancelled = isinstance(exc, asyncio.CancelledError)
                self.state.finish(rec, "cancelled" if cancelled else "server_bug", None)
            raise

    async def _answer(
        self, request: web.Request, api: Api, body: dict[str, Any], decision: Decision
    ) -> web.StreamResponse:
        rec = decision.record
        if decision.rate_limited:
            assert decision.fault is not None
            return self._http_fault(api, decision.fault, rec, "rate_limited")
        await self._sleep(decision.latency_s)
        if decision.fault is not None:
            return await self._fault(request, api, body, decision.fault, rec)
        reply: Reply | Fault | None = decision.scripted
        if reply is None and self.state.responder is not None:
            try:
                result = self.state.responder(body, api)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:  # a bug in the test's responder: say so loudly
                traceback.print_exc(file=sys.stderr)
                fault = Fault("500", message=f"fake server responder raised {exc!r}")
                return self._http_fault(api, fault, rec, "responder_error")
            reply = Reply(result) if isinstance(result, str) else result
            if isinstance(reply, Reply) and reply.delay_s > 0:
                await self._sleep(reply.delay_s)
        if isinstance(reply, Fault):
            return await self._fault(request, api, body, reply, rec)
        return await self._success(request, api, body, reply, rec)

    async def _success(
        self,
        request: web.Request,
        api: Api,
        body: dict[str, Any],
        reply: Reply | None,
        rec: RecordedRequest,
        outcome: str = "ok",
    ) -> web.StreamResponse:
        req = _wire.parse_request(body, api)
        if reply is None:
            reply = Reply(_wire.default_reply_text(req))
        comp = _wire.finish_reply(req, reply)
        rid = f"fake{rec.seq:08d}"
        headers = (
            {"x-request-id": f"req_{rid}", "openai-processing-ms": "1"}
            if api == "openai"
            else {"request-id": f"req_{rid}"}
        )
        if body.get("stream"):
            if api == "openai":
                opts = body.get("stream_options")
                usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
                events = _stream.openai_events(req, comp, rid, usage)
            else:
                events = _stream.anthropic_events(comp, rid)
            resp = web.StreamResponse(status=200, headers=headers)
            resp.content_type = "text/event-stream"
            await resp.prepare(request)
            for event in events:
                await resp.write(event)
            await resp.write_eof()
            self.state.finish(rec, outcome, 200)
            return resp
        data = (
            _wire.openai_completion(req, comp, rid)
            if api == "openai"
            else _wire.anthropic_message(comp, rid)
        )
        self.state.finish(rec, outcome, 200)
        return json_response(data, 200, headers)

    def _http_fault(
        self, api: Api, fault: Fault, rec: RecordedRequest, outcome: str | None = None
    ) -> web.Response:
        status = fault.status or 500
        headers = {} if fault.retry_after_s is None else retry_after_headers(fault.retry_after_s)
        if api == "openai":
            headers["x-request-id"] = f"req_fake{rec.seq:08d}"
        else:
            headers["request-id"] = f"req_fake{rec.seq:08d}"
            if status == 529 or status >= 500:
                headers["x-should-retry"] = "true"
        self.state.finish(rec, outcome or fault.kind, status)
        return json_response(_wire.error_body(api, status, fault.message), status, headers)

    async def _fault(
        self,
        request: web.Request,
        api: Api,
        body: dict[str, Any],
        fault: Fault,
        rec: RecordedRequest,
    ) -> web.StreamResponse:
        if fault.kind == "timeout":
            hang = fault.hang_s if fault.hang_s is not None else self.state.faults.hang_s
            try:
                await self._sleep(hang)
            except asyncio.CancelledError:  # the client gave up and disconnected
                self.state.finish(rec, "timeout", None)
                raise
            return await self._success(request, api, body, None, rec, outcome="timeout")
        if fault.kind == "drop":
            self.state.finish(rec, "drop", None)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp then writes nothing
        if fault.kind in _BAD_BODIES:
            self.state.finish(rec, fault.kind, 200)
            content_type, data = _BAD_BODIES[fault.kind]
            return web.Response(body=data[api], status=200, content_type=content_type)
        return self._http_fault(api, fault, rec)

    # -- other API endpoints ------------------------------------------------------------

    async def count_tokens(self, request: web.Request) -> web.Response:
        """Handle Anthropic's ``POST /v1/messages/count_tokens``."""
        body = await request.json()
        rec = self.state.record("anthropic", request.method, request.path, body, request.headers)
        req = _wire.parse_request(body, "anthropic")
        self.state.finish(rec, "ok", 200)
        return json_response({"input_tokens": _wire.count_tokens(req.prompt_text)})

    async def embeddings(self, request: web.Request) -> web.Response:
        """Handle OpenAI's ``POST /v1/embeddings`` with bag-of-words vectors."""
        body = await request.json()
        rec = self.state.record("openai", request.method, request.path, body, request.headers)
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(x) for x in inputs or []]
        dims = int(body.get("dimensions") or 64)
        data = [
            {"object": "embedding", "index": i, "embedding": _synth.embedding_vector(t, dims)}
            for i, t in enumerate(texts)
        ]
        used = sum(_wire.count_tokens(t) for t in texts)
        self.state.finish(rec, "ok", 200)
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": used, "total_tokens": used},
            }
        )

    async def models(self, request: web.Request) -> web.Response:
        """Handle ``GET /v1/models`` in the caller's API shape."""
        anthropic_style = "anthropic-version" in request.headers
        rec = self.state.record(
            "anthropic" if anthropic_style else "openai",
            request.method,
            request.path,
            None,
            request.headers,
        )
        self.state.finish(rec, "ok", 200)
        return json_response(_wire.models_body(list(self.state.models), anthropic_style))

    async def model(self, request: web.Request) -> web.Response:
        """Handle ``GET /v1/models/{model}``."""
        name = request.match_info["model"]
        anthropic_style = "anthropic-version" in request.headers
        api: Api = "anthropic" if anthropic_style else "openai"
        rec = self.state.record(api, request.method, request.path, None, request.headers)
        if name not in self.state.models:
            self.state.finish(rec, "not_found", 404)
            return json_response(_wire.error_body(api, 404, f"model {name!r} not found"), 404)
        self.state.finish(rec, "ok", 200)
        return json_response(_wire.models_body([name], anthropic_style)["data"][0])
