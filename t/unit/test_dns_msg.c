/*
 * test_dns_msg.c - cmocka units for dns_msg.c: the query we send (RD, AD,
 * EDNS0 with DO), header flags, name decoding with compression, and the
 * refusal of hostile names (loops, forward pointers, long labels and
 * names, truncation), MX RDATA bounds and host name validation.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dns_msg.h"

static void
query_has_rd_ad_and_do(void **state)
{
	uint8_t buf[DNS_MSG_QUERY_MAX];
	size_t len;
	struct dns_msg_header h;
	static const uint8_t qname[] = "\x02mx\x07"
				       "example\x04test";

	(void)state;
	assert_int_equal(dns_msg_build_query("mx.example.test.", DNS_TYPE_MX, 1232, buf,
			     sizeof(buf), &len),
	    0);
	assert_int_equal(dns_msg_read_header(buf, len, &h), 0);
	assert_int_equal(h.rd, 1);
	assert_int_equal(h.ad, 1);
	assert_int_equal(h.qr, 0);
	assert_int_equal(h.qdcount, 1);
	assert_int_equal(h.arcount, 1);
	assert_memory_equal(buf + 12, qname, sizeof(qname)); /* includes the root */
	/* question type and class, then the OPT record with DO */
	assert_int_equal(buf[12 + sizeof(qname)], 0);
	assert_int_equal(buf[12 + sizeof(qname) + 1], DNS_TYPE_MX);
	assert_int_equal(len, 12 + sizeof(qname) + 4 + 11);
	assert_int_equal(buf[len - 10], 0);
	assert_int_equal(buf[len - 9], DNS_TYPE_OPT);
	assert_int_equal((buf[len - 8] << 8) | buf[len - 7], 1232);
	assert_int_equal(buf[len - 4], 0x80);

	assert_int_equal(dns_msg_build_query("bad name.test", DNS_TYPE_A, 1232, buf, sizeof(buf),
			     &len),
	    -1);
	assert_int_equal(dns_msg_build_query("ok.test", DNS_TYPE_A, 1232, buf, 20, &len), -1);
}

