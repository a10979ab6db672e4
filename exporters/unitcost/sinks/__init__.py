"""Sinks: render a CostFrame (Prometheus text, tables; OTLP and FOCUS later)."""
