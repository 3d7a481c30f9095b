/*
 * fuzz_tlsa.c - libFuzzer target for tlsa_parse_answer().
 *
 * The input is a DNS answer.  It is parsed twice, for the name in its own
 * question (so that the owner, CNAME and record paths are reached) with
 * the AD bit believed and not believed, and the result's invariants are
 * checked: bounded count, usable records counted right and really usable,
 * nothing kept unless the answer was validated, every record printable.
 * Seed corpus: t/fuzz/corpus/tlsa/.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"
#include "tlsa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct tlsa_set *set, int ad_trusted)
{
	size_t usable = 0;
	char text[300];

	if (set->count > TLSA_RECORDS_MAX || set->usable > set->count)
		abort();
	if (set->status != TLSA_FOUND && set->count != 0)
		abort();
	if (set->status == TLSA_FOUND && (set->count == 0 || !ad_trusted))
		abort();
	for (size_t i = 0; i < set->count; i++) {
		const struct tlsa_rr *rr = &set->rr[i];

		if (rr->usable != tlsa_usable(rr->usage, rr->selector, rr->mtype, rr->len))
			abort();
		if ((rr->len == 0) != (rr->data == NULL))
			abort();
		usable += rr->usable != 0;
		tlsa_format(rr, text, sizeof(text));
		if (strlen(text) >= sizeof(text))
			abort();
	}
	if (usable != set->usable)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg_iter it;
	struct dns_msg_header h;
	char qname[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass;
	static struct tlsa_set set;

	if (dns_msg_begin(&it, data, size, &h, qname, &qtype, &qclass) != 0)
		strcpy(qname, "_25._tcp.mx.example.test");
	for (int ad = 0; ad <= 1; ad++) {
		memset(&set, 0, sizeof(set));
		tlsa_parse_answer(data, size, qname, ad, &set);
		check(&set, ad);
		tlsa_set_free(&set);
	}
	return 0;
}
