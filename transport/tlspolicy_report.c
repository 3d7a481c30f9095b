/*
 * tlspolicy_report.c - tlspolicy's results as text for people or as JSON
 * for programs.
 *
 * JSON: one array, one object per recipient (explain) or destination
 * argument (probe), fields as in tlspolicy(8): recipient, transport,
 * nexthop, keys_tried, matched_key, entry, source, level, match,
 * warnings and, for probe, addresses (address, tls, verified,
 * certificate, verdict).  The destination fields at the top describe the
 * first destination; "destinations" has every one (next-hop lists and
 * smtp_fallback_relay).  Strings are escaped for JSON (control characters
 * as \u00XX, bytes that are not UTF-8 as U+FFFD).
 *
 * Certificates: subject and issuer in the one-line form of the agent's
 * reasons (tls_dn_oneline), subjectAltName DNS names and IP addresses,
 * validity in UTC, and the fingerprints a "fingerprint" entry takes
 * (tls_fingerprint_hex: SHA-256 of the certificate and of its public key).
 *
 * Interface: tlspolicy.h (section tlspolicy_report.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* core */
#include "core.h"
/* tls */
#include "tls_verify.h"
/* smtp */
#include "smtp.h"
/* main */
#include "tlspolicy.h"

#define SAN_SHOWN_MAX  64 /* subjectAltName entries shown per certificate */
#define JSON_DEPTH_MAX 16

/* ------------------------------------------------------------------------
 * Certificate details.
 */
struct cert_info {
	char subject[512];
	char issuer[512];
	struct tp_list san;
	char not_before[32];
	char not_after[32];
	char sha256[65];
	char pubkey_sha256[65];
};

static void
utc_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL
	    || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "unknown");
}

static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void
cert_names(gnutls_x509_crt_t crt, struct cert_info *ci)
{
	char buf[512], addr[INET6_ADDRSTRLEN];
	size_t size;
	unsigned critical;
	int type;

	for (unsigned i = 0; i < SAN_SHOWN_MAX; i++) {
		size = sizeof(buf) - 1;
		type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			buf[size] = '\0';
			printable(buf);
			tp_list_add(&ci->san, "DNS:%s", buf);
		} else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)
		    && inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, addr, sizeof(addr)) != NULL) {
			tp_list_add(&ci->san, "IP:%s", addr);
		}
	}
}

static int
cert_describe(const gnutls_datum_t *der, struct cert_info *ci)
{
	gnutls_x509_crt_t crt;

	memset(ci, 0, sizeof(*ci));
	if (gnutls_x509_crt_init(&crt) < 0)
		return -1;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return -1;
	}
	tls_dn_oneline(crt, 0, ci->subject, sizeof(ci->subject));
	tls_dn_oneline(crt, 1, ci->issuer, sizeof(ci->issuer));
	cert_names(crt, ci);
	utc_time(gnutls_x509_crt_get_activation_time(crt), ci->not_before, sizeof(ci->not_before));
	utc_time(gnutls_x509_crt_get_expiration_time(crt), ci->not_after, sizeof(ci->not_after));
	if (tls_fingerprint_hex(der, GNUTLS_DIG_SHA256, 0, ci->sha256, sizeof(ci->sha256)) != 0)
		ci->sha256[0] = '\0';
	if (tls_fingerprint_hex(der, GNUTLS_DIG_SHA256, 1, ci->pubkey_sha256,
		sizeof(ci->pubkey_sha256))
	    != 0)
		ci->pubkey_sha256[0] = '\0';
	gnutls_x509_crt_deinit(crt);
	return 0;
}

/* ------------------------------------------------------------------------
 * Text.
 */
static void
text_list(FILE *fp, const char *indent, const char *label, const struct tp_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		fprintf(fp, "%s%s%s\n", indent, label, l->item[i]);
}

