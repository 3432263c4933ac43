"""Loading evalmon's Grafana dashboards and Prometheus rules, and reading their PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO / "dashboards"
GRAFANA_DIR = DASHBOARDS_DIR / "grafana"
PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
RULES_DIR = DASHBOARDS_DIR / "prometheus"
ALERT_RULES = RULES_DIR / "rules.yml"
RECORDING_RULES = RULES_DIR / "recording_rules.yml"
RULE_FILES = (ALERT_RULES, RECORDING_RULES)
RULE_TESTS = tuple(sorted((RULES_DIR / "tests").glob("*.yml")))
METRICS_CONTRACT = DASHBOARDS_DIR / "METRICS.md"

#: Where dashboards/README.md mounts the repository's dashboards/ folder in Grafana.
GRAFANA_MOUNT = "/etc/evalmon/dashboards"
#: The panel datasource every panel and target must use: the dashboard's variable.
PANEL_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: Grafana's own variables, and the values the live test gives them.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_DURATION = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$", re.S)
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk",
    "bottomk", "quantile", "count_values", "group", "inf", "nan",
}  # fmt: skip


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel of a dashboard."""

    dashboard: str
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str

    @property
    def name(self) -> str:
        """A readable test id."""
        return f"{self.dashboard}#{self.panel_id}{self.ref_id} {self.panel_title}"


def dashboard_files() -> list[Path]:
    """Every dashboard JSON under dashboards/grafana/ (provisioning excluded)."""
    return sorted(GRAFANA_DIR.glob("*.json"))


def load_dashboards() -> dict[str, dict[str, Any]]:
    """The dashboards by uid."""
    dashboards = {}
    for path in dashboard_files():
        dash = json.loads(path.read_text())
        dashboards[dash["uid"]] = dash
    return dashboards


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(dashboards: dict[str, dict[str, Any]]) -> list[PanelQuery]:
    """Every target with an expression, of every panel of every dashboard."""
    return [
        PanelQuery(uid, panel["id"], panel["title"], target["refId"], target["expr"])
        for uid, dash in dashboards.items()
        for panel in iter_panels(dash)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's template variables, in order."""
    return list(dashboard.get("templating", {}).get("list", []))


def variable_query(variable: dict[str, Any]) -> str:
    """The query of a query variable (a string, or the Prometheus editor's object)."""
    query = variable.get("query")
    return str(query.get("query", "")) if isinstance(query, dict) else str(query or "")


def parse_label_values(query: str) -> tuple[str, str]:
    """``(series selector, label)`` of a ``label_values(selector, label)`` query."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values(selector, label) query: {query!r}")
    return match.group(1), match.group(2)


def referenced_variables(text: str) -> set[str]:
    """Names of the Grafana variables ``$name``, ``${name}`` or ``[[name]]`` in ``text``."""
    return {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with every Grafana variable replaced by its value in ``values``."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return values[name]

    return _VARIABLE.sub(value, text)


def metric_names(expr: str) -> set[str]:
    """Metric and recording-rule names in a PromQL expression (label names left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _DURATION.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if word.lower() in _PROMQL_WORDS or following.startswith("("):
            continue  # a keyword, aggregation or function
        names.add(word)
    return names


def load_yaml(path: Path) -> Any:
    """A YAML file, parsed."""
    return yaml.safe_load(path.read_text())


def rules(path: Path) -> list[dict[str, Any]]:
    """Every rule of a rule file."""
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alerting_rules() -> list[dict[str, Any]]:
    """Every alerting rule."""
    return [rule for path in RULE_FILES for rule in rules(path) if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    """Every recording rule."""
    return [rule for path in RULE_FILES for rule in rules(path) if "record" in rule]


def contract_metric_names() -> set[str]:
    """The metric names METRICS.md names (in backticks)."""
    text = METRICS_CONTRACT.read_text()
    return set(re.findall(r"`((?:evalmon|gen_ai)_[a-z0-9_]+)`", text))
