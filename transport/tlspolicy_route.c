/*
 * tlspolicy_route.c - which transport and next-hop Postfix gives one
 * recipient, and what the master.cf service behind the transport runs.
 *
 * The order is trivial-rewrite's (resolve.c and transport.c), with every
 * parameter and map answer from Postfix's own commands
 * (tlspolicy_postconf.c):
 *  1. the domain class: mydestination (local_transport), then
 *     virtual_alias_domains (error:User unknown), virtual_mailbox_domains
 *     (virtual_transport), relay_domains (relay_transport), else the
 *     default class (sender_dependent_default_transport_maps with -f,
 *     then default_transport).  Domain lists take names, ".domain",
 *     type:table and /file entries, "!" negates, the first match decides;
 *     a name also covers its subdomains when the list's parameter is in
 *     parent_domain_matches_subdomains.
 *  2. relay and default class: the next-hop is the sender's entry in
 *     sender_dependent_relayhost_maps (with -f; "DUNNO" and empty
 *     results do not count), else relayhost, else the recipient domain.
 *  3. a transport:nexthop value (default_transport = smtp:[relay]) sets
 *     the next-hop.
 *  4. transport_maps (not for the virtual alias class): the full
 *     address, the address without its extension (recipient_delimiter),
 *     the domain, then its parents ("example.com" style when
 *     transport_maps is in parent_domain_matches_subdomains, else
 *     ".example.com"), then "*".  For each key every map in order; maps
 *     that match patterns (regexp:, pcre:, cidr:, socketmap:, tcp:) see
 *     only the full address and "*", as Postfix's partial-key rule says.
 *     An entry "transport:nexthop" sets both; "transport:" resets the
 *     next-hop to the recipient domain; ":nexthop" keeps the transport.
 * Address lookups for sender_dependent_* maps follow mail_addr_find():
 * the address, the address without extension, the local part when the
 * domain is $myorigin or in $mydestination, then "@domain"; the null
 * sender is looked up as empty_address_*_lookup_key.
 *
 * Not modelled: address rewriting before resolution (canonical and
 * virtual alias maps; a recipient without a domain gets @$myorigin),
 * routing operators in the local part, and address literals that name
 * this host's own interfaces (trivial-rewrite counts those as local).
 *
 * Interface: tlspolicy.h (section tlspolicy_route.c).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* core */
#include "core.h"
/* main */
#include "tlspolicy.h"

#define LIST_SEPARATORS ", \t\r\n"
#define ADDR_TEXT_MAX	(ADDRESS_MAX + 1)
#define LIST_DEPTH_MAX	4 /* /file entries inside /file entries */

/* The parts of one address. */
struct address {
	char full[ADDR_TEXT_MAX]; /* local@domain, domain in lower case */
	char bare[ADDR_TEXT_MAX]; /* without the extension; "" when there is none */
	char local[ADDR_TEXT_MAX];
	char bare_local[ADDR_TEXT_MAX]; /* "" when there is no extension */
	char domain[NEXTHOP_HOST_MAX * 2];
};

/* A lookup's answer across a map list. */
struct found {
	int rc; /* 1 found, 0 not, -1 error */
	char *value;
	char map[1024];
	char key[ADDR_TEXT_MAX];
	char err[OUTCOME_TEXT_MAX];
};

static void
found_free(struct found *f)
{
	free(f->value);
	f->value = NULL;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Is word one of the names in a comma/space list (parent_domain_matches_subdomains)? */
static int
in_word_list(const char *list, const char *word)
{
	size_t wl = strlen(word), len;

	for (const char *p = list; *p != '\0'; p += len) {
		p += strspn(p, LIST_SEPARATORS);
		len = strcspn(p, LIST_SEPARATORS);
		if (len == wl && strncasecmp(p, word, len) == 0)
			return 1;
	}
	return 0;
}

/* A map whose keys are patterns: Postfix asks it full keys only. */
static int
pattern_map(const char *map)
{
	static const char *const types[] = { "regexp:", "pcre:", "cidr:", "socketmap:", "tcp:",
		"randmap:", "fail:" };

	if (strncasecmp(map, "proxy:", 6) == 0)
		map += 6;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strncasecmp(map, types[i], strlen(types[i])) == 0)
			return 1;
	return 0;
}

