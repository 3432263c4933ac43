"""API keys never reach DuckDB, the journal, logs or the terminal (SPEC: Quality bar, Secrets).

Each test runs ``evalmon run`` as a subprocess, with recognisable fake keys in its
environment, against the in-process fake server. The server answers some calls with a 401
and a 500 whose messages echo the key back (as some proxies and gateways do), so error
messages are stored too. The test then searches every file the run could have written, the
rows of every DuckDB table, stdout and stderr for the keys; and checks the server really
received the key, so the search is not vacuous.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import pytest

from tests.fakeserver import FakeLLMServer, _state

REPO = Path(__file__).resolve().parents[2]
EVALMON = REPO / ".venv" / "bin" / "evalmon"

CANARIES = {
    "OPENAI_API_KEY": "sk-evalmon-SECRET-canary-1234567890",
    "ANTHROPIC_API_KEY": "sk-ant-evalmon-SECRET-canary-0987654321",
    # A key that does not look like an API key (any OpenAI-compatible server may use one).
    "EVALMON_OPENAI_COMPATIBLE_API_KEY": "PLAINevalmonCanary5f4e3d2c1b",
}
# Parts of the keys too: a leak of a truncated or partly masked key is still a leak.
NEEDLES = sorted({*CANARIES.values(), "SECRET-canary", "evalmonCanary"})
N_CASES = 6

PROMPT = """\
name: secret_probe
version: 1.0.0
params:
  temperature: 0
  max_tokens: 16
variables: [question]
messages:
  - role: user
    content: "Question: {{ question }}"
"""


@pytest.fixture
def auth_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, str]]]:
    """Raw auth headers of every request the in-process fake server receives.

    The server redacts auth headers in its history; this wraps the redaction so the test can
    see the key that was actually sent.
    """
    seen: list[dict[str, str]] = []
    redact = _state.redact_headers

    def capture(headers: Mapping[str, str]) -> dict[str, str]:
        seen.append(
            {
                k.lower(): v
                for k, v in headers.items()
                if k.lower() in ("authorization", "x-api-key")
            }
        )
        return redact(headers)

    monkeypatch.setattr(_state, "redact_headers", capture)
    yield seen


def _write_inputs(tmp_path: Path, server: FakeLLMServer) -> tuple[Path, Path, Path]:
    prompt = tmp_path / "probe.yaml"
    prompt.write_text(PROMPT, encoding="utf-8")
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "inputs": {"question": f"q{i}"}, "expected": [f"q{i}"]})
            + "\n"
            for i in range(N_CASES)
        ),
        encoding="utf-8",
    )
    config = tmp_path / "evalmon.toml"
    # Only base_url is set for each provider: api_key_env keeps its default variable.
    config.write_text(
        f"""\
store = "out/x.duckdb"
max_error_share = 0.9

[runner]
concurrency = 2
max_retries = 0
timeout_s = 10

[providers.openai]
base_url = "{server.openai_base_url}"

[providers.anthropic]
base_url = "{server.anthropic_base_url}"
""",
        encoding="utf-8",
    )
    return prompt, dataset, config


def _run_cli(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("EVALMON_", "PREFECT_"))
    }
    env.update(CANARIES)
    env.update(
        HOME=str(home),  # anything written "to the user's home" lands in tmp_path too
        PREFECT_HOME=str(home / ".prefect"),
        NO_PROXY="127.0.0.1,localhost",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    return subprocess.run(
        [str(EVALMON), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _db_dump(db: Path) -> str:
    """Every row of every table, as text (the file itself may store strings compressed)."""
    with duckdb.connect(str(db), read_only=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert "calls" in tables and "runs" in tables
        parts = []
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            parts.append(f"{table}: {rows!r}")
    return "\n".join(parts)


def _leaks(name: str, text: str) -> list[str]:
    return [f"{needle!r} in {name}" for needle in NEEDLES if needle in text]


@pytest.mark.parametrize(
    ("model", "key_var", "api"),
    [
        ("openai:gpt-4o-mini", "OPENAI_API_KEY", "openai"),
        ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY", "anthropic"),
        ("openai-compatible:m@{openai_base_url}", "EVALMON_OPENAI_COMPATIBLE_API_KEY", "openai"),
    ],
    ids=["openai", "anthropic", "openai-compatible"],
)
def test_api_keys_never_reach_store_logs_or_terminal(
    tmp_path: Path,
    fake_llm: FakeLLMServer,
    auth_seen: list[dict[str, str]],
    model: str,
    key_var: str,
    api: str,
) -> None:
    key = CANARIES[key_var]
    model = model.format(openai_base_url=fake_llm.openai_base_url)
    prompt, dataset, config = _write_inputs(tmp_path, fake_llm)
    # The first two generation requests fail, with messages that echo the key back.
    fake_llm.enqueue_fault("401", message=f"Incorrect API key provided: {key}")
    fake_llm.enqueue_fault("500", message=f"gateway error: upstream refused key {key} (retry)")

    proc = _run_cli(
        tmp_path,
        [
            "run", str(prompt), "--dataset", str(dataset), "--model", model,
            "--run-id", "secrets", "--config", str(config), "--no-progress",
        ],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout

    # The key was in use: every request to the server carried it.
    generation = [r for r in fake_llm.history if r.path in ("/v1/chat/completions", "/v1/messages")]
    assert len(generation) == N_CASES
    assert {r.api for r in generation} == {api}
    assert auth_seen, "the fake server saw no requests"
    # (The anthropic SDK sends ``x-api-key`` or, in recent versions, a bearer token.)
    sent = {f"Bearer {key}"} if api == "openai" else {key, f"Bearer {key}"}
    assert all(seen and set(seen.values()) <= sent for seen in auth_seen), auth_seen

    # The errors were recorded as errors, with the key removed from their messages.
    db = tmp_path / "out" / "x.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        errors = conn.execute(
            "SELECT error_kind, error_status, error_message FROM calls "
            "WHERE run_id = 'secrets' AND error_kind IS NOT NULL ORDER BY error_status"
        ).fetchall()
        n_calls = conn.execute("SELECT count(*) FROM calls WHERE run_id = 'secrets'").fetchone()
    assert n_calls == (N_CASES,)
    assert [(kind, status) for kind, status, _ in errors] == [("auth", 401), ("server_error", 500)]
    assert "Incorrect API key provided: [redacted]" in errors[0][2]
    assert "upstream refused key [redacted]" in errors[1][2]

    # No key anywhere: stdout, stderr, every row of every table, every file under tmp_path
    # (the DuckDB file and its WAL, the journal directory, any log, anything under HOME).
    leaks = _leaks("stdout", proc.stdout) + _leaks("stderr", proc.stderr)
    leaks += _leaks("DuckDB rows", _db_dump(db))
    inputs = {prompt, dataset, config}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in inputs]
    assert db in written
    for path in written:
        leaks += _leaks(str(path.relative_to(tmp_path)), path.read_bytes().decode("latin-1"))
    assert not leaks, leaks
    assert "secrets" in proc.stdout and "2 errors" in proc.stdout
