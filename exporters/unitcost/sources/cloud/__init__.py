"""Cloud providers: live AWS prices, AWS bill reconciliation, GKE usage from Cloud Monitoring.

Each part polls on its own thread and reports its own `unitcost_source_up{source}`; none is
needed for the others or for the cluster source. Reference: docs/clouds.md.
"""
