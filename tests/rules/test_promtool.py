"""The rule files on the real promtool: syntax, unit tests, and the bundle's conventions.

`promtool test rules` runs the *.test.yml files next to this one; the tests here also make
sure every recording rule and alert has such a test, and that names, labels, annotations and
the catalog (docs/rules.md) and runbooks (docs/runbooks.md) agree with the rule files.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.promql import label_names, metric_names, tokenize
from support.tools import PROMETHEUS_LINES, tool

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "recording-rules").glob("*.yml"))
ALERT_FILES = sorted(p for p in (ROOT / "alerts").glob("*.yml") if "alertmanager" not in p.name)
TEST_FILES = sorted(Path(__file__).parent.glob("*.test.yml"))
RUNBOOK_PREFIX = "https://github.com/unitcost/unitcost/blob/main/docs/runbooks.md#"
DASHBOARD_UIDS = {
    "unitcost-leadership",
    "unitcost-team",
    "unitcost-queues",
    "unitcost-gpu",
    "unitcost-health",
}
RECORD_NAME = re.compile(r"^[a-z_]*:unitcost_[a-z0-9_]+:[a-z0-9_]+$")


def _rules(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            out.extend(group["rules"])
    return out


RECORDS = [r for r in _rules(RULE_FILES) if "record" in r]
ALERTS = [r for r in _rules(ALERT_FILES) if "alert" in r]


def _promtool(*args: str, line: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool", line), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_rule_files_exist() -> None:
    assert len(RULE_FILES) >= 5 and len(ALERT_FILES) >= 3 and len(TEST_FILES) >= 5
    assert RECORDS and ALERTS


@pytest.mark.parametrize("line", PROMETHEUS_LINES)
@pytest.mark.parametrize("path", RULE_FILES + ALERT_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path, line: str) -> None:
    result = _promtool("check", "rules", str(path), line=line)
    assert result.returncode == 0, result.stdout + result.stderr


def _groups(test_file: Path) -> list[str]:
    rule_files = yaml.safe_load(test_file.read_text("utf-8"))["rule_files"]
    return [
        group["name"]
        for name in rule_files
        for group in yaml.safe_load((test_file.parent / name).read_text("utf-8"))["groups"]
    ]


#: Each test file in its groups' file order, and reversed where it has more than one group.
ORDERED_TESTS = [
    pytest.param(path, order, id=f"{path.name}-{order}")
    for path in TEST_FILES
    for order in ("file-order", "reversed")
    if order == "file-order" or len(_groups(path)) > 1
]


@pytest.mark.parametrize("line", PROMETHEUS_LINES)
@pytest.mark.parametrize(("path", "order"), ORDERED_TESTS)
def test_promtool_test_rules(path: Path, order: str, line: str, tmp_path: Path) -> None:
    """Each rule test on both supported Prometheus lines, with its rule groups evaluated in
    file order and in reverse. A real Prometheus runs each group on its own schedule, so an
    alert may read a record from this evaluation or the last one; promtool 3.x evaluates
    groups that `group_eval_order` does not name in no fixed order. Both orders must pass."""
    test = yaml.safe_load(path.read_text("utf-8"))
    groups = _groups(path)
    test["rule_files"] = [str((path.parent / name).resolve()) for name in test["rule_files"]]
    test["group_eval_order"] = groups if order == "file-order" else groups[::-1]
    ordered = tmp_path / path.name
    ordered.write_text(yaml.safe_dump(test, sort_keys=False), "utf-8")
    result = _promtool("test", "rules", str(ordered), line=line)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: a rule with a PromQL error is reported with its text."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n- name: x\n  rules:\n  - record: a:b:c\n    expr: sum by (cluster (x)\n"
    )
    result = _promtool("check", "rules", str(broken))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def _test_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in TEST_FILES:
        cases.extend(yaml.safe_load(path.read_text("utf-8"))["tests"])
    return cases


def test_every_recording_rule_has_a_unit_test() -> None:
    exprs = " ".join(t["expr"] for c in _test_cases() for t in c.get("promql_expr_test", []))
    untested = [
        r["record"]
        for r in RECORDS
        if not re.search(rf"(?<![\w:]){re.escape(r['record'])}(?![\w:])", exprs)
    ]
    assert not untested, f"recording rules with no promql_expr_test: {untested}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _test_cases():
        for t in case.get("alert_rule_test", []):
            (firing if t.get("exp_alerts") else quiet).add(t["alertname"])
    names = {a["alert"] for a in ALERTS}
    assert names - firing == set(), f"alerts never tested firing: {names - firing}"
    assert names - quiet == set(), f"alerts never tested not firing: {names - quiet}"


@pytest.mark.parametrize("rule", RECORDS, ids=lambda r: r["record"])
def test_recording_rule_conventions(rule: dict[str, Any]) -> None:
    name, expr = rule["record"], rule["expr"]
    assert RECORD_NAME.match(name), f"{name}: not level:unitcost_metric:operations"
    for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
        labels = {label.strip() for label in clause.split(",") if label.strip()}
        # on () joins label-less series (clock, scalars); every other grouping keeps cluster.
        assert not labels or "cluster" in labels, f"{name}: grouping ({clause}) drops cluster"


#: Exporter metrics the rules read (names without a colon).
EXPORTER_METRICS = {
    m for r in RECORDS + ALERTS for m in metric_names(r["expr"]) if ":" not in m
} - {"up", "vector"}
AGGREGATIONS = {"sum", "max", "min", "avg", "count"}
#: Records whose operation is not an aggregation they run, and why the name still holds.
OPERATION_EXCEPTIONS = {
    "source:unitcost_source_age_seconds:min": "time() - max(last success) is the smallest age",
}


@pytest.mark.parametrize("rule", RECORDS, ids=lambda r: r["record"])
def test_record_names_say_what_they_compute(rule: dict[str, Any]) -> None:
    """level:metric:operations: a record named after an exporter metric reads that metric (or
    records of it), and an aggregation named as its operation is one it runs (or reads)."""
    name, expr = rule["record"], rule["expr"]
    _, metric, operation = name.split(":")
    reads = metric_names(expr)
    read_metrics = {r if ":" not in r else r.split(":")[1] for r in reads}
    if metric in EXPORTER_METRICS:
        assert metric in read_metrics, f"{name}: named after {metric}, reads {sorted(reads)}"
    if operation in AGGREGATIONS and name not in OPERATION_EXCEPTIONS:
        runs = {t.text for t in tokenize(expr) if t.kind == "ident"}
        read_operations = {r.split(":")[2] for r in reads if r.count(":") == 2}
        assert operation in runs | read_operations, f"{name}: no {operation} in {expr}"


@pytest.mark.parametrize("rule", RECORDS + ALERTS, ids=lambda r: r.get("record") or r["alert"])
def test_rules_name_every_series_they_read(rule: dict[str, Any]) -> None:
    """No {__name__=~"a|b"} selectors: a rename or a grep then finds every reader of a series."""
    assert "__name__" not in label_names(rule["expr"]), rule["expr"]


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a["alert"])
def test_alert_conventions(alert: dict[str, Any]) -> None:
    name = alert["alert"]
    assert re.fullmatch(r"Unitcost[A-Z][A-Za-z]+", name), name
    labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
    assert labels.get("severity") in {"critical", "warning", "info"}, name
    # team is static, or comes from the series (every rule whose level names team keeps it).
    assert "team" in labels or re.search(r"\b(\w+_)?team(_\w+)?:", alert["expr"]), name
    assert set(annotations) >= {"summary", "description", "runbook_url", "dashboard_url"}
    assert annotations["runbook_url"] == RUNBOOK_PREFIX + name.lower(), name
    uid = re.match(r"/d/([a-z-]+)", annotations["dashboard_url"])
    assert uid and uid.group(1) in DASHBOARD_UIDS, annotations["dashboard_url"]
    assert "{{" not in annotations["summary"], f"{name}: summary must be static"
    for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", alert["expr"]):
        labels_in = {label.strip() for label in clause.split(",") if label.strip()}
        assert not labels_in or "cluster" in labels_in, f"{name}: ({clause}) drops cluster"


def _anchors(markdown: str) -> set[str]:
    """GitHub-style heading anchors."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_every_alert_has_a_runbook_section() -> None:
    anchors = _anchors((ROOT / "docs" / "runbooks.md").read_text("utf-8"))
    missing = [a["alert"] for a in ALERTS if a["alert"].lower() not in anchors]
    assert not missing, f"docs/runbooks.md has no section for {missing}"


def test_catalog_lists_every_rule_and_alert() -> None:
    catalog = (ROOT / "docs" / "rules.md").read_text("utf-8")
    names = [r["record"] for r in RECORDS] + [a["alert"] for a in ALERTS]
    missing = [n for n in names if f"`{n}`" not in catalog]
    assert not missing, f"docs/rules.md does not list {missing}"
