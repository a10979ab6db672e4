"""The simulated cluster behind `unitcost demo`."""
