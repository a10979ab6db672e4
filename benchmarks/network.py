"""`make bench` (network part): one node's network collector over 250,000 real conntrack entries,
beside a naive parse of /proc/net/nf_conntrack in the same run (docs/network.md).

Needs root (a network namespace, netfilter). The entries are made in a namespace of their own
with batched ctnetlink CT_NEW messages (TCP, ESTABLISHED, no traffic: counters 0), from 110
pod IPs of this node to remote ends of every class. Each measurement runs in a process of its
own inside that namespace, so its peak RSS is its own:

- collector, first collect: dump, decode every entry, attribute, classify, price;
- collector, steady collect (median of 5): every entry already known, 1% of them replaced
  between collects (churn);
- baseline: read /proc/net/nf_conntrack, split every line into a dict of its fields, build a
  Flow from each, group bytes by (src, dst): the obvious implementation.

Targets (the issue): <= 1 s per collect and <= 200 MB RSS at 250,000 entries.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CT_NEW = 0x100
NLM_F_REQUEST, NLM_F_CREATE, NLM_F_EXCL = 0x1, 0x400, 0x200


def nla(kind: int, payload: bytes, nested: bool = False) -> bytes:
    body = struct.pack("=HH", 4 + len(payload), kind | (0x8000 if nested else 0)) + payload
    return body + b"\0" * (-len(body) % 4)


def ct_tuple(src: str, dst: str, sport: int, dport: int) -> bytes:
    ip = nla(1, ipaddress.IPv4Address(src).packed) + nla(2, ipaddress.IPv4Address(dst).packed)
    proto = nla(1, bytes([6])) + nla(2, struct.pack(">H", sport)) + nla(3, struct.pack(">H", dport))
    return nla(1, ip, True) + nla(2, proto, True)


def pod_ip(i: int) -> str:
    return f"10.1.0.{10 + i % 110}"


def remote(i: int) -> str:
    kind = i % 5
    if kind == 0:
        return f"10.1.{1 + i % 3}.{i % 250 + 1}"  # other nodes' pods (same or other zone)
    if kind == 1:
        return f"52.216.{i % 250}.{(i // 250) % 250 + 1}"  # S3 in region
    if kind == 2:
        return f"10.50.{i % 250}.{(i // 250) % 250 + 1}"  # on-prem
    return f"93.{184 + i % 50}.{(i // 50) % 250}.{(i // 12500) % 250 + 1}"  # the internet


def message(i: int, seq: int) -> bytes:
    src, dst = pod_ip(i), remote(i)
    sport, dport = 1024 + (i // 110) % 60000, 443 + (i // (110 * 60000))
    attrs = nla(1, ct_tuple(src, dst, sport, dport), True)
    attrs += nla(2, ct_tuple(dst, src, dport, sport), True)
    attrs += nla(3, struct.pack(">I", 0x2 | 0x4 | 0x8))  # SEEN_REPLY | ASSURED | CONFIRMED
    attrs += nla(7, struct.pack(">I", 3600))  # timeout
    # TCP ESTABLISHED, so the kernel does not expire it as a half-open connection
    attrs += nla(4, nla(1, nla(1, bytes([3])), True), True)
    body = struct.pack("=BBH", socket.AF_INET, 0, 0) + attrs
    return (
        struct.pack(
            "=IHHII", 16 + len(body), CT_NEW, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, seq, 0
        )
        + body
    )


def fill(netns: str, start: int, count: int) -> None:
    from pyroute2 import netns as pyroute2_netns

    sock = pyroute2_netns.create_socket(netns, socket.AF_NETLINK, socket.SOCK_RAW, 12)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    sock.bind((0, 0))
    batch = []
    for i in range(start, start + count):
        batch.append(message(i, i))
        if len(batch) == 200:
            sock.send(b"".join(batch))
            batch.clear()
    if batch:
        sock.send(b"".join(batch))
    sock.close()


def delete(netns: str, start: int, count: int) -> None:
    from pyroute2 import netns as pyroute2_netns

    sock = pyroute2_netns.create_socket(netns, socket.AF_NETLINK, socket.SOCK_RAW, 12)
    sock.bind((0, 0))
    batch = []
    for i in range(start, start + count):
        src, dst = pod_ip(i), remote(i)
        sport, dport = 1024 + (i // 110) % 60000, 443 + (i // (110 * 60000))
        attrs = nla(1, ct_tuple(src, dst, sport, dport), True)
        body = struct.pack("=BBH", socket.AF_INET, 0, 0) + attrs
        batch.append(struct.pack("=IHHII", 16 + len(body), 0x102, NLM_F_REQUEST, i, 0) + body)
        if len(batch) == 200:
            sock.send(b"".join(batch))
            batch.clear()
    if batch:
        sock.send(b"".join(batch))
    sock.close()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_collector(netns: str, entries: int, repeat: int) -> dict[str, float]:
    from unitcost.costmodel.network import Classifier, Topology, account, price
    from unitcost.data.gpu import PodRef
    from unitcost.data.network import Place
    from unitcost.pricing import PriceBook
    from unitcost.pricing.network import NetworkPricer
    from unitcost.sources.network.conntrack import NetlinkConntrack

    pods = {pod_ip(i): PodRef("spark", f"exec-{i}", f"uid-{i}", "Running") for i in range(110)}
    a, b = (
        Place("aws", "us-east-1", "us-east-1a", "node-a"),
        Place("aws", "us-east-1", "us-east-1b", "b"),
    )
    topology = Topology(
        here=a,
        pods=pods,
        networks=(
            (ipaddress.ip_network("10.1.0.0/24"), a),
            (ipaddress.ip_network("10.1.1.0/24"), Place("aws", "us-east-1", "us-east-1a", "c")),
            (ipaddress.ip_network("10.1.2.0/24"), b),
            (ipaddress.ip_network("10.1.3.0/24"), b),
            (ipaddress.ip_network("52.216.0.0/15"), Place("aws", "us-east-1")),
            (ipaddress.ip_network("10.50.0.0/16"), Place("onprem", "paris")),
        ),
        nat=True,
    )
    pricer = NetworkPricer(PriceBook.load(), "aws")
    reader = NetlinkConntrack(netns=None)
    started, cpu = time.perf_counter(), time.process_time()
    deltas, state = account({}, reader.entries(), reader.decode, Classifier(topology), first=False)
    price(deltas.bytes, pricer, 0.0)
    first = time.perf_counter() - started
    first_cpu = time.process_time() - cpu
    first_entries = deltas.entries
    steady = []
    steady_cpu = []
    churn = max(1, entries // 100)
    for round_ in range(repeat):
        base = entries + round_ * churn
        delete(netns, round_ * churn, churn)
        fill(netns, base, churn)
        started, cpu = time.perf_counter(), time.process_time()
        deltas, state = account(
            state, reader.entries(), reader.decode, Classifier(topology), first=False
        )
        price(deltas.bytes, pricer, 0.0)
        steady.append(time.perf_counter() - started)
        steady_cpu.append(time.process_time() - cpu)
    reader.close()
    return {
        "entries": first_entries,
        "first_s": first,
        "first_cpu_s": first_cpu,
        "steady_s": statistics.median(steady),
        "steady_cpu_s": statistics.median(steady_cpu),
        "steady_new": deltas.new_entries,
        "rss_mb": peak_mb(),
    }


def child_baseline() -> dict[str, float]:
    from unitcost.data.network import Flow

    started, cpu = time.perf_counter(), time.process_time()
    with open("/proc/net/nf_conntrack") as handle:
        lines = handle.readlines()
    totals: dict[tuple[str, str], int] = {}
    for line in lines:
        parts = line.split()
        fields: dict[str, list[str]] = {}
        for part in parts:
            if "=" in part:
                key, value = part.split("=", 1)
                fields.setdefault(key, []).append(value)
        counts = fields.get("bytes", ["0", "0"])
        flow = Flow(
            int(parts[3]),
            fields["src"][0],
            fields["dst"][0],
            int(fields["sport"][0]),
            int(fields["dport"][0]),
            fields["src"][1],
            fields["dst"][1],
            int(counts[0]),
            int(counts[1]),
        )
        key = (flow.orig_src, flow.reply_src)
        totals[key] = totals.get(key, 0) + flow.orig_bytes + flow.reply_bytes
    return {
        "entries": len(lines),
        "read_s": time.perf_counter() - started,
        "read_cpu_s": time.process_time() - cpu,
        "rss_mb": peak_mb(),
    }


def in_netns(netns: str, *args: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "exporters")}
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_network(entries: int = 250_000, repeat: int = 5) -> dict[str, float]:
    netns = f"ucbench{os.getpid()}"
    load_before = os.getloadavg()[0]
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(
            ["ip", "netns", "exec", netns, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"],
            check=True,
        )
        started = time.perf_counter()
        fill(netns, 0, entries)
        filled = time.perf_counter() - started
        collector = in_netns(
            netns,
            "--child",
            "collector",
            "--netns",
            netns,
            "--entries",
            str(entries),
            "--repeat",
            str(repeat),
        )
        baseline = in_netns(netns, "--child", "baseline")
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    return {
        "entries": collector["entries"],
        "fill_s": filled,
        "collector_first_s": collector["first_s"],
        "collector_first_cpu_s": collector["first_cpu_s"],
        "collector_steady_s": collector["steady_s"],
        "collector_steady_cpu_s": collector["steady_cpu_s"],
        "collector_rss_mb": collector["rss_mb"],
        "baseline_entries": baseline["entries"],
        "baseline_s": baseline["read_s"],
        "baseline_cpu_s": baseline["read_cpu_s"],
        "baseline_rss_mb": baseline["rss_mb"],
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def report(result: dict[str, float]) -> str:
    """Wall time, and CPU time (user + system of the process, all threads: the kernel builds
    the dump inside recv(), so its share is the process's system time): on a shared machine
    the wall time grows with the load, the CPU time much less."""
    return (
        f"network collector, {int(result['entries']):,} conntrack entries: first collect "
        f"{result['collector_first_s']:.2f} s (CPU {result['collector_first_cpu_s']:.2f} s), "
        f"steady collect {result['collector_steady_s']:.2f} s "
        f"(CPU {result['collector_steady_cpu_s']:.2f} s; 1% churn), "
        f"peak RSS {result['collector_rss_mb']:.0f} MB | naive /proc parse: "
        f"{result['baseline_s']:.2f} s (CPU {result['baseline_cpu_s']:.2f} s), "
        f"peak RSS {result['baseline_rss_mb']:.0f} MB; load average "
        f"{result['load_before']:.1f} before, {result['load_after']:.1f} after "
        "(targets: <= 1 s per collect, <= 200 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", choices=["collector", "baseline"])
    parser.add_argument("--netns")
    args = parser.parse_args()
    if args.child == "collector":
        print(json.dumps(child_collector(args.netns, args.entries, args.repeat)))
    elif args.child == "baseline":
        print(json.dumps(child_baseline()))
    else:
        result = bench_network(args.entries, args.repeat)
        print(report(result))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
