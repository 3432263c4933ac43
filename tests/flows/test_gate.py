"""The prompt gate end to end, in a temporary git repository with two versions of a prompt.

The fake server answers capital-city questions: correctly, unless the prompt carries the
marker ``TERSE`` (the "breaking change"), under which it gets half of them wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import duckdb
import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from evals.gate import GateResult, SuiteStatus, Verdict, junit_xml, markdown, to_json
from evals.providers import ConfigError
from flows.config import EvalmonConfig
from flows.gate_run import GateRequest, run_gate
from tests.fakeserver import FakeLLMServer, Fault
from tests.fakeserver.responders import prompt_text

N_CASES = 40
EVALMON = Path(sys.executable).parent / "evalmon"
CAPITALS = {f"country {i}": f"City{i}" for i in range(N_CASES)}

PROMPT = """\
name: capitals
version: {version}
model: {model}
params: {{temperature: 0, max_tokens: 20}}
variables: [question]
suites: [capitals]
messages:
  - role: system
    content: {system}
  - role: user
    content: |-
      {{% include "partials/question.j2" %}}
"""
PARTIAL = "Question: {{ question }}\nAnswer:"
SUITE = """\
name: capitals
prompt: capitals
dataset: ../datasets/capitals.jsonl
scorers:
  - name: exact_match
    threshold: 0.5
    tolerance: 0.02
  - name: includes
    gate: false
