"""Prompt files: the example prompt, rendering, content hash, and FILE:LINE errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from evals.prompts import load_prompt
from evals.providers import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "prompts" / "example" / "rag_qa.yaml"
INSTRUCTION = (
    "Write a high-quality answer for the given question using only the provided search "
    "results (some of which might be irrelevant)."
)

VALID = """\
name: qa
version: 1.2.3
description: A small prompt.
variables: [question]
messages:
  - role: system
    content: Answer briefly.
  - role: user
    content: |-
      Question: {{ question }}
      Answer:
"""


def write(tmp_path: Path, text: str, name: str = "prompt.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_prompt(path)
    return str(info.value)


def assert_at(message: str, path: Path, line: int) -> None:
    """The message starts with ``FILE:LINE:``."""
    assert message.startswith(f"{path}:{line}: "), message


# -- the example prompt --------------------------------------------------------------------


def test_example_prompt_loads() -> None:
    prompt = load_prompt(EXAMPLE)
    assert prompt.ref == "rag_qa@1.0.1"
    assert list(prompt.partials) == ["partials/documents.j2"]
    assert prompt.spec.variables == ["question", "documents"]
    assert prompt.spec.model == "local:smollm2"
    assert prompt.spec.params.temperature == 0
    assert prompt.spec.params.max_tokens == 100
    assert re.fullmatch(r"[0-9a-f]{16}", prompt.content_hash)


def test_example_renders_the_papers_document_format() -> None:
    """Liu et al. (2023): "Document [i](Title: t) text" from 1, joined by newlines."""
    prompt = load_prompt(EXAMPLE)
    documents = [
        {"title": "T", "text": "text"},
        {"title": "Second title", "text": "More text, with punctuation."},
    ]
    (message,) = prompt.render({"question": "who wrote it", "documents": documents})
    assert message.role == "user"
    assert message.content == (
        f"{INSTRUCTION}\n\n"
        "Document [1](Title: T) text\n"
        "Document [2](Title: Second title) More text, with punctuation.\n\n"
        "Question: who wrote it\n"
        "Answer:"
    )


def test_example_renders_a_single_document_without_stray_blank_lines() -> None:
    prompt = load_prompt(EXAMPLE)
    (message,) = prompt.render({"question": "q", "documents": [{"title": "A", "text": "b"}]})
    assert message.content == f"{INSTRUCTION}\n\nDocument [1](Title: A) b\n\nQuestion: q\nAnswer:"


def test_example_renders_the_demo_datasets_first_case() -> None:
    from evals.datasets import load_cases

    case = load_cases(ROOT / "evals" / "datasets" / "nq_open_oracle_demo.jsonl", limit=1)[0]
    (message,) = load_prompt(EXAMPLE).render(case.inputs)
    doc = case.inputs["documents"][0]
    assert f"\n\nDocument [1](Title: {doc['title']}) {doc['text']}\n\n" in message.content
    assert message.content.endswith(f"Question: {case.inputs['question']}\nAnswer:")


def test_render_keeps_message_order_and_roles(tmp_path: Path) -> None:
    prompt = load_prompt(write(tmp_path, VALID))
    messages = prompt.render({"question": "why?", "unused_extra": 1})
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Answer briefly."),
        ("user", "Question: why?\nAnswer:"),
    ]


def test_params_reach_the_providers(tmp_path: Path) -> None:
    text = VALID.replace("variables:", "params:\n  temperature: 0.5\n  stop: [END]\nvariables:")
    params = load_prompt(write(tmp_path, text)).spec.params.to_generate_params()
    assert params.temperature == 0.5
    assert params.stop == ("END",)


# -- content hash --------------------------------------------------------------------------


def test_content_hash_changes_with_a_message(tmp_path: Path) -> None:
    base = load_prompt(write(tmp_path, VALID, "a.yaml")).content_hash
    changed = load_prompt(write(tmp_path, VALID.replace("briefly", "at length"), "b.yaml"))
    assert changed.content_hash != base


def test_content_hash_changes_with_params_and_model(tmp_path: Path) -> None:
    base = load_prompt(write(tmp_path, VALID, "a.yaml")).content_hash
    hot = VALID.replace("variables:", "params:\n  temperature: 1.0\nvariables:")
    model = VALID.replace("variables:", "model: openai:gpt-4o\nvariables:")
    assert load_prompt(write(tmp_path, hot, "b.yaml")).content_hash != base
    assert load_prompt(write(tmp_path, model, "c.yaml")).content_hash != base


def test_content_hash_ignores_description_version_and_layout(tmp_path: Path) -> None:
    base = load_prompt(write(tmp_path, VALID, "a.yaml")).content_hash
    described = VALID.replace("A small prompt.", "Reworded description.")
    bumped = VALID.replace("1.2.3", "1.2.4")
    commented = "# a comment\n" + VALID
    for index, text in enumerate((described, bumped, commented)):
        assert load_prompt(write(tmp_path, text, f"x{index}.yaml")).content_hash == base


# -- errors name the file and the line -----------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = error_of(path)
    assert str(path) in message
    assert "not found" in message


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: qa
        version: 1.0.0
        variables: [question
        messages: []
        """,
    )
    message = error_of(path)
    assert_at(message, path, 4)
    assert "invalid YAML" in message


