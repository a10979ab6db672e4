"""The kernel's connection tracking with byte accounting: one dump per collect (docs/network.md).

Two readers yield the same entries, `(key, orig_bytes, reply_bytes, blob)`, and decode a blob
into a `data.network.Flow` only when the accounting meets an entry it has not seen:

- `NetlinkConntrack`: a ctnetlink dump (IPCTNL_MSG_CT_GET, NLM_F_DUMP, both address families)
  on a netlink socket made by pyroute2 (in another network namespace when asked). The messages
  are decoded here with `struct` rather than pyroute2's generic decoder, which takes about
  93 us per entry (23 s for the kernel's default 262,144 entries; docs/network.md has the
  figures); pyroute2's decoder is the reference the tests compare against. The key of an entry
  is its raw original tuple plus its id, so an entry already known costs two counters to read.
- `ProcConntrack`: `/proc/net/nf_conntrack` (kernels built with it; no ids), the fallback.

Byte counters exist only with `net.netfilter.nf_conntrack_acct=1`; without it every entry reads
0 bytes, which the collector reports (`unitcost_network_conntrack_accounting`).
"""

from __future__ import annotations

import ipaddress
import os
import queue
import re
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from unitcost.data.network import Entry, Flow, decoded

NETLINK_NETFILTER = 12
#: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
CT_GET = (1 << 8) | 1
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_TYPE_MASK = 0x3FFF
# top-level attributes
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY = 1, 2, 9, 10
CTA_ID, CTA_ZONE = 12, 18
# in a tuple
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
CTA_COUNTERS_BYTES = 2
PROC_PATH = Path("/proc/net/nf_conntrack")


class ConntrackUnavailable(Exception):
    """The table could not be read; `str()` says what to do."""


