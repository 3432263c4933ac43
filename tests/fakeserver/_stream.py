"""Server-sent-event bodies for ``stream=true`` requests, in each API's event format."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.fakeserver import _wire


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def openai_events(
    req: _wire.ParsedRequest, comp: _wire.Completion, request_id: str, include_usage: bool
) -> list[bytes]:
    """Return the SSE chunks of a streamed ``chat.completion.chunk`` response."""
    base = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": comp.model,
        "system_fingerprint": _wire.SYSTEM_FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse(dict(base, choices=[choice]))

    out = [chunk({"role": "assistant", "content": ""}, None)]
    out += [chunk({"content": tok}, None) for tok in _wire.tokens_of(comp.text)]
    out.append(chunk({}, comp.finish))
    if include_usage:
        usage = {
            "prompt_tokens": comp.input_tokens,
            "completion_tokens": comp.output_tokens,
            "total_tokens": comp.input_tokens + comp.output_tokens,
        }
        out.append(_sse(dict(base, choices=[], usage=usage)))
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_events(comp: _wire.Completion, request_id: str) -> list[bytes]:
    """Return the SSE events of a streamed Anthropic message."""
    full = _wire.anthropic_message(comp, request_id)
    start = dict(
        full,
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=dict(full["usage"], output_tokens=1),
    )
    out = [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
    ]
    out += [
        _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": tok},
            },
            "content_block_delta",
        )
        for tok in _wire.tokens_of(comp.text)
    ]
    out.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    out.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": full["stop_reason"],
                    "stop_sequence": full["stop_sequence"],
                },
                "usage": {"output_tokens": comp.output_tokens},
            },
            "message_delta",
        )
    )
    out.append(_sse({"type": "message_stop"}, "message_stop"))
    return out