"""


def answer(body: dict[str, Any], api: str) -> str:
    text = prompt_text(body, api)
    question = re.search(r"Question: (.*)", text)
    assert question is not None
    country = question.group(1).removeprefix("What is the capital of ").rstrip("?")
    index = int(country.split()[-1])
    if "TERSE" in text and index % 2 == 0:
        return "I am not sure."
    return CAPITALS[country]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def write_prompt(repo: Path, model: str, version: str, system: str) -> None:
    (repo / "prompts" / "capitals.yaml").write_text(
        PROMPT.format(version=version, model=model, system=system), encoding="utf-8"
    )


@pytest.fixture
def repo(tmp_path: Path, fake_llm: FakeLLMServer) -> Path:
    """A repository whose ``main`` holds capitals@1.0.0 with its suite and dataset."""
    fake_llm.set_responder(answer)
    root = tmp_path / "app"
    for sub in ("prompts/partials", "evals/suites", "evals/datasets"):
        (root / sub).mkdir(parents=True)
    (root / "prompts/partials/question.j2").write_text(PARTIAL, encoding="utf-8")
    (root / "evals/suites/capitals.yaml").write_text(SUITE, encoding="utf-8")
    cases = [
        {
            "id": f"c{i:02d}",
            "inputs": {"question": f"What is the capital of {c}?"},
            "expected": [CAPITALS[c]],
        }
        for i, c in enumerate(CAPITALS)
    ]
    (root / "evals/datasets/capitals.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8"
    )
    write_prompt(root, model_of(fake_llm), "1.0.0", "Answer with the city name only.")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    return root


def model_of(server: FakeLLMServer) -> str:
    return f"openai-compatible:fake@{server.openai_base_url}"


def gate(repo: Path, tmp_path: Path, **kwargs: Any) -> GateResult:
    config = EvalmonConfig(store=tmp_path / "gate.duckdb")
    return asyncio.run(run_gate(GateRequest(base="main", path=repo, **kwargs), config))


def generations(server: FakeLLMServer) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.history)


def test_breaking_change_fails_with_the_regressed_cases(
    repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    write_prompt(repo, model_of(fake_llm), "1.1.0", "TERSE. Answer with the city name only.")
    result = gate(repo, tmp_path)
    assert result.exit_code == 1 and result.status == "fail"
    [suite] = result.suites
    assert suite.status is SuiteStatus.FAIL and suite.base is not None
    em = next(s for s in suite.scorers if s.scorer == "exact_match")
    assert em.decision.verdict is Verdict.FAIL
    assert em.base_mean == 1.0 and em.candidate_mean == 0.5
    assert em.comparison is not None and em.comparison.ci_high < -0.02
    assert {w.case_id for w in em.worst} <= {f"c{i:02d}" for i in range(0, N_CASES, 2)}
    assert len(em.worst) == 5
    text = markdown(result)
    assert "FAIL" in text and "capitals@1.1.0" in text and "capitals@1.0.0" in text
    assert "Worst regressed cases" in text and "`c00`" in text and "I am not sure." in text
    assert "messages changed" in text
    # Base and candidate: 40 calls each.
    assert generations(fake_llm) == 2 * N_CASES
    junit = junit_xml(result)
    assert '<failure message="' in junit and 'failures="1"' in junit
    assert to_json(result)["suites"][0]["scorers"][0]["verdict"] == "fail"
    with duckdb.connect(str(tmp_path / "gate.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT scorer, verdict, n FROM gate_decisions ORDER BY scorer"
        ).fetchall()
    assert rows == [("exact_match", "fail", 40), ("includes", "fail", 40)]


def test_harmless_rewording_passes_and_a_rerun_makes_no_calls(
    repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    write_prompt(repo, model_of(fake_llm), "1.0.1", "Reply with the name of the city only.")
    result = gate(repo, tmp_path)
    assert result.exit_code == 0 and result.status == "pass"
    [suite] = result.suites
    assert all(s.decision.verdict is Verdict.PASS for s in suite.scorers)
    assert result.model_calls == 2 * N_CASES
    again = gate(repo, tmp_path)
    assert again.exit_code == 0 and again.model_calls == 0
    assert again.suites[0].base is not None and again.suites[0].base.reused
    assert generations(fake_llm) == 2 * N_CASES


def test_unbumped_version_is_an_error_naming_file_line_and_bump(
    repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    write_prompt(repo, model_of(fake_llm), "1.0.0", "TERSE. Answer with the city name only.")
    with pytest.raises(ConfigError) as info:
        gate(repo, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{repo / 'prompts/capitals.yaml'}:2: ")
    assert "version is still 1.0.0" in message and "1.0.1" in message and "1.1.0" in message
    assert generations(fake_llm) == 0


def test_a_partial_change_gates_the_prompts_that_include_it(
    repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    (repo / "prompts/partials/question.j2").write_text("Q: {{ question }}\nTERSE answer:")
    with pytest.raises(ConfigError, match=r"version is still 1\.0\.0"):
        gate(repo, tmp_path)
    write_prompt(repo, model_of(fake_llm), "1.0.1", "Answer with the city name only.")
    # The partial no longer has "Question: ", so the responder cannot parse: it is rewritten.
    (repo / "prompts/partials/question.j2").write_text("Question: {{ question }}\nTERSE:")
    result = gate(repo, tmp_path)
    assert result.exit_code == 1
    assert "partial partials/question.j2 changed" in result.suites[0].reasons


def test_a_changed_dataset_reruns_the_suite_without_a_version_bump(
    repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    path = repo / "evals/datasets/capitals.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:30]))
    result = gate(repo, tmp_path)
    assert result.exit_code == 0
    assert result.suites[0].reasons == ("suite capitals or its dataset changed",)
    # The prompt itself is unchanged, so base and candidate are one run: asked once.
    assert result.model_calls == 30
    base = result.suites[0].base
    assert base is not None and base.run_id == result.suites[0].candidate.run_id


def test_nothing_changed_runs_nothing(repo: Path, tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    result = gate(repo, tmp_path)
    assert result.exit_code == 0 and result.suites == () and result.unchanged == ("capitals",)
    assert generations(fake_llm) == 0


def test_too_many_errors_is_an_error_not_a_pass(
    repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    write_prompt(repo, model_of(fake_llm), "1.0.1", "Reply with the name of the city only.")

    def refuse_reworded(body: dict[str, Any], api: str) -> Fault | str:
        if "Reply with" in prompt_text(body, api) and "country 1" in prompt_text(body, api):
            return Fault("400", message="content policy")  # c01 and c10-c19: 11 of 40
        return answer(body, api)

    fake_llm.set_responder(refuse_reworded)
    result = gate(repo, tmp_path)
    assert result.exit_code == 2
    assert result.suites[0].status is SuiteStatus.ERROR
    assert "errors are not scores" in result.suites[0].problems[0]


def test_unknown_base_ref_says_to_fetch(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown base ref 'origin/nope'; fetch it first"):
        asyncio.run(
            run_gate(
                GateRequest(base="origin/nope", path=repo),
                EvalmonConfig(store=tmp_path / "x.duckdb"),
            )
        )


@pytest.fixture(scope="module")
def prefect_api_url() -> Iterator[str]:
    """A temporary Prefect server; its API URL lets a child ``evalmon`` report to it."""
    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.mark.integration
def test_the_evalmon_gate_command_runs_the_flow_and_writes_every_report(
    prefect_api_url: str, repo: Path, tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    summary = tmp_path / "step_summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "PREFECT_API_URL": prefect_api_url}
    write_prompt(repo, model_of(fake_llm), "1.1.0", "TERSE. Answer with the city name only.")
    out = {kind: tmp_path / f"gate.{kind}" for kind in ("md", "xml", "json")}
    args = [
        str(EVALMON), "gate", "--base", "main", "--store", str(tmp_path / "g.duckdb"),
        "--markdown", str(out["md"]), "--junit", str(out["xml"]), "--json", str(out["json"]),
    ]  # fmt: skip

    def evalmon() -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)

    done = evalmon()
    assert done.returncode == 1, done.stderr
    assert "evalmon prompt gate: FAIL" in done.stdout
    assert "Flow run" in done.stderr  # it ran as a Prefect flow
    assert out["md"].read_text() == summary.read_text()
    assert "Worst regressed cases" in out["md"].read_text()
    suite = ElementTree.parse(out["xml"]).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert json.loads(out["json"].read_text())["exit_code"] == 1
    # Bad input: an unbumped version is exit 2 with the file and line, and is not retried.
    write_prompt(repo, model_of(fake_llm), "1.0.0", "TERSE. Answer with the city name only.")
    done = evalmon()
    assert done.returncode == 2
    assert "capitals.yaml:2:" in done.stderr and "bump it to 1.0.1" in done.stderr
    assert "Retry 1/2" not in done.stderr