static void
text_certificate(FILE *fp, const struct smtp_probe *p)
{
	struct cert_info ci;

	for (unsigned i = 0; i < p->chain_count; i++) {
		if (cert_describe(&p->chain[i], &ci) != 0) {
			fprintf(fp, "      certificate %u: cannot be decoded\n", i);
			continue;
		}
		fprintf(fp, "      certificate %u: %s\n", i, ci.subject);
		fprintf(fp, "        issuer:  %s\n", ci.issuer);
		if (ci.san.count > 0) {
			fprintf(fp, "        names:  ");
			for (size_t k = 0; k < ci.san.count; k++)
				fprintf(fp, " %s", ci.san.item[k]);
			fprintf(fp, "\n");
		}
		fprintf(fp, "        valid:   %s to %s\n", ci.not_before, ci.not_after);
		fprintf(fp, "        sha256:  %s (certificate)\n", ci.sha256);
		fprintf(fp, "        sha256:  %s (public key)\n", ci.pubkey_sha256);
		tp_list_free(&ci.san);
	}
}

static const char *
tlsa_status_word(enum tlsa_status st)
{
	return tlsa_status_text(st);
}

static void
text_address(FILE *fp, const struct tp_address *a)
{
	const struct smtp_probe *p = &a->probe;

	fprintf(fp, "    %s: %s\n", a->label, a->verdict);
	if (a->sts_match >= 0)
		fprintf(fp, "      mta-sts: the MX host %s the mx patterns%s\n",
		    a->sts_match ? "matches" : "matches none of",
		    a->sts_used ? "; the enforce policy decided this attempt" : "");
	if (p->dane)
		fprintf(fp, "      dane: TLSA for %s: %s, %zu record(s), %zu usable: level %s\n",
		    p->tlsa_base, tlsa_status_word(p->tlsa_status), p->tlsa_count, p->tlsa_usable,
		    tls_level_name(p->dane_level));
	if (p->tls_active)
		fprintf(fp, "      tls: %s with cipher %s (%u bits), %s\n", p->tls.protocol,
		    p->tls.cipher, p->tls.usebits, tls_peer_status_name(p->tls.status));
	else if (p->tls.detail[0] != '\0')
		fprintf(fp, "      tls: %s\n", p->tls.detail);
	text_certificate(fp, p);
	text_list(fp, "      log: ", "", &a->log);
}

/* The built-in MTA-STS state of a destination (tlspolicy_sts.c). */
static void
text_sts(FILE *fp, const struct tp_dest *d)
{
	const struct mta_sts_result *s = d->sts;
	char when[32];

	if (d->sts_skip[0] != '\0')
		fprintf(fp, "    mta-sts: not looked for: %s\n", d->sts_skip);
	if (s == NULL)
		return;
	fprintf(fp, "    mta-sts: policy domain %s, TXT id %s\n", s->domain,
	    s->txt_id[0] != '\0' ? s->txt_id : "none");
	if (s->active) {
		utc_time((time_t)s->expires, when, sizeof(when));
		fprintf(fp, "    mta-sts: policy id %s (%s), mode %s, max_age %ld, expires %s, mx",
		    s->id, s->from_cache ? "cached" : "fetched", sts_mode_name(s->policy.mode),
		    s->policy.max_age, when);
		for (size_t i = 0; i < s->policy.mx_count; i++)
			fprintf(fp, " %s", s->policy.mx[i]);
		fprintf(fp, "\n");
	}
	if (s->error[0] != '\0')
		fprintf(fp, "    mta-sts: %s%s\n", d->sts_fetch_failed ? "fetch failed: " : "",
		    s->error);
	fprintf(fp, "    mta-sts: %s\n", d->sts_decision);
	text_list(fp, "    mta-sts: not tried (outside the mx patterns): ", "", &d->sts_not_tried);
}

