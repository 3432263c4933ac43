"""Shared fixtures: no network outside loopback, a fake LLM server, binaries that CI must have."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The ``fake_llm`` fixture: a fresh loopback fake OpenAI/Anthropic server per test.
pytest_plugins = ["tests.fakeserver.pytest_plugin"]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(
            f"tests may not reach the network: {address!r} is not loopback"
        )
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(
            f"tests may not reach the network: {address!r} is not loopback"
        )
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _block_network() -> Iterator[None]:
    """Refuse every connection outside 127.0.0.0/8 and ::1 for the whole session."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No real keys or user config leak into tests; Prefect and ragas stay quiet."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
                "EVALMON_CONFIG", "EVALMON_STORE", "EVALMON_MODEL"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def free_port() -> int:
    """A loopback TCP port free right now (another process may still take it first)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_pushgateway(address: str, log: Path) -> subprocess.Popen[bytes] | None:
    """Start the Debian Pushgateway on ``address``, in memory; None if it exited (port taken).

    Debian's default persists to a shared file under /var/lib: this one keeps nothing.
    """
    binary = require_binary("prometheus-pushgateway")
    with log.open("ab") as out:
        args = [binary, f"--web.listen-address={address}", "--persistence.file="]
        proc = subprocess.Popen(args, stdout=out, stderr=out)
    deadline = time.monotonic() + 10
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{address}/-/ready", timeout=10):
                pass
        except OSError:
            assert time.monotonic() < deadline, "the Pushgateway did not start in 10 s"
            time.sleep(0.05)
            continue
        if proc.poll() is None:  # ready, and it is ours
            return proc
    return None


def require_binary(name: str) -> str:
    """Return the path of ``name``; skip the test locally when missing, fail in CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make test installs it when run as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
