/*
 * tls_verify.h - server certificate checks after a GnuTLS handshake.
 *
 * Decides whether the peer is Anonymous, Untrusted, Trusted or Verified
 * (Postfix's summary words) for one session, given what the effective policy
 * asks for.  Name strategies (nexthop, dot-nexthop, hostname) are expanded by
 * the caller into concrete patterns before this module sees them; this module
 * only compares certificates with patterns, digests and trust anchors.
 *
 * Interface:
 *   tls_name_match()    RFC 6125 comparison of one pattern with one DNS name
 *   tls_leaf_name_matches()  the same over a leaf's SAN dNSNames / sole CN
 *   tls_verify_peer()   chain + key usage + profile + name / fingerprint
 *   tls_peer_status_name()  the summary word for the log line
 *   tls_chain_import()  DER chain -> GnuTLS certificates (shared with dane.c)
 *   tls_fingerprint_hex()  what a fingerprint entry matches, for one certificate
 *   tls_dn_oneline()    a subject or issuer DN as Postfix prints it
 */
#ifndef TLSMTP_TLS_VERIFY_H
#define TLSMTP_TLS_VERIFY_H

#include <stddef.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"

enum tls_peer_status {
	TLS_PEER_ANONYMOUS = 0, /* no certificate */
	TLS_PEER_UNTRUSTED,	/* certificate, chain not trusted / not checked */
	TLS_PEER_TRUSTED,	/* chain trusted, no match was required */
	TLS_PEER_VERIFIED	/* matched under a level that requires matching */
};

struct tls_match_spec {
	enum tls_level level; /* effective level of this session */
	/*
	 * Patterns for verify/secure: lower-case A-labels without trailing dot;
	 * "example.com" is an exact name, ".example.com" one or more labels
	 * followed by ".example.com".
	 */
	const char *const *names;
	size_t name_count;
	/* fingerprint: lower-case hex, no colons; matches cert DER or SPKI DER */
	const char *const *digests;
	size_t digest_count;
	gnutls_digest_algorithm_t digest_alg; /* smtp_tls_fingerprint_digest */
	/* CAfile/CApath or tafile anchors; NULL when none were loaded */
	gnutls_x509_trust_list_t trust;
	const char *peer_label; /* "host[addr]:port" for log lines */
};

struct tls_verify_result {
	enum tls_peer_status status;
	int matched; /* 1 when the level's requirement is met */
	/*
	 * When the check fails at a matching level: one line in Postfix's
	 * wording, e.g. "certificate verification failed for H[A]:25:
	 * untrusted issuer /CN=..." or "server certificate verification failed
	 * for H[A]:25: num=62:hostname mismatch".
	 */
	char reason[OUTCOME_TEXT_MAX];
};

/*
 * RFC 6125 match of one pattern against one presented DNS name (explicit
 * length: ASN.1 strings may hold NULs, which never match).  Case-insensitive,
 * trailing dots ignored, "*" only as the whole left-most label of the
 * presented name, never matching an A-label ("xn--") label.
 * Returns 1 on match, 0 otherwise.
 */
int tls_name_match(const char *pattern, const char *name, size_t namelen);

/*
 * Does the leaf carry one of names[0..count-1]?  Its subjectAltName dNSNames
 * are compared (at most 1024 entries examined; over-long entries skipped);
 * the CommonName only when there is no subjectAltName at all, and only when
 * there is exactly one readable CN.  Returns 1 on match, 0 otherwise.
 */
int tls_leaf_name_matches(gnutls_x509_crt_t leaf, const char *const *names, size_t count);

/*
 * Examine the peer of an established session.  Never fails "hard": any
 * problem reading the certificate yields a non-matching result with a reason.
 */
void tls_verify_peer(gnutls_session_t session, const struct tls_match_spec *spec,
    struct tls_verify_result *result);

/*
 * Decode n DER certificates (leaf first, as GnuTLS hands them out) into
 * chain[0..n-1], which must have room for n.  Returns 0, or -1 when one of
 * them cannot be decoded, with nothing left to free.  The PKIX checks here
 * and the DANE-TA checks of dane.c share it.
 */
int tls_chain_import(const gnutls_datum_t *ders, unsigned n, gnutls_x509_crt_t *chain);
void tls_chain_free(gnutls_x509_crt_t *chain, unsigned n);

/*
 * The digest of a DER certificate (spki 0) or of its subjectPublicKeyInfo
 * exactly as sent (spki 1), in lower-case hex without colons: the values a
 * fingerprint policy compares.  Returns 0, or -1 when the DER cannot be
 * read or hex (at least twice the digest size plus 1) is too small.
 */
int tls_fingerprint_hex(const gnutls_datum_t *der, gnutls_digest_algorithm_t alg, int spki,
    char *hex, size_t hexsize);

/*
 * The subject (issuer 0) or issuer (issuer 1) DN of crt in OpenSSL's
 * one-line form, "/O=tlsmtp tests/CN=...", as the agent's reasons show
 * it; "" when it cannot be read.  Control and non-ASCII bytes become "?".
 */
void tls_dn_oneline(gnutls_x509_crt_t crt, int issuer, char *buf, size_t size);

/* "Verified" / "Trusted" / "Untrusted" / "Anonymous" */
const char *tls_peer_status_name(enum tls_peer_status status);

#endif
