# syntax=docker/dockerfile:1
# Two images, one per binary, from one Dockerfile (the Helm chart, helm/unitcost, runs both):
#   docker build --target exporter  -t ghcr.io/unitcost/unitcost:0.1.0 .
#   docker build --target gpu-agent -t ghcr.io/unitcost/unitcost-gpu-agent:0.1.0 .
# exporter (the default target) installs `unitcost[all]`: serve with clouds and OTLP, demo,
# report, validate, recommend, controller, chargeback, forecast (and gpu-agent as well).
# gpu-agent installs `unitcost[gpu]` only. The agent is a DaemonSet: every GPU node pulls,
# stores and scans its image, so it leaves out boto3, google-cloud, statsmodels, matplotlib,
# pyarrow and OpenTelemetry, which it never imports (their size and their CVE reports).
# Pinned base: bump the patch version deliberately (and add its @sha256 digest in release CI).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- build: the package and one extra set in a virtualenv, compiled for a read-only root -----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/unitcost
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporters/ exporters/

FROM build AS build-exporter
RUN /opt/unitcost/bin/pip install --no-compile '.[all]' \
 && /opt/unitcost/bin/python -m compileall -q /opt/unitcost/lib \
 && /opt/unitcost/bin/unitcost --version

FROM build AS build-gpu-agent
RUN /opt/unitcost/bin/pip install --no-compile '.[gpu]' \
 && /opt/unitcost/bin/python -m compileall -q /opt/unitcost/lib \
 && /opt/unitcost/bin/unitcost --version

# --- runtime: a virtualenv only, no build tools, a non-root user -----------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.source="https://github.com/unitcost/unitcost" \
      org.opencontainers.image.licenses="Apache-2.0"
# 65532: the conventional "nonroot" uid; the chart's podSecurityContext uses the same ids.
RUN groupadd --system --gid 65532 unitcost \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin unitcost
# Byte-compiled at build time, so a read-only root filesystem costs nothing at start-up.
ENV PATH=/opt/unitcost/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["unitcost"]

FROM runtime AS gpu-agent
LABEL org.opencontainers.image.title="unitcost-gpu-agent" \
      org.opencontainers.image.description="unitcost GPU node agent: NVML, pods, idle GPU dollars"
COPY --from=build-gpu-agent /opt/unitcost /opt/unitcost
EXPOSE 9811
CMD ["gpu-agent", "--listen", "0.0.0.0:9811"]

# Last, so a plain `docker build .` builds the exporter as before.
FROM runtime AS exporter
LABEL org.opencontainers.image.title="unitcost" \
      org.opencontainers.image.description="FinOps cost exporter for Kubernetes"
COPY --from=build-exporter /opt/unitcost /opt/unitcost
EXPOSE 9810
CMD ["serve", "--config", "/etc/unitcost/config.yaml", "--listen", "0.0.0.0:9810"]
