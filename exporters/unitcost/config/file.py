"""The config file: schema, loading, and error messages that name the file and field.

Reference: docs/config.md. Without a file every field has its default, and the source is
the Kubernetes cluster found as kubectl finds it; the simulator runs only when asked for
(`source.kind: simulator`, or `unitcost demo`, whose config is the embedded
`unitcost/config/demo.yaml`: the simulated cluster with budgets and policies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from unitcost.base.errors import InputError, describe_validation_error
from unitcost.base.yamlfile import load_yaml_mapping, parse_yaml_mapping
from unitcost.config.actions import ActionsSettings
from unitcost.config.clouds import CloudsSettings
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.config.lakehouse import LakehouseSettings
from unitcost.config.network import NetworkSettings
from unitcost.config.otlp import OtlpSettings
from unitcost.config.recommend import RecommendSettings
from unitcost.config.shared_services import SharedServicesSettings

DEMO_CONFIG = "demo.yaml"

LabelOrigin = Literal["namespace_label", "namespace_annotation", "pod_label", "pod_annotation"]


@dataclass(frozen=True, slots=True)
class LabelSource:
    """Read an ownership field from one label or annotation."""

    origin: LabelOrigin
    key: str


NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulatorConfig(_Strict):
    seed: int = 42
    nodes: Annotated[int, Field(ge=1, le=20000)] = 60
    pods: Annotated[int, Field(ge=0, le=500000)] = 1500
    #: Simulated seconds per wall-clock second (pods come and go faster in a demo).
    speed: Annotated[float, Field(gt=0, le=10000)] = 1.0
    #: Share of GPU workloads whose GPUs sit idle.
    gpu_idle_share: Ratio = 0.25
    #: Also serve the network counters the simulated nodes' agents would count (made up,
    #: docs/network.md): about 2.5x the series of a pod, so on in the demo, off by default.
    network_traffic: bool = False
    #: Add shared-GPU pools: DRA claims, MIG slices, time-slicing, fractions (docs/gpu.md).
    gpu_pools: bool = False
    #: Extra running pods holding GPUs, as a share of `pods` (`make bench --gpu-mix`: 0.05),
    #: a third through DRA claims, the rest MIG, replicas and fractions (docs/gpu.md).
    gpu_holder_share: Ratio = 0.0
    #: Add the platform's shared cache (Alluxio) and broker (Kafka) with per-team usage; the
    #: `shared_services:` services named `alluxio` and `kafka` read it (docs/shared-services.md).
    shared_services: bool = False


class SourceConfig(_Strict):
    #: Which source runs; only its block is read (docs/kubernetes.md for `kubernetes:`). The
    #: simulator's made-up costs only when asked for by name: they must never pass for real.
    kind: Literal["simulator", "kubernetes"] = "kubernetes"
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)


class LabelSourceConfig(_Strict):
    """Exactly one of the four keys: where to read the value from."""

    namespace_label: str | None = None
    namespace_annotation: str | None = None
    pod_label: str | None = None
    pod_annotation: str | None = None

    def to_rule(self) -> LabelSource:
        candidates: tuple[tuple[LabelOrigin, str | None], ...] = (
            ("namespace_label", self.namespace_label),
            ("namespace_annotation", self.namespace_annotation),
            ("pod_label", self.pod_label),
            ("pod_annotation", self.pod_annotation),
        )
        given = [LabelSource(origin, key) for origin, key in candidates if key]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of namespace_label, namespace_annotation, pod_label, "
                "pod_annotation"
            )
        return given[0]


class NamespaceDefaultConfig(_Strict):
    pattern: str
    team: str = ""
    org: str = ""
    cost_center: str = ""


def _default_sources(key: str) -> list[LabelSourceConfig]:
    return [LabelSourceConfig(pod_label=key), LabelSourceConfig(namespace_label=key)]


class AttributionConfig(_Strict):
    team: list[LabelSourceConfig] = Field(default_factory=lambda: _default_sources("team"))
    org: list[LabelSourceConfig] = Field(default_factory=lambda: _default_sources("org"))
    cost_center: list[LabelSourceConfig] = Field(
        default_factory=lambda: _default_sources("cost-center")
    )
    namespace_defaults: list[NamespaceDefaultConfig] = Field(default_factory=list)
    #: Pod labels copied onto the pod series (unitcost_pod_total_cost_dollars_per_hour,
    #: unitcost_pod_info) as `label_<key>`; no other pod label ever is.
    pod_label_allowlist: list[str] = Field(default_factory=list)

    @field_validator("pod_label_allowlist")
    @classmethod
    def _distinct_labels(cls, value: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for key in value:
            if not key or len(key) > 317:
                raise ValueError(f"not a label key: {key!r}")
            name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
            if name in seen:
                raise ValueError(f"{key!r} and {seen[name]!r} both become label_{name}")
            seen[name] = key
        return value

    @field_validator("team", "org", "cost_center")
    @classmethod
    def _one_key_each(cls, value: list[LabelSourceConfig]) -> list[LabelSourceConfig]:
        for item in value:
            item.to_rule()
        return value


class SharedCostConfig(_Strict):
    #: Glob patterns of system namespaces whose cost is the shared bucket.
    namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    team: str = "shared"
    strategy: Literal["keep", "even", "proportional"] = "keep"


GpuIdleProducer = Literal["agent", "dcgm", "simulator"]


class GpuIdleConfig(_Strict):
    threshold_ratio: Ratio = 0.01
    window_seconds: Annotated[float, Field(gt=0)] = 1800.0
    #: Who writes unitcost_gpu_idle_cost_dollars_per_hour: exactly one producer per device
    #: (docs/gpu.md). agent: the GPU agent from NVML; dcgm: the cluster exporter from
    #: dcgm-exporter's readings (needs gpu_activity.source: dcgm); simulator: the cluster
    #: exporter for the simulated cluster. None: simulator for source.kind simulator, else
    #: agent.
    producer: GpuIdleProducer | None = None


class GpuConfig(_Strict):
    #: How a MIG slice's share of its GPU is priced: compute slices (3g.40gb = 3/7 of an
    #: H100) or framebuffer memory (40 of 80 GB = 1/2). docs/gpu.md.
    mig_share_basis: Literal["compute", "memory"] = "compute"


class GpuActivityConfig(_Strict):
    """Where GPU activity comes from for the cluster exporter (docs/gpu.md)."""

    #: agent: the GPU agent's NVML readings (it alone produces idle GPU dollars); dcgm: read
    #: dcgm-exporter's series from Prometheus for each holder's state and usage-basis cost.
    source: Literal["agent", "dcgm"] = "agent"
    #: The Prometheus (or Thanos, Mimir) that scrapes dcgm-exporter.
    prometheus_url: str = ""
    #: Extra matchers for each DCGM query, e.g. `cluster="prod"`.
    selector: str = ""
    poll_seconds: Annotated[float, Field(gt=0)] = 30.0
    #: A held GPU below the activity threshold that holds more framebuffer than this is warm
    #: idle (a loaded model), else empty.
    warm_memory_bytes: NonNegative = 1024.0 * 2**20
    #: A GPU drawing more than this many watts is busy whatever its activity (None: no veto).
    power_veto_watts: NonNegative | None = None

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _dcgm_needs_prometheus(self) -> GpuActivityConfig:
        if self.source == "dcgm" and not self.prometheus_url:
            raise ValueError("gpu_activity.source dcgm needs gpu_activity.prometheus_url")
        return self


class PerTeam(_Strict):
    """A value with per-team overrides."""

    default: NonNegative
    teams: dict[str, NonNegative] = Field(default_factory=dict)

    def for_team(self, team: str) -> float:
        return self.teams.get(team, self.default)


class PerTeamRatio(PerTeam):
    default: Ratio
    teams: dict[str, Ratio] = Field(default_factory=dict)


class BudgetsConfig(_Strict):
    period: Literal["month"] = "month"
    #: Budget for teams not listed; 0 means no budget (no series, no alert).
    default: NonNegative = 0.0
    teams: dict[str, NonNegative] = Field(default_factory=dict)

    def for_team(self, team: str) -> float:
        return self.teams.get(team, self.default)


class PolicyConfig(_Strict):
    """Thresholds exported as unitcost_policy_* metrics, read by the alerting rules."""

    waste_ratio_threshold: PerTeamRatio = Field(default_factory=lambda: PerTeamRatio(default=0.4))
    gpu_idle_dollars_per_hour_threshold: PerTeam = Field(
        default_factory=lambda: PerTeam(default=25.0)
    )
    #: Share of ended runs' dollars on failed/preempted/evicted runs (docs/batch-economics.md).
    unproductive_cost_ratio_threshold: PerTeamRatio = Field(
        default_factory=lambda: PerTeamRatio(default=0.2)
    )
    #: Queued demand $/h over the queue's quota $/h, held for an hour.
    queued_demand_quota_ratio_threshold: PerTeam = Field(
        default_factory=lambda: PerTeam(default=1.0)
    )
    unattributed_cost_ratio_threshold: Ratio = 0.05
    source_stale_seconds: Annotated[float, Field(gt=0)] = 900.0


class LimitsConfig(_Strict):
    """Bounds on what one exporter serves (docs/performance.md)."""

    #: Most series one scrape returns; over it, the cheapest pods' series are dropped first
    #: and counted in unitcost_series_dropped_total. None: no cap.
    max_series: Annotated[int, Field(ge=1)] | None = None


#: What the exporter serves per pod (docs/config.md, docs/performance.md). "workload": one cost
#: series per pod (its total, owners on it), the per-resource breakdown, unused and shared cost
#: per workload; "pod": also every pod's per-resource, unused and shared series and its info
#: series (about 5.5 series per pod instead of 1).
Detail = Literal["workload", "pod"]


class Config(_Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    detail: Detail = "workload"
    #: Price book files layered over the bundled defaults (paths relative to this file).
    pricebooks: list[str] = Field(default_factory=list)
    collect_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    shared_cost: SharedCostConfig = Field(default_factory=SharedCostConfig)
    gpu_idle: GpuIdleConfig = Field(default_factory=GpuIdleConfig)
    gpu: GpuConfig = Field(default_factory=GpuConfig)
    gpu_activity: GpuActivityConfig = Field(default_factory=GpuActivityConfig)
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    #: Push the metrics over OTLP too (docs/otlp.md); off while `endpoint` is empty.
    otlp: OtlpSettings = Field(default_factory=OtlpSettings)
    #: `unitcost recommend` / `controller` (docs/recommendations.md); `serve` ignores both.
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    actions: ActionsSettings = Field(default_factory=ActionsSettings)
    #: Live AWS prices, the AWS bill, GKE usage from Cloud Monitoring (docs/clouds.md).
    clouds: CloudsSettings = Field(default_factory=CloudsSettings)
    #: The node agent's network collector: zones, on-prem sites, NAT (docs/network.md).
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    #: Platform services split among their users by a usage query (docs/shared-services.md).
    shared_services: SharedServicesSettings = Field(default_factory=SharedServicesSettings)
    #: Where `unitcost chargeback --format iceberg` writes (docs/lakehouse.md).
    lakehouse: LakehouseSettings = Field(default_factory=LakehouseSettings)

    #: Directory that relative paths are resolved against (not part of the file).
    base_dir: Annotated[Path, Field(exclude=True)] = Path(".")

    def pricebook_paths(self) -> list[Path]:
        return [self.base_dir / p for p in self.pricebooks]

    @property
    def gpu_idle_producer(self) -> GpuIdleProducer:
        """The one producer of GPU idle dollars (gpu_idle.producer, else by the source)."""
        if self.gpu_idle.producer is not None:
            return self.gpu_idle.producer
        return "simulator" if self.source.kind == "simulator" else "agent"

    @model_validator(mode="after")
    def _one_idle_producer(self) -> Config:
        producer = self.gpu_idle.producer
        if producer == "dcgm" and self.gpu_activity.source != "dcgm":
            raise ValueError(
                "gpu_idle.producer dcgm reads dcgm-exporter's series: it needs "
                f"gpu_activity.source: dcgm (got {self.gpu_activity.source!r})"
            )
        if producer == "simulator" and self.source.kind != "simulator":
            raise ValueError(
                "gpu_idle.producer simulator is for the simulated cluster: it needs "
                f"source.kind: simulator (got {self.source.kind!r}); use agent or dcgm"
            )
        return self


def parse_config(data: dict[str, Any], source: str, base_dir: Path) -> Config:
    if "base_dir" in data:
        raise InputError(f"{source}: base_dir: not a config field")
    try:
        return Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise describe_validation_error(source, exc) from exc


def load_config(path: Path | str | None) -> Config:
    """Load a config file, or the defaults (a real cluster as the source) when `path` is None."""
    if path is None:
        return Config()
    path = Path(path)
    return parse_config(load_yaml_mapping(path), str(path), path.parent)


def demo_config() -> Config:
    text = resources.files("unitcost.config").joinpath(DEMO_CONFIG).read_text("utf-8")
    return parse_config(parse_yaml_mapping(text, f"embedded {DEMO_CONFIG}"), DEMO_CONFIG, Path("."))
