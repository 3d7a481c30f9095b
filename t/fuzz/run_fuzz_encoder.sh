#!/bin/sh
# Replay the encoder seed corpus through the fuzz_encoder target (standalone
# or libFuzzer build: both run each file named on the command line once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_encoder" "$top_srcdir"/t/fuzz/corpus/encoder/*
