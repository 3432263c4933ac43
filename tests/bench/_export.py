"""Benchmark of the Prometheus export (issue #6): compute and push over N production rows.

``bench_export(n_rows)`` fills a migrated store straight from DuckDB SQL (``range()``, no
ingest code) with ``n_rows`` production records spread over the 24 hours before ``NOW`` in
time order (as an ingest appends them): 5 models (Claude 55%, GPT-4o 15%, GPT-4o-mini 15%,
GPT-4.1 10%, SmolLM2 5%), 10 prompt versions, 5 routes, log-normal latencies and token
counts, 1% errors (a third of them context-length rejections), logprobs on the SmolLM2
calls, a 1% judge sample with scores, a review queue, calibrations, gates and a position
run. Then it times :func:`metrics.prometheus.export_metrics` ``repeats`` times, pushing to a
real ``prometheus-pushgateway`` on loopback when the binary is installed.

Target: compute plus push under 1.5 s for 10 million rows on the 2-core machine.

Run: ``python -m tests.bench._export [n_rows]``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from metrics.prometheus import export_metrics
from metrics.store import connect, migrate

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)
TARGET_S = 1.5

_PRODUCTION = """
INSERT INTO production_requests (record_id, request_id, ts, app, route, user_hash, provider,
    request_model, response_model, prompt_ref, input_messages, output, contexts, latency_s,
    input_tokens, output_tokens, finish_reason, logprobs, error_type, error_message,
    http_status, status, source_file, source_line, ingested_at)
