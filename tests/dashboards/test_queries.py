"""Every dashboard query on the real thing: Prometheus scraping the demo exporter, with the
recording rules loaded. One Prometheus for the module, in one xdist group.

Variables are resolved as Grafana would (label_values against the same Prometheus); 'All'
becomes `.*`. Every query must be valid PromQL; every query not marked `history` must return
data for at least one value of each single-value variable (e.g. some team shows every panel
of the team dashboard).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.prometheus import Prometheus, PrometheusError, exporter, prometheus, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dashboards")]

RULES = sorted((Path(__file__).resolve().parents[2] / "recording-rules").glob("*.yml"))
GRAFANA_RANGE = {"__range": "1h", "__interval": "15s", "__rate_interval": "1m"}


@pytest.fixture(scope="module")
def prom() -> Iterator[Prometheus]:
    with (
        exporter(demo_args=["--interval", "1"]) as target,
        prometheus([target.address], RULES, simulated_vllm=[target.address]) as p,
    ):
        # The longest rule chain (cost -> month to date -> forecast -> budget ratio) evaluated.
        wait_until(
            lambda: p.query("team:unitcost_budget_forecast:ratio") or None,
            timeout=40,
            what="the recording rules to evaluate",
        )
        yield p


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, GRAFANA_RANGE.get(name, match.group(0)))

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, text)


def label_values(prom: Prometheus, query: str) -> list[str]:
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
    assert match, f"not label_values(series, label): {query}"
    series, label = match.groups()
    return sorted({r["metric"][label] for r in prom.query(series) if label in r["metric"]})


def variable_choices(prom: Prometheus, dash: dict[str, Any]) -> list[dict[str, str]]:
    """Every combination of the single-value variables' values ('All' for the others)."""
    choices: list[dict[str, str]] = [{}]
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        grown = []
        for chosen in choices:
            if v["includeAll"]:
                grown.append({**chosen, v["name"]: v["allValue"]})
                continue
            values = label_values(prom, substitute(v["query"]["query"], chosen))
            assert values, f"{dash['uid']}: variable {v['name']} has no values"
            grown += [{**chosen, v["name"]: value} for value in values]
        choices = grown
    return choices


def _exprs(dash: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


UIDS = [
    "unitcost-leadership",
    "unitcost-team",
    "unitcost-queues",
    "unitcost-gpu",
    "unitcost-health",
]


@pytest.mark.parametrize("uid", UIDS)
def test_variables_resolve_to_values(
    prom: Prometheus, dashboards: dict[str, dict[str, Any]], uid: str
) -> None:
    choices = variable_choices(prom, dashboards[uid])
    assert choices and all("$" not in value for c in choices for value in c.values())


@pytest.mark.parametrize("uid", UIDS)
def test_every_query_is_valid_promql(
    prom: Prometheus, dashboards: dict[str, dict[str, Any]], uid: str
) -> None:
    dash = dashboards[uid]
    values = variable_choices(prom, dash)[0]
    errors = []
    for title, expr in _exprs(dash):
        try:
            prom.query(substitute(expr, values))
        except PrometheusError as exc:
            errors.append(f"{title!r}: {exc}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("uid", UIDS)
def test_every_query_returns_data(
    prom: Prometheus,
    dashboards: dict[str, dict[str, Any]],
    history_exprs: set[str],
    uid: str,
) -> None:
    dash = dashboards[uid]
    live = [(title, expr) for title, expr in _exprs(dash) if expr not in history_exprs]
    choices = variable_choices(prom, dash)

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
