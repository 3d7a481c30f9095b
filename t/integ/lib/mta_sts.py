"""mta_sts - the real postfix-mta-sts-resolver daemon on loopback, with the
DNS and HTTPS it needs, for the integration scenarios.

MtaSts(tmpdir, top_srcdir, certs, mode=..., mx=[...]).start() runs:
  - knotd (t/dns/dnsserver with DNSSERVER_ADDRESS) serving zone
    example.test: "_mta-sts TXT v=STSv1; id=..." and "mta-sts A ADDR";
  - an HTTPS server on ADDR:443 with the suite's *.example.test leaf,
    serving /.well-known/mta-sts.txt (version, mode, mx lines, max_age);
  - mta-sts-daemon (Debian package postfix-mta-sts-resolver) listening on
    127.0.0.1:PORT, in its own mount namespace where /etc/resolv.conf is a
    bind mount naming ADDR, with SSL_CERT_FILE = the suite CA.
The daemon takes no DNS or HTTPS port of its own (RFC 8461 fixes 443, and
its resolver reads resolv.conf, which has no port), so knotd and the HTTPS
server use ports 53 and 443 on ADDR = 127.0.0.1 (a port already in use
fails the scenario); the host's resolv.conf is never touched.
endpoint() is "inet:127.0.0.1:PORT"; log_text() is the daemon's debug log;
stop() kills all three by pid.
start() raises Unavailable when the daemon or unshare(1) is not installed,
RuntimeError (with the daemon's log) when anything fails to start.
"""

import http.server
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

DAEMON = "/usr/bin/mta-sts-daemon"
NGINX = "/usr/sbin/nginx"
DOMAIN = "example.test"


class Unavailable(Exception):
	pass


def _free_address():
	"""127.0.0.1 once its ports 53 and 443 are free, waiting up to 15 s:
	the previous scenario's servers (or another test run on this machine)
	may still be letting go of them."""
	deadline = time.monotonic() + 15
	while True:
		try:
			return _free_address_now()
		except RuntimeError:
			if time.monotonic() >= deadline:
				raise
			time.sleep(0.5)


def _free_address_now():
	"""127.0.0.1, after checking that its ports 53 (UDP, TCP) and 443 (TCP)
	are free: network tests bind to 127.0.0.1 only, and the daemon cannot
	be given other ports (see above)."""
	addr = "127.0.0.1"
	socks = []
	try:
		for kind, port in ((socket.SOCK_DGRAM, 53), (socket.SOCK_STREAM, 53), (socket.SOCK_STREAM, 443)):
			s = socket.socket(socket.AF_INET, kind)
			socks.append(s)
			s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
			s.bind((addr, port))
		return addr
	except OSError as e:
		raise RuntimeError("%s: port 53 or 443 is in use (%s); the MTA-STS daemon needs both" % (addr, e))
	finally:
		for s in socks:
			s.close()


def _free_port():
	s = socket.socket()
	s.bind(("127.0.0.1", 0))
	port = s.getsockname()[1]
	s.close()
	return port


