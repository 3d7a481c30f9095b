#!/bin/sh
# interop-postmap.sh - tlsmap and Postfix's postmap read each other's
# lmdb: tables.
#
#  - a table built by tlsmap answers "postmap -q" (folded keys, multi-line
#    values, quoted keys, parent-domain keys as plain keys);
#  - tables built by "postmap" and "postmap -n" answer "tlsmap -q",
#    "tlsmap -q -" and the lookup API (t/policy-query);
#  - "tlsmap -s" and "postmap -s" dumps of the same source are identical,
#    whichever program built the table;
#  - duplicate keys: first wins (and -r last wins) in both;
#  - deletes by either program are seen by the other;
#  - an invalid source is refused with FILE:LINE messages and the previous
#    .lmdb survives byte for byte; no LMDB lock file is ever created;
#  - a new table gets the same permissions from both programs.
#
# Uses $POSTMAP (default /usr/sbin/postmap) with a private config directory
# (never /etc/postfix); starts no daemon.  Without postmap or its lmdb:
# support it skips (77), or fails under CI or as root
# (t/lib/prerequisite.sh).
set -u

: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/t/lib/prerequisite.sh"
postmap=${POSTMAP:-/usr/sbin/postmap}
[ -n "$postmap" ] || postmap=/usr/sbin/postmap
[ -x "$postmap" ] || prerequisite_missing "postmap not found ($postmap): install postfix and postfix-lmdb"
tlsmap=$top_builddir/tools/tlsmap
query=$top_builddir/t/policy-query

dir=$(mktemp -d "${TMPDIR:-/tmp}/interop-postmap.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
mkdir "$dir/conf"
printf 'compatibility_level = 3.6\n' > "$dir/conf/main.cf"

# postmap's lmdb: support is a separate package (postfix-lmdb).
printf 'probe.example may\n' > "$dir/probe"
"$postmap" -c "$dir/conf" -o "lmdb:$dir/probe" > "$dir/probe.err" 2>&1 ||
	prerequisite_missing "postmap cannot build lmdb: tables ($(head -1 "$dir/probe.err")): install postfix-lmdb"

failures=0
checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); }

# pm ARGS...: postmap with our config; -o keeps root from switching users.
pm() { "$postmap" -c "$dir/conf" -o "$@"; }

# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok; else fail "$1: got [$2], want [$3]"; fi
}

tab=$(printf '\t')
cr=$(printf '\r')

# ---------------------------------------------------------------------------
# A source using every syntax rule.
cat > "$dir/src" <<EOF
# TLS policy for the interop test
Example.COM      secure match=.Example.com:nexthop
.example.com     verify
	match=hostname:dot-nexthop
# a comment between continuation lines

  ciphers=high
[Relay.Example]:587  encrypt protocols=>=TLSv1.2
[192.0.2.1]      fingerprint match=51:E9:A3:C2:D4:B5:F6:07:18:29:3A:4B:5C:6D:7E:8F
"Quoted Key"     may
example.net:25   dane
example.net      may${cr}
dup.example      encrypt
DUP.example      secure
EOF
cp "$dir/src" "$dir/pm"

# --- tlsmap builds, postmap reads ------------------------------------------
if "$tlsmap" "lmdb:$dir/src" 2> "$dir/build.err"; then ok; else fail "tlsmap build: $(cat "$dir/build.err")"; fi
grep -q "^$dir/src:14: duplicate entry: \"dup.example\"\$" "$dir/build.err" && ok \
	|| fail "duplicate warning missing: $(cat "$dir/build.err")"

expect_eq "postmap -q EXAMPLE.com" "$(pm -q EXAMPLE.com "lmdb:$dir/src")" "secure match=.Example.com:nexthop"
expect_eq "postmap -q .example.com" "$(pm -q .example.com "lmdb:$dir/src")" \
	"verify${tab}match=hostname:dot-nexthop  ciphers=high"
