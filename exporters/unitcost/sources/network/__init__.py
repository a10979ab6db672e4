"""The node\x27s network: connection tracking (docs/network.md)."""
