"""A loopback fake LLM server that speaks the OpenAI and Anthropic wire formats.

The real ``openai`` and ``anthropic`` SDKs talk to it unmodified. It serves scripted
replies, a content-dependent responder or a deterministic echo, and injects faults
(429 with retry-after, 5xx, hangs, dropped connections, malformed JSON, rate limits).

In-process (tests)::

    with FakeLLMServer() as srv:
        srv.enqueue("Paris")
        client = openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key="sk-test")

In a child process (benchmarks)::

    with FakeLLMServerProcess(latency_s=0.1) as srv:
        ...
        srv.stats()

Faults: ``srv.enqueue_fault("429", retry_after_s=0.05)`` (one-off, FIFO with the scripted
replies) or ``srv.set_faults(p_500=0.1, seed=1)`` (seeded, per request); see
:class:`FaultConfig` and :class:`Fault`. Fixtures: ``tests.fakeserver.pytest_plugin``.
Responder helpers: ``tests.fakeserver.responders``.
"""

from tests.fakeserver._faults import Fault, FaultConfig, Reply, TokenBucket
from tests.fakeserver._process import FakeLLMServerProcess
from tests.fakeserver._server import FakeLLMServer
from tests.fakeserver._state import RecordedRequest, Responder, ResponderResult

__all__ = [
    "FakeLLMServer",
    "FakeLLMServerProcess",
    "Fault",
    "FaultConfig",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ResponderResult",
    "TokenBucket",
]
