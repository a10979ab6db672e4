"""Structure of the generated dashboards: what Grafana and the alerts rely on."""

from __future__ import annotations

import re
from itertools import combinations
from typing import Any

import pytest
import unitcost_dashboards as ud

from unitcost import __version__

#: Alerts' dashboard_url annotations and the docs link to these: they must never change.
STABLE_UIDS = {
    "unitcost-leadership",
    "unitcost-team",
    "unitcost-queues",
    "unitcost-gpu",
    "unitcost-health",
}
#: Grafana's own variables, usable in queries and links without a definition.
BUILTIN_VARS = {
    "__url_time_range", "__value", "__data", "__field", "__series", "__all_variables",
    "__range", "__interval", "__rate_interval",
}  # fmt: skip
VAR_REF = re.compile(r"\$\{([A-Za-z0-9_]+)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([^\]:]+)")


def _refs(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VAR_REF.finditer(text)}


def _panels(dashboards: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(uid, p) for uid, d in sorted(dashboards.items()) for p in d["panels"]]


def test_uids_are_the_stable_set(dashboards: dict[str, dict[str, Any]]) -> None:
    assert set(dashboards) == STABLE_UIDS
    assert set(ud.UIDS.values()) == STABLE_UIDS


def test_files_are_named_after_uids(rendered: dict[str, str]) -> None:
    assert sorted(rendered) == sorted(f"{uid}.json" for uid in STABLE_UIDS)


def test_version_tags_and_metadata(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, dash in dashboards.items():
        assert dash["version"] == ud.grafana_version(__version__), uid
        assert "unitcost" in dash["tags"], uid
        assert __version__ in dash["description"], uid
        assert dash["title"].startswith("unitcost / "), uid
        assert dash["id"] is None, f"{uid}: an id would clash on import"


def test_grafana_version_grows_with_the_package_version() -> None:
    assert ud.grafana_version("0.1.0") < ud.grafana_version("0.1.1") < ud.grafana_version("0.2")
    assert ud.grafana_version("1.2.3.dev4") == 1_002_003
    with pytest.raises(ValueError, match="'banana'"):
        ud.grafana_version("banana")


def test_panel_ids_unique(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, dash in dashboards.items():
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), f"{uid}: duplicate panel ids {ids}"
        assert all(isinstance(i, int) and i > 0 for i in ids), uid


def test_grid_positions_fit_and_do_not_overlap(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, dash in dashboards.items():
        boxes = [(p["title"], p["gridPos"]) for p in dash["panels"]]
        for title, g in boxes:
            assert g["x"] >= 0 and g["y"] >= 0 and g["w"] > 0 and g["h"] > 0, (uid, title)
            assert g["x"] + g["w"] <= 24, f"{uid}: {title!r} is wider than the grid"
        for (t1, a), (t2, b) in combinations(boxes, 2):
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, f"{uid}: panels {t1!r} and {t2!r} overlap"


def test_every_panel_has_unit_description_and_queries(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for uid, panel in _panels(dashboards):
        where = f"{uid}: panel {panel['title']!r}"
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit in ud.UNITS, f"{where}: unit {unit!r}"
        assert (panel.get("description") or "").strip(), f"{where}: no description"
        assert panel["targets"], f"{where}: no queries"
        assert panel["datasource"] == ud.DATASOURCE, where


def test_every_dashboard_has_the_datasource_variable(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for uid, dash in dashboards.items():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", uid
        assert variables["datasource"]["query"] == "prometheus", uid
        for v in variables.values():
            if v["type"] == "query":
                assert v["datasource"] == ud.DATASOURCE, f"{uid}: variable {v['name']}"


def test_every_variable_reference_resolves(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, dash in dashboards.items():
        defined: set[str] = set()
        for v in dash["templating"]["list"]:  # a variable may only use those before it
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            unknown = _refs(query) - defined - BUILTIN_VARS
            assert not unknown, f"{uid}: variable {v['name']} uses undefined {unknown}"
            defined.add(v["name"])
        for panel in dash["panels"]:
            texts = [t["expr"] for t in panel["targets"]]
            texts += [str(panel["fieldConfig"]), str(panel.get("links", ""))]
            for text in texts:
                unknown = _refs(text) - defined - BUILTIN_VARS
                assert not unknown, f"{uid}: panel {panel['title']!r} uses undefined {unknown}"


def test_team_dashboard_takes_team_and_namespace(dashboards: dict[str, dict[str, Any]]) -> None:
    names = [v["name"] for v in dashboards["unitcost-team"]["templating"]["list"]]
    assert {"datasource", "team", "namespace"} <= set(names)
    assert names.index("team") < names.index("namespace")  # namespace values depend on team


def _link_urls(dash: dict[str, Any]) -> list[str]:
    urls = []
    for panel in dash["panels"]:
        config = panel["fieldConfig"]
        for link in config["defaults"].get("links", []):
            urls.append(link["url"])
        for override in config.get("overrides", []):
            for prop in override["properties"]:
                if prop["id"] == "links":
                    urls += [link["url"] for link in prop["value"]]
    return urls


def test_drill_down_links(dashboards: dict[str, dict[str, Any]]) -> None:
    """leadership -> team (var-team) -> namespace (var-namespace), all to existing uids."""
    for uid, dash in dashboards.items():
        for url in _link_urls(dash):
            target = re.match(r"/d/([^/?]+)", url)
            assert target and target.group(1) in STABLE_UIDS, f"{uid}: link {url}"
            assert "${__url_time_range}" in url, f"{uid}: link {url} drops the time range"
    leadership = _link_urls(dashboards["unitcost-leadership"])
    assert any(u.startswith("/d/unitcost-team?") and "var-team=" in u for u in leadership)
    team = _link_urls(dashboards["unitcost-team"])
    assert any(u.startswith("/d/unitcost-team?") and "var-namespace=" in u for u in team)


def test_every_dashboard_links_to_the_others(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, dash in dashboards.items():
        assert any(link["tags"] == ["unitcost"] for link in dash["links"]), uid


def test_panel_rejects_missing_unit_or_description() -> None:
    q = ud.Query("unitcost_build_info")
    with pytest.raises(ValueError, match=r"'Spend'.*unit 'dollars'"):
        ud.stat("Spend", "what it is", "dollars", q)
    with pytest.raises(ValueError, match="'Spend': description is empty"):
        ud.stat("Spend", " ", ud.DOLLARS, q)
    with pytest.raises(ValueError, match="wider than 24"):
        ud.layout([[ud.stat("a", "d", ud.DOLLARS, q, width=20)] * 2])
