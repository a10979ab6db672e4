"""`clusterLabel` and `prometheusRule.runbookBaseUrl`: the chart's rules and dashboards for series
that name the cluster with another label, and runbooks kept elsewhere.

The chart renames the label with regular expressions (templates/_helpers.tpl); these tests
check its output with the real Helm engine and promtool, and against an independent rename
done on PromQL tokens (support/promql.py): no `cluster` label is left in any expression,
nothing else changed, the rendered rules pass `promtool check rules`, and every promtool unit
test in tests/rules passes on them with its series relabelled. With the default values, the
rendered rules and dashboards are the files, unchanged.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from support.helmchart import (
    CHART_DIR,
    REPO_ROOT,
    of_kind,
    render,
    rendered_dashboards,
    rendered_rules,
    write_rendered_rules,
)
from support.promql import (
    label_names,
    label_uses,
    legend_label_names,
    rename_label,
    template_label_names,
)
from support.tools import tool

PROMTOOL = tool("promtool")
LABEL = "k8s_cluster"
DEFAULT_RUNBOOKS = "https://github.com/unitcost/unitcost/blob/main/docs/runbooks.md"
RUNBOOKS = "https://wiki.example.com/finops/unitcost-runbooks"
CUSTOM = {"clusterLabel": LABEL, "prometheusRule": {"runbookBaseUrl": RUNBOOKS}}
PROMTOOL_TESTS = sorted((REPO_ROOT / "tests" / "rules").glob("*.test.yml"))
DASHBOARD_FILES = sorted((CHART_DIR / "files" / "dashboards").glob("*.json"))
#: Dashboard fields that hold PromQL (targets, variables) or name labels (legends).
QUERY_KEYS = ("expr", "query")
LEGEND_KEY = "legendFormat"


def _source_groups(source: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((REPO_ROOT / source).read_text("utf-8"))["groups"]
    return groups


def _rename_in_template(text: str) -> str:
    return re.sub(r"\$labels\.cluster\b", f"$labels.{LABEL}", text)


def _expected_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule as the chart should render it with CUSTOM, renamed on tokens, not regexes."""
    expected = copy.deepcopy(rule)
    expected["expr"] = rename_label(rule["expr"], "cluster", LABEL)
    for field in ("labels", "annotations"):
        for key, value in expected.get(field, {}).items():
            expected[field][key] = _rename_in_template(value)
    url = expected.get("annotations", {}).get("runbook_url")
    if url:
        assert url.startswith(DEFAULT_RUNBOOKS + "#"), url
        expected["annotations"]["runbook_url"] = RUNBOOKS + url.removeprefix(DEFAULT_RUNBOOKS)
    return expected


def _all_rules(groups_by_file: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for groups in groups_by_file.values() for g in groups for r in g["rules"]]


# --- rules -------------------------------------------------------------------------------


def test_default_values_render_the_rule_files_unchanged() -> None:
    rendered = rendered_rules({})
    assert rendered and all(groups == _source_groups(src) for src, groups in rendered.items())


def test_rules_rename_the_cluster_label_and_point_at_the_runbooks() -> None:
    rendered = rendered_rules(CUSTOM)
    for source, groups in rendered.items():
        expected = [
            {**g, "rules": [_expected_rule(r) for r in g["rules"]]} for g in _source_groups(source)
        ]
        assert groups == expected, source
    rules = _all_rules(rendered)
    renamed = [r for r in rules if LABEL in label_names(r["expr"])]
    assert len(renamed) > len(rules) // 2  # the rename did happen
    for rule in rules:
        name = rule.get("record") or rule["alert"]
        assert "cluster" not in label_names(rule["expr"]), f"{name}: {rule['expr']}"
        for text in [*rule.get("labels", {}).values(), *rule.get("annotations", {}).values()]:
            assert "cluster" not in template_label_names(text), f"{name}: {text}"
        if "alert" in rule:
            anchor = rule["alert"].lower()
            assert rule["annotations"]["runbook_url"] == f"{RUNBOOKS}#{anchor}"


#: Spellings PromQL allows that the bundle's files do not use (yet): the chart renames them
#: too, and only where `cluster` is a label.
EDGE_CASES = [
    "sum BY(cluster)(x) / ON(cluster,node) GROUP_LEFT(cluster) y",
    "sum without (cluster) (x) + ignoring(node, cluster) y * on(node) group_right (cluster) z",
    'x{ cluster != "a" , cluster_name="b",my_cluster=~"c"} or cluster:x:sum{cluster!~"d"}',
    "sum by (namespace,cluster,team) (cluster_cost) and on (cluster_id) cluster",
    'count by (clusters, cluster) (x{team="cluster"})',
]
# Not handled: a string that itself holds such a form, x{a="by (cluster)"}, is renamed too (a
# regular expression does not know it is inside quotes). No file has one, and the tests above
# compare every rendered rule and query with the tokenizer's rename, so one would fail them.


