"""The metric contract: every family unitcost publishes, and the family holder."""
