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
        report: The export: what was read and pushed, per source.
        textfile: The text file written, or None.
        samples_written: Samples in the text file.
        push_error: Why the push still failed after every retry, or None.
    """

    report: ExportReport
    textfile: Path | None
    samples_written: int
    push_error: str | None = None

    @property
    def store(self) -> Path:
        """The store read."""
        return self.report.store_path

    @property
    def pushgateway_url(self) -> str | None:
        """Where it pushed (None: not pushing)."""
        return self.report.pushgateway_url

    @property
    def sources(self) -> tuple[SourceExport, ...]:
        """Per source: read or not, series, timings, push error."""
        return self.report.sources

    @property
    def ok(self) -> bool:
        """The store and every source were read, and every push (if any) went through."""
        return self.report.ok and self.push_error is None and bool(self.sources)

    @property
    def summary(self) -> str:
        """One line for logs and the CLI."""
        where = [f"pushed to {self.pushgateway_url}"] if self.pushgateway_url else []
        if self.textfile is not None:
            where.append(f"wrote {self.textfile}")
        line = f"exported {self.report.series} samples of {self.store}: "
        line += ", ".join(where) or "computed"
        if self.report.error:
            line += f"; store not read: {self.report.error}"
        failed = [s.source for s in self.sources if not s.ok]
        if failed and not self.report.error:
            line += f"; not read: {', '.join(failed)}"
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


# Retries and their delays come from the settings (``with_options`` in the flow).
@task(name="export-store-metrics", retry_condition_fn=_retry_push_only, cache_policy=NO_CACHE)
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
    push_retries: int | None = None,
) -> ExportSettings:
    """The export settings (default: the configuration's) with the overrides that are given."""
    base = export or config.export_settings()
    update = {
        key: value
        for key, value in (
            ("pushgateway_url", pushgateway_url),
            ("textfile", textfile),
            ("push_retries", push_retries),
        )
        if value is not None
    }
    return ExportSettings.model_validate({**base.model_dump(), **update}) if update else base


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
        settings: Export settings (default: :meth:`EvalmonConfig.export_settings`).

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
    run = ExportRun(report, target, written, push_error)
    print(run.summary)
    return run
