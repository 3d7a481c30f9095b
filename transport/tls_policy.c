/*
 * tls_policy.c - the effective TLS policy for one next-hop.
 *
 * Postfix's smtp_tls_policy rules: look the next-hop up in
 * smtp_tls_policy_maps; no entry means smtp_tls_security_level; an entry
 * gives the level and any of protocols=, ciphers=, exclude=, match=,
 * tafile=, servername=.  What the entry leaves out comes from main.cf-style
 * parameters: smtp_tls_protocols/ciphers/exclude_ciphers at "may",
 * smtp_tls_mandatory_* at the levels that require TLS; the match strategies
 * default to smtp_tls_verify_cert_match (verify), smtp_tls_secure_cert_match
 * (secure) and smtp_tls_fingerprint_cert_match (fingerprint).
 *
 * Fail closed: a malformed entry, a table that cannot be read, a bad
 * main.cf value or an unreadable tafile make the level TLS_LEVEL_INVALID,
 * which the session turns into "4.7.5 client TLS configuration problem"
 * without ever connecting in plaintext.
 *
 * GnuTLS priorities (tls_priority_string): the cipher grade picks a base
 * (export/low: NORMAL plus 3DES and RC4 where the library still has them;
 * medium: NORMAL; high: SECURE128; null: NORMAL plus NULL, at "may" only),
 * the protocol mask becomes -VERS-ALL:+VERS-TLSx.y (SSLv2/SSLv3 are never
 * offered), levels that require TLS drop NULL ciphers, anonymous suites are
 * never offered, and the exclude list maps common OpenSSL cipher words to
 * GnuTLS removals (unknown words are logged and ignored).
 *
 * Interface: tls_policy.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/x509.h>

/* core */
#include "core.h"
/* tls */
#include "tls_policy.h"

#define MATCH_SEPARATORS  " \t,:"
#define DIGEST_SEPARATORS " \t,|"

static void
mark_invalid(struct tls_effective *eff, const char *reason)
{
	eff->level = TLS_LEVEL_INVALID;
	snprintf(eff->invalid_reason, sizeof(eff->invalid_reason), "%s", reason);
}

static char *
lower_dup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[len] = '\0';
	return d;
}

static int
list_add(char ***list, size_t *count, char *item)
{
	char **grown;

	if (item == NULL)
		return -1;
	if ((grown = realloc(*list, (*count + 1) * sizeof(**list))) == NULL) {
		free(item);
		return -1;
	}
	*list = grown;
	(*list)[(*count)++] = item;
	return 0;
}

/* Split a main.cf list value into lower-case words. */
static int
split_words(const char *value, const char *seps, char ***list, size_t *count)
{
	const char *p = value;
	size_t len;

	while (p != NULL && *p != '\0') {
		p += strspn(p, seps);
		len = strcspn(p, seps);
		if (len == 0)
			break;
		if (list_add(list, count, lower_dup(p, len)) < 0)
			return -1;
		p += len;
	}
	return 0;
}

/* Remove colons from a digest; only hex of 16..64 bytes is a digest. */
static int
normalise_digest(char *d)
{
	char *w = d;

	for (char *r = d; *r != '\0'; r++) {
		if (*r == ':')
			continue;
		if (!isxdigit((unsigned char)*r))
			return -1;
		*w++ = (char)tolower((unsigned char)*r);
	}
	*w = '\0';
	if ((w - d) % 2 != 0 || w - d < 32 || w - d > 128)
		return -1;
	return 0;
}

