"""Production capture: the app side of evalmon's monitoring.

An app records each LLM call as one JSON line (its audit log) and keeps live Prometheus
metrics, without slowing or breaking the call::

    capture = Capture(CaptureConfig(directory=Path("/var/log/evalmon"), app="rag-assistant",
                                    user_id_salt=os.environ["EVALMON_USER_ID_SALT"]))
    claude = capture.wrap_anthropic(anthropic.Anthropic(), route="answer",
                                    prompt="rag_qa@1.0.1")
    gpt = capture.wrap_openai(openai.AsyncOpenAI(), route="answer", prompt="rag_qa@1.0.1")

    with capture.context(user_id=user.id, contexts=docs, request_id=request.id):
        reply = claude.messages.create(model="claude-sonnet-4-5", max_tokens=512, ...)

    # Any other call, recorded by hand:
    with capture.record(model="anthropic:claude-sonnet-4-5", route="answer",
                        prompt="rag_qa@1.0.1", user_id=user.id, contexts=docs,
                        input_messages=messages) as rec:
        text, usage = my_llm_call(messages)
        rec.set_output(text, input_tokens=usage.input, output_tokens=usage.output,
                       finish_reason="stop", model_version=usage.model)

    capture.close()  # at shutdown (also runs at exit): writes what is queued

Metadata of wrapped calls: the SDK's ``create`` gets no extra arguments; user id, retrieved
contexts, prompt ref, route and request id come from the innermost :meth:`Capture.context`
scope (a context variable, so it follows ``await`` and tasks), over the ``route``/``prompt``
given to ``wrap_*``. ``record()``'s own arguments win over the scope.

What is recorded (schema in :mod:`metrics.capture._record`, as :class:`ProductionRecord`):
one record per ``create`` call, success or error. An SDK exception is recorded (type,
message with API keys redacted, HTTP status) and re-raised unchanged. Streaming calls
(``stream=True``) pass through unrecorded and are counted in ``stats().streams_unrecorded``.
A fallback chain in the app produces one record per attempt; give the request an id in
``context(request_id=...)`` to tie them together (``evalmon.record_id`` stays unique).

Files (see :mod:`metrics.capture._files`): ``DIR/<app>-<YYYYMMDD>-<HH>-<writer>-<seq>.jsonl``;
a file is written as ``.jsonl.part``, in whole lines, and renamed to ``.jsonl`` when it
reaches ``max_file_bytes`` (default 64 MB), when the UTC hour changes, and on ``close()``.
Ingest reads ``*.jsonl`` (final), or ``*.jsonl.part`` ignoring a trailing partial line.

Off the request path: ``create`` only snapshots the request, and on return builds the
record and puts it on a bounded queue (``put_nowait``); a daemon thread writes it within
milliseconds. A full queue, an unwritable directory or a bad value drops the record and
counts it (:meth:`Capture.stats`, ``evalmon_capture_dropped_records_total``): recording
never raises into the app's call.

Live metrics (see :mod:`metrics.capture._live`), on ``capture.registry``:
``gen_ai_client_operation_duration_seconds`` and ``gen_ai_client_token_usage`` histograms
with bounded labels, and the drop counter.
"""

from metrics.capture._capture import Capture
from metrics.capture._config import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_QUEUE_SIZE,
    CaptureConfig,
    CaptureStats,
)
from metrics.capture._files import FINAL_SUFFIX, PART_SUFFIX, recover_part_files
from metrics.capture._live import DURATION_BUCKETS, TOKEN_BUCKETS
from metrics.capture._record import (
    DUCKDB_COLUMNS,
    JSON_KEYS,
    RECORD_KEYS,
    SCHEMA_VERSION,
    ChatMessage,
    ProductionRecord,
    hash_user_id,
)
from metrics.capture._recording import Recording
from metrics.capture._scope import CallMetadata

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "DUCKDB_COLUMNS",
    "DURATION_BUCKETS",
    "FINAL_SUFFIX",
    "JSON_KEYS",
    "PART_SUFFIX",
    "RECORD_KEYS",
    "SCHEMA_VERSION",
    "TOKEN_BUCKETS",
    "CallMetadata",
    "Capture",
    "CaptureConfig",
    "CaptureStats",
    "ChatMessage",
    "ProductionRecord",
    "Recording",
    "hash_user_id",
    "recover_part_files",
]
