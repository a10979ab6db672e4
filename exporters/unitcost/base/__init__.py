"""Foundations every layer may use: input errors, YAML files, exact sums, label values,
background threads."""
