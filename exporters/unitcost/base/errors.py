"""Errors shown to people: each names the file, the field inside it and the bad value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError


class InputError(Exception):
    """A config or price book that cannot be used. `str()` is the message for the user."""


def _format_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}" if out else part
        else:  # keys such as "m5.xlarge" or "kube-*" would read ambiguously after a dot
            out += f"[{part!r}]"
    return out or "(top level)"


def describe_validation_error(source: str, error: ValidationError) -> InputError:
    """Turn pydantic's error into one line per problem: `file: path.to.field: message (got X)`."""
    lines = []
    for item in error.errors():
        loc = _format_loc(item["loc"])
        got = item.get("input")
        shown = "" if isinstance(got, Mapping) else f" (got {got!r})"
        lines.append(f"{source}: {loc}: {item['msg']}{shown}")
    return InputError("\n".join(lines))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; values in `override` win, lists are replaced whole."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
