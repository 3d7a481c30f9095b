/*
 * test_tlsa.c - cmocka units for tlsa.c and dane_plan(): TLSA answers
 * built byte by byte (AD bit and whether it is believed, RCODEs, TC,
 * question checks, foreign owners, types and classes, CNAMEs, RDLENGTH 0,
 * 1, 2 and 65535, duplicates, the record cap, overruns), which records
 * are usable, and the level each DNSSEC state leads to.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tlsa.h"
#include "dane.h"
#include "dns_msg.h"

#define QNAME "_25._tcp.mx.example.test"

/* A growing DNS message. */
struct msg {
	uint8_t *b;
	size_t len;
	size_t cap;
	unsigned ancount;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->b = realloc(m->b, m->cap);
		assert_non_null(m->b);
	}
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put16(struct msg *m, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(m, b, 2);
}

static void
put_name(struct msg *m, const char *name)
{
	const char *p = name, *dot;
	uint8_t n;

	while (*p != 0) {
		dot = strchr(p, '.');
		n = (uint8_t)(dot != NULL ? (size_t)(dot - p) : strlen(p));
		put(m, &n, 1);
		put(m, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	n = 0;
	put(m, &n, 1);
}

/* Header with flags byte 3 (RA, AD, RCODE) and the question. */
static void
begin(struct msg *m, const char *qname, unsigned qtype, int ad, unsigned rcode, int tc)
{
	uint8_t h[12] = { 0x12, 0x34, (uint8_t)(0x81 | (tc ? 0x02 : 0)),
		(uint8_t)(0x80 | (ad ? 0x20 : 0) | rcode), 0, 1, 0, 0, 0, 0, 0, 0 };

	memset(m, 0, sizeof(*m));
	put(m, h, sizeof(h));
	put_name(m, qname);
	put16(m, qtype);
	put16(m, DNS_CLASS_IN);
}

static void
rr(struct msg *m, const char *owner, unsigned type, unsigned rclass, const void *rdata,
    size_t rdlen)
{
	put_name(m, owner);
	put16(m, type);
	put16(m, rclass);
	put16(m, 0);
	put16(m, 60);
	put16(m, (unsigned)rdlen);
	put(m, rdata, rdlen);
	m->ancount++;
	m->b[6] = (uint8_t)(m->ancount >> 8);
	m->b[7] = (uint8_t)m->ancount;
}

/* A TLSA record: usage, selector, mtype, then n bytes of value fill. */
static void
tlsa(struct msg *m, const char *owner, unsigned u, unsigned s, unsigned t, size_t n, int fill)
{
	uint8_t *rd = malloc(n + 3);

	assert_non_null(rd);
	rd[0] = (uint8_t)u;
	rd[1] = (uint8_t)s;
	rd[2] = (uint8_t)t;
	memset(rd + 3, fill, n);
	rr(m, owner, DNS_TYPE_TLSA, DNS_CLASS_IN, rd, n + 3);
	free(rd);
}

static enum tlsa_status
parse(struct msg *m, int ad_trusted, struct tlsa_set *set)
{
	memset(set, 0, sizeof(*set));
	return tlsa_parse_answer(m->b, m->len, QNAME, ad_trusted, set);
}

static void
usable_parameters(void **state)
{
	(void)state;
	assert_true(tlsa_usable(3, 1, 1, 32));
	assert_true(tlsa_usable(3, 0, 1, 32));
	assert_true(tlsa_usable(2, 0, 2, 64));
	assert_true(tlsa_usable(2, 1, 0, 1));
	assert_false(tlsa_usable(3, 1, 1, 31)); /* digest one byte short */
	assert_false(tlsa_usable(3, 1, 1, 33));
	assert_false(tlsa_usable(3, 1, 2, 32));
	assert_false(tlsa_usable(3, 1, 0, 0));	/* empty data */
	assert_false(tlsa_usable(0, 0, 1, 32)); /* PKIX-TA */
	assert_false(tlsa_usable(1, 0, 1, 32)); /* PKIX-EE */
	assert_false(tlsa_usable(4, 0, 1, 32));
	assert_false(tlsa_usable(255, 0, 1, 32));
	assert_false(tlsa_usable(3, 2, 1, 32)); /* selector 2 */
	assert_false(tlsa_usable(3, 1, 3, 32)); /* matching type 3 */
	assert_false(tlsa_usable(3, 1, 255, 32));
}

static void
secure_answer_with_mixed_records(void **state)
{
	struct msg m;
	struct tlsa_set set;
	char text[200];

	(void)state;
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	tlsa(&m, QNAME, 3, 1, 1, 32, 0xab);
	tlsa(&m, QNAME, 2, 0, 1, 31, 0x01); /* short digest: unusable */
	tlsa(&m, QNAME, 1, 1, 1, 32, 0x02); /* PKIX-EE: unusable */
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	assert_int_equal(set.count, 3);
	assert_int_equal(set.usable, 1);
	assert_true(set.rr[0].usable);
	assert_int_equal(set.rr[0].usage, 3);
	assert_int_equal(set.rr[0].len, 32);
	assert_int_equal(set.rr[0].data[31], 0xab);
	assert_false(set.rr[1].usable);
	assert_false(set.rr[2].usable);
	assert_string_equal(set.owner, QNAME);
	tlsa_format(&set.rr[0], text, sizeof(text));
	assert_int_equal(strncmp(text, "3 1 1 abab", 10), 0);
	assert_int_equal(strlen(text), 6 + 64);
	tlsa_format(&set.rr[0], text, 12);
	assert_string_equal(text, "3 1 1 abab");
	tlsa_set_free(&set);
	free(m.b);
}

static void
ad_bit_decides(void **state)
{
	struct msg m;
	struct tlsa_set set;

	(void)state;
	begin(&m, QNAME, DNS_TYPE_TLSA, 0, DNS_RCODE_NOERROR, 0);
	tlsa(&m, QNAME, 3, 1, 1, 32, 0xab);
	assert_int_equal(parse(&m, 1, &set), TLSA_INSECURE);
	assert_int_equal(set.count, 0);
	free(m.b);

	/* AD set by a resolver we may not believe. */
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	tlsa(&m, QNAME, 3, 1, 1, 32, 0xab);
	assert_int_equal(parse(&m, 0, &set), TLSA_INSECURE);
	assert_int_equal(set.count, 0);
	free(m.b);
}

static void
denial_and_errors(void **state)
{
	struct msg m;
	struct tlsa_set set;

	(void)state;
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NXDOMAIN, 0);
	assert_int_equal(parse(&m, 1, &set), TLSA_NONE);
	free(m.b);
	begin(&m, QNAME, DNS_TYPE_TLSA, 0, DNS_RCODE_NXDOMAIN, 0);
	assert_int_equal(parse(&m, 1, &set), TLSA_INSECURE);
	free(m.b);
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	assert_int_equal(parse(&m, 1, &set), TLSA_NONE); /* NODATA */
	free(m.b);
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_SERVFAIL, 0);
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	free(m.b);
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_REFUSED, 0);
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	free(m.b);
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 1); /* TC */
	tlsa(&m, QNAME, 3, 1, 1, 32, 0xab);
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	assert_int_equal(set.count, 0);
	free(m.b);
	/* Answers to another question. */
	begin(&m, "_25._tcp.other.test", DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	tlsa(&m, "_25._tcp.other.test", 3, 1, 1, 32, 0xab);
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	free(m.b);
	begin(&m, QNAME, DNS_TYPE_A, 1, DNS_RCODE_NOERROR, 0);
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	free(m.b);
	/* Too short for a header. */
	assert_int_equal(tlsa_parse_answer((const uint8_t *)"\x12\x34", 2, QNAME, 1, &set),
	    TLSA_ERROR);
}

