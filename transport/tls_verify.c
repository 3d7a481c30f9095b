/*
 * tls_verify.c - server certificate checks after a GnuTLS handshake:
 * Anonymous / Untrusted / Trusted / Verified for one session, with a
 * Postfix-worded reason on failure.
 *
 * Choices this module makes, each pinned by a test:
 *   - A "*" matches exactly one label (RFC 6125 section 6.4.3), unlike
 *     Postfix's tls_wildcard_matches_multiple_labels=yes: "*.example.test"
 *     covers "mx.example.test" but not "a.b.example.test".  A wildcard needs
 *     at least two labels after it ("*.test" never matches) and never stands
 *     for an A-label ("xn--...").
 *   - The CommonName is consulted only when the certificate has no
 *     subjectAltName extension at all.  A SAN holding only IP addresses or
 *     URIs therefore disables the CN as GnuTLS 3.7.9 does; a certificate
 *     with a CN and no SAN still matches (RFC 6125, Postfix).  More than one
 *     CN never matches.
 *   - Presented names are letters, digits, "-" and "_" only: a NUL, a raw
 *     UTF-8 byte or any other character makes the name unusable.
 *   - PKIX checks pass GNUTLS_KP_TLS_WWW_SERVER (a leaf without EKU is
 *     accepted), the MEDIUM verification profile (RSA below 2048 bits and
 *     SHA-1 signatures rejected) and a chain limit of 9 issuers, Postfix's
 *     smtp_tls_scert_verifydepth default.
 *   - A trusted chain whose names do not match at verify/secure is reported
 *     Untrusted (tls_verify.h: Trusted means no match was required), where
 *     Postfix's summary line would say "Trusted".
 *   - Fingerprints are compared with the digest of the leaf DER and of its
 *     subjectPublicKeyInfo exactly as sent (located in the DER, not
 *     re-encoded); configured digests may carry colons and upper case.
 *   - Only the first 1024 subjectAltName entries are examined, so a
 *     certificate with 10,000 names costs bounded work.
 *   - At the dane levels this module reports only the PKIX status and never
 *     sets "matched": TLSA matching belongs to the DANE code.
 *   - result->reason is filled whenever a check fails, also at may and
 *     encrypt; the caller decides whether the level makes it worth logging.
 *
 * Interface: tls_verify.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/crypto.h>

/* tls */
#include "tls_verify.h"

/* Postfix smtp_tls_scert_verifydepth: issuers above the leaf. */
#define VERIFY_DEPTH 9
/* Bounds on what one certificate may make us examine. */
#define SAN_EXAMINE_MAX 1024
#define CN_EXAMINE_MAX	2
#define DN_RDN_MAX	32
#define DNS_NAME_MAX	253
#define DNS_LABEL_MAX	63

/* OpenSSL's error numbers, as Postfix prints them after "num=". */
#define X509_ERR_CERT_SIGNATURE_FAILURE 7
#define X509_ERR_CERT_REVOKED		23
#define X509_ERR_INVALID_CA		24
#define X509_ERR_PERMITTED_VIOLATION	47
#define X509_ERR_UNHANDLED_CRITICAL	34
#define X509_ERR_EE_KEY_TOO_SMALL	66
#define X509_ERR_CA_KEY_TOO_SMALL	67
#define X509_ERR_CA_MD_TOO_WEAK		68
#define X509_ERR_HOSTNAME_MISMATCH	62

/* ------------------------------------------------------------------------
 * Name matching.
 */

static int
ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
ascii_equal_nocase(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
dns_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	    || c == '-' || c == '_';
}

/*
 * Check the labels of name[0..len): non-empty, at most 63 characters of
 * dns_char_ok.  The first label may be exactly "*" when allow_star is set.
 */
static int
dns_labels_ok(const char *name, size_t len, int allow_star)
{
	size_t i, label = 0;

	if (len == 0 || len > DNS_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (c == '*' && allow_star && i == 0 && len > 1 && name[1] == '.') {
			label = 1;
			continue;
		}
		if (!dns_char_ok(c) || ++label > DNS_LABEL_MAX)
			return 0;
	}
	return label > 0;
}