/* A list element that names a table rather than a domain pattern. */
static int
table_element(const char *e)
{
	return e[0] != '[' && strchr(e, ':') != NULL;
}

/*
 * maps_find(): KEY in each map of LIST in order; partial keys skip
 * pattern maps.  The first hit or error ends the search.
 */
static void
maps_find(const struct pf_conf *c, const char *list, const char *key, int partial, struct found *f)
{
	char map[1024];
	size_t len;

	for (const char *p = list; *p != '\0'; p += len) {
		p += strspn(p, LIST_SEPARATORS);
		if ((len = policy_list_element_length(p)) == 0)
			break;
		snprintf(map, sizeof(map), "%.*s", (int)len, p);
		if (partial && pattern_map(map))
			continue;
		f->rc = 0;
		switch (pf_map_query(c, map, key, &f->value, f->err, sizeof(f->err))) {
		case PF_FOUND:
			f->rc = 1;
			break;
		case PF_ERROR:
			f->rc = -1;
			break;
		case PF_NOT_FOUND:
			continue;
		}
		snprintf(f->map, sizeof(f->map), "%s", map);
		snprintf(f->key, sizeof(f->key), "%s", key);
		return;
	}
	f->rc = 0;
}

static int
domain_list_match(const struct pf_conf *c, const char *param, const char *list,
    const char *domain, int depth, struct tp_result *r);

/* A /file element: its words are list elements of their own. */
static int
file_element_match(const struct pf_conf *c, const char *param, const char *path, const char *domain,
    int depth, struct tp_result *r)
{
	FILE *fp;
	char *text = NULL;
	size_t cap = 0, len = 0;
	char line[4096];
	int rc;

	if (depth >= LIST_DEPTH_MAX || (fp = fopen(path, "r")) == NULL) {
		tp_list_add(&r->warnings, "%s: cannot read %s: Postfix would defer this mail",
		    param, path);
		r->failed = 1;
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t n;
		char *grown;

		if (line[strspn(line, " \t")] == '#')
			continue;
		n = strlen(line);
		if (len + n + 2 > cap) {
			cap = (len + n + 2) * 2;
			if ((grown = realloc(text, cap)) == NULL)
				break;
			text = grown;
		}
		memcpy(text + len, line, n);
		len += n;
		text[len++] = ' ';
		text[len] = '\0';
	}
	fclose(fp);
	rc = text != NULL ? domain_list_match(c, param, text, domain, depth + 1, r) : 0;
	free(text);
	return rc;
}

/* A table element: the domain, then its parents when the table has fixed keys. */
static int
table_element_match(const struct pf_conf *c, const char *param, const char *map, const char *domain,
    int parent_style, struct tp_result *r)
{
	const char *entry, *next;
	struct found f;

	for (entry = domain; *entry != '\0'; entry = next) {
		if (entry == domain || !pattern_map(map)) {
			memset(&f, 0, sizeof(f));
			maps_find(c, map, entry, 0, &f);
			found_free(&f);
			if (f.rc < 0) {
				tp_list_add(&r->warnings, "%s: %s: Postfix would defer this mail",
				    param, f.err);
				r->failed = 1;
				return -1;
			}
			if (f.rc > 0)
				return 1;
		}
		if ((next = strchr(entry + 1, '.')) == NULL)
			break;
		if (parent_style)
			next++;
	}
	return 0;
}

