#!/bin/sh
# Replay the SASL challenge seed corpus through the fuzz_sasl target
# (standalone or libFuzzer build: both run each file named once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_sasl" "$top_srcdir"/t/fuzz/corpus/sasl/*
