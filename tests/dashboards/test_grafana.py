"""The Grafana dashboards and provisioning files: structure, datasource, variables, units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.helpers import (
    DASHBOARDS_DIR,
    GRAFANA_BUILTINS,
    GRAFANA_MOUNT,
    PANEL_DATASOURCE,
    PROVISIONING_DIR,
    contract_metric_names,
    dashboard_files,
    iter_panels,
    load_dashboards,
    load_yaml,
    metric_names,
    panel_queries,
    parse_label_values,
    recording_rules,
    referenced_variables,
    variable_query,
    variables,
)

DASHBOARDS = load_dashboards()
EXPECTED = {"evalmon-overview", "evalmon-quality", "evalmon-long-context"}
UNITS = {"s", "percentunit", "currencyUSD", "short", "reqps"}


def provisioned_datasource() -> dict[str, Any]:
    (datasource,) = load_yaml(PROVISIONING_DIR / "datasources" / "evalmon.yml")["datasources"]
    return datasource


def in_repository(container_path: str) -> Path:
    """The repository path of a path in Grafana's container (README: dashboards/ is mounted)."""
    assert container_path.startswith(GRAFANA_MOUNT + "/"), container_path
    return DASHBOARDS_DIR / container_path.removeprefix(GRAFANA_MOUNT + "/")


def test_the_three_dashboards_exist() -> None:
    assert set(DASHBOARDS) == EXPECTED
    assert len(dashboard_files()) == len(DASHBOARDS), "two dashboard files share a uid"


@pytest.fixture(params=sorted(DASHBOARDS), name="dash")
def _dash(request: pytest.FixtureRequest) -> dict[str, Any]:
    return DASHBOARDS[request.param]


def test_dashboard_header(dash: dict[str, Any]) -> None:
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["title"].startswith("evalmon / ")
    assert "evalmon" in dash["tags"]
    assert dash["id"] is None  # so provisioning and import assign one
    assert dash["editable"] is True


def test_panel_ids_are_unique_integers(dash: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in iter_panels(dash)]
    assert all(type(i) is int for i in ids)
    assert len(ids) == len(set(ids))


