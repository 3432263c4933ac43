"""Live Prometheus metrics of the captured calls, in the app's own process.

``gen_ai_client_operation_duration_seconds`` (histogram)
    Call latency. Labels: ``gen_ai_operation_name``, ``gen_ai_provider_name``,
    ``gen_ai_request_model``, ``evalmon_prompt_version`` and ``error_type`` (the exception
    class of a failed call; empty, so absent in PromQL, for a successful one, as an
    OpenTelemetry exporter would leave it).
``gen_ai_client_token_usage`` (histogram)
    Tokens per call. Labels: the same without ``error_type``, plus ``gen_ai_token_type``
    (``input`` or ``output``). Only calls that report usage are observed.
``evalmon_capture_dropped_records_total{reason}`` (counter)
    Records lost: ``queue_full``, ``write_error``, ``invalid`` or ``closed``.

Names follow the OpenTelemetry GenAI semantic conventions, so dashboards built on them also
fit apps instrumented with OpenTelemetry. Every label is bounded: the prompt label is the
``name@version`` ref (empty without one); request ids, user ids and text never become labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

#: Latency buckets (seconds): fine below a second, and edges at the 5 s p95 alert.
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
#: Token buckets: powers of 4 from 1 to 4M (4**11), as OpenTelemetry advises.
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(12))

_CALL_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "evalmon_prompt_version",
)


@dataclass(frozen=True, slots=True)
class CallLabels:
    """The bounded labels of one call.

    Attributes:
        operation: ``gen_ai.operation.name`` (``chat``).
        provider: ``gen_ai.provider.name``.
        model: The model asked for.
        prompt: ``name@version``, or ``""`` without a prompt ref.
    """

    operation: str
    provider: str
    model: str
    prompt: str

    def values(self) -> tuple[str, str, str, str]:
        """Label values in ``_CALL_LABELS`` order."""
        return (self.operation, self.provider, self.model, self.prompt)


class LiveMetrics:
    """The capture's histograms and drop counter, registered on one registry.

    Args:
        registry: Where to register; one registry holds one ``LiveMetrics``.

    Raises:
        ValueError: When the registry already has these metrics (pass another registry,
            or share one ``Capture``).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        """Create and register the metrics."""
        try:
            self.duration = Histogram(
                "gen_ai_client_operation_duration_seconds",
                "Duration of GenAI client operations (LLM calls), in seconds.",
                labelnames=(*_CALL_LABELS, "error_type"),
                buckets=DURATION_BUCKETS,
                registry=registry,
            )
            self.tokens = Histogram(
                "gen_ai_client_token_usage",
                "Tokens used per GenAI client operation, by token type (input or output).",
                labelnames=(*_CALL_LABELS, "gen_ai_token_type"),
                buckets=TOKEN_BUCKETS,
                registry=registry,
            )
            self.dropped = Counter(
                "evalmon_capture_dropped_records",
                "Production records the capture dropped, by reason.",
                labelnames=("reason",),
                registry=registry,
            )
        except ValueError as exc:
            raise ValueError(
                f"{exc}: this registry already has evalmon's capture metrics; give each "
                "Capture its own registry (the default), or share one Capture in the process"
            ) from exc

    def observe(
        self,
        labels: CallLabels,
        *,
        latency_s: float,
        error_type: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        """Record one call's latency and token counts."""
        values = labels.values()
        self.duration.labels(*values, error_type or "").observe(latency_s)
        if input_tokens is not None and input_tokens >= 0:
            self.tokens.labels(*values, "input").observe(input_tokens)
        if output_tokens is not None and output_tokens >= 0:
            self.tokens.labels(*values, "output").observe(output_tokens)

    def count_dropped(self, reason: str, n: int) -> None:
        """Add ``n`` dropped records of ``reason``."""
        self.dropped.labels(reason).inc(n)
