"""The GitHub workflow runs the gate with options the CLI has, on the right paths."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from flows.cli import app

WORKFLOW = Path(__file__).resolve().parents[2] / ".github/workflows/prompt-gate.yml"


def test_prompt_gate_workflow_triggers_runs_and_comments() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    trigger = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert trigger["pull_request"]["paths"] == ["prompts/**", "evals/**"]
    steps = workflow["jobs"]["gate"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0  # the base branch must be fetched
    run = next(s["run"] for s in steps if s.get("name") == "Run the gate")
    options = set(re.findall(r"(--[a-z-]+)", run))
    help_text = CliRunner().invoke(app, ["gate", "--help"], env={"COLUMNS": "200"}).output
    assert options and all(option in help_text for option in options), options
    assert any("github-script" in s.get("uses", "") for s in steps)
    assert "secrets.OPENAI_API_KEY" in WORKFLOW.read_text()
