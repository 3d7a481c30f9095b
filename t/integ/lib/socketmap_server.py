"""socketmap_server - a scripted socketmap server (socketmap_table(5)) for
fault injection in the integration scenarios.

ScriptedSocketmap(scripts, listen="inet"|"unix"|"closed", tmpdir=...)
serves one script per connection, in order.  A script is a list of steps:
  ("request", TEXT)   read one netstring; its payload must equal TEXT
  ("reply", BYTES)    send BYTES as one netstring
  ("send", BYTES)     send BYTES as they are (garbage, broken frames)
  ("sleep", SECS)     say nothing for SECS (the client's timeout runs)
  ("close", None)     close the connection now
After the last step the connection is held until the client closes it.
endpoint() is the text after "socketmap:" without the map name
("inet:127.0.0.1:PORT" or "unix:PATH"); with listen="closed" it names a
loopback port where nothing listens.  errors lists every mismatch and every
unscripted connection; unfinished() counts scripted connections that never
came or did not run to their end.  stop() closes everything.
"""

import os
import socket
import threading
import time

REQUEST_LIMIT = 100000


class ScriptedSocketmap:
	def __init__(self, scripts, listen="inet", tmpdir=None, step_timeout=8.0):
		self.scripts = scripts
		self.listen = listen
		self.tmpdir = tmpdir
		self.step_timeout = step_timeout
		self.errors = []
		self.requests = []
		self.connections = 0
		self.finished = 0
		self._sock = None
		self._path = None
		self._port = None
		self._lock = threading.Lock()
		self._stop = threading.Event()
		self._threads = []

	def start(self):
		if self.listen == "unix":
			self._path = os.path.join(self.tmpdir, "socketmap.sock")
			s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
			s.bind(self._path)
		else:
			s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
			s.bind(("127.0.0.1", 0))
			self._port = s.getsockname()[1]
		if self.listen == "closed":
			# The port was free a moment ago and nothing will listen on it.
			s.close()
			return self
		s.listen(8)
		s.settimeout(0.1)
		self._sock = s
		t = threading.Thread(target=self._serve, daemon=True)
		t.start()
		self._threads.append(t)
		return self

	def endpoint(self):
		if self.listen == "unix":
			return "unix:" + self._path
		return "inet:127.0.0.1:%d" % self._port

	def _error(self, text):
		with self._lock:
			self.errors.append(text)

	def _serve(self):
		while not self._stop.is_set():
			try:
				conn, _ = self._sock.accept()
			except socket.timeout:
				continue
			except OSError:
				return
			index = self.connections
			self.connections += 1
			t = threading.Thread(target=self._run, args=(conn, index), daemon=True)
			t.start()
			self._threads.append(t)

	def _read_netstring(self, conn, deadline):
		buf = b""
		while True:
			ch = self._recv(conn, 1, deadline)
			if not ch:
				raise EOFError("client closed before a request")
			if ch == b":" and buf:
				break
			if not ch.isdigit() or len(buf) >= 8:
				raise ValueError("request is not a netstring: %r" % (buf + ch))
			buf += ch
		n = int(buf)
		if n > REQUEST_LIMIT:
			raise ValueError("request of %d bytes" % n)
		data = b""
		while len(data) < n + 1:
			part = self._recv(conn, n + 1 - len(data), deadline)
			if not part:
				raise EOFError("client closed inside a request")
			data += part
		if data[-1:] != b",":
			raise ValueError("request netstring not closed by ','")
		return data[:-1]

	def _recv(self, conn, n, deadline):
		left = deadline - time.monotonic()
		if left <= 0:
			raise TimeoutError("no request within %ss" % self.step_timeout)
		conn.settimeout(left)
		try:
			return conn.recv(n)
		except socket.timeout:
			raise TimeoutError("no request within %ss" % self.step_timeout)

	def _run(self, conn, index):
		try:
			if index >= len(self.scripts):
				self._error("socketmap connection %d: unexpected (only %d scripted)" %
					    (index + 1, len(self.scripts)))
				return
			for verb, arg in self.scripts[index]:
				if self._stop.is_set():
					return
				if verb == "request":
					got = self._read_netstring(conn, time.monotonic() + self.step_timeout)
					self.requests.append(got)
					if got != arg:
						self._error("socketmap connection %d: request %r, expected %r" %
							    (index + 1, got, arg))
						return
				elif verb == "reply":
					conn.sendall(b"%d:%s," % (len(arg), arg))
				elif verb == "send":
					conn.sendall(arg)
				elif verb == "sleep":
					self._stop.wait(arg)
				elif verb == "close":
					break
			with self._lock:
				self.finished += 1
			if self.scripts[index] and self.scripts[index][-1][0] != "close":
				# Hold the connection until the client is done with it.
				conn.settimeout(self.step_timeout)
				try:
					while conn.recv(4096):
						pass
				except OSError:
					pass
		except (EOFError, ValueError, TimeoutError, OSError) as e:
			self._error("socketmap connection %d: %s" % (index + 1, e))
		finally:
			conn.close()

	def unfinished(self):
		return len(self.scripts) - self.finished

	def stop(self):
		self._stop.set()
		if self._sock is not None:
			self._sock.close()
			self._sock = None
		for t in self._threads:
			t.join(timeout=5)
		if self._path and os.path.exists(self._path):
			os.unlink(self._path)