/* Each tafile must yield at least one anchor, or the policy is invalid. */
static int
check_tafile(const char *path, char *why, size_t whylen)
{
	gnutls_x509_trust_list_t list;
	int n;

	if (gnutls_x509_trust_list_init(&list, 0) < 0) {
		snprintf(why, whylen, "cannot allocate a trust list");
		return -1;
	}
	n = gnutls_x509_trust_list_add_trust_file(list, path, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	gnutls_x509_trust_list_deinit(list, 1);
	if (n <= 0) {
		snprintf(why, whylen, "cannot load trust anchors from tafile \"%s\"", path);
		return -1;
	}
	return 0;
}

/* Join two exclusion lists into one colon-separated list (NULL if empty). */
static char *
join_excludes(const char *a, const char *b)
{
	char **words = NULL;
	size_t count = 0, len = 0, o = 0;
	char *out = NULL;

	if (split_words(a, " \t,:", &words, &count) < 0
	    || split_words(b, " \t,:", &words, &count) < 0)
		goto done;
	if (count == 0)
		goto done;
	for (size_t i = 0; i < count; i++)
		len += strlen(words[i]) + 1;
	if ((out = malloc(len)) == NULL)
		goto done;
	for (size_t i = 0; i < count; i++) {
		size_t wl = strlen(words[i]);

		if (i > 0)
			out[o++] = ':';
		memcpy(out + o, words[i], wl);
		o += wl;
	}
	out[o] = '\0';
done:
	for (size_t i = 0; i < count; i++)
		free(words[i]);
	free(words);
	return out;
}

/* Protocols, grade and exclusions: from the entry, else from main.cf. */
static void
set_ciphers_and_protocols(const struct tlsmtp_config *cfg, const struct tls_policy *p,
    struct tls_effective *eff)
{
	int mandatory = TLS_LEVEL_REQUIRES_TLS(eff->level);
	const char *proto = mandatory ? cfg->tls_mandatory_protocols : cfg->tls_protocols;
	const char *grade = mandatory ? cfg->tls_mandatory_ciphers : cfg->tls_ciphers;
	const char *pname = mandatory ? "smtp_tls_mandatory_protocols" : "smtp_tls_protocols";
	const char *gname = mandatory ? "smtp_tls_mandatory_ciphers" : "smtp_tls_ciphers";
	char err[256], why[OUTCOME_TEXT_MAX];

	if (p != NULL && p->protocols != NULL)
		eff->protocol_mask = p->protocol_mask;
	else if (tls_protocols_parse(proto != NULL ? proto : "", &eff->protocol_mask, err,
		     sizeof(err))
	    != 0) {
		snprintf(why, sizeof(why), "invalid %s value \"%s\": %s", pname, proto, err);
		mark_invalid(eff, why);
		return;
	}
	if (p != NULL && p->cipher_grade != TLS_GRADE_INVALID)
		eff->grade = p->cipher_grade;
	else if ((eff->grade = tls_cipher_grade_from_name(grade != NULL ? grade : "medium"))
	    == TLS_GRADE_INVALID) {
		snprintf(why, sizeof(why), "invalid %s value \"%s\"", gname, grade);
		mark_invalid(eff, why);
		return;
	}
	if (p != NULL && p->exclude != NULL)
		eff->exclude = join_excludes(p->exclude, NULL);
	else if (mandatory)
		eff->exclude =
		    join_excludes(cfg->tls_exclude_ciphers, cfg->tls_mandatory_exclude_ciphers);
	else
		eff->exclude = join_excludes(cfg->tls_exclude_ciphers, NULL);
}

/* match= from the entry, else the level's main.cf default. */
static void
set_match(const struct tlsmtp_config *cfg, const struct tls_policy *p, struct tls_effective *eff)
{
	const char *dflt;
	char why[OUTCOME_TEXT_MAX];

	if (!TLS_LEVEL_MUST_MATCH(eff->level) || eff->level == TLS_LEVEL_DANE
	    || eff->level == TLS_LEVEL_DANE_ONLY || eff->level == TLS_LEVEL_HALF_DANE)
		return;
	if (p != NULL && p->match_count > 0) {
		for (size_t i = 0; i < p->match_count; i++)
			if (list_add(&eff->match, &eff->match_count, strdup(p->match[i])) < 0)
				goto nomem;
	} else {
		if (eff->level == TLS_LEVEL_FINGERPRINT)
			dflt = cfg->tls_fingerprint_cert_match;
		else if (eff->level == TLS_LEVEL_VERIFY)
			dflt = cfg->tls_verify_cert_match;
		else
			dflt = cfg->tls_secure_cert_match;
		if (split_words(dflt,
			eff->level == TLS_LEVEL_FINGERPRINT ? DIGEST_SEPARATORS : MATCH_SEPARATORS,
			&eff->match, &eff->match_count)
		    < 0)
			goto nomem;
	}
	if (eff->level == TLS_LEVEL_FINGERPRINT) {
		size_t kept = 0;

		for (size_t i = 0; i < eff->match_count; i++) {
			if (normalise_digest(eff->match[i]) == 0)
				eff->match[kept++] = eff->match[i];
			else {
				log_warn("invalid fingerprint \"%s\" ignored", eff->match[i]);
				free(eff->match[i]);
			}
		}
		eff->match_count = kept;
		if (kept == 0) {
			text_cut(why, sizeof(why),
			    "nexthop domain %s: configured at fingerprint "
			    "security level, but with no fingerprints to match.",
			    eff->source);
			mark_invalid(eff, why);
		}
	} else if (eff->match_count == 0) {
		mark_invalid(eff, "no certificate match strategies or names");
	}
	return;
nomem:
	mark_invalid(eff, "out of memory");
}

static void
set_tafiles(const struct tls_policy *p, struct tls_effective *eff)
{
	char why[OUTCOME_TEXT_MAX];

	for (size_t i = 0; i < p->tafile_count; i++) {
		if (check_tafile(p->tafile[i], why, sizeof(why)) != 0) {
			mark_invalid(eff, why);
			return;
		}
		if (list_add(&eff->tafile, &eff->tafile_count, strdup(p->tafile[i])) < 0) {
			mark_invalid(eff, "out of memory");
			return;
		}
	}
}

/* Fill eff from one parsed policy (p NULL: main.cf defaults only). */
static void
merge(const struct tlsmtp_config *cfg, const struct tls_policy *p, struct tls_effective *eff)
{
	if (eff->level == TLS_LEVEL_INVALID)
		return;
	if (eff->level == TLS_LEVEL_NONE)
		return;
	set_ciphers_and_protocols(cfg, p, eff);
	if (eff->level == TLS_LEVEL_INVALID)
		return;
	if (p != NULL && p->servername != NULL
	    && (eff->servername = strdup(p->servername)) == NULL) {
		mark_invalid(eff, "out of memory");
		return;
	}
	set_match(cfg, p, eff);
	if (eff->level == TLS_LEVEL_INVALID || p == NULL)
		return;
	if (TLS_LEVEL_MUST_PKIX(eff->level))
		set_tafiles(p, eff);
}

/*
 * MTA-STS enforce (RFC 8461 section 4.2, 7.2): a certificate verified for
 * the MX host name (match=hostname), TLS 1.2 or newer, the mandatory
 * ciphers; built from a policy value so that it takes the same path as a
 * table entry.
 */
void
tls_policy_mta_sts(const struct tlsmtp_config *cfg, const char *source, struct tls_effective *eff)
{
	struct tls_policy p;
	char err[OUTCOME_TEXT_MAX];

	memset(eff, 0, sizeof(*eff));
	tls_policy_init(&p);
	text_cut(eff->source, sizeof(eff->source), "%s", source);
	if (tls_policy_parse("secure match=hostname protocols=>=TLSv1.2", &p, err, sizeof(err))
	    != 0) {
		mark_invalid(eff, err);
	} else {
		eff->level = p.level;
		merge(cfg, &p, eff);
	}
	tls_policy_free(&p);
}

void
tls_policy_resolve(const struct tlsmtp_config *cfg, struct policy_maps *maps,
    const struct nexthop *nh, struct tls_effective *eff)
{
	struct policy_result res;
	enum policy_lookup_status st = POLICY_NOT_FOUND;
	char err[OUTCOME_TEXT_MAX];

	memset(eff, 0, sizeof(*eff));
	memset(&res, 0, sizeof(res));
	tls_policy_init(&res.policy);
	err[0] = '\0';
	if (maps != NULL)
		st = policy_lookup(maps, nh, &res, err, sizeof(err));
	switch (st) {
	case POLICY_NOT_FOUND:
		snprintf(eff->source, sizeof(eff->source), "smtp_tls_security_level");
		eff->level = cfg->default_level;
		if (eff->level == TLS_LEVEL_INVALID)
			mark_invalid(eff, "invalid smtp_tls_security_level");
		merge(cfg, NULL, eff);
		break;
	case POLICY_FOUND:
		text_cut(eff->source, sizeof(eff->source), "%s %s", res.map, res.key);
		for (size_t i = 0; i < res.policy.note_count; i++)
			log_warn("smtp_tls_policy_maps, next-hop destination \"%s\": %s", nh->key,
			    res.policy.notes[i]);
		eff->level = res.policy.level;
		merge(cfg, &res.policy, eff);
		break;
	case POLICY_INVALID:
	case POLICY_LOOKUP_ERROR:
		text_cut(eff->source, sizeof(eff->source), "%s %s", res.map,
		    res.key[0] != '\0' ? res.key : nh->key);
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "policy table lookup error");
		mark_invalid(eff, err);
		log_warn("smtp_tls_policy_maps, next-hop destination \"%s\": %s", nh->key, err);
		break;
	}
	if (eff->level == TLS_LEVEL_INVALID && st != POLICY_INVALID && st != POLICY_LOOKUP_ERROR)
		log_warn("%s: %s", eff->source, eff->invalid_reason);
	/*
	 * Postfix's second line names DEST/HOST per server; the agent stops
	 * before routing, so the host is known only for [host] next-hops.
	 */
	if (eff->level == TLS_LEVEL_INVALID) {
		if (nh->kind == NEXTHOP_DOMAIN)
			log_warn("TLS policy lookup for %s: client TLS configuration problem",
			    nh->key);
		else
			log_warn("TLS policy lookup for %s/%s: client TLS configuration problem",
			    nh->key, nh->host);
	}
	policy_result_free(&res);
}