def test_grid_positions_fit_24_columns_without_overlap(dash: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], int] = {}
    for panel in iter_panels(dash):
        pos = panel["gridPos"]
        assert all(type(pos[k]) is int for k in ("x", "y", "w", "h")), panel["title"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                other = cells.setdefault((x, y), panel["id"])
                assert other == panel["id"], f"panels {other} and {panel['id']} overlap"


def test_datasource_variable_defaults_to_the_provisioned_uid(dash: dict[str, Any]) -> None:
    (var,) = [v for v in variables(dash) if v["type"] == "datasource"]
    assert var["name"] == "datasource"
    assert var["query"] == "prometheus"
    assert var["current"]["value"] == provisioned_datasource()["uid"]


def test_every_panel_uses_the_datasource_variable_and_has_a_query(dash: dict[str, Any]) -> None:
    for panel in iter_panels(dash):
        assert panel["type"] != "row", "rows have no query; keep the dashboards flat"
        assert panel["datasource"] == PANEL_DATASOURCE, panel["title"]
        targets = panel.get("targets", [])
        assert targets, f"{panel['title']} has no target"
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target.get("datasource", PANEL_DATASOURCE) == PANEL_DATASOURCE
            assert target.get("expr", "").strip(), f"{panel['title']} {target['refId']}"


def test_query_variables_use_the_datasource_and_label_values(dash: dict[str, Any]) -> None:
    for var in variables(dash):
        if var["type"] != "query":
            continue
        assert var["datasource"] == PANEL_DATASOURCE, var["name"]
        selector, _label = parse_label_values(variable_query(var))
        assert metric_names(selector), var["name"]
        if var.get("multi"):
            assert var.get("includeAll") and var.get("allValue") == ".*", var["name"]


def test_every_variable_used_is_defined_before_use(dash: dict[str, Any]) -> None:
    defined: list[str] = list(GRAFANA_BUILTINS)
    for var in variables(dash):
        used = referenced_variables(variable_query(var) if var["type"] == "query" else "")
        assert used <= set(defined), f"{var['name']} uses {used - set(defined)}"
        defined.append(var["name"])
    for panel in iter_panels(dash):
        texts = [panel["title"], panel.get("description", "")]
        texts += [t["expr"] for t in panel["targets"]]
        for text in texts:
            assert referenced_variables(text) <= set(defined), (panel["title"], text)
        if "repeat" in panel:
            (var,) = [v for v in variables(dash) if v["name"] == panel["repeat"]]
            assert var["multi"], "a repeated panel needs a multi-value variable"


def test_units_and_thresholds(dash: dict[str, Any]) -> None:
    for panel in iter_panels(dash):
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"] in UNITS, (panel["title"], defaults["unit"])
        steps = defaults["thresholds"]["steps"]
        assert steps[0]["value"] is None
        values = [s["value"] for s in steps[1:]]
        assert values == sorted(values), panel["title"]
        if "latency" in panel["title"].lower() and defaults["unit"] == "s":
            assert 5 in values, f"{panel['title']}: no 5 s threshold (the p95 alert)"


def test_latency_charts_draw_the_5s_alert_line() -> None:
    charts = [
        p
        for p in iter_panels(DASHBOARDS["evalmon-overview"])
        if p["type"] == "timeseries" and "latency" in p["title"].lower()
    ]
    assert len(charts) == 2
    for chart in charts:
        assert chart["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"


def test_expected_content() -> None:
    def exprs(uid: str) -> str:
        return "\n".join(q.expr for q in panel_queries({uid: DASHBOARDS[uid]}))

    overview = exprs("evalmon-overview")
    for needle in ("evalmon_llm_latency_seconds", "gen_ai_client_operation_duration_seconds",
                   "evalmon_llm_cost_usd", "evalmon_llm_tokens", "evalmon_llm_errors",
                   "evalmon_llm_context_usage_ratio", "gen_ai_client_token_usage"):  # fmt: skip
        assert needle in overview
    quality = exprs("evalmon-quality")
    for needle in ("evalmon_judge_score", "evalmon_judge_kappa", "evalmon_judge_calibrated",
                   "evalmon_review_queue_items", "evalmon_gate_status"):  # fmt: skip
        assert needle in quality
    assert "with_baselines" in exprs("evalmon-long-context")
    units = {
        p["fieldConfig"]["defaults"]["unit"] for d in DASHBOARDS.values() for p in iter_panels(d)
    }
    assert {"s", "percentunit", "currencyUSD", "short"} <= units


def test_dashboards_use_contract_metrics_and_existing_recording_rules() -> None:
    contract = contract_metric_names()
    records = {rule["record"] for rule in recording_rules()}
    exprs = [q.expr for q in panel_queries(DASHBOARDS)]
    exprs += [
        parse_label_values(variable_query(v))[0]
        for d in DASHBOARDS.values()
        for v in variables(d)
        if v["type"] == "query"
    ]
    for expr in exprs:
        for name in metric_names(expr):
            if ":" in name:
                assert name in records, f"no recording rule {name}"
            else:
                base = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
                assert name in contract or base in contract, f"{name} is not in METRICS.md"


def test_long_context_chart_shows_the_baselines_against_position() -> None:
    (chart,) = [p for p in iter_panels(DASHBOARDS["evalmon-long-context"]) if p["type"] == "trend"]
    grouping = next(t for t in chart["transformations"] if t["id"] == "groupingToMatrix")
    assert grouping["options"]["rowField"] == "position"
    assert grouping["options"]["columnField"] == "setting"
    renamed = next(t for t in chart["transformations"] if t["id"] == "organize")
    assert chart["options"]["xField"] in renamed["options"]["renameByName"].values()
    assert chart["repeat"] == "model"


def test_datasource_provisioning() -> None:
    config = load_yaml(PROVISIONING_DIR / "datasources" / "evalmon.yml")
    assert config["apiVersion"] == 1
    datasource = provisioned_datasource()
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "evalmon-prometheus"
    assert datasource["url"].startswith("http")


def test_dashboard_provisioning_points_at_the_dashboards() -> None:
    config = load_yaml(PROVISIONING_DIR / "dashboards" / "evalmon.yml")
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    folder = in_repository(provider["options"]["path"])
    assert folder.is_dir(), folder
    assert {p.name for p in folder.glob("*.json")} == {p.name for p in dashboard_files()}
    for path in folder.glob("*.json"):
        json.loads(path.read_text())
    readme = (DASHBOARDS_DIR / "README.md").read_text()
    assert GRAFANA_MOUNT in readme, "the README must show the mount the provisioning expects"
