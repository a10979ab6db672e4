"""The metric names a PromQL expression selects, without a PromQL parser.

Good enough for the bundle's own queries (dashboards, rules): strings, label matchers,
grouping clauses, durations and numbers are removed first; what is left that looks like an
identifier and is neither a function call nor a keyword is a metric name. Prometheus itself
checks the syntax elsewhere (the dashboard query tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


# --- A tokenizer, for checks and rewrites that must see PromQL's structure -------------------
#
# Not a parser either, but exact about the places a label name can stand in the bundle's
# queries: grouping lists (by, without, on, ignoring, group_left, group_right), label matchers
# inside {...}, the label arguments of label_replace, label_join and count_values, and
# Grafana's label_values(). Record names such as cluster:unitcost_x:sum are single identifier
# tokens, so they are never mistaken for a label called "cluster".

GROUPING_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
MATCH_OPERATORS = frozenset({"=", "!=", "=~", "!~"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<range>\[[^\[\]]*\])
    | (?P<var>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+(?:ms|[smhdwy]))+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^=<>@,(){}])
    """,
    re.VERBOSE,
)
#: function -> positions of its arguments that are label names (-1: that one and all after).
_LABEL_ARGUMENTS = {
    "label_replace": (1, 3),
    "label_join": (1, -3),
    "count_values": (0,),
    "label_values": (-1,),  # Grafana: label_values(label) or label_values(series, label)
}


class PromQLSyntaxError(ValueError):
    """Text the tokenizer cannot read; the message names the position."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # space, string, range, var, number, ident, op
    text: str
    start: int


@dataclass(frozen=True, slots=True)
class LabelUse:
    """A label name in a query: `token` is an ident, or a string holding the name."""

    name: str
    where: str  # grouping, matcher, argument
    token: Token


def tokenize(expr: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            raise PromQLSyntaxError(f"cannot read {expr[pos : pos + 20]!r} at {pos} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    return text[1:-1]


def label_uses(expr: str) -> list[LabelUse]:
    """Every label name `expr` names, where it names it, in order."""
    tokens = [t for t in tokenize(expr) if t.kind != "space"]
    uses: list[LabelUse] = []
    # Open parentheses: (function name or "", argument index) of each; braces are matchers.
    calls: list[list[Any]] = []
    in_braces = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        grouping = token.kind == "ident" and token.text.lower() in GROUPING_KEYWORDS
        if grouping and following and following.text == "(":
            j = i + 2
            while j < len(tokens) and tokens[j].text != ")":
                if tokens[j].kind == "ident":
                    uses.append(LabelUse(tokens[j].text, "grouping", tokens[j]))
                j += 1
            i = j + 1
            continue
        if token.text == "{":
            in_braces = True
        elif token.text == "}":
            in_braces = False
        elif in_braces and token.kind in ("ident", "string") and following:
            if following.text in MATCH_OPERATORS:  # a quoted name is Prometheus 3 syntax
                name = token.text if token.kind == "ident" else _unquote(token.text)
                uses.append(LabelUse(name, "matcher", token))
        elif token.text == "(":
            before = tokens[i - 1] if i else None
            function = before.text if before and before.kind == "ident" else ""
            calls.append([function, 0])
        elif token.text == ")" and calls:
            calls.pop()
        elif token.text == "," and calls:
            calls[-1][1] += 1
        elif calls and token.kind in ("string", "ident") and calls[-1][0] in _LABEL_ARGUMENTS:
            function, position = calls[-1]
            if _is_label_argument(function, position, tokens, i):
                name = token.text if token.kind == "ident" else _unquote(token.text)
                if name:  # label_replace(v, "dst", "x", "", ""): no source label
                    uses.append(LabelUse(name, "argument", token))
        i += 1
    return uses


def _is_label_argument(function: str, position: int, tokens: list[Token], i: int) -> bool:
    """Whether the token at i, the `position`th argument of `function`, is a label name."""
    whole_argument = tokens[i - 1].text in ("(", ",") and tokens[i + 1].text in (")", ",")
    if not whole_argument:
        return False
    wanted = _LABEL_ARGUMENTS[function]
    if function == "label_values":
        return tokens[i + 1].text == ")"  # the last argument
    return position in wanted or any(w < 0 and position >= -w for w in wanted)


def label_names(expr: str) -> set[str]:
    return {use.name for use in label_uses(expr)}


def rename_label(expr: str, old: str, new: str) -> str:
    """`expr` with label `old` renamed to `new` wherever it stands as a label name."""
    spans = {u.token.start: u.token for u in label_uses(expr) if u.name == old}
    out, pos = [], 0
    for start in sorted(spans):
        token = spans[start]
        text = new if token.kind == "ident" else token.text[0] + new + token.text[-1]
        out += [expr[pos:start], text]
        pos = start + len(token.text)
    return "".join(out) + expr[pos:]


# Alert templates and Grafana legends name labels outside PromQL.
_TEMPLATE_LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)|index\s+\$labels\s+\"([^\"]*)\"")
_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def template_label_names(text: str) -> set[str]:
    """Labels an alert's label or annotation template reads ($labels.x, index $labels "x")."""
    return {a or b for a, b in _TEMPLATE_LABEL.findall(text)}


def legend_label_names(text: str) -> set[str]:
    """Labels a Grafana legend format shows ({{x}})."""
    return set(_LEGEND_LABEL.findall(text))