static void
foreign_records_ignored(void **state)
{
	struct msg m;
	struct tlsa_set set;
	uint8_t a[4] = { 127, 0, 0, 1 };

	(void)state;
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	tlsa(&m, "_25._tcp.evil.test", 3, 1, 1, 32, 0x11); /* other owner */
	rr(&m, QNAME, DNS_TYPE_A, DNS_CLASS_IN, a, 4);	   /* other type */
	{
		uint8_t rd[35] = { 3, 1, 1 };

		rr(&m, QNAME, DNS_TYPE_TLSA, 3, rd, sizeof(rd)); /* class CH */
	}
	assert_int_equal(parse(&m, 1, &set), TLSA_NONE);
	assert_int_equal(set.count, 0);
	tlsa(&m, "_25._TCP.MX.Example.TEST", 3, 1, 1, 32, 0x22); /* case differs */
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	assert_int_equal(set.count, 1);
	assert_int_equal(set.rr[0].data[0], 0x22);
	tlsa_set_free(&set);
	free(m.b);
}

static void
rdlength_edges(void **state)
{
	struct msg m;
	struct tlsa_set set;
	uint8_t rd[2] = { 3, 1 };

	(void)state;
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	rr(&m, QNAME, DNS_TYPE_TLSA, DNS_CLASS_IN, rd, 0);
	rr(&m, QNAME, DNS_TYPE_TLSA, DNS_CLASS_IN, rd, 1);
	rr(&m, QNAME, DNS_TYPE_TLSA, DNS_CLASS_IN, rd, 2);
	tlsa(&m, QNAME, 3, 1, 1, 0, 0); /* RDLENGTH 3: no data */
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	/* The three short records are one and the same unusable record. */
	assert_int_equal(set.count, 2);
	assert_int_equal(set.usable, 0);
	assert_int_equal(set.rr[0].usage, 255);
	assert_null(set.rr[1].data);
	tlsa_set_free(&set);
	free(m.b);

	/* RDLENGTH 65535: a full certificate-sized value. */
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	tlsa(&m, QNAME, 3, 0, 0, 65532, 0x5a);
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	assert_int_equal(set.count, 1);
	assert_int_equal(set.usable, 1);
	assert_int_equal(set.rr[0].len, 65532);
	assert_int_equal(set.rr[0].data[65531], 0x5a);
	tlsa_set_free(&set);

	/* Cut the message one byte short: the record overruns it. */
	m.len--;
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	assert_int_equal(set.count, 0);
	free(m.b);
}

