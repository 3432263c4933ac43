"""The demo's props: a throwaway repository with a prompt change, and traffic replayed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from evals.providers import ConfigError
from flows.example_traffic_report import read_capture_file

ROOT = Path(__file__).resolve().parents[1]
#: The bundled generated traffic (see its README).
TRAFFIC_SAMPLE = ROOT / "evals" / "datasets" / "traffic_sample"
_PROMPT = Path("prompts/example/rag_qa.yaml")
_SUITES = Path("evals/suites")
#: The example change the demo gates: a reworded instruction, bumped to 1.1.0.
OLD_INSTRUCTION = (
    "Write a high-quality answer for the given question using only the provided search "
    "results (some of which might be irrelevant)."
)
NEW_INSTRUCTION = (
    "Answer the question in a few words, using only the search results below (some may be "
    "irrelevant)."
)
NEW_VERSION = "1.1.0"


@dataclass(frozen=True, slots=True)
class GateRepo:
    """The throwaway repository the demo gates.

    Attributes:
        path: Its top directory.
        base: The branch with the current prompt.
        branch: The branch with the change, checked out.
        change: What the change does, for the banner.
    """

    path: Path
    base: str
    branch: str
    change: str


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=evalmon demo", "-c", "user.email=demo@example.invalid",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def build_gate_repo(dest: Path, *, cases: int) -> GateRepo:
    """A git repository with the project's prompts, suites and data, and one prompt change.

    ``main`` holds the prompts as they are, gated by one demo suite (the gate suite's first
    ``cases`` cases; the judged suite is left out, SmolLM2 being a weak judge); the branch
    ``demo/rag-qa-1.1.0`` rewords ``rag_qa``'s instruction and bumps it to 1.1.0.

    Raises:
        ConfigError: git is missing or fails, or the prompt is not as expected.
    """
    if shutil.which("git") is None:
        raise ConfigError("the demo's gate needs git: install it (apt-get install git)")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "prompts", dest / "prompts")
    shutil.copytree(ROOT / _SUITES, dest / _SUITES)
    shutil.copytree(
        ROOT / "evals" / "datasets", dest / "evals" / "datasets",
        ignore=shutil.ignore_patterns("traffic_sample", "lost_in_the_middle"),
    )  # fmt: skip
    suite = yaml.safe_load((dest / _SUITES / "rag_qa_nq.yaml").read_text(encoding="utf-8"))
    for old in (dest / _SUITES).glob("*.yaml"):
        old.unlink()
    suite.update(
        name="rag_qa_demo",
        description=f"The gate suite's first {cases} cases (the demo's size).",
        limit=cases,
    )
    (dest / _SUITES / "rag_qa_demo.yaml").write_text(
        "# The demo's gate suite: written by flows/demo_steps.py.\n"
        + yaml.safe_dump(suite, sort_keys=False),
        encoding="utf-8",
    )
    prompt_file = dest / _PROMPT
    text = prompt_file.read_text(encoding="utf-8")
    if OLD_INSTRUCTION not in text or "suites: [rag_qa_nq, rag_qa_judged]" not in text:
        raise ConfigError(
            f"{ROOT / _PROMPT} no longer has the instruction or suites the demo changes; "
            "update OLD_INSTRUCTION in flows/demo_steps.py"
        )
    text = text.replace("suites: [rag_qa_nq, rag_qa_judged]", "suites: [rag_qa_demo]")
    prompt_file.write_text(text, encoding="utf-8")
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "The example app's prompts, as in the project")
    branch = f"demo/rag-qa-{NEW_VERSION}"
    _git(dest, "checkout", "-q", "-b", branch)
    old_version = yaml.safe_load(text)["version"]
    changed = text.replace(OLD_INSTRUCTION, NEW_INSTRUCTION).replace(
        f"version: {old_version}", f"version: {NEW_VERSION}"
    )
    prompt_file.write_text(changed, encoding="utf-8")
    _git(dest, "commit", "-q", "-am", f"rag_qa {NEW_VERSION}: a terser instruction")
    change = f'rag_qa {old_version} -> {NEW_VERSION}: instruction reworded to "{NEW_INSTRUCTION}"'
    return GateRepo(dest, "main", branch, change)


def replay_traffic(sample: Path, dest: Path, now: datetime) -> Path:
    """Copy the capture files of ``sample`` with their day moved to end at ``now``.

    The generated sample covers one simulated UTC day; shifting every timestamp by the
    same amount keeps its shape and puts it in the exporter's rolling windows (5 m, 1 h,
    24 h). A copy an earlier run made of the same ``sample`` is kept (its records are in the
    store already); a copy of another sample is replaced.

    Raises:
        ConfigError: ``sample`` has no capture files.
    """
    files = sorted(sample.glob("*.jsonl"))
    if not files:
        raise ConfigError(
            f"no capture files (*.jsonl) in {sample}: generate some with `python -m "
            "flows.example_app generate --out DIR` and pass --traffic DIR"
        )
    done = dest / ".replayed"
    source = f"from {sample.resolve()}\n"
    if done.exists() and done.read_text(encoding="utf-8").startswith(source):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    records = {path: read_capture_file(path) for path in files}
    first = min(_timestamp(r) for lines in records.values() for r in lines)
    day_end = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=1)
    shift = now.astimezone(UTC) - day_end
    for path, lines in records.items():
        with (dest / path.name).open("w", encoding="utf-8") as out:
            for record in lines:
                moved = _timestamp(record) + shift
                record["evalmon.timestamp"] = moved.isoformat().replace("+00:00", "Z")
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    done.write_text(f"{source}shifted by {shift}\n", encoding="utf-8")
    return dest


def _timestamp(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["evalmon.timestamp"])).astimezone(UTC)
