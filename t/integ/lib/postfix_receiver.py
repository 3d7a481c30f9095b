"""postfix_receiver.py - a real Postfix smtpd as the receiving server of a test.

Interface:
    r = PostfixReceiver(workdir, key_file, chain_file, hostname="mx.example.test",
                        addresses=("127.0.0.1",), port=None,   # None: a free port
                        tls_loglevel="1")   # "1, cache" also logs session reuse
    r.start()            # postfix -c DIR start, waits until every port accepts
    r.port               # the loopback TCP port smtpd listens on
    r.clear()            # forget earlier deliveries and log lines
    r.wait_delivered(n, timeout)  -> list of delivered message files (bytes)
    r.maillog_text()     # the instance's maillog since the last clear()
    r.stop()             # postfix -c DIR stop, then kill leftovers by pid

    command_config_dir(workdir)  -> a config directory for postmap/postconf
    lmdb_problem(config_dir)     -> None, or why Postfix cannot use lmdb:

One instance owns one directory under workdir: etc/ (main.cf, master.cf), the
queue and data directories, the maillog (postlogd via maillog_file) and the
directory "delivered" where every accepted message lands as one file.

Delivery: every transport (local, virtual, relay, default) is a pipe(8)
service that runs as "nobody" (pipe refuses root and mail_owner) and copies
the message to delivered/<time>.<pid>.eml through a ".tmp" name, so a file
that exists under its final name is complete.  The delivered directory is
owned by nobody; the harness reads it as root.

Every Postfix command runs with -c and a directory of the test's own: nothing
reads /etc/postfix/main.cf (a fresh machine has none).

No chroot, inet_interfaces = loopback-only, mynetworks = loopback, so the
instance relays anything from loopback and nothing else.  Every started
instance is registered; atexit and SIGTERM/SIGINT/SIGHUP handlers stop them
even when a test fails.
"""

import atexit
import os
import pwd
import signal
import socket
import subprocess
import time

POSTFIX = "/usr/sbin/postfix"
POSTMAP = "/usr/sbin/postmap"
DELIVERY_USER = "nobody"

_running = []
_handlers_installed = False


def stop_all():
	"""Stop everything registered, most recently registered first."""
	_stop_all()


def _stop_all():
	# Last registered, first stopped: what was started later may depend on
	# what was started earlier (a temp dir, a DNS server).
	for r in reversed(list(_running)):
		try:
			r.stop()
		except Exception:
			pass


def _on_signal(signum, frame):
	_stop_all()
	# Re-raise with the default action so the exit status shows the signal.
	signal.signal(signum, signal.SIG_DFL)
	os.kill(os.getpid(), signum)


def register_cleanup(obj):
	"""Have obj.stop() run at exit and on the signals below, like receivers."""
	install_cleanup_handlers()
	_running.append(obj)


def unregister_cleanup(obj):
	if obj in _running:
		_running.remove(obj)


def install_cleanup_handlers():
	"""Stop every receiver at exit and on SIGTERM, SIGINT and SIGHUP."""
	global _handlers_installed
	if _handlers_installed:
		return
	_handlers_installed = True
	atexit.register(_stop_all)
	for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
		signal.signal(s, _on_signal)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
	"""A currently unused high TCP port on host (bound once, then released)."""
	s = socket.socket(family, socket.SOCK_STREAM)
	try:
		s.bind((host, 0))
		return s.getsockname()[1]
	finally:
		s.close()


def port_accepts(host, port, family=socket.AF_INET):
	s = socket.socket(family, socket.SOCK_STREAM)
	s.settimeout(0.5)
	try:
		s.connect((host, port))
		return True
	except OSError:
		return False
	finally:
		s.close()


def command_config_dir(workdir):
	"""A configuration directory for Postfix commands that start no daemon
	(postmap, postconf): its main.cf sets only compatibility_level, so no
	command falls back to /etc/postfix/main.cf.  Returns its path."""
	path = os.path.join(os.path.abspath(workdir), "postfix-commands")
	os.makedirs(path, exist_ok=True)
	os.chmod(path, 0o755)
	main_cf = os.path.join(path, "main.cf")
	if not os.path.exists(main_cf):
		with open(main_cf, "w") as f:
			f.write("# Postfix commands of one test run (postfix_receiver.py)\n"
				"compatibility_level = 3.6\n")
		os.chmod(main_cf, 0o644)
	return path


