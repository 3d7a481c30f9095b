/*
 * tlsa.c - TLSA lookup and parsing for DANE (RFC 6698, RFC 7672).
 *
 * tlsa_parse_answer() reads one answer with the bounded dns_msg helpers:
 * the question must be ours, CNAMEs are followed from the query name
 * inside the answer, records for other owners, types or classes are
 * ignored, duplicates dropped and at most TLSA_RECORDS_MAX kept.  Only an
 * AD bit we may believe makes the answer count: a validated answer with
 * records is TLSA_FOUND, a validated NODATA or NXDOMAIN a secure denial
 * (TLSA_NONE), anything without AD is TLSA_INSECURE, and SERVFAIL,
 * truncation, a timeout or an unreadable answer is TLSA_ERROR, which the
 * caller must never treat as "no TLSA" (that would let an attacker who
 * blocks the lookup downgrade the session).
 *
 * tlsa_lookup() sends the queries with c-ares (dns_query) and waits for
 * them under the caller's deadline.  RFC 7672 2.2.3: when the host name is
 * a CNAME in a validated address answer, the TLSA records of the expanded
 * name are tried first, then those of the original name.
 *
 * Interface: tlsa.h.
 */
#include "config.h"

#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* dns */
#include "dns_msg.h"
#include "tlsa.h"

int
tlsa_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len)
{
	if (usage != TLSA_USAGE_DANE_TA && usage != TLSA_USAGE_DANE_EE)
		return 0;
	if (selector != TLSA_SELECTOR_CERT && selector != TLSA_SELECTOR_SPKI)
		return 0;
	switch (mtype) {
	case TLSA_MTYPE_FULL:
		return len > 0;
	case TLSA_MTYPE_SHA256:
		return len == 32;
	case TLSA_MTYPE_SHA512:
		return len == 64;
	default:
		return 0;
	}
}

void
tlsa_set_free(struct tlsa_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		free(set->rr[i].data);
	set->count = 0;
	set->usable = 0;
}

static void
set_error(struct tlsa_set *set, const char *why)
{
	tlsa_set_free(set);
	set->status = TLSA_ERROR;
	snprintf(set->why, sizeof(set->why), "%s", why);
}

