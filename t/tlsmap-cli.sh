#!/bin/sh
# tlsmap-cli.sh - the tlsmap command line on its own (no postmap needed):
# build, query, dump, delete, check, duplicates, refusal of invalid tables
# with FILE:LINE messages and the old table kept, file modes, privilege
# drop as root, exit statuses and usage errors.
set -u
: "${top_builddir:?}"
tlsmap=$top_builddir/tools/tlsmap

dir=$(mktemp -d "${TMPDIR:-/tmp}/tlsmap-cli.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM

failures=0
checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); }
expect_eq() { if [ "$2" = "$3" ]; then ok; else fail "$1: got [$2], want [$3]"; fi; }
tab=$(printf '\t')

cat > "$dir/t" <<'EOF'
# comment
Example.com     secure match=nexthop
.example.com    verify
    ciphers=high
[relay.example]:587 encrypt
none.example    none match=x
dup.example     may
Dup.example     encrypt
EOF

# --- build, query, dump ------------------------------------------------------
"$tlsmap" -v "lmdb:$dir/t" 2> "$dir/err"; expect_eq "build status" $? 0
grep -qF "$dir/t:8: duplicate entry: \"dup.example\"" "$dir/err" && ok || fail "no duplicate warning: $(cat "$dir/err")"
grep -qF "$dir/t:6: warning: \"none.example\": ignoring attribute \"match=x\" with TLS disabled" "$dir/err" && ok \
	|| fail "no note for level none: $(cat "$dir/err")"
grep -qF "6 entries, 1 duplicates, 0 errors" "$dir/err" && ok || fail "-v summary: $(cat "$dir/err")"
expect_eq "-q" "$("$tlsmap" -q EXAMPLE.COM "$dir/t")" "secure match=nexthop"
expect_eq "-q continued" "$("$tlsmap" -q .example.com "lmdb:$dir/t")" "verify    ciphers=high"
expect_eq "-q dup first wins" "$("$tlsmap" -q dup.example "$dir/t")" "may"
"$tlsmap" -q sub.example.com "$dir/t" > /dev/null; expect_eq "-q exact only" $? 1
"$tlsmap" -f -q EXAMPLE.COM "$dir/t" > /dev/null; expect_eq "-f -q" $? 1
printf 'nothing\n[RELAY.example]:587\n' | "$tlsmap" -q - "$dir/t" > "$dir/out"; expect_eq "-q - status" $? 0
expect_eq "-q - output" "$(cat "$dir/out")" "[RELAY.example]:587${tab}encrypt"
printf 'nothing\n' | "$tlsmap" -q - "$dir/t" > /dev/null; expect_eq "-q - none found" $? 1
"$tlsmap" -s "$dir/t" > "$dir/dump"
printf '%s\n' ".example.com${tab}verify    ciphers=high" "[relay.example]:587${tab}encrypt" \
	"dup.example${tab}may" "example.com${tab}secure match=nexthop" "none.example${tab}none match=x" > "$dir/want"
cmp -s "$dir/dump" "$dir/want" && ok || fail "-s output: $(cat "$dir/dump")"

# --- -r and -w -----------------------------------------------------------------
"$tlsmap" -r "$dir/t" 2> "$dir/err"
expect_eq "-r last wins" "$("$tlsmap" -q dup.example "$dir/t")" "encrypt"
grep -q duplicate "$dir/err" && fail "-r warned" || ok
"$tlsmap" -w "$dir/t" 2> "$dir/err"
expect_eq "-w first wins" "$("$tlsmap" -q dup.example "$dir/t")" "may"
grep -q duplicate "$dir/err" && fail "-w warned" || ok