def test_edge_cases_are_renamed_like_the_tokenizer_does(tmp_path: Path) -> None:
    chart = tmp_path / "unitcost"
    shutil.copytree(CHART_DIR, chart)
    rules = [{"record": f"edge:case_{i}:sum", "expr": e} for i, e in enumerate(EDGE_CASES)]
    (chart / "files" / "rules" / "recording-rules-edge.yaml").write_text(
        "# Generated\n" + yaml.safe_dump({"groups": [{"name": "edge", "rules": rules}]})
    )
    (rule,) = [
        r
        for r in of_kind(render(CUSTOM, chart_dir=chart), "PrometheusRule")
        if r["metadata"]["name"].endswith("-recording-rules-edge")
    ]
    rendered = [r["expr"] for r in rule["spec"]["groups"][0]["rules"]]
    assert rendered == [rename_label(e, "cluster", LABEL) for e in EDGE_CASES]


def test_every_grouping_keeps_the_configured_cluster_label() -> None:
    for rule in _all_rules(rendered_rules(CUSTOM)):
        expr = rule["expr"]
        for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
            labels = {label.strip() for label in clause.split(",") if label.strip()}
            assert not labels or LABEL in labels, f"({clause}) drops {LABEL}: {expr}"


def test_rules_config_map_gets_the_same_rules() -> None:
    manifests = render({**CUSTOM, "rulesConfigMap": {"enabled": True}})
    groups = {
        r["metadata"]["annotations"]["unitcost.io/rule-file"]: r["spec"]["groups"]
        for r in of_kind(manifests, "PrometheusRule")
    }
    (cm,) = [c for c in of_kind(manifests, "ConfigMap") if c["metadata"]["name"].endswith("-rules")]
    assert {name: yaml.safe_load(text)["groups"] for name, text in cm["data"].items()} == groups


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def test_rendered_rules_pass_promtool_check(tmp_path: Path) -> None:
    files = write_rendered_rules(CUSTOM, tmp_path)
    result = _promtool("check", "rules", *map(str, files.values()))
    assert result.returncode == 0, result.stdout + result.stderr


def _relabelled_test(test_file: Path, rule_files: dict[str, Path]) -> dict[str, Any]:
    """A promtool test file run against the rendered rules: every series, expression and
    expected label says LABEL where it said cluster, runbook URLs point at RUNBOOKS."""
    suite = yaml.safe_load(test_file.read_text("utf-8"))
    suite["rule_files"] = [
        str(rule_files[(test_file.parent / f).resolve().relative_to(REPO_ROOT).as_posix()])
        for f in suite["rule_files"]
    ]
    for case in suite["tests"]:
        for series in case.get("input_series", []):
            series["series"] = rename_label(series["series"], "cluster", LABEL)
        for check in case.get("promql_expr_test", []):
            check["expr"] = rename_label(check["expr"], "cluster", LABEL)
            for sample in check.get("exp_samples", []):
                sample["labels"] = rename_label(sample["labels"], "cluster", LABEL)
        for check in case.get("alert_rule_test", []):
            for alert in check.get("exp_alerts", []):
                labels = alert.get("exp_labels", {})
                if "cluster" in labels:
                    labels[LABEL] = labels.pop("cluster")
                annotations = alert.get("exp_annotations", {})
                if "runbook_url" in annotations:
                    url = annotations["runbook_url"]
                    annotations["runbook_url"] = RUNBOOKS + url.removeprefix(DEFAULT_RUNBOOKS)
    return suite


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass_on_the_rendered_rules(test_file: Path, tmp_path: Path) -> None:
    suite = _relabelled_test(test_file, write_rendered_rules(CUSTOM, tmp_path))
    text = yaml.safe_dump(suite, sort_keys=False)
    if re.search(r'\bcluster="', test_file.read_text("utf-8")):  # multi-cluster: now LABEL
        assert f'{LABEL}="' in text and not re.search(r'\bcluster="', text)
    path = tmp_path / test_file.name
    path.write_text(text, "utf-8")
    result = _promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_fail_on_rules_that_keep_the_old_label(tmp_path: Path) -> None:
    """The relabelled tests can fail: the plain rules (still `cluster`) do not pass them."""
    plain = {src: REPO_ROOT / src for src in rendered_rules({})}
    suite = _relabelled_test(REPO_ROOT / "tests" / "rules" / "attribution.test.yml", plain)
    path = tmp_path / "attribution.test.yml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), "utf-8")
    result = _promtool("test", "rules", str(path))
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


