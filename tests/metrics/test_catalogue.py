"""The metric catalogue is the one home of the contract: the golden list and docs/metrics.md are
what it generates, names say their unit and type, and no module builds a family on its own."""

from __future__ import annotations

import ast
import difflib
import os
import re
from pathlib import Path

import pytest

from unitcost.metrics.catalogue import (
    BY_NAME,
    CATALOGUE,
    WORKLOAD,
    Binary,
    Cap,
    Kind,
    MetricSpec,
)
from unitcost.metrics.reference import golden, markdown

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden-metrics.txt"
PACKAGE = ROOT / "exporters" / "unitcost"

#: Name suffix -> unit: a family's name must not lie about its unit (first match wins).
SUFFIX_UNITS = (
    (re.compile(r"_dollars_per_hour(_threshold)?$"), "USD/h"),
    (re.compile(r"_dollars_per_month$"), "USD/mo"),
    (re.compile(r"_dollars(_total)?$"), "USD"),
    (re.compile(r"_seconds(_total)?$"), "s"),
    (re.compile(r"_bytes(_total)?$"), "By"),
    (re.compile(r"_cores$"), "{core}"),
    (re.compile(r"_watts$"), "W"),
    (re.compile(r"_joules_total$"), "J"),
    (re.compile(r"_(ratio|ratio_threshold|info|total|up|allocated|nodes|factor)$"), "1"),
)


def _diff(want: str, have: str, what: str) -> str:
    lines = difflib.unified_diff(
        have.splitlines(),
        want.splitlines(),
        f"{what} (committed)",
        f"{what} (catalogue)",
        lineterm="",
    )
    return "\n".join(lines)


def test_the_golden_list_is_the_catalogue() -> None:
    """A change to the public contract (a name, type, unit, label, producer or stability) shows
    as a diff of tests/metrics/golden-metrics.txt: UPDATE_GOLDEN=1 rewrites it for review."""
    want = golden()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(want)
    have = GOLDEN.read_text()
    assert have == want, _diff(want, have, "golden-metrics.txt") + "\n(UPDATE_GOLDEN=1 to accept)"


def test_docs_metrics_md_is_generated_from_the_catalogue() -> None:
    have = (ROOT / "docs" / "metrics.md").read_text()
    assert have == markdown(), _diff(markdown(), have, "docs/metrics.md") + "\n(run `make docs`)"


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_the_name_says_the_unit_and_type(spec: MetricSpec) -> None:
    assert re.fullmatch(r"unitcost_[a-z][a-z0-9_]*[a-z0-9]", spec.name)
    unit = next((u for pattern, u in SUFFIX_UNITS if pattern.search(spec.name)), "1")
    assert spec.unit == unit, f"{spec.name}: unit {spec.unit!r}, its name says {unit!r}"
    assert (spec.kind is Kind.COUNTER) == spec.name.endswith("_total")
    assert spec.help.endswith(".") and "\n" not in spec.help


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_labels_are_identity_not_targets(spec: MetricSpec) -> None:
    """Target labels come from Prometheus; a family naming one would clash on scrape."""
    assert len(set(spec.labels)) == len(spec.labels)
    assert not {"cluster", "env", "job", "instance"} & set(spec.labels)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", label) for label in spec.labels)
    assert spec.producers, spec.name


def test_the_cap_knows_its_families_by_their_keys() -> None:
    """The cap drops pod families by (namespace, pod) and workload families by the workload's
    seven owner labels, which lead every workload family (a breakdown adds labels after)."""
    pods = [s for s in CATALOGUE if s.cap is Cap.POD]
    workloads = [s for s in CATALOGUE if s.cap is Cap.WORKLOAD]
    assert {s.labels[:2] for s in pods} == {("namespace", "pod")}
    assert {s.labels[: len(WORKLOAD)] for s in workloads} == {WORKLOAD}
    assert {s.labels[len(WORKLOAD) :] for s in workloads} == {(), ("resource",)}
    assert all(s.producers == {Binary.EXPORTER} for s in pods + workloads)


def test_gpu_info_is_declared_once_for_both_producers() -> None:
    spec = BY_NAME["unitcost_gpu_info"]
    assert spec.producers == {Binary.EXPORTER, Binary.GPU_AGENT}
    assert [s.name for s in CATALOGUE].count("unitcost_gpu_info") == 1


def test_extra_labels_only_where_declared() -> None:
    assert BY_NAME["unitcost_pod_info"].family(("label_team",)).labels[-1] == "label_team"
    with pytest.raises(ValueError, match="unitcost_node_info takes no labels beyond"):
        BY_NAME["unitcost_node_info"].family(("label_x",))


def test_no_module_builds_a_family_outside_the_catalogue() -> None:
    """Every producer calls SPEC.family(); a MetricFamily(...) anywhere else would be a second,
    undeclared home for a name, its labels and its HELP."""
    builders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("catalogue.py", "family.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "MetricFamily"
            ):
                builders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert builders == []
