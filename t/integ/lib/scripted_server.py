"""scripted_server.py - a fault-injecting SMTP server driven by a script.

Interface:
    srv = ScriptedServer(scripts, tls=TlsSettings(...), host="127.0.0.1", port=0)
    srv.start()          # listens on port (0: a free loopback port): srv.port
    ...run the client...
    srv.finish(timeout)  # wait for the scripts to end, then close everything
    srv.connections      # one Connection record per accepted TCP connection
    srv.errors           # script mismatches and server faults, as text

scripts is a list of step lists, one per expected TCP connection, in the
order the client will open them.  A connection beyond the last script is
accepted, recorded and closed at once.  Steps are tuples (verb, argument):

  send BYTES        write BYTES (inside TLS once "tls" ran)
  raw BYTES         write BYTES on the TCP socket even after "tls" (injection)
  drip BYTES SECS   write BYTES one byte at a time, SECS apart
  expect REGEX      read one command line (ends at LF; at most 64 kB) and
                    match it (bytes regex, search); "<EOF>" when the client
                    closed; a mismatch ends the connection and is an error
  data              read a message up to and including CRLF.CRLF, store it
                    in Connection.data (the exact wire bytes)
  quiet SECS        the client must send nothing for SECS seconds (oracle for
                    pipelining/injection); bytes that arrive are an error
  idle SECS         wait SECS seconds; bytes that arrive stay queued for the
                    next step, and are recorded in Connection.premature
  sleep SECS        wait SECS seconds without reading (ends early when the
                    client closes)
  tls               TLS handshake as the server (settings from TlsSettings);
                    bytes received before it that follow the STARTTLS
                    command are recorded in Connection.premature
  tls-fail          TLS handshake that is expected to fail (client aborts)
  quit              accept "QUIT" (answer 221 and close) or the client closing
  rest              play a permissive server until the client closes: 250 to
                    RSET, NOOP, MAIL and RCPT, 354 to DATA then 250 after
                    the data, 221 to QUIT (then close), 503 to anything else
                    (all recorded, for the wire checks)
  drain             read until the client closes, recording everything
  optional          (first step only) the client need not open this
                    connection at all
  eof-ok            from here on, the client closing the connection (or
                    failing the handshake) ends the script without an error
  close             shut the connection down in order
  rst               abort the connection with a TCP RST (SO_LINGER 0)

Each connection is served on its own thread, so a client may give up on a
silent connection and be served on the next one.  Every byte is logged per connection and direction: client->server in
plaintext (Connection.plain_in), client->server inside TLS after decryption
(Connection.tls_in), server->client likewise (plain_out, tls_out), the
TLS server name the client asked for (Connection.sni) and whether the
client resumed a session (Connection.resumed), so tests
can check that nothing leaked before TLS or before verification.

TLS runs over memory BIOs so the server sees exactly what the client puts on
the wire, including bytes sent early, and can inject plaintext after the
handshake.
"""

import re
import select
import socket
import ssl
import struct
import threading
import time

MAX_LINE = 65536


class ScriptError(Exception):
	pass


class ClientClosed(Exception):
	pass


class TlsSettings:
	"""Server-side TLS: certificate chain, key, protocol range, ciphers.
	tickets = N > 0 issues N session tickets per handshake (TLS 1.3; TLS
	1.2 gets RFC 5077 tickets) from one context shared by every
	connection, so that a client can resume; 0 (the default) issues none."""

	def __init__(self, chain_file=None, key_file=None, min_version=None,
		     max_version=None, ciphers=None, tickets=0):
		self.chain_file = chain_file
		self.key_file = key_file
		self.min_version = min_version
		self.max_version = max_version
		self.ciphers = ciphers
		self.tickets = tickets
		self._shared = None

	def context(self):
		if self.tickets > 0:
			# Tickets are sealed with the context's keys: one context.
			if self._shared is None:
				self._shared = self._new_context()
			return self._shared
		return self._new_context()

	def _new_context(self):
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		if self.tickets > 0:
			ctx.num_tickets = self.tickets
		else:
			ctx.options |= getattr(ssl, "OP_NO_TICKET", 0)
			ctx.num_tickets = 0
		if self.ciphers:
			ctx.set_ciphers(self.ciphers)
		if self.min_version:
			ctx.minimum_version = _tls_version(self.min_version)
		if self.max_version:
			ctx.maximum_version = _tls_version(self.max_version)
		if self.chain_file:
			ctx.load_cert_chain(self.chain_file, self.key_file)
		ctx.sni_callback = _note_sni
		return ctx


def _note_sni(sslobj, name, context):
	"""Record the server name on the Connection the SSL object belongs to."""
	conn = getattr(sslobj, "tlsmtp_connection", None)
	if conn is not None:
		conn.sni = name


