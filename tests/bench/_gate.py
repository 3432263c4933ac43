"""The prompt gate's benchmark: 500 cases x 2 versions at 100 ms, concurrency 32, via Prefect.

Measured in one interpreter: start-up (a trivial flow starts Prefect's temporary server
and imports the OpenAI SDK), then the ``prompt_gate`` flow over a fresh store, then the same
gate again with nothing changed (it must make no model call).

Prefect start-up is reported separately, in two parts: the temporary server (the trivial
flow), and the creation of the gate's flow and task runs, from calling ``prompt_gate`` until
the gate's own code starts (``GateResult.started_at``). The gate's time runs from there until
the flow returns, Prefect's completion of the runs included. The whole call is reported too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from evals.config import RunnerConfig
from flows.config import EvalmonConfig
from tests.fakeserver import FakeLLMServerProcess

PROMPT = """\
name: bench
version: {version}
model: {model}
params: {{temperature: 0, max_tokens: 16}}
variables: [question]
messages:
  - role: user
    content: "{prefix} {{{{ question }}}}"
"""
SUITE = """\
name: bench
prompt: bench
dataset: ../datasets/cases.jsonl
scorers:
  - name: includes
    threshold: 0.0
"""


@dataclass(frozen=True)
class GateBench:
    """The gate benchmark's figures."""

    cases: int
    concurrency: int
    latency_s: float
    prefect_startup_s: float
    flow_start_s: float
    gate_s: float
    flow_s: float
    ideal_s: float
    model_calls: int
    rerun_s: float
    rerun_model_calls: int
    rerun_server_requests: int

    @property
    def ratio(self) -> float:
        """Gate wall time (Prefect start-up excluded) over the ideal."""
        return self.gate_s / self.ideal_s

    @property
    def flow_ratio(self) -> float:
        """The whole ``prompt_gate`` call, flow-run start included, over the ideal."""
        return self.flow_s / self.ideal_s


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@example.com", *args],
        check=True,
        capture_output=True,
    )


def _make_repo(root: Path, model: str, cases: int) -> None:
    for sub in ("prompts", "evals/suites", "evals/datasets"):
        (root / sub).mkdir(parents=True)
    (root / "evals/suites/bench.yaml").write_text(SUITE)
    lines = [
        json.dumps(
            {
                "id": f"c{i:04d}",
                "inputs": {"question": f"question {i}"},
                "expected": f"question {i}",
            }
        )
        for i in range(cases)
    ]
    (root / "evals/datasets/cases.jsonl").write_text("\n".join(lines) + "\n")
    (root / "prompts/bench.yaml").write_text(
        PROMPT.format(version="1.0.0", model=model, prefix="Answer:")
    )
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "base")
    (root / "prompts/bench.yaml").write_text(
        PROMPT.format(version="1.1.0", model=model, prefix="Reply:")
    )


def gate_bench(cases: int = 500, latency_s: float = 0.1, concurrency: int = 32) -> GateBench:
    """Run the gate benchmark and return its figures."""
    from prefect import flow

    from flows.gate_flow import prompt_gate

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        import openai.resources  # the SDK (~1.5 s, resources load lazily): start-up too

        return len(openai.__version__)

    with tempfile.TemporaryDirectory() as tmp, FakeLLMServerProcess(latency_s=latency_s) as srv:
        root = Path(tmp) / "repo"
        _make_repo(root, f"openai-compatible:bench@{srv.openai_base_url}", cases)
        config = EvalmonConfig(
            store=Path(tmp) / "gate.duckdb", runner=RunnerConfig(concurrency=concurrency)
        )
        started = time.perf_counter()
        warm_up()
        startup = time.perf_counter() - started
        called = time.time()
        result = asyncio.run(prompt_gate(base="main", path=str(root), config=config))
        returned = time.time()
        assert result.started_at is not None
        began = result.started_at.timestamp()
        before = srv.stats()["requests_total"]
        started = time.perf_counter()
        again = asyncio.run(prompt_gate(base="main", path=str(root), config=config))
        rerun_s = time.perf_counter() - started
        requests = srv.stats()["requests_total"] - before
    return GateBench(
        cases=cases,
        concurrency=concurrency,
        latency_s=latency_s,
        prefect_startup_s=startup,
        flow_start_s=began - called,
        gate_s=returned - began,
        flow_s=returned - called,
        ideal_s=2 * cases * latency_s / concurrency,
        model_calls=result.model_calls,
        rerun_s=rerun_s,
        rerun_model_calls=again.model_calls,
        rerun_server_requests=requests,
    )