static size_t
count_dots(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (s[i] == '.')
			n++;
	return n;
}

/* "*.rest": rest must hold at least two labels ("*.test" is refused). */
static int
wildcard_ok(const char *name, size_t len)
{
	return len > 2 && count_dots(name + 1, len - 1) >= 2;
}

/* Exact pattern (a host name) against a presented name. */
static int
match_exact(const char *pattern, size_t patlen, const char *name, size_t namelen, int wild)
{
	const char *dot;
	size_t first;

	if (!wild)
		return patlen == namelen && ascii_equal_nocase(pattern, name, namelen);

	/* name is "*.rest": the pattern's first label stands in for "*". */
	dot = memchr(pattern, '.', patlen);
	if (dot == NULL)
		return 0;
	first = (size_t)(dot - pattern);
	if (first >= 4 && ascii_equal_nocase(pattern, "xn--", 4))
		return 0;
	return patlen - first == namelen - 1 && ascii_equal_nocase(dot, name + 1, namelen - 1);
}

/*
 * Suffix pattern ".example.com": the presented name must be one or more
 * labels followed by the pattern.  A presented "*.example.com" qualifies:
 * every name it stands for lies inside the pattern's subtree.
 */
static int
match_suffix(const char *pattern, size_t patlen, const char *name, size_t namelen)
{
	return namelen > patlen && ascii_equal_nocase(pattern, name + namelen - patlen, patlen);
}

int
tls_name_match(const char *pattern, const char *name, size_t namelen)
{
	size_t patlen;
	int suffix, wild;

	if (pattern == NULL || name == NULL)
		return 0;
	patlen = strlen(pattern);
	if (patlen > 0 && pattern[patlen - 1] == '.')
		patlen--;
	if (namelen > 0 && name[namelen - 1] == '.')
		namelen--;

	suffix = patlen > 0 && pattern[0] == '.';
	if (!dns_labels_ok(pattern + suffix, patlen - suffix, 0))
		return 0;
	if (!dns_labels_ok(name, namelen, 1))
		return 0;
	wild = name[0] == '*';
	if (wild && !wildcard_ok(name, namelen))
		return 0;

	if (suffix)
		return match_suffix(pattern, patlen, name, namelen);
	return match_exact(pattern, patlen, name, namelen, wild);
}

const char *
tls_peer_status_name(enum tls_peer_status status)
{
	switch (status) {
	case TLS_PEER_ANONYMOUS:
		return "Anonymous";
	case TLS_PEER_TRUSTED:
		return "Trusted";
	case TLS_PEER_VERIFIED:
		return "Verified";
	case TLS_PEER_UNTRUSTED:
	default:
		return "Untrusted";
	}
}

/* ------------------------------------------------------------------------
 * Reasons.
 */

/*
 * Postfix's two shapes: "certificate verification failed for H[A]:P: ..."
 * and, for some errors, the same prefixed with "server " (depth 0) or
 * "CA " (an issuer).
 */
static void
fail(struct tls_verify_result *result, const char *who, const char *label, const char *detail)
{
	snprintf(result->reason, sizeof(result->reason),
	    "%scertificate verification failed for %s: %s", who, label, detail);
}

