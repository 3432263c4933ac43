"""evalmon's configuration: ``evalmon.toml`` (or ``[tool.evalmon]``) plus environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from evals.config import ProvidersConfig, RunnerConfig
from evals.files import read_text
from evals.providers import DEFAULT_MODEL, ConfigError
from flows.export_config import ExportSettings
from flows.judge_config import JudgeSettings
from metrics.prices import ModelPrice, PriceTable

CONFIG_FILE = "evalmon.toml"
ENV_OVERRIDES = {
    "EVALMON_STORE": "store",
    "EVALMON_MODEL": "default_model",
}


def _check_price_key(key: str) -> str:
    provider, _, model = key.partition(":")
    if not provider or not model:
        raise ValueError(f"price keys look like 'provider:model' (openai:gpt-4o), got {key!r}")
    return key


class EvalmonConfig(BaseModel):
    """Everything configurable, validated; unknown keys are errors.

    Attributes:
        store: The DuckDB file.
        default_model: Model string used when neither the command nor the prompt names one.
        runner: Concurrency, rate limits, timeouts, retries.
        providers: API key variables, base URLs and timeouts per provider; local model settings.
        prices: Price overrides and additions, keyed ``provider:model``.
        max_error_share: Share of errored calls above which a run counts as failed.
        judge: The production judge: sampling, rubrics, judges, redaction, review.
        export: The metrics export: Pushgateway or text file, retries, store reads.
        source: The file the configuration was read from, if any (not a setting).
    """

    model_config = ConfigDict(extra="forbid")

    store: Path = Path("evalmon.duckdb")
    default_model: str = DEFAULT_MODEL
    runner: RunnerConfig = RunnerConfig()
    providers: ProvidersConfig = ProvidersConfig()
    prices: dict[Annotated[str, AfterValidator(_check_price_key)], ModelPrice] = Field(
        default_factory=dict
    )
    max_error_share: float = Field(default=0.05, ge=0, le=1)
    judge: JudgeSettings = JudgeSettings()
    export: ExportSettings = ExportSettings()
    source: Path | None = Field(default=None, exclude=True)

    def price_table(self) -> PriceTable:
        """The built-in price table with this configuration's overrides."""
        return PriceTable().with_overrides(self.prices)

    def export_settings(self) -> ExportSettings:
        """``[export]``, pricing with ``[prices]`` under its own ``[export.prices]``."""
        return self.export.model_copy(update={"prices": {**self.prices, **self.export.prices}})


def _find_line(text: str, loc: tuple[int | str, ...], table_prefix: tuple[str, ...]) -> int:
    """Best-effort 1-based line of the setting at ``loc`` in TOML ``text``."""
    *tables, key = [str(p) for p in (*table_prefix, *loc)] or ["?"]
    header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(t) for t in tables) + r"\s*\]")
    key_re = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
    in_table = not tables
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("["):
            in_table = bool(tables) and bool(header.match(line))
            if in_table and key_re.match(line) is None and str(loc[-1]) in line:
                return lineno
        elif in_table and key_re.match(line):
            return lineno
    for lineno, line in enumerate(text.splitlines(), start=1):
        if str(loc[-1]) in line:
            return lineno
    return 1


_TOML_WHERE = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


def _read_file(path: Path) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's error has no line attribute; its message ends "(at line L, column C)".
        message = str(exc)
        match = _TOML_WHERE.search(message)
        if match is None:
            raise ConfigError(f"{path}: invalid TOML: {message}") from None
        at = match.group(1) or str(max(text.count("\n") + (not text.endswith("\n")), 1))
        column = f" (column {match.group(2)})" if match.group(2) else ""
        raise ConfigError(
            f"{path}:{at}: invalid TOML: {message[: match.start()]}{column}"
        ) from None
    if path.name == "pyproject.toml":
        section = data.get("tool", {}).get("evalmon", {})
        return dict(section), text, ("tool", "evalmon")
    return data, text, ()


def find_config_file(start: Path) -> Path | None:
    """``evalmon.toml`` in ``start``, else a ``pyproject.toml`` there with ``[tool.evalmon]``."""
    candidate = start / CONFIG_FILE
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file() and "[tool.evalmon" in pyproject.read_text(encoding="utf-8"):
        return pyproject
    return None


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> EvalmonConfig:
    """Load the configuration.

    Args:
        path: Config file; default ``$EVALMON_CONFIG``, then ``./evalmon.toml``, then
            ``./pyproject.toml``'s ``[tool.evalmon]``, else built-in defaults.
        env: Environment (default ``os.environ``); ``EVALMON_STORE`` and ``EVALMON_MODEL``
            override the file.

    Raises:
        ConfigError: ``FILE:LINE: setting: problem`` for malformed or invalid settings.
    """
    env = os.environ if env is None else env
    if path is None and env.get("EVALMON_CONFIG"):
        path = Path(env["EVALMON_CONFIG"])
    if path is None:
        path = find_config_file(Path.cwd())
    data: dict[str, Any] = {}
    text = ""
    prefix: tuple[str, ...] = ()
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        data, text, prefix = _read_file(path)
    for var, key in ENV_OVERRIDES.items():
        if env.get(var):
            data[key] = env[var]
    try:
        config = EvalmonConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "[key]")  # a bad dict key: point at it
        where = ".".join(str(p) for p in loc)
        if path is None:
            raise ConfigError(f"environment: {where}: {first['msg']}") from None
        line = _find_line(text, loc, prefix)
        raise ConfigError(f"{path}:{line}: {where}: {first['msg']}") from None
    return config.model_copy(update={"source": path})
