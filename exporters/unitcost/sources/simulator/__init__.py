"""The simulated cluster behind `unitcost demo`, one concern a module, low to high:

- catalogue: node pools, teams, the kinds of work (WorkloadKind) and queues, as data
- objects: the mutable pods, nodes and workloads, and how pods and ids are drawn
- nodes: the nodes, made from the pools; activity: usage and GPU activity over time
- workloads: one factory per WorkloadKind; scheduler: bin packing onto the nodes
- vllm: simulated vLLM token counters of the inference pods
- cluster: SimulatedCluster, the state and its stepping; clock: wall to simulated time
- source: SimulatorSource, the adapter to the Source protocol
"""

from unitcost.sources.simulator.cluster import SimulatedCluster
from unitcost.sources.simulator.source import SimulatorSource

__all__ = ["SimulatedCluster", "SimulatorSource"]