static int
name_matches(const char *domain, const char *pattern, int parent_style)
{
	size_t dl = strlen(domain), pl = strlen(pattern);

	if (strcmp(domain, pattern) == 0)
		return 1;
	if (parent_style && pl < dl && domain[dl - pl - 1] == '.'
	    && strcmp(domain + dl - pl, pattern) == 0)
		return 1;
	if (!parent_style && pattern[0] == '.' && pl < dl && strcmp(domain + dl - pl, pattern) == 0)
		return 1;
	return 0;
}

/*
 * Postfix's domain_list_match(): 1 match, 0 none, -1 lookup error (a
 * warning added).  The first element that matches decides; "!" negates.
 */
static int
domain_list_match(const struct pf_conf *c, const char *param, const char *list, const char *domain,
    int depth, struct tp_result *r)
{
	int parent_style = in_word_list(pf_param(c, "parent_domain_matches_subdomains"), param);
	char e[1024];
	size_t len;
	int negate, rc;

	for (const char *p = list; *p != '\0'; p += len) {
		const char *el;

		p += strspn(p, LIST_SEPARATORS);
		if ((len = policy_list_element_length(p)) == 0)
			break;
		snprintf(e, sizeof(e), "%.*s", (int)len, p);
		for (el = e, negate = 0; *el == '!'; el++)
			negate = !negate;
		if (*el == '/')
			rc = file_element_match(c, param, el, domain, depth, r);
		else if (table_element(el))
			rc = table_element_match(c, param, el, domain, parent_style, r);
		else {
			char pattern[1024];

			snprintf(pattern, sizeof(pattern), "%s", el);
			lower(pattern);
			rc = name_matches(domain, pattern, parent_style);
		}
		if (rc < 0)
			return -1;
		if (rc > 0)
			return negate ? 0 : 1;
	}
	return 0;
}

static int
split_address(const char *rcpt, const char *delimiters, const char *myorigin, struct address *a,
    struct tp_result *r)
{
	const char *at = strrchr(rcpt, '@');
	size_t local_len;

	memset(a, 0, sizeof(a[0]));
	if (at == NULL) {
		/* cleanup(8) would have appended @$myorigin. */
		tp_list_add(&r->notes, "%s has no domain: taken as %s@%s ($myorigin)", rcpt, rcpt,
		    myorigin);
		local_len = strlen(rcpt);
		snprintf(a->domain, sizeof(a->domain), "%s", myorigin);
	} else {
		local_len = (size_t)(at - rcpt);
		snprintf(a->domain, sizeof(a->domain), "%s", at + 1);
	}
	if (local_len >= sizeof(a->local) || a->domain[0] == '\0')
		return -1;
	memcpy(a->local, rcpt, local_len);
	a->local[local_len] = '\0';
	lower(a->domain);
	if (a->domain[0] != '\0' && a->domain[strlen(a->domain) - 1] == '.')
		a->domain[strlen(a->domain) - 1] = '\0';
	if (local_len + 1 + strlen(a->domain) >= sizeof(a->full))
		return -1;
	text_cut(a->full, sizeof(a->full), "%s@%s", a->local, a->domain);
	if (delimiters[0] != '\0') {
		size_t cut = strcspn(a->local, delimiters);

		if (cut > 0 && a->local[cut] != '\0') {
			snprintf(a->bare_local, sizeof(a->bare_local), "%.*s", (int)cut, a->local);
			text_cut(a->bare, sizeof(a->bare), "%s@%s", a->bare_local, a->domain);
		}
	}
	return 0;
}

/* mail_addr_find() with the default strategy, for the sender_dependent_* maps. */
static void
address_find(const struct pf_conf *c, const char *maps, const char *sender, const char *null_key,
    struct tp_result *r, struct found *f)
{
	struct address a;
	char key[ADDR_TEXT_MAX + 1];
	int local;

