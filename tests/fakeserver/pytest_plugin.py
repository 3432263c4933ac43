"""Pytest fixtures for the fake LLM server.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["tests.fakeserver.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeserver._server import FakeLLMServer


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """Yield a fresh in-process fake LLM server for one test (no faults, empty queue)."""
    with FakeLLMServer(hang_s=10.0) as server:
        yield server
