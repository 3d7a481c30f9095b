#!/usr/bin/env python3
"""badresponder.py - a fault-injecting DNS responder for the hostile-answer tests.

Fault injection only: it answers every query for *.bad.test according to the
first label of the query name (see CASES below), over UDP and TCP on
127.0.0.1, on a free high port that it writes to --port-file.  Each query it
receives is logged as "QNAME QTYPE udp|tcp" to --log so that tests can count
attempts.  It exits when its parent test kills it (SIGTERM) or after
--lifetime seconds, whichever comes first.

  badresponder.py --port-file F --log L [--lifetime S]
  badresponder.py --write-corpus DIR      seed corpus for fuzz_dns_msg

Python 3 standard library only.
"""
import argparse
import os
import random
import selectors
import socket
import struct
import sys
import time

TYPE_A, TYPE_CNAME, TYPE_MX, TYPE_AAAA = 1, 5, 15, 28
ZONE = "bad.test"


def name(text):
    """Uncompressed wire form of a dotted name."""
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname, qtype):
    return name(qname) + struct.pack(">HH", qtype, 1)


# Offset of the question name in every message: right after the header.
QPTR = b"\xc0\x0c"


def rr(owner, rtype, rdata, ttl=60):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def mx_rdata(pref, target_wire):
    return struct.pack(">H", pref) + target_wire


RESP = 0x8180  # QR, RD, RA
AD = 0x0020
TC = 0x0200


def answer(qid, qname, qtype, records, flags=RESP, rcode=0, ancount=None):
    count = len(records) if ancount is None else ancount
    return (header(qid, flags | rcode, 1, count) + question(qname, qtype) +
            b"".join(records))


def addr_answer(qid, qname, qtype, flags=RESP):
    if qname.lower().endswith(".ad." + ZONE):
        flags |= AD
    if qtype == TYPE_A:
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_A, bytes([127, 0, 0, 1]))], flags)
    return answer(qid, qname, qtype, [], flags)


def respond(qid, qname, qtype, proto):
    """The reply for one query: bytes, or None for silence."""
    first = qname.split(".")[0].lower()
    big = proto == "tcp"
    if not qname.lower().endswith(ZONE):
        return answer(qid, qname, qtype, [], rcode=5)
    # Addresses of the hosts that the MX cases name: all on loopback.
    if qtype in (TYPE_A, TYPE_AAAA) and first not in ("manya", "shortaddr", "cnameloop",
                                                         "unusable", "empty", "silent",
                                                         "servfail"):
        return addr_answer(qid, qname, qtype)
    if first == "loop":
        # The exchange is a pointer to itself.
        start = len(header(0, 0)) + len(question(qname, qtype)) + 2 + 10 + 2
        return answer(qid, qname, qtype,
                      [rr(QPTR, TYPE_MX, struct.pack(">H", 10) + struct.pack(">H", 0xc000 | start))])
    if first == "longlabel":
        label = bytes([64]) + b"a" * 64
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_MX, mx_rdata(10, label + QPTR))])
    if first == "longname":
        target = b"".join(bytes([63]) + b"b" * 63 for _ in range(4)) + b"\0"
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_MX, mx_rdata(10, target))])
    if first == "rdlen":
        rec = QPTR + struct.pack(">HHIH", TYPE_MX, 1, 60, 400) + mx_rdata(10, b"\x02mx" + QPTR)
        return answer(qid, qname, qtype, [rec])
    if first == "ancount":
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_MX, mx_rdata(10, b"\x02mx" + QPTR))],
                      ancount=7)
    if first == "empty":
        return b""
    if first == "silent":
        return None
    if first == "servfail":
        return answer(qid, qname, qtype, [], rcode=2)
    if first == "wrongq":
        return answer(qid, "other." + ZONE, qtype, [rr(QPTR, TYPE_MX, mx_rdata(10, b"\x02mx" + QPTR))])
    if first == "tc":
        # Truncated over UDP; over TCP the connection is closed at once.
        return answer(qid, qname, qtype, [], RESP | TC) if not big else b""
    if first == "tctcp":
        if not big:
            return answer(qid, qname, qtype, [], RESP | TC)
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_MX, mx_rdata(10, b"\x04mail" + QPTR))])
    if first == "many":
        if not big:
            return answer(qid, qname, qtype, [], RESP | TC)
        recs = [rr(QPTR, TYPE_MX, mx_rdata(10 + i % 7, ("\x05m%04d" % i).encode() + QPTR))
                for i in range(1000)]
        return answer(qid, qname, qtype, recs)
    if first == "manya":
        if qtype != TYPE_A:
            return answer(qid, qname, qtype, [])
        if not big:
            return answer(qid, qname, qtype, [], RESP | TC)
        recs = [rr(QPTR, TYPE_A, bytes([127, 1 + i // 250, i % 250, 1])) for i in range(1000)]
        return answer(qid, qname, qtype, recs)
    if first == "shortaddr":
        if qtype == TYPE_A:
            return answer(qid, qname, qtype, [rr(QPTR, TYPE_A, b"\x7f\x00\x01")])
        return answer(qid, qname, qtype, [])
    if first == "unusable":
        # this host, multicast, broadcast and their IPv6 kin; one good address
        if qtype == TYPE_A:
            return answer(qid, qname, qtype, [rr(QPTR, TYPE_A, bytes(a)) for a in
                                              ([0, 0, 0, 0], [224, 0, 0, 1], [255, 255, 255, 255],
                                               [127, 0, 0, 8])])
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_AAAA, a) for a in
                                          (bytes(16), b"\xff\x02" + bytes(13) + b"\x01",
                                           bytes(10) + b"\xff\xff" + bytes(4))])
    if first == "cnameloop":
        # a -> b -> a: no address at the end of the chain.
        other = b"\x02cb" + QPTR
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_CNAME, other),
                                          rr(other, TYPE_CNAME, QPTR)])
    if first == "badname":
        recs = [rr(QPTR, TYPE_MX, mx_rdata(10, b"\x08bad name" + QPTR)),
                rr(QPTR, TYPE_MX, mx_rdata(10, b"\x03a\x00b" + QPTR)),
                rr(QPTR, TYPE_MX, mx_rdata(10, b"\x04a\r\nb" + QPTR)),
                rr(QPTR, TYPE_MX, mx_rdata(10, b"\x02-x" + QPTR)),
                rr(QPTR, TYPE_MX, mx_rdata(20, b"\x04good" + QPTR))]
        return answer(qid, qname, qtype, recs)
    if first == "allbad":
        recs = [rr(QPTR, TYPE_MX, mx_rdata(10, b"\x08bad name" + QPTR)),
                rr(QPTR, TYPE_MX, mx_rdata(20, b"\x07a\x1b[31mb" + QPTR))]
        return answer(qid, qname, qtype, recs)
    if first == "ad":
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_MX, mx_rdata(10, b"\x04mail" + QPTR))],
                      RESP | AD)
    if first == "wrongtype":
        # A records in answer to an MX query: no MX at all, so implicit MX.
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_A, bytes([127, 0, 0, 9]))])
    if first == "nullmx":
        return answer(qid, qname, qtype, [rr(QPTR, TYPE_MX, mx_rdata(0, b"\0"))])
    return answer(qid, qname, qtype, [], rcode=3)


