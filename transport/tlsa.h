/*
 * tlsa.h - TLSA records (RFC 6698) of one TLS server, looked up over
 * DNSSEC for DANE (RFC 7672).
 *
 * The query is our own (dns_msg_build_query: RD, AD and DO set) sent with
 * c-ares; the answer is read with the bounded dns_msg helpers.  Only an
 * answer that the local validating resolver marked with the AD bit (and
 * that comes from a resolver we may believe, dns_ad_trusted) counts.
 *
 * Interface:
 *   tlsa_parse_answer()  pure: one DNS answer -> status and records
 *   tlsa_usable()        usage 2/3, selector 0/1, matching type 0/1/2 with
 *                        the right digest length
 *   tlsa_lookup()        query _port._tcp.host (and, after a secure CNAME
 *                        of host, the expanded name first), wait for it
 *   tlsa_status_text()   for logs
 *   tlsa_format()        one record as "2 1 1 abcd..." for logs
 *   tlsa_set_free()
 */
#ifndef TLSMTP_TLSA_H
#define TLSMTP_TLSA_H

#include <stddef.h>
#include <stdint.h>

/* dns */
#include "dns.h"

#define TLSA_RECORDS_MAX 100 /* records kept from one answer */
#define TLSA_CNAME_MAX	 8   /* CNAME hops followed inside one answer */

#define TLSA_USAGE_PKIX_TA 0
#define TLSA_USAGE_PKIX_EE 1
#define TLSA_USAGE_DANE_TA 2
#define TLSA_USAGE_DANE_EE 3
#define TLSA_SELECTOR_CERT 0
#define TLSA_SELECTOR_SPKI 1
#define TLSA_MTYPE_FULL	   0
#define TLSA_MTYPE_SHA256  1
#define TLSA_MTYPE_SHA512  2

enum tlsa_status {
	TLSA_PENDING = 0,
	TLSA_FOUND,    /* validated answer with at least one TLSA record */
	TLSA_NONE,     /* validated NODATA or NXDOMAIN: secure denial */
	TLSA_INSECURE, /* an answer without a believable AD bit */
	TLSA_ERROR     /* SERVFAIL, timeout, truncation, malformed answer */
};

struct tlsa_rr {
	uint8_t usage;
	uint8_t selector;
	uint8_t mtype;
	int usable;    /* tlsa_usable() */
	uint8_t *data; /* malloc'ed; NULL when len == 0 */
	size_t len;
};

struct tlsa_set {
	enum tlsa_status status;
	struct tlsa_rr rr[TLSA_RECORDS_MAX];
	size_t count;
	size_t usable; /* how many of rr[] are usable */
	/* the name the records belong to after CNAMEs, no trailing dot */
	char owner[1024];
	char why[256]; /* for TLSA_ERROR: what went wrong */
};

/* 1 when the parameters and data length make a record DANE can use. */
int tlsa_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len);

/*
 * Read one answer to a TLSA query for qname (no trailing dot).  ad_trusted
 * says whether the AD bit may be believed at all.  Records for another
 * owner (after following CNAMEs from qname), type or class are ignored,
 * duplicates dropped, at most TLSA_RECORDS_MAX kept.  Fills *set (which
 * must be zeroed or freed before) and returns set->status.
 */
enum tlsa_status tlsa_parse_answer(const uint8_t *msg, size_t len, const char *qname,
    int ad_trusted, struct tlsa_set *set);

/*
 * Look up the TLSA records of host:port (TCP) and wait until deadline_ms.
 * When host is a CNAME in a validated answer, the expanded name is tried
 * first (RFC 7672 2.2.3); *base receives the TLSA base domain used (the
 * expanded name or host), which is also the SNI and the DANE-TA name.
 * Returns set->status.
 */
enum tlsa_status tlsa_lookup(struct dns_ctx *dns, const char *host, unsigned port,
    int64_t deadline_ms, struct tlsa_set *set, char *base, size_t baselen);

const char *tlsa_status_text(enum tlsa_status st);
/* "3 1 1 0123ab..." with the data cut to fit; returns out. */
char *tlsa_format(const struct tlsa_rr *rr, char *out, size_t outlen);
void tlsa_set_free(struct tlsa_set *set);

#endif
