"""evalmon's configuration: files, [tool.evalmon], environment overrides and FILE:LINE errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evals.config import RunnerConfig
from evals.providers import DEFAULT_MODEL, ConfigError
from flows.config import EvalmonConfig, load_config


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    return str(info.value)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The loader looks in the current directory: make it an empty temporary one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_without_a_file(in_tmp: Path) -> None:
    config = load_config(env={})
    assert config.source is None
    assert config.store == Path("evalmon.duckdb")
    assert config.default_model == DEFAULT_MODEL
    assert config.runner == RunnerConfig()
    assert config.providers.openai.api_key_env == "OPENAI_API_KEY"
    assert config.prices == {}
    assert config == EvalmonConfig()


def test_evalmon_toml_in_the_cwd(in_tmp: Path) -> None:
    write(
        in_tmp,
        "evalmon.toml",
        """\
        store = "runs/evals.duckdb"
        default_model = "openai:gpt-4o-mini"
        max_error_share = 0.2

        [runner]
        concurrency = 3
        requests_per_minute = 60

        [providers.openai]
        api_key_env = "MY_OPENAI_KEY"
        base_url = "http://127.0.0.1:8000/v1"

        [providers.openai-compatible]
        api_key_env = "VLLM_KEY"
        """,
    )
    config = load_config(env={})
    assert config.source is not None and config.source.samefile(in_tmp / "evalmon.toml")
    assert config.store == Path("runs/evals.duckdb")
    assert config.default_model == "openai:gpt-4o-mini"
    assert config.max_error_share == 0.2
    assert config.runner.concurrency == 3
    assert config.runner.requests_per_minute == 60
    assert config.runner.max_retries == RunnerConfig().max_retries  # untouched default
    assert config.providers.openai.api_key_env == "MY_OPENAI_KEY"
    assert config.providers.openai.base_url == "http://127.0.0.1:8000/v1"
    assert config.providers.openai_compatible.api_key_env == "VLLM_KEY"


def test_explicit_path_and_evalmon_config_variable(in_tmp: Path) -> None:
    sub = in_tmp / "conf"
    sub.mkdir()
    path = write(sub, "other.toml", 'store = "explicit.duckdb"\n')
    assert load_config(path, env={}).store == Path("explicit.duckdb")
    assert load_config(env={"EVALMON_CONFIG": str(path)}).store == Path("explicit.duckdb")
    assert load_config(env={"EVALMON_CONFIG": str(path)}).source == path


def test_missing_explicit_file(in_tmp: Path) -> None:
    message = error_of(in_tmp / "absent.toml")
    assert "absent.toml" in message
    assert "not found" in message


def test_tool_evalmon_in_pyproject(in_tmp: Path) -> None:
    write(
        in_tmp,
        "pyproject.toml",
        """\
        [project]
        name = "someapp"
        version = "0.1.0"

        [tool.evalmon]
        default_model = "anthropic:claude-haiku-4-5"

        [tool.evalmon.runner]
        concurrency = 2
        """,
    )
    config = load_config(env={})
    assert config.source is not None and config.source.name == "pyproject.toml"
    assert config.default_model == "anthropic:claude-haiku-4-5"
    assert config.runner.concurrency == 2


def test_pyproject_without_tool_evalmon_is_ignored(in_tmp: Path) -> None:
    write(in_tmp, "pyproject.toml", '[project]\nname = "x"\nversion = "1"\n')
    config = load_config(env={})
    assert config.source is None
    assert config == EvalmonConfig()


def test_evalmon_toml_wins_over_pyproject(in_tmp: Path) -> None:
    write(in_tmp, "pyproject.toml", '[tool.evalmon]\nstore = "from-pyproject.duckdb"\n')
    write(in_tmp, "evalmon.toml", 'store = "from-evalmon.duckdb"\n')
    assert load_config(env={}).store == Path("from-evalmon.duckdb")


def test_environment_overrides_the_file(in_tmp: Path) -> None:
    write(in_tmp, "evalmon.toml", 'store = "file.duckdb"\ndefault_model = "openai:gpt-4o"\n')
    env = {"EVALMON_STORE": "/data/env.duckdb", "EVALMON_MODEL": "local:smollm2"}
    config = load_config(env=env)
    assert config.store == Path("/data/env.duckdb")
    assert config.default_model == "local:smollm2"


def test_environment_overrides_without_a_file(in_tmp: Path) -> None:
    config = load_config(env={"EVALMON_MODEL": "openai:gpt-4.1"})
    assert config.default_model == "openai:gpt-4.1"
    assert config.store == Path("evalmon.duckdb")


def test_empty_environment_values_do_not_override(in_tmp: Path) -> None:
    write(in_tmp, "evalmon.toml", 'store = "file.duckdb"\n')
    assert load_config(env={"EVALMON_STORE": ""}).store == Path("file.duckdb")


def test_os_environ_is_the_default(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALMON_STORE", "from-os.duckdb")
    assert load_config().store == Path("from-os.duckdb")


# -- errors name the file and the line -----------------------------------------------------


def test_malformed_toml_names_file_and_line(in_tmp: Path) -> None:
    path = write(in_tmp, "evalmon.toml", 'store = "x.duckdb"\n\n[runner\nconcurrency = 4\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: invalid TOML"), message


def test_malformed_toml_at_end_of_document(in_tmp: Path) -> None:
    path = write(in_tmp, "evalmon.toml", 'store = "x.duckdb"\ndefault_model = "unterminated')
    message = error_of(path)
    assert message.startswith(f"{path}:2: invalid TOML"), message


def test_malformed_pyproject_names_the_pyproject_line(in_tmp: Path) -> None:
    write(in_tmp, "pyproject.toml", '[project]\nname = "x"\n[tool.evalmon]\nstore = = 1\n')
    message = error_of()
    assert message.startswith(f"{in_tmp / 'pyproject.toml'}:4: invalid TOML"), message


def test_unknown_top_level_key(in_tmp: Path) -> None:
    path = write(in_tmp, "evalmon.toml", '# settings\nstore = "x.duckdb"\nstroe = "typo.duckdb"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: stroe: "), message
    assert "Extra inputs are not permitted" in message


def test_unknown_key_in_a_table_points_at_its_line(in_tmp: Path) -> None:
    path = write(
        in_tmp,
        "evalmon.toml",
        """\
        store = "x.duckdb"

        [providers.openai]
        timeout_s = 30

        [runner]
        timeout_s = 30
        concurency = 4
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:8: runner.concurency: "), message


