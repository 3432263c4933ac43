"""The paper's prompts, rendered exactly as its code renders them."""

from __future__ import annotations

from collections.abc import Sequence

from evals.position._data import Document, template


def format_documents(documents: Sequence[Document]) -> str:
    r"""``Document [i](Title: {title}) {text}``, numbered from 1, joined with ``\n``."""
    return "\n".join(
        f"Document [{i}](Title: {doc.title}) {doc.text}" for i, doc in enumerate(documents, 1)
    )


def qa_prompt(
    question: str,
    documents: Sequence[Document],
    *,
    query_aware: bool = False,
    mention_random_ordering: bool = False,
) -> str:
    """The multi-document QA prompt.

    Args:
        question: The question.
        documents: The context, in the order it is shown.
        query_aware: Put the question before the documents as well (query-aware
            contextualization).
        mention_random_ordering: Say that the results are ordered randomly.

    Raises:
        ValueError: No documents, or both variants at once (the paper has no such prompt).
    """
    if not documents:
        raise ValueError("a QA prompt needs at least one document (use closedbook_prompt)")
    if query_aware and mention_random_ordering:
        raise ValueError("query-aware contextualization and random-order mention don't combine")
    name = "qa"
    if query_aware:
        name = "qa_with_query_aware_contextualization"
    elif mention_random_ordering:
        name = "qa_ordered_randomly"
    return template(name).format(question=question, search_results=format_documents(documents))


def closedbook_prompt(question: str) -> str:
    """The closed-book prompt: the question alone."""
    return template("closedbook_qa").format(question=question)


def format_kv_records(records: Sequence[tuple[str, str]]) -> str:
    """The records as the paper writes them: one ``"key": "value"`` per line, in braces."""
    last = len(records) - 1
    return "".join(
        ("{" if i == 0 else " ") + f'"{key}": "{value}"' + ("}" if i == last else ",\n")
        for i, (key, value) in enumerate(records)
    )


def kv_prompt(records: Sequence[tuple[str, str]], key: str, *, query_aware: bool = False) -> str:
    """The key-value retrieval prompt.

    Raises:
        ValueError: Fewer than two records, duplicate keys, or ``key`` not among them.
    """
    keys = [k for k, _ in records]
    if len(records) < 2 or len(set(keys)) != len(keys) or key not in keys:
        raise ValueError("KV records need two or more unique keys, including the asked one")
    name = "kv_retrieval_with_query_aware_contextualization" if query_aware else "kv_retrieval"
    return template(name).format(formatted_kv_records=format_kv_records(records), key=key)
