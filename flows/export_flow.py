"""The metrics export as a Prefect flow, for a schedule every few minutes.

One task calls :func:`metrics.prometheus.export_metrics` (read the store once, push each
source under its own grouping key) and, where no Pushgateway is configured, writes the
metrics to a Prometheus text file instead (:mod:`flows.export_textfile`). A Pushgateway that
is down or slow fails the task, which Prefect retries with the configured backoff; when the
last attempt fails too, the flow logs the failure, returns it in its report and completes
normally: the next scheduled run pushes the whole current state again, so it catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.config import EvalmonConfig, load_config
from flows.export_config import ExportSettings
from flows.export_textfile import write_textfile
from metrics.prometheus import ExportReport, PushError, SourceExport, export_metrics


@dataclass(frozen=True, slots=True)
class ExportRun:
    """What one run of the ``export_metrics`` flow did.

    Attributes:
        store: The store read.
        now: End of the rolling windows.
        pushgateway_url: Where it pushed (None: not pushing).
        textfile: The text file written, or None.
        samples_written: Samples in the text file.
        sources: Per source: read or not, series, timings, push error.
        store_error: Why the store could not be read, or None.
        push_error: Why the push still failed after every retry, or None.
    """

    store: Path
    now: datetime
    pushgateway_url: str | None
    textfile: Path | None
    samples_written: int
    sources: tuple[SourceExport, ...]
    store_error: str | None = None
    push_error: str | None = None

    @property
    def ok(self) -> bool:
        """The store was read and every push (if any) went through."""
        return self.store_error is None and self.push_error is None and bool(self.sources)

    @property
    def summary(self) -> str:
        """One line for logs and the CLI."""
        series = sum(s.series for s in self.sources)
        where = [f"pushed to {self.pushgateway_url}"] if self.pushgateway_url else []
        if self.textfile is not None:
            where.append(f"wrote {self.textfile}")
        line = f"exported {series} samples of {self.store}: " + (", ".join(where) or "computed")
        if self.store_error:
            line += f"; store not read: {self.store_error}"
        if self.push_error:
            line += f"; push failed: {self.push_error}"
        return line


def _retry_push_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a failed push; anything else (a bad setting, a bug) would fail the same way."""
    try:
        state.result(_sync=True)
    except PushError:
        return True
    except Exception:
        return False
    return False


@task(
    name="export-store-metrics",
    retries=3,
    retry_delay_seconds=[10, 30, 90],
    retry_condition_fn=_retry_push_only,
    cache_policy=NO_CACHE,
)
def export_task(store: Path, settings: ExportSettings) -> ExportReport:
    """Read the store once and push each source; a failed push raises :class:`PushError`."""
    return export_metrics(
        store, pushgateway_url=settings.pushgateway_url, settings=settings,
        timeout_s=settings.timeout_s,
    )  # fmt: skip


def settings_for(
    config: EvalmonConfig,
    export: ExportSettings | None,
    pushgateway_url: str | None = None,
    textfile: Path | None = None,
) -> ExportSettings:
    """The export settings: ``[export]`` with the configuration's prices and the overrides."""
    base = export or config.export
    update: dict[str, object] = {"prices": {**config.prices, **base.prices}}
    if pushgateway_url is not None:
        update["pushgateway_url"] = pushgateway_url or None
    if textfile is not None:
        update["textfile"] = textfile
    return ExportSettings.model_validate({**base.model_dump(), **update})


@flow(name="export_metrics", log_prints=True, validate_parameters=False)
def export_metrics_flow(
    pushgateway_url: str | None = None,
    textfile: str | None = None,
    config_path: str | None = None,
    config: EvalmonConfig | None = None,
    settings: ExportSettings | None = None,
) -> ExportRun:
    """Export the store's metrics to the Pushgateway, or to a Prometheus text file.

    Args:
        pushgateway_url: Override ``[export] pushgateway_url`` (``""``: don't push).
        textfile: Override ``[export] textfile``.
        config_path: evalmon.toml to use.
        config: A loaded configuration (the CLI passes its own).
        settings: Export settings (default: the configuration's ``[export]``).

    Returns:
        What was read, pushed and written; a push that failed after every retry is in
        ``push_error`` and does not fail the flow.
    """
    config = config or load_config(Path(config_path) if config_path else None)
    chosen = settings_for(config, settings, pushgateway_url, Path(textfile) if textfile else None)
    target = chosen.textfile_for(config.store)
    delays = chosen.delays()
    runner = export_task.with_options(retries=len(delays), retry_delay_seconds=delays or 0)
    state = runner(config.store, chosen, return_state=True)
    push_error: str | None = None
    if state.is_completed():
        report: ExportReport = state.result()
    else:
        error = state.result(raise_on_failure=False)
        if not isinstance(error, PushError):
            raise error if isinstance(error, BaseException) else RuntimeError(str(error))
        report, push_error = error.report, str(error)
        get_run_logger().error(
            "%s (%d attempts; the next run pushes the whole state again)", error, len(delays) + 1
        )
    written = write_textfile(target, report) if target is not None else 0
    run = _run(config.store, report, target, written, push_error)
    print(run.summary)
    return run


def _run(
    store: Path, report: ExportReport, textfile: Path | None, written: int, push_error: str | None
) -> ExportRun:
    return ExportRun(
        store=store, now=report.now, pushgateway_url=report.pushgateway_url,
        textfile=textfile, samples_written=written, sources=report.sources,
        store_error=report.error, push_error=push_error,
    )  # fmt: skip
