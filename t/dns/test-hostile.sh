#!/bin/sh
# test-hostile.sh - route_resolve() against a fault-injecting DNS responder
# (t/dns/badresponder.py): compression loops, labels over 63, names over
# 255, RDLENGTH overruns, lying ANCOUNT, empty replies, TC=1 with and
# without a TCP answer, 1,000 MX or A records, malformed names, answers
# to another question, silence.  Each case must end SAFE (no crash; the
# sanitizers watch when enabled), in time, with a bounded number of
# queries, deferring or skipping as Postfix would.
set -u

: "${top_srcdir:?}" "${top_builddir:?}"
PROBE="$top_builddir/t/dns/route-probe"
PYTHON3=${PYTHON3:-python3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-hostile.XXXXXX") || exit 1
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$PYTHON3" "$top_srcdir/t/dns/badresponder.py" --port-file "$tmp/port" --log "$tmp/queries" \
    --lifetime 300 &
pid=$!
tries=0
while [ ! -s "$tmp/port" ]; do
	tries=$((tries + 1))
	if [ $tries -ge 50 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "badresponder did not start" >&2
		exit 1
	fi
	sleep 0.1
done
S="127.0.0.1:$(cat "$tmp/port")"

fails=0
count=0

# check LABEL EXPECTED MAX-SECONDS MAX-QUERIES PROBE-ARGS... ; the last
# argument is the next-hop, whose queries are counted.
check() {
	label=$1
	want=$2
	maxsec=$3
	maxq=$4
	shift 4
	count=$((count + 1))
	: >"$tmp/queries"
	start=$(date +%s)
	got=$("$PROBE" -s "$S" "$@" 2>&1)
	rc=$?
	elapsed=$(($(date +%s) - start))
	nq=$(wc -l <"$tmp/queries")
	if [ "$got" = "$want" ] && [ "$elapsed" -le "$maxsec" ] && [ "$nq" -le "$maxq" ] &&
	    [ "$rc" -le 1 ]; then
		echo "ok $count - $label (${elapsed}s, $nq queries)"
	else
		echo "not ok $count - $label (${elapsed}s, $nq queries, exit $rc)"
		echo "# expected:"
		printf '%s\n' "$want" | sed 's/^/#   /'
		echo "# got:"
		printf '%s\n' "$got" | sed 's/^/#   /'
		fails=$((fails + 1))
	fi
}

MALFORMED="Malformed or unexpected name server reply"

check "compression loop in an MX target: defer" \
    "4.4.3 Name service error for name=loop.bad.test type=MX: $MALFORMED" 5 2 loop.bad.test

check "label over 63 in an MX target: defer" \
    "4.4.3 Name service error for name=longlabel.bad.test type=MX: $MALFORMED" 5 2 longlabel.bad.test

check "name over 255 in an MX target: defer" \
    "4.4.3 Name service error for name=longname.bad.test type=MX: $MALFORMED" 5 2 longname.bad.test

check "RDLENGTH past the end of the message: defer" \
    "4.4.3 Name service error for name=rdlen.bad.test type=MX: $MALFORMED" 5 2 rdlen.bad.test

check "ANCOUNT larger than the records: defer" \
    "4.4.3 Name service error for name=ancount.bad.test type=MX: $MALFORMED" 5 2 ancount.bad.test

check "A record of 3 bytes: defer" \
    "4.4.3 Name service error for name=shortaddr.bad.test type=A: $MALFORMED" 5 4 '[shortaddr.bad.test]'

check "empty UDP replies: defer at the deadline" \
    "4.4.3 Host or domain name not found. Name service error for name=empty.bad.test type=MX: Host not found, try again" \
    5 6 -t 2000 empty.bad.test

check "silence: defer at the deadline" \
    "4.4.3 Host or domain name not found. Name service error for name=silent.bad.test type=MX: Host not found, try again" \
    5 6 -t 2000 silent.bad.test

check "answer to another question is ignored: defer" \
    "4.4.3 Host or domain name not found. Name service error for name=wrongq.bad.test type=MX: Host not found, try again" \
    5 6 -t 2000 wrongq.bad.test

check "SERVFAIL: defer, never the A record" \
    "4.4.3 Host or domain name not found. Name service error for name=servfail.bad.test type=MX: Host not found, try again" \
    5 6 servfail.bad.test

check "TC=1 and no TCP answer: defer" \
    "4.4.3 Host or domain name not found. Name service error for name=tc.bad.test type=MX: Host not found, try again" \
    5 8 -t 3000 tc.bad.test

check "TC=1 then the answer over TCP" "mail.tctcp.bad.test 127.0.0.1 10" 5 4 tctcp.bad.test

check "1,000 MX records over TCP: bounded" "$(for i in 0000 0007 0014 0021 0028; do
	echo "m$i.many.bad.test 127.0.0.1 10"; done)" 10 260 -R many.bad.test

check "1,000 A records: 20 kept, limit 5" "$(for i in 0 1 2 3 4; do
	echo "manya.bad.test 127.1.$i.1 0"; done)" 5 5 -R '[manya.bad.test]'

check "unspecified, multicast and broadcast addresses are dropped" "unusable.bad.test 127.0.0.8 0" \
    5 4 '[unusable.bad.test]'

check "CNAME loop: no address, bounce as Postfix" \
    "5.4.4 Host or domain name not found. Name service error for name=cnameloop.bad.test type=A: Host found but no data record of requested type" \
    5 4 '[cnameloop.bad.test]'

check "malformed MX names skipped, the good one kept" "good.badname.bad.test 127.0.0.1 20" \
    5 4 badname.bad.test

check "only malformed MX names: escaped in the warning" \
    "5.4.4 Name service error for name=allbad.bad.test type=MX: $MALFORMED
warning: malformed domain name in resource data of MX record for allbad.bad.test: bad\\032name.allbad.bad.test" \
    5 2 allbad.bad.test

check "AD bit recorded for the MX set and the addresses" "mx_secure=1
mail.ad.bad.test 127.0.0.1 10 port=25 secure=1" 5 4 -v ad.bad.test

check "AD bit ignored unless every DNS server is on loopback" "mx_secure=0
mail.ad.bad.test 127.0.0.1 10 port=25 secure=0" 5 4 -v -s "$S,192.0.2.1:53" ad.bad.test

check "A records in an MX answer: implicit MX" "wrongtype.bad.test 127.0.0.1 0" 5 4 wrongtype.bad.test

check "null MX" "5.1.0 Domain nullmx.bad.test does not accept mail (nullMX)" 5 2 nullmx.bad.test

# The responder must still be alive: nothing we sent hurt it, and it is
# ours to stop.
count=$((count + 1))
if kill -0 "$pid" 2>/dev/null; then
	echo "ok $count - responder alive"
else
	echo "not ok $count - responder died"
	fails=$((fails + 1))
fi

echo "1..$count"
[ "$fails" -eq 0 ]
