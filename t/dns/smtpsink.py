#!/usr/bin/env python3
"""smtpsink.py - a minimal receiving SMTP server for the routing end-to-end tests.

  smtpsink.py --port P --dir D [--listen ADDR[=GREETING]]... [--lifetime S]

Listens on each ADDR (loopback only: 127.x.y.z or ::1) on port P.  ADDR=CODE
makes that address greet with CODE (e.g. 421) and close: a busy MX.  Every
connection appends "ADDR connect" to D/connections; every accepted message
is stored as D/msg.N with its envelope in D/msg.N.env.  No STARTTLS is
offered (the tests run at level "may").  Writes D/ready when listening.
Exits on SIGTERM or after S seconds.  Python 3 standard library only.
"""
import argparse
import os
import selectors
import socket
import sys
import threading
import time


def handle(conn, local, greeting, directory, lock, counter):
    f = conn.makefile("rb")

    def send(line):
        conn.sendall(line.encode() + b"\r\n")

    with lock:
        with open(os.path.join(directory, "connections"), "a") as log:
            log.write("%s connect\n" % local)
    if greeting != "220":
        send("%s 4.3.2 busy, try another MX" % greeting)
        return
    send("220 sink.test ESMTP")
    sender, rcpts = None, []
    while True:
        line = f.readline(4096)
        if not line:
            return
        cmd = line.decode("latin-1").rstrip("\r\n")
        verb = cmd[:4].upper()
        if verb in ("EHLO", "HELO"):
            send("250-sink.test" if verb == "EHLO" else "250 sink.test")
            if verb == "EHLO":
                send("250 8BITMIME")
        elif verb == "MAIL":
            sender, rcpts = cmd, []
            send("250 2.1.0 ok")
        elif verb == "RCPT":
            rcpts.append(cmd)
            send("250 2.1.5 ok")
        elif verb == "DATA":
            send("354 go ahead")
            body = b""
            while True:
                chunk = f.readline(65536)
                if not chunk:
                    return
                if chunk == b".\r\n":
                    break
                body += chunk
            with lock:
                counter[0] += 1
                n = counter[0]
                with open(os.path.join(directory, "msg.%d" % n), "wb") as out:
                    out.write(body)
                with open(os.path.join(directory, "msg.%d.env" % n), "w") as out:
                    out.write("%s\n%s\n%s\n" % (local, sender, "\n".join(rcpts)))
            send("250 2.0.0 queued as SINK%d" % n)
        elif verb == "RSET" or verb == "NOOP":
            send("250 2.0.0 ok")
        elif verb == "QUIT":
            send("221 2.0.0 bye")
            return
        else:
            send("502 5.5.2 unknown command")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--listen", action="append", default=[])
    ap.add_argument("--lifetime", type=float, default=120)
    args = ap.parse_args()
    sel = selectors.DefaultSelector()
    for spec in args.listen or ["127.0.0.1"]:
        addr, _, greeting = spec.partition("=")
        if not (addr.startswith("127.") or addr == "::1"):
            sys.exit("smtpsink: loopback addresses only")
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, args.port))
        s.listen(16)
        sel.register(s, selectors.EVENT_READ, (addr, greeting or "220"))
    lock = threading.Lock()
    counter = [0]
    open(os.path.join(args.dir, "ready"), "w").close()
    end = time.monotonic() + args.lifetime
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            conn, _ = key.fileobj.accept()
            conn.settimeout(10)
            addr, greeting = key.data
            t = threading.Thread(target=serve, args=(conn, addr, greeting, args.dir, lock, counter),
                                 daemon=True)
            t.start()


def serve(conn, addr, greeting, directory, lock, counter):
    try:
        handle(conn, addr, greeting, directory, lock, counter)
    except OSError:
        pass
    finally:
        conn.close()


if __name__ == "__main__":
    main()