# --- delete --------------------------------------------------------------------
"$tlsmap" -d DUP.EXAMPLE "$dir/t"; expect_eq "-d status" $? 0
"$tlsmap" -q dup.example "$dir/t" > /dev/null; expect_eq "deleted key gone" $? 1
"$tlsmap" -d dup.example "$dir/t"; expect_eq "-d absent" $? 1
printf 'none.example\nnothing\n' | "$tlsmap" -d - "$dir/t"; expect_eq "-d -" $? 0
"$tlsmap" -q none.example "$dir/t" > /dev/null; expect_eq "-d - deleted" $? 1
"$tlsmap" -d x "$dir/nosuch" 2> /dev/null; expect_eq "-d on a missing table" $? 1

# --- invalid sources are refused; the old table is kept ---------------------
"$tlsmap" "$dir/t" 2> /dev/null
before=$(cksum < "$dir/t.lmdb")
cp "$dir/t" "$dir/t.good"
printf 'bad.example     secure match=\nlevel.example   maybe\n  indented line\nnovalue.example\n' >> "$dir/t"
printf 'utf.example     may \377\n' >> "$dir/t"
"$tlsmap" "$dir/t" 2> "$dir/err"; expect_eq "invalid: status" $? 1
for want in \
	"$dir/t:9: \"bad.example\": attribute \"match\" has empty value" \
	"$dir/t:10: \"level.example\": invalid security level \"maybe\"" \
	"$dir/t:12: expected format: key whitespace value" \
	"$dir/t:13: non-UTF-8 input" \
	"tlsmap: $dir/t: 4 errors; table not installed, $dir/t.lmdb unchanged"; do
	grep -qF "$want" "$dir/err" && ok || fail "missing [$want] in: $(cat "$dir/err")"
done
# "  indented line" continues line 10, so it is part of that value.
expect_eq "old table kept" "$(cksum < "$dir/t.lmdb")" "$before"
"$tlsmap" -c "$dir/t" 2> /dev/null; expect_eq "-c invalid" $? 1
awk 'BEGIN { printf "long.example may "; for (i = 0; i < 70000; i++) printf "x"; print "" }' > "$dir/long"
"$tlsmap" "$dir/long" 2> "$dir/err"; expect_eq "long line status" $? 1
grep -qF "$dir/long:1: logical line longer than 65536 bytes" "$dir/err" && ok || fail "long line: $(cat "$dir/err")"
[ -e "$dir/long.lmdb" ] && fail "long: table written" || ok

# --- -c writes nothing -----------------------------------------------------------
cp "$dir/t.good" "$dir/c"
"$tlsmap" -c "$dir/c" 2> /dev/null; expect_eq "-c valid" $? 0
[ -e "$dir/c.lmdb" ] && fail "-c wrote a table" || ok
expect_eq "no leftovers" "$(find "$dir" -name '*.lmdb.*' -o -name '*-lock' | wc -l)" 0

# --- a signal while building installs nothing and leaves nothing ----------------
mkfifo "$dir/fifo"
# Holding the FIFO open read-write (Linux) keeps tlsmap waiting for more
# input without a writer process to clean up.
exec 3<> "$dir/fifo"
printf 'a.example may\n' >&3
"$tlsmap" "$dir/fifo" 2> "$dir/err" &
builder=$!
tries=0
while [ -z "$(find "$dir" -name 'fifo.lmdb.*')" ] && [ $tries -lt 100 ]; do
	sleep 0.05; tries=$((tries + 1))
done
[ $tries -lt 100 ] && ok || fail "no temporary file while building"
kill -TERM $builder
wait $builder; expect_eq "interrupted status" $? 1
exec 3>&-
grep -qF "interrupted by signal 15; table not installed" "$dir/err" && ok || fail "interrupt: $(cat "$dir/err")"
expect_eq "nothing left after interrupt" "$(find "$dir" -name 'fifo.lmdb*' | wc -l)" 0

# --- modes -------------------------------------------------------------------------
for mode in 600 640 604 644 664; do
	cp "$dir/t.good" "$dir/m$mode"; chmod "$mode" "$dir/m$mode"
	"$tlsmap" -w "$dir/m$mode" 2> /dev/null