def lmdb_problem(config_dir, postmap=None):
	"""None when Postfix builds and reads lmdb: tables (the postfix-lmdb
	package); otherwise the reason, for the test to report.  Builds one
	small table in config_dir with postmap -c config_dir, the way the
	tests use it, instead of trusting a list of map types."""
	postmap = postmap or POSTMAP
	if not os.access(postmap, os.X_OK):
		return "%s not found (install postfix)" % postmap
	table = os.path.join(config_dir, "lmdb-probe")
	with open(table, "w") as f:
		f.write("probe.example may\n")
	try:
		for args in (["lmdb:" + table], ["-q", "probe.example", "lmdb:" + table]):
			p = subprocess.run([postmap, "-c", config_dir, "-o"] + args, stdout=subprocess.PIPE,
					   stderr=subprocess.STDOUT, timeout=20)
			out = p.stdout.decode("utf-8", "replace").strip()
			if p.returncode != 0 or (args[0] == "-q" and out != "may"):
				return "postmap cannot use lmdb: tables (install postfix-lmdb): %s" % (
					out.splitlines()[0] if out else "exit %d" % p.returncode)
	except (OSError, subprocess.TimeoutExpired) as e:
		return "%s: %s" % (postmap, e)
	return None


MASTER_CF = """\
# Generated by postfix_receiver.py for one test instance.
{listeners}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
sink      unix  -       n       n       -       -       pipe
  user={user} argv={script}
"""

LISTENER = "{addr}:{port} inet n - n - - smtpd"

MAIN_CF = """\
# Generated by postfix_receiver.py for one test instance.
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = example.test
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = loopback-only
inet_protocols = {protocols}
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
local_header_rewrite_clients =
smtputf8_enable = yes
local_transport = sink
virtual_transport = sink
relay_transport = sink
default_transport = sink
sink_destination_recipient_limit = 1
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
smtpd_tls_security_level = may
smtpd_tls_chain_files = {key}, {chain}
smtpd_tls_loglevel = {tls_loglevel}
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
smtpd_banner = $myhostname ESMTP receiver
biff = no
delay_warning_time = 0
smtp_dns_support_level = disabled
disable_dns_lookups = yes
{extra}
"""

DELIVER_SH = """\
#!/bin/sh
# pipe(8) target: store the message under a unique name, atomically.
umask 022
f="{delivered}/$(date +%s%N).$$"
cat > "$f.tmp" && mv "$f.tmp" "$f.eml"
"""


