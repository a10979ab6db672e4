"""Chargeback: the period's charges per team / namespace / day, read from the recorded cost
series in Prometheus and written as FOCUS 1.2, 1.3 or 1.4 (CSV, Parquet; and the 1.3 Contract
Commitment dataset) or an HTML statement.

docs/chargeback.md describes the columns and how the totals reconcile with month to date.
"""