/* Append to a bounded buffer; output is silently truncated when full. */
static void
buf_append(char *buf, size_t size, size_t *used, const char *s, size_t len)
{
	while (len-- > 0 && *used + 1 < size) {
		unsigned char c = (unsigned char)*s++;

		buf[(*used)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[*used] = 0;
}

/*
 * A DN in OpenSSL's one-line form, "/O=tlsmtp tests/CN=...", as Postfix
 * prints it.  Control and non-ASCII bytes become "?".
 */
void
tls_dn_oneline(gnutls_x509_crt_t crt, int issuer, char *buf, size_t size)
{
	gnutls_x509_dn_t dn;
	gnutls_x509_ava_st ava;
	char oid[64];
	const char *short_name;
	size_t used = 0;
	int rdn, av;

	buf[0] = 0;
	if ((issuer ? gnutls_x509_crt_get_issuer(crt, &dn) : gnutls_x509_crt_get_subject(crt, &dn))
	    < 0)
		return;
	for (rdn = 0; rdn < DN_RDN_MAX; rdn++) {
		for (av = 0; av < DN_RDN_MAX; av++) {
			if (gnutls_x509_dn_get_rdn_ava(dn, rdn, av, &ava) < 0)
				break;
			if (ava.oid.size >= sizeof(oid))
				continue;
			memcpy(oid, ava.oid.data, ava.oid.size);
			oid[ava.oid.size] = 0;
			short_name = gnutls_x509_dn_oid_name(oid, GNUTLS_X509_DN_OID_RETURN_OID);
			buf_append(buf, size, &used, "/", 1);
			buf_append(buf, size, &used, short_name, strlen(short_name));
			buf_append(buf, size, &used, "=", 1);
			buf_append(buf, size, &used, (const char *)ava.value.data, ava.value.size);
		}
		if (av == 0)
			break;
	}
}

/* The last certificate of the presented chain that still links to the leaf. */
static gnutls_x509_crt_t
chain_top(gnutls_x509_crt_t *chain, unsigned n)
{
	unsigned i;

	for (i = 0; i + 1 < n; i++)
		if (!gnutls_x509_crt_check_issuer(chain[i], chain[i + 1]))
			break;
	return chain[i];
}

static int
key_weak(gnutls_x509_crt_t crt)
{
	unsigned bits = 0;
	int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);

	if (pk < 0)
		return 1;
	return gnutls_pk_bits_to_sec_param(pk, bits) < GNUTLS_SEC_PARAM_MEDIUM;
}

static int
issuer_key_weak(gnutls_x509_crt_t *chain, unsigned n)
{
	unsigned i;

	for (i = 1; i < n; i++)
		if (key_weak(chain[i]))
			return 1;
	return 0;
}

static int
chain_has_name_constraints(gnutls_x509_crt_t *chain, unsigned n)
{
	unsigned i;
	size_t size;
	unsigned critical;

	for (i = 1; i < n; i++) {
		size = 0;
		if (gnutls_x509_crt_get_extension_by_oid(chain[i], "2.5.29.30", 0, NULL, &size,
			&critical)
		    != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return 1;
	}
	return 0;
}

/* Whether the leaf (1) or an issuer (0) is outside its validity period. */
static int
leaf_time_bad(gnutls_x509_crt_t leaf, unsigned status)
{
	time_t now = time(NULL);

	if (status & GNUTLS_CERT_EXPIRED)
		return gnutls_x509_crt_get_expiration_time(leaf) < now;
	return gnutls_x509_crt_get_activation_time(leaf) > now;
}

static void
num_reason(struct tls_verify_result *result, const char *label, int num, const char *text)
{
	char detail[128];

	snprintf(detail, sizeof(detail), "num=%d:%s", num, text);
	fail(result, "server ", label, detail);
}

/*
 * Turn GnuTLS verification status bits into one Postfix-style line.  The
 * order follows what OpenSSL reports first: a chain that cannot be built,
 * then broken issuers, weak algorithms, dates and finally the purpose.
 */
static void
status_reason(struct tls_verify_result *result, const char *label, unsigned status,
    gnutls_x509_crt_t *chain, unsigned n)
{
	char detail[300];
	gnutls_x509_crt_t top;

	if (status & GNUTLS_CERT_SIGNER_NOT_CA) {
		num_reason(result, label, X509_ERR_INVALID_CA, "invalid CA certificate");
	} else if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
		top = chain_top(chain, n);
		if (n >= 1 && top == chain[0] && gnutls_x509_crt_check_issuer(chain[0], chain[0])) {
			fail(result, "", label, "self-signed certificate");
			return;
		}
		memcpy(detail, "untrusted issuer ", 17);
		tls_dn_oneline(top, 1, detail + 17, sizeof(detail) - 17);
		fail(result, "", label, detail);
	} else if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE) {
		if (chain_has_name_constraints(chain, n))
			num_reason(result, label, X509_ERR_PERMITTED_VIOLATION,
			    "permitted subtree violation");
		else
			num_reason(result, label, X509_ERR_INVALID_CA, "invalid CA certificate");
	} else if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
		if (key_weak(chain[0]))
			num_reason(result, label, X509_ERR_EE_KEY_TOO_SMALL,
			    "EE certificate key too weak");
		else if (issuer_key_weak(chain, n))
			num_reason(result, label, X509_ERR_CA_KEY_TOO_SMALL,
			    "CA certificate key too weak");
		else
			num_reason(result, label, X509_ERR_CA_MD_TOO_WEAK,
			    "CA signature digest algorithm too weak");
	} else if (status & GNUTLS_CERT_SIGNATURE_FAILURE) {
		num_reason(result, label, X509_ERR_CERT_SIGNATURE_FAILURE,
		    "certificate signature failure");
	} else if (status & GNUTLS_CERT_REVOKED) {
		num_reason(result, label, X509_ERR_CERT_REVOKED, "certificate revoked");
	} else if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED)) {
		fail(result, leaf_time_bad(chain[0], status) ? "server " : "CA ", label,
		    (status & GNUTLS_CERT_EXPIRED) ? "certificate has expired"
						   : "certificate not yet valid");
	} else if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
		fail(result, "", label, "not designated for use as a server certificate");
	} else if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS) {
		num_reason(result, label, X509_ERR_UNHANDLED_CRITICAL,
		    "unhandled critical extension");
	} else {
		fail(result, "server ", label, "certificate rejected by the verifier");
	}
}