# --- dashboards --------------------------------------------------------------------------


def test_default_values_ship_the_dashboards_byte_for_byte() -> None:
    shipped = rendered_dashboards({})
    assert shipped == {p.name: p.read_text("utf-8") for p in DASHBOARD_FILES}


def _expected_dashboard(node: Any, key: str = "") -> Any:
    """The dashboard with LABEL for cluster in its queries and legends, renamed on tokens."""
    if isinstance(node, dict):
        return {k: _expected_dashboard(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_expected_dashboard(v, key) for v in node]
    if isinstance(node, str) and key in QUERY_KEYS:
        return rename_label(node, "cluster", LABEL)
    if isinstance(node, str) and key == LEGEND_KEY:
        return re.sub(r"\{\{\s*cluster\s*\}\}", "{{" + LABEL + "}}", node)
    return node


def _strings(node: Any, key: str = "") -> list[tuple[str, str]]:
    """(key, string) for every string in a dashboard."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(v, k)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v, key)]
    return [(key, node)] if isinstance(node, str) else []


def test_dashboards_rename_the_cluster_label_in_queries_and_legends_only() -> None:
    shipped = rendered_dashboards(CUSTOM)
    assert sorted(shipped) == [p.name for p in DASHBOARD_FILES]
    for path in DASHBOARD_FILES:
        original = json.loads(path.read_text("utf-8"))
        dashboard = json.loads(shipped[path.name])
        # Everything else (titles, links with var-cluster, the variable's name) is unchanged.
        assert dashboard == _expected_dashboard(original), path.name
        (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "cluster"]
        assert variable["query"]["query"].endswith(f", {LABEL})")
        queries = [text for key, text in _strings(dashboard) if key in QUERY_KEYS]
        assert any(LABEL in label_names(q) for q in queries)
        for key, text in _strings(dashboard):
            if key in QUERY_KEYS:
                assert "cluster" not in label_names(text), f"{path.name}: {text}"
            elif key == LEGEND_KEY:
                assert "cluster" not in legend_label_names(text), f"{path.name}: {text}"


GRAFANA_VARIABLES = {"__range": "1h", "__interval": "1m", "__rate_interval": "1m"}


def _as_promql(query: str) -> str:
    """A dashboard query as plain PromQL: variables resolved, label_values(x, l) -> x."""
    inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
    text = inner.group(1) if inner else query
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: GRAFANA_VARIABLES.get(m.group(1) or m.group(2), ".*"),
        text,
    )


def test_rendered_dashboard_queries_pass_promtool(tmp_path: Path) -> None:
    """Prometheus's own parser reads every renamed query (as the expression of a rule)."""
    queries = sorted(
        {
            text
            for shipped in rendered_dashboards(CUSTOM).values()
            for key, text in _strings(json.loads(shipped))
            if key in QUERY_KEYS and text.strip() and text != "prometheus"
        }
    )
    rules = [
        {"record": f"dashboard:query_{i}:check", "expr": _as_promql(q)}
        for i, q in enumerate(queries)
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}), "utf-8")
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rules) > 50


# --- values ------------------------------------------------------------------------------


def _labels_the_bundle_uses() -> set[str]:
    names: set[str] = set()
    for source in rendered_rules({}):
        for rule in _all_rules({source: _source_groups(source)}):
            names |= label_names(rule["expr"])
            for text in [*rule.get("labels", {}).values(), *rule.get("annotations", {}).values()]:
                names |= template_label_names(text)
    for path in DASHBOARD_FILES:
        for key, text in _strings(json.loads(path.read_text("utf-8"))):
            if key in QUERY_KEYS:
                names |= {u.name for u in label_uses(text)}
            elif key == LEGEND_KEY:
                names |= legend_label_names(text)
    return names - {"cluster", "__name__"}


def test_a_label_the_bundle_already_uses_is_refused() -> None:
    with pytest.raises(helm_python.HelmRenderError) as caught:
        render({"clusterLabel": "team"})
    message = str(caught.value)
    assert 'clusterLabel "team" is a label the rules and dashboards already use' in message
    listed = re.search(r"already use \(([^)]*)\)", message)
    assert listed, message
    assert set(listed.group(1).split(", ")) == _labels_the_bundle_uses()
