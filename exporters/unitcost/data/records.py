"""Records that sources and runtime hand to sinks: health, billing, reloads."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SourceHealth:
    source: str
    up: bool
    #: Unix time of the last successful read; 0 if never.
    last_success: float


@dataclass(frozen=True, slots=True)
class CollectStats:
    duration_seconds: float
    sources: tuple[SourceHealth, ...]


@dataclass(frozen=True, slots=True)
class BilledCost:
    """One line of a cloud bill for one day (unitcost.sources.cloud)."""

    provider: str
    account: str
    service: str
    team: str
    dollars: float


@dataclass(frozen=True, slots=True)
class BilledTransfer:
    """The bill's data-transfer lines of one day and account, by destination class
    (`other-zone`, `other-region`, `internet`, `nat`)."""

    provider: str
    account: str
    destination: str
    dollars: float


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The exporter's estimate of a provider's node cost over one UTC day, beside the bill."""

    provider: str
    #: Unix time of the day's start (00:00 UTC).
    day_start: float
    estimated: float
    billed: float


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    """The last load of one config or price book file (unitcost.runtime.reload)."""

    file: str
    #: Whether the last attempt to load it succeeded (a failed one left the last good in force).
    ok: bool
    #: Unix time of the last successful load; 0 if never.
    last_success: float


@dataclass(frozen=True, slots=True)
class CloudBilling:
    """What the cloud parts report each collect: the latest billed day, how the estimates
    compare with it, and the correction factors in force (sources/cloud/services.py)."""

    billed: tuple[BilledCost, ...] = ()
    #: provider -> start (00:00 UTC) of the day `billed` covers.
    billed_day: dict[str, float] = field(default_factory=dict)
    reconciliations: tuple[Reconciliation, ...] = ()
    #: provider -> factor applied to its node prices (only when a correction mode is set).
    corrections: dict[str, float] = field(default_factory=dict)
    #: The data-transfer lines of the day `billed` covers.
    billed_transfer: tuple[BilledTransfer, ...] = ()
