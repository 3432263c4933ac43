"""The example app: RAG question answering over the NQ-Open passages, captured for evalmon.

This is the kind of app evalmon monitors, small enough to read in one go. For a question it

1. retrieves the top passages by BM25 (``bm25s``) from the gold Wikipedia passages of the
   NQ-Open oracle file of Liu et al. (2023) (:func:`evals.position.load_nq_oracle`);
2. renders the versioned prompt ``prompts/example/rag_qa.yaml``;
3. calls the model through the real OpenAI SDK, pointed at any OpenAI-compatible endpoint
   (the embedded llama.cpp server for ``local:smollm2``), wrapped by
   :class:`metrics.capture.Capture`, which writes every call to the capture files that
   ``evalmon ingest`` loads.

``python -m flows.example_app generate`` calls it on a seeded set of questions to make a
traffic sample (see :mod:`flows.example_traffic`)::

    python -m flows.example_app generate --model local:smollm2 --n 300 --out DIR
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import openai

from evals.position import Document, load_nq_oracle
from evals.prompts import Prompt, load_prompt
from evals.providers import ConfigError, parse_model_ref
from flows.config import EvalmonConfig
from metrics.capture import Capture

ROOT = Path(__file__).resolve().parents[1]
#: The example app's prompt.
PROMPT_FILE = ROOT / "prompts" / "example" / "rag_qa.yaml"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An OpenAI-compatible endpoint the app calls.

    Attributes:
        base_url: ``http://host:port/v1``.
        model: The model name the endpoint answers to.
        provider: ``gen_ai.provider.name`` recorded by the capture (``local``, ``openai`` ...).
        api_key: The key the SDK sends (``local`` for servers that need none).
    """

    base_url: str
    model: str
    provider: str
    api_key: str


@contextmanager
def serve(model_ref: str, config: EvalmonConfig | None = None) -> Iterator[Endpoint]:
    """The endpoint of an evalmon model string; ``local:NAME`` starts its server meanwhile.

    Args:
        model_ref: ``local:smollm2``, ``openai:MODEL`` or ``openai-compatible:NAME@URL``.
        config: Provider settings (local ``n_ctx``/``n_threads``, OpenAI key variable).

    Raises:
        ConfigError: Another provider, a missing API key, or a local server that did not
            start; the message says what to do.
    """
    config = config or EvalmonConfig()
    ref = parse_model_ref(model_ref)
    if ref.provider == "openai-compatible":
        assert ref.base_url is not None
        key = os.environ.get(config.providers.openai_compatible.api_key_env) or "not-needed"
        yield Endpoint(ref.base_url, ref.model, "openai-compatible", key)
    elif ref.provider == "openai":
        settings = config.providers.openai
        key = os.environ.get(settings.api_key_env, "")
        if not key:
            raise ConfigError(f"openai needs an API key: set {settings.api_key_env}")
        url = settings.base_url or "https://api.openai.com/v1"
        yield Endpoint(url, ref.model, "openai", key)
    elif ref.provider == "local":
        from evals.providers._local import LlamaServer, find_model_file

        local = config.providers.local
        server = LlamaServer(
            find_model_file(ref.model), alias=ref.model, n_ctx=local.n_ctx,
            n_threads=local.n_threads,
        )  # fmt: skip
        server.start()
        try:
            yield Endpoint(server.base_url, ref.model, "local", "local")
        finally:
            server.stop()
    else:
        raise ConfigError(
            f"the example app speaks the OpenAI chat API: use local:smollm2, openai:MODEL or "
            f"openai-compatible:NAME@URL, not {model_ref!r}"
        )


