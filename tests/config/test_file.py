"""Config loading: the embedded default, and errors that name file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitcost.base.errors import InputError
from unitcost.config.file import demo_config, load_config
from unitcost.costmodel.policy import allocation_policy


def test_demo_config_is_valid_and_maps_to_policy() -> None:
    config = demo_config()
    policy = allocation_policy(config)
    assert policy.attribution.shared_namespaces == ("kube-system", "monitoring")
    assert config.budgets.for_team("etl") == 5000
    assert config.policy.waste_ratio_threshold.for_team("analytics") == 0.6
    assert config.policy.waste_ratio_threshold.for_team("etl") == 0.4


def test_pricebook_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("pricebooks: [prices/mine.yaml]\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.pricebook_paths() == [tmp_path / "prices" / "mine.yaml"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "collect_interval_seconds: 0\n",
            "collect_interval_seconds: Input should be greater than 0 (got 0)",
        ),
        (
            "shared_cost: {strategy: sometimes}\n",
            "shared_cost.strategy: Input should be 'keep', 'even' or 'proportional' (got 'sometimes')",
        ),
        (
            "attribution:\n  team:\n    - {pod_label: team, namespace_label: team}\n",
            "attribution.team: Value error, give exactly one of",
        ),
        (
            "budgets: {teams: {etl: -5}}\n",
            "budgets.teams.etl: Input should be greater than or equal to 0 (got -5)",
        ),
        (
            "policy: {waste_ratio_threshold: {default: 1.5}}\n",
            "policy.waste_ratio_threshold.default: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            "source: {kind: simulator, simulator: {nodes: 0}}\n",
            "source.simulator.nodes: Input should be greater than or equal to 1 (got 0)",
        ),
        ("colect_interval_seconds: 5\n", "colect_interval_seconds: Extra inputs are not permitted"),
        ("detail: pods\n", "detail: Input should be 'workload' or 'pod' (got 'pods')"),
    ],
)
def test_bad_configs_name_file_field_and_value(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert expected in str(info.value), str(info.value)


def test_detail_defaults_to_workload(tmp_path: Path) -> None:
    assert load_config(None).detail == "workload"
    assert demo_config().detail == "workload"
    path = tmp_path / "config.yaml"
    path.write_text("detail: pod\n")
    assert load_config(path).detail == "pod"
