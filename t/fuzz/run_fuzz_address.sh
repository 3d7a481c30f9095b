#!/bin/sh
# Replay the address seed corpus through the fuzz_address target (standalone
# or libFuzzer build: both run each file named on the command line once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_address" "$top_srcdir"/t/fuzz/corpus/address/*
