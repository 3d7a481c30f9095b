/*
 * tls_session.c - the GnuTLS client side of STARTTLS.
 *
 * tls_session_start() runs the handshake on a stream whose plaintext part
 * is finished, under smtp_starttls_timeout, then asks tls_verify_peer()
 * whether the peer satisfies the effective level, and logs Postfix's
 * summary line:
 *   Verified TLS connection established to H[A]:P: TLSv1.3 with cipher
 *   TLS_AES_256_GCM_SHA384 (256/256 bits)
 * As in Postfix, that line is logged at smtp_tls_loglevel >= 1 (the sample
 * configuration and tlsmtp(8) recommend 1); certificate failures are logged
 * at every log level when the level checks certificates.  The same status
 * word goes into the success line at every log level.
 *
 * Trust anchors, as Postfix's tls_set_ca_certificate_info(): the
 * smtp_tls_CAfile and smtp_tls_CApath the administrator configured are
 * loaded at every level that looks at certificates (not fingerprint, not
 * tafile= policies) and every log level, so that a chain to them is
 * "Trusted" at may and encrypt too; the system store is added only with
 * tls_append_default_CA = yes.  With neither configured Postfix has no
 * trust anchors at all: may and encrypt then report "Untrusted" without
 * loading anything, and only verify and secure, which could otherwise
 * never succeed, use the system store (documented in tlsmtp(8)).
 *
 * The GnuTLS priority string comes from tls_priority_string() (tls_policy.c).
 *
 * SNI: the server's host name by default (never an address literal);
 * servername=hostname|nexthop|NAME as in Postfix.
 *
 * Interface: tls_session.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/x509.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "smtp_connect.h"
#include "stream.h"
/* tls */
#include "dane.h"
#include "tls_policy.h"
#include "tls_session.h"
#include "tls_verify.h"
/* smtp: the one include that runs up (docs/architecture.md, "Exceptions") */
#include "smtp.h"

#define MATCH_NAMES_MAX TLS_POLICY_MAX_LIST

/* Process-wide state: one message per process, several sessions at most. */
static int tls_global_done;
static gnutls_certificate_credentials_t tls_creds;
static gnutls_x509_trust_list_t tls_ca_list; /* CAfile/CApath [+ system], or system */
static int tls_ca_loaded;

static int
tls_global_init(const struct tlsmtp_config *cfg, char *why, size_t whylen)
{
	int rc;

	if (tls_global_done)
		return 0;
	if ((rc = gnutls_global_init()) < 0
	    || (rc = gnutls_certificate_allocate_credentials(&tls_creds)) < 0) {
		snprintf(why, whylen, "TLS library initialisation: %s", gnutls_strerror(rc));
		return -1;
	}
	if (cfg->tls_cert_file != NULL && *cfg->tls_cert_file != '\0') {
		const char *key = cfg->tls_key_file != NULL && *cfg->tls_key_file != '\0'
		    ? cfg->tls_key_file
		    : cfg->tls_cert_file;

		rc = gnutls_certificate_set_x509_key_file(tls_creds, cfg->tls_cert_file, key,
		    GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			snprintf(why, whylen, "cannot load client certificate %s / key %s: %s",
			    cfg->tls_cert_file, key, gnutls_strerror(rc));
			gnutls_certificate_free_credentials(tls_creds);
			return -1;
		}
	}
	tls_global_done = 1;
	return 0;
}

static int
ca_configured(const struct tlsmtp_config *cfg)
{
	return (cfg->tls_CAfile != NULL && *cfg->tls_CAfile != '\0')
	    || (cfg->tls_CApath != NULL && *cfg->tls_CApath != '\0');
}

static int
add_system_trust(gnutls_x509_trust_list_t list)
{
	int rc = gnutls_x509_trust_list_add_system_trust(list, 0, 0);

	if (rc <= 0)
		log_warn("cannot load the system trust store: %s",
		    rc < 0 ? gnutls_strerror(rc) : "no certificates");
	return rc > 0 ? rc : 0;
}