static void
text_dest(FILE *fp, const struct tp_dest *d, size_t index, size_t count)
{
	fprintf(fp, "  destination %s", d->nh.key);
	if (count > 1)
		fprintf(fp, " (%s, %zu of %zu)", d->fallback ? "fallback relay" : "next-hop",
		    index + 1, count);
	fprintf(fp, "\n");
	for (size_t i = 0; i < d->lookup_count; i++) {
		const struct tp_lookup *l = &d->lookups[i];

		fprintf(fp, "    lookup %s in %s: %s%s%s\n", l->key, l->map,
		    l->rc > 0	    ? "found \""
			: l->rc < 0 ? "error: "
				    : "not found",
		    l->value != NULL ? l->value : "", l->rc > 0 ? "\"" : "");
	}
	if (d->matched_key[0] != '\0')
		fprintf(fp, "    entry: %s %s (%s)\n", d->matched_key,
		    d->entry != NULL ? d->entry : "",
		    d->source[0] != '\0' ? d->source : d->matched_map);
	else if (d->level != TLS_LEVEL_INVALID)
		fprintf(fp, "    entry: none, %s applies\n", d->level_from);
	fprintf(fp, "    level: %s: %s\n", tls_level_name(d->level), d->level_text);
	if (d->match.count > 0) {
		fprintf(fp, "    match:");
		for (size_t i = 0; i < d->match.count; i++)
			fprintf(fp, " %s", d->match.item[i]);
		fprintf(fp, "\n");
	}
	if (d->dane[0] != '\0')
		fprintf(fp, "    dane: %s\n", d->dane);
	if (d->mta_sts[0] != '\0')
		fprintf(fp, "    mta-sts: %s\n", d->mta_sts);
	text_sts(fp, d);
	text_list(fp, "    log: ", "", &d->log);
	if (!d->probed)
		return;
	for (size_t i = 0; i < d->addr_count; i++)
		text_address(fp, &d->addrs[i]);
	if (d->route_error[0] != '\0')
		fprintf(fp, "    route: %s\n", d->route_error);
	if (count > 1)
		fprintf(fp, "    verdict: %s\n", d->verdict);
}

void
tp_report_text(FILE *fp, const struct tp_result *r, int probe)
{
	if (r->recipient != NULL)
		fprintf(fp, "%s %s%s%s%s\n", probe ? "probe" : "recipient", r->recipient,
		    r->sender != NULL ? " (sender <" : "", r->sender != NULL ? r->sender : "",
		    r->sender != NULL ? ">)" : "");
	else
		fprintf(fp, "probe %s\n", r->argument);
	text_list(fp, "  route: ", "", &r->route);
	if (r->transport[0] != '\0')
		fprintf(fp, "  transport: %s%s%s%s\n", r->transport, r->service[0] ? " (" : "",
		    r->service, r->service[0] ? ")" : "");
	if (r->nexthop[0] != '\0')
		fprintf(fp, "  nexthop: %s\n", r->nexthop);
	if (r->conf[0] != '\0')
		fprintf(fp, "  tlsmtp configuration: %s\n", r->conf);
	for (size_t i = 0; i < r->dest_count; i++)
		text_dest(fp, &r->dests[i], i, r->dest_count);
	if (probe && r->verdict[0] != '\0')
		fprintf(fp, "  verdict: %s\n", r->verdict);
	text_list(fp, "  note: ", "", &r->notes);
	text_list(fp, "  warning: ", "", &r->warnings);
}

/* ------------------------------------------------------------------------
 * JSON.
 */
struct json {
	FILE *fp;
	int depth;
	int items[JSON_DEPTH_MAX]; /* values written at each depth */
};

