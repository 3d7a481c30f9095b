/*
 * dane.c - DANE (RFC 7672) levels and certificate matching.
 *
 * dane_plan() turns Postfix's rules into the level of one session:
 *   address records not validated  dane: may       dane-only: defer
 *   TLSA lookup failed             both: defer "TLSA lookup error for H:P"
 *   no validated TLSA records      dane: may       dane-only: defer
 *   only unusable records          dane: encrypt   dane-only: defer
 *   usable records                 both: the peer must match them
 *
 * dane_verify() matches the peer:
 *   DANE-EE (usage 3): the leaf's certificate or SubjectPublicKeyInfo, by
 *   gnutls-dane's dane_verify_crt_raw() restricted to EE records, which
 *   does exactly that and no more (no chain, name or date checks).
 *   DANE-TA (usage 2): our own code, because Postfix's semantics need more
 *   than "a certificate of the chain matches": the matched certificate (or
 *   the full certificate carried by a "2 0 0" record, which may be absent
 *   from the chain) becomes the only trust anchor of a GnuTLS trust list,
 *   and the leaf and the intermediates below it must verify against it for
 *   server use, within their validity dates, with the MEDIUM profile, and
 *   the leaf must carry one of the reference names ("nexthop, hostname").
 *   A copy of the real TA placed above a forged leaf therefore fails on the
 *   leaf's signature.  A "2 1 0" record whose TA is not in the chain cannot
 *   be used (RFC 7672 3.1.2: servers must send their TA).
 *
 * Failure reasons use Postfix's wording: "certificate verification failed
 * for H[A]:P: not trusted by local or TLSA policy" when nothing matched,
 * "server certificate verification failed for H[A]:P: certificate has
 * expired" or "num=62:hostname mismatch" when a TA matched but the chain
 * or the name did not.
 *
 * Interface: dane.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/dane.h>

/* core */
#include "core.h"
/* dns */
#include "tlsa.h"
/* tls */
#include "dane.h"
#include "tls_verify.h"

#define DANE_CHAIN_MAX 10 /* leaf + smtp_tls_scert_verifydepth (9) */

enum dane_plan_result
dane_plan(enum tls_level configured, int secure, const struct tlsa_set *tlsa, const char *host,
    unsigned port, enum tls_level *level, char *dsn, size_t dsnlen, char *reason, size_t reasonlen)
{
	int only = configured == TLS_LEVEL_DANE_ONLY;
	const char *why = NULL;

	snprintf(dsn, dsnlen, "4.7.5");
	reason[0] = 0;
	if (!secure) {
		*level = TLS_LEVEL_MAY;
		why = "non DNSSEC destination";
	} else if (tlsa->status == TLSA_FOUND && tlsa->usable > 0) {
		*level = TLS_LEVEL_DANE;
		return DANE_PLAN_OK;
	} else if (tlsa->status == TLSA_FOUND) {
		*level = TLS_LEVEL_ENCRYPT;
		why = "TLSA records unusable";
	} else if (tlsa->status == TLSA_NONE || tlsa->status == TLSA_INSECURE) {
		*level = TLS_LEVEL_MAY;
		why = "no TLSA records found";
	} else {
		snprintf(reason, reasonlen, "TLSA lookup error for %s:%u", host, port);
		return DANE_PLAN_DEFER;
	}
	if (only) {
		snprintf(reason, reasonlen, "%s", why);
		return DANE_PLAN_DEFER;
	}
	return DANE_PLAN_OK;
}

void
dane_log_records(const struct tlsa_set *tlsa, const char *label, int loud)
{
	char text[200];

	for (size_t i = 0; i < tlsa->count; i++) {
		tlsa_format(&tlsa->rr[i], text, sizeof(text));
		if (loud)
			log_info("%s: TLSA %s %s%s", label, tlsa->owner, text,
			    tlsa->rr[i].usable ? "" : " (unusable)");
		else
			log_verbose("%s: TLSA %s %s%s", label, tlsa->owner, text,
			    tlsa->rr[i].usable ? "" : " (unusable)");
	}
}

static void
fail(struct tls_verify_result *result, const char *who, const char *label, const char *detail)
{
	snprintf(result->reason, sizeof(result->reason),
	    "%scertificate verification failed for %s: %s", who, label, detail);
}

/* ------------------------------------------------------------------------
 * DANE-EE through gnutls-dane.
 */

