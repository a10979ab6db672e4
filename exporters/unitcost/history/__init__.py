"""Readers of cost history in Prometheus: chargeback, forecast, recommendations, actions."""