static void
duplicates_and_cap(void **state)
{
	struct msg m;
	struct tlsa_set set;

	(void)state;
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	for (int i = 0; i < 5; i++)
		tlsa(&m, QNAME, 3, 1, 1, 32, 0x33);
	tlsa(&m, QNAME, 3, 0, 1, 32, 0x33); /* differs in the selector */
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	assert_int_equal(set.count, 2);
	tlsa_set_free(&set);
	free(m.b);

	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	for (int i = 0; i < 1000; i++) {
		uint8_t rd[35] = { 3, 1, 1 };

		rd[3] = (uint8_t)(i >> 8);
		rd[4] = (uint8_t)i;
		rr(&m, QNAME, DNS_TYPE_TLSA, DNS_CLASS_IN, rd, sizeof(rd));
	}
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	assert_int_equal(set.count, TLSA_RECORDS_MAX);
	assert_int_equal(set.usable, TLSA_RECORDS_MAX);
	tlsa_set_free(&set);
	free(m.b);
}

static void
cname_followed(void **state)
{
	struct msg m;
	struct tlsa_set set;
	struct msg target;

	(void)state;
	memset(&target, 0, sizeof(target));
	put_name(&target, "_25._tcp.mx.other.test");
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	tlsa(&m, QNAME, 3, 1, 1, 32, 0x44); /* beside a CNAME: not the owner */
	rr(&m, QNAME, DNS_TYPE_CNAME, DNS_CLASS_IN, target.b, target.len);
	tlsa(&m, "_25._tcp.mx.other.test", 2, 0, 1, 32, 0x55);
	assert_int_equal(parse(&m, 1, &set), TLSA_FOUND);
	assert_string_equal(set.owner, "_25._tcp.mx.other.test");
	assert_int_equal(set.count, 1);
	assert_int_equal(set.rr[0].usage, 2);
	tlsa_set_free(&set);
	free(m.b);
	free(target.b);

	/* A CNAME whose RDATA is not a name is a malformed answer. */
	begin(&m, QNAME, DNS_TYPE_TLSA, 1, DNS_RCODE_NOERROR, 0);
	rr(&m, QNAME, DNS_TYPE_CNAME, DNS_CLASS_IN,
	    "\x05"
	    "ab",
	    3);
	assert_int_equal(parse(&m, 1, &set), TLSA_ERROR);
	free(m.b);
}

