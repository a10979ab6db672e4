"""Recommendations with dollar savings (`unitcost recommend`): docs/recommendations.md."""
