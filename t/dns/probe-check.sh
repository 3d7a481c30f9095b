# probe-check.sh - sourced by t/dns test scripts that compare route-probe
# output with an expected text and print TAP lines.
# Needs PROBE (the route-probe binary), S (the DNS server, addr:port) and
# PROBE_TIMEOUT_MS; provides check() and check_end().
count=0
fails=0

# check LABEL EXPECTED-OUTPUT PROBE-ARGS...
check() {
	label=$1
	want=$2
	shift 2
	count=$((count + 1))
	got=$("$PROBE" -s "$S" -t "$PROBE_TIMEOUT_MS" "$@" 2>&1)
	if [ "$got" = "$want" ]; then
		echo "ok $count - $label"
	else
		echo "not ok $count - $label"
		echo "# probe $*"
		echo "# expected:"
		printf '%s\n' "$want" | sed 's/^/#   /'
		echo "# got:"
		printf '%s\n' "$got" | sed 's/^/#   /'
		fails=$((fails + 1))
	fi
}

# The TAP plan and the exit status.
check_end() {
	echo "1..$count"
	[ "$fails" -eq 0 ]
}
