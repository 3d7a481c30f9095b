#!/usr/bin/env python3
"""The agent's address loop (tlsmtp.c try_addresses).

A loopback DNS responder gives "[multi.test]" two A records, 127.0.0.1 and
127.0.0.2, and two scripted SMTP servers listen on the same port on those
addresses.  Checked: a soft failure at the first server is logged as
Postfix's "QUEUEID: reason" info line and the next server delivers (the
per-recipient line names it as relay); when every server fails, the last
one decides; smtp_mx_session_limit stops after that many sessions that got
past EHLO, but connection failures do not count.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOP_BUILDDIR = os.environ.get("top_builddir", ".")
TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(TOP_SRCDIR, "t", "integ", "lib"))
import prerequisite  # noqa: E402  (skip, or fail under CI and as root)

AGENT = os.path.join(TOP_BUILDDIR, "transport", "tlsmtp")
ADDRS = ["127.0.0.1", "127.0.0.2"]
failures = []


class Dns(threading.Thread):
    """Answers A queries for multi.test with ADDRS, anything else with NODATA."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(query)
            if reply is not None:
                self.sock.sendto(reply, peer)

    @staticmethod
    def answer(query):
        if len(query) < 12:
            return None
        qid = query[:2]
        pos, labels = 12, []
        while pos < len(query) and query[pos] != 0:
            n = query[pos]
            labels.append(query[pos + 1:pos + 1 + n].decode("ascii", "replace").lower())
            pos += 1 + n
        qend = pos + 5
        if qend > len(query):
            return None
        qtype = struct.unpack("!H", query[pos + 1:pos + 3])[0]
        question = query[12:qend]
        answers = b""
        count = 0
        if ".".join(labels) == "multi.test" and qtype == 1:
            for addr in ADDRS:
                answers += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
                count += 1
        header = qid + struct.pack("!HHHHH", 0x8180, 1, count, 0, 0)
        return header + question + answers


class Server(threading.Thread):
    """One scripted SMTP server: a list of (expect-prefix, reply) per connection."""

    def __init__(self, addr, port, script):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.connections = 0
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                self.serve(conn)

    def serve(self, conn):
        buf = b""
        for expect, reply in self.script:
            while expect is not None and b"\r\n" not in buf:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
            if expect is not None:
                line, buf = buf.split(b"\r\n", 1)
                if expect == b"DATA-BODY":
                    while line != b".":
                        while b"\r\n" not in buf:
                            data = conn.recv(65536)
                            if not data:
                                return
                            buf += data
                        line, buf = buf.split(b"\r\n", 1)
                elif not line.upper().startswith(expect):
                    return
            try:
                conn.sendall(reply)
            except OSError:
                return

    def close(self):
        self.stop = True
        self.sock.close()


GOOD = [(None, b"220 ok ESMTP\r\n"), (b"EHLO", b"250 ok\r\n"), (b"MAIL", b"250 ok\r\n"),
        (b"RCPT", b"250 ok\r\n"), (b"DATA", b"354 go\r\n"),
        (b"DATA-BODY", b"250 2.0.0 Ok: queued as GOOD2\r\n"), (b"QUIT", b"221 bye\r\n")]
BUSY = [(None, b"421 4.3.2 busy, try later\r\n")]
MAIL_451 = [(None, b"220 ok ESMTP\r\n"), (b"EHLO", b"250 ok\r\n"),
            (b"MAIL", b"451 4.3.0 local problem\r\n"), (b"QUIT", b"221 bye\r\n")]


def check(name, cond, detail):
    if not cond:
        failures.append(name)
        print(f"FAIL {name}: {detail}")


def run_case(name, dns, scripts, extra, want_rc, want_out, want_conns, log_has=(), log_not=()):
    before = len(failures)
    first = Server(ADDRS[0], 0, scripts[0])
    servers = [first] + [Server(a, first.port, s) for a, s in zip(ADDRS[1:], scripts[1:])]
    for s in servers:
        s.start()
    tmp = tempfile.mkdtemp(prefix="tlsmtp-attempts-")
    log = os.path.join(tmp, "maillog")
    args = [AGENT, "-o", f"maillog_file={log}", "-o", f"dns_servers=127.0.0.1:{dns.port}",
            "-o", "smtp_tls_security_level=none", "-o", "smtp_randomize_addresses=no",
            "-o", "smtp_helo_timeout=5s", "-o", "smtp_mail_timeout=5s",
            "-o", "delivery_deadline=20s"] + extra + [
            "-f", "s@x.test", "-n", f"[multi.test]:{first.port}", "-i", "QID7", "--", "r@ex.test"]
    try:
        proc = subprocess.run(args, input=b"Subject: t\n\nbody\n", stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30)
        out = proc.stdout.decode("latin-1")
        time.sleep(0.1)
        with open(log, encoding="latin-1") as f:
            text = f.read()
        conns = [s.connections for s in servers]
        check(name, proc.returncode == want_rc, f"exit {proc.returncode}, want {want_rc}: {out!r}")
        check(name, out.startswith(want_out) and out.count("\n") == 1, f"output {out!r}")
        check(name, conns == want_conns, f"connections {conns}, want {want_conns}")
        for pattern in log_has:
            check(name, pattern.replace("PORT", str(first.port)) in text,
                  f"log lacks {pattern!r}:\n{text}")
        for pattern in log_not:
            check(name, pattern not in text, f"log has {pattern!r}:\n{text}")
        if len(failures) == before:
            print(f"ok   {name}: {out.strip()}")
    finally:
        for s in servers:
            s.close()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


def main():
    if not os.access(AGENT, os.X_OK):
        print(f"{AGENT} not built")
        return 1
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.2", 0))
        probe.close()
    except OSError:
        return prerequisite.missing("127.0.0.2 is not usable here (no loopback /8)")
    dns = Dns()
    dns.start()
    try:
        run_case("first busy, second delivers", dns, [BUSY, GOOD], [], 0, "250 2.0.0 Ok: queued as GOOD2",
                 [1, 1], log_has=["QID7: host multi.test[127.0.0.1] refused to talk to me: 421 4.3.2 busy",
                                  "QID7: to=<r@ex.test>, relay=multi.test[127.0.0.2]:PORT, ",
                                  "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as GOOD2"])
        run_case("all fail, the last decides", dns, [BUSY, MAIL_451], [], 75,
                 "4.3.0 host multi.test[127.0.0.2] said: 451 4.3.0 local problem", [1, 1],
                 log_has=["QID7: host multi.test[127.0.0.1] refused to talk to me",
                          "relay=multi.test[127.0.0.2]:PORT, ", "status=deferred"],
                 log_not=["QID7: host multi.test[127.0.0.2] said"])
        run_case("session limit", dns, [MAIL_451, GOOD], ["-o", "smtp_mx_session_limit=1"], 75,
                 "4.3.0 host multi.test[127.0.0.1] said: 451", [1, 0])
        run_case("address limit", dns, [BUSY, GOOD], ["-o", "smtp_mx_address_limit=1"], 75,
                 "4.3.2 host multi.test[127.0.0.1] refused to talk to me", [1, 0])
    finally:
        dns.stop = True
        dns.sock.close()
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("all attempt checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