/* ------------------------------------------------------------------------
 * Fingerprints: digest of the certificate DER or of its SPKI DER.
 */

/* One DER header at der[*off]; on success *off is the content start. */
static int
der_header(const unsigned char *der, size_t len, size_t *off, unsigned char *tag, size_t *clen)
{
	size_t o = *off, n;
	unsigned nbytes;

	if (o >= len || len - o < 2)
		return -1;
	*tag = der[o++];
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	n = der[o++];
	if (n & 0x80) {
		nbytes = n & 0x7f;
		if (nbytes == 0 || nbytes > 3 || len - o < nbytes)
			return -1;
		for (n = 0; nbytes > 0; nbytes--)
			n = (n << 8) | der[o++];
	}
	if (n > len - o)
		return -1;
	*off = o;
	*clen = n;
	return 0;
}

/*
 * Locate subjectPublicKeyInfo inside a certificate's DER, byte for byte as
 * sent (no re-encoding).  Certificate ::= SEQUENCE { tbsCertificate
 * SEQUENCE { [0] version OPTIONAL, serial, signature, issuer, validity,
 * subject, subjectPublicKeyInfo, ... }, ... }.
 */
static int
der_find_spki(const unsigned char *der, size_t len, size_t *start, size_t *spki_len)
{
	size_t off = 0, clen, begin;
	unsigned char tag;
	int skip;

	if (der_header(der, len, &off, &tag, &clen) < 0 || tag != 0x30)
		return -1;
	if (der_header(der, len, &off, &tag, &clen) < 0 || tag != 0x30)
		return -1;
	len = off + clen; /* stay inside tbsCertificate */
	begin = off;
	if (der_header(der, len, &off, &tag, &clen) < 0)
		return -1;
	if (tag == 0xa0)
		off += clen;
	else
		off = begin;
	for (skip = 0; skip < 5; skip++) { /* serial .. subject */
		if (der_header(der, len, &off, &tag, &clen) < 0)
			return -1;
		off += clen;
	}
	begin = off;
	if (der_header(der, len, &off, &tag, &clen) < 0 || tag != 0x30)
		return -1;
	*start = begin;
	*spki_len = off - begin + clen;
	return 0;
}

