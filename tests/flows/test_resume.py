"""Kill ``evalmon run`` with SIGKILL half way, run it again, and nothing is lost or asked twice.

SPEC (Quality bar): a fault during a run loses nothing; finished cases are kept, and an
interrupted run resumes without calling the model again for them. The fake server runs in
a child process with some latency, so the kill lands while calls are in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from tests.fakeserver import FakeLLMServerProcess

REPO = Path(__file__).resolve().parents[2]
EVALMON = REPO / ".venv" / "bin" / "evalmon"

N_CASES = 60
CONCURRENCY = 4
LATENCY_S = 0.1
RUN_ID = "R"
GENERATE = "/v1/chat/completions"

PROMPT = """\
name: resume_probe
version: 1.0.0
params:
  temperature: 0
  max_tokens: 16
variables: [question]
messages:
  - role: user
    content: "Question: {{ question }}"
"""


def _write_inputs(tmp_path: Path, n: int = N_CASES) -> tuple[Path, Path]:
    prompt = tmp_path / "probe.yaml"
    prompt.write_text(PROMPT, encoding="utf-8")
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(
        "".join(
            json.dumps(
                {"id": f"c{i:03d}", "inputs": {"question": f"q{i:03d}"}, "expected": [f"q{i:03d}"]}
            )
            + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    return prompt, dataset


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("EVALMON_", "PREFECT_"))
    }
    env.update(HOME=str(tmp_path), NO_PROXY="127.0.0.1,localhost", COLUMNS="200")
    return env


def _args(prompt: Path, dataset: Path, model: str, store: Path, *extra: str) -> list[str]:
    return [
        str(EVALMON), "run", str(prompt), "--dataset", str(dataset), "--model", model,
        "--run-id", RUN_ID, "--store", str(store), "--concurrency", str(CONCURRENCY),
        "--no-progress", *extra,
    ]  # fmt: skip


def _case_of(record: dict[str, Any]) -> str:
    """The case id a generation request was for (``Question: q012`` -> ``c012``)."""
    content = record["body"]["messages"][0]["content"]
    assert content.startswith("Question: q"), content
    return "c" + content.removeprefix("Question: q")


def _generations(server: FakeLLMServerProcess) -> list[dict[str, Any]]:
    return [r for r in server.history(limit=100_000) if r["path"] == GENERATE]


def _wait_quiet(server: FakeLLMServerProcess, timeout_s: float = 10.0) -> dict[str, Any]:
    """Wait until nothing is in flight and the request count has been still for a while."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        stats = server.stats()
        if stats["in_flight"] == 0 and stats["requests_total"] == last:
            return stats
        last = stats["requests_total"]
        time.sleep(0.2)
    raise AssertionError(f"the fake server did not go quiet: {server.stats()}")


def _recovered_before_resume(store: Path) -> set[str]:
    """Cases whose finished call survived the kill: journal lines plus rows already loaded."""
    journal = store.with_name(store.name + ".journal") / f"{RUN_ID}.jsonl"
    cases: set[str] = set()
    if journal.exists():
        for line in journal.read_bytes().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a torn last line is not a finished call
                continue
            if row["error_kind"] is None:
                cases.add(row["case_id"])
    if store.exists():
        with duckdb.connect(str(store), read_only=True) as conn:
            rows = conn.execute(
                "SELECT case_id FROM calls WHERE run_id = ? AND error_kind IS NULL", [RUN_ID]
            ).fetchall()
        cases |= {r[0] for r in rows}
    return cases