def _tls_version(name):
	table = {
		"TLSv1": ssl.TLSVersion.TLSv1,
		"TLSv1.1": ssl.TLSVersion.TLSv1_1,
		"TLSv1.2": ssl.TLSVersion.TLSv1_2,
		"TLSv1.3": ssl.TLSVersion.TLSv1_3,
	}
	return table[name]


class Connection:
	"""What happened on one accepted TCP connection."""

	def __init__(self, index, sock, tls):
		self.index = index
		self.sock = sock
		self.tls_settings = tls
		self.plain_in = bytearray()
		self.plain_out = bytearray()
		self.tls_in = bytearray()
		self.tls_out = bytearray()
		self.premature = bytearray()
		self.data = None
		self.tls_version = None
		self.resumed = None	# after "tls": whether the client resumed a session
		self.sni = None		# server name the client sent, if any
		self.tls_done = False
		self.closed_by_client = False
		self.steps_done = 0
		self.error = None
		self._buf = bytearray()		# received, not yet consumed (plain or decrypted)
		self._ssl = None
		self._in_bio = None
		self._out_bio = None
		self._eof = False
		self._last_command = b""

	# ------------------------------------------------------------------
	# Low-level I/O
	def _recv_raw(self, timeout):
		"""One recv() from the socket with a timeout; b"" at EOF, None on timeout."""
		r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
		if not r:
			return None
		try:
			chunk = self.sock.recv(65536)
		except (ConnectionResetError, OSError):
			chunk = b""
		return chunk

	def _fill(self, deadline):
		"""Move more received bytes into _buf.  False on timeout; raises at EOF."""
		if self._eof:
			raise ClientClosed()
		if self._ssl is None:
			chunk = self._recv_raw(deadline - time.monotonic())
			if chunk is None:
				return False
			if not chunk:
				self._eof = True
				self.closed_by_client = True
				raise ClientClosed()
			self.plain_in += chunk
			self._buf += chunk
			return True
		while True:
			try:
				plain = self._ssl.read(65536)
				if not plain:
					self._eof = True
					self.closed_by_client = True
					raise ClientClosed()
				self.tls_in += plain
				self._buf += plain
				return True
			except ssl.SSLWantReadError:
				pass
			except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
				self._eof = True
				self.closed_by_client = True
				raise ClientClosed()
			except ssl.SSLError as e:
				self._eof = True
				raise ClientClosed("TLS error: %s" % e)
			self._flush_tls()
			chunk = self._recv_raw(deadline - time.monotonic())
			if chunk is None:
				return False
			if not chunk:
				self._in_bio.write_eof()
				continue
			self._in_bio.write(chunk)

	def _flush_tls(self):
		out = self._out_bio.read()
		if out:
			self._sendall(out)

	def _sendall(self, data):
		try:
			self.sock.sendall(data)
		except OSError as e:
			raise ClientClosed("send failed: %s" % e)

	def write(self, data):
		if self._ssl is None:
			self.plain_out += data
			self._sendall(data)
		else:
			self.tls_out += data
			self._ssl.write(data)
			self._flush_tls()

	def write_raw(self, data):
		self.plain_out += data
		self._sendall(data)

	def read_line(self, timeout):
		deadline = time.monotonic() + timeout
		while True:
			nl = self._buf.find(b"\n")
			if nl >= 0:
				line = bytes(self._buf[:nl + 1])
				del self._buf[:nl + 1]
				return line
			if len(self._buf) > MAX_LINE:
				line = bytes(self._buf)
				self._buf.clear()
				return line
			if not self._fill(deadline):
				raise ScriptError("timeout waiting for a command (have %r)" % bytes(self._buf[:80]))

	def read_data(self, timeout):
		deadline = time.monotonic() + timeout
		start = 0
		while True:
			if self._buf.startswith(b".\r\n") and start == 0:
				end = 3
				break
			i = self._buf.find(b"\r\n.\r\n", max(start - 4, 0))
			if i >= 0:
				end = i + 5
				break
			start = len(self._buf)
			if not self._fill(deadline):
				raise ScriptError("timeout in DATA after %d bytes" % len(self._buf))
		self.data = bytes(self._buf[:end])
		del self._buf[:end]

	def starttls(self, timeout, expect_failure=False):
		# Anything queued now was sent after STARTTLS and before our 220
		# reached the client, or is injected garbage: record it, then let
		# the TLS engine see it first (that is what a real server would do).
		if self._buf:
			self.premature += self._buf
		ctx = self.tls_settings.context()
		self._in_bio = ssl.MemoryBIO()
		self._out_bio = ssl.MemoryBIO()
		self._ssl = ctx.wrap_bio(self._in_bio, self._out_bio, server_side=True)
		self._ssl.tlsmtp_connection = self	# for _note_sni
		if self._buf:
			self._in_bio.write(bytes(self._buf))
			self._buf.clear()
		deadline = time.monotonic() + timeout
		while True:
			try:
				self._ssl.do_handshake()
				break
			except ssl.SSLWantReadError:
				self._flush_tls()
				chunk = self._recv_raw(deadline - time.monotonic())
				if chunk is None:
					raise ScriptError("timeout in TLS handshake")
				if not chunk:
					self._eof = True
					self.closed_by_client = True
					raise ClientClosed("client closed during the TLS handshake")
				self._in_bio.write(chunk)
			except ssl.SSLError as e:
				self._flush_tls()
				self._eof = True
				if expect_failure:
					raise ClientClosed("handshake failed as expected: %s" % e)
				raise ClientClosed("TLS handshake failed: %s" % e)
		self._flush_tls()
		self.tls_done = True
		self.tls_version = self._ssl.version()
		self.resumed = self._ssl.session_reused
		if expect_failure:
			raise ScriptError("TLS handshake succeeded but should have failed")

	def wait_quiet(self, secs):
		deadline = time.monotonic() + secs
		have = len(self._buf)
		while time.monotonic() < deadline:
			try:
				if not self._fill(deadline):
					break
			except ClientClosed:
				break
			if len(self._buf) > have:
				break
		if len(self._buf) > have:
			got = bytes(self._buf[have:have + 80])
			raise ScriptError("client sent %r while it had to wait for our reply" % got)

	def idle(self, secs):
		deadline = time.monotonic() + secs
		have = len(self._buf)
		while time.monotonic() < deadline:
			try:
				if not self._fill(deadline):
					break
			except ClientClosed:
				break
		self.premature += self._buf[have:]

	def sleep(self, secs):
		"""Wait without reading; end early when the client has closed."""
		deadline = time.monotonic() + secs
		while self.sock is not None:
			left = deadline - time.monotonic()
			if left <= 0:
				return
			r, _, _ = select.select([self.sock], [], [], left)
			if not r:
				return
			try:
				peek = self.sock.recv(1, socket.MSG_PEEK)
			except OSError:
				peek = b""
			if not peek:
				return
			# Data is waiting: leave it for the next step, just wait.
			time.sleep(max(deadline - time.monotonic(), 0))
			return

	def drain(self, timeout):
		deadline = time.monotonic() + timeout
		try:
			while time.monotonic() < deadline:
				if not self._fill(deadline):
					break
		except ClientClosed:
			pass
		self._buf.clear()

	def close(self, rst=False):
		if self.sock is None:
			return
		try:
			if rst:
				self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
						     struct.pack("ii", 1, 0))
			else:
				self.sock.shutdown(socket.SHUT_WR)
				# Let the client see the FIN and close its side first.
				self._recv_raw(0.5)
		except OSError:
			pass
		try:
			self.sock.close()
		except OSError:
			pass
		self.sock = None