static void
header_flags(void **state)
{
	uint8_t m[12] = { 0x12, 0x34, 0x83, 0xa3, 0, 1, 0, 2, 0, 3, 0, 4 };
	struct dns_msg_header h;

	(void)state;
	assert_int_equal(dns_msg_read_header(m, sizeof(m), &h), 0);
	assert_int_equal(h.id, 0x1234);
	assert_int_equal(h.qr, 1);
	assert_int_equal(h.tc, 1);
	assert_int_equal(h.rd, 1);
	assert_int_equal(h.ra, 1);
	assert_int_equal(h.ad, 1);
	assert_int_equal(h.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(h.ancount, 2);
	assert_int_equal(h.arcount, 4);
	assert_int_equal(dns_msg_read_header(m, 11, &h), -1);
}

static void
names_with_compression(void **state)
{
	/* offset 12: a.test ; offset 20: "mx" + pointer to 12 */
	uint8_t m[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 4, 't', 'e', 's', 't', 0, 2,
		'm', 'x', 0xc0, 12 };
	char text[DNS_MSG_NAME_TEXT_MAX];
	size_t off = 20;

	(void)state;
	assert_int_equal(dns_msg_read_name(m, sizeof(m), &off, text, sizeof(text)), 0);
	assert_string_equal(text, "mx.a.test");
	assert_int_equal(off, sizeof(m));
	off = 19;
	assert_int_equal(dns_msg_read_name(m, sizeof(m), &off, text, sizeof(text)), 0);
	assert_string_equal(text, "");
	assert_int_equal(off, 20);
}

static void
hostile_names_refused(void **state)
{
	char text[DNS_MSG_NAME_TEXT_MAX];
	uint8_t loop[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 12 };
	uint8_t forward[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 14, 1, 'a', 0 };
	uint8_t twostep[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 16, 0xc0, 12 };
	uint8_t reserved[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0 };
	uint8_t truncated[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a', 'b' };
	uint8_t unterminated[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a' };
	uint8_t big[12 + 300];
	size_t off, i;

	(void)state;
	off = 12;
	assert_int_equal(dns_msg_read_name(loop, sizeof(loop), &off, text, sizeof(text)), -1);
	off = 12;
	assert_int_equal(dns_msg_read_name(forward, sizeof(forward), &off, text, sizeof(text)), -1);
	off = 16;
	assert_int_equal(dns_msg_read_name(twostep, sizeof(twostep), &off, text, sizeof(text)), -1);
	off = 12;
	assert_int_equal(dns_msg_read_name(reserved, sizeof(reserved), &off, text, sizeof(text)),
	    -1);
	off = 12;
	assert_int_equal(dns_msg_read_name(truncated, sizeof(truncated), &off, text, sizeof(text)),
	    -1);
	off = 12;
	assert_int_equal(dns_msg_read_name(unterminated, sizeof(unterminated), &off, text,
			     sizeof(text)),
	    -1);

	/* A 64-byte label: the length octet itself is a reserved type (0x40). */
	memset(big, 0, sizeof(big));
	big[12] = 64;
	memset(big + 13, 'a', 64);
	off = 12;
	assert_int_equal(dns_msg_read_name(big, sizeof(big), &off, text, sizeof(text)), -1);

	/* Four labels of 63 and the root: 257 wire bytes, over the limit. */
	memset(big, 0, sizeof(big));
	for (i = 0; i < 4; i++) {
		big[12 + i * 64] = 63;
		memset(big + 13 + i * 64, 'b', 63);
	}
	off = 12;
	assert_int_equal(dns_msg_read_name(big, 12 + 4 * 64 + 1, &off, text, sizeof(text)), -1);
	/* Three labels of 63 (193 bytes) are fine. */
	big[12 + 3 * 64] = 0;
	off = 12;
	assert_int_equal(dns_msg_read_name(big, sizeof(big), &off, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), 3 * 63 + 2);
	/* And a text buffer that is too small is an error, not a truncation. */
	off = 12;
	assert_int_equal(dns_msg_read_name(big, sizeof(big), &off, text, 100), -1);
}

static void
unsafe_bytes_escaped(void **state)
{
	uint8_t m[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a', '.', 'b', 0, '\n', 4, 't', 'e',
		's', 't', 0 };
	char text[DNS_MSG_NAME_TEXT_MAX];
	size_t off = 12;

	(void)state;
	assert_int_equal(dns_msg_read_name(m, sizeof(m), &off, text, sizeof(text)), 0);
	assert_string_equal(text, "a\\046b\\000\\010.test");
	assert_int_equal(dns_msg_valid_hostname(text), 0);
}

static void
answer_walk_and_mx(void **state)
{
	uint8_t m[] = {
		0,
		1,
		0x81,
		0x80,
		0,
		1,
		0,
		2,
		0,
		0,
		0,
		0,
		/* question: a.test MX IN (offset 12) */
		1,
		'a',
		4,
		't',
		'e',
		's',
		't',
		0,
		0,
		15,
		0,
		1,
		/* answer 1: ptr MX IN ttl rdlen=7 pref=10 "mx" ptr */
		0xc0,
		12,
		0,
		15,
		0,
		1,
		0,
		0,
		1,
		0,
		0,
		7,
		0,
		10,
		2,
		'm',
		'x',
		0xc0,
		12,
		/* answer 2: rdlen claims 9 but the name ends after 7 */
		0xc0,
		12,
		0,
		15,
		0,
		1,
		0,
		0,
		1,
		0,
		0,
		9,
		0,
		20,
		2,
		'm',
		'y',
		0xc0,
		12,
		0,
		0,
	};
	struct dns_msg_iter it;
	struct dns_msg_header h;
	struct dns_msg_rr rr;
	char qname[DNS_MSG_NAME_TEXT_MAX];
	char target[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass, pref;

	(void)state;
	assert_int_equal(dns_msg_begin(&it, m, sizeof(m), &h, qname, &qtype, &qclass), 0);
	assert_string_equal(qname, "a.test");
	assert_int_equal(qtype, DNS_TYPE_MX);
	assert_int_equal(dns_msg_next(&it, &rr), 1);
	assert_string_equal(rr.owner, "a.test");
	assert_int_equal(rr.ttl, 256);
	assert_int_equal(dns_msg_rdata_mx(&it, &rr, &pref, target), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(target, "mx.a.test");
	assert_int_equal(dns_msg_next(&it, &rr), 1);
	assert_int_equal(dns_msg_rdata_mx(&it, &rr, &pref, target), -1);
	assert_int_equal(dns_msg_next(&it, &rr), 0);

	/* A lying ANCOUNT runs out of message. */
	m[7] = 3;
	assert_int_equal(dns_msg_begin(&it, m, sizeof(m), &h, qname, &qtype, &qclass), 0);
	assert_int_equal(dns_msg_next(&it, &rr), 1);
	assert_int_equal(dns_msg_next(&it, &rr), 1);
	assert_int_equal(dns_msg_next(&it, &rr), -1);
	/* An RDLENGTH past the end. */
	m[7] = 2;
	assert_int_equal(dns_msg_begin(&it, m, sizeof(m) - 3, &h, qname, &qtype, &qclass), 0);
	assert_int_equal(dns_msg_next(&it, &rr), 1);
	assert_int_equal(dns_msg_next(&it, &rr), -1);
	/* No question, or two. */
	m[5] = 0;
	assert_int_equal(dns_msg_begin(&it, m, sizeof(m), &h, qname, &qtype, &qclass), -1);
	m[5] = 2;
	assert_int_equal(dns_msg_begin(&it, m, sizeof(m), &h, qname, &qtype, &qclass), -1);
}

static void
hostname_validity(void **state)
{
	char longname[300];
	char label64[80];

	(void)state;
	assert_int_equal(dns_msg_valid_hostname("mx.example.test"), 1);
	assert_int_equal(dns_msg_valid_hostname("mx.example.test."), 1);
	assert_int_equal(dns_msg_valid_hostname("_25._tcp.mx.test"), 1);
	assert_int_equal(dns_msg_valid_hostname("xn--bcher-kva.test"), 1);
	assert_int_equal(dns_msg_valid_hostname(""), 0);
	assert_int_equal(dns_msg_valid_hostname("."), 0);
	assert_int_equal(dns_msg_valid_hostname("a..b"), 0);
	assert_int_equal(dns_msg_valid_hostname(".a.b"), 0);
	assert_int_equal(dns_msg_valid_hostname("a.b.."), 0);
	assert_int_equal(dns_msg_valid_hostname("-a.test"), 0);
	assert_int_equal(dns_msg_valid_hostname("a-.test"), 0);
	assert_int_equal(dns_msg_valid_hostname("a b.test"), 0);
	assert_int_equal(dns_msg_valid_hostname("a\\032b.test"), 0);
	assert_int_equal(dns_msg_valid_hostname("a\r\n.test"), 0);
	assert_int_equal(dns_msg_valid_hostname("192.0.2.1"), 0);
	assert_int_equal(dns_msg_valid_hostname("host.123"), 0);
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".test");
	assert_int_equal(dns_msg_valid_hostname(label64), 0);
	strcpy(label64 + 63, ".test");
	assert_int_equal(dns_msg_valid_hostname(label64 + 0), 1);
	memset(longname, 0, sizeof(longname));
	for (int i = 0; i < 254; i++)
		longname[i] = (i % 10 == 9) ? '.' : 'a';
	longname[253] = 'a';
	assert_int_equal(dns_msg_valid_hostname(longname), 0);
	longname[253] = 0;
	assert_int_equal(dns_msg_valid_hostname(longname), 1);
}

/* Append a wire name for dotted text (no compression) at m[*n]. */
static void
put_name(uint8_t *m, size_t *n, const char *text)
{
	const char *p = text, *dot;

	while (*p != '\0') {
		dot = strchr(p, '.');
		size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);

		m[(*n)++] = (uint8_t)l;
		memcpy(m + *n, p, l);
		*n += l;
		p += l;
		if (*p == '.')
			p++;
	}
	m[(*n)++] = 0;
}

/* Append one CNAME answer; extra bytes after the target when pad != 0. */
static void
put_cname(uint8_t *m, size_t *n, const char *owner, const char *target, int pad)
{
	size_t rdlen_at, start;

	put_name(m, n, owner);
	memcpy(m + *n, "\0\5\0\1\0\0\0\x3c", 8);
	*n += 8;
	rdlen_at = *n;
	*n += 2;
	start = *n;
	put_name(m, n, target);
	if (pad)
		m[(*n)++] = 0;
	m[rdlen_at] = (uint8_t)((*n - start) >> 8);
	m[rdlen_at + 1] = (uint8_t)(*n - start);
}

/* A response for "a.test" type A whose answer section holds the CNAMEs given. */
static size_t
cname_answer(uint8_t *m, const char *const *links, size_t count, int pad_last)
{
	size_t n = 0;

	memcpy(m, "\x12\x34\x81\x80\0\1\0\0\0\0\0\0", 12);
	m[7] = (uint8_t)count;
	n = 12;
	put_name(m, &n, "a.test");
	memcpy(m + n, "\0\1\0\1", 4);
	n += 4;
	for (size_t i = 0; i < count; i++)
		put_cname(m, &n, links[2 * i], links[2 * i + 1], pad_last && i + 1 == count);
	return n;
}

static void
cname_chains(void **state)
{
	static const char *const chain[] = { "a.test", "b.test", "B.test", "c.test" };
	static const char *const loop[] = { "a.test", "b.test", "b.test", "a.test" };
	uint8_t m[512];
	char owner[DNS_MSG_NAME_TEXT_MAX];
	size_t n;

	(void)state;
	n = cname_answer(m, chain, 2, 0);
	assert_int_equal(dns_msg_follow_cnames(m, n, "a.test", 8, owner, sizeof(owner)), 0);
	assert_string_equal(owner, "c.test");
	/* The link limit stops the walk where it is. */
	assert_int_equal(dns_msg_follow_cnames(m, n, "a.test", 1, owner, sizeof(owner)), 0);
	assert_string_equal(owner, "b.test");
	/* No CNAME for the name: the name itself. */
	assert_int_equal(dns_msg_follow_cnames(m, n, "x.test", 8, owner, sizeof(owner)), 0);
	assert_string_equal(owner, "x.test");
	/* A loop ends at the link limit instead of running forever. */
	n = cname_answer(m, loop, 2, 0);
	assert_int_equal(dns_msg_follow_cnames(m, n, "a.test", 8, owner, sizeof(owner)), 0);
	/* A target that does not end where its RDATA ends is malformed. */
	n = cname_answer(m, chain, 2, 1);
	assert_int_equal(dns_msg_follow_cnames(m, n, "a.test", 8, owner, sizeof(owner)), -1);
	/* A truncated message is malformed. */
	n = cname_answer(m, chain, 2, 0);
	assert_int_equal(dns_msg_follow_cnames(m, n - 3, "a.test", 8, owner, sizeof(owner)), -1);
	/* An owner buffer too small is refused, never truncated. */
	n = cname_answer(m, chain, 2, 0);
	assert_int_equal(dns_msg_follow_cnames(m, n, "a.test", 8, owner, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_has_rd_ad_and_do),
		cmocka_unit_test(header_flags),
		cmocka_unit_test(names_with_compression),
		cmocka_unit_test(hostile_names_refused),
		cmocka_unit_test(unsafe_bytes_escaped),
		cmocka_unit_test(answer_walk_and_mx),
		cmocka_unit_test(hostname_validity),
		cmocka_unit_test(cname_chains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