static void
free_list(char **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

void
tls_effective_free(struct tls_effective *eff)
{
	free(eff->exclude);
	free_list(eff->match, eff->match_count);
	free_list(eff->tafile, eff->tafile_count);
	free(eff->servername);
	eff->exclude = NULL;
	eff->match = NULL;
	eff->tafile = NULL;
	eff->servername = NULL;
	eff->match_count = eff->tafile_count = 0;
}

/* Lower-case copy without a trailing dot, with an optional prefix. */
static char *
pattern_dup(const char *prefix, const char *name)
{
	size_t plen = strlen(prefix), nlen = strlen(name);
	char *d;

	while (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (nlen == 0 || (d = malloc(plen + nlen + 1)) == NULL)
		return NULL;
	memcpy(d, prefix, plen);
	for (size_t i = 0; i < nlen; i++)
		d[plen + i] = (char)tolower((unsigned char)name[i]);
	d[plen + nlen] = '\0';
	return d;
}

size_t
tls_policy_match_names(const struct tls_effective *eff, const struct nexthop *nh,
    const char *hostname, char **names, size_t max)
{
	size_t n = 0;
	char *p;
	const char *host = nh->kind == NEXTHOP_HOST ? nh->host : hostname;

	for (size_t i = 0; i < eff->match_count && n < max; i++) {
		const char *m = eff->match[i];

		if (strcasecmp(m, "nexthop") == 0)
			p = pattern_dup("", nh->host);
		else if (strcasecmp(m, "dot-nexthop") == 0)
			p = pattern_dup(".", nh->host);
		else if (strcasecmp(m, "hostname") == 0)
			p = pattern_dup("", host != NULL ? host : "");
		else
			p = pattern_dup("", m);
		if (p != NULL)
			names[n++] = p;
	}
	return n;
}

void
tls_match_names_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
}

/* ------------------------------------------------------------------------
 * GnuTLS priorities.
 */

/* OpenSSL cipher words -> GnuTLS removals. */
static const struct {
	const char *word;
	const char *gnutls;
} exclude_map[] = {
	{ "anull", "-ANON-DH:-ANON-ECDH" },
	{ "adh", "-ANON-DH" },
	{ "aecdh", "-ANON-ECDH" },
	{ "enull", "-NULL" },
	{ "null", "-NULL" },
	{ "3des", "-3DES-CBC" },
	{ "des-cbc3-sha", "-3DES-CBC" },
	{ "rc4", "-ARCFOUR-128" },
	{ "md5", "-MD5" },
	{ "sha1", "-SHA1" },
	{ "sha", "-SHA1" },
	{ "camellia", "-CAMELLIA-128-GCM:-CAMELLIA-256-GCM:-CAMELLIA-128-CBC:-CAMELLIA-256-CBC" },
	{ "aes128", "-AES-128-GCM:-AES-128-CBC:-AES-128-CCM" },
	{ "aes256", "-AES-256-GCM:-AES-256-CBC:-AES-256-CCM" },
	{ "chacha20", "-CHACHA20-POLY1305" },
	{ "krsa", "-RSA" },
	{ "rsa", "-RSA" },
	{ "edh", "-DHE-RSA:-DHE-DSS" },
	{ "dhe", "-DHE-RSA:-DHE-DSS" },
	{ "kdhe", "-DHE-RSA:-DHE-DSS" },
};

static int
append(char *out, size_t outlen, size_t *o, const char *text)
{
	size_t len = strlen(text);

	if (*o + len + 1 > outlen)
		return -1;
	memcpy(out + *o, text, len + 1);
	*o += len;
	return 0;
}

static int
append_excludes(const char *exclude, char *out, size_t outlen, size_t *o)
{
	const char *p = exclude;
	char word[64];
	size_t len, i, k;

	while (p != NULL && *p != '\0') {
		p += strspn(p, ": \t,");
		len = strcspn(p, ": \t,");
		if (len == 0)
			break;
		for (i = 0; i < len && i + 1 < sizeof(word); i++)
			word[i] = (char)tolower((unsigned char)p[i]);
		word[i] = '\0';
		p += len;
		for (k = 0; k < sizeof(exclude_map) / sizeof(exclude_map[0]); k++)
			if (strcmp(word, exclude_map[k].word) == 0)
				break;
		if (k == sizeof(exclude_map) / sizeof(exclude_map[0])) {
			log_warn("TLS cipher exclusion \"%s\" has no GnuTLS equivalent; ignored",
			    word);
			continue;
		}
		if (append(out, outlen, o, ":") < 0
		    || append(out, outlen, o, exclude_map[k].gnutls) < 0)
			return -1;
	}
	return 0;
}

int
tls_priority_string(const struct tls_effective *eff, char *out, size_t outlen, char *err,
    size_t errlen)
{
	static const struct {
		unsigned bit;
		const char *name;
	} versions[] = {
		{ TLS_PROTO_TLSv1_3, ":+VERS-TLS1.3" },
		{ TLS_PROTO_TLSv1_2, ":+VERS-TLS1.2" },
		{ TLS_PROTO_TLSv1_1, ":+VERS-TLS1.1" },
		{ TLS_PROTO_TLSv1, ":+VERS-TLS1.0" },
	};
	int mandatory = TLS_LEVEL_REQUIRES_TLS(eff->level);
	const char *base;
	size_t o = 0, nversions = 0;

	switch (eff->grade) {
	case TLS_GRADE_EXPORT:
	case TLS_GRADE_LOW:
		base = "NORMAL:+3DES-CBC:+ARCFOUR-128";
		break;
	case TLS_GRADE_HIGH:
		base = "SECURE128";
		break;
	case TLS_GRADE_NULL:
		base = mandatory ? "NORMAL" : "NORMAL:+NULL";
		break;
	case TLS_GRADE_MEDIUM:
	default:
		base = "NORMAL";
		break;
	}
	if (append(out, outlen, &o, base) < 0 || append(out, outlen, &o, ":-VERS-ALL") < 0)
		goto toolong;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		if ((eff->protocol_mask & versions[i].bit) == 0)
			continue;
		if (append(out, outlen, &o, versions[i].name) < 0)
			goto toolong;
		nversions++;
	}
	if (nversions == 0) {
		snprintf(err, errlen, "no TLS protocol version left to negotiate");
		return -1;
	}
	/* Anonymous suites are not in the bases; say so for exclusion lists too. */
	if (append(out, outlen, &o, ":-ANON-DH:-ANON-ECDH") < 0)
		goto toolong;
	if (mandatory && append(out, outlen, &o, ":-NULL") < 0)
		goto toolong;
	if (eff->exclude != NULL && append_excludes(eff->exclude, out, outlen, &o) < 0)
		goto toolong;
	return 0;
toolong:
	snprintf(err, errlen, "TLS priority string too long");
	return -1;
}
