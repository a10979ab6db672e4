"""A process's cgroup path -> the UID of the Kubernetes pod it runs in.

The kubelet names each pod's cgroup after the pod UID; the container runtime names the leaf.
The layouts this understands (one line of /proc/<pid>/cgroup each):

    cgroup v1, cgroupfs driver:  4:memory:/kubepods/burstable/pod<uid>/<container id>
    cgroup v1, systemd driver:   4:memory:/kubepods.slice/kubepods-burstable.slice/
                                   kubepods-burstable-pod<uid_with_underscores>.slice/
                                   cri-containerd-<id>.scope        (CRI-O: crio-<id>.scope)
    cgroup v2 (either driver):   0::/kubepods.slice/.../kubepods-pod<uid_>.slice/crio-<id>.scope
    nested (kind, rootless):     0::/kubelet.slice/kubelet-kubepods.slice/...-pod<uid_>.slice/...

Guaranteed pods sit directly under kubepods (no QoS level). Static pods are named by their
config hash (32 hex digits, no dashes), which is what the mirror pod's
`kubernetes.io/config.mirror` annotation holds.
"""

from __future__ import annotations

import re
from pathlib import Path

_UUID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
#: `pod<uid>` as a whole path element (cgroupfs) or as the tail of a systemd slice name.
_POD = re.compile(rf"(?:^|[/-])pod({_UUID}|[0-9a-f]{{32}})(?:\.slice)?(?=/|$)")


def pod_uid_from_path(path: str) -> str | None:
    """The pod UID in one cgroup path, normalised to dashes; None outside a kubepods tree."""
    if "kubepods" not in path:
        return None  # e.g. a systemd service or a host process
    found = None
    for match in _POD.finditer(path.lower()):
        found = match.group(1)  # the innermost pod element wins (nested kubelets)
    return found.replace("_", "-") if found else None


def pod_uid_from_cgroup_file(text: str) -> str | None:
    """The pod UID from the content of /proc/<pid>/cgroup (v1: many lines, v2: `0::/...`)."""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        uid = pod_uid_from_path(parts[2].strip())
        if uid is not None:
            return uid
    return None


def pod_uid_of_pid(pid: int, proc_root: Path) -> str | None:
    """The pod UID of a host PID, read from `<proc_root>/<pid>/cgroup`; None when the process
    is gone, unreadable, or not in a pod. Needs the host's PID namespace (hostPID) or the host
    /proc mounted at proc_root."""
    try:
        text = (proc_root / str(pid) / "cgroup").read_text("utf-8", errors="replace")
    except OSError:
        return None  # exited between NVML's listing and this read, or no permission
    return pod_uid_from_cgroup_file(text)
