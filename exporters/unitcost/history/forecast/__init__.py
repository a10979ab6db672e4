"""Capacity forecasting: demand per node pool from Prometheus history (docs/forecast.md)."""
