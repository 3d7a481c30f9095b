#!/bin/sh
# test-route.sh - routing against a real authoritative DNS server (knotd).
#
# Writes the zones below, starts t/dns/dnsserver on a loopback high port and
# checks route-probe's answer for each case: MX preference order, shuffling
# of equal preferences, smtp_mx_address_limit and family balance,
# address_preference, AAAA-only hosts, CNAME'd MX hosts, implicit MX, null
# MX, NXDOMAIN (5.4.4), SERVFAIL (4.4.3), REFUSED (4.4.3), MX hosts without
# addresses, the loop rule, malformed MX targets, ports and IP literals.
set -u

: "${top_srcdir:?}" "${top_builddir:?}"
PROBE="$top_builddir/t/dns/route-probe"
DNSSERVER="$top_srcdir/t/dns/dnsserver"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-route.XXXXXX") || exit 1
cleanup() {
	"$DNSSERVER" stop "$tmp/state" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$tmp/zones"
cat >"$tmp/zones/route.test.zone" <<'EOF'
$ORIGIN route.test.
$TTL 60
@		SOA	ns hostmaster 1 3600 600 86400 60
@		NS	ns
ns		A	127.0.0.1

; several preferences, listed out of order
multi		MX	30 mx30
multi		MX	10 mx10
multi		MX	20 mx20
mx10		A	127.0.0.10
mx20		A	127.0.0.20
mx30		A	127.0.0.30

; equal preferences behind one better MX
equal		MX	5 e0
equal		MX	10 e1
equal		MX	10 e2
equal		MX	10 e3
e0		A	127.0.0.50
e1		A	127.0.1.1
e2		A	127.0.1.2
e3		A	127.0.1.3

; an MX host with only AAAA, one with both families
v6only		MX	10 six
six		AAAA	::1
dual		MX	10 ds
ds		A	127.0.0.7
ds		AAAA	::1

; a dead first MX and a live second one (the e2e tests connect to them)
deadfirst	MX	10 dead
deadfirst	MX	20 live
dead		A	127.0.0.2
live		A	127.0.0.1

; many addresses for the limit and the family balance
big		MX	10 wide
wide		A	127.0.2.1
wide		A	127.0.2.2
wide		A	127.0.2.3
wide		A	127.0.2.4
wide		A	127.0.2.5
wide		A	127.0.2.6
wide		AAAA	2001:db8::1
wide		AAAA	2001:db8::2

; no MX: the domain is its own mail exchanger
implicit	A	127.0.0.5
implicit	AAAA	::1
noaddr		TXT	"neither MX nor address"

; null MX (RFC 7505)
nullmx		MX	0 .

; MX hosts that do not exist, or only partly
nohost		MX	10 missing1
nohost		MX	20 missing2
partial		MX	10 missing1
partial		MX	20 mx20

; MX hosts in a zone that answers SERVFAIL
tempmx		MX	10 host.broken.test.
mixed		MX	10 host.broken.test.
mixed		MX	20 missing1

; the loop rule (myhostname mx20.route.test or mx10.route.test)
loop		MX	10 mx10
loop		MX	20 mx20
loop		MX	30 mx30
loopfail	MX	10 missing1
loopfail	MX	20 mx20

; an MX host that is a CNAME
cname		MX	10 alias
alias		CNAME	mx10

; MX targets that are not host names
badmx		MX	10 bad\032host
badmx		MX	15 ctl\027x
badmx		MX	20 mx20
allbad		MX	10 bad\032host
allbad		MX	20 -dash
EOF
# A zone that cannot load: knotd answers SERVFAIL for everything in it.
printf 'this is not a zone file\n' >"$tmp/zones/broken.test.zone"

port=$("$DNSSERVER" start "$tmp/state" "$tmp/zones") || exit 1
S="127.0.0.1:$port"

PROBE_TIMEOUT_MS=5000
. "$top_srcdir/t/dns/probe-check.sh"

check "MX preference order" "mx10.route.test 127.0.0.10 10
mx20.route.test 127.0.0.20 20
mx30.route.test 127.0.0.30 30" multi.route.test

check "trailing dot and case of the domain" "mx10.route.test 127.0.0.10 10
mx20.route.test 127.0.0.20 20
mx30.route.test 127.0.0.30 30" MULTI.Route.Test.

check "smtp_mx_address_limit cuts the worst" "mx10.route.test 127.0.0.10 10
mx20.route.test 127.0.0.20 20" -l 2 multi.route.test

check "domain:port keeps the MX lookup" "mx_secure=0
mx10.route.test 127.0.0.10 10 port=2525 secure=0
mx20.route.test 127.0.0.20 20 port=2525 secure=0
mx30.route.test 127.0.0.30 30 port=2525 secure=0" -v multi.route.test:2525

check "port by service name" "mx_secure=0
mx10.route.test 127.0.0.10 0 port=587 secure=0" \
    -v '[mx10.route.test]:submission'

check "default port from smtp_tcp_port" "mx_secure=0
mx10.route.test 127.0.0.10 0 port=2626 secure=0" \
    -v -p 2626 '[mx10.route.test]'

check "unknown service defers" "4.3.5 unknown service: nosuchservice/tcp" \
    '[mx10.route.test]:nosuchservice'

check "AAAA-only MX host" "six.route.test ::1 10" v6only.route.test

check "address_preference ipv6" "ds.route.test ::1 10
ds.route.test 127.0.0.7 10" -a ipv6 dual.route.test

check "address_preference ipv4" "ds.route.test 127.0.0.7 10
ds.route.test ::1 10" -a ipv4 dual.route.test

check "limit keeps both families (balance)" "$(printf '%s\n' \
    'wide.route.test 127.0.2.1 10' 'wide.route.test 127.0.2.2 10' 'wide.route.test 127.0.2.3 10' \
    'wide.route.test 2001:db8::1 10' 'wide.route.test 2001:db8::2 10')" \
    -R -a ipv4 big.route.test

check "implicit MX (no MX records)" "implicit.route.test ::1 0
implicit.route.test 127.0.0.5 0" -R -a ipv6 implicit.route.test

check "[host] skips the MX lookup" "implicit.route.test 127.0.0.5 0
implicit.route.test ::1 0" -R -a ipv4 '[implicit.route.test]'

check "[host] that only has MX records" "5.4.4 Host or domain name not found. Name service error for name=multi.route.test type=A: Host found but no data record of requested type" \
    '[multi.route.test]'

check "no MX and no address" "5.4.4 Host or domain name not found. Name service error for name=noaddr.route.test type=A: Host found but no data record of requested type" \
    noaddr.route.test

check "null MX bounces 5.1.0" "5.1.0 Domain nullmx.route.test does not accept mail (nullMX)" \
    nullmx.route.test

check "NXDOMAIN bounces 5.4.4" "5.4.4 Host or domain name not found. Name service error for name=nosuch.route.test type=A: Host not found" \
    nosuch.route.test

check "NXDOMAIN [host] bounces 5.4.4" "5.4.4 Host or domain name not found. Name service error for name=nosuch.route.test type=A: Host not found" \
    '[nosuch.route.test]'

check "SERVFAIL on MX defers 4.4.3, no A fallback" "4.4.3 Host or domain name not found. Name service error for name=broken.test type=MX: Host not found, try again" \
    broken.test

check "SERVFAIL on [host] defers 4.4.3" "4.4.3 Host or domain name not found. Name service error for name=host.broken.test type=A: Host not found, try again" \
    '[host.broken.test]'

check "REFUSED (name outside the server's zones) defers" "4.4.3 Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found, try again" \
    example.invalid

check "no MX host has an address: bounce, Postfix's reason" "5.4.4 Host or domain name not found. Name service error for name=missing2.route.test type=A: Host not found
warning: no MX host for nohost.route.test has a valid address record" nohost.route.test

check "unresolvable MX hosts are skipped" "mx20.route.test 127.0.0.20 20" partial.route.test

check "MX host lookup SERVFAIL defers" "4.4.3 Host or domain name not found. Name service error for name=host.broken.test type=A: Host not found, try again
warning: no MX host for tempmx.route.test has a valid address record" tempmx.route.test

check "temporary then permanent: still deferred (4.4.4)" "4.4.4 Host or domain name not found. Name service error for name=missing1.route.test type=A: Host not found
warning: no MX host for mixed.route.test has a valid address record" mixed.route.test

check "loop rule drops our preference and worse" "mx10.route.test 127.0.0.10 10" \
    -m mx20.route.test loop.route.test

check "loop rule: we are the best MX" "5.4.6 mail for loop.route.test loops back to myself" \
    -m MX10.route.test. loop.route.test

check "loop rule: better MX unresolvable" "4.4.4 unable to find primary relay for loopfail.route.test" \
    -m mx20.route.test loopfail.route.test

check "implicit MX naming myself" "5.4.6 mail for implicit.route.test loops back to myself" \
    -m implicit.route.test implicit.route.test

check "CNAME'd MX host keeps the MX name" "alias.route.test 127.0.0.10 10" cname.route.test

check "malformed MX targets are skipped" "mx20.route.test 127.0.0.20 20" badmx.route.test

check "only malformed MX targets: Postfix's 5.4.4, escaped warning" "5.4.4 Name service error for name=allbad.route.test type=MX: Malformed or unexpected name server reply
warning: malformed domain name in resource data of MX record for allbad.route.test: bad\\032host.route.test" \
    allbad.route.test

check "IPv4 literal uses no DNS" "192.0.2.1 192.0.2.1 0" -s 127.0.0.1:9 '[192.0.2.1]'

check "IPv6 literal uses no DNS" "2001:db8::1 2001:db8::1 0" -s 127.0.0.1:9 '[ipv6:2001:DB8:0::1]'

check "[localhost] without DNS (RFC 6761)" "localhost 127.0.0.1 0" -s 127.0.0.1:9 '[LocalHost]'

check "a name under .localhost, domain form" "mx.localhost 127.0.0.1 0" -s 127.0.0.1:9 mx.localhost.

check "numeric top-level label: no query" "5.4.4 Name service error for host.123: invalid host or domain name" \
    -s 127.0.0.1:9 host.123

# Equal preferences are shuffled (smtp_randomize_addresses): over 40 runs
# the e1/e2/e3 hosts must not always come in the same order, and e0 (the
# best MX) must always come first.
count=$((count + 1))
orders=$(for i in $(seq 40); do
	"$PROBE" -s "$S" -t 5000 equal.route.test | tr '\n' ' '
	echo
done | sort | uniq -c)
norders=$(printf '%s\n' "$orders" | wc -l)
if [ "$norders" -ge 3 ] && ! printf '%s\n' "$orders" | grep -v -q ' e0.route.test 127.0.0.50 5 e'; then
	echo "ok $count - equal preferences shuffled ($norders orders in 40 runs)"
else
	echo "not ok $count - equal preferences shuffled"
	printf '%s\n' "$orders" | sed 's/^/#   /'
	fails=$((fails + 1))
fi

count=$((count + 1))
orders=$(for i in $(seq 10); do
	"$PROBE" -s "$S" -t 5000 -R equal.route.test | tr '\n' ' '
	echo
done | sort -u | wc -l)
if [ "$orders" -eq 1 ]; then
	echo "ok $count - smtp_randomize_addresses=no keeps one order"
else
	echo "not ok $count - smtp_randomize_addresses=no keeps one order ($orders orders)"
	fails=$((fails + 1))
fi

# A DNS server port that is closed: refused at once, deferred.
count=$((count + 1))
start=$(date +%s)
got=$("$PROBE" -s 127.0.0.1:9 -t 1500 multi.route.test 2>&1)
elapsed=$(($(date +%s) - start))
if [ "$got" = "4.4.3 Host or domain name not found. Name service error for name=multi.route.test type=MX: Host not found, try again" ] &&
    [ "$elapsed" -le 4 ]; then
	echo "ok $count - unreachable DNS server defers (${elapsed}s)"
else
	echo "not ok $count - unreachable DNS server: '$got' after ${elapsed}s"
	fails=$((fails + 1))
fi

check_end
