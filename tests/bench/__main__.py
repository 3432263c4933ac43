"""``python -m tests.bench``: run the runner benchmarks and print their ratios.

Each scenario runs in a fresh interpreter (so peak memory is the scenario's own and the
figures don't depend on the order), against the fake server in a separate process.
Targets (issue #2): latency-bound within 1.15x of ideal; rate-limited within 1.2x of ideal
with under 10% of requests answered 429; a cached re-run makes 0 provider calls; a
100,000-call run stays under 600 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from typing import Any

SCENARIOS = (
    "latency", "rate", "cache", "memory", "position-build", "position-overhead", "gate",
)  # fmt: skip


def _child(name: str) -> dict[str, Any]:
    from tests.bench import _scenarios as sc

    if name == "latency":
        results = [sc.latency_bound()]
    elif name == "rate":
        results = [sc.rate_limited()]
    elif name == "cache":
        results = list(sc.cache_rerun())
    elif name == "position-build":
        return {"position_build": sc.position_build()}
    elif name == "position-overhead":
        return {"position_overhead_ms": sc.position_overhead()}
    elif name == "gate":
        from tests.bench._gate import gate_bench

        figures = gate_bench()
        return {
            "gate": {**asdict(figures), "ratio": figures.ratio, "flow_ratio": figures.flow_ratio}
        }
    else:
        results = [sc.memory()]
    return {
        "results": [{**asdict(r), "ratio": r.ratio, "summary": asdict(r.summary)} for r in results]
    }


def _print_gate(g: dict[str, Any]) -> bool:
    print(
        f"gate           {g['cases']} cases x 2 versions, {g['latency_s'] * 1000:.0f} ms, "
        f"concurrency {g['concurrency']}: {g['gate_s']:.2f} s against an ideal of "
        f"{g['ideal_s']:.2f} s, ratio {g['ratio']:.3f}x (target <= 1.3x), {g['model_calls']} "
        f"model calls; Prefect start-up (separate): temporary server {g['prefect_startup_s']:.2f} "
        f"s, flow and task runs {g['flow_start_s']:.2f} s; the whole prompt_gate call "
        f"{g['flow_s']:.2f} s = {g['flow_ratio']:.3f}x",
        flush=True,
    )
    print(
        f"gate-rerun     nothing changed: {g['rerun_s']:.2f} s, {g['rerun_model_calls']} model "
        f"calls, {g['rerun_server_requests']} server requests (target 0)",
        flush=True,
    )
    return bool(
        g["ratio"] <= 1.3 and g["rerun_model_calls"] == 0 and g["rerun_server_requests"] == 0
    )


def _print(name: str, data: dict[str, Any]) -> bool:
    if "gate" in data:
        return _print_gate(data["gate"])
    if "position_build" in data:
        seconds = data["position_build"]
        print(f"position-build 30-document contexts for all 2,655 questions: {seconds:.2f} s "
              "(target < 30 s)", flush=True)  # fmt: skip
        return bool(seconds < 30)
    if "position_overhead_ms" in data:
        ms = data["position_overhead_ms"]
        print(f"position-overhead {ms:.2f} ms per prompt, everything but the model (target < 5 ms)",
              flush=True)  # fmt: skip
        return bool(ms < 5)
    ok = True
    for r in data["results"]:
        s = r["summary"]
        line = f"{r['name']:<14} wall {r['wall_s']:7.2f} s"
        if r["ratio"] is not None:
            line += f"  ideal {r['ideal_s']:6.2f} s  ratio {r['ratio']:.3f}x"
        line += f"  calls {s['total']} (called {s['called']}, cached {s['cached']}, errors {s['errors']})"
        line += f"  server requests {r['server_requests']}"
        if name == "rate":
            share = r["server_429"] / max(r["server_requests"], 1)
            line += f"  429s {r['server_429']} ({share:.1%})"
            ok &= r["ratio"] <= 1.2 and share < 0.10
        if name == "latency":
            ok &= r["ratio"] <= 1.15
        if r["name"] == "cache-second":
            ok &= r["server_requests"] == 0 and s["called"] == 0
        if r["peak_rss_mb"] is not None:
            line += f"  peak RSS {r['peak_rss_mb']:.0f} MB"
            ok &= r["peak_rss_mb"] < 600
        ok &= s["errors"] == 0
        print(line, flush=True)
    return ok


def main() -> int:
    """Run the chosen scenarios, each in its own interpreter; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child)))
        return 0
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    all_ok = True
    for name in args.scenarios or SCENARIOS:
        proc = subprocess.run([sys.executable, "-m", "tests.bench", "--child", name],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", flush=True)
            all_ok = False
            continue
        ok = _print(name, json.loads(proc.stdout.strip().splitlines()[-1]))
        all_ok &= ok
    print("all targets met" if all_ok else "some targets missed")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
