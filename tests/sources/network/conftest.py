"""The network-namespace node (tests/support/netns.py) for this folder's tests."""

from __future__ import annotations

from support.netns import netns_node

__all__ = ["netns_node"]
