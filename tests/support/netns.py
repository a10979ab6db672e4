"""A node made of network namespaces (iproute2, iptables): real kernel conntrack with byte
accounting, pods on two nodes in two zones, and an internet host behind masquerading.

    pod (10.1.0.5, fd00:1::5) -- node (the node's netns: conntrack, forwarding, NAT)
                                   |-- peer: node-b in the other zone (10.0.0.20), pod-b 10.1.2.9
                                   |                                      and fd00:2::9
                                   `-- inet: 93.184.216.34, masqueraded as 100.64.0.1

Needs root, `ip` and `iptables` (tests/tools/provision.sh installs them); the namespaces are
named after this process, so two runs at once do not meet, and are deleted afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from unitcost.costmodel.network import Topology
from unitcost.data.gpu import PodRef
from unitcost.data.network import Place

#: The pod of the namespace `pod`, as the node's pod list would name it.
POD = PodRef("spark", "exec-1", "uid-1", "Running")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class NetnsNode:
    prefix: str

    def ns(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def run(self, ns: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Python in one of the namespaces."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(ns), "python3", "-c", code, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def serve(self, ns: str, address: str, port: int, reply: int) -> threading.Thread:
        """A one-connection server that reads until EOF, then sends `reply` bytes."""
        code = (
            "import socket,sys\n"
            "a,p,r=sys.argv[1],int(sys.argv[2]),int(sys.argv[3])\n"
            "s=socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET)\n"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind((a,p)); s.listen(1); print('ready',flush=True); c,_=s.accept()\n"
            "while c.recv(1<<16): pass\n"
            "c.sendall(b'r'*r); c.close()\n"
        )
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns(ns),
                "python3",
                "-c",
                code,
                address,
                str(port),
                str(reply),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        thread = threading.Thread(target=process.wait, args=(60,), daemon=True)
        thread.start()
        return thread

    def send(self, ns: str, address: str, port: int, nbytes: int) -> int:
        """Connect, send `nbytes`, half-close, read the reply to EOF; returns bytes read."""
        code = (
            "import socket,sys\n"
            "a,p,n=sys.argv[1],int(sys.argv[2]),int(sys.argv[3])\n"
            "s=socket.create_connection((a,p),timeout=20); s.sendall(b'x'*n)\n"
            "s.shutdown(socket.SHUT_WR); got=0\n"
            "while True:\n"
            "    d=s.recv(1<<16)\n"
            "    if not d: break\n"
            "    got+=len(d)\n"
            "print(got)\n"
        )
        done = self.run(ns, code, address, str(port), str(nbytes))
        return int(done.stdout)

    def exchange(self, server: tuple[str, str, int], client_ns: str, out: int, back: int) -> None:
        ns, address, port = server
        thread = self.serve(ns, address, port, back)
        assert self.send(client_ns, address, port, out) == back
        thread.join(20)


#: What conntrack counts above a payload: whole IP packets, so each segment's IP and TCP
#: headers (about 4% at a full MSS, more when a loaded machine sends smaller segments or
#: retransmits: 6.6% was seen in CI) and the handshake. A double count would be 2x.
IP_OVERHEAD = 1.15


def counted_as_sent(
    counted: float, payload: float, reverse_payload: float = 0.0, connections: int = 1
) -> bool:
    """Conntrack's byte count of a direction carrying `payload` bytes: at least the payload,
    at most its packets' overhead, plus the ACKs of `reverse_payload` bytes sent back and each
    connection's handshake and close."""
    overhead = (payload + reverse_payload * (IP_OVERHEAD - 1)) * IP_OVERHEAD
    return payload <= counted <= overhead + 4096 * connections


