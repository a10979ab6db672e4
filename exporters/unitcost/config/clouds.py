"""The `clouds:` block of the config file (docs/clouds.md). Everything is off by default."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
AWS_REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsRetries(_Strict):
    """botocore's retry handler: backs off on throttling (ThrottlingException, 429, 5xx)."""

    mode: Literal["standard", "adaptive"] = "adaptive"
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 8


class AwsPricingSettings(_Strict):
    """Live EC2 prices: the Pricing API (on-demand) and spot price history."""

    enabled: bool = False
    #: The cluster's region: prices are read for it (one exporter per cluster, one region).
    region: Annotated[str, Field(pattern=AWS_REGION)] = "us-east-1"
    #: The Pricing API is served from us-east-1, eu-central-1 and ap-south-1 only.
    pricing_api_region: Literal["us-east-1", "eu-central-1", "ap-south-1"] = "us-east-1"
    operating_system: Literal["Linux", "Windows", "RHEL", "SUSE"] = "Linux"
    tenancy: Literal["Shared", "Dedicated", "Host"] = "Shared"
    #: Instance types read at start; those of the cluster's AWS nodes are added as they appear.
    instance_types: list[str] = Field(default_factory=list)
    spot: bool = True
    #: How long prices are kept before the background refresh reads them again.
    ttl_seconds: Annotated[float, Field(ge=60, le=7 * 86400)] = 21600.0


class AwsBillingSettings(_Strict):
    """Actual cost from Cost Explorer. Each request is billed (USD 0.01), so poll rarely."""

    enabled: bool = False
    poll_interval_seconds: Annotated[float, Field(ge=300, le=7 * 86400)] = 21600.0
    #: Complete UTC days read back from yesterday (Cost Explorer settles over ~24-48 h).
    lookback_days: Annotated[int, Field(ge=1, le=60)] = 3
    metric: Literal[
        "UnblendedCost", "AmortizedCost", "NetAmortizedCost", "NetUnblendedCost", "BlendedCost"
    ] = "UnblendedCost"
    #: Cost allocation tag whose value becomes the `team` label (must be activated in Billing).
    team_tag: Annotated[str, Field(min_length=1, max_length=128)] = "team"
    #: Linked accounts to read one by one (the `account` label); empty: one query, account="all".
    accounts: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = Field(default_factory=list)
    #: Tag filter scoping the bill to this cluster, e.g. {"eks:cluster-name": "prod"}.
    scope_tags: dict[str, str] = Field(default_factory=dict)
    #: Services whose billed cost is compared with the estimate of this provider's nodes.
    reconcile_services: list[str] = Field(
        default_factory=lambda: ["Amazon Elastic Compute Cloud - Compute"], min_length=1
    )
    #: Also read the bill's data-transfer lines (one more request per account and poll,
    #: grouped by usage type) to reconcile the node agents' network dollars (docs/network.md).
    data_transfer: bool = True


class CorrectionSettings(_Strict):
    """A factor applied to this provider's node prices so estimates converge on the bill."""

    mode: Literal["off", "fixed", "from_bill"] = "off"
    #: The factor for mode `fixed`.
    factor: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 1.0
    #: mode `from_bill`: 1 / the latest reconciliation ratio, clamped to [min, max].
    min_factor: Annotated[float, Field(gt=0, le=1)] = 0.5
    max_factor: Annotated[float, Field(ge=1, le=10)] = 2.0
    #: A day counts for reconciliation when the exporter estimated at least this share of it.
    min_coverage_ratio: Annotated[float, Field(gt=0, le=1)] = 0.9


class AwsSettings(_Strict):
    pricing: AwsPricingSettings = Field(default_factory=AwsPricingSettings)
    billing: AwsBillingSettings = Field(default_factory=AwsBillingSettings)
    correction: CorrectionSettings = Field(default_factory=CorrectionSettings)
    retries: AwsRetries = Field(default_factory=AwsRetries)
    #: Per-request timeouts (connect, read) in seconds.
    connect_timeout_seconds: Seconds = 5.0
    read_timeout_seconds: Seconds = 30.0

    @model_validator(mode="after")
    def _bill_needed(self) -> AwsSettings:
        if self.correction.mode == "from_bill" and not self.billing.enabled:
            raise ValueError("correction.mode from_bill needs billing.enabled: true")
        return self


class GcpMonitoringSettings(_Strict):
    """GKE usage from Cloud Monitoring, for clusters without in-cluster usage agents."""

    enabled: bool = False
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] | None = None
    cluster_name: Annotated[str, Field(min_length=1)] | None = None
    #: The cluster's location (region or zone), when several clusters share a name.
    location: str = ""
    poll_interval_seconds: Annotated[float, Field(ge=10, le=3600)] = 60.0
    #: How far back to look for each pod's latest point (GKE writes every 60 s).
    window_seconds: Annotated[float, Field(ge=60, le=3600)] = 300.0
    #: Which memory counts as used: `non-evictable` (working set) or both kinds.
    memory_type: Literal["non-evictable", "all"] = "non-evictable"
    #: GPU usage: `requested` (GPUs never count as unused, as with the metrics API) or
    #: `duty_cycle` (busy share of the requested GPUs; the rest is reported as unused).
    gpu_usage: Literal["requested", "duty_cycle"] = "requested"
    timeout_seconds: Seconds = 30.0

    @model_validator(mode="after")
    def _where(self) -> GcpMonitoringSettings:
        if self.enabled and (self.project is None or self.cluster_name is None):
            raise ValueError("enabled: true needs project and cluster_name")
        return self


class GcpSettings(_Strict):
    monitoring: GcpMonitoringSettings = Field(default_factory=GcpMonitoringSettings)


class CloudsSettings(_Strict):
    aws: AwsSettings = Field(default_factory=AwsSettings)
    gcp: GcpSettings = Field(default_factory=GcpSettings)

    @property
    def any_enabled(self) -> bool:
        return (
            self.aws.pricing.enabled
            or self.aws.billing.enabled
            or self.aws.correction.mode != "off"
            or self.gcp.monitoring.enabled
        )
