"""The parts of the prometheus-operator CRD schemas (monitoring.coreos.com, operator v0.7x-0.8x)
that the operator requires or constrains, for the objects the chart renders: required fields,
types, and the duration pattern. kubernetes-validate has no CRD schemas, and a cluster is not
available here, so these are transcribed from the CRDs' openAPIV3Schema (the fields unitcost
uses; unknown fields are rejected so a typo in a template fails)."""

from __future__ import annotations

from typing import Any

DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"labels": STRING_MAP, "annotations": STRING_MAP},
}
LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "properties": {"matchLabels": STRING_MAP, "matchExpressions": {"type": "array"}},
    "additionalProperties": False,
}
RELABEL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {"type": "string"},
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"},
        "regex": {"type": "string"},
        "modulus": {"type": "integer"},
        "replacement": {"type": "string"},
        "targetLabel": {"type": "string"},
    },
}
ENDPOINT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string"},
        "interval": {"type": "string", "pattern": DURATION},
        "scrapeTimeout": {"type": "string", "pattern": DURATION},
        "relabelings": {"type": "array", "items": RELABEL},
        "metricRelabelings": {"type": "array", "items": RELABEL},
    },
}


def _object(kind: str, api_version: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


RULE: dict[str, Any] = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "properties": {
        "record": {"type": "string"},
        "alert": {"type": "string"},
        "expr": {"type": ["string", "integer"]},
        "for": {"type": "string", "pattern": DURATION},
        "keep_firing_for": {"type": "string", "minLength": 1, "pattern": DURATION},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "PrometheusRule": _object(
        "PrometheusRule",
        "monitoring.coreos.com/v1",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": DURATION},
                            "limit": {"type": "integer"},
                            "rules": {"type": "array", "items": RULE},
                        },
                    },
                }
            },
        },
    ),
    "ServiceMonitor": _object(
        "ServiceMonitor",
        "monitoring.coreos.com/v1",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT},
            },
        },
    ),
    "PodMonitor": _object(
        "PodMonitor",
        "monitoring.coreos.com/v1",
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": ENDPOINT},
            },
        },
    ),
    "AlertmanagerConfig": _object(
        "AlertmanagerConfig",
        "monitoring.coreos.com/v1alpha1",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "route": {"$ref": "#/$defs/route"},
                "receivers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string", "minLength": 1}},
                    },
                },
            },
        },
    )
    | {
        "$defs": {
            "route": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "receiver": {"type": "string"},
                    "groupBy": {"type": "array", "items": {"type": "string"}},
                    "groupWait": {"type": "string", "pattern": DURATION},
                    "groupInterval": {"type": "string", "pattern": DURATION},
                    "repeatInterval": {"type": "string", "pattern": DURATION},
                    "continue": {"type": "boolean"},
                    "matchers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "value": {"type": "string"},
                                "matchType": {"enum": ["!=", "=", "=~", "!~"]},
                            },
                        },
                    },
                    "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}},
                },
            }
        }
    },
}