	memset(f, 0, sizeof(*f));
	if (sender[0] == '\0') {
		maps_find(c, maps, null_key, 0, f);
		return;
	}
	if (split_address(sender, pf_param(c, "recipient_delimiter"), pf_param(c, "myorigin"), &a,
		r)
	    != 0)
		return;
	maps_find(c, maps, a.full, 0, f);
	if (f->rc == 0 && a.bare[0] != '\0')
		maps_find(c, maps, a.bare, 1, f);
	local = strcasecmp(a.domain, pf_param(c, "myorigin")) == 0
	    || domain_list_match(c, "mydestination", pf_param(c, "mydestination"), a.domain, 0, r)
		> 0;
	if (f->rc == 0 && local) {
		maps_find(c, maps, a.local, 1, f);
		if (f->rc == 0 && a.bare_local[0] != '\0')
			maps_find(c, maps, a.bare_local, 1, f);
	}
	if (f->rc == 0) {
		snprintf(key, sizeof(key), "@%s", a.domain);
		maps_find(c, maps, key, 1, f);
	}
}

/* "DUNNO" and an empty result leave the default in place. */
static int
dunno(const struct found *f)
{
	return f->rc > 0 && (f->value[0] == '\0' || strcasecmp(f->value, "DUNNO") == 0);
}

/* transport_lookup(): the keys in trivial-rewrite's order, then "*". */
static void
transport_find(const struct pf_conf *c, const struct address *a, struct tp_list *keys,
    struct found *f)
{
	const char *maps = pf_param(c, "transport_maps");
	int parent_style =
	    in_word_list(pf_param(c, "parent_domain_matches_subdomains"), "transport_maps");
	const char *name, *next;

	memset(f, 0, sizeof(*f));
	tp_list_add(keys, "%s", a->full);
	maps_find(c, maps, a->full, 0, f);
	if (f->rc == 0 && a->bare[0] != '\0') {
		tp_list_add(keys, "%s", a->bare);
		maps_find(c, maps, a->bare, 1, f);
	}
	for (name = a->domain; f->rc == 0 && *name != '\0'; name = next) {
		tp_list_add(keys, "%s", name);
		maps_find(c, maps, name, 1, f);
		if (f->rc != 0 || (next = strchr(name + 1, '.')) == NULL)
			break;
		if (parent_style)
			next++;
	}
	if (f->rc == 0) {
		tp_list_add(keys, "*");
		maps_find(c, maps, "*", 0, f);
	}
}

static void
set_text(char *dst, size_t len, const char *text, size_t n)
{
	snprintf(dst, len, "%.*s", (int)n, text);
}

/* Apply a transport_maps entry "transport:nexthop" (Postfix's update_entry). */
static void
apply_entry(const char *value, const char *rcpt_domain, struct tp_result *r)
{
	const char *colon = strchr(value, ':');
	size_t tlen = colon != NULL ? (size_t)(colon - value) : strlen(value);
	const char *hop = colon != NULL ? colon + 1 : "";

	if (tlen == 0) {
		if (*hop != '\0')
			set_text(r->nexthop, sizeof(r->nexthop), hop, strlen(hop));
		return;
	}
	set_text(r->transport, sizeof(r->transport), value, tlen);
	if (*hop != '\0')
		set_text(r->nexthop, sizeof(r->nexthop), hop, strlen(hop));
	else if (strcmp(r->transport, "error") != 0)
		set_text(r->nexthop, sizeof(r->nexthop), rcpt_domain, strlen(rcpt_domain));
	else
		set_text(r->nexthop, sizeof(r->nexthop), "Address is undeliverable", 24);
}

/* "transport[:nexthop]" of a main.cf *_transport value. */
static void
set_channel(const char *param, const char *value, struct tp_result *r)
{
	const char *colon = strchr(value, ':');

	if (colon == NULL) {
		set_text(r->transport, sizeof(r->transport), value, strlen(value));
		return;
	}
	set_text(r->transport, sizeof(r->transport), value, (size_t)(colon - value));
	if (colon[1] != '\0') {
		set_text(r->nexthop, sizeof(r->nexthop), colon + 1, strlen(colon + 1));
		tp_list_add(&r->route, "%s = %s: next-hop %s", param, value, colon + 1);
	}
}

