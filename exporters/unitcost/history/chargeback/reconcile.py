"""The bill beside the estimate: per cluster and provider, what unitcost estimated the nodes
cost in the month, what the provider billed for them, and what no team was charged.

A bill line is the cluster's when it is a compute line (ServiceCategory `Compute`) and
- its resource is one of the cluster's nodes: the last segment of `ResourceId` (an EC2 ARN's
  `i-...`, a GCE or Azure VM path's name), or `ResourceName`, equals a node name (its first
  DNS label) that `unitcost_node_info` recorded in the month; or
- it carries a cluster tag: `aws:eks:cluster-name`, `eks:cluster-name`,
  `kubernetes.io/cluster/<name>`, `goog-k8s-cluster-name`, `aks-managed-cluster-name`, or
  `unitcost.io/cluster` (docs/chargeback.md, "Reading a provider bill").

Cost compared is EffectiveCost (amortized: commitment purchases spread onto the usage they
cover, as unitcost's prices are); BilledCost is shown beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from unitcost.history.chargeback.bill import Bill, BillLine
from unitcost.history.chargeback.period import HOUR
from unitcost.sources.promapi import PrometheusAPI

NODE_INFO = "unitcost_node_info"
NODE_COST = "provider:unitcost_node_cost_dollars_per_hour:sum"
NODE_IDLE = "provider:unitcost_node_idle_cost_dollars_per_hour:sum"
CLUSTER_TAG_KEYS = (
    "aws:eks:cluster-name",
    "eks:cluster-name",
    "goog-k8s-cluster-name",
    "aks-managed-cluster-name",
    "unitcost.io/cluster",
)
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
#: FOCUS provider names -> the `provider` label unitcost_node_info carries.
PROVIDER_LABELS = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon": "aws",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "google": "gcp",
    "gcp": "gcp",
    "microsoft": "azure",
    "microsoft azure": "azure",
    "azure": "azure",
}

Key = tuple[str, str]  # (cluster, provider label)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One cluster and provider in the month."""

    cluster: str
    provider: str  # the bill's name for it, or the unitcost label when the bill has none
    estimate: Decimal  # unitcost's node cost estimate
    allocated: Decimal  # the estimate less its idle part: what teams were charged for nodes
    billed: Decimal  # BilledCost of the matched lines
    effective: Decimal  # EffectiveCost of the matched lines
    lines: int
    by_resource: int
    by_tag: int

    @property
    def ratio(self) -> Decimal | None:
        """Estimate / effective billed cost; None with nothing billed."""
        if self.effective <= 0:
            return None
        return (self.estimate / self.effective).quantize(Decimal("0.0001"))

    @property
    def unallocated(self) -> Decimal:
        """Billed (effective) cost that no team was charged: idle capacity plus the
        estimate's error."""
        return self.effective - self.allocated


