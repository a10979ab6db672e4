"""Prices: the price book format, bundled defaults, and node/volume pricing."""

from unitcost.data.frame import NodePrice
from unitcost.pricing.pricebook import PriceBook

__all__ = ["NodePrice", "PriceBook"]
