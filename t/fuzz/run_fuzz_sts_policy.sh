#!/bin/sh
# Replay the MTA-STS policy seed corpus through the fuzz_sts_policy target
# (standalone or libFuzzer build: both run each file named once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_sts_policy" "$top_srcdir"/t/fuzz/corpus/sts_policy/*
