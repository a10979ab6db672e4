"""Every dashboard query on the real thing: Prometheus scraping the demo exporter, with the
recording rules loaded. One Prometheus per setup, in one xdist group.

Two setups: the repository's files (a single-cluster Prometheus, no cluster label), and the
Helm chart's rules and dashboards rendered with `clusterLabel: k8s_cluster` (every scraped
series carries k8s_cluster="demo", and the Cluster variable is set to it rather than All, so
a rule or query that lost the label shows no data).

Variables are resolved as Grafana would (label_values against the same Prometheus); 'All'
becomes `.*`. Every query must be valid PromQL; every query not marked `history` must return
data for at least one value of each single-value variable (e.g. some team shows every panel
of the team dashboard).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.dashboard_queries import exprs, substitute, variable_choices
from support.helmchart import rendered_dashboards, write_rendered_rules
from support.prometheus import Prometheus, PrometheusError, exporter, prometheus, wait_until
from support.promql import rename_label

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dashboards")]

RULES = sorted((Path(__file__).resolve().parents[2] / "recording-rules").glob("*.yml"))
CLUSTER_LABEL = "k8s_cluster"


@dataclass
class Setup:
    prom: Prometheus
    dashboards: dict[str, dict[str, Any]]
    history_exprs: set[str]
    #: Variables set to one value instead of All (and that value must be among its choices).
    pinned: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["files", f"chart-{CLUSTER_LABEL}"])
def setup(
    request: pytest.FixtureRequest,
    dashboards: dict[str, dict[str, Any]],
    history_exprs: set[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Setup]:
    if request.param == "files":
        rules, target_labels, pinned = RULES, {}, {}
    else:
        values = {"clusterLabel": CLUSTER_LABEL}
        rules = list(write_rendered_rules(values, tmp_path_factory.mktemp("rules")).values())
        dashboards = {
            json.loads(text)["uid"]: json.loads(text)
            for text in rendered_dashboards(values).values()
        }
        history_exprs = {rename_label(e, "cluster", CLUSTER_LABEL) for e in history_exprs}
        target_labels = {CLUSTER_LABEL: "demo"}
        pinned = {"cluster": "demo"}
    with (
        exporter(demo_args=["--interval", "1"]) as target,
        prometheus(
            [target.address], rules, simulated_vllm=[target.address], target_labels=target_labels
        ) as p,
    ):
        # The longest rule chain (cost -> month to date -> forecast -> budget ratio) evaluated.
        wait_until(
            lambda: p.query("team:unitcost_budget_forecast:ratio") or None,
            timeout=40,
            what="the recording rules to evaluate",
        )
        yield Setup(p, dashboards, history_exprs, pinned)


UIDS = [
    "unitcost-leadership",
    "unitcost-team",
    "unitcost-queues",
    "unitcost-gpu",
    "unitcost-health",
]


@pytest.mark.parametrize("uid", UIDS)
def test_variables_resolve_to_values(setup: Setup, uid: str) -> None:
    choices = variable_choices(setup.prom, setup.dashboards[uid], setup.pinned)
    assert choices and all("$" not in value for c in choices for value in c.values())


@pytest.mark.parametrize("uid", UIDS)
def test_every_query_is_valid_promql(setup: Setup, uid: str) -> None:
    dash = setup.dashboards[uid]
    values = variable_choices(setup.prom, dash, setup.pinned)[0]
    errors = []
    for title, expr in exprs(dash):
        try:
            setup.prom.query(substitute(expr, values))
        except PrometheusError as exc:
            errors.append(f"{title!r}: {exc}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("uid", UIDS)
def test_every_query_returns_data(setup: Setup, uid: str) -> None:
    prom, dash = setup.prom, setup.dashboards[uid]
    live = [(title, expr) for title, expr in exprs(dash) if expr not in setup.history_exprs]
    choices = variable_choices(prom, dash, setup.pinned)

    def empty_panels(values: dict[str, str]) -> list[str]:
        return [t for t, expr in live if not prom.query(substitute(expr, values))]

    def some_choice_shows_everything() -> list[str] | None:
        best: list[str] | None = None
        for values in choices:
            empty = empty_panels(values)
            if not empty:
                return None
            if best is None or len(empty) < len(best):
                best = [f"{t!r} with {values}" for t in empty]
        return best

    # Rules over short windows fill in within seconds of the first evaluation.
    try:
        wait_until(lambda: (some_choice_shows_everything() is None) or None, timeout=30)
    except TimeoutError:
        missing = some_choice_shows_everything() or []
        pytest.fail(f"{uid}: panels without data for every variable choice:\n" + "\n".join(missing))


def test_history_queries_are_listed_in_the_docs(history_exprs: set[str]) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "dashboards.md").read_text()
    assert history_exprs, "no query is marked as needing history: update the docs and this test"
    for expr in history_exprs:
        assert expr in doc, f"docs/dashboards.md does not list the history-only query {expr}"
