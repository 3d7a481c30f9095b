#!/bin/sh
# Replay the source-table seed corpus through the fuzz_table_source target
# (standalone or libFuzzer build: both run each file named once).
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
exec "$top_builddir/t/fuzz/fuzz_table_source" "$top_srcdir"/t/fuzz/corpus/table_source/*