def parse_query(data):
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    pos, labels = 12, []
    while pos < len(data) and data[pos] != 0:
        n = data[pos]
        if n > 63 or pos + 1 + n > len(data):
            return None
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    if pos + 5 > len(data):
        return None
    qtype = struct.unpack(">H", data[pos + 1:pos + 3])[0]
    return qid, ".".join(labels), qtype


def free_udp_tcp_port():
    for _ in range(200):
        port = random.randint(20000, 60000)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            u.bind(("127.0.0.1", port))
            t.bind(("127.0.0.1", port))
            t.listen(16)
            return u, t, port
        except OSError:
            u.close()
            t.close()
    sys.exit("badresponder: no free port")


def serve(port_file, log_path, lifetime):
    udp, tcp, port = free_udp_tcp_port()
    log = open(log_path, "a", buffering=1)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(port_file + ".tmp", port_file)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "listen")
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            if key.data == "udp":
                data, peer = udp.recvfrom(65535)
                q = parse_query(data)
                if q is None:
                    continue
                log.write("%s %d udp\n" % (q[1], q[2]))
                reply = respond(q[0], q[1], q[2], "udp")
                if reply is not None:
                    udp.sendto(reply, peer)
            elif key.data == "listen":
                conn, _ = tcp.accept()
                conn.settimeout(2)
                try:
                    serve_tcp(conn, log)
                except OSError:
                    pass
                finally:
                    conn.close()


def serve_tcp(conn, log):
    buf = b""
    while len(buf) < 2:
        chunk = conn.recv(2 - len(buf))
        if not chunk:
            return
        buf += chunk
    need = struct.unpack(">H", buf)[0]
    data = b""
    while len(data) < need:
        chunk = conn.recv(need - len(data))
        if not chunk:
            return
        data += chunk
    q = parse_query(data)
    if q is None:
        return
    log.write("%s %d tcp\n" % (q[1], q[2]))
    reply = respond(q[0], q[1], q[2], "tcp")
    if reply:
        conn.sendall(struct.pack(">H", len(reply)) + reply)


def write_corpus(directory):
    """Answers of every case (and a few plain ones) as fuzzing seeds."""
    os.makedirs(directory, exist_ok=True)
    cases = ["loop", "longlabel", "longname", "rdlen", "ancount", "servfail", "wrongq",
             "tctcp", "shortaddr", "cnameloop", "badname", "allbad", "ad", "wrongtype",
             "nullmx", "nxdomain", "unusable"]
    for case in cases:
        for proto in ("udp", "tcp"):
            qtype = TYPE_A if case in ("shortaddr", "cnameloop", "unusable") else TYPE_MX
            reply = respond(0x1234, "%s.%s" % (case, ZONE), qtype, proto)
            if reply:
                with open(os.path.join(directory, "%s-%s" % (case, proto)), "wb") as f:
                    f.write(reply)
    with open(os.path.join(directory, "a-record"), "wb") as f:
        f.write(addr_answer(7, "mx.bad.test", TYPE_A))
    with open(os.path.join(directory, "many-mx-tcp"), "wb") as f:
        f.write(respond(9, "many." + ZONE, TYPE_MX, "tcp")[:3000])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file")
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--write-corpus")
    args = ap.parse_args()
    if args.write_corpus:
        write_corpus(args.write_corpus)
        return
    if not args.port_file:
        ap.error("--port-file is required")
    serve(args.port_file, args.log, args.lifetime)


if __name__ == "__main__":
    main()
