#!/bin/sh
# test-deliver.sh - the agent end to end: tlsmtp routes mail to plain
# domains through a real DNS server (knotd, t/dns/dnsserver) and delivers
# to a loopback SMTP sink (t/dns/smtpsink.py) via smtp_tcp_port.
#
# Covers: a dead first MX with a live second, a busy (421) first MX, an
# AAAA-only MX host, implicit MX, [host], and the DNS outcomes as the agent
# reports them: null MX 5.1.0, NXDOMAIN 5.4.4 (exit 68), SERVFAIL 4.4.3
# (exit 75), no usable MX address, and only dead MX hosts (4.4.1, exit 75).
set -u

: "${top_srcdir:?}" "${top_builddir:?}"
TLSMTP="$top_builddir/transport/tlsmtp"
DNSSERVER="$top_srcdir/t/dns/dnsserver"
PYTHON3=${PYTHON3:-python3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-deliver.XXXXXX") || exit 1
sinkpid=
cleanup() {
	if [ -n "$sinkpid" ]; then
		kill "$sinkpid" 2>/dev/null
		wait "$sinkpid" 2>/dev/null
	fi
	"$DNSSERVER" stop "$tmp/state" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$tmp/zones" "$tmp/sink"
cat >"$tmp/zones/route.test.zone" <<'EOF'
$ORIGIN route.test.
$TTL 60
@		SOA	ns hostmaster 1 3600 600 86400 60
@		NS	ns
ns		A	127.0.0.1
live		A	127.0.0.1
dead		A	127.0.0.2
busy		A	127.0.0.3
six		AAAA	::1
deadfirst	MX	10 dead
deadfirst	MX	20 live
busyfirst	MX	10 busy
busyfirst	MX	20 live
v6only		MX	10 six
allbusy		MX	10 busy
alldead		MX	10 dead
implicit	A	127.0.0.1
nullmx		MX	0 .
nohost		MX	10 missing
EOF
printf 'this is not a zone file\n' >"$tmp/zones/broken.test.zone"
dnsport=$("$DNSSERVER" start "$tmp/state" "$tmp/zones") || exit 1

# The sink listens on 127.0.0.1 (live), 127.0.0.3 (greets 421) and ::1;
# nothing listens on 127.0.0.2 (dead).
tries=0
while :; do
	smtpport=$("$PYTHON3" -c 'import random; print(random.randint(20000, 60000))')
	rm -f "$tmp/sink/ready"
	"$PYTHON3" "$top_srcdir/t/dns/smtpsink.py" --port "$smtpport" --dir "$tmp/sink" \
	    --listen 127.0.0.1 --listen 127.0.0.3=421 --listen ::1 --lifetime 300 \
	    2>"$tmp/sink.err" &
	sinkpid=$!
	n=0
	while [ ! -f "$tmp/sink/ready" ] && kill -0 "$sinkpid" 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ -f "$tmp/sink/ready" ] && break
	kill "$sinkpid" 2>/dev/null
	wait "$sinkpid" 2>/dev/null
	sinkpid=
	tries=$((tries + 1))
	if [ $tries -ge 5 ]; then
		cat "$tmp/sink.err" >&2
		echo "smtpsink did not start" >&2
		exit 1
	fi
done

cat >"$tmp/tlsmtp.conf" <<EOF
dns_servers = 127.0.0.1:$dnsport
smtp_tcp_port = $smtpport
maillog_file = $tmp/maillog
myhostname = client.route.test
smtp_tls_security_level = may
smtp_connect_timeout = 5s
delivery_deadline = 60s
EOF
printf 'Subject: routing test\n\nhello\n' >"$tmp/msg"

fails=0
count=0
extra=

# deliver LABEL NEXTHOP RCPT WANT-EXIT WANT-OUTPUT-PREFIX; NEXTHOP "" means
# no -n; $extra holds more agent options for this one delivery.
deliver() {
	label=$1
	nexthop=$2
	rcpt=$3
	want_rc=$4
	want_out=$5
	count=$((count + 1))
	: >"$tmp/sink/connections"
	: >"$tmp/maillog"
	rm -f "$tmp/sink"/msg.*
	set -- -c "$tmp/tlsmtp.conf" $extra -f sender@client.route.test -i "Q$count"
	[ -n "$nexthop" ] && set -- "$@" -n "$nexthop"
	out=$("$TLSMTP" "$@" -- "$rcpt" <"$tmp/msg" 2>&1)
	rc=$?
	extra=
	case "$out" in
	"$want_out"*)
		if [ "$rc" -eq "$want_rc" ]; then
			echo "ok $count - $label (exit $rc)"
			return 0
		fi
		;;
	esac
	echo "not ok $count - $label: exit $rc, output: $out"
	sed 's/^/#   /' "$tmp/maillog"
	fails=$((fails + 1))
	return 1
}

