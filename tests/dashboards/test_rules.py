"""The Prometheus rules: promtool checks them and runs their unit tests, and every alert is tested."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_binary
from tests.dashboards.helpers import (
    ALERT_RULES,
    RECORDING_RULES,
    RULE_FILES,
    RULE_TESTS,
    alerting_rules,
    contract_metric_names,
    load_yaml,
    metric_names,
    recording_rules,
)

SEVERITIES = {"critical", "warning"}
COMPONENTS = {"production", "quality", "long_context", "evalmon"}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool unit tests in dashboards/prometheus/tests/"
    result = promtool("test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation makes `promtool test rules` fail, so the passing run means something."""
    test = load_yaml(RULE_TESTS[0])
    test["rule_files"] = [str(p) for p in RULE_FILES]
    case = next(
        c for group in test["tests"] for c in group.get("alert_rule_test", []) if c["exp_alerts"]
    )
    case["exp_alerts"][0]["exp_labels"]["severity"] = "none"
    broken = tmp_path / "broken_test.yml"
    broken.write_text(yaml.safe_dump(test))
    result = promtool("test", "rules", broken)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def _alert_tests() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per alert name, the test files with a firing case and with a quiet case."""
    firing: dict[str, set[str]] = defaultdict(set)
    quiet: dict[str, set[str]] = defaultdict(set)
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case["exp_alerts"] else quiet)[case["alertname"]].add(path.name)
    return firing, quiet


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {rule["alert"] for rule in alerting_rules()}
    firing, quiet = _alert_tests()
    assert sorted(alerts - set(firing)) == [], "alerts without a firing test case"
    assert sorted(alerts - set(quiet)) == [], "alerts without a non-firing test case"
    # A test of a misspelt alert would pass with `exp_alerts: []` and test nothing.
    assert sorted((set(firing) | set(quiet)) - alerts) == [], "tests of unknown alerts"


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = {
        name
        for path in RULE_TESTS
        for group in load_yaml(path)["tests"]
        for case in group.get("promql_expr_test", [])
        for name in metric_names(case["expr"])
    }
    records = {rule["record"] for rule in recording_rules()}
    assert sorted(records - tested) == []


def test_unit_tests_load_the_rule_files() -> None:
    for path in RULE_TESTS:
        test = load_yaml(path)
        files = {(path.parent / f).resolve() for f in test["rule_files"]}
        assert files <= {p.resolve() for p in RULE_FILES}, path.name
        if any(g.get("alert_rule_test") for g in test["tests"]):
            assert ALERT_RULES.resolve() in files, path.name
        if any(g.get("promql_expr_test") for g in test["tests"]):
            assert RECORDING_RULES.resolve() in files, path.name


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_summary_and_runbook(rule: dict[str, object]) -> None:
    labels = rule["labels"]
    annotations = rule["annotations"]
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    assert labels["severity"] in SEVERITIES
    assert labels["component"] in COMPONENTS
    assert str(rule["alert"]).startswith("Evalmon")
    assert 10 < len(annotations["summary"]) < 200
    # Runbook-style: what happened and what to check, in more than a sentence.
    assert len(annotations["description"]) > 200


def test_the_reference_latency_alert() -> None:
    """The reference system's alert: p95 over 5 seconds, for 10 minutes."""
    rules = {rule["alert"]: rule for rule in alerting_rules()}
    store, live = rules["EvalmonLatencyP95High"], rules["EvalmonLiveLatencyP95High"]
    assert 'evalmon_llm_latency_seconds{quantile="0.95", window="5m"}' in store["expr"]
    assert "histogram_quantile(0.95" in live["expr"]
    for rule in (store, live):
        assert rule["expr"].rstrip().endswith("> 5")
        assert rule["for"] == "10m"
        assert rule["labels"]["severity"] == "critical"


def test_rules_use_only_contract_metrics() -> None:
    """Every metric in a rule is in dashboards/METRICS.md (or is a recording rule)."""
    contract = contract_metric_names()
    records = {rule["record"] for rule in recording_rules()}
    for rule in [*alerting_rules(), *recording_rules()]:
        for name in metric_names(rule["expr"]):
            base = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
            assert name in records or name in contract or base in contract, (
                f"{rule.get('alert') or rule.get('record')} uses {name}, not in METRICS.md"
            )