def _build(prefix: str) -> None:
    node, pod, peer, inet = (f"{prefix}{n}" for n in ("node", "pod", "peer", "inet"))
    for ns in (node, pod, peer, inet):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    links = (
        (
            node,
            f"{prefix}np",
            "10.1.0.1/24",
            "fd00:1::1/64",
            pod,
            f"{prefix}pn",
            "10.1.0.5/24",
            "fd00:1::5/64",
        ),
        (
            node,
            f"{prefix}nb",
            "10.0.0.10/24",
            "fd00::10/64",
            peer,
            f"{prefix}bn",
            "10.0.0.20/24",
            "fd00::20/64",
        ),
        (node, f"{prefix}ni", "100.64.0.1/24", None, inet, f"{prefix}in", "100.64.0.2/24", None),
    )
    for a_ns, a, a4, a6, b_ns, b, b4, b6 in links:
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        for ns, dev, v4, v6 in ((a_ns, a, a4, a6), (b_ns, b, b4, b6)):
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", v4, "dev", dev)
            if v6:
                sh("ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", peer, "addr", "add", "10.1.2.9/32", "dev", "lo")
    sh("ip", "-n", peer, "addr", "add", "fd00:2::9/128", "dev", "lo")
    sh("ip", "-n", inet, "addr", "add", "93.184.216.34/32", "dev", "lo")
    sh("ip", "-n", pod, "route", "add", "default", "via", "10.1.0.1")
    sh("ip", "-n", pod, "-6", "route", "add", "default", "via", "fd00:1::1")
    sh("ip", "-n", node, "route", "add", "10.1.2.0/24", "via", "10.0.0.20")
    sh("ip", "-n", node, "-6", "route", "add", "fd00:2::/64", "via", "fd00::20")
    sh("ip", "-n", node, "route", "add", "93.184.216.34/32", "via", "100.64.0.2")
    sh("ip", "-n", peer, "route", "add", "10.1.0.0/24", "via", "10.0.0.10")
    sh("ip", "-n", peer, "-6", "route", "add", "fd00:1::/64", "via", "fd00::10")
    sh("ip", "-n", inet, "route", "add", "default", "via", "100.64.0.1")
    run = ("ip", "netns", "exec", node)
    sh(*run, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    sh(*run, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    sh(*run, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1")
    for tables in ("iptables", "ip6tables"):
        sh(
            *run,
            tables,
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW,ESTABLISHED",
            "-j",
            "ACCEPT",
        )
    sh(
        *run,
        "iptables",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "10.1.0.0/24",
        "-d",
        "93.184.216.34",
        "-j",
        "MASQUERADE",
    )


@pytest.fixture
def netns_node() -> Iterator[NetnsNode]:
    missing = [t for t in ("ip", "iptables", "ip6tables") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        pytest.fail(
            "the conntrack tests need root and iproute2/iptables "
            f"(missing: {missing or 'root'}; tests/tools/provision.sh installs them)"
        )
    prefix = f"uc{os.getpid() % 100000}"
    try:
        _build(prefix)
    except subprocess.CalledProcessError as exc:
        _teardown(prefix)
        pytest.fail(f"building the namespaces failed: {exc.args} {exc.stderr!r}")
    try:
        yield NetnsNode(prefix)
    finally:
        _teardown(prefix)


def _teardown(prefix: str) -> None:
    for name in ("node", "pod", "peer", "inet"):
        subprocess.run(["ip", "netns", "del", f"{prefix}{name}"], capture_output=True, timeout=30)


def topology() -> Topology:
    """What the node (netns `node`) knows: its pod, node-b in the other zone, NAT to the internet."""
    return Topology(
        here=Place("aws", "us-east-1", "us-east-1a", "node-a"),
        pods={"10.1.0.5": POD, "fd00:1::5": POD},
        node_addresses=frozenset({"10.1.0.1", "10.0.0.10", "100.64.0.1", "fd00::10"}),
        # node-b's own address (its processes, and what its pods' connections come from here)
        places={"10.0.0.20": Place("aws", "us-east-1", "us-east-1b", "b")},
        networks=(
            (ipaddress.ip_network("10.1.2.0/24"), Place("aws", "us-east-1", "us-east-1b", "b")),
            (ipaddress.ip_network("fd00:2::/64"), Place("aws", "us-east-1", "us-east-1b", "b")),
        ),
        nat=True,
    )
