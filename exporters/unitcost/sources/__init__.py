"""Sources: adapt the world (a cluster, NVML, cloud APIs, the simulator) into a Snapshot."""
