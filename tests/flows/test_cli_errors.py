"""The ``evalmon`` command line: bad input exits 2 with one clear line and writes nothing.

Also the happy path against the fake server: a run creates the store, an identical second
run is served from the cache, and ``--min-score`` turns a low score into exit code 1.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.fakeserver import FakeLLMServer
from tests.fakeserver.responders import last_user_text

REPO = Path(__file__).resolve().parents[2]
EVALMON = REPO / ".venv" / "bin" / "evalmon"
PROMPT = REPO / "prompts" / "example" / "rag_qa.yaml"
DATASET = REPO / "evals" / "datasets" / "nq_open_oracle_demo.jsonl"
CASES = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line]
ANSWERS = {case["inputs"]["question"]: case["expected"][0] for case in CASES}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory: no stray evalmon.toml is read, no default store written."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "out" / "evalmon.duckdb"


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def run_args(
    store: Path, *extra: str | Path, prompt: Path = PROMPT, dataset: Path = DATASET
) -> list[str | Path]:
    return ["run", prompt, "--dataset", dataset, "--store", store, "--no-progress", *extra]


def assert_bad_input(result: Any, store: Path, *words: str) -> str:
    """Exit code 2, one ``error: ...`` line on stderr naming the problem, no store written."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert "\n" not in message, message
    assert message.startswith("error: "), message
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in result.stdout + result.stderr
    assert not store.exists()
    assert not store.parent.exists() or not any(store.parent.iterdir())
    return message


def posts(server: FakeLLMServer) -> int:
    """Generation requests the fake server received (model listing excluded)."""
    return sum(1 for r in server.history if r.method == "POST")


# -- bad input: exit code 2, one line, nothing written -------------------------------------


def test_unknown_provider_lists_the_known_forms(store: Path) -> None:
    result = invoke(*run_args(store, "--model", "bogus:thing"))
    message = assert_bad_input(result, store, "unknown provider 'bogus'")
    for form in ("openai:", "anthropic:", "openai-compatible:NAME@", "local:smollm2"):
        assert form in message


def test_model_string_without_a_provider(store: Path) -> None:
    result = invoke(*run_args(store, "--model", "gpt-4o"))
    assert_bad_input(result, store, "'gpt-4o'", "provider:model", "known forms")


def test_model_string_with_brackets_is_printed_verbatim(store: Path) -> None:
    # Rich markup must not eat "[...]" in user input echoed in the message.
    result = invoke(*run_args(store, "--model", "bogus:[bold]x"))
    assert_bad_input(result, store, "'bogus:[bold]x'")


def test_missing_openai_api_key_names_the_variable(store: Path) -> None:
    assert "OPENAI_API_KEY" not in os.environ  # conftest cleans it
    result = invoke(*run_args(store, "--model", "openai:gpt-4o-mini"))
    assert_bad_input(result, store, "OPENAI_API_KEY")


def test_missing_anthropic_api_key_names_the_variable(store: Path) -> None:
    result = invoke(*run_args(store, "--model", "anthropic:claude-haiku-4-5"))
    assert_bad_input(result, store, "ANTHROPIC_API_KEY")


