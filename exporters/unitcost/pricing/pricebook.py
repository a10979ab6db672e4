"""The price book: turns every node and volume into US dollars per hour.

Layers, later overriding earlier: the bundled defaults (public list prices), then each file
the user names. Each file is validated alone (so its errors name it) and converted to USD
before the layers merge, so currencies never mix.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from unitcost.base.errors import deep_merge, describe_validation_error
from unitcost.base.yamlfile import load_yaml_mapping, parse_yaml_mapping
from unitcost.data.frame import NodePrice
from unitcost.data.model import RESOURCES, CapacityType, Node, Provider, ResourceName, Volume
from unitcost.pricing.schema import NodeClass, PriceBookFile

GIB = 2.0**30
BUNDLED_NAME = "defaults.yaml"


def _validate(data: dict[str, Any], source: str) -> PriceBookFile:
    try:
        return PriceBookFile.model_validate(data)
    except ValidationError as exc:
        raise describe_validation_error(source, exc) from exc


def _in_usd(book: PriceBookFile) -> dict[str, Any]:
    """The book as plain data, every amount converted to USD."""
    data = book.model_dump(exclude_unset=True)
    rate = book.usd_per_currency_unit if book.currency != "USD" else None
    if rate is None:
        return data

    def scale(mapping: dict[str, Any], keys: Sequence[str]) -> None:
        for key in keys:
            if mapping.get(key) is not None:
                mapping[key] = mapping[key] * rate

    for provider in data.get("providers", {}).values():
        for price in provider.get("instance_types", {}).values():
            scale(price, ("hourly", "spot_hourly"))
        for commitment in provider.get("commitments", []):
            scale(commitment, ("hourly_commitment",))
    for node_class in data.get("onprem", {}).get("node_classes", {}).values():
        scale(
            node_class, ("purchase_price", "kwh_price", "facility_per_month", "support_per_month")
        )
    fallback = data.get("fallback", {})
    scale(fallback, ("cpu_core_hour", "memory_gib_hour", "gpu_hour", "storage_gib_hour"))
    scale(fallback.get("gpu_hour_by_model", {}), list(fallback.get("gpu_hour_by_model", {})))
    scale(data.get("storage_classes", {}), list(data.get("storage_classes", {})))
    for rates in data.get("network", {}).values():
        for table in ("transmit_per_gb", "receive_per_gb"):
            scale(rates.get(table, {}), list(rates.get(table, {})))
        scale(rates, ("nat_per_gb",))
        for tier in rates.get("internet_tiers", []):
            scale(tier, ("per_gb",))
    data["currency"] = "USD"
    data.pop("usd_per_currency_unit", None)
    return data


class PriceBook:
    """Resolves nodes and volumes to dollars per hour. Pure once built."""

    def __init__(self, book: PriceBookFile, sources: Sequence[str] = ()) -> None:
        self.book = book
        self.sources = tuple(sources)
        self.hours_per_month = book.hours_per_month

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def bundled_data(cls) -> dict[str, Any]:
        text = resources.files("unitcost.pricing").joinpath(BUNDLED_NAME).read_text("utf-8")
        return parse_yaml_mapping(text, f"bundled {BUNDLED_NAME}")

    @classmethod
    def load(cls, paths: Sequence[Path | str] = (), *, with_defaults: bool = True) -> PriceBook:
        """Load the bundled defaults (unless told not to) overlaid by each file in order."""
        merged: dict[str, Any] = {}
        sources: list[str] = []
        layers: list[tuple[str, dict[str, Any]]] = []
        if with_defaults:
            layers.append((f"bundled {BUNDLED_NAME}", cls.bundled_data()))
        layers.extend((str(path), load_yaml_mapping(path)) for path in paths)
        for source, data in layers:
            merged = deep_merge(merged, _in_usd(_validate(data, source)))
            sources.append(source)
        return cls(_validate(merged, "merged price book (" + " + ".join(sources) + ")"), sources)

    # -- pricing --------------------------------------------------------------------------
    def gpu_hourly(self, model: str) -> float:
        by_model = self.book.fallback.gpu_hour_by_model
        return by_model.get(model, self.book.fallback.gpu_hour)

    def _fallback_value(self, node: Node) -> dict[ResourceName, float]:
        """Per-resource value of the node's hardware at the fallback rates."""
        rates = self.book.fallback
        return {
            "cpu": node.capacity.cpu * rates.cpu_core_hour,
            "memory": node.capacity.memory / GIB * rates.memory_gib_hour,
            "gpu": node.capacity.gpu * self.gpu_hourly(node.gpu_model),
            "storage": node.capacity.storage / GIB * rates.storage_gib_hour,
        }

    def _cloud_hourly(self, node: Node) -> float | None:
        provider = self.book.providers.get(node.provider.value)
        if provider is None:
            return None
        price = provider.instance_types.get(node.instance_type)
        if price is None:
            return None
        if node.capacity_type is CapacityType.SPOT:
            if price.spot_hourly is not None:
                return price.spot_hourly
            return price.hourly * (1.0 - provider.spot_discount)
        if node.capacity_type is CapacityType.COMMITTED:
            return price.hourly * (1.0 - provider.committed_discount)
        return price.hourly

    def node_class_hourly(self, node_class: NodeClass) -> float:
        """Amortised purchase + power (watts x $/kWh x PUE) + facility and support."""
        hours = self.hours_per_month
        capital = node_class.purchase_price / (node_class.amortization_months * hours)
        power = node_class.watts / 1000.0 * node_class.kwh_price * node_class.pue
        running = (node_class.facility_per_month + node_class.support_per_month) / hours
        return capital + power + running

    def node_price(self, node: Node) -> NodePrice:
        fallback = self._fallback_value(node)
        if node.provider is Provider.ONPREM:
            node_class = self.book.onprem.node_classes.get(node.instance_type)
            if node_class is not None:
                # Split by the class weights, over only the resources this node has.
                weights = {r: getattr(node_class.weights, r) for r in RESOURCES}
                present = {r: w for r, w in weights.items() if node.capacity.get(r) > 0 and w > 0}
                if not present:
                    present = {"cpu": 1.0}
                total_weight = sum(present.values())
                class_hourly = self.node_class_hourly(node_class)
                by_weight = {
                    r: class_hourly * present.get(r, 0.0) / total_weight for r in RESOURCES
                }
                return NodePrice(by_weight, priced=True, method="node-class")
        else:
            hourly = self._cloud_hourly(node)
            if hourly is not None:
                # The instance price covers cpu, memory and gpu, split in proportion to their
                # value at fallback rates; node-local disk is billed on top (as EBS/PD is).
                compute_resources: tuple[ResourceName, ...] = ("cpu", "memory", "gpu")
                compute = {r: fallback[r] for r in compute_resources}
                value = sum(compute.values())
                split: dict[ResourceName, float] = (
                    {r: hourly * v / value for r, v in compute.items()}
                    if value > 0
                    else {"cpu": hourly, "memory": 0.0, "gpu": 0.0}
                )
                split["storage"] = fallback["storage"]
                return NodePrice(split, priced=True, method="instance-type")
        return NodePrice(dict(fallback), priced=False, method="fallback")

    def volume_hourly(self, volume: Volume) -> float:
        classes = self.book.storage_classes
        per_gib_month = classes.get(volume.storage_class, classes.get("default", 0.0))
        return volume.size_bytes / GIB * per_gib_month / self.hours_per_month
