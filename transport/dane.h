/*
 * dane.h - DANE (RFC 7672) for one SMTP server: the effective TLS level
 * from its TLSA records, and the check of a GnuTLS peer against them.
 *
 * Interface:
 *   dane_plan()    from the configured level (dane or dane-only), whether
 *                  the host's addresses were DNSSEC-validated and the
 *                  TLSA lookup result, the level this session runs at, or
 *                  a deferral with Postfix's reason
 *   dane_verify()  match the presented chain against the usable records:
 *                  DANE-EE (3) the leaf's certificate or public key, no
 *                  name or date checks; DANE-TA (2) a certificate of the
 *                  chain (or a full TA certificate from the record) that
 *                  the leaf must chain to, valid, with a name match
 *   dane_log_records()  the records, one line each
 */
#ifndef TLSMTP_DANE_H
#define TLSMTP_DANE_H

#include <stddef.h>
#include <gnutls/gnutls.h>
/* policymap */
#include "policymap.h"
/* dns */
#include "tlsa.h"
/* tls */
#include "tls_verify.h"

/* The DANE state of one attempt (one address). */
struct dane_session {
	enum tls_level level; /* effective: MAY, ENCRYPT or DANE (must match) */
	struct tlsa_set tlsa; /* records; only used at level DANE */
	char base[256];	      /* TLSA base domain: SNI and DANE-TA name */
	/*
	 * Postfix's "half-dane": a validated host reached through an MX
	 * lookup that was not validated.  The records are used, but a match
	 * is logged as Trusted (the MX name may be forged) and DANE-TA checks
	 * the host name only.
	 */
	int insecure_mx;
};

enum dane_plan_result {
	DANE_PLAN_OK,	/* run at ds->level */
	DANE_PLAN_DEFER /* do not connect; dsn and reason given */
};

/*
 * configured is TLS_LEVEL_DANE or TLS_LEVEL_DANE_ONLY; secure says whether
 * the address records were validated; st is the TLSA lookup status (not
 * looked at when !secure); host and port name the server in reasons.
 * On DANE_PLAN_DEFER, dsn/reason hold e.g. "4.7.5" "TLSA lookup error for
 * mx.example:25".
 */
enum dane_plan_result dane_plan(enum tls_level configured, int secure, const struct tlsa_set *tlsa,
    const char *host, unsigned port, enum tls_level *level, char *dsn, size_t dsnlen, char *reason,
    size_t reasonlen);

/*
 * Check the peer of session against the usable records of tlsa.  names
 * are the reference identifiers for DANE-TA (next-hop domain and TLSA
 * base domain, lower case); peer_label is "host[addr]:port".  result->
 * matched and status VERIFIED on a match, else a Postfix-worded reason.
 * Records are matched in order: all DANE-EE first, then DANE-TA.
 */
void dane_verify(gnutls_session_t session, const struct tlsa_set *tlsa, const char *const *names,
    size_t name_count, const char *peer_label, struct tls_verify_result *result);

/* Same, for a chain given as DER certificates (leaf first): tests use it. */
void dane_verify_chain(const gnutls_datum_t *ders, unsigned n, const struct tlsa_set *tlsa,
    const char *const *names, size_t name_count, const char *peer_label,
    struct tls_verify_result *result);

/*
 * Log each record as "label: TLSA owner U S M data": with log_info when
 * loud (smtp_tls_loglevel >= 2), else only with -v.
 */
void dane_log_records(const struct tlsa_set *tlsa, const char *label, int loud);

#endif