def _attrs(buf: bytes, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Nested attributes of one level: type -> (payload start, payload end)."""
    out = {}
    unpack = struct.unpack_from
    while start + 4 <= end:
        length, kind = unpack("=HH", buf, start)
        if length < 4:
            break
        out[kind & NLA_TYPE_MASK] = (start + 4, start + length)
        start += (length + 3) & ~3
    return out


def _tuple(buf: bytes, start: int, end: int) -> tuple[str, str, int, int, int]:
    """(src, dst, proto, sport, dport) of a CTA_TUPLE_* payload."""
    parts = _attrs(buf, start, end)
    ip_start, ip_end = parts[CTA_TUPLE_IP]
    ip = _attrs(buf, ip_start, ip_end)
    if CTA_IP_V4_SRC in ip:
        a, _ = ip[CTA_IP_V4_SRC]
        b, _ = ip[CTA_IP_V4_DST]
        src = str(ipaddress.IPv4Address(buf[a : a + 4]))
        dst = str(ipaddress.IPv4Address(buf[b : b + 4]))
    else:
        a, _ = ip[CTA_IP_V6_SRC]
        b, _ = ip[CTA_IP_V6_DST]
        src = str(ipaddress.IPv6Address(buf[a : a + 16]))
        dst = str(ipaddress.IPv6Address(buf[b : b + 16]))
    proto_start, proto_end = parts[CTA_TUPLE_PROTO]
    proto = _attrs(buf, proto_start, proto_end)
    num = buf[proto[CTA_PROTO_NUM][0]]
    sport = dport = 0
    if CTA_PROTO_SRC_PORT in proto:
        sport = struct.unpack_from(">H", buf, proto[CTA_PROTO_SRC_PORT][0])[0]
        dport = struct.unpack_from(">H", buf, proto[CTA_PROTO_DST_PORT][0])[0]
    return src, dst, num, sport, dport


_V4_IP = struct.pack("=HH", 20, CTA_TUPLE_IP | 0x8000)
_V4_SRC, _V4_DST = struct.pack("=HH", 8, CTA_IP_V4_SRC), struct.pack("=HH", 8, CTA_IP_V4_DST)
_V6_IP = struct.pack("=HH", 44, CTA_TUPLE_IP | 0x8000)
_V6_SRC, _V6_DST = struct.pack("=HH", 20, CTA_IP_V6_SRC), struct.pack("=HH", 20, CTA_IP_V6_DST)
_PROTO = struct.pack("=H", CTA_TUPLE_PROTO | 0x8000)
_NUM = struct.pack("=HH", 5, CTA_PROTO_NUM)
_SPORT, _DPORT = (
    struct.pack("=HH", 6, CTA_PROTO_SRC_PORT),
    struct.pack("=HH", 6, CTA_PROTO_DST_PORT),
)
_inet_ntop = socket.inet_ntop


def _tuple_fast(buf: bytes, start: int) -> tuple[str, str, int, int, int] | None:
    """A tuple laid out as the kernel writes TCP/UDP/SCTP ones (ip, then proto: number and
    ports), read at fixed offsets; None when it is laid out otherwise."""
    head = buf[start : start + 4]
    if head == _V4_IP:
        if buf[start + 4 : start + 8] != _V4_SRC or buf[start + 12 : start + 16] != _V4_DST:
            return None
        src = _inet_ntop(socket.AF_INET, buf[start + 8 : start + 12])
        dst = _inet_ntop(socket.AF_INET, buf[start + 16 : start + 20])
        p = start + 20
    elif head == _V6_IP:
        if buf[start + 4 : start + 8] != _V6_SRC or buf[start + 24 : start + 28] != _V6_DST:
            return None
        src = _inet_ntop(socket.AF_INET6, buf[start + 8 : start + 24])
        dst = _inet_ntop(socket.AF_INET6, buf[start + 28 : start + 44])
        p = start + 44
    else:
        return None
    if buf[p + 2 : p + 4] != _PROTO or buf[p + 4 : p + 8] != _NUM:
        return None
    if buf[p + 12 : p + 16] != _SPORT or buf[p + 20 : p + 24] != _DPORT:
        return None
    return src, dst, buf[p + 8], buf[p + 16] << 8 | buf[p + 17], buf[p + 24] << 8 | buf[p + 25]


def _decode_fast(message: bytes) -> Flow | None:
    olen = struct.unpack_from("=H", message, 20)[0]
    orig = _tuple_fast(message, 24)
    reply_at = 20 + ((olen + 3) & ~3)
    reply = _tuple_fast(message, reply_at + 4) if orig is not None else None
    if orig is None or reply is None:
        return None
    after = reply_at + ((struct.unpack_from("=H", message, reply_at)[0] + 3) & ~3)
    top = _attrs(message, after, struct.unpack_from("=I", message, 0)[0])
    zone = struct.unpack_from(">H", message, top[CTA_ZONE][0])[0] if CTA_ZONE in top else 0
    orig_bytes = _counter(message, top.get(CTA_COUNTERS_ORIG))
    reply_bytes = _counter(message, top.get(CTA_COUNTERS_REPLY))
    entry_id = struct.unpack_from(">I", message, top[CTA_ID][0])[0] if CTA_ID in top else None
    src, dst, proto, sport, dport = orig
    return Flow(
        proto, src, dst, sport, dport, reply[0], reply[1], orig_bytes, reply_bytes, entry_id, zone
    )


def decode_message(message: bytes) -> Flow:
    """One ctnetlink message (from its nlmsghdr) into a Flow; ValueError/KeyError when it
    is not a conntrack entry with both tuples. The common layouts (TCP, UDP, SCTP over IPv4
    or IPv6) are read at fixed offsets; anything else by walking its attributes."""
    try:
        fast = _decode_fast(message)
    except (struct.error, IndexError):
        fast = None
    if fast is not None:
        return fast
    length = struct.unpack_from("=I", message, 0)[0]
    top = _attrs(message, 20, min(length, len(message)))
    src, dst, proto, sport, dport = _tuple(message, *top[CTA_TUPLE_ORIG])
    reply_src, reply_dst, _, _, _ = _tuple(message, *top[CTA_TUPLE_REPLY])
    return Flow(
        proto=proto,
        orig_src=src,
        orig_dst=dst,
        orig_sport=sport,
        orig_dport=dport,
        reply_src=reply_src,
        reply_dst=reply_dst,
        orig_bytes=_counter(message, top.get(CTA_COUNTERS_ORIG)),
        reply_bytes=_counter(message, top.get(CTA_COUNTERS_REPLY)),
        entry_id=struct.unpack_from(">I", message, top[CTA_ID][0])[0] if CTA_ID in top else None,
        zone=struct.unpack_from(">H", message, top[CTA_ZONE][0])[0] if CTA_ZONE in top else 0,
    )


def _counter(buf: bytes, span: tuple[int, int] | None) -> int:
    if span is None:
        return 0
    found = _attrs(buf, *span).get(CTA_COUNTERS_BYTES)
    return struct.unpack_from(">Q", buf, found[0])[0] if found else 0


#: The accounting block as the kernel writes it (ctnetlink_dump_acct): CTA_COUNTERS_ORIG then
#: CTA_COUNTERS_REPLY, each nested, 28 bytes: PACKETS (be64) then BYTES (be64).
_COUNTERS_ORIG = struct.pack("=HH", 28, CTA_COUNTERS_ORIG | 0x8000)
_COUNTERS_REPLY = struct.pack("=HH", 28, CTA_COUNTERS_REPLY | 0x8000)
_PACKETS = struct.pack("=HH", 12, 1)
_BYTES = struct.pack("=HH", 12, CTA_COUNTERS_BYTES)
_ID = struct.pack("=HH", 8, CTA_ID)


def _walk(buf: bytes, offset: int, end: int) -> Entry | None:
    """The general walk over one message's attributes, whatever their order."""
    unpack = struct.unpack_from
    pos = offset + 20
    orig = key_id = b""
    counts = [0, 0]
    while pos + 4 <= end:
        alen, atype = unpack("=HH", buf, pos)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype == CTA_TUPLE_ORIG:
            orig = buf[pos + 4 : pos + alen]
        elif atype in (CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY):
            found = _attrs(buf, pos + 4, pos + alen).get(CTA_COUNTERS_BYTES)
            counts[atype - CTA_COUNTERS_ORIG] = unpack(">Q", buf, found[0])[0] if found else 0
        elif atype == CTA_ID:
            key_id = buf[pos + 4 : pos + 8]
        pos += (alen + 3) & ~3
    if not orig:
        return None
    return orig + key_id, counts[0], counts[1], (buf, offset, end)


@dataclass
class DumpEnd:
    """What the messages said about the dump's end: NLMSG_DONE seen, or an error's errno."""

    done: bool = False
    error: int = 0
    malformed: int = 0


#: The accounting block, both directions, as one pattern, found and checked in one call in C;
#: its two BYTES values (be64) are then read with one unpack at fixed offsets from its start.
_COUNTERS = re.compile(
    re.escape(_COUNTERS_ORIG + _PACKETS)
    + rb".{8}"
    + re.escape(_BYTES)
    + rb".{8}"
    + re.escape(_COUNTERS_REPLY + _PACKETS)
    + rb".{8}"
    + re.escape(_BYTES),
    re.DOTALL,
)
_COUNTERS_SIZE = 56
_COUNTER_VALUES = struct.Struct(">20xQ20xQ")
#: A message's header and its first attribute's (length, type, then nla length, type).
_HEAD = struct.Struct("=IH14xHH")
_SHORT_HEAD = struct.Struct("=IH")
#: An entry's blob: the buffer it came in and its message's span. No copy is made for the
#: entries the accounting already knows (most of them); `decode_blob` slices the rest.
Blob = tuple[bytes, int, int]


def decode_blob(blob: object) -> Flow:
    """The Flow of an entry's blob (see `Blob`)."""
    if not isinstance(blob, tuple):
        raise TypeError(f"not a netlink entry blob: {type(blob).__name__}")
    buf, start, end = blob
    return decode_message(buf[start:end])


def _end_message(buf: bytes, offset: int, end_of_dump: DumpEnd | None) -> bool:
    """Whether the message at `offset` ends the dump (NLMSG_DONE or NLMSG_ERROR), noted."""
    length, kind = _SHORT_HEAD.unpack_from(buf, offset)
    if kind not in (NLMSG_DONE, NLMSG_ERROR):
        return False
    if end_of_dump is not None:
        end_of_dump.done = True
        if kind == NLMSG_ERROR and length >= 20 and offset + 20 <= len(buf):
            end_of_dump.error = -struct.unpack_from("=i", buf, offset + 16)[0]
    return True


def decode_entries(buf: bytes, end_of_dump: DumpEnd | None = None) -> Iterator[Entry]:
    """Entries of a buffer of ctnetlink messages, as cheaply as possible: the key is the raw
    original tuple and the id, the counters are read where the kernel writes them (after the
    tuples, as one pattern; else the general walk), the rest stays in the buffer until
    decoded (the blob is the buffer and the message's span). NLMSG_DONE and NLMSG_ERROR end
    the walk and are noted in `end_of_dump`."""
    head = _HEAD.unpack_from
    values = _COUNTER_VALUES.unpack_from
    counters = _COUNTERS.search
    find = buf.find
    ident = _ID
    offset, size = 0, len(buf)
    while offset + 16 <= size:
        if offset + 24 > size:  # the last message, shorter than an entry: NLMSG_DONE
            length = _SHORT_HEAD.unpack_from(buf, offset)[0]
            if length < 16 or offset + length > size:
                if end_of_dump is not None:
                    end_of_dump.malformed += 1
                return
            if _end_message(buf, offset, end_of_dump):
                return
            offset += (length + 3) & ~3
            continue
        length, kind, olen, otype = head(buf, offset)
        end = offset + length
        if length < 16 or end > size:
            if end_of_dump is not None:
                end_of_dump.malformed += 1
            return
        if kind == 0x100 or kind == CT_GET:
            entry: Entry | None = None
            if length >= 24 and otype & NLA_TYPE_MASK == CTA_TUPLE_ORIG and olen >= 4:
                orig_end = offset + 20 + olen
                found = counters(buf, orig_end, end)
                if found is not None:
                    start = found.start()
                    orig, reply = values(buf, start)
                    at = find(ident, start + _COUNTERS_SIZE, end)
                    key = buf[offset + 24 : orig_end]
                    if at >= 0 and at + 8 <= end:
                        key += buf[at + 4 : at + 8]
                    entry = (key, orig, reply, (buf, offset, end))
            if entry is None:
                entry = _walk(buf, offset, end)
            if entry is not None:
                yield entry
        elif _end_message(buf, offset, end_of_dump):
            return
        offset += (length + 3) & ~3


def _looks_final(chunk: bytes) -> bool:
    """Whether a received buffer ends the dump: NLMSG_DONE (or an error) comes alone or as
    the buffer's last message (a 20-byte message; an error is alone)."""
    size = len(chunk)
    if size < 16:
        return True
    if struct.unpack_from("=H", chunk, 4)[0] in (NLMSG_DONE, NLMSG_ERROR):
        return True
    return size >= 20 and struct.unpack_from("=IH", chunk, size - 20) == (20, NLMSG_DONE)


def _receive(sock: socket.socket, chunks: queue.Queue[bytes | OSError | None]) -> None:
    buffer = bytearray(1 << 16)
    view = memoryview(buffer)
    try:
        while True:
            size = sock.recv_into(view)
            chunk = bytes(view[:size])
            chunks.put(chunk)
            if _looks_final(chunk):
                break
    except OSError as exc:
        chunks.put(exc)
        return
    chunks.put(None)


@dataclass
class NetlinkConntrack:
    """Dumps the table over netlink. `netns`: a named network namespace (/run/netns/NAME)
    to read instead of this process's (tests; the DaemonSet runs in the host's)."""

    netns: str | None = None
    receive_buffer: int = 4 << 20
    name: str = "netlink"
    _socket: socket.socket | None = field(default=None, repr=False)
    #: Messages in the last dump that were not entries (errors) or could not be decoded.
    malformed: int = 0

    def _open(self) -> socket.socket:
        if self._socket is None:
            try:
                from pyroute2 import netns as pyroute2_netns
            except ImportError as exc:
                raise ConntrackUnavailable(
                    "the network collector needs pyroute2: pip install 'unitcost[gpu]'"
                ) from exc
            try:
                sock = pyroute2_netns.create_socket(
                    self.netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER
                )
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
                sock.bind((0, 0))
            except OSError as exc:
                raise ConntrackUnavailable(
                    f"cannot open a netfilter netlink socket: {exc.strerror or exc} "
                    "(the collector needs CAP_NET_ADMIN in the host's network namespace)"
                ) from exc
            self._socket = sock
        return self._socket

    def entries(self) -> Iterator[Entry]:
        """One dump. A thread receives while this one decodes: the kernel builds the dump
        inside recv() (the GIL released), so on two cores the two overlap."""
        sock = self._open()
        header = struct.pack("=IHHII", 20, CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        try:
            sock.send(header + struct.pack("=BBH", socket.AF_UNSPEC, 0, 0))
        except OSError as exc:
            self.close()
            raise ConntrackUnavailable(f"conntrack dump request: {exc.strerror or exc}") from exc
        self.malformed = 0
        chunks: queue.Queue[bytes | OSError | None] = queue.Queue(maxsize=256)
        receiver = threading.Thread(
            target=_receive, args=(sock, chunks), name="conntrack-dump", daemon=True
        )
        receiver.start()
        end = DumpEnd()
        try:
            while True:
                chunk = chunks.get()
                if chunk is None:
                    break
                if isinstance(chunk, OSError):
                    raise ConntrackUnavailable(f"conntrack dump: {chunk.strerror or chunk}")
                yield from decode_entries(chunk, end)
                if end.done:
                    break
        except BaseException:
            self.close()  # also ends the receiver's recv()
            raise
        finally:
            self.malformed += end.malformed
        receiver.join()
        if end.error:
            self.close()
            raise ConntrackUnavailable(f"conntrack dump refused: {os.strerror(end.error)}")
        if not end.done:  # the receiver stopped at what looked like the end but was not
            self.close()
            raise ConntrackUnavailable("conntrack dump: ended without NLMSG_DONE")

    def decode(self, blob: object) -> Flow:
        return decode_blob(blob)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class MalformedLine(ValueError):
    """A /proc line that is not a conntrack entry; `str()` names file, line, field, value."""


def parse_proc_line(line: str, where: str = str(PROC_PATH)) -> Flow:
    """One line of /proc/net/nf_conntrack:
    `ipv4 2 tcp 6 119 TIME_WAIT src=.. dst=.. sport=.. dport=.. packets=.. bytes=.. src=..`"""
    fields = line.split()
    if len(fields) < 5:
        raise MalformedLine(f"{where}: too few fields (got {line.strip()!r})")
    try:
        proto = int(fields[3])
    except ValueError:
        raise MalformedLine(f"{where}: protocol number: not a number (got {fields[3]!r})") from None
    seen: dict[str, list[str]] = {}
    for item in fields[4:]:
        name, sep, value = item.partition("=")
        if sep:
            seen.setdefault(name, []).append(value)
    try:
        src, reply_src = seen["src"][:2]
        dst, reply_dst = seen["dst"][:2]
    except (KeyError, ValueError):
        raise MalformedLine(f"{where}: src/dst: needs both tuples (got {line.strip()!r})") from None
    # the file writes IPv6 addresses in full (fd00:0001:0000:...): normalise as netlink does
    addresses = []
    for label, address in (("src", src), ("dst", dst), ("src", reply_src), ("dst", reply_dst)):
        try:
            addresses.append(str(ipaddress.ip_address(address)))
        except ValueError:
            raise MalformedLine(f"{where}: {label}: not an address (got {address!r})") from None
    src, dst, reply_src, reply_dst = addresses
    counts = seen.get("bytes", ["0", "0"])
    ports = seen.get("sport", ["0"])[:1] + seen.get("dport", ["0"])[:1]
    try:
        orig_bytes, reply_bytes = (int(v) for v in ([*counts, "0", "0"])[:2])
        sport, dport = (int(v) for v in ports)
    except ValueError:
        raise MalformedLine(f"{where}: bytes/ports: not a number (got {line.strip()!r})") from None
    zone = seen.get("zone", ["0"])[0]
    return Flow(
        proto=proto,
        orig_src=src,
        orig_dst=dst,
        orig_sport=sport,
        orig_dport=dport,
        reply_src=reply_src,
        reply_dst=reply_dst,
        orig_bytes=orig_bytes,
        reply_bytes=reply_bytes,
        entry_id=None,
        zone=int(zone) if zone.isdigit() else 0,
    )


@dataclass
class ProcConntrack:
    """Reads /proc/net/nf_conntrack (or a copy). Malformed lines are skipped and counted; the
    first one's message is kept for the log."""

    path: Path = PROC_PATH
    name: str = "proc"
    malformed: int = 0
    first_error: str = ""

    def entries(self) -> Iterator[Entry]:
        self.malformed, self.first_error = 0, ""
        try:
            handle = self.path.open(encoding="ascii", errors="replace")
        except OSError as exc:
            raise ConntrackUnavailable(f"{self.path}: {exc.strerror or exc}") from exc
        with handle:
            for number, line in enumerate(handle, 1):
                try:
                    flow = parse_proc_line(line, f"{self.path}:{number}")
                except MalformedLine as exc:
                    self.malformed += 1
                    self.first_error = self.first_error or str(exc)
                    continue
                yield flow.key, flow.orig_bytes, flow.reply_bytes, flow

    def decode(self, blob: object) -> Flow:
        return decoded(blob)

    def close(self) -> None:
        pass
