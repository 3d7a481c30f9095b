#!/bin/sh
# Replay the nexthop seed corpus through the fuzz_nexthop target (standalone or
# libFuzzer build: both run each file named on the command line once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_nexthop" "$top_srcdir"/t/fuzz/corpus/nexthop/*
