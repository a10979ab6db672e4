"""Prices: the price book format, bundled defaults, and node/volume pricing."""

from unitcost.pricing.pricebook import NodePrice, PriceBook

__all__ = ["NodePrice", "PriceBook"]
