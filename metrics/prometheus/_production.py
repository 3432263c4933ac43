"""Production-traffic gauges computed exactly in DuckDB from ``production_requests``.

One query reads the three windows (:data:`~metrics.prometheus._common.WINDOWS`, each a
``UNION ALL`` branch whose time filter lets DuckDB skip old row groups) grouped by provider,
model, prompt version and route. Every family has the labels ``model``, ``prompt_version``,
``route`` and ``window``:

``evalmon_llm_latency_seconds{quantile}``
    ``quantile_disc`` of ``latency_s`` at 0.5, 0.95 and 0.99: the exact nearest-rank
    percentile, the latency of the ``ceil(q * n)``-th fastest of the window's ``n`` calls,
    successful or not. So "95% of the calls took at most p95", and the value is a latency
    a call really had (``quantile_cont``'s interpolation between two calls costs the same
    in DuckDB but describes no call; with 10 calls its p99 is not even one of them).
``evalmon_llm_requests``, ``evalmon_llm_errors``, ``evalmon_llm_error_ratio``
    Calls (rows: a fallback is a second call, to another model), those with status
    ``error``, and their ratio.
``evalmon_llm_tokens{type="input"|"output"}``
    Tokens used.
``evalmon_llm_cost_usd``
    The tokens priced with :class:`metrics.prices.PriceTable` by ``provider:model`` (the
    model asked for); cost is linear in tokens, so pricing the window's sums is exact. A
    model without a price has no series (never a cost of 0).
``evalmon_llm_context_usage_ratio{quantile}``
    ``input + output`` tokens over the model's context window (:mod:`._context`), same
    nearest-rank percentiles; ``evalmon_llm_context_near_limit_requests`` counts successful
    calls at or over ``near_limit_ratio`` of it. A model without a known window has neither.
``evalmon_llm_context_overflow_requests``
    Successful calls over the window, plus calls rejected as too long for it (an error
    whose type or message says so, whether or not the window is known).
``evalmon_llm_perplexity``
    Mean over calls with logprobs of ``exp(-mean token logprob)``; absent without any.

``model`` is the model asked for (``gen_ai.request.model``, as on the live histograms).
When one model name was asked of several providers in the last 24 hours, it is qualified
with the provider (``azure:gpt-4o``) in every window, so no two series collide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import duckdb
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from metrics.prices import PriceTable
from metrics.prometheus._common import (
    QUANTILE_LABELS,
    QUANTILES,
    WINDOWS,
    ExportSettings,
    gauge,
    sql_time,
    table_columns,
)
from metrics.prometheus._context import ContextWindows, near_limit_tokens

LABELS = ("model", "prompt_version", "route", "window")

# Error types and messages of a call rejected as longer than the context window: evalmon's
# own kind, OpenAI's code and message, OpenAI Responses, Anthropic, llama.cpp.
OVERFLOW_PATTERN = (
    "context_overflow|context_length_exceeded|maximum context length"
    "|exceeds? the context window|prompt is too long|exceed context window"
)
_USED = "(input_tokens + coalesce(output_tokens, 0))"
_QUANTILES = "[" + ", ".join(str(q) for q in QUANTILES) + "]"
_BRANCH = """
SELECT '{label}', coalesce(provider, 'none'), coalesce(request_model, 'none'),
    coalesce(prompt_ref, 'none'), coalesce(route, 'none'),
    count(*), count(*) FILTER (status = 'error'), quantile_disc(latency_s, {quantiles}),
    sum(input_tokens), sum(output_tokens), quantile_disc({used}, {quantiles}),
    list({used}) FILTER (status = 'ok' AND {used} >= CASE provider {floors} ELSE NULL END),
    count(CASE WHEN status = 'error' THEN
        CASE WHEN regexp_matches(concat_ws(' ', error_type, error_message), '{overflow}', 'i')
        THEN 1 END END),
    avg(CASE WHEN logprobs IS NOT NULL THEN exp(-list_avg(TRY_CAST(logprobs AS DOUBLE[]))) END)
