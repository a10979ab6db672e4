"""unitcost: cost-enriched Prometheus metrics for Kubernetes data and AI batch platforms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("unitcost")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
