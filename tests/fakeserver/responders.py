"""Helpers for writing responders, and small ready-made ones.

A responder is ``(request_json, api) -> Reply | Fault | str | None`` (or a coroutine
function returning one of those); ``api`` is ``"openai"`` or ``"anthropic"``. It runs in
the server's event loop, so it must be quick. For a server in another process, pass its
import path: ``FakeLLMServerProcess(responder="tests.fakeserver.responders:last_line")``.
"""

from __future__ import annotations

from typing import Any, cast

from tests.fakeserver import _wire
from tests.fakeserver._faults import Api


def last_user_text(body: dict[str, Any], api: str) -> str:
    """Return the text of the last user message of an OpenAI or Anthropic request body."""
    return _wire.parse_request(body, cast(Api, api)).last_user


def prompt_text(body: dict[str, Any], api: str) -> str:
    """Return all message text of a request (system prompt included), joined by newlines."""
    return _wire.parse_request(body, cast(Api, api)).prompt_text


def last_line(body: dict[str, Any], api: str) -> str:
    """Reply with the last non-empty line of the last user message."""
    lines = [line.strip() for line in last_user_text(body, api).splitlines() if line.strip()]
    return lines[-1] if lines else ""
