"""The HTML statement: one page, one section per team, readable by Finance without Grafana.

Charts are inline SVG drawn here (no JavaScript, no network, prints as it shows). Every
amount on the page comes from the same rows as the FOCUS export, and totals carry
`data-total` attributes with the unrounded value, so a test (or a script) can check the page
against the CSV.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, select_autoescape

from unitcost import __version__
from unitcost.history.chargeback.focus import CURRENCY, money
from unitcost.history.chargeback.period import iso
from unitcost.history.chargeback.query import Charges
from unitcost.history.chargeback.reconcile import Report


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    maximum: float
    horizontal: bool


def column_chart(title: str, items: Sequence[tuple[str, float]]) -> Chart:
    """Vertical bars (one per day)."""
    width, height, left, bottom = 720, 220, 60, 30
    top = max((v for _, v in items), default=0.0) or 1.0
    step = (width - left) / max(len(items), 1)
    bars = tuple(
        Bar(
            label,
            value,
            left + i * step + step * 0.1,
            height - bottom - (height - bottom - 10) * max(value, 0) / top,
            step * 0.8,
            (height - bottom - 10) * max(value, 0) / top,
        )
        for i, (label, value) in enumerate(items)
    )
    return Chart(title, width, height, bars, top, horizontal=False)


def row_chart(title: str, items: Sequence[tuple[str, float]]) -> Chart:
    """Horizontal bars (one per namespace), largest first."""
    width, left, row = 720, 220, 22
    ordered = sorted(items, key=lambda item: -item[1])
    top = max((v for _, v in ordered), default=0.0) or 1.0
    bars = tuple(
        Bar(label, value, left, 10 + i * row, (width - left - 110) * max(value, 0) / top, 16)
        for i, (label, value) in enumerate(ordered)
    )
    return Chart(title, width, 20 + row * len(ordered), bars, top, horizontal=True)


@dataclass(slots=True)
class TeamStatement:
    team: str
    total: Decimal
    waste: Decimal
    gpu_idle: Decimal
    namespaces: list[tuple[str, str, Decimal]]  # (cluster, namespace, dollars)
    components: list[tuple[str, Decimal]]
    charts: list[Chart]


def team_statements(charges: Charges, team_totals: dict[str, Decimal]) -> list[TeamStatement]:
    days = charges.period.days()
    by_day: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_ns: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
    by_component: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in charges.charges:
        by_day[c.key.team][c.day.isoformat()] += c.dollars
        by_ns[c.key.team][(c.key.cluster, c.key.namespace or "(no namespace detail)")] += c.dollars
        by_component[c.key.team][c.key.component] += c.dollars
    waste: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    idle: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for source, target in ((charges.waste, waste), (charges.gpu_idle, idle)):
        for (_cluster, team), per_day in source.items():
            for day, dollars in per_day.items():
                target[team][day.isoformat()] += dollars
    last_day = datetime.fromtimestamp(charges.end - 1e-3, UTC).date()
    labels = [d.isoformat() for d in days if d <= last_day]
    out = []
    for team in sorted(team_totals):
        namespaces = sorted(
            ((cl, ns, money(v)) for (cl, ns), v in by_ns[team].items()), key=lambda r: -r[2]
        )
        several = len({cluster for cluster, _, _ in namespaces}) > 1
        charts = [
            column_chart("Spend by day", [(d[5:], by_day[team].get(d, 0.0)) for d in labels]),
            row_chart(
                "Spend by namespace",
                [(f"{cl}/{ns}" if several else ns, float(v)) for cl, ns, v in namespaces],
            ),
            column_chart(
                "Waste by day (requested, unused)",
                [(d[5:], waste[team].get(d, 0.0)) for d in labels],
            ),
            column_chart("Idle GPU cost by day", [(d[5:], idle[team].get(d, 0.0)) for d in labels]),
        ]
        out.append(
            TeamStatement(
                team,
                team_totals[team],
                money(sum(waste[team].values())),
                money(sum(idle[team].values())),
                namespaces,
                sorted(((k, money(v)) for k, v in by_component[team].items()), key=lambda r: -r[1]),
                charts,
            )
        )
    return out


@dataclass(slots=True)
class ClusterLine:
    """One cluster's period: allocated to teams, idle capacity, the unattributed rest, their
    sum (the cluster's cost), and the provider's billed cost where one was read (else None)."""

    cluster: str
    allocated: Decimal
    idle: Decimal
    unattributed: Decimal
    billed: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.allocated + self.idle + self.unattributed


def cluster_lines(
    table: Sequence[dict[str, Any]], billed: dict[str, Decimal] | None = None
) -> list[ClusterLine]:
    """Per cluster, from the FOCUS rows (network rows aside: a layer on top of the cluster's
    node and volume cost): allocated, idle, unattributed, and `billed` beside them."""
    parts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in table:
        component = row["x_CostComponent"]
        if component == "network":
            continue
        part = component if component in ("idle", "unattributed") else "allocated"
        parts[row["x_Cluster"]][part] += row["BilledCost"]
    return [
        ClusterLine(
            cluster,
            p["allocated"],
            p["idle"],
            p["unattributed"],
            None if billed is None else billed.get(cluster),
        )
        for cluster, p in sorted(parts.items())
    ]


def render_statement(
    charges: Charges,
    team_totals: dict[str, Decimal],
    *,
    issuer: str,
    generated: float,
    clusters: Sequence[ClusterLine] = (),
    reconciliation: Report | None = None,
) -> str:
    """The statement page. `team_totals` are the FOCUS rows' BilledCost summed per team, and
    `clusters` the same rows per cluster (`cluster_lines`), so the page and the export show
    the same figures. With `reconciliation` (`--bill`), a table sets each cluster's estimate
    beside the provider's bill."""
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
    env.filters["usd"] = lambda v: f"${v:,.2f}"
    template = env.from_string(TEMPLATE)
    context: dict[str, Any] = {
        "period": charges.period,
        "start": iso(charges.period.start),
        "end": iso(charges.end),
        "complete": charges.end >= charges.period.end,
        "issuer": issuer,
        "currency": CURRENCY,
        "grand_total": sum(team_totals.values(), Decimal(0)),
        "teams": team_statements(charges, team_totals),
        "clusters": list(clusters),
        "generated": iso(generated),
        "version": __version__,
        "reconciliation": reconciliation,
    }
    return template.render(context)


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Chargeback statement {{ period.label }}</title>
<style>
 body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 60em;
        color: #1d2733; }
 h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 2px solid #2b6cb0;
        padding-bottom: .2em; margin-top: 2em; page-break-before: always; }
 h2.first { page-break-before: avoid; }
 table { border-collapse: collapse; margin: .5em 0 1em; min-width: 30em; }
 th, td { padding: .25em .8em; border-bottom: 1px solid #d9e0e8; text-align: left; }
 td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
 .total { font-size: 1.3em; font-weight: bold; }
 .note { color: #5a6776; font-size: .9em; }
 svg { display: block; margin: .5em 0 1.5em; }
 svg text { font-size: 11px; fill: #1d2733; }
 svg .bar { fill: #2b6cb0; } svg .waste { fill: #dd6b20; } svg .idle { fill: #c53030; }
</style></head>
<body>
<h1>Chargeback statement: {{ period.label }}</h1>
<p>Issued by {{ issuer }}. Charges from {{ start }} to {{ end }} (UTC){% if not complete %},
 period in progress{% endif %}. Amounts in {{ currency }}.</p>
<p class="total">Total charged: <span data-total="all" data-value="{{ grand_total }}">
{{- grand_total | usd }}</span></p>
<table><thead><tr><th>Team</th><th class="num">Charged</th><th class="num">of which waste</th>
<th class="num">Idle GPU cost</th></tr></thead><tbody>
{% for t in teams %}<tr><td><a href="#team-{{ t.team }}">{{ t.team }}</a></td>
<td class="num" data-team-total="{{ t.team }}" data-value="{{ t.total }}">{{ t.total | usd }}</td>
<td class="num">{{ t.waste | usd }}</td><td class="num">{{ t.gpu_idle | usd }}</td></tr>
{% endfor %}</tbody></table>
{% if clusters %}
<h3>Cluster cost: allocated, idle and billed</h3>
<table><thead><tr><th>Cluster</th><th class="num">Allocated to teams</th>
<th class="num">Idle capacity</th><th class="num">Unattributed</th>
<th class="num">Cluster cost</th><th class="num">Billed by provider</th></tr></thead><tbody>
{% for c in clusters %}<tr data-cluster="{{ c.cluster }}"><td>{{ c.cluster or "(cluster)" }}</td>
<td class="num" data-part="allocated" data-value="{{ c.allocated }}">{{ c.allocated | usd }}</td>
<td class="num" data-part="idle" data-value="{{ c.idle }}">{{ c.idle | usd }}</td>
<td class="num" data-part="unattributed" data-value="{{ c.unattributed }}">
{{- c.unattributed | usd }}</td>
<td class="num" data-part="total" data-value="{{ c.total }}">{{ c.total | usd }}</td>
<td class="num" data-part="billed">{% if c.billed is none %}not read{% else %}
{{- c.billed | usd }}{% endif %}</td></tr>
{% endfor %}</tbody></table>
<p class="note">Idle capacity is node cost allocated to no pod; unattributed is the rest of
the cluster's node and volume cost (unbound volumes, pods without a team). Allocated, idle and
unattributed add up to the cluster's cost; data transfer is charged on top. Billed is the
provider's bill for the cluster, where the export read one.</p>
{% endif %}
<p class="note">Cost is what each team's pods were allocated (price x max(request, usage)),
plus shared platform cost received and persistent volumes. Waste is the part of it that was
requested but not used; idle GPU cost is GPUs allocated to the team's pods that stayed idle.
Same figures as the FOCUS export of this period (unitcost {{ version }}, generated
{{ generated }}).</p>
{% if reconciliation %}
<section id="bill" data-bill="{{ reconciliation.bill.path.name }}">
<h3>Estimate beside the provider bill</h3>
<table><thead><tr><th>Cluster</th><th>Provider</th><th class="num">Estimate</th>
<th class="num">Allocated</th><th class="num">Billed (effective)</th>
<th class="num">Estimate / billed</th><th class="num">Unallocated</th></tr></thead><tbody>
{% for r in reconciliation.rows %}
<tr data-cluster="{{ r.cluster }}" data-provider="{{ r.provider }}">
<td>{{ r.cluster }}</td><td>{{ r.provider }}</td>
<td class="num" data-value="{{ r.estimate }}">{{ r.estimate | usd }}</td>
<td class="num" data-value="{{ r.allocated }}">{{ r.allocated | usd }}</td>
<td class="num" data-value="{{ r.effective }}">{{ r.effective | usd }}</td>
<td class="num" data-ratio="{{ r.ratio if r.ratio is not none else '' }}">
{{- '%.4f' % r.ratio if r.ratio is not none else 'n/a' }}</td>
<td class="num" data-value="{{ r.unallocated }}">{{ r.unallocated | usd }}</td></tr>
{% endfor %}</tbody></table>
<p class="note">From {{ reconciliation.bill.path.name }}: {{ reconciliation.bill.lines | length }}
lines in {{ period.label }}, {{ reconciliation.compute_lines }} of them compute. Estimate is
unitcost's cost of the cluster's nodes; allocated is the part charged to teams (the estimate
less idle capacity); unallocated is the billed cost no team was charged.</p>
</section>
{% endif %}
{% for t in teams %}
<section id="team-{{ t.team }}" data-team="{{ t.team }}">
<h2{% if loop.first %} class="first"{% endif %}>Team {{ t.team }}</h2>
<p class="total">Charged: <span data-total="{{ t.team }}" data-value="{{ t.total }}">
{{- t.total | usd }}</span></p>
<table><thead><tr><th>Component</th><th class="num">Charged</th></tr></thead><tbody>
{% for name, dollars in t.components %}<tr><td>{{ name }}</td>
<td class="num">{{ dollars | usd }}</td></tr>{% endfor %}
</tbody></table>
{% for chart in t.charts %}
<h3>{{ chart.title }}</h3>
<svg role="img" aria-label="{{ chart.title }}" width="{{ chart.width }}"
 height="{{ chart.height }}" viewBox="0 0 {{ chart.width }} {{ chart.height }}">
{% set css = "waste" if "Waste" in chart.title else ("idle" if "GPU" in chart.title else "bar") %}
{% if chart.horizontal %}
{% for b in chart.bars %}
<text x="{{ b.x - 6 }}" y="{{ b.y + 12 }}" text-anchor="end">{{ b.label }}</text>
<rect class="{{ css }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ '%.1f' % b.width }}"
 height="{{ b.height }}"><title>{{ b.label }}: {{ b.value | usd }}</title></rect>
<text x="{{ b.x + b.width + 6 }}" y="{{ b.y + 12 }}">{{ b.value | usd }}</text>
{% endfor %}
{% else %}
<text x="4" y="14">{{ chart.maximum | usd }}</text>
<line x1="56" x2="{{ chart.width }}" y1="{{ chart.height - 30 }}"
 y2="{{ chart.height - 30 }}" stroke="#8795a1"/>
{% for b in chart.bars %}
<rect class="{{ css }}" x="{{ '%.1f' % b.x }}" y="{{ '%.1f' % b.y }}"
 width="{{ '%.1f' % b.width }}" height="{{ '%.1f' % b.height }}">
<title>{{ b.label }}: {{ b.value | usd }}</title></rect>
{% if loop.index0 % ((loop.length // 12) + 1) == 0 %}
<text x="{{ '%.1f' % b.x }}" y="{{ chart.height - 14 }}">{{ b.label }}</text>
{% endif %}
{% endfor %}
{% endif %}
</svg>
{% endfor %}
<table><thead><tr><th>Cluster</th><th>Namespace</th><th class="num">Charged</th></tr></thead>
<tbody>
{% for cluster, ns, dollars in t.namespaces %}<tr><td>{{ cluster }}</td><td>{{ ns }}</td>
<td class="num" data-namespace="{{ ns }}" data-value="{{ dollars }}">{{ dollars | usd }}</td></tr>
{% endfor %}</tbody></table>
</section>
{% endfor %}
</body></html>
"""