/* 1 when some usable DANE-EE record matches the leaf. */
static int
ee_matches(const gnutls_datum_t *ders, unsigned n, const struct tlsa_set *tlsa)
{
	dane_state_t state;
	dane_query_t query;
	char *data[TLSA_RECORDS_MAX + 1];
	int lens[TLSA_RECORDS_MAX + 1];
	size_t k = 0;
	unsigned verify = 0;
	int rc, matched = 0;

	for (size_t i = 0; i < tlsa->count; i++) {
		const struct tlsa_rr *rr = &tlsa->rr[i];

		if (!rr->usable || rr->usage != TLSA_USAGE_DANE_EE)
			continue;
		if ((data[k] = malloc(rr->len + 3)) == NULL)
			goto out;
		data[k][0] = (char)rr->usage;
		data[k][1] = (char)rr->selector;
		data[k][2] = (char)rr->mtype;
		memcpy(data[k] + 3, rr->data, rr->len);
		lens[k] = (int)(rr->len + 3);
		k++;
	}
	data[k] = NULL;
	lens[k] = 0;
	if (k == 0)
		goto out;
	if (dane_state_init(&state, DANE_F_IGNORE_DNSSEC | DANE_F_IGNORE_LOCAL_RESOLVER) < 0)
		goto out;
	/* The records are DNSSEC-validated: we only use validated ones. */
	if (dane_raw_tlsa(state, &query, data, lens, 1, 0) >= 0) {
		rc = dane_verify_crt_raw(state, ders, n, GNUTLS_CRT_X509, query, 0,
		    DANE_VFLAG_ONLY_CHECK_EE_USAGE | DANE_VFLAG_FAIL_IF_NOT_CHECKED, &verify);
		matched = rc >= 0 && verify == 0;
		dane_query_deinit(query);
	}
	dane_state_deinit(state);
out:
	while (k-- > 0)
		free(data[k]);
	return matched;
}

/* ------------------------------------------------------------------------
 * DANE-TA.
 */

/* The selected part of crt (certificate or SPKI DER), malloc'ed into *out. */
static int
selected_data(gnutls_x509_crt_t crt, unsigned selector, gnutls_datum_t *out)
{
	gnutls_pubkey_t pub;
	int rc;

	out->data = NULL;
	out->size = 0;
	if (selector == TLSA_SELECTOR_CERT)
		return gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, out) < 0 ? -1 : 0;
	if (gnutls_pubkey_init(&pub) < 0)
		return -1;
	rc = gnutls_pubkey_import_x509(pub, crt, 0);
	if (rc >= 0)
		rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, out);
	gnutls_pubkey_deinit(pub);
	return rc < 0 ? -1 : 0;
}

/* 1 when rr matches crt. */
static int
rr_matches(const struct tlsa_rr *rr, gnutls_x509_crt_t crt)
{
	gnutls_datum_t sel;
	unsigned char digest[64];
	gnutls_digest_algorithm_t alg;
	int match = 0;

	if (selected_data(crt, rr->selector, &sel) != 0)
		return 0;
	if (rr->mtype == TLSA_MTYPE_FULL) {
		match = sel.size == rr->len && memcmp(sel.data, rr->data, rr->len) == 0;
	} else {
		alg = rr->mtype == TLSA_MTYPE_SHA256 ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_SHA512;
		if (gnutls_hash_fast(alg, sel.data, sel.size, digest) == 0)
			match = gnutls_hash_get_len(alg) == rr->len
			    && memcmp(digest, rr->data, rr->len) == 0;
	}
	gnutls_free(sel.data);
	return match;
}

/*
 * Verify chain[0..n-1] (leaf first, the TA not included) with ta as the
 * only anchor, then the name.  Returns 1 on success; else 0 with a reason.
 */
static int
ta_chain_ok(gnutls_x509_crt_t *chain, unsigned n, gnutls_x509_crt_t ta, const char *const *names,
    size_t name_count, const char *label, struct tls_verify_result *result)
{
	gnutls_x509_trust_list_t list;
	gnutls_x509_crt_t anchor;
	gnutls_typed_vdata_st purpose;
	gnutls_datum_t der;
	unsigned status = 0;
	unsigned flags = GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_MEDIUM);

	/* The trust list takes ownership of its anchors: give it a copy. */
	if (gnutls_x509_crt_export2(ta, GNUTLS_X509_FMT_DER, &der) < 0)
		return 0;
	if (gnutls_x509_crt_init(&anchor) < 0) {
		gnutls_free(der.data);
		return 0;
	}
	if (gnutls_x509_crt_import(anchor, &der, GNUTLS_X509_FMT_DER) < 0
	    || gnutls_x509_trust_list_init(&list, 0) < 0) {
		gnutls_x509_crt_deinit(anchor);
		gnutls_free(der.data);
		return 0;
	}
	gnutls_free(der.data);
	if (gnutls_x509_trust_list_add_cas(list, &anchor, 1, 0) != 1) {
		gnutls_x509_crt_deinit(anchor);
		gnutls_x509_trust_list_deinit(list, 0);
		return 0;
	}
	memset(&purpose, 0, sizeof(purpose));
	purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
	purpose.data = (void *)GNUTLS_KP_TLS_WWW_SERVER;
	if (gnutls_x509_trust_list_verify_crt2(list, chain, n, &purpose, 1, flags, &status, NULL)
	    < 0)
		status = GNUTLS_CERT_INVALID;
	gnutls_x509_trust_list_deinit(list, 1);

	if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED)) {
		time_t now = time(NULL);
		int leaf = (status & GNUTLS_CERT_EXPIRED)
		    ? gnutls_x509_crt_get_expiration_time(chain[0]) < now
		    : gnutls_x509_crt_get_activation_time(chain[0]) > now;

		fail(result, leaf ? "server " : "CA ", label,
		    (status & GNUTLS_CERT_EXPIRED) ? "certificate has expired"
						   : "certificate not yet valid");
		return 0;
	}
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE) {
		fail(result, "server ", label, "num=7:certificate signature failure");
		return 0;
	}
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
		fail(result, "", label, "not designated for use as a server certificate");
		return 0;
	}
	if (status != 0) {
		fail(result, "", label, "not trusted by local or TLSA policy");
		return 0;
	}
	if (!tls_leaf_name_matches(chain[0], names, name_count)) {
		fail(result, "server ", label, "num=62:hostname mismatch");
		return 0;
	}
	return 1;
}

