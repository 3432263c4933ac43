"""``evalmon judge calibrate``: run a judge on human-labelled examples and measure agreement.

Per rubric: Cohen's kappa, quadratically weighted kappa, Spearman correlation and the
confusion matrix, stored with the judge and rubric version. A judge under the configured
weighted kappa is reported as uncalibrated wherever its scores are used.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from evals.judging import Calibration, LabelledExample, calibrate, load_labels
from evals.providers import ConfigError
from evals.runner import ProgressReporter
from evals.scorers import Rubric, load_rubric
from flows.config import EvalmonConfig
from flows.judge_batch import JudgeItem, judge_batch
from flows.running import open_provider
from metrics.production import CalibrationRow, write_calibrations
from metrics.store import Store


@dataclass(frozen=True, slots=True)
class RubricCalibration:
    """One judge's agreement with the human labels on one rubric."""

    judge_ref: str
    rubric_version: str
    calibration: Calibration
    run_id: str


def _rubrics(labels: list[LabelledExample], prompts_dir: Path) -> dict[str, Rubric]:
    rubrics = {}
    for example in labels:
        if example.rubric not in rubrics:
            path = example.rubric_path(prompts_dir)
            if not path.is_file():
                raise ConfigError(
                    f"label {example.id}: rubric {example.rubric} has no file "
                    f"{path}; add it or fix the rubric name"
                )
            rubrics[example.rubric] = load_rubric(path)
    return rubrics


async def run_calibration(
    labels_path: Path,
    config: EvalmonConfig,
    *,
    model: str | None = None,
    prompts_dir: Path = Path("prompts"),
    progress: ProgressReporter | None = None,
) -> list[RubricCalibration]:
    """Judge every labelled example, compare with the human scores, store the result.

    Raises:
        ConfigError: A bad labels file (``FILE:LINE``), a missing rubric, a model that
            does not answer.
    """
    labels = load_labels(labels_path)
    rubrics = _rubrics(labels, prompts_dir)
    judge_model = model or (config.judge.models[0] if config.judge.models else None)
    provider = await open_provider(judge_model or config.default_model, config)
    try:
        items = [JudgeItem(ex.id, rubrics[ex.rubric], ex.to_score_input()) for ex in labels]
        digest = hashlib.sha256(labels_path.read_bytes())
        for version in sorted(r.version for r in rubrics.values()):
            digest.update(version.encode())
        run_id = (
            f"calibrate-{hashlib.sha256(provider.ref.encode()).hexdigest()[:8]}-"
            + (digest.hexdigest()[:12])
        )
        with Store(config.store) as store:
            result = await judge_batch(
                provider,
                store,
                run_id,
                items,
                config,
                max_parse_retries=config.judge.max_parse_retries,
                progress=progress,
            )
            by_rubric: dict[str, list[LabelledExample]] = defaultdict(list)
            for example in labels:
                by_rubric[example.rubric].append(example)
            reports = []
            for name, examples in sorted(by_rubric.items()):
                rubric = rubrics[name]
                judged = [result.scores[ex.id].details.get("raw_score") for ex in examples]
                stats = calibrate(
                    [ex.human_score for ex in examples],
                    [None if j is None else float(j) for j in judged],
                    scale=(int(rubric.min_score), int(rubric.max_score)),
                    min_kappa=config.judge.min_kappa,
                )
                reports.append(RubricCalibration(provider.ref, rubric.version, stats, run_id))
            write_calibrations(
                store,
                [
                    CalibrationRow.from_calibration(r.judge_ref, r.rubric_version, r.calibration)
                    for r in reports
                ],
            )
    finally:
        await provider.aclose()
    return reports
