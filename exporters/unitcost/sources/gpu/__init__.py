"""The GPU node agent: NVML telemetry, MIG, process -> pod mapping, idle GPU dollars.

One module per concern: `nvml` reads devices, `mig` enumerates MIG slices, `cgroup` turns a
process's cgroup path into a pod UID, `pods` turns a pod UID into namespace/pod, `idle` tracks
low activity over time, `pricing` prices a device, `agent` puts them together and renders.
Reference: docs/gpu-agent.md.
"""
