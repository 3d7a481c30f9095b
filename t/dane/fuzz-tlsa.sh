#!/bin/sh
# fuzz-tlsa.sh - replay the TLSA seed corpus through the fuzz target.
: "${top_srcdir:?}" "${top_builddir:?}"
set -e
exec "$top_builddir/t/fuzz/fuzz_tlsa" "$top_srcdir"/t/fuzz/corpus/tlsa/*
