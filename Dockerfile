# syntax=docker/dockerfile:1
# The unitcost image: `unitcost serve` (cluster exporter) and `unitcost gpu-agent` (GPU node
# agent); the Helm chart (helm/unitcost) runs both from it.
#   docker build -t ghcr.io/unitcost/unitcost:0.1.0 .
# Pinned base: bump the patch version deliberately (and add its @sha256 digest in release CI).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- build: install the package and its dependencies into a virtualenv -------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/unitcost
WORKDIR /src
# Dependencies first, so a source-only change reuses the cached layer.
COPY pyproject.toml README.md ./
COPY exporters/ exporters/
RUN /opt/unitcost/bin/pip install --no-compile . \
 && /opt/unitcost/bin/python -m compileall -q /opt/unitcost/lib \
 && /opt/unitcost/bin/unitcost --version

# --- runtime: the virtualenv only, no build tools, a non-root user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="unitcost" \
      org.opencontainers.image.description="FinOps cost exporter and GPU agent for Kubernetes" \
      org.opencontainers.image.source="https://github.com/unitcost/unitcost" \
      org.opencontainers.image.licenses="Apache-2.0"
# 65532: the conventional "nonroot" uid; the chart's podSecurityContext uses the same ids.
RUN groupadd --system --gid 65532 unitcost \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin unitcost
COPY --from=build /opt/unitcost /opt/unitcost
# Byte-compiled at build time, so a read-only root filesystem costs nothing at start-up.
ENV PATH=/opt/unitcost/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 9810 9811
ENTRYPOINT ["unitcost"]
CMD ["serve", "--config", "/etc/unitcost/config.yaml", "--listen", "0.0.0.0:9810"]
