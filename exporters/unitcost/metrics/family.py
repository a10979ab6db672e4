"""A metric family as producers fill it: name, help, labels, type and samples. Sinks render
it (Prometheus text, OTLP); the catalogue declares each family once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class MetricFamily:
    name: str
    help: str
    labels: tuple[str, ...]
    kind: str = "gauge"
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, values: Sequence[str], value: float) -> None:
        self.samples.append((tuple(values), value))