class Retriever:
    """BM25 over passages (title and text), as the reference app's sparse retriever.

    Args:
        passages: The corpus; by default the 2,655 gold passages of the NQ-Open oracle file.
    """

    def __init__(self, passages: Sequence[Document] | None = None) -> None:
        """Index the passages (about a second for the NQ-Open pool)."""
        if passages is None:
            unique = {(ex.gold.title, ex.gold.text): ex.gold for ex in load_nq_oracle()}
            passages = list(unique.values())
        self.passages = list(passages)
        self._bm25 = bm25s.BM25()
        corpus = bm25s.tokenize(
            [f"{d.title} {d.text}" for d in self.passages], stopwords="en", show_progress=False
        )
        self._bm25.index(corpus, show_progress=False)

    def search(self, question: str, k: int) -> list[Document]:
        """The ``k`` passages most relevant to ``question``, best first."""
        query = bm25s.tokenize([question], stopwords="en", show_progress=False)
        k = min(k, len(self.passages))
        ids, _ = self._bm25.retrieve(query, k=k, show_progress=False, n_threads=1)
        return [self.passages[int(i)] for i in ids[0]]


def truncate(text: str, max_words: int | None) -> str:
    """The first ``max_words`` words of ``text`` (all of it when None), with ``...`` if cut."""
    words = text.split()
    if max_words is None or len(words) <= max_words:
        return text
    return " ".join(words[:max_words]) + " ..."


@dataclass(frozen=True, slots=True)
class Answer:
    """One answered request.

    Attributes:
        text: The model's answer, or None when the call failed.
        documents: The passages given to the model, in order.
        prompt_ref: ``name@version`` recorded for the call.
        error: The SDK error's type and message when the call failed.
    """

    text: str | None
    documents: tuple[Document, ...]
    prompt_ref: str
    error: str | None = None


class RagApp:
    """The example app: retrieve, render ``rag_qa``, ask the model, all captured.

    Args:
        endpoint: Where the model is.
        capture: Records every call (the app's audit log).
        retriever: BM25 retriever (default: over the NQ-Open pool).
        prompt: The answer prompt (default: ``prompts/example/rag_qa.yaml``).
        top_k: Passages retrieved per question (the reference system: 5).
        max_words: Truncate each passage to this many words (None: whole passages).
        timeout_s: HTTP timeout per call.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        capture: Capture,
        *,
        retriever: Retriever | None = None,
        prompt: Prompt | None = None,
        top_k: int = 5,
        max_words: int | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        """Load the prompt, index the passages and wrap an OpenAI SDK client."""
        self.endpoint = endpoint
        self.capture = capture
        self.prompt = prompt or load_prompt(PROMPT_FILE)
        self.retriever = retriever or Retriever()
        self.top_k = top_k
        self.max_words = max_words
        client = openai.OpenAI(
            base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=timeout_s, max_retries=2
        )
        self.client = capture.wrap_openai(
            client, route="answer", prompt=self.prompt.ref, provider=endpoint.provider
        )

    def answer(
        self,
        question: str,
        *,
        user_id: str | None = None,
        request_id: str | None = None,
        prompt_ref: str | None = None,
    ) -> Answer:
        """Answer one question; a failed call is recorded by the capture and returned.

        Args:
            question: The user's question.
            user_id: Who asks (only its salted hash is recorded).
            request_id: The request's id (default: a uuid4 from the capture).
            prompt_ref: Record another ``name@version`` than the prompt file's (the traffic
                generator's rollout of a version whose rendering is the same).
        """
        found = self.retriever.search(question, self.top_k)
        documents = tuple(Document(d.title, truncate(d.text, self.max_words)) for d in found)
        inputs: dict[str, Any] = {
            "question": question,
            "documents": [{"title": d.title, "text": d.text} for d in documents],
        }
        messages = [m.as_dict() for m in self.prompt.render(inputs)]
        params = self.prompt.spec.params
        ref = prompt_ref or self.prompt.ref
        contexts = [f"{d.title}: {d.text}" for d in documents]
        with self.capture.context(
            user_id=user_id, contexts=contexts, request_id=request_id, prompt=ref
        ):
            try:
                reply = self.client.chat.completions.create(
                    model=self.endpoint.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=params.temperature,
                    max_tokens=params.max_tokens,
                )
            except openai.APIError as exc:
                return Answer(None, documents, ref, f"{type(exc).__name__}: {exc}")
        text = reply.choices[0].message.content if reply.choices else None
        return Answer(text or "", documents, ref)


if __name__ == "__main__":  # pragma: no cover - the generator's command line
    from flows.example_traffic import main

    main()