static int
digest_hex(gnutls_digest_algorithm_t alg, const void *data, size_t len, char *hex, size_t hexsize)
{
	unsigned char md[64];
	static const char digits[] = "0123456789abcdef";
	unsigned mdlen = gnutls_hash_get_len(alg), i;

	if (mdlen == 0 || mdlen > sizeof(md) || hexsize < 2 * mdlen + 1)
		return -1;
	if (gnutls_hash_fast(alg, data, len, md) < 0)
		return -1;
	for (i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[2 * mdlen] = 0;
	return 0;
}

/* Configured digests may carry colons and upper case. */
static int
digest_equal(const char *configured, const char *hex)
{
	const char *p;

	if (configured == NULL)
		return 0;
	for (p = configured; *p; p++) {
		if (*p == ':')
			continue;
		if (*hex == 0 || ascii_lower((unsigned char)*p) != *hex)
			return 0;
		hex++;
	}
	return *hex == 0 && p != configured;
}

int
tls_fingerprint_hex(const gnutls_datum_t *der, gnutls_digest_algorithm_t alg, int spki, char *hex,
    size_t hexsize)
{
	size_t start, spki_len;

	if (!spki)
		return digest_hex(alg, der->data, der->size, hex, hexsize);
	if (der_find_spki(der->data, der->size, &start, &spki_len) < 0)
		return -1;
	return digest_hex(alg, der->data + start, spki_len, hex, hexsize);
}

static int
fingerprint_matches(const gnutls_datum_t *leaf, const struct tls_match_spec *spec)
{
	char cert_hex[129], spki_hex[129];
	gnutls_digest_algorithm_t alg = spec->digest_alg;
	size_t i;
	int have_spki;

	if (alg == GNUTLS_DIG_UNKNOWN)
		alg = GNUTLS_DIG_SHA256;
	if (tls_fingerprint_hex(leaf, alg, 0, cert_hex, sizeof(cert_hex)) < 0)
		return 0;
	have_spki = tls_fingerprint_hex(leaf, alg, 1, spki_hex, sizeof(spki_hex)) == 0;
	for (i = 0; i < spec->digest_count; i++) {
		if (digest_equal(spec->digests[i], cert_hex))
			return 1;
		if (have_spki && digest_equal(spec->digests[i], spki_hex))
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Names in the leaf.
 */

static int
any_pattern_matches(const char *const *names, size_t count, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (tls_name_match(names[i], name, len))
			return 1;
	return 0;
}

/* The one CommonName, if there is exactly one; 0 otherwise. */
static int
common_name_matches(gnutls_x509_crt_t leaf, const char *const *names, size_t count)
{
	char cn[DNS_NAME_MAX + 3];
	size_t size, cn_len = 0;
	unsigned idx;
	int err;

	for (idx = 0; idx < CN_EXAMINE_MAX; idx++) {
		size = sizeof(cn);
		err = gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, idx, 0, cn,
		    &size);
		if (err == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (err < 0 || size >= sizeof(cn))
			return 0;
		if (idx > 0)
			return 0; /* several CNs: ambiguous */
		cn_len = size;
	}
	return cn_len > 0 && any_pattern_matches(names, count, cn, cn_len);
}

/*
 * SAN dNSName entries (at most SAN_EXAMINE_MAX entries looked at); the CN
 * only when the certificate has no subjectAltName extension at all.  A SAN
 * entry that cannot be read counts as present, so it disables the CN.
 */
int
tls_leaf_name_matches(gnutls_x509_crt_t leaf, const char *const *names, size_t count)
{
	char san[DNS_NAME_MAX + 3];
	size_t size;
	unsigned seq;
	int type;

	for (seq = 0; seq < SAN_EXAMINE_MAX; seq++) {
		size = sizeof(san);
		type = gnutls_x509_crt_get_subject_alt_name(leaf, seq, san, &size, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (type < 0)
			return 0;
		if (type == GNUTLS_SAN_DNSNAME && size < sizeof(san)
		    && any_pattern_matches(names, count, san, size))
			return 1;
	}
	if (seq > 0)
		return 0;
	return common_name_matches(leaf, names, count);
}

/* ------------------------------------------------------------------------
 * Chain verification.
 */

void
tls_chain_free(gnutls_x509_crt_t *chain, unsigned n)
{
	while (n-- > 0)
		gnutls_x509_crt_deinit(chain[n]);
}

int
tls_chain_import(const gnutls_datum_t *ders, unsigned n, gnutls_x509_crt_t *chain)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (gnutls_x509_crt_init(&chain[i]) < 0)
			break;
		if (gnutls_x509_crt_import(chain[i], &ders[i], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(chain[i]);
			break;
		}
	}
	if (i == n)
		return 0;
	tls_chain_free(chain, i);
	return -1;
}

/*
 * PKIX: chain to spec->trust for server use, then (when need_match) the
 * names.  Sets TRUSTED or VERIFIED on success, a reason otherwise.
 */
static void
check_pkix(const gnutls_datum_t *ders, unsigned n, const struct tls_match_spec *spec,
    int need_match, const char *label, struct tls_verify_result *result)
{
	gnutls_x509_crt_t chain[VERIFY_DEPTH + 1];
	gnutls_typed_vdata_st purpose;
	unsigned status = 0;
	unsigned flags = GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_MEDIUM);
	char detail[64];

	if (n > VERIFY_DEPTH + 1) {
		snprintf(detail, sizeof(detail), "certificate chain longer than limit(%d)",
		    VERIFY_DEPTH);
		fail(result, "", label, detail);
		return;
	}
	if (tls_chain_import(ders, n, chain) < 0) {
		fail(result, "server ", label, "cannot decode the certificate chain");
		return;
	}
	memset(&purpose, 0, sizeof(purpose));
	purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
	purpose.data = (void *)GNUTLS_KP_TLS_WWW_SERVER;

	if (spec->trust == NULL)
		status = GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND;
	else if (gnutls_x509_trust_list_verify_crt2(spec->trust, chain, n, &purpose, 1, flags,
		     &status, NULL)
	    < 0)
		status = GNUTLS_CERT_INVALID;

	if (status != 0) {
		status_reason(result, label, status, chain, n);
	} else if (!need_match) {
		result->status = TLS_PEER_TRUSTED;
	} else if (tls_leaf_name_matches(chain[0], spec->names, spec->name_count)) {
		result->status = TLS_PEER_VERIFIED;
		result->matched = 1;
	} else {
		/* Postfix's summary says "Trusted" for a good chain with the wrong name. */
		result->status = TLS_PEER_TRUSTED;
		num_reason(result, label, X509_ERR_HOSTNAME_MISMATCH, "hostname mismatch");
	}
	tls_chain_free(chain, n);
}

void
tls_verify_peer(gnutls_session_t session, const struct tls_match_spec *spec,
    struct tls_verify_result *result)
{
	const gnutls_datum_t *ders;
	unsigned n = 0;
	const char *label = spec->peer_label ? spec->peer_label : "unknown";
	int must_match = TLS_LEVEL_MUST_MATCH(spec->level) && spec->level != TLS_LEVEL_HALF_DANE;

	memset(result, 0, sizeof(*result));
	result->status = TLS_PEER_ANONYMOUS;

	ders = gnutls_certificate_get_peers(session, &n);
	if (ders == NULL || n == 0
	    || gnutls_certificate_type_get2(session, GNUTLS_CTYPE_SERVER) != GNUTLS_CRT_X509) {
		if (ders != NULL && n > 0)
			result->status = TLS_PEER_UNTRUSTED;
		result->matched = !must_match;
		if (must_match)
			fail(result, "server ", label, "no X.509 certificate presented");
		return;
	}
	result->status = TLS_PEER_UNTRUSTED;

	switch (spec->level) {
	case TLS_LEVEL_FINGERPRINT:
		if (fingerprint_matches(&ders[0], spec)) {
			result->status = TLS_PEER_VERIFIED;
			result->matched = 1;
		} else {
			fail(result, "", label, "not trusted by local or TLSA policy");
		}
		return;
	case TLS_LEVEL_VERIFY:
	case TLS_LEVEL_SECURE:
		check_pkix(ders, n, spec, 1, label, result);
		return;
	default:
		/* No match required here (or not by this module): report trust. */
		result->matched = !must_match;
		if (spec->trust != NULL)
			check_pkix(ders, n, spec, 0, label, result);
		return;
	}
}
