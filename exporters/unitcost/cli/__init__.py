"""The `unitcost` command: the one composition root that wires sources, the cost model,
sinks and runtime together."""
