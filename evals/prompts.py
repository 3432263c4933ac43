"""Prompt files: YAML with a name, a semver version, parameters and Jinja2 message templates.

Templates may ``{% include "partials/NAME.j2" %}`` shared partials, found under the prompts
root (the nearest ancestor directory called ``prompts``, else the prompt's own directory).
A partial is part of every prompt that includes it: its text goes into the content hash, and
the variables it uses must be declared by the including prompt.
"""

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
from evals.providers import ConfigError, GenerateParams, Message, parse_model_ref

PROMPTS_DIR = "prompts"


def prompts_root(path: Path) -> Path:
    """The directory partials are included from: the nearest ``prompts`` ancestor of ``path``."""
    for parent in path.resolve().parents:
        if parent.name == PROMPTS_DIR:
            return parent
    return path.resolve().parent


def _environment(root: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False, autoescape=False,
    )  # fmt: skip


def _model_problem(model: str) -> str | None:
    """Why ``model`` is not a model string evalmon knows, or None when it is fine."""
    try:
        ref = parse_model_ref(model)
        if ref.provider == "fallback":
            for part in ref.model.split(","):
                parse_model_ref(part)
    except ConfigError as exc:
        return str(exc)
    return None


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

    model_config = ConfigDict(extra="forbid", title="evalmon prompt")

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

    def __init__(self, spec: PromptFile, path: Path, root: Path | None = None) -> None:
        """Compile the templates and partials; check the model and the declared variables.

        Args:
            spec: The parsed file.
            path: Where it was read from (for errors).
            root: Directory partials are included from (default: :func:`prompts_root`).

        Raises:
            ConfigError: ``FILE:LINE`` of a template syntax error, a missing partial, a
                template using an undeclared variable, a declared variable no template uses,
                or an unknown model string.
        """
        self.spec = spec
        self.path = path
        self.root = root or prompts_root(path)
        env = _environment(self.root)
        if spec.model is not None and (problem := _model_problem(spec.model)):
            raise ConfigError(f"{self.where(('model',))}: model: {problem}")
        self._templates = []
        self.partials: dict[str, str] = {}
        declared = set(spec.variables)
        used: set[str] = set()
        for index, message in enumerate(spec.messages):
            loc = ("messages", index, "content")
            try:
                ast = env.parse(message.content)
                self._templates.append(env.from_string(message.content))
            except jinja2.TemplateSyntaxError as exc:
                where = self.where(loc, exc.lineno)
                raise ConfigError(f"{where}: messages[{index}].content: {exc.message}") from None
            names = jinja2.meta.find_undeclared_variables(ast)
            used |= names
            if undeclared := sorted(names - declared):
                lineno = min(
                    (n.lineno for n in ast.find_all(jinja2.nodes.Name) if n.name in undeclared),
                    default=1,
                )
                raise ConfigError(
                    f"{self.where(loc, lineno)}: messages[{index}].content uses undeclared "
                    f"variables: {', '.join(undeclared)} (add them to variables)"
                )
            used |= self._check_partials(env, ast, declared, self.where(loc))
        if unused := [name for name in spec.variables if name not in used]:
            where = self.where(("variables", spec.variables.index(unused[0])))
            raise ConfigError(f"{where}: declared variables never used: {', '.join(unused)}")

    def _check_partials(
        self, env: jinja2.Environment, ast: jinja2.nodes.Template, declared: set[str], where: str
    ) -> set[str]:
        """Load every partial ``ast`` includes (recursively); return the variables they use."""
        used: set[str] = set()
        for name in jinja2.meta.find_referenced_templates(ast):
            if name is None:
                raise ConfigError(f"{where}: include a partial by a literal name, not a variable")
            if name in self.partials:
                continue
            partial = self.root / name
            try:
                source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
                partial_ast = env.parse(source, name=name)
            except jinja2.TemplateNotFound:
                raise ConfigError(f"{where}: included partial {name!r} not found under "
                                  f"{self.root}") from None  # fmt: skip
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(f"{partial}:{exc.lineno}: {exc.message}") from None
            self.partials[name] = source
            names = jinja2.meta.find_undeclared_variables(partial_ast)
            if undeclared := sorted(names - declared):
                raise ConfigError(
                    f"{where}: partial {partial} uses undeclared variables: "
                    f"{', '.join(undeclared)} (add them to variables)"
                )
            used |= names | self._check_partials(env, partial_ast, declared, where)
        return used

    def where(self, loc: tuple[int | str, ...], text_line: int = 1) -> str:
        """``FILE:LINE`` of ``loc`` in the prompt file (``FILE`` alone when unknown)."""
        line = source_line(self.path, loc, text_line)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.spec.name}@{self.spec.version}"

    @property
    def content_hash(self) -> str:
        """Short hash of everything that changes behaviour: messages, partials, model, params."""
        payload = self.spec.model_dump(exclude={"description", "suites", "version"})
        if self.partials:
            payload["partials"] = dict(sorted(self.partials.items()))
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
            where = self.where(("variables", self.spec.variables.index(missing[0])))
            raise ConfigError(f"{where}: missing inputs for {self.ref}: {', '.join(missing)}")
        messages = []
        for index, (m, t) in enumerate(zip(self.spec.messages, self._templates, strict=True)):
            try:
                content = t.render(**inputs).strip()
            except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as e:
                where = self.where(("messages", index, "content"))
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


def prompt_json_schema() -> dict[str, Any]:
    """The JSON Schema of prompt files, for editors (committed as ``prompt.schema.json``)."""
    schema = PromptFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