def test_unknown_key_is_rejected_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("variables:", "temprature: 0\nvariables:"))
    message = error_of(path)
    assert_at(message, path, 4)
    assert "temprature" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_key_inside_a_message(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("Answer briefly.", "Answer briefly.\n    text: Hi."))
    message = error_of(path)
    assert_at(message, path, 8)
    assert "messages.0.text" in message


@pytest.mark.parametrize("version", ['"1.0"', "1.0", "v1.0.0", "1.0.0-beta"])
def test_version_must_be_semver(tmp_path: Path, version: str) -> None:
    path = write(tmp_path, VALID.replace("version: 1.2.3", f"version: {version}"))
    message = error_of(path)
    assert_at(message, path, 2)
    assert "version" in message


def test_bad_role(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("role: system", "role: robot"))
    message = error_of(path)
    assert_at(message, path, 6)
    assert "messages.0.role" in message


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("variables: [question]\n", ""))
    message = error_of(path)
    assert_at(message, path, 1)
    assert "variables" in message
    assert "Field required" in message


def test_undeclared_variable_in_a_template(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace("      Answer:", "      Context: {{ context }}\n      Answer:"),
    )
    message = error_of(path)
    # Line 11 of the file is the template's second line, where {{ context }} is.
    assert_at(message, path, 11)
    assert "undeclared" in message
    assert "context" in message
    assert "messages[1]" in message


def test_declared_but_unused_variable(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace("variables: [question]", "variables:\n  - question\n  - documents"),
    )
    message = error_of(path)
    assert_at(message, path, 6)  # the "- documents" item
    assert "never used" in message
    assert "documents" in message


def test_jinja_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("{{ question }}", "{{ question }"))
    message = error_of(path)
    assert_at(message, path, 10)  # the template's first line
    assert "messages[1]" in message


def test_jinja_syntax_error_on_a_later_template_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace("      Answer:", "      Answer: {{ question | }}"),
    )
    message = error_of(path)
    assert_at(message, path, 11)  # the template's second line


def test_missing_input_at_render_time(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    prompt = load_prompt(path)
    with pytest.raises(ConfigError) as info:
        prompt.render({"other": "x"})
    message = str(info.value)
    assert_at(message, path, 4)  # where the variable is declared
    assert "missing inputs" in message
    assert "question" in message
    assert "qa@1.2.3" in message


def test_render_failure_on_bad_input_is_a_config_error(tmp_path: Path) -> None:
    """A document without a title must not escape as a Jinja traceback."""
    prompt = load_prompt(EXAMPLE)
    with pytest.raises(ConfigError) as info:
        prompt.render({"question": "q", "documents": [{"text": "no title"}]})
    message = str(info.value)
    assert message.startswith(f"{EXAMPLE}:")
    assert "title" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.encode() + b"# caf\xe9\n")
    message = error_of(path)
    assert_at(message, path, VALID.count("\n") + 1)
    assert "UTF-8" in message


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    message = error_of(path)
    assert_at(message, path, 1)
