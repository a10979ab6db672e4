"""Opt-in actions on recommendations (`unitcost controller`): docs/recommendations.md."""