static int
lookup_failed(struct tp_result *r, const char *param, const struct found *f)
{
	if (f->rc >= 0)
		return 0;
	tp_list_add(&r->warnings, "%s lookup failure (%s): Postfix would defer this mail", param,
	    f->err);
	r->failed = 1;
	return 1;
}

/* Relay and default class: the next-hop before transport_maps. */
static int
relay_nexthop(const struct pf_conf *c, const char *sender, const char *domain, struct tp_result *r)
{
	const char *maps = pf_param(c, "sender_dependent_relayhost_maps");
	const char *relayhost = pf_param(c, "relayhost");
	struct found f;

	if (maps[0] != '\0' && sender != NULL) {
		address_find(c, maps, sender,
		    pf_param(c, "empty_address_relayhost_maps_lookup_key"), r, &f);
		if (lookup_failed(r, "sender_dependent_relayhost_maps", &f)) {
			found_free(&f);
			return -1;
		}
		if (f.rc > 0 && !dunno(&f)) {
			snprintf(r->nexthop, sizeof(r->nexthop), "%s", f.value);
			tp_list_add(&r->route,
			    "sender_dependent_relayhost_maps %s: %s = %s: next-hop %s", f.map,
			    f.key, f.value, f.value);
			found_free(&f);
			return 0;
		}
		tp_list_add(&r->route, "sender_dependent_relayhost_maps: %s for sender <%s>",
		    f.rc > 0 ? "DUNNO" : "not found", sender);
		found_free(&f);
	} else if (maps[0] != '\0') {
		tp_list_add(&r->notes,
		    "sender_dependent_relayhost_maps is set (%s): the next-hop "
		    "may depend on the sender; give -f SENDER to see",
		    maps);
	}
	if (relayhost[0] != '\0') {
		snprintf(r->nexthop, sizeof(r->nexthop), "%s", relayhost);
		tp_list_add(&r->route, "relayhost = %s: next-hop %s", relayhost, relayhost);
	} else {
		snprintf(r->nexthop, sizeof(r->nexthop), "%s", domain);
		tp_list_add(&r->route, "no relayhost: next-hop is the recipient domain %s", domain);
	}
	return 0;
}

/*
 * The default class: sender_dependent_default_transport_maps, then
 * default_transport.  The value ("transport[:nexthop]") goes to value.
 */
static int
default_channel(const struct pf_conf *c, const char *sender, char *value, size_t len,
    const char **param, struct tp_result *r)
{
	const char *maps = pf_param(c, "sender_dependent_default_transport_maps");
	const char *dflt = pf_param(c, "default_transport");
	struct found f;

	*param = "default_transport";
	snprintf(value, len, "%s", dflt);
	if (maps[0] != '\0' && sender != NULL) {
		address_find(c, maps, sender,
		    pf_param(c, "empty_address_default_transport_maps_lookup_key"), r, &f);
		if (lookup_failed(r, "sender_dependent_default_transport_maps", &f)) {
			found_free(&f);
			return -1;
		}
		if (f.rc > 0 && !dunno(&f)) {
			tp_list_add(&r->route,
			    "sender_dependent_default_transport_maps %s: %s = %s", f.map, f.key,
			    f.value);
			*param = "sender_dependent_default_transport_maps";
			snprintf(value, len, "%s", f.value);
			found_free(&f);
			return 0;
		}
		found_free(&f);
	} else if (maps[0] != '\0') {
		tp_list_add(&r->notes,
		    "sender_dependent_default_transport_maps is set (%s): the "
		    "transport may depend on the sender; give -f SENDER to see",
		    maps);
	}
	tp_list_add(&r->route,
	    "%s is not in mydestination, virtual_alias_domains, "
	    "virtual_mailbox_domains or relay_domains: default_transport = %s",
	    r->nexthop, dflt);
	return 0;
}