WITH u AS (
    SELECT i, hash(i, 1) % 100 AS m, hash(i, 2) % 1000 AS e,
        (hash(i, 3) % 1000000) / 1000000.0 AS u1, (hash(i, 4) % 1000000 + 1) / 1000001.0 AS u2,
        (hash(i, 5) % 1000000) / 1000000.0 AS u3, (hash(i, 6) % 1000000 + 1) / 1000001.0 AS u4
    FROM range({n}) t(i)
), r AS (
    SELECT *, 1 + CASE WHEN m < 55 THEN 0 WHEN m < 70 THEN 1 WHEN m < 85 THEN 2
                       WHEN m < 95 THEN 3 ELSE 4 END AS k,
        sqrt(-2 * ln(u2)) * cos(2 * pi() * u1) AS z1, sqrt(-2 * ln(u4)) * cos(2 * pi() * u3) AS z2
    FROM u
)
SELECT 'rec-' || i, 'req-' || i,
    {now} - INTERVAL 1 DAY + to_microseconds(((i + 1) * 86400000000 // {n})::BIGINT),
    'rag-assistant', ['answer', 'summarize', 'classify', 'extract', 'chat'][1 + (hash(i, 7) % 5)::INT],
    'u' || (hash(i, 8) % 50000)::VARCHAR,
    ['anthropic', 'openai', 'openai', 'openai', 'local'][k],
    ['claude-sonnet-4-5', 'gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'smollm2'][k],
    ['claude-sonnet-4-5-20250929', 'gpt-4o-2024-08-06', 'gpt-4o-mini-2024-07-18',
     'gpt-4.1-2025-04-14', 'smollm2'][k],
    'rag_qa@1.0.' || (hash(i, 9) % 10)::VARCHAR, '[]', CASE WHEN e >= 10 THEN 'An answer.' END,
    '[]', exp(ln([1.8, 1.2, 0.8, 1.5, 3.0][k]) + 0.5 * z1),
    CASE WHEN e >= 10 THEN least(greatest(round(exp(ln(1200) + 0.5 * z2)), 50),
                                 [190000, 120000, 120000, 1000000, 7700][k])::BIGINT END,
    CASE WHEN e >= 10 THEN (50 + hash(i, 10) % 500)::BIGINT END,
    CASE WHEN e >= 10 THEN 'stop' END,
    CASE WHEN e >= 10 AND k = 5 THEN '[-0.12, -0.5, -0.03, -1.2, -0.4, -0.08, -0.22, -0.9]' END,
    CASE WHEN e < 10 THEN ['RateLimitError', 'APITimeoutError', 'BadRequestError'][1 + (e % 3)::INT] END,
    CASE WHEN e < 10 THEN ['rate limited', 'request timed out',
        'This model''s maximum context length is 128000 tokens'][1 + (e % 3)::INT] END,
    CASE WHEN e < 10 THEN [429, 408, 400][1 + (e % 3)::INT] END,
    CASE WHEN e < 10 THEN 'error' ELSE 'ok' END, 'bench.jsonl', i + 1, {now}
FROM r
"""
_QUALITY = [
    """INSERT INTO judge_scores (request_id, judge_ref, rubric_version, score, raw_score,
           created_at, request_ts, provider, request_model, prompt_ref)
       SELECT request_id, 'openai:gpt-4o', 'faithfulness@1#abc123', (hash(source_line) % 5) / 4,
           1 + hash(source_line) % 5, {now}, ts, provider, request_model, prompt_ref
       FROM production_requests WHERE hash(source_line, 99) % 100 = 0 AND status = 'ok'""",
    """INSERT INTO review_queue (request_id, reason, status, created_at)
       SELECT request_id, 'low_score', CASE WHEN hash(request_id) % 3 = 0 THEN 'resolved'
           ELSE 'open' END, {now}
       FROM judge_scores WHERE score = 0""",
    """INSERT INTO judge_calibrations (judge_ref, rubric_version, kappa, weighted_kappa, n,
           calibrated, created_at)
       VALUES ('openai:gpt-4o', 'faithfulness@1#abc123', 0.55, 0.71, 50, true, {now})""",
]


@dataclass(frozen=True, slots=True)
class ExportBench:
    """Figures of :func:`bench_export` (seconds; min and median over the repeats).

    ``total`` is the wall time of a whole export (pushes overlap the computing);
    ``push`` the time spent serialising and pushing; ``cpu`` the process's CPU time
    over the export (DuckDB's threads included), which a busy machine does not inflate;
    ``load_average`` the 1-minute load when it ended (2 cores).
    """

    n_rows: int
    generate_s: float
    store_mb: float
    series: int
    compute_min_s: float
    compute_median_s: float
    push_min_s: float | None
    push_median_s: float | None
    total_min_s: float
    total_median_s: float
    cpu_min_s: float
    cpu_median_s: float
    repeats: int
    load_average: float

    @property
    def met(self) -> bool:
        """Whether the median compute plus push is under the target."""
        return self.total_median_s < TARGET_S


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fill_store(path: Path, n_rows: int) -> None:
    """Create a migrated store at ``path`` with ``n_rows`` synthetic production rows."""
    now = f"TIMESTAMPTZ '{NOW.isoformat()}'"
    with connect(path) as conn:
        migrate(conn)
        conn.execute(_PRODUCTION.format(n=n_rows, now=now))
        for sql in _QUALITY:
            conn.execute(sql.format(now=now))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pushgateway() -> Iterator[str | None]:
    """A real Pushgateway on loopback (``host:port``), or None when not installed."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        yield None
        return
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(  # in memory: Debian's default persists to a shared file
        [binary, f"--web.listen-address={address}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/-/ready", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield address
    finally:
        proc.terminate()
        proc.wait(10)


def bench_export(n_rows: int = 10_000_000, repeats: int = 5) -> ExportBench:
    """Fill a store with ``n_rows`` rows, then time ``repeats`` exports (compute and push)."""
    with tempfile.TemporaryDirectory() as tmp, pushgateway() as gateway:
        path = Path(tmp) / "bench.duckdb"
        start = time.perf_counter()
        fill_store(path, n_rows)
        generate_s = time.perf_counter() - start
        export_metrics(path, now=NOW)  # warm the OS page cache once
        reports, cpu = [], []
        for _ in range(repeats):
            before = _cpu_s()
            reports.append(export_metrics(path, pushgateway_url=gateway, now=NOW))
            cpu.append(_cpu_s() - before)
        store_mb = path.stat().st_size / 1e6
    compute = [r.compute_s for r in reports]
    totals = [r.total_s for r in reports]
    push = [r.push_s for r in reports] if gateway else None
    return ExportBench(
        n_rows=n_rows, generate_s=generate_s, store_mb=store_mb, series=reports[0].series,
        compute_min_s=min(compute), compute_median_s=statistics.median(compute),
        push_min_s=min(push) if push else None,
        push_median_s=statistics.median(push) if push else None,
        total_min_s=min(totals), total_median_s=statistics.median(totals),
        cpu_min_s=min(cpu), cpu_median_s=statistics.median(cpu), repeats=repeats,
        load_average=os.getloadavg()[0],
    )  # fmt: skip


def main() -> int:
    """Print the figures as JSON; exit 1 when the target is missed."""
    n_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    figures = bench_export(n_rows)
    print(json.dumps({**asdict(figures), "met": figures.met}, indent=2))
    return 0 if figures.met else 1


if __name__ == "__main__":
    sys.exit(main())