# expect LABEL COMMAND...: one more assertion about the last delivery.
expect() {
	label=$1
	shift
	count=$((count + 1))
	if "$@"; then
		echo "ok $count - $label"
	else
		echo "not ok $count - $label"
		echo "# connections:"
		sed 's/^/#   /' "$tmp/sink/connections"
		echo "# maillog:"
		sed 's/^/#   /' "$tmp/maillog"
		fails=$((fails + 1))
	fi
}

# Exactly one message arrived since the last delivery, at address $1.
delivered_via() {
	set -- "$1" "$tmp/sink"/msg.*.env
	[ $# -eq 2 ] && [ -f "$2" ] && [ "$(head -n 1 "$2")" = "$1" ] &&
	    grep -q '^hello' "${2%.env}"
}

nothing_delivered() {
	! ls "$tmp/sink"/msg.* >/dev/null 2>&1
}

deliver "dead first MX, live second" deadfirst.route.test user@deadfirst.route.test 0 ""
expect "delivered by the second MX" delivered_via 127.0.0.1
expect "log names the relay host[addr]:port" \
    grep -q "relay=live.route.test\[127.0.0.1\]:$smtpport.*status=sent" "$tmp/maillog"
expect "log keeps the first MX's failure" \
    grep -q "dead.route.test\[127.0.0.2\]:$smtpport" "$tmp/maillog"

deliver "busy (421) first MX, live second" busyfirst.route.test user@busyfirst.route.test 0 ""
expect "the busy MX was tried first" \
    test "$(cat "$tmp/sink/connections")" = "127.0.0.3 connect
127.0.0.1 connect"
expect "delivered by the second MX" delivered_via 127.0.0.1

deliver "AAAA-only MX host" v6only.route.test user@v6only.route.test 0 ""
expect "delivered over IPv6" delivered_via ::1

deliver "implicit MX" implicit.route.test user@implicit.route.test 0 ""
expect "delivered to the domain's own address" delivered_via 127.0.0.1

deliver "[host] next-hop" "[live.route.test]" user@deadfirst.route.test 0 ""
expect "delivered to the named host" delivered_via 127.0.0.1

deliver "recipient's domain without -n" "" user@deadfirst.route.test 0 ""
expect "delivered by the second MX" delivered_via 127.0.0.1

deliver "domain:port next-hop keeps the MX lookup" "deadfirst.route.test:$smtpport" \
    user@deadfirst.route.test 0 ""
expect "delivered by the second MX" delivered_via 127.0.0.1

deliver "null MX bounces" nullmx.route.test user@nullmx.route.test 69 \
    "5.1.0 Domain nullmx.route.test does not accept mail (nullMX)"
expect "no connection" test ! -s "$tmp/sink/connections"

deliver "NXDOMAIN bounces (68)" nosuch.route.test user@nosuch.route.test 68 \
    "5.4.4 Host or domain name not found. Name service error for name=nosuch.route.test type=A: Host not found"

deliver "SERVFAIL defers" broken.test user@broken.test 75 \
    "4.4.3 Host or domain name not found. Name service error for name=broken.test type=MX: Host not found, try again"
expect "no connection" test ! -s "$tmp/sink/connections"

deliver "no MX host has an address" nohost.route.test user@nohost.route.test 68 \
    "5.4.4 Host or domain name not found. Name service error for name=missing.route.test type=A: Host not found"

deliver "only a dead MX defers" alldead.route.test user@alldead.route.test 75 "4.4.1"
expect "nothing delivered" nothing_delivered

deliver "only a busy MX defers (never bounces)" allbusy.route.test user@allbusy.route.test 75 "4."
expect "nothing delivered" nothing_delivered

extra="-o myhostname=dead.route.test"
deliver "MX list naming myself (loop rule)" deadfirst.route.test user@deadfirst.route.test 69 \
    "5.4.6 mail for deadfirst.route.test loops back to myself"
expect "no connection" test ! -s "$tmp/sink/connections"

echo "1..$count"
[ "$fails" -eq 0 ]