/*
 * The CA trust list for one session (see the header), loaded on first use
 * and kept for the process; NULL when this session has no trust anchors.
 * verifying: the level is verify or secure.
 */
static gnutls_x509_trust_list_t
ca_trust(const struct tlsmtp_config *cfg, int verifying)
{
	int n = 0, rc;

	if (!ca_configured(cfg) && !verifying)
		return NULL;
	if (tls_ca_loaded)
		return tls_ca_list;
	tls_ca_loaded = 1;
	if (gnutls_x509_trust_list_init(&tls_ca_list, 0) < 0) {
		tls_ca_list = NULL;
		return NULL;
	}
	if (!ca_configured(cfg)) {
		n = add_system_trust(tls_ca_list);
		log_verbose("loaded %d CA certificates from the system store", n);
		return tls_ca_list;
	}
	if (cfg->tls_CAfile != NULL && *cfg->tls_CAfile != '\0') {
		rc = gnutls_x509_trust_list_add_trust_file(tls_ca_list, cfg->tls_CAfile, NULL,
		    GNUTLS_X509_FMT_PEM, 0, 0);
		if (rc <= 0)
			log_warn("cannot load CA certificates from smtp_tls_CAfile %s: %s",
			    cfg->tls_CAfile, rc < 0 ? gnutls_strerror(rc) : "no certificates");
		else
			n += rc;
	}
	if (cfg->tls_CApath != NULL && *cfg->tls_CApath != '\0') {
		rc = gnutls_x509_trust_list_add_trust_dir(tls_ca_list, cfg->tls_CApath, NULL,
		    GNUTLS_X509_FMT_PEM, 0, 0);
		if (rc <= 0)
			log_warn("cannot load CA certificates from smtp_tls_CApath %s: %s",
			    cfg->tls_CApath, rc < 0 ? gnutls_strerror(rc) : "no certificates");
		else
			n += rc;
	}
	if (cfg->tls_append_default_CA)
		n += add_system_trust(tls_ca_list);
	log_verbose("loaded %d CA certificates", n);
	return tls_ca_list;
}

/* Trust anchors from tafile= replace the CA list for this session. */
static gnutls_x509_trust_list_t
tafile_trust(const struct tls_effective *eff)
{
	gnutls_x509_trust_list_t list;

	if (gnutls_x509_trust_list_init(&list, 0) < 0)
		return NULL;
	for (size_t i = 0; i < eff->tafile_count; i++)
		if (gnutls_x509_trust_list_add_trust_file(list, eff->tafile[i], NULL,
			GNUTLS_X509_FMT_PEM, 0, 0)
		    <= 0)
			log_warn("cannot load trust anchors from tafile %s", eff->tafile[i]);
	return list;
}

/* A name for SNI: never an address literal, no trailing dot. */
static int
sni_name(const struct smtp_request *req, const struct route_addr *a, char *out, size_t outlen)
{
	const char *name = a->host;
	const char *sn = req->tls->servername;
	unsigned char addrbuf[sizeof(struct in6_addr)];
	size_t len;

	/* DANE: the TLSA base domain (RFC 7672 8.1), whatever servername= says. */
	if (req->dane != NULL && req->dane->level == TLS_LEVEL_DANE)
		name = req->dane->base;
	else if (sn != NULL && strcasecmp(sn, "nexthop") == 0)
		name = req->nexthop->host;
	else if (sn != NULL && strcasecmp(sn, "hostname") != 0)
		name = sn;
	len = strlen(name);
	while (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= outlen)
		return 0;
	memcpy(out, name, len);
	out[len] = '\0';
	if (inet_pton(AF_INET, out, addrbuf) == 1 || inet_pton(AF_INET6, out, addrbuf) == 1
	    || strchr(out, ':') != NULL)
		return 0;
	return 1;
}

static const char *
protocol_label(gnutls_protocol_t p)
{
	switch (p) {
	case GNUTLS_TLS1_0:
		return "TLSv1";
	case GNUTLS_TLS1_1:
		return "TLSv1.1";
	case GNUTLS_TLS1_2:
		return "TLSv1.2";
	case GNUTLS_TLS1_3:
		return "TLSv1.3";
	default:
		return "unknown";
	}
}

