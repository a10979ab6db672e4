"""Every `unitcost_*` series that a rule, alert, dashboard, query in code, test input or document
names is a family in the catalogue or a recorded rule (or a record's metric part, a figure the
rules build): a rename cannot leave a reader behind."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import yaml

from unitcost.metrics.catalogue import BY_NAME

ROOT = Path(__file__).resolve().parents[2]
#: A series name that mentions unitcost: an exporter family or a `level:metric:ops` record.
NAME = re.compile(r"(?<![\w:.-])((?:[a-z_]+:)?unitcost_[a-z0-9_:]*)(\*|\{kind\}|\.py)?")
#: What is read as text. Python sources are read through their string literals only (their
#: identifiers, e.g. `unitcost_command`, are not series). CHANGELOG.md names old records.
TEXT = (
    "README.md",
    "docs/*.md",
    "recording-rules/*.yml",
    "alerts/*.yml",
    "tests/rules/*.yml",
    "helm/unitcost/templates/*",
    "helm/unitcost/files/**/*",
    "helm/unitcost/values.yaml",
)
PYTHON = ("exporters/unitcost/**/*.py", "dashboards/*.py", "benchmarks/*.py", "tests/**/*.py")
#: Tests whose names are synthetic by design (the renderer's own tests, negative cases).
SYNTHETIC = {
    "test_references.py",
    "test_exposition.py",
    "test_render_fast.py",
    "test_inputs.py",
    "test_catalog.py",
    "test_promtool.py",
}
#: Python identifiers that appear in strings and are not series (module names).
NOT_SERIES = {"unitcost_dashboards", "unitcost_dashboard_", "unitcost_dashboards_generate"}


def recorded() -> set[str]:
    records = set()
    for path in (ROOT / "recording-rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            records |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return records


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _texts() -> Iterator[tuple[str, int, str]]:
    for pattern in TEXT:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file():
                for lineno, line in enumerate(path.read_text().splitlines(), 1):
                    yield str(path.relative_to(ROOT)), lineno, line
    for pattern in PYTHON:
        for path in sorted(ROOT.glob(pattern)):
            if path.name not in SYNTHETIC:
                for lineno, text in _strings(path):
                    yield str(path.relative_to(ROOT)), lineno, text


def unknown_names(texts: Iterable[tuple[str, int, str]]) -> list[str]:
    records = recorded()
    #: A record's metric part (team:unitcost_cost_dollars_per_hour:sum) names a figure the
    #: rules build from several families; docs/rules.md defines each.
    figures = {record.split(":")[1] for record in records}
    problems = []
    for where, lineno, text in texts:
        for match in NAME.finditer(text):
            name, suffix = match.groups()
            if suffix == ".py" or name in NOT_SERIES:
                continue  # a module such as dashboards/unitcost_dashboards.py
            if suffix or name.endswith(("_", ":")):  # a pattern: unitcost_policy_*, ..._{kind}
                stem = name.rstrip("_:")
                if not any(n.startswith(stem) for n in (*BY_NAME, *records)):
                    problems.append(f"{where}:{lineno}: no family or record starts {name}")
            elif ":" in name:
                if name not in records:
                    problems.append(f"{where}:{lineno}: {name} is not a recorded rule")
            elif name not in BY_NAME and name not in figures:
                problems.append(f"{where}:{lineno}: {name} is not in the metric catalogue")
    return problems


def test_every_named_series_is_a_family_or_a_record() -> None:
    assert unknown_names(_texts()) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "sum(unitcost_pod_costs_dollars_per_hour)",
            "unitcost_pod_costs_dollars_per_hour is not in",
        ),
        ("team:unitcost_nothing:sum > 0", "team:unitcost_nothing:sum is not a recorded rule"),
        ("`unitcost_nope_*`", "no family or record starts unitcost_nope_"),
    ],
)
def test_the_check_finds_a_stale_name(text: str, problem: str) -> None:
    """The check is not vacuous: a misspelt family, an unknown record and a dead prefix fail."""
    found = unknown_names([("README.md", 1, text)])
    assert len(found) == 1 and problem in found[0], found
