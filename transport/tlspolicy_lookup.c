/*
 * tlspolicy_lookup.c - the agent's policy lookup of one destination, and
 * what it means, for tlspolicy explain and probe.
 *
 * The lookup is the agent's: tls_policy_resolve() on the destination,
 * with a trace on the maps (policy_maps_set_trace) so that every key in
 * every map is reported in the order the agent asked, and with the
 * agent's log lines taken through the log sink (its warnings are the
 * reasons it would give).  Nothing here decides a policy.
 *
 * What is added for the report:
 *  - FILE:LINE of the entry that matched, from the source file next to
 *    the table (policy_map_source: FILE for lmdb:FILE, whose table is
 *    FILE.lmdb; texthash:FILE itself), read with the same source reader
 *    as tlsmap (table_source_read), first entry of the key as tlsmap and
 *    postmap keep it.  A source whose entry differs from the table, or
 *    that lacks the key, is a warning: the table is out of date.
 *  - the level and what the certificate must match, in words; match
 *    strategies expanded by tls_policy_match_names() where the next-hop
 *    alone decides (nexthop, dot-nexthop, and hostname for [host]).
 *  - DANE: what the TLSA records will decide per MX host (dane.c's rules);
 *    MTA-STS: which policy daemon (socketmap:) was asked and its answer.
 *  - the trap (tp_lookup_trap): an entry for the recipient's own domain,
 *    or a parent, that the agent never consults because the mail goes to
 *    another next-hop (a relay host, a transport next-hop).  A warning,
 *    unless the entry that does apply is at a level at least as strict
 *    (Postfix's order of levels): then a note.
 *
 * Interface: tlspolicy.h (section tlspolicy_lookup.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* core */
#include "core.h"
/* tls */
#include "tls_policy.h"
/* main */
#include "tlspolicy.h"

#define TP_KEYS_MAX 130 /* as policy_lookup.c: a domain has at most 127 labels */

static struct tp_list *log_target;

void
tp_log_into(struct tp_list *l)
{
	log_target = l;
}

void
tp_log_sink(const char *line, void *ctx)
{
	(void)ctx;
	if (log_target != NULL)
		tp_list_add(log_target, "%s", line);
}