static void
session_details(gnutls_session_t sess, struct tls_info *info)
{
	const char *suite = gnutls_ciphersuite_get(sess);
	size_t keysize = gnutls_cipher_get_key_size(gnutls_cipher_get(sess));

	snprintf(info->protocol, sizeof(info->protocol), "%s",
	    protocol_label(gnutls_protocol_get_version(sess)));
	snprintf(info->cipher, sizeof(info->cipher), "%s", suite != NULL ? suite : "unknown");
	info->usebits = info->algbits = (unsigned)keysize * 8;
}

/* Run the handshake under the STARTTLS deadline. */
static int
handshake(struct stream *s, gnutls_session_t sess, int64_t deadline, char *why, size_t whylen)
{
	int rc;

	for (;;) {
		rc = gnutls_handshake(sess);
		if (rc == GNUTLS_E_SUCCESS)
			return 0;
		if (gnutls_error_is_fatal(rc)) {
			snprintf(why, whylen, "%s", gnutls_strerror(rc));
			return -1;
		}
		if (stream_wait_tls(s, deadline) != STREAM_OK) {
			snprintf(why, whylen, "handshake timed out");
			return -1;
		}
	}
}

/* ---- DANE begin ----
 * Usable TLSA records: the peer must match them (dane.c).  DANE-TA names
 * are "nexthop, hostname": the next-hop domain, the MX host name and the
 * TLSA base domain when a CNAME made it differ.
 */
static void
dane_peer(gnutls_session_t sess, const struct smtp_request *req, const struct route_addr *a,
    const char *label, struct tls_verify_result *res)
{
	const char *names[3];
	size_t n = 0;

	if (req->nexthop->kind == NEXTHOP_DOMAIN && !req->dane->insecure_mx)
		names[n++] = req->nexthop->host;
	names[n++] = a->host;
	if (strcasecmp(req->dane->base, a->host) != 0)
		names[n++] = req->dane->base;
	dane_verify(sess, &req->dane->tlsa, names, n, label, res);
	/* Half-dane: matched, but the MX name could have been forged. */
	if (res->matched && req->dane->insecure_mx)
		res->status = TLS_PEER_TRUSTED;
}
/* ---- DANE end ---- */

/* Verify the peer and log the outcome; returns 1 when the level is satisfied. */
static int
check_peer(gnutls_session_t sess, const struct smtp_request *req, const struct route_addr *a,
    const char *label, struct tls_info *info)
{
	const struct tls_effective *eff = req->tls;
	struct tls_match_spec spec;
	struct tls_verify_result res;
	char *names[MATCH_NAMES_MAX];
	size_t nnames = 0;
	gnutls_x509_trust_list_t own = NULL;
	const char *dname = req->cfg->tls_fingerprint_digest;
	/* At the dane levels the TLSA records decide the level (dane.c). */
	enum tls_level level = req->dane != NULL ? req->dane->level : eff->level;

	memset(&spec, 0, sizeof(spec));
	memset(&res, 0, sizeof(res));
	spec.level = level;
	spec.peer_label = label;
	spec.digest_alg = gnutls_digest_get_id(dname != NULL && *dname != '\0' ? dname : "sha256");
	if (TLS_LEVEL_MUST_PKIX(eff->level)) {
		nnames = tls_policy_match_names(eff, req->nexthop, a->host, names, MATCH_NAMES_MAX);
		spec.names = (const char *const *)names;
		spec.name_count = nnames;
	} else if (eff->level == TLS_LEVEL_FINGERPRINT) {
		spec.digests = (const char *const *)eff->match;
		spec.digest_count = eff->match_count;
	}
	/* The same anchors at every log level: the status word must not depend on it. */
	if (TLS_LEVEL_MUST_PKIX(eff->level) && eff->tafile_count > 0)
		spec.trust = own = tafile_trust(eff);
	else if (eff->level != TLS_LEVEL_FINGERPRINT)
		spec.trust = ca_trust(req->cfg, TLS_LEVEL_MUST_PKIX(eff->level));
	if (level == TLS_LEVEL_DANE && req->dane != NULL)
		dane_peer(sess, req, a, label, &res); /* DANE */
	else
		tls_verify_peer(sess, &spec, &res);
	tls_match_names_free(names, nnames);
	if (own != NULL)
		gnutls_x509_trust_list_deinit(own, 1);
	info->status = res.status;
	snprintf(info->detail, sizeof(info->detail), "%s", res.reason);
	if (req->cfg->tls_loglevel >= 1)
		log_info("%s TLS connection established to %s: %s with cipher %s (%u/%u bits)",
		    tls_peer_status_name(res.status), label, info->protocol, info->cipher,
		    info->usebits, info->algbits);
	if (TLS_LEVEL_MUST_MATCH(level)) {
		if (!res.matched && res.reason[0] != '\0')
			log_info("%s", res.reason);
		return res.matched;
	}
	if (res.reason[0] != '\0' && req->cfg->tls_loglevel >= 1)
		log_info("%s", res.reason);
	return 1;
}

