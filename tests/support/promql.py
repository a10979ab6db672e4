"""The metric names a PromQL expression selects, without a PromQL parser.

Good enough for the bundle's own queries (dashboards, rules): strings, label matchers,
grouping clauses, durations and numbers are removed first; what is left that looks like an
identifier and is neither a function call nor a keyword is a metric name. Prometheus itself
checks the syntax elsewhere (the dashboard query tests).
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
     "group_right", "offset", "inf", "nan", "start", "end"}
)  # fmt: skip
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")


def metric_names(expr: str) -> set[str]:
    """Metric names selected by `expr` (Grafana variables may still be in it)."""
    text = _GRAFANA_VAR.sub("0", expr)
    text = _STRING.sub('""', text)
    while True:  # innermost first: a matcher may hold nothing nested, a range may
        stripped = _RANGE.sub("", _MATCHERS.sub("", text))
        if stripped == text:
            break
        text = stripped
    text = _OFFSET.sub("", _GROUPING.sub("", text))
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or aggregation call, or a keyword
        before = text[: match.start()].rstrip()
        if before and (before[-1].isdigit() or before[-1] == "."):
            continue  # the tail of a number such as 1e3
        names.add(word)
    return names
