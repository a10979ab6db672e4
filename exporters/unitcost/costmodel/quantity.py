"""Kubernetes resource quantities ("100m", "1.5Gi", "1e3") to numbers."""

from __future__ import annotations

import math
import re

_SUFFIXES: dict[str, float] = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}

# The grammar of resource.Quantity: a signed decimal, then a binary or decimal suffix or an
# exponent (e.g. "1e3", "1E3").
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exp>[+-]?\d+))?$",
    re.ASCII,  # \d would also take "１" or "٣", which float() reads but the apiserver refuses
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str | int | float) -> float:
    """Parse a quantity into a plain float (cores, bytes, devices).

    Raises QuantityError for anything the apiserver would reject, and for negative or
    non-finite results, which no resource amount can be.
    """
    if isinstance(text, bool):
        raise QuantityError(f"not a quantity: {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = _QUANTITY.fullmatch(text.strip())
        if match is None:
            raise QuantityError(f"not a Kubernetes quantity: {text!r}")
        number = float(match.group("number"))
        if match.group("exp") is not None:
            exponent = int(match.group("exp"))
            if abs(exponent) > 300:
                raise QuantityError(f"quantity out of range: {text!r}")
            value = number * 10.0**exponent
        else:
            value = number * _SUFFIXES[match.group("suffix") or ""]
    if not math.isfinite(value) or value < 0:
        raise QuantityError(f"quantity must be finite and not negative: {text!r}")
    return value
