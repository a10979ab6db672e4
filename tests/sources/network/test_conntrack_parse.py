"""The conntrack readers on recorded input: /proc lines (IPv4, IPv6, zones, malformed lines)
and ctnetlink messages packed as the kernel lays them out."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from unitcost.sources.network.conntrack import (
    CT_GET,
    DumpEnd,
    MalformedLine,
    ProcConntrack,
    decode_blob,
    decode_entries,
    decode_message,
    parse_proc_line,
)

V4 = (
    "ipv4     2 tcp      6 119 TIME_WAIT src=10.1.0.5 dst=10.1.2.9 sport=51870 dport=5001 "
    "packets=27 bytes=1001412 src=10.1.2.9 dst=10.1.0.5 sport=5001 dport=51870 packets=23 "
    "bytes=1204 [ASSURED] mark=0 zone=0 use=2"
)
V6 = (
    "ipv6     10 tcp      6 431999 ESTABLISHED src=fd00:0001:0000:0000:0000:0000:0000:0005 "
    "dst=fd00:0002:0000:0000:0000:0000:0000:0009 sport=40706 dport=5002 packets=10 bytes=300720 "
    "src=fd00:0002:0000:0000:0000:0000:0000:0009 dst=fd00:0001:0000:0000:0000:0000:0000:0005 "
    "sport=5002 dport=40706 packets=8 bytes=536 [ASSURED] mark=0 zone=3 use=2"
)
NAT = (
    "ipv4     2 udp      17 25 src=10.1.0.5 dst=93.184.216.34 sport=3333 dport=53 packets=1 "
    "bytes=60 src=93.184.216.34 dst=100.64.0.1 sport=53 dport=3333 packets=1 bytes=120 mark=0 use=1"
)
NO_ACCT = (
    "ipv4     2 icmp     1 29 src=10.1.0.5 dst=10.1.2.9 type=8 code=0 id=7 src=10.1.2.9 "
    "dst=10.1.0.5 type=0 code=0 id=7 mark=0 use=1"
)


def test_proc_lines() -> None:
    flow = parse_proc_line(V4)
    assert (flow.orig_src, flow.orig_dst, flow.orig_sport, flow.orig_dport) == (
        "10.1.0.5",
        "10.1.2.9",
        51870,
        5001,
    )
    assert (flow.orig_bytes, flow.reply_bytes, flow.proto, flow.entry_id) == (
        1001412,
        1204,
        6,
        None,
    )
    v6 = parse_proc_line(V6)
    assert (v6.orig_src, v6.reply_dst, v6.zone) == ("fd00:1::5", "fd00:1::5", 3)
    nat = parse_proc_line(NAT)
    assert (nat.reply_src, nat.reply_dst, nat.proto) == ("93.184.216.34", "100.64.0.1", 17)
    # without nf_conntrack_acct there are no byte counters: 0, not an error
    icmp = parse_proc_line(NO_ACCT)
    assert (icmp.orig_bytes, icmp.reply_bytes, icmp.orig_sport) == (0, 0, 0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ipv4 2 tcp", "f:7: too few fields (got 'ipv4 2 tcp')"),
        ("ipv4 2 tcp x 119 src=1.2.3.4", "f:7: protocol number: not a number (got 'x')"),
        ("ipv4 2 tcp 6 119 src=1.2.3.4 dst=5.6.7.8", "f:7: src/dst: needs both tuples"),
        (
            V4.replace("dst=10.1.2.9", "dst=10.1.2.999", 1),
            "f:7: dst: not an address (got '10.1.2.999')",
        ),
        (V4.replace("bytes=1204", "bytes=12x4"), "f:7: bytes/ports: not a number"),
    ],
)
def test_malformed_proc_lines_name_file_line_field_and_value(line: str, message: str) -> None:
    with pytest.raises(MalformedLine) as raised:
        parse_proc_line(line, "f:7")
    assert message in str(raised.value)


def test_the_proc_reader_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "nf_conntrack"
    path.write_text("\n".join([V4, "garbage", V6, "ipv4 2 tcp 6 1 src=a dst=b src=c dst=d"]) + "\n")
    reader = ProcConntrack(path)
    entries = list(reader.entries())
    assert [e[1] for e in entries] == [1001412, 300720]
    assert reader.malformed == 2
    assert reader.first_error == f"{path}:2: too few fields (got 'garbage')"


# --- ctnetlink, packed as the kernel lays it out ----------------------------------------------
def nla(kind: int, payload: bytes, nested: bool = False) -> bytes:
    body = struct.pack("=HH", 4 + len(payload), kind | (0x8000 if nested else 0)) + payload
    return body + b"\0" * (-len(body) % 4)


def ct_tuple(src: str, dst: str, proto: int, sport: int, dport: int) -> bytes:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    kinds = (1, 2) if a.version == 4 else (3, 4)
    ip = nla(kinds[0], a.packed) + nla(kinds[1], b.packed)
    ports = (
        nla(1, bytes([proto])) + nla(2, struct.pack(">H", sport)) + nla(3, struct.pack(">H", dport))
    )
    return nla(1, ip, True) + nla(2, ports, True)


def counters(nbytes: int) -> bytes:
    return nla(1, struct.pack(">Q", 3), False) + nla(2, struct.pack(">Q", nbytes))


def message(
    orig: bytes, reply: bytes, ob: int, rb: int, entry_id: int, zone: int | None = None
) -> bytes:
    attrs = nla(1, orig, True) + nla(2, reply, True)
    if zone is not None:
        attrs += nla(18, struct.pack(">H", zone))
    attrs += nla(3, struct.pack(">I", 0x8)) + nla(7, struct.pack(">I", 120))
    attrs += nla(9, counters(ob), True) + nla(10, counters(rb), True)
    attrs += nla(12, struct.pack(">I", entry_id)) + nla(11, struct.pack(">I", 1))
    body = struct.pack("=BBH", 2, 0, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), 0x100, 0x2, 1, 0) + body


def test_netlink_messages_decode() -> None:
    v4 = message(
        ct_tuple("10.1.0.5", "93.184.216.34", 6, 40000, 443),
        ct_tuple("93.184.216.34", "100.64.0.1", 6, 443, 40000),
        2_000_000,
        500_000,
        77,
    )
    v6 = message(
        ct_tuple("fd00:1::5", "fd00:2::9", 17, 5353, 53),
        ct_tuple("fd00:2::9", "fd00:1::5", 17, 53, 5353),
        100,
        200,
        78,
        zone=4,
    )
    entries = list(decode_entries(v4 + v6))
    assert [(e[1], e[2]) for e in entries] == [(2_000_000, 500_000), (100, 200)]
    assert entries[0][0] != entries[1][0]
    flow = decode_blob(entries[0][3])
    assert (flow.orig_src, flow.orig_dst, flow.reply_src, flow.reply_dst) == (
        "10.1.0.5",
        "93.184.216.34",
        "93.184.216.34",
        "100.64.0.1",
    )
    assert (flow.entry_id, flow.proto, flow.orig_sport, flow.orig_dport) == (77, 6, 40000, 443)
    six = decode_blob(entries[1][3])
    assert (six.orig_src, six.zone, six.proto, six.entry_id) == ("fd00:1::5", 4, 17, 78)


def test_a_truncated_or_foreign_message_is_not_an_entry() -> None:
    whole = message(
        ct_tuple("10.1.0.5", "10.1.2.9", 6, 1, 2),
        ct_tuple("10.1.2.9", "10.1.0.5", 6, 2, 1),
        5,
        6,
        1,
    )
    # a message of another type is skipped; a cut one stops the walk without an exception
    foreign = struct.pack("=IHHII", 20, 0x999, 0, 1, 0) + b"\0" * 4
    assert [e[1] for e in decode_entries(foreign + whole)] == [5]
    assert list(decode_entries(whole[:10])) == []
    # a message without a reply tuple cannot be decoded: KeyError, which the accounting counts
    lonely = struct.pack("=BBH", 2, 0, 0) + nla(1, ct_tuple("10.1.0.5", "10.1.2.9", 6, 1, 2), True)
    bad = struct.pack("=IHHII", 16 + len(lonely), CT_GET, 0, 1, 0) + lonely
    with pytest.raises(KeyError):
        decode_message(bad)


def test_the_dump_end_and_blobs_that_are_not_copied() -> None:
    entry = message(
        ct_tuple("10.1.0.5", "10.1.2.9", 6, 1, 2),
        ct_tuple("10.1.2.9", "10.1.0.5", 6, 2, 1),
        5,
        6,
        9,
    )
    done = struct.pack("=IHHII", 20, 3, 0x2, 1, 0) + b"\0" * 4  # NLMSG_DONE, 20 bytes
    foreign = struct.pack("=IHHII", 20, 0x999, 0, 1, 0) + b"\0" * 4
    buf = entry + foreign + entry + done
    end = DumpEnd()
    entries = list(decode_entries(buf, end))
    assert [(e[1], e[2]) for e in entries] == [(5, 6), (5, 6)]
    assert end.done and not end.error and not end.malformed
    # the blob is the buffer and the message's span, sliced only when decoded
    assert entries[1][3] == (buf, len(entry) + len(foreign), 2 * len(entry) + len(foreign))
    assert decode_blob(entries[1][3]).entry_id == 9
    with pytest.raises(TypeError, match="not a netlink entry blob"):
        decode_blob(b"raw bytes")
    # an error message ends the dump with its errno; a cut last message is malformed
    error = struct.pack("=IHHIIi", 20, 2, 0, 1, 0, -1)
    end = DumpEnd()
    assert [e[1] for e in decode_entries(entry + error, end)] == [5]
    assert end.done and end.error == 1
    end = DumpEnd()
    assert [e[1] for e in decode_entries(entry + done[:18], end)] == [5]
    assert end.malformed == 1 and not end.done
