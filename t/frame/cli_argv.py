#!/usr/bin/env python3
"""The argv contract of tlsmtp (catalogue #78 to #84, #88, #89).

(Linux limits one argument to 128 KiB, so that is the largest address
the "oversized argument" case can pass.)

Usage and configuration mistakes defer with 4.3.5 and exit 75; malformed
addresses are refused with 5.1.3 before any connection (an address over
4096 octets is deferred with 4.1.3 instead).  A loopback TCP
listener (the next-hop) and a loopback UDP socket (the only DNS server)
record any network activity, which must not happen in those cases.  Every
run must print exactly one line that starts with its status code, and
must read all of its input (the writer never sees a broken pipe).
"""
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP_BUILDDIR = os.environ.get("top_builddir", ".")
AGENT = os.path.join(TOP_BUILDDIR, "transport", "tlsmtp")
RUN_LIMIT = 30
failures = []


class Network:
    """A TCP listener and a DNS (UDP) socket on 127.0.0.1, both recording."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.port = self.tcp.getsockname()[1]
        self.dns_port = self.udp.getsockname()[1]
        self.greeting = None

    def activity(self):
        """Connections accepted and DNS packets received since the last call."""
        conns = packets = 0
        while True:
            try:
                conn, _ = self.tcp.accept()
            except BlockingIOError:
                break
            conns += 1
            conn.close()
        while True:
            try:
                self.udp.recvfrom(4096)
            except BlockingIOError:
                break
            packets += 1
        return conns, packets

    def close(self):
        self.tcp.close()
        self.udp.close()


def feed(fd, data, result):
    try:
        with os.fdopen(fd, "wb") as w:
            w.write(data)
    except BrokenPipeError:
        result["epipe"] = True


def run(args, message=b"Subject: t\n\nbody\n"):
    """Run the agent; returns (exit status, output, seconds, writer saw EPIPE)."""
    rfd, wfd = os.pipe()
    result = {"epipe": False}
    start = time.monotonic()
    proc = subprocess.Popen([AGENT] + args, stdin=rfd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    os.close(rfd)
    writer = threading.Thread(target=feed, args=(wfd, message, result))
    writer.start()
    try:
        out, _ = proc.communicate(timeout=RUN_LIMIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    writer.join(RUN_LIMIT)
    return proc.returncode, out.decode("latin-1"), time.monotonic() - start, result["epipe"]


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}")


def expect(name, net, args, code, status, message=b"Subject: t\n\nbody\n", network=False,
           contains=None):
    before = len(failures)
    rc, out, _, epipe = run(args, message)
    conns, packets = net.activity()
    lines = out.split("\n")
    check(name, rc == status, f"exit {rc}, want {status}; output {out!r}")
    check(name, len(lines) == 2 and lines[1] == "", f"not exactly one line: {out!r}")
    check(name, out.startswith(code + " "), f"output {out!r} does not start with {code}")
    if contains is not None:
        check(name, contains in out, f"output {out!r} lacks {contains!r}")
    if not network:
        check(name, conns == 0 and packets == 0,
              f"network activity: {conns} connections, {packets} DNS packets")
    check(name, not epipe, "stdin was not read to the end")
    if len(failures) == before:
        print(f"ok   {name}: {out.strip()[:90]}")
    return conns, packets


def main():
    if not os.access(AGENT, os.X_OK):
        print(f"{AGENT} not built")
        return 1
    net = Network()
    tmp = tempfile.mkdtemp(prefix="tlsmtp-cli-")
    log = os.path.join(tmp, "maillog")
    base = ["-o", f"maillog_file={log}", "-o", f"dns_servers=127.0.0.1:{net.dns_port}",
            "-o", "smtp_connect_timeout=5s", "-o", "delivery_deadline=20s"]
    nexthop = ["-n", f"[127.0.0.1]:{net.port}"]
    big = b"Subject: big\n\n" + b"x" * 70 + b"\n" * 1 + (b"y" * 76 + b"\n") * 40000
    try:
        # Usage errors: 4.3.5, exit 75, no network.
        expect("no arguments", net, [], "4.3.5", 75)
        expect("no recipients", net, base + ["-f", "s@x.test"] + nexthop, "4.3.5", 75)
        expect("no sender", net, base + nexthop + ["r@ex.test"], "4.3.5", 75)
        expect("unknown option", net, base + ["-x", "-f", "s@x.test"] + nexthop + ["r@ex.test"],
               "4.3.5", 75)
        expect("option without value", net, base + ["-f", "s@x.test", "-n"], "4.3.5", 75,
               contains="-n needs a value")
        expect("sender twice", net, base + ["-f", "s@x.test", "-f", "t@x.test"] + nexthop
               + ["r@ex.test"], "4.3.5", 75)
        expect("-o without =", net, base + ["-o", "smtp_helo_timeout", "-f", "s@x.test"] + nexthop
               + ["r@ex.test"], "4.3.5", 75)
        expect("unknown parameter", net, base + ["-o", "no_such_parameter=1", "-f", "s@x.test"]
               + nexthop + ["r@ex.test"], "4.3.5", 75, contains="no_such_parameter")
        expect("bad time value", net, base + ["-o", "smtp_helo_timeout=5x", "-f", "s@x.test"]
               + nexthop + ["r@ex.test"], "4.3.5", 75)
        expect("bad level", net, base + ["-o", "smtp_tls_security_level=paranoid", "-f",
               "s@x.test"] + nexthop + ["r@ex.test"], "4.3.5", 75)
        expect("missing -c file", net, ["-c", os.path.join(tmp, "nope.conf")] + base
               + ["-f", "s@x.test"] + nexthop + ["r@ex.test"], "4.3.5", 75)
        conf = os.path.join(tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("# comment\nsmtp_tls_security_level = may\nunknown_thing = 1\n")
        expect("unknown parameter in file", net, ["-c", conf] + base + ["-f", "s@x.test"] + nexthop
               + ["r@ex.test"], "4.3.5", 75, message=big, contains="line 3")
        expect("different domains, no -n", net, base + ["-f", "s@x.test", "a@one.test",
               "b@two.test"], "4.3.5", 75)
        expect("bad next-hop", net, base + ["-f", "s@x.test", "-n", "[127.0.0.1", "r@ex.test"],
               "4.3.5", 75)

        # Malformed addresses: 5.1.3 before any connection.
        for name, rcpt in [("CRLF injection", "a@b.test\r\nRCPT TO:<x@evil.test>"),
                           ("bare LF", "a@b.test\nRCPT TO:<x@evil.test>"),
                           ("bare CR", "a@b.test\rRCPT TO:<x@evil.test>"),
                           ("TAB", "a\tb@ex.test"),
                           ("ESC", "a\x1b[31m@ex.test"),
                           ("NOTIFY injection", "a@b.test> NOTIFY=NEVER"),
                           ("SMTPUTF8 injection", "a@b.test> SMTPUTF8"),
                           ("bracketed", "<a@b.test>"),
                           ("no domain", "postmaster")]:
            expect("recipient: " + name, net, base + ["-f", "s@x.test"] + nexthop + [rcpt],
                   "5.1.3", 65, message=big)
        # Well formed but longer than any server takes (ADDRESS_MAX, 4096):
        # deferred before any connection, never bounced by the agent.
        expect("recipient: 128 KiB argument", net, base + ["-f", "s@x.test"] + nexthop
               + ["x" * 131000 + "@ex.test"], "4.1.3", 75, message=big)
        expect("sender: 128 KiB argument", net, base + ["-f", "x" * 131000 + "@x.test"] + nexthop
               + ["r@ex.test"], "4.1.3", 75, message=big)
        expect("sender injection", net, base + ["-f", "s@x.test> RET=FULL"] + nexthop
               + ["r@ex.test"], "5.1.3", 65)
        # "--" ends options: "-f" after it is a (malformed) recipient.
        expect("option after --", net, base + ["-f", "s@x.test"] + nexthop + ["--", "-f"],
               "5.1.3", 65)
        # No permutation: "-v" after a recipient is a recipient, so the
        # batch has a malformed member and is deferred, not delivered.
        expect("option after recipient", net, base + ["-f", "s@x.test"] + nexthop
               + ["r@ex.test", "-v"], "4.3.5", 75)
        expect("mixed batch", net, base + ["-f", "s@x.test"] + nexthop
               + ["r@ex.test", "bad@ex.test> NOTIFY=NEVER"], "4.3.5", 75)

        with open(log, encoding="latin-1") as f:
            text = f.read()
        check("log", "status=bounced (bad recipient address syntax" in text,
              "no per-recipient line for a malformed recipient")
        check("log", "\r" not in text and "\x1b" not in text, "control characters in the log")
        check("log", "to=<s@x.test>" not in text, "sender logged as a recipient")
        check("log", "to=<r@ex.test>, relay=none, delay=" in text and "dsn=5.1.3, status=bounced "
              "(bad sender address syntax" in text, "no recipient line after a bad sender")
        check("log", text.count("to=<a@b.test> SMTPUTF8>, relay=none") == 1,
              "no per-recipient line after a refused batch")

        # Positive control: the same setup does see a connection when the
        # agent is allowed to deliver; the listener never answers, so the
        # delivery deadline ends it with a deferral.
        start = time.monotonic()
        conns, _ = expect("deadline", net, base[:-2] + ["-o", "delivery_deadline=2s", "-f",
                          "s@x.test"] + nexthop + ["r@ex.test"], "4.4.2", 75, network=True)
        check("deadline", conns == 1, f"{conns} connections, want 1")
        check("deadline", time.monotonic() - start < 15, "delivery_deadline not honoured")

        # The last resort: the agent blocks where no stage deadline applies
        # (standard input never ends), and the timer armed after
        # delivery_deadline ends it with a deferral.
        rfd, wfd = os.pipe()
        start = time.monotonic()
        proc = subprocess.Popen([AGENT] + base[:-2] + ["-o", "delivery_deadline=1s", "-f",
                                "s@x.test"] + nexthop + ["r@ex.test"], stdin=rfd,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.close(rfd)
        try:
            out, _ = proc.communicate(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        os.close(wfd)
        elapsed = time.monotonic() - start
        out = out.decode("latin-1")
        check("last resort", proc.returncode == 75, f"exit {proc.returncode}, output {out!r}")
        check("last resort", out == "4.4.2 delivery deadline exceeded: tlsmtp stopped\n",
              f"output {out!r}")
        check("last resort", 2 <= elapsed < 10, f"took {elapsed:.1f}s")
        check("last resort", net.activity() == (0, 0), "network activity")
        print(f"ok   last resort: {out.strip()} after {elapsed:.1f}s")
    finally:
        net.close()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("all argv checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
