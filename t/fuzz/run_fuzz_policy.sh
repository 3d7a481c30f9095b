#!/bin/sh
# Replay the policy seed corpus through the fuzz_policy target (standalone or
# libFuzzer build: both run each file named on the command line once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_policy" "$top_srcdir"/t/fuzz/corpus/policy/*
