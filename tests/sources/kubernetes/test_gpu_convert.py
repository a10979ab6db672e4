"""GPU resources as the apiserver shows them -> physical devices and shares: time-slicing
replicas, MIG's mixed strategy, HAMi fractions, DRA claims named by a pod."""

from __future__ import annotations

from support.fake_apiserver import node, pod
from unitcost.sources.kubernetes.convert import to_node, to_pod


def test_a_time_sliced_node_counts_its_physical_gpus() -> None:
    obj = node("g5", gpus=16, labels={"nvidia.com/gpu.replicas": "4"})
    converted = to_node(obj)
    assert (converted.capacity.gpu, converted.allocatable.gpu) == (4.0, 4.0)


def test_a_mig_mixed_node_counts_its_physical_gpus() -> None:
    # A DGX H100 advertising 16 nvidia.com/mig-3g.40gb: two per GPU -> 8 GPUs.
    obj = node("dgx")
    obj["status"]["capacity"]["nvidia.com/mig-3g.40gb"] = "16"
    obj["status"]["allocatable"]["nvidia.com/mig-3g.40gb"] = "16"
    assert to_node(obj).capacity.gpu == 8.0
    obj["metadata"]["labels"]["nvidia.com/gpu.count"] = "8"
    obj["status"]["capacity"]["nvidia.com/mig-1g.10gb"] = "8"
    assert to_node(obj).capacity.gpu == 8.0  # GPU feature discovery's count wins
    del obj["metadata"]["labels"]["nvidia.com/gpu.count"]
    assert to_node(obj).capacity.gpu == 10.0  # 8 for the 3g slices, 8 x 1g fill 2 more


def test_a_pod_keeps_its_mig_and_hami_requests_and_its_claims() -> None:
    obj = pod("ml", "p", node_name="n", gpus=1)
    requests = obj["spec"]["containers"][0]["resources"]["requests"]
    requests["nvidia.com/mig-1g.10gb"] = "2"
    requests["nvidia.com/gpumem"] = "3000"
    requests["example.com/fpga"] = "1"
    obj["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": "t"}]
    obj["status"]["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": "p-gpu-abcde"}]
    converted = to_pod(obj, (), ())
    assert converted.requests.gpu == 1.0
    assert converted.gpu_requests == (
        ("nvidia.com/mig-1g.10gb", 2.0),
        ("nvidia.com/gpumem", 3000.0),
    )
    assert converted.resource_claims == ("p-gpu-abcde",)
