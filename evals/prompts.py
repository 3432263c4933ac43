"""Prompt files: YAML with a name, a semver version, parameters and Jinja2 message templates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
import jinja2.nodes
from pydantic import BaseModel, ConfigDict, Field

from evals._yaml import load_yaml_model, source_line
from evals.providers import ConfigError, GenerateParams, Message

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


class PromptParams(BaseModel):
    """Generation parameters declared in a prompt file."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=256, ge=1)
    json_output: bool = False
    json_schema: dict[str, Any] | None = None
    logprobs: bool = False
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None

    def to_generate_params(self) -> GenerateParams:
        """Return the parameters the providers take."""
        return GenerateParams(
            temperature=self.temperature, max_tokens=self.max_tokens,
            json_output=self.json_output, json_schema=self.json_schema,
            logprobs=self.logprobs, stop=tuple(self.stop), seed=self.seed,
        )  # fmt: skip


class MessageTemplate(BaseModel):
    """One chat message whose content is a Jinja2 template."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class PromptFile(BaseModel):
    """The contents of a prompt YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-/]*$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    model: str | None = None
    params: PromptParams = PromptParams()
    variables: list[str]
    messages: list[MessageTemplate] = Field(min_length=1)
    suites: list[str] = Field(default_factory=list)


class Prompt:
    """A loaded, checked prompt: render it with inputs to get chat messages."""

    def __init__(self, spec: PromptFile, path: Path) -> None:
        """Compile the templates and check the declared variables against the used ones.

        Raises:
            ConfigError: ``FILE:LINE`` of a template syntax error, of a template using an
                undeclared variable, or of a declared variable no template uses.
        """
        self.spec = spec
        self.path = path
        self._templates = []
        asts = []
        for index, message in enumerate(spec.messages):
            try:
                asts.append(_ENV.parse(message.content))
                self._templates.append(_ENV.from_string(message.content))
            except jinja2.TemplateSyntaxError as exc:
                where = self._where(("messages", index, "content"), exc.lineno)
                raise ConfigError(f"{where}: messages[{index}].content: {exc.message}") from None
        declared = set(spec.variables)
        used: set[str] = set()
        for index, ast in enumerate(asts):
            names = jinja2.meta.find_undeclared_variables(ast)
            used |= names
            if undeclared := sorted(names - declared):
                lineno = min(
                    (n.lineno for n in ast.find_all(jinja2.nodes.Name) if n.name in undeclared),
                    default=1,
                )
                where = self._where(("messages", index, "content"), lineno)
                raise ConfigError(
                    f"{where}: messages[{index}].content uses undeclared variables: "
                    f"{', '.join(undeclared)} (add them to variables)"
                )
        if unused := [name for name in spec.variables if name not in used]:
            where = self._where(("variables", spec.variables.index(unused[0])))
            raise ConfigError(f"{where}: declared variables never used: {', '.join(unused)}")

    def _where(self, loc: tuple[int | str, ...], text_line: int = 1) -> str:
        """``FILE:LINE`` of ``loc`` in the prompt file (``FILE`` alone when unknown)."""
        line = source_line(self.path, loc, text_line)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.spec.name}@{self.spec.version}"

    @property
    def content_hash(self) -> str:
        """Short hash of everything that changes behaviour (messages, model, parameters)."""
        payload = self.spec.model_dump(exclude={"description", "suites", "version"})
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def render(self, inputs: dict[str, Any]) -> tuple[Message, ...]:
        """Render the messages for one case (extra inputs are ignored).

        Raises:
            ConfigError: ``FILE:LINE``: an input is missing, or the templates fail on the
                inputs given (a document without a ``title``, say).
        """
        missing = [name for name in self.spec.variables if name not in inputs]
        if missing:
            where = self._where(("variables", self.spec.variables.index(missing[0])))
            raise ConfigError(f"{where}: missing inputs for {self.ref}: {', '.join(missing)}")
        messages = []
        for index, (m, t) in enumerate(zip(self.spec.messages, self._templates, strict=True)):
            try:
                content = t.render(**inputs).strip()
            except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as e:
                where = self._where(("messages", index, "content"))
                raise ConfigError(
                    f"{where}: messages[{index}].content cannot be rendered with these inputs: {e}"
                ) from None
            messages.append(Message(role=m.role, content=content))
        return tuple(messages)


def load_prompt(path: Path) -> Prompt:
    """Load and check a prompt file.

    Raises:
        ConfigError: ``FILE:LINE`` for malformed YAML or fields, and template problems.
    """
    return Prompt(load_yaml_model(path, PromptFile), path)
