"""Bounding label values where they enter the model (source conversion, attribution).

Kubernetes caps label values at 63 characters, but annotations (and fake or misbehaving
apiservers) are unbounded, and an attribution rule may read a team from an annotation. One
10 MiB annotation must not become a 10 MiB label value in every scrape, so values over
`MAX_LABEL_VALUE_BYTES` are cut here, once, rather than in the exposition hot path.
"""

from __future__ import annotations

import hashlib

#: The longest label value (UTF-8 bytes) that leaves the exporter.
MAX_LABEL_VALUE_BYTES = 1024
#: A cut value ends with this marker and a digest of the whole value, so two long values that
#: share a prefix stay two series (cutting alone would merge them into duplicate series).
_MARKER = "~"
_DIGEST_CHARS = 12
_KEEP_BYTES = MAX_LABEL_VALUE_BYTES - len(_MARKER) - _DIGEST_CHARS


def bound_label_value(value: str) -> str:
    """`value` itself when short enough, else its first bytes (cut on a character boundary),
    `~` and 12 hex digits of its SHA-256: at most MAX_LABEL_VALUE_BYTES bytes in all. Lone
    surrogates (JSON can carry them; they are not Unicode and cannot be encoded) become `?`."""
    if value.isascii() and len(value) <= MAX_LABEL_VALUE_BYTES:  # the common case, no copy
        return value
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        encoded = value.encode("utf-8", "replace")
        value = encoded.decode("utf-8")
    if len(encoded) <= MAX_LABEL_VALUE_BYTES:
        return value
    head = encoded[:_KEEP_BYTES].decode("utf-8", "ignore")  # drops a split trailing character
    digest = hashlib.sha256(encoded).hexdigest()[:_DIGEST_CHARS]
    return f"{head}{_MARKER}{digest}"