/* Step 1 to 3: the domain class, its transport and next-hop. Returns 1 for the alias class. */
static int
domain_class(const struct pf_conf *c, const struct address *a, const char *sender,
    struct tp_result *r)
{
	static const char *const lists[] = { "mydestination", "virtual_alias_domains",
		"virtual_mailbox_domains", "relay_domains" };
	int m[4] = { 0, 0, 0, 0 };
	char value[1024];
	const char *param;

	for (size_t i = 0; i < 4; i++) {
		m[i] = domain_list_match(c, lists[i], pf_param(c, lists[i]), a->domain, 0, r);
		if (m[i] < 0)
			return -1;
		if (m[i] > 0)
			break;
	}
	snprintf(r->nexthop, sizeof(r->nexthop), "%s", a->domain);
	if (m[0] > 0) {
		tp_list_add(&r->route, "%s is in mydestination: local_transport = %s", a->domain,
		    pf_param(c, "local_transport"));
		set_channel("local_transport", pf_param(c, "local_transport"), r);
		return 0;
	}
	if (m[1] > 0) {
		tp_list_add(&r->route,
		    "%s is in virtual_alias_domains: error:User unknown in "
		    "virtual alias table (addresses there are rewritten before they are routed)",
		    a->domain);
		snprintf(r->transport, sizeof(r->transport), "error");
		snprintf(r->nexthop, sizeof(r->nexthop), "User unknown in virtual alias table");
		return 1;
	}
	if (m[2] > 0) {
		tp_list_add(&r->route, "%s is in virtual_mailbox_domains: virtual_transport = %s",
		    a->domain, pf_param(c, "virtual_transport"));
		set_channel("virtual_transport", pf_param(c, "virtual_transport"), r);
		return 0;
	}
	if (m[3] > 0) {
		param = "relay_transport";
		snprintf(value, sizeof(value), "%s", pf_param(c, "relay_transport"));
		tp_list_add(&r->route, "%s is in relay_domains: relay_transport = %s", a->domain,
		    value);
	} else if (default_channel(c, sender, value, sizeof(value), &param, r) != 0) {
		return -1;
	}
	if (relay_nexthop(c, sender, a->domain, r) != 0)
		return -1;
	set_channel(param, value, r);
	return 0;
}

/* Nothing to show as the transport or next-hop: the route ended early. */
static int
no_route(struct tp_result *r)
{
	r->transport[0] = '\0';
	r->nexthop[0] = '\0';
	return -1;
}

int
tp_route_recipient(const struct pf_conf *c, const char *rcpt, const char *sender,
    struct tp_result *r)
{
	struct address a;
	struct tp_list keys = { NULL, 0 };
	struct found f;
	char tried[TP_TEXT_MAX];
	int cls;

	if (split_address(rcpt, pf_param(c, "recipient_delimiter"), pf_param(c, "myorigin"), &a, r)
	    != 0) {
		tp_list_add(&r->warnings, "cannot route <%s>: not an address", rcpt);
		r->failed = 1;
		return -1;
	}
	/* A lookup failure: Postfix defers the mail, there is no route to explain. */
	if ((cls = domain_class(c, &a, sender, r)) < 0)
		return no_route(r);
	if (pf_param(c, "transport_maps")[0] == '\0' || cls == 1)
		return 0;
	transport_find(c, &a, &keys, &f);
	tried[0] = '\0';
	for (size_t i = 0; i < keys.count; i++)
		text_cut(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s",
		    i > 0 ? ", " : "", keys.item[i]);
	tp_list_free(&keys);
	if (lookup_failed(r, "transport_maps", &f)) {
		found_free(&f);
		return no_route(r);
	}
	if (f.rc > 0) {
		tp_list_add(&r->route, "transport_maps %s: %s = %s", f.map, f.key, f.value);
		apply_entry(f.value, a.domain, r);
	} else {
		tp_list_add(&r->route, "transport_maps: not found (%s)", tried);
	}
	found_free(&f);
	return 0;
}

/* ------------------------------------------------------------------------
 * The master.cf service.
 */

