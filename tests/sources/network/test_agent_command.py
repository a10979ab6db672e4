"""`unitcost gpu-agent --no-collector.gpu --collector.network` as a process, over real conntrack:
the flags, the `network:` config block and the pod list come together; the served counters
name the pod, the destination class and the NAT gateway."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from support.netns import NetnsNode, counted_as_sent

CONFIG = """
network:
  zones:
    us-east-1b: {cidrs: [10.1.2.0/24, 10.0.0.0/24]}
  nat_gateway: true
"""
PODS = {
    "kind": "PodList",
    "items": [
        {
            "metadata": {"namespace": "spark", "name": "exec-1", "uid": "uid-1"},
            "spec": {"nodeName": "node-a"},
            "status": {"phase": "Running", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}]},
        }
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_the_agent_command_serves_priced_pod_traffic(netns_node: NetnsNode, tmp_path: Path) -> None:
    config = tmp_path / "unitcost.yaml"
    config.write_text(CONFIG)
    pods = tmp_path / "pods.json"
    pods.write_text(json.dumps(PODS))
    port = free_port()
    args = [
        sys.executable, "-m", "unitcost", "gpu-agent", "--node-name", "node-a",
        "--no-collector.gpu", "--collector.network",
        "--conntrack-netns", netns_node.ns("node"), "--pods-url", pods.as_uri(),
        "--config", str(config), "--provider", "aws", "--region", "us-east-1",
        "--zone", "us-east-1a", "--listen", f"127.0.0.1:{port}", "--interval", "0.5",
        "--duration", "60",
    ]  # fmt: skip
    agent = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                first = scrape(port)
                break
            except OSError:
                assert agent.poll() is None, agent.stdout.read() if agent.stdout else ""
                assert time.monotonic() < deadline, "the agent did not serve"
                time.sleep(0.2)
        assert first[("unitcost_source_up", (("source", "conntrack"),))] == 1.0
        netns_node.exchange(("peer", "10.1.2.9", 5041), "pod", 2_000_000, 0)
        netns_node.exchange(("inet", "93.184.216.34", 5042), "pod", 1_000_000, 0)
        labels = {"node": "node-a", "namespace": "spark", "pod": "exec-1", "direction": "transmit"}
        zone = (
            "unitcost_network_bytes_total",
            tuple(sorted({**labels, "destination": "other-zone", "nat": "false"}.items())),
        )
        inet = (
            "unitcost_network_bytes_total",
            tuple(sorted({**labels, "destination": "internet", "nat": "true"}.items())),
        )
        deadline = time.monotonic() + 20
        while True:
            seen = scrape(port)
            if seen.get(zone, 0) >= 2_000_000 and seen.get(inet, 0) >= 1_000_000:
                break
            assert time.monotonic() < deadline, {k: v for k, v in seen.items() if "network" in k[0]}
            time.sleep(0.5)
        assert counted_as_sent(seen[zone], 2_000_000)
        assert counted_as_sent(seen[inet], 1_000_000)
        cost = ("unitcost_network_cost_dollars_total", inet[1])
        assert abs(seen[cost] - seen[inet] / 2**30 * 0.135) < 1e-12  # AWS internet + NAT
    finally:
        agent.terminate()
        agent.wait(10)
