"""The one module through which every unitcost dashboard uses grafanalib.

Dashboard sources (`*.dashboard.py`) describe panels with the small vocabulary below
(Query, timeseries, stat, table, bargauge, dashboard); only this file knows grafanalib, so a
move to grafana-foundation-sdk later rewrites this file and nothing else.

Conventions every dashboard gets from here (docs/dashboards.md):
- explicit stable `uid`, `version` derived from the package version, tags `unitcost`;
- a `datasource` variable that every panel and variable uses, and a `cluster` variable
  (All = `.*`, so a single-cluster Prometheus without the label still matches);
- a unit and a description on every panel, an automatic grid layout with unique ids;
- links to every other unitcost dashboard (dropdown on the tag `unitcost`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import attr
from grafanalib import core
from grafanalib._gen import DashboardEncoder

from unitcost import __version__

TAG = "unitcost"

# Grafana unit ids (https://grafana.com/docs/grafana/latest/panels-visualizations/
# configure-standard-options/#unit). Money is US dollars everywhere (docs/design.md).
DOLLARS = "currencyUSD"
DOLLARS_PER_HOUR = "currencyUSD"  # Grafana has no "$/h" unit: titles say "per hour"
RATIO = "percentunit"  # 0..1 shown as percent
SECONDS = "s"
TIMESTAMP = "dateTimeFromNow"
COUNT = "short"
UNITS = frozenset({DOLLARS, RATIO, SECONDS, TIMESTAMP, COUNT, "none", "bool_on_off"})

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: Every selector carries this, so the same dashboards read a per-cluster Prometheus and a
#: fleet-wide Thanos/Mimir (docs/design.md, "Beyond one cluster").
CLUSTER = 'cluster=~"$cluster"'

UIDS = {
    "leadership": "unitcost-leadership",
    "team": "unitcost-team",
    "queues": "unitcost-queues",
    "gpu": "unitcost-gpu",
    "health": "unitcost-health",
}

GRID_WIDTH = 24


def grafana_version(version: str = __version__) -> int:
    """'1.2.3' -> 1002003: Grafana wants an integer that grows with every release."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise ValueError(f"package version {version!r} is not MAJOR.MINOR[.PATCH]")
    major, minor, patch = (int(part or 0) for part in match.groups())
    if minor >= 1000 or patch >= 1000:
        raise ValueError(f"package version {version!r}: minor and patch must be < 1000")
    return major * 1_000_000 + minor * 1_000 + patch


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL query of a panel.

    history: the query needs more history than a freshly started Prometheus has (offsets,
    month-to-date windows); tests check it for validity only, and docs/dashboards.md lists it.
    """

    expr: str
    legend: str = ""
    history: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """A data link on a table column (drill-down), or on a whole panel when column is ''."""

    title: str
    url: str
    column: str = ""


Kind = Literal["timeseries", "stat", "table", "bargauge"]


@dataclass(frozen=True, slots=True)
class Panel:
    kind: Kind
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    width: int
    height: int
    links: tuple[Link, ...] = ()
    stack: bool = False
    #: table columns to show, in order (others hidden); column -> header text
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"panel {self.title!r}: unit {self.unit!r} is not one of {UNITS}")
        if not self.description.strip():
            raise ValueError(f"panel {self.title!r}: description is empty")
        if not self.queries:
            raise ValueError(f"panel {self.title!r}: no queries")
        if not 1 <= self.width <= GRID_WIDTH:
            raise ValueError(f"panel {self.title!r}: width {self.width} not in 1..{GRID_WIDTH}")


def _queries(queries: Query | Sequence[Query]) -> tuple[Query, ...]:
    return (queries,) if isinstance(queries, Query) else tuple(queries)


def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Query | Sequence[Query],
    *,
    width: int = 12,
    height: int = 8,
    stack: bool = False,
) -> Panel:
    return Panel("timeseries", title, description, unit, _queries(queries), width, height,
                 stack=stack)  # fmt: skip


def stat(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    width: int = 6,
    height: int = 4,
    links: Sequence[Link] = (),
) -> Panel:
    return Panel("stat", title, description, unit, (query,), width, height, tuple(links))


def table(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    columns: dict[str, str],
    width: int = 12,
    height: int = 8,
    links: Sequence[Link] = (),
) -> Panel:
    """An instant-query table; `columns` maps labels (and 'Value') to headers, in order."""
    return Panel("table", title, description, unit, (query,), width, height, tuple(links),
                 columns=dict(columns))  # fmt: skip


def bargauge(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    width: int = 12,
    height: int = 8,
) -> Panel:
    return Panel("bargauge", title, description, unit, (query,), width, height)


@attr.s
class _Target(core.Target):  # type: ignore[misc]
    """A Prometheus target that remembers (outside the JSON) whether it needs history."""

    history: bool = attr.ib(default=False)


def _target(q: Query, ref: str, instant: bool, table_format: bool) -> Any:
    make: Any = _Target  # grafanalib is untyped: mypy's attrs plugin sees only our field
    return make(
        expr=q.expr,
        legendFormat=q.legend,
        refId=ref,
        instant=instant,
        format="table" if table_format else "time_series",
        datasource=DATASOURCE,
        intervalFactor=1,
        history=q.history,
    )


def _field_links(links: Sequence[Link]) -> list[dict[str, Any]]:
    return [{"title": lk.title, "url": lk.url, "targetBlank": False} for lk in links]


def _build(p: Panel, panel_id: int, pos: core.GridPos) -> Any:
    targets = [
        _target(q, chr(ord("A") + i), p.kind != "timeseries", p.kind == "table")
        for i, q in enumerate(p.queries)
    ]
    common: dict[str, Any] = {
        "id": panel_id,
        "title": p.title,
        "description": p.description,
        "dataSource": DATASOURCE,
        "targets": targets,
        "gridPos": pos,
    }
    panel_links = [lk for lk in p.links if not lk.column]
    if p.kind == "timeseries":
        return core.TimeSeries(
            **common,
            unit=p.unit,
            fillOpacity=30 if p.stack else 10,
            stacking={"mode": "normal", "group": "A"} if p.stack else {"mode": "none"},
            legendDisplayMode="table",
            legendPlacement="right",
            legendCalcs=["lastNotNull", "max"],
            tooltipMode="multi",
            tooltipSort="desc",
        )
    if p.kind == "stat":
        return core.Stat(
            **common,
            format=p.unit,
            reduceCalc="lastNotNull",
            graphMode="none",
            extraJson={"fieldConfig": {"defaults": {"links": _field_links(panel_links)}}},
        )
    if p.kind == "bargauge":
        return core.BarGauge(
            **common,
            format=p.unit,
            calc="lastNotNull",
            displayMode=core.GAUGE_DISPLAY_MODE_GRADIENT,
            orientation=core.ORIENTATION_HORIZONTAL,
            min=0,
            max=None,
        )
    order = list(p.columns)
    overrides = [
        {
            "matcher": {"id": "byName", "options": col},
            "properties": [{"id": "links", "value": _field_links([lk])}],
        }
        for lk in p.links
        if (col := lk.column)
    ]
    return core.Table(
        **common,
        unit=p.unit,
        overrides=overrides,
        sortBy=[core.TableSortByField(displayName=p.columns.get("Value", "Value"), desc=True)],
        transformations=[
            {
                "id": "organize",
                "options": {
                    # Hide every column not listed (Time, __name__, other labels).
                    "excludeByName": {"Time": True},
                    "indexByName": {name: i for i, name in enumerate(order)},
                    "renameByName": dict(p.columns),
                },
            },
            {"id": "filterFieldsByName", "options": {"include": {"names": order}}},
        ],
    )


def layout(rows: Sequence[Sequence[Panel]]) -> list[Any]:
    """Place panels row by row (each row as tall as its tallest panel), ids from 1."""
    built: list[Any] = []
    y = 0
    for row in rows:
        if sum(p.width for p in row) > GRID_WIDTH:
            titles = [p.title for p in row]
            raise ValueError(f"row {titles} is wider than {GRID_WIDTH} columns")
        x = 0
        for p in row:
            built.append(_build(p, len(built) + 1, core.GridPos(h=p.height, w=p.width, x=x, y=y)))
            x += p.width
        y += max((p.height for p in row), default=0)
    return built


def datasource_variable() -> Any:
    return core.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default="default",
    )


def query_variable(
    name: str, label: str, query: str, *, include_all: bool = True, multi: bool = True
) -> Any:
    """A variable filled by `label_values(...)`; All means `.*` (matches absent labels too)."""
    return core.Template(
        name=name,
        label=label,
        query={"query": query, "refId": f"{name}-values"},
        dataSource=DATASOURCE,
        includeAll=include_all,
        allValue=".*" if include_all else None,
        multi=multi,
        default="All" if include_all else None,
        refresh=core.REFRESH_ON_TIME_RANGE_CHANGE,
        sort=core.SORT_ALPHA_ASC,
    )


def cluster_variable(series: str) -> Any:
    return query_variable("cluster", "Cluster", f"label_values({series}, cluster)")


def dashboard_url(area: str, *params: str) -> str:
    """A link into another unitcost dashboard that keeps the time range and data source."""
    query = "&".join(("${__url_time_range}", "var-datasource=${datasource}", *params))
    return f"/d/{UIDS[area]}?{query}"


def build(
    *,
    area: str,
    title: str,
    description: str,
    rows: Sequence[Sequence[Panel]],
    variables: Iterable[Any] = (),
    time_from: str = "now-24h",
) -> Any:
    """A unitcost dashboard: uid from UIDS[area], version from the package, shared links."""
    return core.Dashboard(
        uid=UIDS[area],
        title=title,
        description=f"{description} (unitcost {__version__}; generated, do not edit)",
        tags=[TAG, f"{TAG}-{area}"],
        version=grafana_version(),
        editable=False,
        timezone="browser",
        refresh="1m",
        graphTooltip=core.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        schemaVersion=36,
        time=core.Time(time_from, "now"),
        links=[
            core.DashboardLink(
                title="unitcost", tags=[TAG], asDropdown=True, includeVars=False, keepTime=True
            )
        ],
        templating=core.Templating(list=[datasource_variable(), *variables]),
        panels=layout(rows),
    )


def history_exprs(dash: Any) -> set[str]:
    """Expressions marked as needing history (checked for validity only)."""
    return {t.expr for p in dash.panels for t in p.targets if getattr(t, "history", False)}


def to_json(dash: Any) -> str:
    """The dashboard as Grafana JSON: stable key order, so regeneration is byte-identical."""
    data = dash.to_json_data()
    return json.dumps(data, cls=DashboardEncoder, sort_keys=True, indent=2) + "\n"