static int
add_override(struct tp_service *s, const char *value)
{
	if (s->override_count == sizeof(s->overrides) / sizeof(s->overrides[0]))
		return 0;
	if ((s->overrides[s->override_count] = strdup(value)) == NULL)
		return -1;
	s->override_count++;
	return 0;
}

/* The agent's options as tlsmtp.c parses them: -c, -o, -n (and -f, -i with a value). */
static void
agent_options(char **words, size_t n, struct tp_service *s)
{
	for (size_t i = 1; i < n; i++) {
		const char *w = words[i], *value;
		char opt;

		if (strcmp(w, "--") == 0 || w[0] != '-' || w[1] == '\0')
			break;
		opt = w[1];
		if (strchr("cofni", opt) == NULL)
			continue;
		if (w[2] != '\0')
			value = w + 2;
		else if (i + 1 < n)
			value = words[++i];
		else
			break;
		if (opt == 'c')
			snprintf(s->conf, sizeof(s->conf), "%s", value);
		else if (opt == 'o')
			(void)add_override(s, value);
		else if (opt == 'n')
			snprintf(s->nexthop_arg, sizeof(s->nexthop_arg), "%s", value);
	}
}

void
tp_service_find(const struct pf_conf *c, const char *name, struct tp_service *s)
{
	const char *command = pf_master_command(c, name, "unix");
	char *copy, *words[256], *save = NULL, *argv0;
	size_t n = 0, start = 0;

	memset(s, 0, sizeof(*s));
	if (command == NULL || (copy = strdup(command)) == NULL)
		return;
	s->found = 1;
	for (char *w = strtok_r(copy, " \t", &save); w != NULL && n < 256;
	     w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	if (n > 0)
		snprintf(s->command, sizeof(s->command), "%s", words[0]);
	/* pipe(8): everything from argv= on is the command it runs. */
	for (size_t i = 1; strcmp(s->command, "pipe") == 0 && i < n; i++) {
		if (strncmp(words[i], "argv=", 5) == 0) {
			words[i] += 5;
			start = i;
			break;
		}
	}
	if (start > 0 && words[start][0] != '\0') {
		snprintf(s->agent, sizeof(s->agent), "%s", words[start]);
		argv0 = strrchr(words[start], '/');
		s->tlsmtp = strcmp(argv0 != NULL ? argv0 + 1 : words[start], "tlsmtp") == 0;
		if (s->tlsmtp)
			agent_options(words + start, n - start, s);
	}
	free(copy);
}

void
tp_service_free(struct tp_service *s)
{
	for (size_t i = 0; i < s->override_count; i++)
		free(s->overrides[i]);
	s->override_count = 0;
}

/* pipe(8)'s macros for one recipient: $nexthop, $domain, $recipient, with or without braces. */
void
tp_service_nexthop(const struct tp_service *s, const char *nexthop, const char *rcpt, char *out,
    size_t outlen)
{
	static const char *const names[] = { "nexthop", "domain", "recipient" };
	const char *at = strrchr(rcpt, '@');
	const char *values[3];
	size_t o = 0;

	values[0] = nexthop;
	values[1] = at != NULL ? at + 1 : "";
	values[2] = rcpt;
	out[0] = '\0';
	for (const char *p = s->nexthop_arg; *p != '\0' && o + 1 < outlen;) {
		size_t k, nl;
		int brace = p[0] == '$' && p[1] == '{';

		for (k = 0; p[0] == '$' && k < 3; k++) {
			nl = strlen(names[k]);
			if (strncmp(p + 1 + brace, names[k], nl) == 0
			    && (!brace || p[2 + nl] == '}'))
				break;
		}
		if (p[0] != '$' || k == 3) {
			out[o++] = *p++;
			out[o] = '\0';
			continue;
		}
		text_cut(out + o, outlen - o, "%s", values[k]);
		o = strlen(out);
		p += 1 + brace + strlen(names[k]) + brace;
	}
}
