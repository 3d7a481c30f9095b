/*
 * fuzz_dns_msg.c - libFuzzer target for dns_msg.c.
 *
 * The input is treated as a DNS answer: header, question, every answer
 * record, MX RDATA, a name read from every offset; the decoded text must
 * always be printable, and a query built from the input read as a name
 * must parse back.  Seed corpus: t/fuzz/corpus/dns_msg/.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_printable(const char *text)
{
	for (; *text != 0; text++)
		if (*text <= 0x20 || *text >= 0x7f)
			abort();
}

static void
walk_answer(const uint8_t *data, size_t size)
{
	struct dns_msg_iter it;
	struct dns_msg_header h;
	struct dns_msg_rr rr;
	char qname[DNS_MSG_NAME_TEXT_MAX];
	char target[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass, pref;

	if (dns_msg_begin(&it, data, size, &h, qname, &qtype, &qclass) != 0)
		return;
	check_printable(qname);
	while (dns_msg_next(&it, &rr) == 1) {
		check_printable(rr.owner);
		if (rr.rdata + rr.rdlen > size)
			abort();
		if (dns_msg_rdata_mx(&it, &rr, &pref, target) == 0) {
			check_printable(target);
			(void)dns_msg_valid_hostname(target);
		}
	}
}

static void
names_everywhere(const uint8_t *data, size_t size)
{
	char text[DNS_MSG_NAME_TEXT_MAX];
	size_t start, off;

	for (start = 0; start < size && start < 512; start++) {
		off = start;
		if (dns_msg_read_name(data, size, &off, text, sizeof(text)) == 0) {
			check_printable(text);
			if (off <= start || off > size)
				abort();
		}
	}
}

static void
query_round_trip(const uint8_t *data, size_t size)
{
	char name[300];
	uint8_t q[DNS_MSG_QUERY_MAX];
	size_t qlen;
	struct dns_msg_iter it;
	struct dns_msg_header h;
	char qname[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass;

	if (size >= sizeof(name))
		return;
	memcpy(name, data, size);
	name[size] = 0;
	if (dns_msg_build_query(name, DNS_TYPE_A, 1232, q, sizeof(q), &qlen) != 0)
		return;
	if (!dns_msg_valid_hostname(name))
		abort();
	if (dns_msg_begin(&it, q, qlen, &h, qname, &qtype, &qclass) != 0 || qtype != DNS_TYPE_A
	    || !h.rd || !h.ad || h.arcount != 1)
		abort();
	if (strncmp(qname, name, strlen(qname)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk_answer(data, size);
	names_everywhere(data, size);
	query_round_trip(data, size);
	return 0;
}