expect_eq "postmap -q [relay.example]:587" "$(pm -q '[relay.example]:587' "lmdb:$dir/src")" \
	"encrypt protocols=>=TLSv1.2"
expect_eq "postmap -q quoted" "$(pm -q '"quoted key"' "lmdb:$dir/src")" "may"
expect_eq "postmap -q example.net:25" "$(pm -q example.net:25 "lmdb:$dir/src")" "dane"
expect_eq "postmap -q example.net (CRLF)" "$(pm -q example.net "lmdb:$dir/src")" "may"
expect_eq "postmap -q dup (first wins)" "$(pm -q dup.example "lmdb:$dir/src")" "encrypt"
pm -q sub.example.com "lmdb:$dir/src" > /dev/null && fail "postmap -q found a parent-domain key" || ok

# --- postmap builds, tlsmap and the lookup API read -------------------------
pm "lmdb:$dir/pm" 2> "$dir/pm.err" || fail "postmap build: $(cat "$dir/pm.err")"
cp "$dir/src" "$dir/pmn"
pm -n "lmdb:$dir/pmn" 2> /dev/null || fail "postmap -n build"
for t in pm pmn; do
	expect_eq "$t: tlsmap -q EXAMPLE.com" "$("$tlsmap" -q EXAMPLE.com "lmdb:$dir/$t")" \
		"secure match=.Example.com:nexthop"
	expect_eq "$t: tlsmap -q [192.0.2.1]" "$("$tlsmap" -q '[192.0.2.1]' "lmdb:$dir/$t")" \
		"fingerprint match=51:E9:A3:C2:D4:B5:F6:07:18:29:3A:4B:5C:6D:7E:8F"
	"$tlsmap" -f -q EXAMPLE.com "lmdb:$dir/$t" > /dev/null && fail "$t: -f -q folded the key" || ok
	"$tlsmap" -q nothing.example "lmdb:$dir/$t" > /dev/null; expect_eq "$t: -q absent status" $? 1
	expect_eq "$t: api example.com" "$("$query" "lmdb:$dir/$t" example.com)" \
		"found${tab}example.com${tab}secure${tab}secure match=.Example.com:nexthop"
	expect_eq "$t: api mx.example.com" "$("$query" "lmdb:$dir/$t" MX.example.com)" \
		"found${tab}.example.com${tab}verify${tab}verify${tab}match=hostname:dot-nexthop  ciphers=high"
	expect_eq "$t: api relayhost" "$("$query" "lmdb:$dir/$t" '[relay.example]:587')" \
		"found${tab}[relay.example]:587${tab}encrypt${tab}encrypt protocols=>=TLSv1.2"
	expect_eq "$t: api relay without port" "$("$query" "lmdb:$dir/$t" '[relay.example]')" "not-found"
	expect_eq "$t: api two maps" "$("$query" "lmdb:$dir/nosuch lmdb:$dir/$t" example.com | cut -f1)" "error"
	# Keys on stdin, as postmap -q - prints them.
	printf 'EXAMPLE.com\nnothing\n[192.0.2.1]\n' > "$dir/keys"
	"$tlsmap" -q - "lmdb:$dir/$t" < "$dir/keys" > "$dir/tq"
	pm -q - "lmdb:$dir/$t" < "$dir/keys" > "$dir/pq"
	cmp -s "$dir/tq" "$dir/pq" && ok || fail "$t: tlsmap -q - differs from postmap -q -"
done

