"""The position benchmark on the real embedded model: a small run that checks the plumbing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evals.position import PositionConfig
from flows.config import load_config
from flows.position_run import run_position
from metrics.store import Store
from tests.evals.test_local_model import require_llama_cpp


@pytest.mark.integration
def test_smollm2_answers_every_position_prompt(tmp_path: Path) -> None:
    require_llama_cpp()
    config_file = tmp_path / "evalmon.toml"
    config_file.write_text(f'store = "{tmp_path / "local.duckdb"}"\n')
    config = load_config(config_file)
    bench = PositionConfig(n_documents=10, positions=[0, 9], limit=1)  # 4 prompts, ~1.5k tokens
    report = asyncio.run(run_position(bench, config, model="local:smollm2", run_id="local-1"))
    assert report.summary.errors == 0 and report.summary.called == 4
    cells = {(c.setting, c.position): c for c in report.cells}
    assert set(cells) == {("position", 0), ("position", 9), ("closedbook", None), ("oracle", None)}
    assert all(c.n == 1 and c.accuracy in (0.0, 1.0) for c in cells.values())
    assert report.input_tokens > 4 * 300  # the 10-document prompts really went in
    with Store(config.store) as store:
        assert len(store.position_results("local-1").to_pylist()) == 4