class PostfixReceiver:
	def __init__(self, workdir, key_file, chain_file, hostname="mx.example.test",
		     addresses=("127.0.0.1",), extra_main="", name="postfix", port=None,
		     tls_loglevel="1"):
		self.dir = os.path.join(os.path.abspath(workdir), name)
		self.key_file = os.path.abspath(key_file)
		self.chain_file = os.path.abspath(chain_file)
		self.hostname = hostname
		self.addresses = tuple(addresses)
		self.extra_main = extra_main
		self.tls_loglevel = tls_loglevel
		self.port = port
		self.fixed_port = port is not None
		self.started = False
		self._start_attempted = False
		self._log_offset = 0

	@property
	def config_dir(self):
		return os.path.join(self.dir, "etc")

	@property
	def maillog(self):
		return os.path.join(self.dir, "maillog")

	@property
	def delivered_dir(self):
		return os.path.join(self.dir, "delivered")

	def _write(self, path, text, mode=0o644):
		with open(path, "w") as f:
			f.write(text)
		os.chmod(path, mode)

	def _configure(self):
		nobody = pwd.getpwnam(DELIVERY_USER)
		os.makedirs(self.dir, exist_ok=True)
		# The postfix and nobody users must reach their directories, and
		# Postfix insists that its directories are not writable by others.
		os.chmod(os.path.dirname(self.dir), 0o755)
		os.chmod(self.dir, 0o755)
		os.makedirs(self.config_dir, exist_ok=True)
		os.chmod(self.config_dir, 0o755)
		os.makedirs(os.path.join(self.dir, "queue"), exist_ok=True)
		os.chmod(os.path.join(self.dir, "queue"), 0o755)
		os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
		pf = pwd.getpwnam("postfix")
		os.chown(os.path.join(self.dir, "data"), pf.pw_uid, pf.pw_gid)
		os.chmod(os.path.join(self.dir, "data"), 0o700)
		os.makedirs(self.delivered_dir, exist_ok=True)
		os.chown(self.delivered_dir, nobody.pw_uid, nobody.pw_gid)
		os.chmod(self.delivered_dir, 0o755)
		script = os.path.join(self.dir, "deliver.sh")
		self._write(script, DELIVER_SH.format(delivered=self.delivered_dir), 0o755)

		if not self.fixed_port:
			self.port = free_port()
			for a in self.addresses:
				if ":" in a and not port_free(a, self.port):
					self.port = free_port()
		listeners = "\n".join(
			LISTENER.format(addr="[%s]" % a if ":" in a else a, port=self.port)
			for a in self.addresses)
		protocols = "all" if any(":" in a for a in self.addresses) else "ipv4"
		self._write(os.path.join(self.config_dir, "master.cf"),
			    MASTER_CF.format(listeners=listeners, user=DELIVERY_USER, script=script))
		self._write(os.path.join(self.config_dir, "main.cf"),
			    MAIN_CF.format(dir=self.dir, hostname=self.hostname, protocols=protocols,
					   key=self.key_file, chain=self.chain_file, extra=self.extra_main,
					   tls_loglevel=self.tls_loglevel))
		open(self.maillog, "a").close()

	def _postfix(self, *args, timeout=30):
		env = dict(os.environ)
		env.pop("MAIL_CONFIG", None)
		return subprocess.run([POSTFIX, "-c", self.config_dir] + list(args), env=env,
				      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
				      timeout=timeout)

	def master_pid(self):
		try:
			with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
				return int(f.read().strip())
		except (OSError, ValueError):
			return None

	def start(self, timeout=20):
		install_cleanup_handlers()
		self._configure()
		_running.append(self)
		self.started = True
		self._start_attempted = True
		p = self._postfix("start", timeout=timeout)
		if p.returncode != 0:
			out = p.stdout.decode("utf-8", "replace")
			self.stop()
			raise RuntimeError("postfix start failed (%d): %s\n%s" %
					   (p.returncode, out.strip(), self._tail_log()))
		deadline = time.monotonic() + timeout
		for a in self.addresses:
			fam = socket.AF_INET6 if ":" in a else socket.AF_INET
			while not port_accepts(a, self.port, fam):
				if time.monotonic() > deadline:
					self.stop()
					raise RuntimeError("postfix smtpd did not accept on %s port %d\n%s" %
							   (a, self.port, self._tail_log()))
				time.sleep(0.05)
		# Let the log lines of startup and of the probes above arrive,
		# so that clear() leaves them out.
		time.sleep(0.3)
		self.clear()
		return self

	def _tail_log(self, n=20):
		try:
			with open(self.maillog, errors="replace") as f:
				return "".join(f.readlines()[-n:])
		except OSError:
			return ""

	def stop(self):
		if not self.started:
			return
		self.started = False
		if self in _running:
			_running.remove(self)
		pid = self.master_pid()
		if pid is None and self._start_attempted:
			# Stopped while "postfix start" was still running: give the
			# master a moment to write its pid file, so it is not left behind.
			deadline = time.monotonic() + 3
			while pid is None and time.monotonic() < deadline:
				time.sleep(0.1)
				pid = self.master_pid()
		try:
			self._postfix("stop", timeout=15)
		except subprocess.TimeoutExpired:
			pass
		if pid is None:
			return
		# The master runs in its own session: its process group holds every
		# daemon it started.  Wait for an orderly exit, then kill what is left.
		deadline = time.monotonic() + 5
		while _alive(pid) and time.monotonic() < deadline:
			time.sleep(0.05)
		for sig in (signal.SIGTERM, signal.SIGKILL):
			try:
				os.killpg(pid, sig)
			except OSError:
				pass
			if not _alive(pid):
				break
			time.sleep(0.2)

	def clear(self):
		"""Forget earlier deliveries and log lines (between scenarios)."""
		for name in os.listdir(self.delivered_dir):
			os.unlink(os.path.join(self.delivered_dir, name))
		try:
			self._log_offset = os.path.getsize(self.maillog)
		except OSError:
			self._log_offset = 0

	def delivered_files(self):
		return sorted(os.path.join(self.delivered_dir, n)
			      for n in os.listdir(self.delivered_dir) if n.endswith(".eml"))

	def wait_delivered(self, count=1, timeout=10):
		"""Delivered messages (bytes), waiting until count have arrived."""
		deadline = time.monotonic() + timeout
		while True:
			files = self.delivered_files()
			if len(files) >= count or time.monotonic() > deadline:
				break
			time.sleep(0.05)
		out = []
		for path in files:
			with open(path, "rb") as f:
				out.append(f.read())
		return out

	def maillog_text(self, settle=0.0):
		"""Log lines written since the last clear()."""
		if settle:
			time.sleep(settle)
		try:
			with open(self.maillog, "rb") as f:
				f.seek(self._log_offset)
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""


def port_free(host, port):
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET
	s = socket.socket(fam, socket.SOCK_STREAM)
	try:
		s.bind((host, port))
		return True
	except OSError:
		return False
	finally:
		s.close()


def _alive(pid):
	try:
		os.kill(pid, 0)
	except ProcessLookupError:
		return False
	except PermissionError:
		return True
	# A zombie is not ours to reap (the master is not our child); treat
	# it as gone when /proc says so.
	try:
		with open("/proc/%d/stat" % pid) as f:
			return f.read().split(")")[-1].split()[0] != "Z"
	except OSError:
		return False


def strip_received(message):
	"""Split Postfix's own Received: header (the first header, with its
	continuation lines) from a delivered message.  Returns (header, rest)."""
	if not message.startswith(b"Received:"):
		return b"", message
	end = 0
	while True:
		nl = message.find(b"\n", end)
		if nl < 0:
			return message, b""
		end = nl + 1
		if end >= len(message) or message[end:end + 1] not in (b" ", b"\t"):
			return message[:end], message[end:]
