"""The price book file format, validated on load (pydantic). See docs/pricebook.md."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveDollars = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstancePrice(_Strict):
    """A cloud instance type's on-demand list price."""

    hourly: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    #: Spot price, when known; otherwise the provider's spot_discount applies.
    spot_hourly: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    #: When the price was read from its source (YYYY-MM or YYYY-MM-DD).
    as_of: Annotated[str, Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")]


Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]


class Commitment(_Strict):
    """A spend commitment (savings plan, committed-use or enterprise discount contract): so
    many dollars an hour from `start` to `end` (YYYY-MM-DD, UTC, end exclusive). The nodes the
    estimates price at `committed_discount` (capacity type `committed`) draw on it; the
    chargeback export's FOCUS Contract Commitment dataset reports how much they applied."""

    id: Annotated[str, Field(min_length=1)]
    #: FOCUS ContractCommitmentType, e.g. "Savings Plan", "Committed Use Discount".
    type: Annotated[str, Field(min_length=1)]
    description: str = ""
    #: The contract it belongs to (FOCUS ContractId); the commitment's id when not given.
    contract_id: str = ""
    start: Day
    end: Day
    hourly_commitment: Annotated[float, Field(gt=0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _period(self) -> Commitment:
        if self.end <= self.start:
            raise ValueError(
                f"commitment {self.id}: end {self.end} must be after start {self.start}"
            )
        return self


class ProviderPrices(_Strict):
    #: Where the instance prices come from (a page, an API, a contract).
    source: str = ""
    spot_discount: Fraction = 0.0
    #: Effective discount of reserved instances, savings plans or committed-use contracts.
    committed_discount: Fraction = 0.0
    instance_types: dict[str, InstancePrice] = Field(default_factory=dict)
    #: The spend commitments behind committed_discount (docs/pricebook.md, docs/chargeback.md).
    commitments: list[Commitment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_commitments(self) -> ProviderPrices:
        ids = [c.id for c in self.commitments]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"commitments: id(s) {repeated} appear more than once")
        return self


class Weights(_Strict):
    cpu: PositiveDollars = 0.0
    memory: PositiveDollars = 0.0
    gpu: PositiveDollars = 0.0
    storage: PositiveDollars = 0.0

    @model_validator(mode="after")
    def _not_all_zero(self) -> Weights:
        if self.cpu + self.memory + self.gpu + self.storage <= 0:
            raise ValueError("at least one weight must be above 0")
        return self


class NodeClass(_Strict):
    """Total cost of ownership of one on-prem server model."""

    purchase_price: PositiveDollars
    amortization_months: Annotated[int, Field(gt=0)]
    watts: PositiveDollars = 0.0
    kwh_price: PositiveDollars = 0.0
    pue: Annotated[float, Field(ge=1, le=5)] = 1.0
    facility_per_month: PositiveDollars = 0.0
    support_per_month: PositiveDollars = 0.0
    #: How the node's hourly cost splits across resources (normalised over those it has).
    weights: Weights
    as_of: Annotated[str, Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")] | None = None


class OnPrem(_Strict):
    node_classes: dict[str, NodeClass] = Field(default_factory=dict)


class FallbackRates(_Strict):
    """Per-resource rates for nodes whose instance type or class has no price. They also weight
    how a known instance price splits across cpu, memory and gpu."""

    cpu_core_hour: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.031611
    memory_gib_hour: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.004237
    gpu_hour: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2.5
    #: Per GPU model (as the node reports it), overriding gpu_hour.
    gpu_hour_by_model: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    #: Node-local (ephemeral) disk.
    storage_gib_hour: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0001096


#: Traffic classes a network rate may name (unitcost.data.network.TrafficClass values).
NETWORK_CLASSES = (
    "same-node",
    "same-zone",
    "other-zone",
    "same-region",
    "other-region",
    "other-cloud",
    "internet",
    "onprem",
    "unclassified",
)


class EgressTier(_Strict):
    """One tier of internet egress: `per_gb` applies to the month's GiB up to `up_to_gb`
    (the last tier has none)."""

    up_to_gb: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    per_gb: PositiveDollars


class NetworkRates(_Strict):
    """Data-transfer list prices of one provider, in currency per GiB (2^30 bytes)."""

    source: str = ""
    as_of: Annotated[str, Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")]
    #: Per class, bytes a pod sends; classes not named cost 0.
    transmit_per_gb: dict[str, PositiveDollars] = Field(default_factory=dict)
    #: Per class, bytes a pod receives (AWS bills inter-zone traffic in each direction).
    receive_per_gb: dict[str, PositiveDollars] = Field(default_factory=dict)
    #: Internet (and other-cloud) egress by month-to-date volume; overrides transmit_per_gb
    #: for those classes when given.
    internet_tiers: list[EgressTier] = Field(default_factory=list)
    #: NAT gateway data processing, both directions.
    nat_per_gb: PositiveDollars = 0.0

    @model_validator(mode="after")
    def _known_classes(self) -> NetworkRates:
        for name in ("transmit_per_gb", "receive_per_gb"):
            unknown = sorted(set(getattr(self, name)) - set(NETWORK_CLASSES))
            if unknown:
                raise ValueError(
                    f"{name}: unknown traffic class(es) {unknown}: use {', '.join(NETWORK_CLASSES)}"
                )
        bounds = [t.up_to_gb for t in self.internet_tiers]
        if bounds and (bounds[-1] is not None or None in bounds[:-1]):
            raise ValueError("internet_tiers: every tier but the last needs up_to_gb")
        limits = [b for b in bounds if b is not None]
        if limits != sorted(set(limits)):
            raise ValueError(f"internet_tiers: up_to_gb must increase (got {limits})")
        return self


class PriceBookFile(_Strict):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    #: US dollars per one unit of `currency`; required when currency is not USD.
    usd_per_currency_unit: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    hours_per_month: Annotated[float, Field(gt=0, le=745)] = 730.0
    fallback: FallbackRates = Field(default_factory=FallbackRates)
    #: Persistent volume prices per storage class, in currency per GiB-month; "default" applies
    #: to classes not listed.
    storage_classes: dict[str, PositiveDollars] = Field(default_factory=lambda: {"default": 0.10})
    providers: dict[str, ProviderPrices] = Field(default_factory=dict)
    onprem: OnPrem = Field(default_factory=OnPrem)
    #: Data-transfer rates per provider (aws, gcp, onprem); docs/network.md.
    network: dict[str, NetworkRates] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _currency_rate(self) -> PriceBookFile:
        if self.currency != "USD" and self.usd_per_currency_unit is None:
            raise ValueError(
                f"currency is {self.currency}: set usd_per_currency_unit (US dollars per 1 "
                f"{self.currency}) so that every price converts to USD at load"
            )
        unknown = set(self.providers) - {"aws", "gcp"}
        if unknown:
            raise ValueError(f"unknown provider(s) {sorted(unknown)}: use aws, gcp, or onprem")
        unknown = set(self.network) - {"aws", "gcp", "onprem"}
        if unknown:
            raise ValueError(
                f"network: unknown provider(s) {sorted(unknown)}: use aws, gcp, onprem"
            )
        return self
