"""Checks a real exposition against the metric catalogue: every family it holds is declared there,
produced by this binary, with the declared type, HELP text and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from unitcost.metrics.catalogue import BY_NAME, Binary


def assert_conforms(exposition: str, binary: Binary) -> set[str]:
    """Assert that `exposition` (Prometheus text) keeps the catalogue's contract for `binary`;
    returns the family names seen (so callers can also check what must be there)."""
    seen: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        # The parser strips a counter's _total from the family name; the samples keep it.
        name = family.name + "_total" if family.type == "counter" else family.name
        spec = BY_NAME.get(name)
        assert spec is not None, f"{name}: served but not in the metric catalogue"
        assert binary in spec.producers, f"{name}: served by {binary.value}, not declared so"
        assert family.type == spec.kind.value, f"{name}: type {family.type}, not {spec.kind}"
        assert family.documentation == spec.help, f"{name}: HELP differs from the catalogue"
        for sample in family.samples:
            labels = set(sample.labels)
            extra = labels - set(spec.labels)
            assert set(spec.labels) <= labels, f"{name}: missing labels in {sample}"
            assert not extra or spec.extra_labels, f"{name}: undeclared labels {extra}"
        seen.add(name)
    return seen