enum tls_start_result
tls_session_start(struct stream *s, const struct smtp_request *req, const struct route_addr *a,
    struct tls_info *info)
{
	const struct tlsmtp_config *cfg = req->cfg;
	gnutls_session_t sess;
	gnutls_priority_t prio;
	char why[OUTCOME_TEXT_MAX], prios[1024], sni[256], label[ROUTE_LABEL_MAX];
	const char *errpos = NULL;
	int rc;

	memset(info, 0, sizeof(*info));
	snprintf(label, sizeof(label), "%s[%s]:%u", a->host, a->addr, route_addr_port(a));
	if (tls_global_init(cfg, why, sizeof(why)) != 0) {
		log_warn("%s", why);
		snprintf(info->detail, sizeof(info->detail), "%s", why);
		return TLS_START_CONFIG;
	}
	if (tls_priority_string(req->tls, prios, sizeof(prios), why, sizeof(why)) != 0
	    || (rc = gnutls_priority_init2(&prio, prios, &errpos, 0)) < 0) {
		if (errpos != NULL)
			snprintf(why, sizeof(why), "bad TLS priority near \"%.40s\"", errpos);
		log_warn("%s: Invalid TLS cipher or protocol settings (%s): aborting TLS session",
		    label, why);
		snprintf(info->detail, sizeof(info->detail), "%s", why);
		return TLS_START_CONFIG;
	}
	log_verbose("%s: TLS priority %s", label, prios);
	if ((rc = gnutls_init(&sess, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0) {
		gnutls_priority_deinit(prio);
		snprintf(info->detail, sizeof(info->detail), "%s", gnutls_strerror(rc));
		return TLS_START_CONFIG;
	}
	rc = gnutls_priority_set(sess, prio);
	gnutls_priority_deinit(prio);
	if (rc < 0 || (rc = gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE, tls_creds)) < 0) {
		gnutls_deinit(sess);
		snprintf(info->detail, sizeof(info->detail), "%s", gnutls_strerror(rc));
		return TLS_START_CONFIG;
	}
	if (sni_name(req, a, sni, sizeof(sni)))
		(void)gnutls_server_name_set(sess, GNUTLS_NAME_DNS, sni, strlen(sni));
	gnutls_transport_set_int(sess, stream_fd(s));
	stream_set_tls(s, sess);
	if (handshake(s, sess, stage_deadline(cfg->starttls_timeout, req->deadline_ms), why,
		sizeof(why))
	    != 0) {
		log_info("SSL_connect error to %s: %s", label, why);
		snprintf(info->detail, sizeof(info->detail), "%s", why);
		return TLS_START_HANDSHAKE;
	}
	session_details(sess, info);
	if (!check_peer(sess, req, a, label, info))
		return TLS_START_NOT_VERIFIED;
	return TLS_START_OK;
}
