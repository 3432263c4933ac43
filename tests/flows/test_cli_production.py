"""``evalmon ingest`` and ``evalmon review``: bad input, quarantine, the queue's lifecycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from typer.testing import CliRunner

from evals.providers import ConfigError
from flows import production_flows
from flows.cli import app
from flows.config import EvalmonConfig
from metrics.production import ReviewItem, enqueue_reviews
from metrics.store import Store
from tests.metrics.test_ingest import line

EVALMON = Path(sys.executable).parent / "evalmon"


@pytest.fixture(scope="module")
def prefect_api_url() -> Iterator[str]:
    """A temporary Prefect server for the ``evalmon`` child processes to report to."""
    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    # Checked before the flow: no Prefect server is started to say so.
    code, _, err = invoke(
        "ingest", str(tmp_path / "nope.jsonl"), "--store", str(tmp_path / "s.duckdb")
    )
    assert code == 2 and "nope.jsonl: no such file" in err
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = invoke("judge", "run", "--ingest", str(tmp_path / "notes.txt"))
    assert code == 2 and "notes.txt: not a capture file" in err


@pytest.mark.integration
def test_a_bad_path_fails_the_ingest_flow_once_as_bad_input(
    prefect_api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[list[str]] = []
    check = production_flows.check_capture_paths

    def counted(paths: list[str]) -> None:
        checked.append(paths)
        check(paths)

    monkeypatch.setattr(production_flows, "check_capture_paths", counted)
    config = EvalmonConfig(store=tmp_path / "s.duckdb")
    with pytest.raises(ConfigError, match=r"nope\.jsonl: no such file"):
        production_flows.ingest_flow(paths=[str(tmp_path / "nope.jsonl")], config=config)
    assert len(checked) == 1  # bad input is not retried (it was, 35 s, as FileNotFoundError)


@pytest.mark.integration
def test_ingest_reports_quarantined_lines_with_file_and_line(
    prefect_api_url: str, tmp_path: Path
) -> None:
    capture = tmp_path / "capture.jsonl"
    capture.write_text("\n".join([line(1), "{not json", line(2), line(1)]) + "\n")
    store = str(tmp_path / "s.duckdb")
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}

    def evalmon() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EVALMON), "ingest", str(capture), "--store", store],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = evalmon()
    assert done.returncode == 0, done.stderr
    assert f"quarantined {capture}:2: " in done.stderr
    assert "2 record(s) added, 1 duplicate(s) skipped, 1 line(s) quarantined" in done.stdout
    with Store(Path(store)) as db, db.connection() as conn:
        rows = conn.execute("SELECT count(*) FROM production_requests").fetchone()
    assert rows == (2,)
    assert evalmon().returncode == 0
    with Store(Path(store)) as db, db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM production_requests").fetchone() == (2,)


def test_review_list_export_and_resolve(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    with Store(store) as db:
        db.migrate()
        enqueue_reviews(
            db,
            [
                ReviewItem("r1", "low_score", {"score": 0.1}),
                ReviewItem("r1", "uncertain"),
                ReviewItem("r2", "unscored"),
            ],
        )
    code, out, err = invoke("review", "list", "--store", str(store))
    assert code == 0 and "3 item(s)" in err and "low_score" in out
    exported = tmp_path / "queue.jsonl"
    code, _, _ = invoke("review", "export", "--out", str(exported), "--store", str(store))
    assert code == 0
    assert [json.loads(x)["reason"] for x in exported.read_text().splitlines()] == [
        "low_score",
        "uncertain",
        "unscored",
    ]
    code, _, err = invoke(
        "review", "resolve", "r1", "--label", "hallucination", "--by", "qa", "--store", str(store)
    )
    assert code == 0 and "resolved 2 item(s) of r1" in err
    code, out, err = invoke("review", "list", "--store", str(store))
    assert "1 item(s)" in err and "r2" in out
    code, _, err = invoke("review", "resolve", "r1", "--label", "x", "--store", str(store))
    assert code == 2 and "has no open review item" in err
