"""Cgroup path -> pod UID, against /proc/<pid>/cgroup as real nodes write it."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitcost.sources.gpu.cgroup import pod_uid_from_cgroup_file, pod_uid_from_path, pod_uid_of_pid

UID = "7a3b0c1e-5d2f-4e8a-9b6c-1f0e2d3c4b5a"
U_ = UID.replace("-", "_")
CID = "8e2b5f0a1c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f"
STATIC = "3f2b9a1c8d7e6f5a4b3c2d1e0f9a8b7c"  # a static pod's config hash

V1_CGROUPFS_DOCKER = f"""12:pids:/kubepods/burstable/pod{UID}/{CID}
11:hugetlb:/kubepods/burstable/pod{UID}/{CID}
10:memory:/kubepods/burstable/pod{UID}/{CID}
4:cpu,cpuacct:/kubepods/burstable/pod{UID}/{CID}
1:name=systemd:/kubepods/burstable/pod{UID}/{CID}
"""
V1_SYSTEMD_CONTAINERD = f"""11:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{U_}.slice/cri-containerd-{CID}.scope
5:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{U_}.slice/cri-containerd-{CID}.scope
1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{U_}.slice/cri-containerd-{CID}.scope
"""
V1_SYSTEMD_CRIO_OPENSHIFT = f"""12:pids:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{U_}.slice/crio-{CID}.scope
2:cpu,cpuacct:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{U_}.slice/crio-{CID}.scope
"""
V1_CGROUPFS_CRIO_GUARANTEED = f"""9:memory:/kubepods/pod{UID}/crio-{CID}
1:name=systemd:/kubepods/pod{UID}/crio-{CID}
"""
HYBRID = f"""12:memory:/kubepods/besteffort/pod{UID}/{CID}
1:name=systemd:/kubepods/besteffort/pod{UID}/{CID}
0::/
"""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(V1_CGROUPFS_DOCKER, UID, id="v1-cgroupfs-docker-burstable"),
        pytest.param(V1_SYSTEMD_CONTAINERD, UID, id="v1-systemd-containerd-besteffort"),
        pytest.param(V1_SYSTEMD_CRIO_OPENSHIFT, UID, id="v1-systemd-crio-openshift"),
        pytest.param(V1_CGROUPFS_CRIO_GUARANTEED, UID, id="v1-cgroupfs-crio-guaranteed"),
        pytest.param(HYBRID, UID, id="hybrid-v1-v2"),
        pytest.param(
            f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{U_}.slice/"
            f"cri-containerd-{CID}.scope\n",
            UID,
            id="v2-systemd-containerd-burstable",
        ),
        pytest.param(
            f"0::/kubepods.slice/kubepods-pod{U_}.slice/cri-containerd-{CID}.scope\n",
            UID,
            id="v2-systemd-containerd-guaranteed",
        ),
        pytest.param(
            f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{U_}.slice/"
            f"crio-{CID}.scope\n",
            UID,
            id="v2-systemd-crio",
        ),
        pytest.param(
            f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{U_}.slice/"
            f"crio-conmon-{CID}.scope\n",
            UID,
            id="v2-systemd-crio-conmon",
        ),
        pytest.param(f"0::/kubepods/besteffort/pod{UID}/{CID}\n", UID, id="v2-cgroupfs-containerd"),
        pytest.param(f"0::/kubepods/pod{UID}/crio-{CID}\n", UID, id="v2-cgroupfs-crio-guaranteed"),
        pytest.param(
            "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
            f"kubelet-kubepods-besteffort-pod{U_}.slice/cri-containerd-{CID}.scope\n",
            UID,
            id="v2-kind-nested-kubelet",
        ),
        pytest.param(
            f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{STATIC}.slice/"
            f"cri-containerd-{CID}.scope\n",
            STATIC,
            id="v2-static-pod-hash",
        ),
        pytest.param(f"0::/kubepods/burstable/pod{UID}\n", UID, id="pod-level-cgroup"),
    ],
)
def test_pod_uid_from_real_world_cgroup_files(content: str, expected: str) -> None:
    assert pod_uid_from_cgroup_file(content) == expected


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("0::/system.slice/containerd.service\n", id="runtime-daemon"),
        pytest.param("0::/system.slice/nvidia-persistenced.service\n", id="host-service"),
        pytest.param("0::/user.slice/user-1000.slice/session-3.scope\n", id="login-session"),
        pytest.param(f"0::/system.slice/docker-{CID}.scope\n", id="plain-docker-container"),
        pytest.param("0::/\n", id="private-cgroup-namespace"),
        pytest.param("0::/kubepods.slice/kubepods-burstable.slice\n", id="qos-level-only"),
        pytest.param(f"0::/kubepods/burstable/podnot-a-uid/{CID}\n", id="garbage-uid"),
        pytest.param("", id="empty"),
        pytest.param("not a cgroup file\n", id="malformed"),
    ],
)
def test_no_pod_outside_kubepods(content: str) -> None:
    assert pod_uid_from_cgroup_file(content) is None


def test_innermost_pod_wins_when_kubelets_nest() -> None:
    outer = "11111111-2222-3333-4444-555555555555"
    path = f"/kubepods/pod{outer}/{CID}/kubepods/besteffort/pod{UID}/{CID}"
    assert pod_uid_from_path(path) == UID


def test_pod_uid_of_pid_reads_proc(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cgroup").write_text(V1_SYSTEMD_CONTAINERD)
    assert pod_uid_of_pid(4242, tmp_path) == UID
    assert pod_uid_of_pid(4243, tmp_path) is None  # exited: no error, no pod


def test_pod_uid_of_own_process_is_none() -> None:
    # This test process runs on the real /proc of a machine that is not a Kubernetes node
    # (or in a pod, in CI): either way the real file parses without error.
    import os

    result = pod_uid_of_pid(os.getpid(), Path("/proc"))
    assert result is None or len(result.replace("-", "")) == 32
