"""A small prompt gate on the real embedded model (SmolLM2): plumbing, not wisdom."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from evals.gate import markdown
from flows.config import EvalmonConfig
from flows.gate_run import GateRequest, run_gate
from tests.evals.test_local_model import require_llama_cpp

ROOT = Path(__file__).resolve().parents[2]
PROMPT = """\
name: local_qa
version: {version}
model: local:smollm2
params: {{temperature: 0, max_tokens: 24}}
variables: [question, documents]
messages:
  - role: user
    content: |-
      {instruction}

      {{% for doc in documents %}}Document [{{{{ loop.index }}}}](Title: {{{{ doc.title }}}}) {{{{ doc.text }}}}
      {{% endfor %}}
      Question: {{{{ question }}}}
      Answer:
"""
SUITE = """\
name: local_qa
prompt: local_qa
dataset: ../datasets/cases.jsonl
scorers:
  - name: best_subspan_em
    tolerance: 0.02
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@e.com", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.integration
def test_a_gate_on_smollm2_runs_both_versions_and_decides(tmp_path: Path) -> None:
    require_llama_cpp()
    root = tmp_path / "app"
    for sub in ("prompts", "evals/suites", "evals/datasets"):
        (root / sub).mkdir(parents=True)
    lines = (ROOT / "evals/datasets/nq_open_gate.jsonl").read_text().splitlines()[:4]
    for line in lines:  # short passages keep the CI run small
        case = json.loads(line)
        case["inputs"]["documents"][0]["text"] = case["inputs"]["documents"][0]["text"][:400]
    (root / "evals/datasets/cases.jsonl").write_text("\n".join(lines) + "\n")
    (root / "evals/suites/local_qa.yaml").write_text(SUITE)
    prompt = root / "prompts/local_qa.yaml"
    prompt.write_text(PROMPT.format(version="1.0.0", instruction="Answer the question."))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "base")
    prompt.write_text(
        PROMPT.format(version="1.1.0", instruction="Answer the question in a few words.")
    )
    config = EvalmonConfig(store=tmp_path / "gate.duckdb")
    result = asyncio.run(run_gate(GateRequest(base="main", path=root), config))
    [suite] = result.suites
    assert suite.base is not None and suite.candidate.model_ref == "local:smollm2"
    assert suite.base.calls == suite.candidate.calls == 4
    assert suite.base.errors == suite.candidate.errors == 0
    assert result.model_calls == 8
    [em] = suite.scorers
    assert em.comparison is not None and em.comparison.n == 4
    assert result.exit_code in (0, 1)  # a real verdict either way; 2 would be an error
    assert "local_qa@1.1.0" in markdown(result)
    again = asyncio.run(run_gate(GateRequest(base="main", path=root), config))
    assert again.model_calls == 0 and again.exit_code == result.exit_code
