"""The ``/_control`` endpoints that script and inspect a server over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from tests.fakeserver._faults import Fault, Reply
from tests.fakeserver._state import ServerState


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return a compact ``application/json`` response."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


class ControlRoutes:
    """Handlers of ``/_control/{stats,history,faults,enqueue,reset}`` for one state."""

    def __init__(self, state: ServerState) -> None:
        """Bind the handlers to ``state``."""
        self.state = state

    def register(self, router: web.UrlDispatcher) -> None:
        """Add the control routes to ``router``."""
        router.add_get("/_control/stats", self.stats)
        router.add_get("/_control/history", self.history)
        router.add_post("/_control/faults", self.faults)
        router.add_post("/_control/enqueue", self.enqueue)
        router.add_post("/_control/reset", self.reset)

    async def stats(self, request: web.Request) -> web.Response:
        """Handle ``GET /_control/stats``."""
        return json_response(self.state.stats())

    async def history(self, request: web.Request) -> web.Response:
        """Handle ``GET /_control/history?limit=N`` (newest N records, oldest first)."""
        limit = int(request.query.get("limit", "100"))
        records = self.state.history[-limit:] if limit > 0 else []
        return json_response([r.to_json() for r in records])

    async def faults(self, request: web.Request) -> web.Response:
        """Handle ``POST /_control/faults`` with a JSON object of FaultConfig fields."""
        try:
            config = self.state.set_faults(**(await request.json()))
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(config.to_json())

    async def enqueue(self, request: web.Request) -> web.Response:
        """Handle ``POST /_control/enqueue`` with ``{"reply": {...}}`` or ``{"fault": {...}}``."""
        data = await request.json()
        try:
            if "fault" in data:
                self.state.enqueue(Fault(**data["fault"]))
            else:
                reply = dict(data["reply"])
                if reply.get("logprobs") is not None:
                    reply["logprobs"] = tuple(reply["logprobs"])
                self.state.enqueue(Reply(**reply))
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"queued": self.state.queued()})

    async def reset(self, request: web.Request) -> web.Response:
        """Handle ``POST /_control/reset``."""
        self.state.reset()
        return json_response({"reset": True, "at": time.time()})