# --- UTF-8 keys: A-labels from tlsmap, UTF-8 from postmap; both are found --
printf 'B\303\274cher.example secure\n.b\303\274cher.example verify\n' > "$dir/u8"
cp "$dir/u8" "$dir/u8pm"
"$tlsmap" "lmdb:$dir/u8" || fail "tlsmap build of a UTF-8 source"
pm "lmdb:$dir/u8pm" || fail "postmap build of a UTF-8 source"
expect_eq "postmap -q A-label" "$(pm -q xn--bcher-kva.example "lmdb:$dir/u8")" "secure"
expect_eq "tlsmap -q U-label" "$("$tlsmap" -q "$(printf 'B\303\274cher.example')" "lmdb:$dir/u8")" "secure"
expect_eq "api, postmap UTF-8 table" "$("$query" "lmdb:$dir/u8pm" xn--bcher-kva.example)" \
	"found${tab}$(printf 'b\303\274cher.example')${tab}secure${tab}secure"
expect_eq "api, postmap UTF-8 table, parent" "$("$query" "lmdb:$dir/u8pm" "$(printf 'mx.B\303\274cher.example')")" \
	"found${tab}$(printf '.b\303\274cher.example')${tab}verify${tab}verify"
expect_eq "api, tlsmap table" "$("$query" "lmdb:$dir/u8" "$(printf 'b\303\274cher.example')")" \
	"found${tab}xn--bcher-kva.example${tab}secure${tab}secure"

# --- dumps are byte-identical ------------------------------------------------
"$tlsmap" -s "lmdb:$dir/src" > "$dir/dump.tlsmap.src"
pm -s "lmdb:$dir/src" > "$dir/dump.postmap.src"
pm -s "lmdb:$dir/pm" > "$dir/dump.postmap.pm"
"$tlsmap" -s "lmdb:$dir/pm" > "$dir/dump.tlsmap.pm"
"$tlsmap" -s "lmdb:$dir/pmn" > "$dir/dump.tlsmap.pmn"
for d in dump.postmap.src dump.postmap.pm dump.tlsmap.pm dump.tlsmap.pmn; do
	cmp -s "$dir/dump.tlsmap.src" "$dir/$d" && ok || fail "tlsmap -s of tlsmap's table differs from $d"
done
[ "$(wc -l < "$dir/dump.tlsmap.src")" -eq 8 ] && ok || fail "dump has $(wc -l < "$dir/dump.tlsmap.src") lines, want 8"

# The NUL style on disk matches: postmap's default and -n, tlsmap's -N and -n.
cp "$dir/src" "$dir/tn"
"$tlsmap" -n "lmdb:$dir/tn" 2> /dev/null || fail "tlsmap -n build"
expect_eq "postmap -q on tlsmap -n table" "$(pm -q example.com "lmdb:$dir/tn")" "secure match=.Example.com:nexthop"

# --- -r: last value wins in both ---------------------------------------------
cp "$dir/src" "$dir/r1"; cp "$dir/src" "$dir/r2"
"$tlsmap" -r "lmdb:$dir/r1" 2> "$dir/r.err" || fail "tlsmap -r build"
[ -s "$dir/r.err" ] && fail "tlsmap -r warned: $(cat "$dir/r.err")" || ok
pm -r "lmdb:$dir/r2" 2> /dev/null
expect_eq "tlsmap -r" "$("$tlsmap" -q dup.example "lmdb:$dir/r1")" "secure"
expect_eq "postmap -r" "$(pm -q dup.example "lmdb:$dir/r2")" "secure"
cp "$dir/src" "$dir/w1"
"$tlsmap" -w "lmdb:$dir/w1" 2> "$dir/w.err" || fail "tlsmap -w build"
[ -s "$dir/w.err" ] && fail "tlsmap -w warned: $(cat "$dir/w.err")" || ok

# --- deletes by either program -----------------------------------------------
"$tlsmap" -d EXAMPLE.NET:25 "lmdb:$dir/pm"; expect_eq "tlsmap -d status" $? 0
pm -q example.net:25 "lmdb:$dir/pm" > /dev/null && fail "postmap still sees a key tlsmap deleted" || ok
"$tlsmap" -d example.net:25 "lmdb:$dir/pm"; expect_eq "tlsmap -d absent status" $? 1
pm -d '[192.0.2.1]' "lmdb:$dir/src" || fail "postmap -d on tlsmap's table"
"$tlsmap" -q '[192.0.2.1]' "lmdb:$dir/src" > /dev/null && fail "tlsmap still sees a key postmap deleted" || ok
expect_eq "after postmap -d" "$("$tlsmap" -q example.com "lmdb:$dir/src")" "secure match=.Example.com:nexthop"