class ScriptedServer:
	def __init__(self, scripts, tls=None, host="127.0.0.1", step_timeout=10.0, port=0):
		self.scripts = scripts
		self.tls = tls or TlsSettings()
		self.host = host
		self.fixed_port = port		# 0: a free port
		self.step_timeout = step_timeout
		self.connections = []
		self.errors = []
		self.port = None
		self._listener = None
		self._thread = None
		self._conn_threads = []
		self._lock = threading.Lock()
		self._stop = threading.Event()

	def start(self):
		fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
		s = socket.socket(fam, socket.SOCK_STREAM)
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		s.bind((self.host, self.fixed_port))
		s.listen(16)
		self.port = s.getsockname()[1]
		self._listener = s
		self._thread = threading.Thread(target=self._serve, daemon=True)
		self._thread.start()
		return self

	def _serve(self):
		while not self._stop.is_set():
			r, _, _ = select.select([self._listener], [], [], 0.05)
			if not r:
				continue
			try:
				sock, _ = self._listener.accept()
			except OSError:
				continue
			conn = Connection(len(self.connections), sock, self.tls)
			self.connections.append(conn)
			# Each connection runs on its own thread: a client that gives up
			# on a silent connection and opens the next must be served.
			t = threading.Thread(target=self._run_one, args=(conn,), daemon=True)
			self._conn_threads.append(t)
			t.start()

	def _run_one(self, conn):
		if conn.index >= len(self.scripts):
			self._error("connection %d: unexpected (only %d scripted)" %
				    (conn.index + 1, len(self.scripts)))
			conn.drain(0.5)
			conn.close()
			return
		self._run(conn, self.scripts[conn.index])

	def _error(self, text):
		with self._lock:
			self.errors.append(text)

	def _run(self, conn, steps):
		eof_ok = False
		try:
			for verb, arg in steps:
				if self._stop.is_set():
					raise ScriptError("stopped before the script ended")
				if verb == "eof-ok":
					eof_ok = True
				elif verb == "optional":
					pass
				else:
					self._step(conn, verb, arg)
				conn.steps_done += 1
		except ClientClosed as e:
			if not eof_ok:
				conn.error = "step %d (%s): client closed the connection%s" % (
					conn.steps_done + 1, _step_name(steps, conn.steps_done),
					": %s" % e if str(e) else "")
		except ScriptError as e:
			conn.error = "step %d (%s): %s" % (conn.steps_done + 1,
							_step_name(steps, conn.steps_done), e)
		except Exception as e:	# a harness fault must show, not hang
			conn.error = "step %d: server fault: %r" % (conn.steps_done + 1, e)
		if conn.error:
			self._error("connection %d: %s" % (conn.index + 1, conn.error))
		conn.close()

	def _step(self, conn, verb, arg):
		t = self.step_timeout
		if verb == "send":
			conn.write(arg)
		elif verb == "raw":
			conn.write_raw(arg)
		elif verb == "drip":
			data, secs = arg
			for i in range(len(data)):
				conn.write(data[i:i + 1])
				time.sleep(secs)
		elif verb == "expect":
			try:
				line = conn.read_line(t)
			except ClientClosed:
				line = b"<EOF>"
				if not re.search(arg, line):
					raise
			if not re.search(arg, line):
				raise ScriptError("expected /%s/, got %r" % (
					arg.pattern.decode("utf-8", "replace"), line[:200]))
			if line == b"<EOF>":
				raise ClientClosed()
		elif verb == "data":
			conn.read_data(t)
		elif verb == "quiet":
			conn.wait_quiet(arg)
		elif verb == "idle":
			conn.idle(arg)
		elif verb == "sleep":
			conn.sleep(arg)
		elif verb == "tls":
			conn.starttls(t)
		elif verb == "tls-fail":
			try:
				conn.starttls(t, expect_failure=True)
			except ClientClosed:
				pass
		elif verb == "quit":
			try:
				line = conn.read_line(t)
			except ClientClosed:
				return
			if not re.match(rb"(?i)QUIT\r?\n$", line):
				raise ScriptError("expected QUIT or close, got %r" % line[:200])
			try:
				conn.write(b"221 2.0.0 Bye\r\n")
			except ClientClosed:
				pass
			conn.drain(1.0)
		elif verb == "rest":
			while True:
				try:
					line = conn.read_line(t)
				except ClientClosed:
					return
				if re.match(rb"(?i)QUIT\r?\n$", line):
					conn.write(b"221 2.0.0 Bye\r\n")
					conn.drain(1.0)
					return
				if re.match(rb"(?i)(RSET|NOOP|MAIL FROM:|RCPT TO:)", line):
					conn.write(b"250 2.0.0 Ok\r\n")
				elif re.match(rb"(?i)DATA\r?\n$", line):
					conn.write(b"354 go ahead\r\n")
					conn.read_data(t)
					conn.write(b"250 2.0.0 Ok: queued\r\n")
				else:
					conn.write(b"503 5.5.1 Error: unexpected command\r\n")
		elif verb == "drain":
			conn.drain(t)
		elif verb == "close":
			conn.close()
		elif verb == "rst":
			conn.close(rst=True)
		else:
			raise ScriptError("unknown step %r" % verb)

	def finish(self, timeout=10.0):
		"""Wait for the running scripts to end, then stop listening."""
		deadline = time.monotonic() + timeout
		for t in list(self._conn_threads):
			t.join(max(deadline - time.monotonic(), 0))
		self._stop.set()
		if self._thread:
			self._thread.join(2)
		for t in list(self._conn_threads):
			t.join(0.5)
		for c in self.connections:
			if c.sock is not None:
				self.errors.append("connection %d: script still running at the end" % (c.index + 1))
				c.close()
		if self._listener:
			self._listener.close()
			self._listener = None

	def unfinished_scripts(self):
		"""Scripts that never got a connection (optional ones excepted)."""
		missing = self.scripts[len(self.connections):]
		return len([s for s in missing if not (s and s[0][0] == "optional")])


def _step_name(steps, i):
	if i >= len(steps):
		return "end"
	verb, arg = steps[i]
	if isinstance(arg, bytes):
		return "%s %r" % (verb, arg[:40])
	return "%s %s" % (verb, arg if arg is not None else "")
