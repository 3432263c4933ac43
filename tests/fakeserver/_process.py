"""``FakeLLMServerProcess``: the fake server in a child process, for benchmarks."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.fakeserver._faults import Api, FaultConfig, validate_fault_kind

REPO_ROOT = Path(__file__).resolve().parents[2]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _cli_args(config: FaultConfig) -> list[str]:
    args = [
        "--seed",
        str(config.seed),
        "--latency-ms",
        repr(config.latency_s * 1000),
        "--latency-jitter-ms",
        repr(config.latency_jitter_s * 1000),
        "--retry-after-s",
        repr(config.retry_after_s),
        "--hang-s",
        repr(config.hang_s),
    ]
    for kind in ("429", "500", "529", "timeout", "drop", "malformed"):
        args += [f"--p-{kind}", repr(getattr(config, f"p_{kind}"))]
    if config.rate_limit_rps is not None:
        args += ["--rate-limit-rps", repr(config.rate_limit_rps)]
    if config.rate_limit_burst is not None:
        args += ["--rate-limit-burst", repr(config.rate_limit_burst)]
    return args


class FakeLLMServerProcess:
    """The fake server as a separate ``python -m tests.fakeserver`` process.

    The server then has a core of its own instead of sharing the client's event loop,
    which matters for throughput and latency benchmarks. It is scripted and inspected
    over HTTP (``/_control/...``); a responder is given as an import path.

    Attributes:
        url: Root URL, e.g. ``http://127.0.0.1:54321`` (set while running).
        pid: The child's process id (set while running).
    """

    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        responder: str | None = None,
        max_history: int = 10_000,
        startup_timeout_s: float = 20.0,
        **fault_fields: Any,
    ) -> None:
        """Configure the process (it starts on ``__enter__`` or ``start``).

        Args:
            faults: Fault, latency and rate-limit settings.
            responder: Import path ``package.module:function`` of a responder callable.
            max_history: Requests kept for ``history()``.
            startup_timeout_s: How long to wait for the URL line.
            **fault_fields: Shorthand for ``FaultConfig`` fields, e.g. ``latency_s=0.1``.
        """
        self._config = (faults or FaultConfig()).updated(**fault_fields)
        self._responder = responder
        self._max_history = max_history
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.pid = 0

    def start(self) -> Self:
        """Start the child and wait for its URL line."""
        if self._proc is not None:
            raise RuntimeError("FakeLLMServerProcess is already running")
        cmd = [
            sys.executable,
            "-m",
            "tests.fakeserver",
            "--port",
            "0",
            "--max-history",
            str(self._max_history),
            *_cli_args(self._config),
        ]
        if self._responder:
            cmd += ["--responder", self._responder]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self._proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], self._startup_timeout_s)
        line = self._proc.stdout.readline() if ready else b""
        if not line:
            code = self._proc.poll()
            self.stop()
            raise RuntimeError(f"fake LLM server process did not start (exit code {code})")
        info = json.loads(line)
        self.url, self.pid = str(info["url"]), int(info["pid"])
        return self

    def stop(self) -> None:
        """Send SIGTERM, wait up to 5 s, then kill."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        """Start the process."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the process."""
        self.stop()

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.AsyncOpenAI``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.AsyncAnthropic``."""
        return self.url

    def _call(self, method: str, path: str, data: Any = None) -> Any:
        if not self.url:
            raise RuntimeError("FakeLLMServerProcess is not running")
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=body,
            method=method,
            headers={"content-type": "application/json"},
        )
        with _NO_PROXY.open(req, timeout=10.0) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        """Return the server's counters (``GET /_control/stats``; ``by_status`` keys are ints)."""
        data: dict[str, Any] = self._call("GET", "/_control/stats")
        data["by_status"] = {int(k): v for k, v in data["by_status"].items()}
        return data

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest ``limit`` recorded requests as dicts, oldest first."""
        result: list[dict[str, Any]] = self._call("GET", f"/_control/history?limit={limit}")
        return result

    def set_faults(self, **changes: Any) -> FaultConfig:
        """Change the given ``FaultConfig`` fields in the server (``POST /_control/faults``)."""
        return FaultConfig(**self._call("POST", "/_control/faults", changes))

    def enqueue(
        self,
        text: str,
        *,
        finish_reason: str | None = None,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        logprobs: list[float] | None = None,
        delay_s: float = 0.0,
        api: Api | None = None,
    ) -> None:
        """Queue one scripted reply in the server (see ``FakeLLMServer.enqueue``)."""
        reply = {
            "text": text,
            "finish_reason": finish_reason,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "logprobs": logprobs,
            "delay_s": delay_s,
            "api": api,
        }
        self._call("POST", "/_control/enqueue", {"reply": reply})

    def enqueue_fault(
        self,
        kind: str,
        *,
        retry_after_s: float | None = None,
        hang_s: float | None = None,
        message: str | None = None,
        api: Api | None = None,
    ) -> None:
        """Queue one fault in the server (see ``FakeLLMServer.enqueue_fault``)."""
        fault = {
            "kind": validate_fault_kind(kind),
            "retry_after_s": retry_after_s,
            "hang_s": hang_s,
            "message": message,
            "api": api,
        }
        self._call("POST", "/_control/enqueue", {"fault": fault})

    def reset(self) -> None:
        """Clear queue, history and counters; restore the start-up fault settings."""
        self._call("POST", "/_control/reset", {})
