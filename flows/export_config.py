"""The ``[export]`` settings: where the metrics go, and how hard a push is retried.

:class:`ExportSettings` extends :class:`metrics.prometheus.ExportSettings` (how the store is
read: lock timeout, prices, context windows) with the destination of the batch export::

    [export]
    pushgateway_url = "localhost:9091"   # unset: write a Prometheus text file instead
    textfile = "/var/lib/node_exporter/textfile/evalmon.prom"
    timeout_s = 10
    push_retries = 3
    retry_delays_s = [10, 30, 90]
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, field_validator

from metrics.prometheus import ExportSettings as StoreReadSettings

#: File name of the text file written beside the store when no other is configured.
TEXTFILE_SUFFIX = "-metrics.prom"


class ExportSettings(StoreReadSettings):
    """How ``evalmon export`` and the ``export_metrics`` flow read, push and write metrics.

    Attributes:
        pushgateway_url: ``host:port`` or URL of the Pushgateway. Unset: nothing is pushed
            and the metrics go to a text file (``textfile``, or one beside the store).
        textfile: Prometheus text file to write (``.prom``, for node_exporter's textfile
            collector or a static file server). Unset: written beside the store only when
            no Pushgateway is configured.
        timeout_s: Timeout of each push.
        push_retries: Further attempts when a push fails (the Pushgateway is down or slow).
        retry_delays_s: Seconds to wait before each further attempt (the last one repeats).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pushgateway_url: str | None = None
    textfile: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    push_retries: int = Field(default=3, ge=0, le=20)
    retry_delays_s: list[float] = Field(default_factory=lambda: [10.0, 30.0, 90.0], min_length=1)

    @field_validator("pushgateway_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    @field_validator("textfile")
    @classmethod
    def _prom_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".prom":
            raise ValueError(
                f"textfile {str(value)!r} must end in .prom (node_exporter's textfile "
                "collector reads only those); rename it"
            )
        return value

    @field_validator("retry_delays_s")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry_delays_s must be zero or more seconds each")
        return value

    def textfile_for(self, store: Path) -> Path | None:
        """The text file to write for ``store``, or None when only pushing.

        Args:
            store: The DuckDB store (the default file goes beside it).
        """
        if self.textfile is not None:
            return self.textfile
        if self.pushgateway_url is None:
            return store.with_name(store.stem + TEXTFILE_SUFFIX)
        return None

    def delays(self) -> list[float]:
        """One delay per further attempt (``retry_delays_s`` padded with its last value)."""
        pad = self.retry_delays_s[-1:] * max(self.push_retries - len(self.retry_delays_s), 0)
        return [*self.retry_delays_s, *pad][: self.push_retries]
