"""The `network:` config block: how the node agent's network collector places addresses
(docs/network.md). The `--collector.network` flag of `unitcost gpu-agent` switches it on.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _cidrs(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"not a CIDR (got {value!r})") from None
    return values


class ZoneSubnets(_Strict):
    """Subnets of one zone whose addresses are not nodes' or pod CIDRs the API lists (AWS VPC
    CNI gives pods addresses from the node's subnet)."""

    provider: str = ""
    region: str = ""
    cidrs: list[str] = Field(default_factory=list)

    _check = field_validator("cidrs")(_cidrs)


class OnPremSite(_Strict):
    """An on-prem site reached over a private link (Direct Connect, Interconnect, VPN)."""

    cidrs: list[str] = Field(default_factory=list)

    _check = field_validator("cidrs")(_cidrs)


class NetworkSettings(_Strict):
    #: Zone name -> its subnets (provider and region default to this node's).
    zones: dict[str, ZoneSubnets] = Field(default_factory=dict)
    #: Site name -> its ranges; traffic to them is class `onprem`.
    onprem_sites: dict[str, OnPremSite] = Field(default_factory=dict)
    #: Nodes reach the internet, other regions and in-region cloud services through a NAT
    #: gateway (private nodes); `nat_bypass` lists destinations that do not (VPC endpoints).
    nat_gateway: bool = False
    nat_bypass: list[str] = Field(default_factory=list)
    #: The clouds' published IP ranges, in their own formats (AWS ip-ranges.json, Google
    #: cloud.json) or unitcost's compact form; paths relative to the config file. Each replaces
    #: the bundled snapshot of the providers it carries.
    cloud_ranges: list[str] = Field(default_factory=list)
    #: Use the snapshot of AWS and Google ranges bundled with unitcost (its dates:
    #: docs/network.md) for providers no `cloud_ranges` file carries.
    bundled_cloud_ranges: bool = True
    #: Seconds a pod's counters stay exported after its last byte (then the series goes).
    retain_seconds: Annotated[float, Field(gt=0)] = 3600.0

    _check = field_validator("nat_bypass")(_cidrs)