static int
same_name(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* Add one record unless it is a duplicate or the set is full; -1 on ENOMEM. */
static int
add_record(struct tlsa_set *set, unsigned usage, unsigned selector, unsigned mtype,
    const uint8_t *data, size_t len)
{
	struct tlsa_rr *rr;

	for (size_t i = 0; i < set->count; i++) {
		rr = &set->rr[i];
		if (rr->usage == usage && rr->selector == selector && rr->mtype == mtype
		    && rr->len == len && (len == 0 || memcmp(rr->data, data, len) == 0))
			return 0;
	}
	if (set->count >= TLSA_RECORDS_MAX)
		return 0;
	rr = &set->rr[set->count];
	memset(rr, 0, sizeof(*rr));
	if (len > 0) {
		if ((rr->data = malloc(len)) == NULL)
			return -1;
		memcpy(rr->data, data, len);
	}
	rr->usage = (uint8_t)usage;
	rr->selector = (uint8_t)selector;
	rr->mtype = (uint8_t)mtype;
	rr->len = len;
	rr->usable = tlsa_usable(usage, selector, mtype, len);
	set->usable += rr->usable != 0;
	set->count++;
	return 0;
}

enum tlsa_status
tlsa_parse_answer(const uint8_t *msg, size_t len, const char *qname, int ad_trusted,
    struct tlsa_set *set)
{
	struct dns_msg_iter it;
	struct dns_msg_header h;
	struct dns_msg_rr rr;
	char q[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass;
	int ad, r;

	set->count = set->usable = 0;
	set->why[0] = 0;
	snprintf(set->owner, sizeof(set->owner), "%s", qname);
	if (dns_msg_begin(&it, msg, len, &h, q, &qtype, &qclass) != 0) {
		set_error(set, "malformed DNS answer");
		return set->status;
	}
	if (!h.qr || qtype != DNS_TYPE_TLSA || qclass != DNS_CLASS_IN || !same_name(q, qname)) {
		set_error(set, "DNS answer for another question");
		return set->status;
	}
	if (h.tc) {
		set_error(set, "truncated DNS answer");
		return set->status;
	}
	ad = ad_trusted && h.ad;
	if (h.rcode == DNS_RCODE_NXDOMAIN) {
		set->status = ad ? TLSA_NONE : TLSA_INSECURE;
		return set->status;
	}
	if (h.rcode != DNS_RCODE_NOERROR) {
		char why[64];

		snprintf(why, sizeof(why), "DNS answer with RCODE %u", h.rcode);
		set_error(set, why);
		return set->status;
	}
	if (dns_msg_follow_cnames(msg, len, q, TLSA_CNAME_MAX, set->owner, sizeof(set->owner))
	    != 0) {
		set_error(set, "malformed DNS answer");
		return set->status;
	}
	while ((r = dns_msg_next(&it, &rr)) == 1) {
		const uint8_t *rd = msg + rr.rdata;

		if (rr.type != DNS_TYPE_TLSA || rr.rclass != DNS_CLASS_IN
		    || !same_name(rr.owner, set->owner))
			continue;
		/* Fewer than three octets: present, but never usable. */
		if (rr.rdlen < 3)
			r = add_record(set, 255, 255, 255, NULL, 0);
		else
			r = add_record(set, rd[0], rd[1], rd[2], rd + 3, rr.rdlen - 3);
		if (r != 0) {
			set_error(set, "out of memory");
			return set->status;
		}
	}
	if (r < 0) {
		set_error(set, "malformed DNS answer");
		return set->status;
	}
	if (!ad) {
		/* Unvalidated records must not be used, not even for logging decisions. */
		tlsa_set_free(set);
		set->status = TLSA_INSECURE;
		return set->status;
	}
	set->status = set->count > 0 ? TLSA_FOUND : TLSA_NONE;
	return set->status;
}

/* ------------------------------------------------------------------------
 * Lookups through c-ares.
 */
struct tlsa_query {
	char qname[DNS_MSG_NAME_TEXT_MAX];
	int ad_trusted;
	struct tlsa_set *set;
};

static void
tlsa_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct tlsa_query *tq = arg;

	(void)timeouts;
	if (status != ARES_SUCCESS || abuf == NULL || alen <= 0) {
		set_error(tq->set,
		    status == ARES_ECANCELLED	   ? "DNS lookup timed out"
			: status == ARES_ETIMEOUT  ? "DNS lookup timed out"
			: status == ARES_ESERVFAIL ? "DNS server failure"
						   : ares_strerror(status));
		return;
	}
	tlsa_parse_answer(abuf, (size_t)alen, tq->qname, tq->ad_trusted, tq->set);
}

/* The address query's answer: the CNAME expansion of host, when validated. */
struct cname_query {
	const char *host;
	int ad_trusted;
	char expanded[DNS_MSG_NAME_TEXT_MAX]; /* "" when none */
};

static void
cname_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct cname_query *cq = arg;
	struct dns_msg_header h;
	char owner[DNS_MSG_NAME_TEXT_MAX];

	(void)timeouts;
	cq->expanded[0] = 0;
	if (status != ARES_SUCCESS || abuf == NULL || alen <= 0)
		return;
	if (dns_msg_read_header(abuf, (size_t)alen, &h) != 0 || !h.qr || h.tc
	    || h.rcode != DNS_RCODE_NOERROR || !(cq->ad_trusted && h.ad))
		return;
	if (dns_msg_follow_cnames(abuf, (size_t)alen, cq->host, TLSA_CNAME_MAX, owner,
		sizeof(owner))
	    != 0)
		return;
	if (!same_name(owner, cq->host) && dns_msg_valid_hostname(owner))
		snprintf(cq->expanded, sizeof(cq->expanded), "%s", owner);
}

