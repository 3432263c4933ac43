"""OpenAI and Anthropic wire formats: reading requests and building response bodies."""

from __future__ import annotations

import json
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

from tests.fakeserver._faults import Api, Reply
from tests.fakeserver._synth import schema_instance

OPENAI_MODEL_SUFFIX = "-2024-08-06"
ANTHROPIC_MODEL_SUFFIX = "-20250929"
SYSTEM_FINGERPRINT = "fp_fakeserver"

_TOKEN_RE = re.compile(r"\s*\S+")
_DATED_RE = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")

_TO_OPENAI_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TO_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

_OPENAI_ERROR = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_ANTHROPIC_ERROR = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES = {
    429: "Rate limit reached (fake server). Please retry after the delay in retry-after.",
    500: "The server had an error while processing your request (fake server).",
    529: "Overloaded (fake server).",
}


def tokens_of(text: str) -> list[str]:
    """Split text into whitespace tokens that keep their leading whitespace."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """Return the deterministic token count of ``text``: whitespace words, at least 1."""
    return max(1, len(text.split()))


def _content_text(content: Any) -> str:
    """Return the text of a message content: a string or a list of typed parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif "content" in part:  # Anthropic tool_result blocks
                    parts.append(_content_text(part["content"]))
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """What the fake server needs from a generation request."""

    api: Api
    model: str
    prompt_text: str
    last_user: str
    max_tokens: int | None
    stop: tuple[str, ...]
    json_schema: dict[str, Any] | None
    json_wanted: bool
    logprobs: bool
    top_logprobs: int
    n: int


def parse_request(body: dict[str, Any], api: Api) -> ParsedRequest:
    """Extract model, prompt text and output options from a request body."""
    messages = body.get("messages") or []
    texts: list[str] = []
    if api == "anthropic" and body.get("system") is not None:
        texts.append(_content_text(body["system"]))
    last_user = ""
    for msg in messages if isinstance(messages, list) else []:
        if not isinstance(msg, dict):
            continue
        text = _content_text(msg.get("content"))
        texts.append(text)
        if msg.get("role") == "user":
            last_user = text
    schema: dict[str, Any] | None = None
    wanted = False
    if api == "openai":
        raw_stop = body.get("stop")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        fmt = body.get("response_format")
    else:
        raw_stop = body.get("stop_sequences")
        max_tokens = body.get("max_tokens")
        fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        wanted = True
        inner = fmt.get("json_schema")
        holder: dict[str, Any] = inner if isinstance(inner, dict) else fmt
        if isinstance(holder.get("schema"), dict):
            schema = holder["schema"]
    stop = (raw_stop,) if isinstance(raw_stop, str) else tuple(raw_stop or ())
    top = body.get("top_logprobs")
    return ParsedRequest(
        api=api,
        model=str(body.get("model") or "unknown-model"),
        prompt_text="\n".join(texts),
        last_user=last_user,
        max_tokens=int(max_tokens) if isinstance(max_tokens, int) else None,
        stop=tuple(s for s in stop if isinstance(s, str) and s),
        json_schema=schema,
        json_wanted=wanted,
        logprobs=bool(body.get("logprobs")),
        top_logprobs=int(top) if isinstance(top, int) else 0,
        n=int(body["n"]) if isinstance(body.get("n"), int) and body["n"] > 0 else 1,
    )


def default_reply_text(req: ParsedRequest) -> str:
    """Return the deterministic default reply: ``echo: <first 40 chars>`` or a JSON object."""
    snippet = " ".join(req.last_user.split())[:40]
    if req.json_schema is not None:
        return json.dumps(schema_instance(req.json_schema, f"echo: {snippet}"))
    if req.json_wanted:
        return json.dumps({"echo": snippet})
    return f"echo: {snippet}"


@dataclass(frozen=True, slots=True)
class Completion:
    """A reply after max_tokens and stop sequences were applied."""

    text: str
    finish: str  # OpenAI name: stop / length / ...
    stop_sequence: str | None
    model: str
    input_tokens: int
    output_tokens: int
    logprobs: tuple[float, ...] | None