@dataclass(slots=True)
class Report:
    bill: Bill
    rows: list[Reconciliation]
    compute_lines: int
    unmatched_compute: Decimal  # EffectiveCost of compute lines matched to no cluster

    def text(self) -> str:
        """A plain-text table for the terminal."""
        head = (
            f"Bill {self.bill.path} (FOCUS {self.bill.shape}): {len(self.bill.lines)} of "
            f"{self.bill.rows_read} lines in {self.bill.period.label}, "
            f"{self.compute_lines} compute, "
            f"{sum(r.lines for r in self.rows)} matched to a cluster"
        )
        if not self.bill.lines:
            head += f" (the bill has no charges in {self.bill.period.label})"
        columns = (
            "cluster",
            "provider",
            "estimate",
            "allocated",
            "billed",
            "effective",
            "estimate/billed",
            "unallocated",
            "lines",
        )
        table: list[tuple[str, ...]] = [columns]
        for r in self.rows:
            table.append(
                (
                    r.cluster,
                    r.provider,
                    _usd(r.estimate),
                    _usd(r.allocated),
                    _usd(r.billed),
                    _usd(r.effective),
                    "n/a" if r.ratio is None else f"{r.ratio:.4f}",
                    _usd(r.unallocated),
                    str(r.lines),
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
        out = [head]
        for n, row in enumerate(table):
            cells = [
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            out.append("  ".join(cells).rstrip())
            if n == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append(f"Compute lines matched to no cluster: {_usd(self.unmatched_compute)} effective")
        return "\n".join(out) + "\n"


def _usd(value: Decimal) -> str:
    return f"{value:,.2f}"


def provider_label(name: str) -> str:
    return PROVIDER_LABELS.get(name.strip().lower(), name.strip().lower())


def node_key(name: str) -> str:
    """A node name's first DNS label, lowercased (`i-0abc.ec2.internal` -> `i-0abc`)."""
    return name.split(".", 1)[0].lower()


def resource_keys(line: BillLine) -> list[str]:
    """What a bill line's resource may be called on the node: ResourceId's last segment
    (after `/`, then `:`) and ResourceName."""
    keys = []
    if line.resource_id:
        keys.append(line.resource_id.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower())
    if line.resource_name:
        keys.append(node_key(line.resource_name))
    return [k for k in keys if k]


def tag_cluster(tags: Mapping[str, str]) -> str | None:
    for key in CLUSTER_TAG_KEYS:
        value = tags.get(key)
        if value:
            return value
    for key in tags:
        if key.startswith(CLUSTER_TAG_PREFIX) and len(key) > len(CLUSTER_TAG_PREFIX):
            return key[len(CLUSTER_TAG_PREFIX) :]
    return None


def reconcile(api: PrometheusAPI, bill: Bill, at: float) -> Report:
    """Match the bill's compute lines to the clusters Prometheus knows and set them beside
    unitcost's node cost for the period (up to `at`)."""
    period = bill.period
    end = min(float(period.end), at)
    nodes = _nodes(api, period.start, end)
    estimate = _dollars(api, NODE_COST, period.start, end)
    idle = _dollars(api, NODE_IDLE, period.start, end)

    billed: dict[Key, Decimal] = defaultdict(Decimal)
    effective: dict[Key, Decimal] = defaultdict(Decimal)
    counts: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    names: dict[Key, str] = {}
    compute_lines = 0
    unmatched = Decimal(0)
    for line in bill.lines:
        if line.service_category.lower() != "compute" or line.start >= end:
            continue
        compute_lines += 1
        label = provider_label(line.provider)
        cluster = next((nodes[k] for k in resource_keys(line) if k in nodes), None)
        how = 1
        if cluster is None:
            cluster, how = tag_cluster(line.tags), 2
        if cluster is None:
            unmatched += line.effective
            continue
        key = (cluster, label)
        names.setdefault(key, line.provider)
        billed[key] += line.billed
        effective[key] += line.effective
        counts[key][0] += 1
        counts[key][how] += 1

    rows = []
    for key in sorted(set(effective) | {k for k in estimate if k[1] != "onprem"}):
        cluster, label = key
        est = _round(estimate.get(key, 0.0))
        rows.append(
            Reconciliation(
                cluster=cluster,
                provider=names.get(key, label),
                estimate=est,
                allocated=est - _round(idle.get(key, 0.0)),
                billed=billed.get(key, Decimal(0)),
                effective=effective.get(key, Decimal(0)),
                lines=counts[key][0] if key in counts else 0,
                by_resource=counts[key][1] if key in counts else 0,
                by_tag=counts[key][2] if key in counts else 0,
            )
        )
    return Report(bill, rows, compute_lines, unmatched)


def _round(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.000001"))


def _nodes(api: PrometheusAPI, start: float, end: float) -> dict[str, str]:
    """Node key -> cluster, for every node recorded in [start, end)."""
    window = max(int(end - start), 1)
    promql = f"count by (cluster, node) (last_over_time({NODE_INFO}[{window}s]))"
    out: dict[str, str] = {}
    for sample in api.query(promql, at=end):
        node = sample.labels.get("node", "")
        if node:
            out.setdefault(node_key(node), sample.labels.get("cluster", ""))
    return out


def _dollars(api: PrometheusAPI, rate: str, start: float, end: float) -> dict[Key, float]:
    """Dollars per (cluster, provider) of a $/h series over [start, end): hourly averages,
    plus the part-hour at the end."""
    out: dict[Key, float] = defaultdict(float)
    last_full_hour = int(end) // HOUR * HOUR
    if last_full_hour >= start + HOUR:
        promql = f"avg_over_time({rate}[1h])"
        for series in api.query_range(promql, start=start + HOUR, end=last_full_hour, step_s=HOUR):
            key = (series.labels.get("cluster", ""), series.labels.get("provider", ""))
            out[key] += sum(v for _, v in series.points)
    if end > last_full_hour:
        fraction = (end - last_full_hour) / HOUR
        for sample in api.query(rate, at=end):
            key = (sample.labels.get("cluster", ""), sample.labels.get("provider", ""))
            out[key] += sample.value * fraction
    return dict(out)