def test_sigkill_mid_run_then_resume_asks_only_unfinished_calls(tmp_path: Path) -> None:
    prompt, dataset = _write_inputs(tmp_path)
    store = tmp_path / "x.duckdb"
    all_cases = {f"c{i:03d}" for i in range(N_CASES)}
    with FakeLLMServerProcess(latency_s=LATENCY_S) as server:
        args = _args(prompt, dataset, f"openai-compatible:m@{server.openai_base_url}", store)
        with (tmp_path / "out1.txt").open("w") as out1:
            first = subprocess.Popen(
                args, cwd=tmp_path, env=_env(tmp_path), stdout=out1, stderr=subprocess.STDOUT
            )
            try:
                deadline = time.monotonic() + 60
                # "ok" also counts the start-up GET /v1/models; wait for about half the calls.
                while server.stats()["by_outcome"].get("ok", 0) < 1 + N_CASES // 2:
                    assert first.poll() is None, (tmp_path / "out1.txt").read_text()
                    assert time.monotonic() < deadline, "the first run made no progress"
                    time.sleep(0.01)
                os.kill(first.pid, signal.SIGKILL)
                killed_at = datetime.now(UTC)
            finally:
                first.kill()
                first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        n_before = _wait_quiet(server)["requests_total"]
        recovered = _recovered_before_resume(store)
        asked_first = Counter(_case_of(r) for r in _generations(server))
        assert 0 < len(recovered) < N_CASES, recovered

        second = subprocess.run(
            args, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 0, second.stdout + second.stderr
        generations = _generations(server)

    # Requests: the first run asked each case at most once; the second asked exactly the
    # cases without a finished call, each once; a finished call was never asked again.
    asked_second = Counter(_case_of(r) for r in generations if r["seq"] > n_before)
    assert Counter(_case_of(r) for r in generations if r["seq"] <= n_before) == asked_first
    assert set(asked_first.values()) == {1}
    assert recovered <= set(asked_first)
    assert asked_second == Counter(all_cases - recovered)
    # Calls in flight at the kill (sent, perhaps even answered, but not journaled) are the
    # only ones asked twice; there were at most CONCURRENCY of them.
    lost_in_flight = set(asked_first) - recovered
    assert len(lost_in_flight) <= CONCURRENCY
    total = Counter(_case_of(r) for r in generations)
    assert sum(total.values()) == N_CASES + len(lost_in_flight)
    assert {c for c, n in total.items() if n == 2} == lost_in_flight
    assert all(total[c] == 1 for c in recovered)

    # The summary tells how many calls were resumed.
    caption = " ".join(second.stdout.split())
    called, resumed = N_CASES - len(recovered), len(recovered)
    expected = f"{N_CASES} calls: {called} called, 0 cached, {resumed} resumed, 0 errors"
    assert expected in caption, caption
    assert "finished" in caption

    # The store: one call row and one score per case, the resumed rows untouched.
    with duckdb.connect(str(store), read_only=True) as conn:
        calls = conn.execute(
            "SELECT case_id, repeat, error_kind, text, completed_at FROM calls WHERE run_id = ?",
            [RUN_ID],
        ).fetchall()
        run = conn.execute(
            "SELECT status, n_calls, n_errors FROM runs WHERE run_id = ?", [RUN_ID]
        ).fetchone()
        n_scores = conn.execute(
            "SELECT count(*), count(score) FROM scores WHERE run_id = ?", [RUN_ID]
        ).fetchone()
    assert len(calls) == N_CASES
    assert {c[0] for c in calls} == all_cases
    assert {(c[1], c[2]) for c in calls} == {(0, None)}
    assert all(c[3] == f"echo: Question: q{c[0][1:]}" for c in calls)
    for case_id, _, _, _, completed_at in calls:
        if case_id in recovered:
            assert completed_at < killed_at, f"{case_id} was called again after the kill"
        else:
            assert completed_at > killed_at
    assert run == ("finished", N_CASES, 0)
    assert n_scores == (N_CASES, N_CASES)
    journals = list(store.with_name(store.name + ".journal").glob("*.jsonl"))
    assert all(p.stat().st_size == 0 for p in journals), journals


def test_resume_with_another_model_is_refused(tmp_path: Path) -> None:
    prompt, dataset = _write_inputs(tmp_path, n=3)
    store = tmp_path / "x.duckdb"
    with FakeLLMServerProcess() as server:
        model = f"openai-compatible:m@{server.openai_base_url}"
        first = subprocess.run(
            _args(prompt, dataset, model, store), cwd=tmp_path, env=_env(tmp_path),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert first.returncode == 0, first.stdout + first.stderr
        n_generations = len(_generations(server))
        assert n_generations == 3

        other = f"openai-compatible:other@{server.openai_base_url}"
        second = subprocess.run(
            _args(prompt, dataset, other, store), cwd=tmp_path, env=_env(tmp_path),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert len(_generations(server)) == n_generations, "the refused run called the model"

    assert second.returncode == 2, second.stdout + second.stderr
    message = " ".join(second.stderr.split())
    assert "error:" in message
    assert f"run {RUN_ID!r}" in message
    assert model in message, "the message should name the model the run was started with"
    assert "--run-id" in message
    assert "Traceback" not in second.stderr
    with duckdb.connect(str(store), read_only=True) as conn:
        run = conn.execute(
            "SELECT status, model_ref, n_calls FROM runs WHERE run_id = ?", [RUN_ID]
        ).fetchone()
        n_calls = conn.execute("SELECT count(*) FROM calls").fetchone()
    assert run == ("finished", model, 3)
    assert n_calls == (3,)