def test_same_key_name_in_two_tables_points_at_the_right_one(in_tmp: Path) -> None:
    path = write(
        in_tmp,
        "evalmon.toml",
        """\
        [providers.openai]
        api_key_env = "K"
        timeout_s = 30

        [runner]
        timeout_s = 0
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:6: runner.timeout_s: "), message
    assert "greater than 0" in message


def test_invalid_value_points_at_its_line(in_tmp: Path) -> None:
    path = write(in_tmp, "evalmon.toml", "[runner]\nmax_retries = 2\nconcurrency = 0\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3: runner.concurrency: "), message
    assert "greater than or equal to 1" in message


def test_invalid_value_as_a_dotted_key(in_tmp: Path) -> None:
    path = write(in_tmp, "evalmon.toml", 'store = "x.duckdb"\nrunner.concurrency = 0\n')
    message = error_of(path)
    assert message.startswith(f"{path}:2: runner.concurrency: "), message


def test_invalid_value_in_pyproject_uses_the_files_line(in_tmp: Path) -> None:
    write(
        in_tmp,
        "pyproject.toml",
        """\
        [project]
        name = "x"

        [tool.other]
        concurrency = "fine here"

        [tool.evalmon.runner]
        concurrency = "many"
        """,
    )
    message = error_of()
    assert message.startswith(f"{in_tmp / 'pyproject.toml'}:8: runner.concurrency: "), message


def test_wrong_type(in_tmp: Path) -> None:
    path = write(in_tmp, "evalmon.toml", "max_error_share = 2\n")
    message = error_of(path)
    assert message.startswith(f"{path}:1: max_error_share: "), message


def test_invalid_price_points_at_its_line(in_tmp: Path) -> None:
    path = write(
        in_tmp,
        "evalmon.toml",
        """\
        [prices."openai:my-model"]
        input_per_mtok_usd = 1.0
        output_per_mtok_usd = -2.0
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:3: prices.openai:my-model.output_per_mtok_usd: "), message


def test_price_key_without_a_provider_is_rejected_at_load(in_tmp: Path) -> None:
    path = write(
        in_tmp,
        "evalmon.toml",
        """\
        store = "x.duckdb"

        [prices]
        "gpt-4o" = { input_per_mtok_usd = 1.0, output_per_mtok_usd = 2.0 }
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:4: prices.gpt-4o: "), message
    assert "provider:model" in message


# -- prices --------------------------------------------------------------------------------


def test_price_overrides_price_a_custom_model(in_tmp: Path) -> None:
    write(
        in_tmp,
        "evalmon.toml",
        """\
        [prices."openai-compatible:llama3@http://127.0.0.1:8000/v1"]
        input_per_mtok_usd = 0.5
        output_per_mtok_usd = 1.5

        [prices."openai:gpt-4o"]
        input_per_mtok_usd = 1.0
        output_per_mtok_usd = 4.0
        """,
    )
    table = load_config(env={}).price_table()
    custom = "openai-compatible:llama3@http://127.0.0.1:8000/v1"
    assert custom in table
    assert table.cost_usd(custom, 2_000_000, 1_000_000) == pytest.approx(2.5)
    # An override replaces the built-in price, and applies to dated snapshots too.
    assert table.cost_usd("openai:gpt-4o", 1_000_000, 1_000_000) == pytest.approx(5.0)
    assert table.cost_usd("openai:gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(1.0)
    # Built-ins not overridden are kept; unknown models stay unpriced (None, never 0).
    assert table.cost_usd("anthropic:claude-sonnet-4-5", 1_000_000, 0) == pytest.approx(3.0)
    assert table.cost_usd("openai-compatible:other@http://x/v1", 10, 10) is None


def test_no_overrides_is_the_builtin_table(in_tmp: Path) -> None:
    table = load_config(env={}).price_table()
    assert table.cost_usd("openai:gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert "openai-compatible:m@http://127.0.0.1:1/v1" not in table


def test_export_settings_price_with_prices_under_export_prices(in_tmp: Path) -> None:
    """The export (flow and scrape server alike) prices with [prices], [export.prices] first."""
    path = write(
        in_tmp,
        "evalmon.toml",
        """\
        [prices."openai:a"]
        input_per_mtok_usd = 1.0
        output_per_mtok_usd = 2.0
        [prices."openai:b"]
        input_per_mtok_usd = 1.0
        output_per_mtok_usd = 2.0
        [export.prices."openai:b"]
        input_per_mtok_usd = 5.0
        output_per_mtok_usd = 6.0
        """,
    )
    config = load_config(path)
    prices = config.export_settings().prices
    assert float(prices["openai:a"].input_per_mtok_usd) == 1.0
    assert float(prices["openai:b"].input_per_mtok_usd) == 5.0
    assert config.export.prices.keys() == {"openai:b"}  # the configuration is not changed