# --- an invalid source is refused; the old table survives -------------------
cp "$dir/src" "$dir/bad"
"$tlsmap" "lmdb:$dir/bad" 2> /dev/null || fail "build of the good version"
before=$(cksum < "$dir/bad.lmdb")
cat >> "$dir/bad" <<'EOF'
bogus.example    bogus
attr.example     may match=x
example.info     may protocols=!SSLv2,!SSLv3
no-value.example
EOF
"$tlsmap" "lmdb:$dir/bad" 2> "$dir/bad.err"
rc=$?
[ $rc -ne 0 ] && ok || fail "invalid table installed (exit 0)"
for want in \
	"$dir/bad:15: \"bogus.example\": invalid security level \"bogus\"" \
	"$dir/bad:16: \"attr.example\": attribute \"match\" invalid at security level \"may\"" \
	"$dir/bad:17: \"example.info\": malformed attribute/value pair \"!SSLv3\"" \
	"$dir/bad:18: expected format: key whitespace value"; do
	grep -qF "$want" "$dir/bad.err" && ok || fail "missing message [$want] in: $(cat "$dir/bad.err")"
done
expect_eq "old table untouched" "$(cksum < "$dir/bad.lmdb")" "$before"
expect_eq "postmap still reads the old table" "$(pm -q example.com "lmdb:$dir/bad")" "secure match=.Example.com:nexthop"
"$tlsmap" -c "lmdb:$dir/bad" 2> /dev/null && fail "tlsmap -c accepted an invalid table" || ok
leftovers=$(find "$dir" -name '*.lmdb.*' -o -name '*-lock' | wc -l)
expect_eq "temporary or lock files left" "$leftovers" 0

# --- -c writes nothing ---------------------------------------------------------
cp "$dir/src" "$dir/check"
"$tlsmap" -c "lmdb:$dir/check" 2> /dev/null || fail "tlsmap -c on a valid table"
[ -e "$dir/check.lmdb" ] && fail "tlsmap -c wrote a table" || ok

# --- permissions of a new table follow the source like postmap -------------
for mode in 600 640 644 604; do
	printf 'example.com may\n' > "$dir/m$mode.t"; chmod "$mode" "$dir/m$mode.t"
	printf 'example.com may\n' > "$dir/m$mode.p"; chmod "$mode" "$dir/m$mode.p"
	"$tlsmap" "lmdb:$dir/m$mode.t"; pm "lmdb:$dir/m$mode.p"
	expect_eq "mode from source $mode" "$(stat -c %a "$dir/m$mode.t.lmdb")" "$(stat -c %a "$dir/m$mode.p.lmdb")"
done
"$tlsmap" -p "lmdb:$dir/m600.x" 2> /dev/null && fail "tlsmap built from a missing source" || ok
cp "$dir/m600.t" "$dir/m600.x"; chmod 600 "$dir/m600.x"
"$tlsmap" -p "lmdb:$dir/m600.x"
expect_eq "-p mode" "$(stat -c %a "$dir/m600.x.lmdb")" 644

# --- usage errors --------------------------------------------------------------
"$tlsmap" -q 2> /dev/null; expect_eq "usage status" $? 2
"$tlsmap" "hash:$dir/src" 2> /dev/null; expect_eq "unsupported type status" $? 2
"$tlsmap" -q x "lmdb:$dir/nosuch" 2> /dev/null; expect_eq "-q on a missing table" $? 1

echo "interop-postmap: $checks checks passed, $failures failed"
[ "$failures" -eq 0 ]