static void
plan(enum tls_level configured, int secure, enum tlsa_status st, size_t usable,
    enum dane_plan_result want, enum tls_level want_level, const char *want_reason)
{
	struct tlsa_set set;
	enum tls_level level = TLS_LEVEL_INVALID;
	char dsn[16], reason[256];

	memset(&set, 0, sizeof(set));
	set.status = st;
	set.count = st == TLSA_FOUND ? usable + 1 : 0;
	set.usable = usable;
	assert_int_equal(dane_plan(configured, secure, &set, "mx.example.test", 25, &level, dsn,
			     sizeof(dsn), reason, sizeof(reason)),
	    want);
	if (want == DANE_PLAN_OK) {
		assert_int_equal(level, want_level);
	} else {
		assert_string_equal(dsn, "4.7.5");
		assert_string_equal(reason, want_reason);
	}
}

static void
plan_matrix(void **state)
{
	(void)state;
	plan(TLS_LEVEL_DANE, 0, TLSA_PENDING, 0, DANE_PLAN_OK, TLS_LEVEL_MAY, NULL);
	plan(TLS_LEVEL_DANE, 1, TLSA_NONE, 0, DANE_PLAN_OK, TLS_LEVEL_MAY, NULL);
	plan(TLS_LEVEL_DANE, 1, TLSA_INSECURE, 0, DANE_PLAN_OK, TLS_LEVEL_MAY, NULL);
	plan(TLS_LEVEL_DANE, 1, TLSA_FOUND, 0, DANE_PLAN_OK, TLS_LEVEL_ENCRYPT, NULL);
	plan(TLS_LEVEL_DANE, 1, TLSA_FOUND, 2, DANE_PLAN_OK, TLS_LEVEL_DANE, NULL);
	plan(TLS_LEVEL_DANE, 1, TLSA_ERROR, 0, DANE_PLAN_DEFER, TLS_LEVEL_INVALID,
	    "TLSA lookup error for mx.example.test:25");
	plan(TLS_LEVEL_DANE_ONLY, 0, TLSA_PENDING, 0, DANE_PLAN_DEFER, TLS_LEVEL_INVALID,
	    "non DNSSEC destination");
	plan(TLS_LEVEL_DANE_ONLY, 1, TLSA_NONE, 0, DANE_PLAN_DEFER, TLS_LEVEL_INVALID,
	    "no TLSA records found");
	plan(TLS_LEVEL_DANE_ONLY, 1, TLSA_INSECURE, 0, DANE_PLAN_DEFER, TLS_LEVEL_INVALID,
	    "no TLSA records found");
	plan(TLS_LEVEL_DANE_ONLY, 1, TLSA_FOUND, 0, DANE_PLAN_DEFER, TLS_LEVEL_INVALID,
	    "TLSA records unusable");
	plan(TLS_LEVEL_DANE_ONLY, 1, TLSA_FOUND, 1, DANE_PLAN_OK, TLS_LEVEL_DANE, NULL);
	plan(TLS_LEVEL_DANE_ONLY, 1, TLSA_ERROR, 0, DANE_PLAN_DEFER, TLS_LEVEL_INVALID,
	    "TLSA lookup error for mx.example.test:25");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(usable_parameters),
		cmocka_unit_test(secure_answer_with_mixed_records),
		cmocka_unit_test(ad_bit_decides),
		cmocka_unit_test(denial_and_errors),
		cmocka_unit_test(foreign_records_ignored),
		cmocka_unit_test(rdlength_edges),
		cmocka_unit_test(duplicates_and_cap),
		cmocka_unit_test(cname_followed),
		cmocka_unit_test(plan_matrix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
