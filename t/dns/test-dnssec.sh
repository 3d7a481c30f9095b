#!/bin/sh
# test-dnssec.sh - the AD bit through a real validating resolver.
#
# knotd (t/dns/dnsserver) serves a zone it signs (secure.test), a signed
# zone whose trust anchor is wrong (bogus.test) and an unsigned zone
# (route.test); unbound (dnsserver resolver) validates in front of it with
# the DS of secure.test and a false DS for bogus.test as trust anchors.
# route_resolve() must report validated MX sets and addresses as such,
# unvalidated ones as not, and defer (never fall back) on bogus answers.
set -u

: "${top_srcdir:?}" "${top_builddir:?}"
PROBE="$top_builddir/t/dns/route-probe"
DNSSERVER="$top_srcdir/t/dns/dnsserver"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-dnssec.XXXXXX") || exit 1
cleanup() {
	"$DNSSERVER" stop "$tmp/resolver" 2>/dev/null
	"$DNSSERVER" stop "$tmp/state" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$tmp/zones"
cat >"$tmp/zones/secure.test.sign" <<'EOF'
$ORIGIN secure.test.
$TTL 60
@		SOA	ns hostmaster 1 3600 600 86400 60
@		NS	ns
ns		A	127.0.0.1
@		MX	10 mx
mx		A	127.0.0.1
mx		AAAA	::1
insecurehost	MX	10 live.route.test.
nullmx		MX	0 .
EOF
cat >"$tmp/zones/bogus.test.sign" <<'EOF'
$ORIGIN bogus.test.
$TTL 60
@		SOA	ns hostmaster 1 3600 600 86400 60
@		NS	ns
ns		A	127.0.0.1
@		MX	10 mx
mx		A	127.0.0.1
EOF
cat >"$tmp/zones/route.test.zone" <<'EOF'
$ORIGIN route.test.
$TTL 60
@		SOA	ns hostmaster 1 3600 600 86400 60
@		NS	ns
ns		A	127.0.0.1
@		MX	10 live
live		A	127.0.0.1
EOF

knotport=$("$DNSSERVER" start "$tmp/state" "$tmp/zones") || exit 1
"$DNSSERVER" ds "$tmp/state" secure.test >"$tmp/anchors" || exit 1
grep -q '^secure.test. DS ' "$tmp/anchors" || {
	echo "no DS for secure.test" >&2
	exit 1
}
# A well-formed DS that matches no key of bogus.test: every answer is bogus.
echo "bogus.test. DS 4711 13 2 $(printf '%064d' 0)" >>"$tmp/anchors"
port=$("$DNSSERVER" resolver "$tmp/resolver" "$knotport" "$tmp/anchors" \
    secure.test bogus.test route.test) || exit 1
S="127.0.0.1:$port"

PROBE_TIMEOUT_MS=8000
. "$top_srcdir/t/dns/probe-check.sh"

check "validated MX set and addresses" "mx_secure=1
mx.secure.test ::1 10 port=25 secure=1
mx.secure.test 127.0.0.1 10 port=25 secure=1" -v -R -a ipv6 secure.test

check "validated MX, MX host in an unsigned zone" "mx_secure=1
live.route.test 127.0.0.1 10 port=25 secure=0" -v insecurehost.secure.test

check "unsigned zone: nothing validated" "mx_secure=0
live.route.test 127.0.0.1 10 port=25 secure=0" -v route.test

check "[host] in a signed zone" "mx_secure=0
mx.secure.test 127.0.0.1 0 port=25 secure=1
mx.secure.test ::1 0 port=25 secure=1" -v -a ipv4 -R '[mx.secure.test]'

check "bogus MX answer defers, no fallback to the A record" \
    "4.4.3 Host or domain name not found. Name service error for name=bogus.test type=MX: Host not found, try again" \
    bogus.test

check "bogus address answer defers" \
    "4.4.3 Host or domain name not found. Name service error for name=mx.bogus.test type=A: Host not found, try again" \
    '[mx.bogus.test]'

check "validated NXDOMAIN bounces" \
    "5.4.4 Host or domain name not found. Name service error for name=nosuch.secure.test type=A: Host not found" \
    nosuch.secure.test

check "validated null MX" "5.1.0 Domain nullmx.secure.test does not accept mail (nullMX)" \
    nullmx.secure.test

check_end
