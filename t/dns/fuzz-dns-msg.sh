#!/bin/sh
# fuzz-dns-msg.sh - replay the dns_msg seed corpus through the fuzz target
# (files one by one, which both standalone.c and libFuzzer only execute).
: "${top_srcdir:?}" "${top_builddir:?}"
set -e
exec "$top_builddir/t/fuzz/fuzz_dns_msg" "$top_srcdir"/t/fuzz/corpus/dns_msg/*