def test_malformed_config_names_file_and_line(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "evalmon.toml"
    config.write_text('store = "x.duckdb"\n[runner\nconcurrency = 2\n', encoding="utf-8")
    result = invoke(*run_args(store, "--config", config, "--model", "openai:x"))
    assert_bad_input(result, store, f"{config}:2:", "invalid TOML")


def test_invalid_config_value_names_file_line_and_setting(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "evalmon.toml"
    config.write_text("[runner]\nconcurrency = 0\n", encoding="utf-8")
    result = invoke(*run_args(store, "--config", config, "--model", "openai:x"))
    assert_bad_input(result, store, f"{config}:2: runner.concurrency:")


def test_missing_config_file(store: Path, tmp_path: Path) -> None:
    result = invoke(*run_args(store, "--config", tmp_path / "absent.toml"))
    assert_bad_input(result, store, "absent.toml", "not found")


def test_missing_prompt_file(store: Path, tmp_path: Path) -> None:
    result = invoke(*run_args(store, prompt=tmp_path / "no_such_prompt.yaml"))
    assert_bad_input(result, store, "no_such_prompt.yaml", "not found")


def test_bad_prompt_names_file_and_line(store: Path, tmp_path: Path) -> None:
    prompt = tmp_path / "bad.yaml"
    prompt.write_text(
        PROMPT.read_text(encoding="utf-8").replace("version: 1.0.1", "version: '1.0'"),
        encoding="utf-8",
    )
    line = 1 + prompt.read_text(encoding="utf-8").splitlines().index("version: '1.0'")
    result = invoke(*run_args(store, prompt=prompt))
    assert_bad_input(result, store, f"{prompt}:{line}: version")


def test_bad_dataset_line_names_file_and_line(store: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "cases.jsonl"
    lines = DATASET.read_text(encoding="utf-8").splitlines()[:3]
    dataset.write_text("\n".join([*lines, '{"id": "broken", "inputs": ']) + "\n", encoding="utf-8")
    result = invoke(*run_args(store, "--model", "openai:x", dataset=dataset))
    assert_bad_input(result, store, f"{dataset}:4:", "invalid JSON")


def test_missing_dataset_file(store: Path, tmp_path: Path) -> None:
    result = invoke(*run_args(store, dataset=tmp_path / "none.jsonl"))
    assert_bad_input(result, store, "none.jsonl", "not found")


def test_case_missing_a_prompt_input(store: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text('{"id": "a", "inputs": {"question": "q"}}\n', encoding="utf-8")
    result = invoke(*run_args(store, "--model", "openai:x", dataset=dataset))
    assert_bad_input(result, store, "missing inputs", "documents")


def test_unreachable_endpoint(store: Path) -> None:
    result = invoke(*run_args(store, "--model", "openai-compatible:x@http://127.0.0.1:9/v1"))
    assert_bad_input(result, store, "openai-compatible:x@http://127.0.0.1:9/v1")


def test_unknown_scorer_lists_the_known_ones(store: Path, fake_llm: FakeLLMServer) -> None:
    model = f"openai-compatible:m@{fake_llm.openai_base_url}"
    result = invoke(*run_args(store, "--model", model, "--scorer", "blue"))
    assert_bad_input(result, store, "'blue'", "best_subspan_em", "exact_match", "includes")
    assert posts(fake_llm) == 0


def test_bad_input_through_the_console_script(tmp_path: Path) -> None:
    """The installed script, in a narrow terminal: still one line on stderr, exit 2."""
    store = tmp_path / "script.duckdb"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)}
    env["COLUMNS"] = "40"
    proc = subprocess.run(
        [EVALMON, "run", PROMPT, "-d", DATASET, "-m", "openai:gpt-4o-mini", "--store", store],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert "OPENAI_API_KEY" in proc.stderr
    assert proc.stdout == ""
    assert not store.exists()


# -- help, version, models ------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("version", "models", "run"):
        assert re.search(rf"^\W*{command}\b", result.stdout, re.MULTILINE), result.stdout


def test_version_prints_evalmons_version() -> None:
    result = invoke("version")
    assert result.exit_code == 0
    first = result.stdout.splitlines()[0].split()
    assert first == ["evalmon", importlib.metadata.version("evalmon")]
    assert re.search(r"^python\s+3\.\d+", result.stdout, re.MULTILINE)


def test_models_without_keys_says_which_variable_to_set() -> None:
    result = invoke("models")
    assert result.exit_code == 0, result.stderr
    for provider in ("openai", "anthropic", "openai-compatible", "local", "fallback"):
        assert re.search(rf"│ {re.escape(provider)}\s+│", result.stdout), provider
    assert "set OPENAI_API_KEY" in result.stdout
    assert "set ANTHROPIC_API_KEY" in result.stdout


def test_models_with_a_key_names_the_variable_never_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-print-1234")
    result = invoke("models")
    assert result.exit_code == 0
    assert "key in OPENAI_API_KEY" in result.stdout
    assert "set ANTHROPIC_API_KEY" in result.stdout
    assert "do-not-print" not in result.stdout + result.stderr


def test_models_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "evalmon.toml"
    config.write_text("colour = 1\n", encoding="utf-8")
    result = invoke("models", "--config", config)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {config}:1: colour: Extra inputs are not permitted"


# -- a real run against the fake server ----------------------------------------------------


def answer_the_question(body: dict[str, Any], api: str) -> str:
    """Reply with the demo dataset's gold answer to the rendered question."""
    match = re.search(r"Question: (.*)\nAnswer:\s*$", last_user_text(body, api))
    assert match is not None, "the prompt does not end with the paper's Question/Answer lines"
    return ANSWERS[match.group(1)]


def caption(stdout: str) -> str:
    return " ".join(stdout.split())


def test_run_stores_scores_then_serves_an_identical_run_from_the_cache(
    store: Path, fake_llm: FakeLLMServer
) -> None:
    fake_llm.set_responder(answer_the_question)
    model = f"openai-compatible:m@{fake_llm.openai_base_url}"

    first = invoke(*run_args(store, "--model", model, "--min-score", "1.0"))
    assert first.exit_code == 0, first.stderr
    assert store.is_file()
    assert posts(fake_llm) == len(CASES) == 12
    for case in CASES:
        assert case["id"] in first.stdout
    text = caption(first.stdout)
    assert "best_subspan_em=1.000" in text
    assert "12 calls: 12 called, 0 cached" in text
    assert "finished" in text

    second = invoke(*run_args(store, "--model", model))
    assert second.exit_code == 0, second.stderr
    assert "12 calls: 0 called, 12 cached" in caption(second.stdout)
    assert "best_subspan_em=1.000" in caption(second.stdout)
    assert posts(fake_llm) == 12  # no model call the second time


def test_min_score_above_the_mean_exits_1(store: Path, fake_llm: FakeLLMServer) -> None:
    fake_llm.set_responder(answer_the_question)
    model = f"openai-compatible:m@{fake_llm.openai_base_url}"
    result = invoke(*run_args(store, "--model", model, "--limit", "3", "--min-score", "1.1"))
    assert result.exit_code == 1, result.stderr
    assert "below threshold" in result.stderr
    assert "best_subspan_em" in result.stderr
    assert store.is_file()  # a failed gate still keeps the run


def test_wrong_answers_score_zero_and_fail_the_gate(store: Path, fake_llm: FakeLLMServer) -> None:
    fake_llm.set_responder(lambda body, api: "I do not know.")
    model = f"openai-compatible:m@{fake_llm.openai_base_url}"
    result = invoke(*run_args(store, "--model", model, "--limit", "2", "--min-score", "0.5"))
    assert result.exit_code == 1
    assert "best_subspan_em=0.000" in caption(result.stdout)
    assert "nq-0000" in result.stdout and "nq-0001" in result.stdout
    assert "nq-0002" not in result.stdout  # --limit 2
    assert posts(fake_llm) == 2


def test_price_key_without_a_provider_is_bad_input(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "evalmon.toml"
    config.write_text(
        '[prices]\n"gpt-4o" = { input_per_mtok_usd = 1, output_per_mtok_usd = 2 }\n',
        encoding="utf-8",
    )
    result = invoke(*run_args(store, "--config", config, "--model", "openai:x"))
    assert_bad_input(result, store, f"{config}:2: prices.gpt-4o:", "provider:model")


def test_case_the_template_cannot_render_is_bad_input(store: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "cases.jsonl"
    case = {"id": "a", "inputs": {"question": "q", "documents": [{"text": "no title"}]}}
    dataset.write_text(json.dumps(case) + "\n", encoding="utf-8")
    result = invoke(*run_args(store, "--model", "openai:x", dataset=dataset))
    assert_bad_input(result, store, str(PROMPT), "title")
