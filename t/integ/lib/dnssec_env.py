"""dnssec_env - a real DNSSEC chain on loopback for the DANE scenarios
(t/integ/scenarios/dane-*.scn, "[scenario] dns = dnssec" in
t/integ/FORMAT.md).

DnssecEnv(top_srcdir, tmpdir).start(certs) builds it on t/dns/dnsserver:
  - two more leaves for DANE-TA in the certificate directory certs (made by
    t/lib/mkcerts), SAN *.dane.test, issued by its intermediate with
    certtool (dane-wild valid, dane-wild-expired expired), and "forged",
    SAN *.dane.test from a look-alike of the intermediate, its chain
    carrying a copy of the real intermediate;
  - zone dane.test signed by knotd (automatic signing, fresh keys); zone
    _tcp.mx-bogus.dane.test signed too, but the DS for it in dane.test
    matches none of its keys, so every answer from it is bogus; zone
    insecure.test not signed;
  - a validating unbound in front of knotd with the DS of dane.test as its
    only trust anchor: dane.test answers carry AD, insecure.test answers do
    not, _tcp.mx-bogus.dane.test answers are SERVFAIL;
  - knotd and unbound on loopback high ports; port is unbound's, for the
    agent's dns_servers.  stop() kills both by pid.
TLSA records use wildcard owners (*._tcp.HOST) so that they apply to
whatever port a scenario's server gets.  Their data is computed here from
the certificates: ${tlsa U S M CERT} becomes "U S M HEX" (S 1 uses the
SubjectPublicKeyInfo found in the DER).

missing() names a tool the environment needs that is not installed (knotd,
unbound, certtool), or None; start() raises Fail when anything fails.
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess

ZONE_DANE = """\
$ORIGIN dane.test.
$TTL 60
@			SOA	ns hostmaster 1 3600 600 86400 60
@			NS	ns
ns			A	127.0.0.1
; DANE-EE, one host per selector / matching type
mx-ee311		A	127.0.0.1
*._tcp.mx-ee311		TLSA	${tlsa 3 1 1 good}
ee311			MX	10 mx-ee311
mx-ee301		A	127.0.0.1
*._tcp.mx-ee301		TLSA	${tlsa 3 0 1 good}
mx-ee312		A	127.0.0.1
*._tcp.mx-ee312		TLSA	${tlsa 3 1 2 good}
mx-ee300		A	127.0.0.1
*._tcp.mx-ee300		TLSA	${tlsa 3 0 0 good}
mx-ee310		A	127.0.0.1
*._tcp.mx-ee310		TLSA	${tlsa 3 1 0 good}
; an RRset too large for one UDP answer (1232 bytes): c-ares retries over TCP
mx-big			A	127.0.0.1
*._tcp.mx-big		TLSA	${tlsa 3 0 0 wrongname}
*._tcp.mx-big		TLSA	${tlsa 3 0 0 expired}
*._tcp.mx-big		TLSA	${tlsa 3 0 0 notyet}
*._tcp.mx-big		TLSA	${tlsa 3 0 0 good}
; an expired leaf named by DANE-EE
mx-eeexp		A	127.0.0.1
*._tcp.mx-eeexp		TLSA	${tlsa 3 1 1 expired}
; DANE-TA: the intermediate, by certificate and by key
mx-ta201		A	127.0.0.1
*._tcp.mx-ta201		TLSA	${tlsa 2 0 1 int}
ta201			MX	10 mx-ta201
mx-ta211		A	127.0.0.1
*._tcp.mx-ta211		TLSA	${tlsa 2 1 1 int}
; usable and unusable mixed: the usable one decides
mx-mixed		A	127.0.0.1
*._tcp.mx-mixed		TLSA	${tlsa 1 1 1 wrongname}
*._tcp.mx-mixed		TLSA	${tlsa 3 1 1 good}
; only unusable records: PKIX-TA, selector 2, matching type 3
mx-unusable		A	127.0.0.1
*._tcp.mx-unusable	TLSA	${tlsa 0 0 1 int}
*._tcp.mx-unusable	TLSA	3 2 1 ${hex 32}
*._tcp.mx-unusable	TLSA	3 1 3 ${hex 32}
; MTA-STS beside DANE (sts-dane-*.scn): dane.test publishes a policy too
@			MX	10 mx-ee311
_mta-sts		TXT	"v=STSv1; id=dane1"
mta-sts			A	127.0.0.1
; no TLSA at all: a validated NXDOMAIN for the TLSA name
mx-none			A	127.0.0.1
none			MX	10 mx-none
; a CNAME to a host with TLSA records (RFC 7672 2.2.3)
mx-cname		CNAME	mx-ee311
; TLSA in a child zone whose DS is wrong: the lookup is bogus
mx-bogus		A	127.0.0.1
_tcp.mx-bogus		NS	ns
_tcp.mx-bogus		DS	4711 13 2 ${zero 64}
; the first MX has a bogus TLSA answer, the second matches
bogusfirst		MX	10 mx-bogus
bogusfirst		MX	20 mx-ee311
"""

ZONE_BOGUS = """\
$ORIGIN _tcp.mx-bogus.dane.test.
$TTL 60
@			SOA	ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60
@			NS	ns.dane.test.
*			TLSA	${tlsa 3 1 1 good}
"""

ZONE_INSECURE = """\
$ORIGIN insecure.test.
$TTL 60
@			SOA	ns hostmaster 1 3600 600 86400 60
@			NS	ns
ns			A	127.0.0.1
mx			A	127.0.0.1
*._tcp.mx		TLSA	${tlsa 3 1 1 good}
; unvalidated MX records naming validated hosts with TLSA ("half-dane")
halfmx			MX	10 mx-ee311.dane.test.
halfta			MX	10 mx-ta201.dane.test.
"""

TOOLS = ("knotd", "unbound", "certtool")


class Fail(Exception):
	pass


def missing():
	"""The first tool of TOOLS that is not installed, or None."""
	for tool in TOOLS:
		if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
			return tool
	return None


# ----------------------------------------------------------------------
# Certificates and TLSA data.

def pem_certs(path):
	"""DER certificates of a PEM file, in order."""
	with open(path) as f:
		text = f.read()
	out = []
	for m in re.finditer(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S):
		out.append(base64.b64decode("".join(m.group(1).split())))
	return out


def der_item(buf, off):
	"""(tag, content start, end) of the DER item at off."""
	tag = buf[off]
	n = buf[off + 1]
	off += 2
	if n & 0x80:
		k = n & 0x7f
		n = int.from_bytes(buf[off:off + k], "big")
		off += k
	return tag, off, off + n


def spki_der(cert):
	"""The SubjectPublicKeyInfo of a certificate, as it appears in the DER."""
	_, c0, _ = der_item(cert, 0)		# Certificate
	_, t0, _ = der_item(cert, c0)		# tbsCertificate
	off = t0
	tag, _, end = der_item(cert, off)
	if tag == 0xa0:				# [0] version
		off = end
	for _ in range(5):			# serial, signature, issuer, validity, subject
		_, _, end = der_item(cert, off)
		off = end
	_, _, end = der_item(cert, off)
	return cert[off:end]


def tlsa_value(certs, usage, selector, mtype, name):
	der = pem_certs(os.path.join(certs, name + ".pem"))[0]
	data = der if selector == 0 else spki_der(der)
	if mtype == 1:
		data = hashlib.sha256(data).digest()
	elif mtype == 2:
		data = hashlib.sha512(data).digest()
	return "%d %d %d %s" % (usage, selector, mtype, data.hex())


def expand_zone(text, certs):
	def rep(m):
		words = m.group(1).split()
		if words[0] == "tlsa":
			return tlsa_value(certs, int(words[1]), int(words[2]), int(words[3]), words[4])
		if words[0] == "hex":
			return hashlib.sha256(b"unusable").digest()[:int(words[1])].hex()
		if words[0] == "zero":
			return "0" * int(words[1])
		raise Fail("bad placeholder %r" % m.group(0))
	return re.sub(r"\$\{([^}]*)\}", rep, text)


def certtool(*args):
	p = subprocess.run(["certtool"] + list(args), stdout=subprocess.PIPE,
			   stderr=subprocess.STDOUT, timeout=60)
	if p.returncode != 0:
		raise Fail("certtool: %s" % p.stdout.decode(errors="replace")[-300:])


def forged_leaf(certs):
	"""forged: SAN *.dane.test, issued by a look-alike of int (same name,
	another key); its chain file carries a copy of the REAL int, as an
	attacker who copies the published trust anchor would send."""
	if os.path.exists(os.path.join(certs, "forged-chain.pem")):
		return
	ca_tmpl = os.path.join(certs, "forged-ca.tmpl")
	with open(ca_tmpl, "w") as f:
		f.write('cn = "tlsmtp Test Intermediate CA"\norganization = "tlsmtp tests"\n'
			"expiration_days = 3650\nca\ncert_signing_key\n")
	leaf_tmpl = os.path.join(certs, "forged.tmpl")
	with open(leaf_tmpl, "w") as f:
		f.write('cn = "*.dane.test"\ndns_name = "*.dane.test"\n'
			"signing_key\nencryption_key\ntls_www_server\nexpiration_days = 3650\n")
	ca_key = os.path.join(certs, "forged-ca.key")
	ca_pem = os.path.join(certs, "forged-ca.pem")
	key = os.path.join(certs, "forged.key")
	pem = os.path.join(certs, "forged.pem")
	certtool("--generate-privkey", "--key-type", "ecdsa", "--no-text", "--outfile", ca_key)
	certtool("--generate-self-signed", "--load-privkey", ca_key, "--template", ca_tmpl,
		 "--no-text", "--outfile", ca_pem)
	certtool("--generate-privkey", "--key-type", "ecdsa", "--no-text", "--outfile", key)
	certtool("--generate-certificate", "--load-privkey", key, "--load-ca-certificate", ca_pem,
		 "--load-ca-privkey", ca_key, "--template", leaf_tmpl, "--no-text", "--outfile", pem)
	with open(os.path.join(certs, "forged-chain.pem"), "w") as out:
		for part in (pem, os.path.join(certs, "int.pem")):
			with open(part) as f:
				out.write(f.read())


def extra_leaves(certs):
	"""dane-wild and dane-wild-expired: SAN *.dane.test, issued by int."""
	for name, dates in (("dane-wild", ["expiration_days = 3650"]),
			    ("dane-wild-expired", ['activation_date = "2020-01-01 00:00:00"',
						   'expiration_date = "2021-01-01 00:00:00"'])):
		if os.path.exists(os.path.join(certs, name + "-chain.pem")):
			continue
		tmpl = os.path.join(certs, name + ".tmpl")
		with open(tmpl, "w") as f:
			f.write('cn = "*.dane.test"\ndns_name = "*.dane.test"\n'
				"signing_key\nencryption_key\ntls_www_server\n" + "\n".join(dates) + "\n")
		key = os.path.join(certs, name + ".key")
		pem = os.path.join(certs, name + ".pem")
		for cmd in (["certtool", "--generate-privkey", "--key-type", "ecdsa", "--no-text",
			     "--outfile", key],
			    ["certtool", "--generate-certificate", "--load-privkey", key,
			     "--load-ca-certificate", os.path.join(certs, "int.pem"),
			     "--load-ca-privkey", os.path.join(certs, "int.key"),
			     "--template", tmpl, "--no-text", "--outfile", pem]):
			p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
			if p.returncode != 0:
				raise Fail("certtool: %s" % p.stdout.decode(errors="replace")[-300:])
		with open(os.path.join(certs, name + "-chain.pem"), "w") as out:
			for part in (pem, os.path.join(certs, "int.pem")):
				with open(part) as f:
					out.write(f.read())


# ----------------------------------------------------------------------
# The DNSSEC environment.

class DnssecEnv:
	def __init__(self, top_srcdir, tmp):
		self.dnsserver = os.path.join(top_srcdir, "t", "dns", "dnsserver")
		self.tmp = tmp
		self.knot_state = os.path.join(tmp, "knot")
		self.unbound_state = os.path.join(tmp, "unbound")
		self.port = None

	def _run(self, args, what):
		p = subprocess.run([self.dnsserver] + args, stdout=subprocess.PIPE,
				   stderr=subprocess.PIPE, timeout=60)
		if p.returncode != 0:
			raise Fail("%s: %s" % (what, p.stderr.decode(errors="replace")[-500:]))
		return p.stdout.decode()

	def start(self, certs):
		extra_leaves(certs)
		forged_leaf(certs)
		zones = os.path.join(self.tmp, "zones")
		os.makedirs(zones)
		for name, text in (("dane.test.sign", ZONE_DANE),
				   ("_tcp.mx-bogus.dane.test.sign", ZONE_BOGUS),
				   ("insecure.test.zone", ZONE_INSECURE)):
			with open(os.path.join(zones, name), "w") as f:
				f.write(expand_zone(text, certs))
		knot_port = self._run(["start", self.knot_state, zones], "knotd").split()[-1]
		anchors = os.path.join(self.tmp, "anchors")
		ds = self._run(["ds", self.knot_state, "dane.test"], "DS of dane.test")
		if " DS " not in ds:
			raise Fail("no DS for dane.test: %r" % ds)
		with open(anchors, "w") as f:
			f.write(ds)
		self.port = int(self._run(["resolver", self.unbound_state, knot_port, anchors,
					   "dane.test", "_tcp.mx-bogus.dane.test", "insecure.test"],
					  "unbound").split()[-1])

	def stop(self):
		for state in (self.unbound_state, self.knot_state):
			if os.path.isdir(state):
				subprocess.run([self.dnsserver, "stop", state], timeout=30)