class _PolicyHandler(http.server.BaseHTTPRequestHandler):
	"""Serves the policy; "fault" scripts what goes wrong (see FAULTS).
	Every answer ends with a TLS close_notify (unwrap) except "noclose",
	which closes the TCP connection in the middle of the body."""
	policy = b""
	fetches = None
	fault = ""

	def do_GET(self):
		self.fetches.append(self.path)
		self.close_connection = True
		f = self.fault
		if self.path != "/.well-known/mta-sts.txt" or f == "404":
			self.send_response(404)
			self.send_header("Content-Length", "0")
			self.end_headers()
			return
		if f == "redirect":
			self.send_response(301)
			self.send_header("Location", "https://mta-sts.%s/.well-known/mta-sts.txt?x" % DOMAIN)
			self.send_header("Content-Length", "0")
			self.end_headers()
			return
		body = self.policy
		if f == "big":
			body = body + b"#" * (65537 - len(body))
		self.send_response(200)
		self.send_header("Content-Type", "text/html" if f == "html" else "text/plain; charset=utf-8")
		self.send_header("Content-Length", str(len(body)))
		self.end_headers()
		if f == "slow":
			self.wfile.write(body[:10])
			self.wfile.flush()
			time.sleep(30)
		if f == "noclose":
			self.wfile.write(body[:len(body) // 2])
			self.wfile.flush()
			self.connection.shutdown(socket.SHUT_RDWR)
			return
		self.wfile.write(body)

	def finish(self):
		super().finish()
		try:
			self.connection.unwrap()
		except (OSError, ValueError):
			pass

	def log_message(self, *args):
		pass


FAULTS = ("", "404", "redirect", "html", "big", "slow", "noclose")


class MtaSts:
	def __init__(self, tmpdir, top_srcdir, certs, mode="enforce", mx=("mx.example.test",),
		     max_age=86400, https_cert="wildcard", records=(), txt=None, policy=None,
		     fault="", https_server="python"):
		self.dir = os.path.join(tmpdir, "mta-sts")
		self.top_srcdir = top_srcdir
		self.certs = certs
		self.mode = mode
		self.mx = list(mx)
		self.max_age = max_age
		self.https_cert = https_cert
		# Zone lines added to example.test (MX routing for the agent's
		# own MTA-STS), the TXT text ("" = no record; None = a fresh
		# id), the policy bytes instead of the generated one, a fault.
		self.records = list(records)
		self.txt = txt
		self.serial = 1
		self.policy = policy
		if fault not in FAULTS:
			raise RuntimeError("unknown https fault %r" % fault)
		self.fault = fault
		if https_server not in ("python", "nginx"):
			raise RuntimeError("unknown https server %r" % https_server)
		self.https_server = https_server
		self.nginx = None
		self.addr = None
		self.port = None
		self.daemon = None
		self.httpd = None
		self.fetches = []
		self.dns_state = os.path.join(self.dir, "dns-state")
		self.log = os.path.join(self.dir, "daemon.log")

	def endpoint(self):
		return "inet:127.0.0.1:%d" % self.port

	def start(self):
		if not os.access(DAEMON, os.X_OK):
			raise Unavailable("%s not installed (Debian package postfix-mta-sts-resolver)" % DAEMON)
		if not shutil.which("unshare"):
			raise Unavailable("unshare(1) not installed")
		os.makedirs(os.path.join(self.dir, "zones"))
		self.addr = _free_address()
		self._start_dns()
		self._start_https()
		self._start_daemon()
		return self

	def set_txt(self, txt):
		"""Publish another _mta-sts TXT ("" = none): the zone file is
		written again with a higher serial and knotd reloads it."""
		self.txt = txt
		self.serial += 1
		self._write_zone()
		sock = os.path.join(self.dns_state, "run", "knot.sock")
		p = subprocess.run(["knotc", "-s", sock, "-b", "zone-reload", DOMAIN],
				   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
		if p.returncode != 0:
			raise RuntimeError("knotc zone-reload: %s" % p.stdout.decode(errors="replace")[-300:])

	def _start_dns(self):
		self.serial = 1
		self._write_zone()
		self._run_dns()

	def _write_zone(self):
		with open(os.path.join(self.dir, "zones", DOMAIN + ".zone"), "w") as f:
			f.write("$ORIGIN %s.\n$TTL 60\n"
				"@ SOA ns hostmaster %d 3600 600 86400 60\n"
				"@ NS ns\nns A %s\n"
				"%s"
				"mta-sts A %s\n%s" % (DOMAIN, self.serial, self.addr, self._txt_line(), self.addr,
							"".join(r + "\n" for r in self.records)))

	def _run_dns(self):
		env = dict(os.environ, DNSSERVER_ADDRESS=self.addr)
		p = subprocess.run([os.path.join(self.top_srcdir, "t", "dns", "dnsserver"), "start",
				    self.dns_state, os.path.join(self.dir, "zones")],
				   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
		if p.returncode != 0:
			raise RuntimeError("knotd on %s@53: %s" % (self.addr, p.stderr.decode(errors="replace")[-300:]))

	def _txt_line(self):
		if self.txt == "":
			return ""
		text = self.txt if self.txt is not None else "v=STSv1; id=%d" % int(time.time())
		return "_mta-sts TXT \"%s\"\n" % text.replace("\\", "\\\\").replace('"', '\\"')

	def _start_https(self):
		policy = "version: STSv1\nmode: %s\n" % self.mode
		policy += "".join("mx: %s\n" % m for m in self.mx)
		policy += "max_age: %d\n" % self.max_age
		body = self.policy if self.policy is not None else policy.encode()
		if self.https_server == "nginx":
			self._start_nginx(body)
			return
		handler = type("Handler", (_PolicyHandler,), {"policy": body, "fetches": self.fetches,
							      "fault": self.fault})
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		ctx.load_cert_chain(os.path.join(self.certs, self.https_cert + "-chain.pem"),
				    os.path.join(self.certs, self.https_cert + ".key"))
		self.httpd = http.server.ThreadingHTTPServer((self.addr, 443), handler)
		self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
		threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

	def _start_nginx(self, body):
		"""Debian's nginx-light as the real policy server: the file under
		its root, text/plain, the suite certificate; foreground, one
		process, every path under self.dir."""
		if not os.access(NGINX, os.X_OK):
			raise Unavailable("%s not installed (Debian package nginx-light)" % NGINX)
		root = os.path.join(self.dir, "www")
		os.makedirs(os.path.join(root, ".well-known"))
		with open(os.path.join(root, ".well-known", "mta-sts.txt"), "wb") as f:
			f.write(body)
		conf = os.path.join(self.dir, "nginx.conf")
		d = self.dir
		with open(conf, "w") as f:
			f.write("daemon off;\nmaster_process off;\nworker_processes 1;\n"
				"pid %s/nginx.pid;\nerror_log %s/nginx-error.log;\n"
				"events { worker_connections 16; }\n"
				"http {\n access_log %s/nginx-access.log;\n"
				" client_body_temp_path %s/nginx-body;\n proxy_temp_path %s/nginx-proxy;\n"
				" fastcgi_temp_path %s/nginx-fcgi;\n uwsgi_temp_path %s/nginx-uwsgi;\n"
				" scgi_temp_path %s/nginx-scgi;\n"
				" types { text/plain txt; }\n default_type application/octet-stream;\n"
				" server {\n  listen %s:443 ssl;\n  server_name mta-sts.%s;\n"
				"  ssl_certificate %s;\n  ssl_certificate_key %s;\n  root %s;\n }\n}\n"
				% (d, d, d, d, d, d, d, d, self.addr, DOMAIN,
				   os.path.join(self.certs, self.https_cert + "-chain.pem"),
				   os.path.join(self.certs, self.https_cert + ".key"), root))
		self.nginx = subprocess.Popen([NGINX, "-c", conf, "-p", d], stdin=subprocess.DEVNULL,
					      stdout=subprocess.DEVNULL,
					      stderr=open(os.path.join(d, "nginx.err"), "wb"),
					      start_new_session=True)
		deadline = time.monotonic() + 10
		while time.monotonic() < deadline:
			if self.nginx.poll() is not None:
				raise RuntimeError("nginx exited %s" % self.nginx.returncode)
			try:
				socket.create_connection((self.addr, 443), 0.2).close()
				return
			except OSError:
				time.sleep(0.1)
		raise RuntimeError("nginx did not listen within 10s")

	def nginx_fetches(self):
		try:
			with open(os.path.join(self.dir, "nginx-access.log")) as f:
				return [l for l in f if "/.well-known/mta-sts.txt" in l]
		except OSError:
			return []

	def _start_daemon(self):
		resolv = os.path.join(self.dir, "resolv.conf")
		with open(resolv, "w") as f:
			f.write("nameserver %s\noptions timeout:1 attempts:2\n" % self.addr)
		self.port = _free_port()
		conf = os.path.join(self.dir, "mta-sts-daemon.yml")
		with open(conf, "w") as f:
			# reuse_port: the daemon's own default (1.1.2 fails to start without it).
			f.write("host: 127.0.0.1\nport: %d\nreuse_port: true\nshutdown_timeout: 1\n"
				"cache:\n  type: internal\n"
				"default_zone:\n  strict_testing: false\n  timeout: 4\n" % self.port)
		env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
		       "SSL_CERT_FILE": os.path.join(self.certs, "ca.pem")}
		cmd = ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
		       'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv,
		       DAEMON, "-c", conf, "-v", "debug", "-l", self.log, "--disable-uvloop"]
		self.daemon = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
					       stdout=subprocess.DEVNULL, stderr=open(self.log + ".err", "wb"),
					       start_new_session=True)
		deadline = time.monotonic() + 15
		while time.monotonic() < deadline:
			if self.daemon.poll() is not None:
				raise RuntimeError("mta-sts-daemon exited %s: %s" % (self.daemon.returncode, self.tail()))
			try:
				socket.create_connection(("127.0.0.1", self.port), 0.2).close()
				return
			except OSError:
				time.sleep(0.1)
		raise RuntimeError("mta-sts-daemon did not listen within 15s: %s" % self.tail())

	def log_text(self):
		try:
			with open(self.log, errors="replace") as f:
				return f.read()
		except OSError:
			return ""

	def tail(self):
		text = ""
		for path in (self.log + ".err", self.log):
			try:
				with open(path, errors="replace") as f:
					text += f.read()[-600:]
			except OSError:
				pass
		return text.strip()

	def stop(self):
		if self.daemon is not None and self.daemon.poll() is None:
			try:
				os.killpg(self.daemon.pid, signal.SIGKILL)
			except OSError:
				pass
			self.daemon.wait(timeout=10)
		self.daemon = None
		if self.nginx is not None and self.nginx.poll() is None:
			try:
				os.killpg(self.nginx.pid, signal.SIGKILL)
			except OSError:
				pass
			self.nginx.wait(timeout=10)
		self.nginx = None
		if self.httpd is not None:
			self.httpd.shutdown()
			self.httpd.server_close()
			self.httpd = None
		if os.path.exists(os.path.join(self.dns_state, "knotd.pid")):
			subprocess.run([os.path.join(self.top_srcdir, "t", "dns", "dnsserver"), "stop",
					self.dns_state], timeout=30)