FROM production_requests
WHERE ts > {since} AND ts <= {now}
GROUP BY ALL
"""
_NEEDED = {"ts", "provider", "request_model", "prompt_ref", "route", "status", "latency_s",
           "input_tokens", "output_tokens", "error_type", "error_message", "logprobs"}  # fmt: skip


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class _Row:
    """One (window, provider, model, prompt version, route) group of the query."""

    window: str
    provider: str
    model: str
    prompt_version: str
    route: str
    requests: int
    errors: int
    latency: list[float] | None
    input_tokens: int | None
    output_tokens: int | None
    context: list[float] | None
    near_limit: list[int] | None
    rejected: int
    perplexity: float | None


def production_sql(now: datetime, floors: Mapping[str, int]) -> str:
    """The query: one branch per window, each grouped by provider, model, prompt and route.

    Args:
        now: End of the windows.
        floors: Per provider, the fewest tokens that may be near a context limit: the token
            counts of the successful calls at or over it are listed, the others are not
            (:meth:`ContextWindows.near_limit_floor`).
    """
    cases = " ".join(f"WHEN {_literal(p)} THEN {n}" for p, n in sorted(floors.items()))
    return " UNION ALL ".join(
        _BRANCH.format(
            label=w.label, quantiles=_QUANTILES, used=_USED, overflow=OVERFLOW_PATTERN,
            floors=cases or "WHEN NULL THEN NULL", since=sql_time(now - w.length),
            now=sql_time(now),
        )
        for w in WINDOWS
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Families:
    latency: GaugeMetricFamily
    requests: GaugeMetricFamily
    errors: GaugeMetricFamily
    error_ratio: GaugeMetricFamily
    tokens: GaugeMetricFamily
    cost: GaugeMetricFamily
    context: GaugeMetricFamily
    near_limit: GaugeMetricFamily
    overflow: GaugeMetricFamily
    perplexity: GaugeMetricFamily

    @classmethod
    def empty(cls) -> _Families:
        q, t = [*LABELS, "quantile"], [*LABELS, "type"]
        return cls(
            latency=gauge("evalmon_llm_latency_seconds",
                          "Exact latency percentile of the LLM calls in the window.", q, "seconds"),
            requests=gauge("evalmon_llm_requests", "LLM calls in the window.", LABELS),
            errors=gauge("evalmon_llm_errors", "LLM calls that failed in the window.", LABELS),
            error_ratio=gauge("evalmon_llm_error_ratio",
                              "Failed LLM calls over all calls in the window.", LABELS, "ratio"),
            tokens=gauge("evalmon_llm_tokens", "Tokens used in the window, by type.", t),
            cost=gauge("evalmon_llm_cost_usd",
                       "Cost of the window's tokens from the price table, in USD.", LABELS, "usd"),
            context=gauge("evalmon_llm_context_usage_ratio",
                          "Percentile of input plus output tokens over the model's context "
                          "window.", q, "ratio"),
            near_limit=gauge("evalmon_llm_context_near_limit_requests",
                             "Calls using at least the near-limit share of the context window.",
                             LABELS),
            overflow=gauge("evalmon_llm_context_overflow_requests",
                           "Calls over the context window or rejected as too long for it.",
                           LABELS),
            perplexity=gauge("evalmon_llm_perplexity",
                             "Mean per-call perplexity, exp(-mean token logprob), of the calls "
                             "with logprobs.", LABELS),
        )  # fmt: skip

    def __iter__(self) -> Iterator[GaugeMetricFamily]:
        return iter([getattr(self, f.name) for f in fields(self)])


def _model_labels(rows: Sequence[_Row]) -> dict[tuple[str, str], str]:
    """The ``model`` label of each (provider, model): qualified when a name has 2 providers."""
    providers: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        providers[row.model].add(row.provider)
    return {
        (p, model): model if len(names) == 1 else f"{p}:{model}"
        for model, names in providers.items()
        for p in names
    }


class ProductionSource:
    """The production families (see the module doc); one Pushgateway source.

    Args:
        settings: Prices, context windows and the near-limit share.
    """

    name = "production"

    def __init__(self, settings: ExportSettings | None = None) -> None:
        """Build the price and context tables once."""
        self.settings = settings or ExportSettings()
        self.prices: PriceTable = self.settings.price_table()
        self.windows: ContextWindows = self.settings.context_table()
        self._floors = self.windows.near_limit_floor(self.settings.near_limit_ratio)

    def empty(self) -> list[Metric]:
        """The families without samples."""
        return list(_Families.empty())

    def read(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> list[Metric]:
        """Run the query and fill the families (empty when the store has no such table)."""
        families = _Families.empty()
        if not table_columns(conn, "production_requests") >= _NEEDED:
            return list(families)
        rows = [_Row(*r) for r in conn.execute(production_sql(now, self._floors)).fetchall()]
        models = _model_labels(rows)
        for row in rows:
            self._add(families, row, models[(row.provider, row.model)])
        return list(families)

    def _add(self, f: _Families, row: _Row, model: str) -> None:
        labels = [model, row.prompt_version, row.route, row.window]
        ref = f"{row.provider}:{row.model}"
        f.requests.add_metric(labels, row.requests)
        f.errors.add_metric(labels, row.errors)
        f.error_ratio.add_metric(labels, row.errors / row.requests)
        tokens_in, tokens_out = row.input_tokens or 0, row.output_tokens or 0
        f.tokens.add_metric([*labels, "input"], tokens_in)
        f.tokens.add_metric([*labels, "output"], tokens_out)
        cost = self.prices.breakdown(ref, tokens_in, tokens_out)
        if cost is not None:
            f.cost.add_metric(labels, cost.total_usd)
        _add_quantiles(f.latency, labels, row.latency, 1.0)
        window = self.windows.window_for(ref)
        over = row.rejected
        if window is not None:
            _add_quantiles(f.context, labels, row.context, 1.0 / window)
            used = row.near_limit or []
            near = near_limit_tokens(window, self.settings.near_limit_ratio)
            f.near_limit.add_metric(labels, sum(1 for n in used if n >= near))
            over += sum(1 for n in used if n > window)
        f.overflow.add_metric(labels, over)
        if row.perplexity is not None:
            f.perplexity.add_metric(labels, row.perplexity)


def _add_quantiles(
    family: GaugeMetricFamily, labels: list[str], values: Sequence[Any] | None, scale: float
) -> None:
    """Add one sample per quantile (none when the window had no value to rank)."""
    if values is None:
        return
    for label, value in zip(QUANTILE_LABELS, values, strict=True):
        if value is not None:
            family.add_metric([*labels, label], float(value) * scale)
