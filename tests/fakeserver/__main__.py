"""Run the fake LLM server standalone.

Example::

    python -m tests.fakeserver --port 0 --latency-ms 100 --rate-limit-rps 50

prints one JSON line ``{"url": ..., "openai_base_url": ..., "anthropic_base_url": ...,
"pid": ...}`` on stdout once the port is bound, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, cast

from tests.fakeserver._app import FakeLLMApp
from tests.fakeserver._faults import FaultConfig
from tests.fakeserver._server import start_site, stop_site
from tests.fakeserver._state import Responder, ServerState


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tests.fakeserver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: ephemeral)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per reply")
    p.add_argument(
        "--latency-jitter-ms",
        type=float,
        default=0.0,
        help="extra uniform random latency in [0, N) ms",
    )
    p.add_argument("--rate-limit-rps", type=float, default=None, help="token-bucket rate")
    p.add_argument(
        "--rate-limit-burst",
        type=float,
        default=None,
        help="token-bucket size (default: one second's worth)",
    )
    for kind in ("429", "500", "529", "timeout", "drop", "malformed"):
        p.add_argument(
            f"--p-{kind}",
            type=float,
            default=0.0,
            help=f"probability of a {kind} fault per request",
        )
    p.add_argument(
        "--retry-after-s", type=float, default=1.0, help="delay advertised by probabilistic 429s"
    )
    p.add_argument("--hang-s", type=float, default=30.0, help="how long a timeout fault hangs")
    p.add_argument(
        "--max-history", type=int, default=10_000, help="requests kept for /_control/history"
    )
    p.add_argument(
        "--responder",
        default=None,
        help="import path 'package.module:function' of a responder callable",
    )
    return p


def config_from_args(args: argparse.Namespace) -> FaultConfig:
    """Build the ``FaultConfig`` described by parsed command-line arguments."""
    return FaultConfig(
        seed=args.seed,
        p_429=args.p_429,
        p_500=args.p_500,
        p_529=args.p_529,
        p_timeout=args.p_timeout,
        p_drop=args.p_drop,
        p_malformed=args.p_malformed,
        retry_after_s=args.retry_after_s,
        hang_s=args.hang_s,
        latency_s=args.latency_ms / 1000.0,
        latency_jitter_s=args.latency_jitter_ms / 1000.0,
        rate_limit_rps=args.rate_limit_rps,
        rate_limit_burst=args.rate_limit_burst,
    )


def load_responder(path: str) -> Responder:
    """Import ``package.module:function`` and return the function."""
    module_name, _, attr = path.partition(":")
    if not attr:
        raise SystemExit(f"--responder must look like 'package.module:function', got {path!r}")
    obj: Any = getattr(importlib.import_module(module_name), attr)
    return cast(Responder, obj)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGTERM/SIGINT, after printing the URL line."""
    responder = load_responder(args.responder) if args.responder else None
    state = ServerState(
        faults=config_from_args(args), responder=responder, max_history=args.max_history
    )
    app = FakeLLMApp(state)
    runner, url = await start_site(app, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    line = {
        "url": url,
        "openai_base_url": f"{url}/v1",
        "anthropic_base_url": url,
        "pid": os.getpid(),
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    await stop.wait()
    await stop_site(app, runner)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