/* DANE-TA: 1 on a match; a reason when a TA matched but the rest failed. */
static int
ta_matches(gnutls_x509_crt_t *chain, unsigned n, const struct tlsa_set *tlsa,
    const char *const *names, size_t name_count, const char *label,
    struct tls_verify_result *result)
{
	for (size_t i = 0; i < tlsa->count; i++) {
		const struct tlsa_rr *rr = &tlsa->rr[i];

		if (!rr->usable || rr->usage != TLSA_USAGE_DANE_TA)
			continue;
		/* A TA certificate in the chain, above the leaf. */
		for (unsigned depth = 1; depth < n; depth++) {
			if (!rr_matches(rr, chain[depth]))
				continue;
			if (ta_chain_ok(chain, depth, chain[depth], names, name_count, label,
				result))
				return 1;
		}
		/* "2 0 0" carries the whole TA certificate: usable even when not sent. */
		if (rr->selector == TLSA_SELECTOR_CERT && rr->mtype == TLSA_MTYPE_FULL) {
			gnutls_x509_crt_t ta;
			gnutls_datum_t der;
			int ok = 0;

			der.data = rr->data;
			der.size = (unsigned)rr->len;
			if (gnutls_x509_crt_init(&ta) < 0)
				continue;
			if (gnutls_x509_crt_import(ta, &der, GNUTLS_X509_FMT_DER) >= 0) {
				/* Only the part of the chain below any copy of the TA. */
				unsigned below = n;

				for (unsigned d = 1; d < n; d++)
					if (gnutls_x509_crt_equals(chain[d], ta)) {
						below = d;
						break;
					}
				ok =
				    ta_chain_ok(chain, below, ta, names, name_count, label, result);
			}
			gnutls_x509_crt_deinit(ta);
			if (ok)
				return 1;
		}
	}
	return 0;
}

void
dane_verify_chain(const gnutls_datum_t *ders, unsigned n, const struct tlsa_set *tlsa,
    const char *const *names, size_t name_count, const char *peer_label,
    struct tls_verify_result *result)
{
	gnutls_x509_crt_t chain[DANE_CHAIN_MAX];
	const char *label = peer_label != NULL ? peer_label : "unknown";

	memset(result, 0, sizeof(*result));
	result->status = TLS_PEER_ANONYMOUS;
	if (ders == NULL || n == 0) {
		fail(result, "server ", label, "no X.509 certificate presented");
		return;
	}
	result->status = TLS_PEER_UNTRUSTED;
	if (ee_matches(ders, n, tlsa)) {
		result->status = TLS_PEER_VERIFIED;
		result->matched = 1;
		return;
	}
	if (n > DANE_CHAIN_MAX) {
		fail(result, "", label, "certificate chain longer than limit(9)");
		return;
	}
	if (tls_chain_import(ders, n, chain) < 0) {
		fail(result, "server ", label, "cannot decode the certificate chain");
		return;
	}
	if (ta_matches(chain, n, tlsa, names, name_count, label, result)) {
		result->status = TLS_PEER_VERIFIED;
		result->matched = 1;
		result->reason[0] = 0;
	} else if (result->reason[0] == 0) {
		fail(result, "", label, "not trusted by local or TLSA policy");
	}
	tls_chain_free(chain, n);
}

void
dane_verify(gnutls_session_t session, const struct tlsa_set *tlsa, const char *const *names,
    size_t name_count, const char *peer_label, struct tls_verify_result *result)
{
	const gnutls_datum_t *ders;
	unsigned n = 0;

	ders = gnutls_certificate_get_peers(session, &n);
	if (ders != NULL && n > 0
	    && gnutls_certificate_type_get2(session, GNUTLS_CTYPE_SERVER) != GNUTLS_CRT_X509)
		n = 0;
	dane_verify_chain(ders, n, tlsa, names, name_count, peer_label, result);
}