def finish_reply(req: ParsedRequest, reply: Reply) -> Completion:
    """Apply the request's stop sequences and max_tokens to ``reply``, count tokens."""
    text = reply.text
    finish = _TO_OPENAI_FINISH.get(reply.finish_reason or "stop", reply.finish_reason or "stop")
    stop_hit: str | None = None
    if reply.finish_reason is None:
        cut = min(((text.find(s), s) for s in req.stop if s in text), default=None)
        if cut is not None:
            text, stop_hit = text[: cut[0]], cut[1]
        toks = tokens_of(text)
        if req.max_tokens is not None and len(toks) > req.max_tokens:
            text, finish, stop_hit = "".join(toks[: req.max_tokens]), "length", None
    if reply.model is not None:
        model = reply.model
    elif _DATED_RE.search(req.model):
        model = req.model
    else:
        suffix = OPENAI_MODEL_SUFFIX if req.api == "openai" else ANTHROPIC_MODEL_SUFFIX
        model = req.model + suffix
    return Completion(
        text=text,
        finish=finish,
        stop_sequence=stop_hit,
        model=model,
        input_tokens=(
            count_tokens(req.prompt_text) if reply.input_tokens is None else reply.input_tokens
        ),
        output_tokens=count_tokens(text) if reply.output_tokens is None else reply.output_tokens,
        logprobs=reply.logprobs,
    )


def _logprob_content(comp: Completion, top_n: int) -> list[dict[str, Any]]:
    """Build OpenAI ``choices[0].logprobs.content`` entries, one per whitespace token."""
    out: list[dict[str, Any]] = []
    for i, tok in enumerate(tokens_of(comp.text)):
        if comp.logprobs is not None and i < len(comp.logprobs):
            lp = float(comp.logprobs[i])
        else:
            lp = -((zlib.crc32(tok.encode()) % 500) / 1000.0)
        top = [{"token": tok, "logprob": lp, "bytes": list(tok.encode())}]
        for k in range(1, top_n):
            alt = f"{tok}~{k}"
            top.append({"token": alt, "logprob": lp - 1.0 - k, "bytes": list(alt.encode())})
        out.append(
            {"token": tok, "logprob": lp, "bytes": list(tok.encode()), "top_logprobs": top[:top_n]}
        )
    return out


def openai_completion(req: ParsedRequest, comp: Completion, request_id: str) -> dict[str, Any]:
    """Build an OpenAI ``chat.completion`` response body."""
    logprobs = (
        {"content": _logprob_content(comp, req.top_logprobs), "refusal": None}
        if req.logprobs
        else None
    )
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": comp.text, "refusal": None, "annotations": []},
        "logprobs": logprobs,
        "finish_reason": comp.finish,
    }
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": comp.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "service_tier": "default",
        "choices": [dict(choice, index=i) for i in range(req.n)],
        "usage": {
            "prompt_tokens": comp.input_tokens,
            "completion_tokens": comp.output_tokens * req.n,
            "total_tokens": comp.input_tokens + comp.output_tokens * req.n,
        },
    }


def anthropic_message(comp: Completion, request_id: str) -> dict[str, Any]:
    """Build an Anthropic ``message`` response body."""
    stop_reason = _TO_ANTHROPIC_STOP.get(comp.finish, comp.finish)
    if comp.stop_sequence is not None:
        stop_reason = "stop_sequence"
    return {
        "id": f"msg_{request_id}",
        "type": "message",
        "role": "assistant",
        "model": comp.model,
        "content": [{"type": "text", "text": comp.text}],
        "stop_reason": stop_reason,
        "stop_sequence": comp.stop_sequence,
        "usage": {
            "input_tokens": comp.input_tokens,
            "output_tokens": comp.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def error_body(api: Api, status: int, message: str | None = None) -> dict[str, Any]:
    """Build an error body in the API's own shape for an HTTP error ``status``."""
    msg = message or _DEFAULT_MESSAGES.get(status, f"HTTP {status} (fake server)")
    if api == "anthropic":
        etype = _ANTHROPIC_ERROR.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": etype, "message": msg}}
    otype, code = _OPENAI_ERROR.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": msg, "type": otype, "param": None, "code": code}}


def models_body(models: list[str], anthropic_style: bool) -> dict[str, Any]:
    """Build a ``GET /v1/models`` list body (OpenAI or Anthropic shape)."""
    if anthropic_style:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fakeserver"}
            for m in models
        ],
    }