/* One traced (map, key): appended to the destination. */
static void
trace(const char *map, const char *key, int rc, const char *value, void *ctx)
{
	struct tp_dest *d = ctx;
	struct tp_lookup *grown, *l;

	grown = realloc(d->lookups, (d->lookup_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return;
	d->lookups = grown;
	l = &d->lookups[d->lookup_count];
	l->map = strdup(map);
	l->key = strdup(key);
	l->rc = rc;
	l->value = value != NULL ? strdup(value) : NULL;
	if (l->map == NULL || l->key == NULL) {
		free(l->map);
		free(l->key);
		free(l->value);
		return;
	}
	d->lookup_count++;
	if (d->keys.count == 0 || strcmp(d->keys.item[d->keys.count - 1], key) != 0)
		tp_list_add(&d->keys, "%s", key);
}

/* The first source entry of one key. */
struct source_search {
	const char *key;
	unsigned line;
	char *value;
	int problems;
};

static int
source_entry(const struct table_entry *e, void *ctx)
{
	struct source_search *s = ctx;

	if (s->line != 0 || strcmp(e->key, s->key) != 0)
		return 0;
	s->line = e->line;
	s->value = strdup(e->value);
	return 0;
}

static void
source_diag(unsigned line, const char *message, void *ctx)
{
	(void)line;
	(void)message;
	((struct source_search *)ctx)->problems++;
}

/* FILE:LINE of the matched entry, checked against the table's value. */
static void
find_source(struct tp_dest *d, struct tp_result *r)
{
	char path[1024], key[NEXTHOP_KEY_MAX], err[256];
	struct source_search s;
	FILE *fp;

	if (!policy_map_source(d->matched_map, path, sizeof(path)))
		return;
	if (table_source_fold_key(d->matched_key, TABLE_SOURCE_FOLD, key, sizeof(key), err,
		sizeof(err))
	    != 0)
		snprintf(key, sizeof(key), "%s", d->matched_key);
	if ((fp = fopen(path, "r")) == NULL) {
		tp_list_add(&r->notes, "cannot read %s, the source of %s: %s (no line number)",
		    path, d->matched_map, strerror(errno));
		return;
	}
	memset(&s, 0, sizeof(s));
	s.key = key;
	if (table_source_read(fp, TABLE_SOURCE_FOLD, source_entry, source_diag, &s) != 0)
		s.line = 0;
	fclose(fp);
	if (s.line == 0) {
		tp_list_add(&r->warnings,
		    "%s has no entry for \"%s\", but %s has one: the table "
		    "is out of date (run tlsmap lmdb:%s)",
		    path, key, d->matched_map, path);
		return;
	}
	text_cut(d->source, sizeof(d->source), "%s:%u", path, s.line);
	if (d->entry != NULL && s.value != NULL && strcmp(d->entry, s.value) != 0)
		tp_list_add(&r->warnings,
		    "%s says \"%s %s\", but the table %s has \"%s\": the "
		    "table is out of date (run tlsmap lmdb:%s)",
		    d->source, key, s.value, d->matched_map, d->entry, path);
	free(s.value);
}

/* The trace's answer: the last (map, key) asked is the one that decided. */
static void
record_match(struct tp_dest *d)
{
	const struct tp_lookup *l;

	if (d->lookup_count == 0)
		return;
	l = &d->lookups[d->lookup_count - 1];
	if (l->rc < 0)
		d->lookup_error = 1;
	if (l->rc <= 0)
		return;
	snprintf(d->matched_key, sizeof(d->matched_key), "%s", l->key);
	snprintf(d->matched_map, sizeof(d->matched_map), "%s", l->map);
	d->entry = l->value != NULL ? strdup(l->value) : NULL;
}

/* What a strategy or pattern of match= stands for at this next-hop. */
static void
describe_match(const struct tls_effective *eff, const struct nexthop *nh, struct tp_dest *d)
{
	char *names[1];
	struct tls_effective one;

	for (size_t i = 0; i < eff->match_count; i++) {
		const char *m = eff->match[i];

		if (eff->level == TLS_LEVEL_FINGERPRINT) {
			tp_list_add(&d->match, "%s", m);
			continue;
		}
		if (strcasecmp(m, "hostname") == 0 && nh->kind == NEXTHOP_DOMAIN) {
			tp_list_add(&d->match, "hostname (the name of each MX host of %s)",
			    nh->host);
			continue;
		}
		memset(&one, 0, sizeof(one));
		one.match = (char **)&eff->match[i];
		one.match_count = 1;
		if (tls_policy_match_names(&one, nh, nh->host, names, 1) == 1) {
			tp_list_add(&d->match, "%s", names[0]);
			tls_match_names_free(names, 1);
		}
	}
}

static void
describe_level(const struct tlsmtp_config *cfg, const struct tls_effective *eff, struct tp_dest *d)
{
	const char *digest = cfg->tls_fingerprint_digest != NULL && cfg->tls_fingerprint_digest[0]
	    ? cfg->tls_fingerprint_digest
	    : "sha256";

	switch (eff->level) {
	case TLS_LEVEL_INVALID:
		text_cut(d->level_text, sizeof(d->level_text),
		    "tlsmtp defers the mail with "
		    "4.7.5 client TLS configuration problem (%s)",
		    eff->invalid_reason);
		break;
	case TLS_LEVEL_NONE:
		snprintf(d->level_text, sizeof(d->level_text),
		    "no TLS: the mail goes in plaintext");
		break;
	case TLS_LEVEL_MAY:
		snprintf(d->level_text, sizeof(d->level_text),
		    "TLS when the server offers it, "
		    "certificate not checked; plaintext otherwise");
		break;
	case TLS_LEVEL_ENCRYPT:
		snprintf(d->level_text, sizeof(d->level_text),
		    "TLS required, certificate not "
		    "checked");
		break;
	case TLS_LEVEL_FINGERPRINT:
		snprintf(d->level_text, sizeof(d->level_text),
		    "TLS required; the %s digest of the "
		    "certificate or of its public key must be one of the match values",
		    digest);
		break;
	case TLS_LEVEL_DANE:
	case TLS_LEVEL_DANE_ONLY:
	case TLS_LEVEL_HALF_DANE:
		snprintf(d->level_text, sizeof(d->level_text),
		    "DANE: each MX host's TLSA records "
		    "decide (see dane)");
		break;
	case TLS_LEVEL_VERIFY:
		snprintf(d->level_text, sizeof(d->level_text),
		    "TLS required; a trusted chain and a "
		    "name match (MX host names from DNS are believed)");
		break;
	case TLS_LEVEL_SECURE:
		snprintf(d->level_text, sizeof(d->level_text),
		    "TLS required; a trusted chain and a "
		    "name match (MX host names from DNS are not believed)");
		break;
	}
	if (eff->level == TLS_LEVEL_DANE)
		snprintf(d->dane, sizeof(d->dane),
		    "dane: with DNSSEC-validated usable TLSA records "
		    "the certificate must match them; with unusable records TLS is required "
		    "(encrypt); with no records or no DNSSEC, opportunistic TLS (may); a TLSA lookup "
		    "error defers (4.7.5)");
	else if (eff->level == TLS_LEVEL_DANE_ONLY)
		snprintf(d->dane, sizeof(d->dane),
		    "dane-only: DNSSEC-validated usable TLSA records "
		    "are required and the certificate must match them; anything else defers "
		    "(4.7.5)");
}

/* MTA-STS comes from a policy daemon: which one was asked, and what it said. */
static void
describe_daemon(struct tp_dest *d)
{
	for (size_t i = 0; i < d->lookup_count; i++) {
		const struct tp_lookup *l = &d->lookups[i];

		if (strncasecmp(l->map, "socketmap:", 10) != 0)
			continue;
		if (l->rc > 0)
			text_cut(d->mta_sts, sizeof(d->mta_sts),
			    "%s (a policy daemon such as "
			    "postfix-mta-sts-resolver) answered \"%s\" for %s",
			    l->map, l->value, l->key);
		else if (l->rc < 0)
			text_cut(d->mta_sts, sizeof(d->mta_sts), "%s failed for %s: %s", l->map,
			    l->key, l->value != NULL ? l->value : "error");
		else
			text_cut(d->mta_sts, sizeof(d->mta_sts), "%s has no policy for %s", l->map,
			    l->key);
	}
}

void
tp_lookup_describe(const struct tlsmtp_config *cfg, const struct tls_effective *eff,
    struct tp_dest *d)
{
	char dane[sizeof(d->dane)];

	/* The dane text stays the table level's: DANE still wins per host. */
	snprintf(dane, sizeof(dane), "%s", d->dane);
	tp_list_free(&d->match);
	describe_level(cfg, eff, d);
	describe_match(eff, &d->nh, d);
	snprintf(d->dane, sizeof(d->dane), "%s", dane);
}

void
tp_lookup_destination(const struct tlsmtp_config *cfg, struct policy_maps *maps, struct tp_dest *d,
    struct tls_effective *eff, struct tp_result *r)
{
	if (maps != NULL)
		policy_maps_set_trace(maps, trace, d);
	tp_log_into(&d->log);
	tls_policy_resolve(cfg, maps, &d->nh, eff);
	tp_log_into(NULL);
	if (maps != NULL)
		policy_maps_set_trace(maps, NULL, NULL);
	record_match(d);
	d->level = eff->level;
	snprintf(d->level_from, sizeof(d->level_from), "%s", eff->source);
	snprintf(d->invalid_reason, sizeof(d->invalid_reason), "%s", eff->invalid_reason);
	if (d->matched_key[0] != '\0')
		find_source(d, r);
	describe_level(cfg, eff, d);
	describe_match(eff, &d->nh, d);
	describe_daemon(d);
	if (eff->level == TLS_LEVEL_INVALID) {
		r->failed = 1;
		tp_list_add(&r->warnings,
		    "destination %s: tlsmtp would defer: 4.7.5 client TLS "
		    "configuration problem (%s)",
		    d->nh.key, eff->invalid_reason);
	}
}

/* The source line of one (map, key), for the trap warning. */
static void
entry_where(const char *map, const char *key, char *out, size_t outlen)
{
	struct tp_dest d;
	struct tp_result scratch;

	memset(&d, 0, sizeof(d));
	memset(&scratch, 0, sizeof(scratch));
	snprintf(d.matched_map, sizeof(d.matched_map), "%s", map);
	snprintf(d.matched_key, sizeof(d.matched_key), "%s", key);
	find_source(&d, &scratch);
	tp_result_free(&scratch);
	if (d.source[0] != '\0')
		snprintf(out, outlen, "%s", d.source);
	else
		snprintf(out, outlen, "%s", map);
}

void
tp_lookup_trap(struct policy_maps *maps, const char *rcpt, struct tp_result *r)
{
	const char *at = strrchr(rcpt, '@');
	struct nexthop domain;
	struct policy_result res;
	char err[OUTCOME_TEXT_MAX], where[TP_TEXT_MAX];
	const struct tp_dest *d;
	enum policy_lookup_status st;
	int covered;

	if (maps == NULL || at == NULL || r->dest_count == 0 || !r->tlsmtp)
		return;
	if (nexthop_parse(at + 1, &domain, err, sizeof(err)) != 0 || domain.kind != NEXTHOP_DOMAIN)
		return;
	d = &r->dests[0];
	if (d->nh.kind == NEXTHOP_DOMAIN && strcmp(d->nh.key, domain.key) == 0)
		return;
	st = policy_lookup(maps, &domain, &res, err, sizeof(err));
	if (st == POLICY_FOUND || res.value != NULL) {
		entry_where(res.map, res.key, where, sizeof(where));
		/* Covered when the entry that applies is at least as strict. */
		covered = st == POLICY_FOUND && d->matched_key[0] != '\0'
		    && d->level != TLS_LEVEL_INVALID && res.policy.level <= d->level;
		if (d->matched_key[0] != '\0')
			tp_list_add(covered ? &r->notes : &r->warnings,
			    "the entry \"%s %s\" (%s) is "
			    "not used for <%s>: the mail goes to next-hop %s, so tlsmtp looks up "
			    "\"%s\", and the entry \"%s\" (%s, level %s) applies instead",
			    res.key, res.value, where, rcpt, d->nh.key, d->nh.key, d->matched_key,
			    d->source[0] ? d->source : d->matched_map, tls_level_name(d->level));
		else
			tp_list_add(&r->warnings,
			    "the entry \"%s %s\" (%s) is not used for <%s>: the "
			    "mail goes to next-hop %s, so tlsmtp looks up \"%s\", which has no "
			    "entry (%s applies); to protect this mail, add an entry for \"%s\"",
			    res.key, res.value, where, rcpt, d->nh.key, d->nh.key, d->level_from,
			    d->nh.key);
	}
	policy_result_free(&res);
}