/* One UTF-8 sequence at s; its length, or 0 when it is not valid. */
static size_t
utf8_length(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void
json_quoted(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', fp);
	while (*p != '\0') {
		size_t n;

		if (*p == '"' || *p == '\\') {
			fprintf(fp, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(fp, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			fputc(*p++, fp);
		} else if ((n = utf8_length(p)) > 0) {
			fwrite(p, 1, n, fp);
			p += n;
		} else {
			fputs("\\ufffd", fp);
			p++;
		}
	}
	fputc('"', fp);
}

/* Before a value: the comma, the indentation, and the key inside objects. */
static void
json_key(struct json *j, const char *key)
{
	if (j->items[j->depth]++ > 0)
		fputc(',', j->fp);
	if (j->depth > 0)
		fprintf(j->fp, "\n%*s", 2 * j->depth, "");
	if (key != NULL) {
		json_quoted(j->fp, key);
		fputs(": ", j->fp);
	}
}

static void
json_open(struct json *j, const char *key, char bracket)
{
	json_key(j, key);
	fputc(bracket, j->fp);
	if (j->depth + 1 < JSON_DEPTH_MAX)
		j->depth++;
	j->items[j->depth] = 0;
}

static void
json_close(struct json *j, char bracket)
{
	int had = j->items[j->depth] > 0;

	if (j->depth > 0)
		j->depth--;
	if (had)
		fprintf(j->fp, "\n%*s", 2 * j->depth, "");
	fputc(bracket, j->fp);
}

static void
json_string(struct json *j, const char *key, const char *value)
{
	json_key(j, key);
	if (value == NULL)
		fputs("null", j->fp);
	else
		json_quoted(j->fp, value);
}

/* A string that is null when empty. */
static void
json_text(struct json *j, const char *key, const char *value)
{
	json_string(j, key, value != NULL && value[0] != '\0' ? value : NULL);
}

static void
json_bool(struct json *j, const char *key, int value)
{
	json_key(j, key);
	fputs(value ? "true" : "false", j->fp);
}

static void
json_number(struct json *j, const char *key, unsigned long value)
{
	json_key(j, key);
	fprintf(j->fp, "%lu", value);
}

static void
json_list(struct json *j, const char *key, const struct tp_list *l)
{
	json_open(j, key, '[');
	for (size_t i = 0; i < l->count; i++)
		json_string(j, NULL, l->item[i]);
	json_close(j, ']');
}

static void
json_certificate(struct json *j, const struct smtp_probe *p)
{
	struct cert_info ci;

	json_open(j, "certificate", '[');
	for (unsigned i = 0; i < p->chain_count; i++) {
		if (cert_describe(&p->chain[i], &ci) != 0)
			continue;
		json_open(j, NULL, '{');
		json_string(j, "subject", ci.subject);
		json_string(j, "issuer", ci.issuer);
		json_list(j, "san", &ci.san);
		json_string(j, "not_before", ci.not_before);
		json_string(j, "not_after", ci.not_after);
		json_text(j, "sha256", ci.sha256);
		json_text(j, "pubkey_sha256", ci.pubkey_sha256);
		json_close(j, '}');
		tp_list_free(&ci.san);
	}
	json_close(j, ']');
}

static void
json_address(struct json *j, const struct tp_address *a)
{
	const struct smtp_probe *p = &a->probe;

	json_open(j, NULL, '{');
	json_string(j, "address", a->label);
	if (p->tls_active) {
		json_open(j, "tls", '{');
		json_string(j, "protocol", p->tls.protocol);
		json_string(j, "cipher", p->tls.cipher);
		json_number(j, "bits", p->tls.usebits);
		json_string(j, "status", tls_peer_status_name(p->tls.status));
		json_text(j, "reason", p->tls.detail);
		json_close(j, '}');
	} else {
		json_string(j, "tls", NULL);
	}
	json_bool(j, "verified",
	    p->tls_active && p->tls.status == TLS_PEER_VERIFIED && !a->plaintext_retry);
	json_certificate(j, p);
	if (p->dane) {
		json_open(j, "dane", '{');
		json_string(j, "tlsa_base", p->tlsa_base);
		json_string(j, "tlsa", tlsa_status_word(p->tlsa_status));
		json_number(j, "records", p->tlsa_count);
		json_number(j, "usable", p->tlsa_usable);
		json_string(j, "level", tls_level_name(p->dane_level));
		json_close(j, '}');
	} else {
		json_string(j, "dane", NULL);
	}
	if (a->sts_match >= 0)
		json_bool(j, "sts_mx_match", a->sts_match);
	else
		json_string(j, "sts_mx_match", NULL);
	json_bool(j, "sts_used", a->sts_used);
	json_bool(j, "plaintext_retry", a->plaintext_retry);
	json_text(j, "tls_failure", a->tls_failure);
	json_string(j, "dsn", a->out.dsn);
	json_string(j, "reason", a->out.text);
	json_string(j, "verdict", a->verdict);
	json_list(j, "log", &a->log);
	json_close(j, '}');
}

/* One MTA-STS result: what mta_sts_discover() found. */
static void
json_sts_result(struct json *j, const struct mta_sts_result *s)
{
	char when[32];

	json_string(j, "domain", s->domain);
	json_bool(j, "applies", s->active);
	json_text(j, "txt_id", s->txt_id);
	json_text(j, "id", s->active ? s->id : "");
	json_string(j, "mode", s->active ? sts_mode_name(s->policy.mode) : NULL);
	json_open(j, "mx", '[');
	for (size_t i = 0; s->active && i < s->policy.mx_count; i++)
		json_string(j, NULL, s->policy.mx[i]);
	json_close(j, ']');
	if (s->active) {
		json_number(j, "max_age", (unsigned long)s->policy.max_age);
		json_number(j, "expires_epoch", (unsigned long)s->expires);
		utc_time((time_t)s->expires, when, sizeof(when));
		json_string(j, "expires", when);
		json_string(j, "source", s->from_cache ? "cached" : "fetched");
	} else {
		json_string(j, "max_age", NULL);
		json_string(j, "expires_epoch", NULL);
		json_string(j, "expires", NULL);
		json_string(j, "source", NULL);
	}
	json_text(j, "error", s->error);
}

/* The built-in MTA-STS state of a destination: "sts", null when not looked for. */
static void
json_sts(struct json *j, const struct tp_dest *d)
{
	if (d->sts == NULL) {
		json_string(j, "sts", NULL);
		json_text(j, "sts_skip", d->sts_skip);
		return;
	}
	json_open(j, "sts", '{');
	json_sts_result(j, d->sts);
	json_bool(j, "fetch_failed", d->sts_fetch_failed);
	json_bool(j, "decides", d->sts_enforce);
	json_string(j, "decision", d->sts_decision);
	if (d->probed)
		json_list(j, "not_tried", &d->sts_not_tried);
	json_close(j, '}');
	json_text(j, "sts_skip", d->sts_skip);
}

/*
 * The fields of one destination: at the top for the first (top 1, where
 * "verdict" is the result's), and in "destinations".
 */
static void
json_dest_fields(struct json *j, const struct tp_dest *d, int probe, int top)
{
	json_list(j, "keys_tried", &d->keys);
	json_open(j, "lookups", '[');
	for (size_t i = 0; i < d->lookup_count; i++) {
		const struct tp_lookup *l = &d->lookups[i];

		json_open(j, NULL, '{');
		json_string(j, "map", l->map);
		json_string(j, "key", l->key);
		json_string(j, "result", l->rc > 0 ? "found" : l->rc < 0 ? "error" : "not found");
		json_string(j, "value", l->value);
		json_close(j, '}');
	}
	json_close(j, ']');
	json_text(j, "matched_key", d->matched_key);
	json_text(j, "matched_map", d->matched_map);
	json_string(j, "entry", d->entry);
	json_text(j, "source", d->source);
	json_string(j, "level", tls_level_name(d->level));
	json_string(j, "level_from", d->level_from);
	json_string(j, "level_text", d->level_text);
	json_list(j, "match", &d->match);
	json_text(j, "dane", d->dane);
	json_text(j, "mta_sts", d->mta_sts);
	json_sts(j, d);
	json_list(j, "log", &d->log);
	if (!probe)
		return;
	json_open(j, "addresses", '[');
	for (size_t i = 0; i < d->addr_count; i++)
		json_address(j, &d->addrs[i]);
	json_close(j, ']');
	json_text(j, "route_error", d->route_error);
	if (!top)
		json_text(j, "verdict", d->verdict);
}

/* Null top-level destination fields when there is no destination (not tlsmtp). */
static void
json_no_dest(struct json *j, int probe)
{
	static const char *const names[] = { "matched_key", "matched_map", "entry", "source",
		"level", "level_from", "level_text", "dane", "mta_sts", "sts", "sts_skip" };
	struct tp_list none = { NULL, 0 };

	json_list(j, "keys_tried", &none);
	json_list(j, "lookups", &none);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_string(j, names[i], NULL);
	json_list(j, "match", &none);
	json_list(j, "log", &none);
	if (probe) {
		json_list(j, "addresses", &none);
		json_string(j, "route_error", NULL);
	}
}

static void
json_result(struct json *j, const struct tp_result *r, int probe)
{
	json_open(j, NULL, '{');
	json_string(j, "recipient", r->recipient);
	if (probe)
		json_string(j, "destination", r->argument);
	else
		json_string(j, "sender", r->sender);
	json_text(j, "transport", r->transport);
	json_text(j, "service", r->service);
	json_bool(j, "tlsmtp", r->tlsmtp);
	json_text(j, "nexthop", r->nexthop);
	json_text(j, "conf", r->conf);
	json_list(j, "route", &r->route);
	if (r->dest_count > 0)
		json_dest_fields(j, &r->dests[0], probe, 1);
	else
		json_no_dest(j, probe);
	json_open(j, "destinations", '[');
	for (size_t i = 0; i < r->dest_count; i++) {
		json_open(j, NULL, '{');
		json_string(j, "destination", r->dests[i].nh.key);
		json_bool(j, "fallback", r->dests[i].fallback);
		json_dest_fields(j, &r->dests[i], probe, 0);
		json_close(j, '}');
	}
	json_close(j, ']');
	if (probe)
		json_text(j, "verdict", r->verdict);
	json_list(j, "warnings", &r->warnings);
	json_list(j, "notes", &r->notes);
	json_bool(j, "ok", !r->failed && r->warnings.count == 0);
	json_close(j, '}');
}

void
tp_report_json(FILE *fp, const struct tp_result *const *r, size_t count, int probe)
{
	struct json j;

	memset(&j, 0, sizeof(j));
	j.fp = fp;
	json_open(&j, NULL, '[');
	for (size_t i = 0; i < count; i++)
		json_result(&j, r[i], probe);
	json_close(&j, ']');
	fputc('\n', fp);
}

void
tp_report_sts(FILE *fp, const struct mta_sts_result *const *r, const int *failed, size_t count,
    int json)
{
	struct json j;

	if (!json) {
		for (size_t i = 0; i < count; i++) {
			const struct mta_sts_result *s = r[i];
			char when[32];

			if (!s->active) {
				fprintf(fp, "%s: no policy%s%s%s\n", s->domain,
				    s->error[0] != '\0' ? " (" : "", s->error,
				    s->error[0] != '\0' ? ")" : "");
				continue;
			}
			utc_time((time_t)s->expires, when, sizeof(when));
			fprintf(fp, "%s: %s id %s, %s, expires %s, mx", s->domain,
			    sts_mode_name(s->policy.mode), s->id,
			    s->from_cache ? "cached (the fetch failed)" : "fetched", when);
			for (size_t k = 0; k < s->policy.mx_count; k++)
				fprintf(fp, " %s", s->policy.mx[k]);
			if (failed[i] && s->error[0] != '\0')
				fprintf(fp, " (%s)", s->error);
			fprintf(fp, "\n");
		}
		return;
	}
	memset(&j, 0, sizeof(j));
	j.fp = fp;
	json_open(&j, NULL, '[');
	for (size_t i = 0; i < count; i++) {
		json_open(&j, NULL, '{');
		json_sts_result(&j, r[i]);
		json_bool(&j, "ok", !failed[i]);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	fputc('\n', fp);
}