static int
tlsa_qname(char *out, size_t outlen, unsigned port, const char *host)
{
	size_t n = strlen(host);

	while (n > 0 && host[n - 1] == '.')
		n--;
	return snprintf(out, outlen, "_%u._tcp.%.*s", port, (int)n, host) >= (int)outlen ? -1 : 0;
}

/* Start one TLSA query; a name we cannot query is an error result. */
static void
tlsa_start(struct dns_ctx *dns, struct tlsa_query *tq, struct tlsa_set *set, unsigned port,
    const char *host)
{
	memset(set, 0, sizeof(*set));
	set->status = TLSA_PENDING;
	tq->set = set;
	tq->ad_trusted = dns_ad_trusted(dns);
	if (tlsa_qname(tq->qname, sizeof(tq->qname), port, host) != 0
	    || dns_query(dns, tq->qname, DNS_TYPE_TLSA, tlsa_done, tq) != 0)
		set_error(set, "invalid TLSA query name");
}

enum tlsa_status
tlsa_lookup(struct dns_ctx *dns, const char *host, unsigned port, int64_t deadline_ms,
    struct tlsa_set *set, char *base, size_t baselen)
{
	struct tlsa_query tq_host, tq_exp;
	struct tlsa_set *exp;
	struct cname_query cq;

	snprintf(base, baselen, "%s", host);
	memset(&cq, 0, sizeof(cq));
	cq.host = host;
	cq.ad_trusted = dns_ad_trusted(dns);
	tlsa_start(dns, &tq_host, set, port, host);
	if (dns_query(dns, host, DNS_TYPE_A, cname_done, &cq) != 0)
		cq.expanded[0] = 0;
	(void)dns_wait(dns, deadline_ms);
	if (set->status == TLSA_PENDING)
		set_error(set, "DNS lookup timed out");
	if (cq.expanded[0] == 0)
		return set->status;

	/* RFC 7672 2.2.3: the expanded name first, then the original name. */
	if ((exp = calloc(1, sizeof(*exp))) == NULL) {
		set_error(set, "out of memory");
		return set->status;
	}
	tlsa_start(dns, &tq_exp, exp, port, cq.expanded);
	(void)dns_wait(dns, deadline_ms);
	if (exp->status == TLSA_PENDING)
		set_error(exp, "DNS lookup timed out");
	if (exp->status == TLSA_FOUND || exp->status == TLSA_ERROR) {
		tlsa_set_free(set);
		*set = *exp;
		snprintf(base, baselen, "%s", cq.expanded);
	} else {
		tlsa_set_free(exp);
	}
	free(exp);
	return set->status;
}

const char *
tlsa_status_text(enum tlsa_status st)
{
	switch (st) {
	case TLSA_FOUND:
		return "validated TLSA records";
	case TLSA_NONE:
		return "no TLSA records (validated denial)";
	case TLSA_INSECURE:
		return "TLSA answer not DNSSEC-validated";
	case TLSA_ERROR:
		return "TLSA lookup error";
	default:
		return "TLSA lookup pending";
	}
}

char *
tlsa_format(const struct tlsa_rr *rr, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t used;
	int n;

	n = snprintf(out, outlen, "%u %u %u ", rr->usage, rr->selector, rr->mtype);
	if (n < 0 || (size_t)n >= outlen)
		return out;
	used = (size_t)n;
	for (size_t i = 0; i < rr->len && used + 3 < outlen; i++) {
		out[used++] = hex[rr->data[i] >> 4];
		out[used++] = hex[rr->data[i] & 15];
	}
	if (rr->len == 0 && used + 1 < outlen)
		out[used++] = '-';
	out[used] = 0;
	return out;
}