done
expect_eq "mode 600" "$(stat -c %a "$dir/m600.lmdb")" 600
expect_eq "mode 640" "$(stat -c %a "$dir/m640.lmdb")" 640
expect_eq "mode 604" "$(stat -c %a "$dir/m604.lmdb")" 604
expect_eq "mode 644" "$(stat -c %a "$dir/m644.lmdb")" 644
expect_eq "mode 664" "$(stat -c %a "$dir/m664.lmdb")" 644
chmod 640 "$dir/m644.lmdb"
"$tlsmap" -w "$dir/m644" 2> /dev/null
expect_eq "existing mode kept" "$(stat -c %a "$dir/m644.lmdb")" 640
"$tlsmap" -w -p "$dir/m600" 2> /dev/null
expect_eq "-p on existing keeps" "$(stat -c %a "$dir/m600.lmdb")" 600
rm "$dir/m600.lmdb"
"$tlsmap" -w -p "$dir/m600" 2> /dev/null
expect_eq "-p new" "$(stat -c %a "$dir/m600.lmdb")" 644

# --- as root: work as the source file's owner, unless -o -----------------------
if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
	mkdir "$dir/owned"; chmod 777 "$dir/owned"; chmod 755 "$dir"
	cp "$dir/t.good" "$dir/owned/p"; chown nobody "$dir/owned/p"
	"$tlsmap" -w "$dir/owned/p" 2> /dev/null
	expect_eq "owner after drop" "$(stat -c %U "$dir/owned/p.lmdb")" nobody
	"$tlsmap" -w -o "$dir/owned/p" 2> /dev/null
	expect_eq "owner with -o" "$(stat -c %U "$dir/owned/p.lmdb")" root
fi

# --- usage ---------------------------------------------------------------------------
"$tlsmap" 2> /dev/null; expect_eq "no argument" $? 2
"$tlsmap" -x "$dir/t" 2> /dev/null; expect_eq "unknown option" $? 2
"$tlsmap" -r -w "$dir/t" 2> /dev/null; expect_eq "-r -w" $? 2
"$tlsmap" -q k -s "$dir/t" 2> /dev/null; expect_eq "-q -s" $? 2
"$tlsmap" "btree:$dir/t" 2> /dev/null; expect_eq "other type" $? 2
# A type Postfix compiles to another format: the fix, not a bare error.
for type in hash btree cdb; do
	"$tlsmap" "$type:$dir/t" 2> "$dir/err"; expect_eq "$type: status" $? 2
	want="tlsmap: unsupported table type \"$type\": compile it with \"tlsmap lmdb:$dir/t\" and write \"lmdb:$dir/t\" in smtp_tls_policy_maps"
	expect_eq "$type: advice" "$(cat "$dir/err")" "$want"
done
"$tlsmap" -q x "hash:$dir/t" 2> "$dir/err"; expect_eq "-q hash: status" $? 2
grep -qF "compile it with \"tlsmap lmdb:$dir/t\"" "$dir/err" && ok || fail "-q hash: advice: $(cat "$dir/err")"
"$tlsmap" "texthash:$dir/t" 2> "$dir/err"; expect_eq "texthash: status" $? 2
grep -qF "texthash:$dir/t needs no compiling" "$dir/err" && ok || fail "texthash: advice: $(cat "$dir/err")"
"$tlsmap" "pcre:$dir/t" 2> "$dir/err"; expect_eq "pcre: status" $? 2
grep -qF 'unsupported table type "pcre": only lmdb: is supported' "$dir/err" && ok || fail "pcre: $(cat "$dir/err")"
"$tlsmap" "$dir/t" "$dir/t" 2> /dev/null; expect_eq "two tables" $? 2
"$tlsmap" 2>&1 | grep -q '^usage: tlsmap' && ok || fail "no usage text"

echo "tlsmap-cli: $checks checks passed, $failures failed"
[ "$failures" -eq 0 ]
