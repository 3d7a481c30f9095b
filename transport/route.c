/*
 * route.c - from a Postfix next-hop to the ordered list of addresses to try.
 *
 * As smtp(8) routes: a domain gets an MX lookup (null MX bounces, no MX
 * means the domain itself is the mail exchanger, a temporary failure
 * defers and never falls back to the domain's own addresses); the MX hosts
 * are sorted, the loop rule is applied against myhostname, and the A and
 * AAAA records of every remaining host are looked up concurrently; the
 * addresses are shuffled, sorted by preference and family, balanced and
 * cut to smtp_mx_address_limit.  [host] skips the MX step; [addr] skips
 * DNS.  Answers are read with dns_msg.c only; a name that is not a valid
 * host name never leaves this file except escaped in a warning.
 *
 * Interface: route.h.
 */
#include "config.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* dns */
#include "dns_msg.h"
#include "route.h"

#define ROUTE_CNAME_MAX 8 /* CNAME hops followed inside one answer */

/* One query and what came back. */
struct lookup {
	char name[256];
	unsigned type;
	enum route_lookup_status status;
	int ad_trusted; /* the resolver's AD bit may be believed */
	int ad;
	/* MX answers */
	struct route_mx *mx;
	size_t nmx;
	char bad_name[128]; /* first invalid MX target, escaped, cut */
	/* A / AAAA answers */
	unsigned char addr[ROUTE_HOST_ADDR_MAX][16];
	size_t naddr;
};

static void route_fail(struct route_error *e, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
route_fail(struct route_error *e, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	snprintf(e->dsn, sizeof(e->dsn), "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

static const char *
type_name(unsigned type)
{
	switch (type) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_AAAA:
		return "AAAA";
	case DNS_TYPE_MX:
		return "MX";
	default:
		return "?";
	}
}

/* Copy a name for use in text: anything unprintable becomes '?'. */
static void
printable(char *out, size_t outlen, const char *in)
{
	size_t i;

	for (i = 0; in[i] != 0 && i + 1 < outlen; i++)
		out[i] = (in[i] > 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = 0;
}

/* DNS names are case-insensitive; SNI, policy matches and logs get one form. */
static void
lower(char *s)
{
	for (; *s != 0; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* ------------------------------------------------------------------------
 * Outcomes in Postfix's words.
 */
void
route_lookup_error(enum route_lookup_status st, const char *name, unsigned type,
    struct route_error *e)
{
	const char *t = type_name(type);

	switch (st) {
	case ROUTE_LOOKUP_NXDOMAIN:
		route_fail(e, "5.4.4",
		    "Host or domain name not found. Name service error "
		    "for name=%s type=%s: Host not found",
		    name, t);
		break;
	case ROUTE_LOOKUP_NODATA:
		route_fail(e, "5.4.4",
		    "Host or domain name not found. Name service error "
		    "for name=%s type=%s: Host found but no data record of requested type",
		    name, t);
		break;
	case ROUTE_LOOKUP_INVALID:
		route_fail(e, "5.4.4",
		    "Name service error for name=%s type=%s: "
		    "Malformed or unexpected name server reply",
		    name, t);
		break;
	case ROUTE_LOOKUP_MALFORMED:
		route_fail(e, "4.4.3",
		    "Name service error for name=%s type=%s: "
		    "Malformed or unexpected name server reply",
		    name, t);
		break;
	case ROUTE_LOOKUP_NULLMX:
		route_fail(e, "5.1.0", "Domain %s does not accept mail (nullMX)", name);
		break;
	default:
		route_fail(e, "4.4.3",
		    "Host or domain name not found. Name service error "
		    "for name=%s type=%s: Host not found, try again",
		    name, t);
		break;
	}
}

static int
status_is_temporary(enum route_lookup_status st)
{
	return st == ROUTE_LOOKUP_TEMP || st == ROUTE_LOOKUP_MALFORMED
	    || st == ROUTE_LOOKUP_PENDING;
}

int
route_host_error(const char *host, enum route_lookup_status a, enum route_lookup_status aaaa,
    struct route_error *e)
{
	if (status_is_temporary(a) || !status_is_temporary(aaaa)) {
		route_lookup_error(a, host, DNS_TYPE_A, e);
		return status_is_temporary(a);
	}
	route_lookup_error(aaaa, host, DNS_TYPE_AAAA, e);
	return 1;
}

void
route_no_mx_address(const char *domain, const struct route_mx *mx,
    enum route_lookup_status (*st)[2], size_t n, int self, struct route_error *e)
{
	int soft = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int was_soft = soft;

		soft |= route_host_error(mx[i].host, st[i][0], st[i][1], e);
		/* A later permanent failure after a temporary one: 4.4.4. */
		if (was_soft && e->dsn[0] == '5')
			snprintf(e->dsn, sizeof(e->dsn), "4.4.4");
	}
	/* As Postfix: with our own entries dropped, the better ones failed. */
	if (self) {
		route_fail(e, "4.4.4", "unable to find primary relay for %s", domain);
		return;
	}
	snprintf(e->warning, sizeof(e->warning), "no MX host for %s has a valid address record",
	    domain);
}

/* ------------------------------------------------------------------------
 * Ordering, loop rule and limits.
 */
unsigned
route_random(unsigned bound, void *arg)
{
	(void)arg;
	return bound > 1 ? arc4random_uniform(bound) : 0;
}

static int
same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

size_t
route_mx_prepare(struct route_mx *mx, size_t n, const char *myhostname, route_random_fn *rnd,
    void *arg, int *self)
{
	size_t i, j, kept;
	unsigned self_pref = 0;
	int found = 0;

	*self = 0;
	/* Merge duplicates at the best preference. */
	for (i = 0, kept = 0; i < n; i++) {
		for (j = 0; j < kept; j++)
			if (same_host(mx[j].host, mx[i].host))
				break;
		if (j < kept) {
			if (mx[i].pref < mx[j].pref)
				mx[j].pref = mx[i].pref;
			continue;
		}
		if (kept != i)
			mx[kept] = mx[i];
		kept++;
	}
	n = kept;
	/* Shuffle, then a stable insertion sort by preference: equal
	 * preferences end up in random order. */
	if (rnd != NULL)
		for (i = n; i > 1; i--) {
			struct route_mx tmp;

			j = rnd((unsigned)i, arg);
			tmp = mx[i - 1];
			mx[i - 1] = mx[j];
			mx[j] = tmp;
		}
	for (i = 1; i < n; i++) {
		struct route_mx tmp = mx[i];

		for (j = i; j > 0 && mx[j - 1].pref > tmp.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = tmp;
	}
	if (myhostname == NULL || *myhostname == 0)
		return n;
	for (i = 0; i < n; i++)
		if (same_host(mx[i].host, myhostname)) {
			self_pref = mx[i].pref;
			found = 1;
			break;
		}
	if (!found)
		return n;
	*self = 1;
	for (i = 0; i < n && mx[i].pref < self_pref; i++)
		;
	return i;
}

static int
family_rank(const struct route_addr *a, enum route_pref pref)
{
	int v6 = a->sa.ss_family == AF_INET6;

	switch (pref) {
	case ROUTE_PREF_IPV4:
		return v6;
	case ROUTE_PREF_IPV6:
		return !v6;
	default:
		return 0;
	}
}

static int
addr_before(const struct route_addr *x, const struct route_addr *y, enum route_pref pref)
{
	if (x->pref != y->pref)
		return x->pref < y->pref;
	return family_rank(x, pref) < family_rank(y, pref);
}

void
route_order(struct route_addr *a, size_t n, enum route_pref pref, route_random_fn *rnd, void *arg)
{
	struct route_addr *tmp;
	size_t width, i;

	if (n < 2)
		return;
	if (rnd != NULL)
		for (i = n; i > 1; i--) {
			size_t j = rnd((unsigned)i, arg);
			struct route_addr t = a[i - 1];

			a[i - 1] = a[j];
			a[j] = t;
		}
	/* Bottom-up merge sort: stable, O(n log n), one scratch array. */
	if ((tmp = malloc(n * sizeof(*tmp))) == NULL) {
		/* Stable insertion sort needs no memory. */
		for (i = 1; i < n; i++) {
			struct route_addr t = a[i];
			size_t j;

			for (j = i; j > 0 && addr_before(&t, &a[j - 1], pref); j--)
				a[j] = a[j - 1];
			a[j] = t;
		}
		return;
	}
	for (width = 1; width < n; width *= 2) {
		for (i = 0; i < n; i += 2 * width) {
			size_t mid = i + width < n ? i + width : n;
			size_t end = i + 2 * width < n ? i + 2 * width : n;
			size_t l = i, r = mid, k = i;

			while (l < mid && r < end)
				tmp[k++] = addr_before(&a[r], &a[l], pref) ? a[r++] : a[l++];
			while (l < mid)
				tmp[k++] = a[l++];
			while (r < end)
				tmp[k++] = a[r++];
		}
		memcpy(a, tmp, n * sizeof(*a));
	}
	free(tmp);
}

size_t
route_limit(struct route_addr *a, size_t n, unsigned limit)
{
	size_t v4 = 0, v6 = 0, v4_keep, v6_keep, i, kept;

	if (limit == 0 || n <= limit)
		return n;
	for (i = 0; i < n; i++) {
		if (a[i].sa.ss_family == AF_INET6)
			v6++;
		else
			v4++;
	}
	if (v4 == 0 || v6 == 0)
		return limit;
	/* Neither family may crowd the other out of the limit. */
	if (v6 <= limit / 2) {
		v6_keep = v6;
		v4_keep = limit - v6;
	} else if (v4 <= limit / 2) {
		v4_keep = v4;
		v6_keep = limit - v4;
	} else {
		v4_keep = (limit + (a[0].sa.ss_family != AF_INET6)) / 2;
		v6_keep = limit - v4_keep;
	}
	for (i = 0, kept = 0; i < n; i++) {
		size_t *left = a[i].sa.ss_family == AF_INET6 ? &v6_keep : &v4_keep;

		if (*left == 0)
			continue;
		(*left)--;
		if (kept != i)
			a[kept] = a[i];
		kept++;
	}
	return kept;
}

/* ------------------------------------------------------------------------
 * Reading answers.
 */

static void
take_mx(struct lookup *lk, const char *target, unsigned pref)
{
	size_t i;

	if (!dns_msg_valid_hostname(target)) {
		if (lk->bad_name[0] == 0)
			snprintf(lk->bad_name, sizeof(lk->bad_name), "%.100s", target);
		return;
	}
	for (i = 0; i < lk->nmx; i++)
		if (same_host(lk->mx[i].host, target)) {
			if (pref < lk->mx[i].pref)
				lk->mx[i].pref = pref;
			return;
		}
	if (lk->nmx >= ROUTE_MX_MAX)
		return;
	/* A valid host name has at most 253 characters and a trailing dot. */
	i = strlen(target);
	if (i > 0 && target[i - 1] == '.')
		i--;
	if (i >= sizeof(lk->mx[0].host))
		return;
	memcpy(lk->mx[lk->nmx].host, target, i);
	lk->mx[lk->nmx].host[i] = 0;
	lower(lk->mx[lk->nmx].host);
	lk->mx[lk->nmx].pref = pref;
	lk->nmx++;
}

/*
 * An address one can connect to: not unspecified (which means this host),
 * not multicast or broadcast.
 */
static int
usable_address(const uint8_t *data, size_t len)
{
	static const uint8_t zero[16];

	if (len == 4)
		return data[0] != 0 && data[0] < 224;
	return memcmp(data, zero, 16) != 0 && data[0] != 0xff
	    && !(memcmp(data, zero, 10) == 0 && data[10] == 0xff && data[11] == 0xff
		&& !usable_address(data + 12, 4));
}

static void
take_addr(struct lookup *lk, const uint8_t *data, size_t len)
{
	size_t i;

	if (!usable_address(data, len))
		return;

	for (i = 0; i < lk->naddr; i++)
		if (memcmp(lk->addr[i], data, len) == 0)
			return;
	if (lk->naddr >= ROUTE_HOST_ADDR_MAX)
		return;
	memset(lk->addr[lk->naddr], 0, sizeof(lk->addr[0]));
	memcpy(lk->addr[lk->naddr], data, len);
	lk->naddr++;
}

static enum route_lookup_status
lookup_parse(struct lookup *lk, const uint8_t *msg, size_t len)
{
	struct dns_msg_iter it;
	struct dns_msg_header h;
	struct dns_msg_rr rr;
	char qname[DNS_MSG_NAME_TEXT_MAX];
	char owner[DNS_MSG_NAME_TEXT_MAX];
	char target[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass, pref;
	size_t want = lk->type == DNS_TYPE_A ? 4 : 16;
	int r;

	if (dns_msg_begin(&it, msg, len, &h, qname, &qtype, &qclass) != 0)
		return ROUTE_LOOKUP_MALFORMED;
	if (!h.qr || qtype != lk->type || qclass != DNS_CLASS_IN || !same_host(qname, lk->name))
		return ROUTE_LOOKUP_MALFORMED;
	lk->ad = lk->ad_trusted && h.ad;
	if (h.tc)
		return ROUTE_LOOKUP_TEMP; /* truncated even over TCP */
	if (h.rcode == DNS_RCODE_NXDOMAIN)
		return ROUTE_LOOKUP_NXDOMAIN;
	if (h.rcode != DNS_RCODE_NOERROR)
		return ROUTE_LOOKUP_TEMP;
	if (dns_msg_follow_cnames(msg, len, qname, ROUTE_CNAME_MAX, owner, sizeof(owner)) != 0)
		return ROUTE_LOOKUP_MALFORMED;
	while ((r = dns_msg_next(&it, &rr)) == 1) {
		if (rr.type != lk->type || rr.rclass != DNS_CLASS_IN || !same_host(rr.owner, owner))
			continue;
		if (lk->type == DNS_TYPE_MX) {
			if (dns_msg_rdata_mx(&it, &rr, &pref, target) != 0)
				return ROUTE_LOOKUP_MALFORMED;
			if (target[0] == 0)
				return ROUTE_LOOKUP_NULLMX;
			take_mx(lk, target, pref);
		} else {
			if (rr.rdlen != want)
				return ROUTE_LOOKUP_MALFORMED;
			take_addr(lk, msg + rr.rdata, want);
		}
	}
	if (r < 0)
		return ROUTE_LOOKUP_MALFORMED;
	if (lk->nmx > 0 || lk->naddr > 0)
		return ROUTE_LOOKUP_OK;
	if (lk->bad_name[0] != 0)
		return ROUTE_LOOKUP_INVALID;
	return ROUTE_LOOKUP_NODATA;
}

static void
lookup_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *lk = arg;

	(void)timeouts;
	if (status != ARES_SUCCESS || abuf == NULL || alen <= 0) {
		lk->status = ROUTE_LOOKUP_TEMP;
		return;
	}
	lk->status = lookup_parse(lk, abuf, (size_t)alen);
}

static void
lookup_start(struct dns_ctx *dns, struct lookup *lk, const char *name, unsigned type)
{
	snprintf(lk->name, sizeof(lk->name), "%s", name);
	lk->type = type;
	lk->status = ROUTE_LOOKUP_PENDING;
	lk->ad_trusted = dns_ad_trusted(dns);
	/* Names were validated before; a refusal here is our own error. */
	if (dns_query(dns, lk->name, type, lookup_done, lk) != 0)
		lk->status = ROUTE_LOOKUP_INVALID;
}

/* ------------------------------------------------------------------------
 * Assembling the route.
 */

/* A host and the two lookups for its addresses. */
struct host_lookup {
	const char *host;
	unsigned pref;
	struct lookup a;
	struct lookup aaaa;
};

static int
route_port(const struct nexthop *nh, const struct route_options *opt, unsigned *port,
    struct route_error *e)
{
	struct servent *se;
	char *end;
	unsigned long n;
	char name[sizeof(nh->port)];

	*port = opt->port;
	if (!nh->has_port || nh->port[0] == 0)
		return 0;
	if (nh->port[0] >= '0' && nh->port[0] <= '9') {
		n = strtoul(nh->port, &end, 10);
		if (*end == 0 && n > 0 && n <= 65535) {
			*port = (unsigned)n;
			return 0;
		}
	} else if ((se = getservbyname(nh->port, "tcp")) != NULL) {
		*port = ntohs((uint16_t)se->s_port);
		return 0;
	}
	printable(name, sizeof(name), nh->port);
	route_fail(e, "4.3.5", "unknown service: %s/tcp", name);
	return -1;
}

static void
fill_addr(struct route_addr *ra, const char *host, int family, const unsigned char *bin,
    unsigned port, int pref, int secure)
{
	memset(ra, 0, sizeof(*ra));
	snprintf(ra->host, sizeof(ra->host), "%s", host);
	ra->pref = pref;
	ra->dnssec_secure = secure;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ra->sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, bin, 16);
		ra->salen = sizeof(*s6);
		inet_ntop(AF_INET6, bin, ra->addr, sizeof(ra->addr));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ra->sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, bin, 4);
		ra->salen = sizeof(*s4);
		inet_ntop(AF_INET, bin, ra->addr, sizeof(ra->addr));
	}
}

static int
route_literal(const struct nexthop *nh, unsigned port, struct route_list *out,
    struct route_error *e)
{
	unsigned char bin[16];
	int family = nh->kind == NEXTHOP_IPV6 ? AF_INET6 : AF_INET;
	char name[NEXTHOP_HOST_MAX];

	if (inet_pton(family, nh->host, bin) != 1) {
		printable(name, sizeof(name), nh->host);
		route_fail(e, "5.4.4", "Name service error for %s: invalid host or domain name",
		    name);
		return -1;
	}
	if ((out->addrs = calloc(1, sizeof(*out->addrs))) == NULL) {
		route_fail(e, "4.3.0", "out of memory");
		return -1;
	}
	fill_addr(&out->addrs[0], "", family, bin, port, 0, 0);
	/* The host name of a literal is the address, in its canonical form. */
	snprintf(out->addrs[0].host, sizeof(out->addrs[0].host), "%s", out->addrs[0].addr);
	out->count = 1;
	return 0;
}

/* "localhost" and names under ".localhost." (RFC 6761 6.3). */
static int
is_localhost(const char *name)
{
	size_t len = strlen(name);

	return strcmp(name, "localhost") == 0
	    || (len > 10 && strcmp(name + len - 10, ".localhost") == 0);
}

/*
 * RFC 6761: localhost names never go to DNS (a resolver may well answer
 * NXDOMAIN, as many do).  Only 127.0.0.1: a loopback service usually binds
 * it alone, and a second address nobody listens on would turn the result
 * of the last attempt into a connection failure; write [::1] for IPv6.
 */
static int
route_localhost(const char *name, unsigned port, struct route_list *out, struct route_error *e)
{
	static const unsigned char loop4[4] = { 127, 0, 0, 1 };

	if ((out->addrs = calloc(1, sizeof(*out->addrs))) == NULL) {
		route_fail(e, "4.3.0", "out of memory");
		return -1;
	}
	fill_addr(&out->addrs[0], name, AF_INET, loop4, port, 0, 0);
	out->count = 1;
	return 0;
}

/* Run the A/AAAA lookups of hosts[0..n) concurrently; collect addresses. */
static int
resolve_hosts(struct dns_ctx *dns, struct host_lookup *hosts, size_t n, unsigned port,
    const struct route_options *opt, struct route_list *out, struct route_error *e)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		lookup_start(dns, &hosts[i].a, hosts[i].host, DNS_TYPE_A);
		lookup_start(dns, &hosts[i].aaaa, hosts[i].host, DNS_TYPE_AAAA);
	}
	(void)dns_wait(dns, opt->deadline_ms);
	if ((out->addrs = calloc(ROUTE_ADDR_MAX, sizeof(*out->addrs))) == NULL) {
		route_fail(e, "4.3.0", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct lookup *fam[2] = { &hosts[i].a, &hosts[i].aaaa };
		int f;

		for (f = 0; f < 2; f++) {
			if (fam[f]->status != ROUTE_LOOKUP_OK)
				continue;
			for (j = 0; j < fam[f]->naddr && out->count < ROUTE_ADDR_MAX; j++)
				fill_addr(&out->addrs[out->count++], hosts[i].host,
				    f ? AF_INET6 : AF_INET, fam[f]->addr[j], port,
				    (int)hosts[i].pref, fam[f]->ad);
		}
	}
	return 0;
}

static void
finish_list(struct route_list *out, const struct route_options *opt)
{
	route_order(out->addrs, out->count, opt->address_preference,
	    opt->randomize ? route_random : NULL, NULL);
	out->count = route_limit(out->addrs, out->count, opt->mx_address_limit);
}

/* [host], and the domain itself when it has no MX records. */
static int
route_host(struct dns_ctx *dns, const char *host, unsigned port, const struct route_options *opt,
    struct route_list *out, struct route_error *e)
{
	struct host_lookup *hl;
	int rc = 0;

	if ((hl = calloc(1, sizeof(*hl))) == NULL) {
		route_fail(e, "4.3.0", "out of memory");
		return -1;
	}
	hl->host = host;
	if (resolve_hosts(dns, hl, 1, port, opt, out, e) != 0) {
		rc = -1;
	} else if (out->count == 0) {
		route_host_error(host, hl->a.status, hl->aaaa.status, e);
		rc = -1;
	} else
		finish_list(out, opt);
	free(hl);
	return rc;
}

static int
route_mx(struct dns_ctx *dns, const char *domain, unsigned port, const struct route_options *opt,
    struct route_list *out, struct route_error *e)
{
	struct lookup *mxl;
	struct host_lookup *hosts = NULL;
	enum route_lookup_status(*st)[2] = NULL;
	size_t n, i;
	int self, rc = -1;

	if ((mxl = calloc(1, sizeof(*mxl))) == NULL
	    || (mxl->mx = calloc(ROUTE_MX_MAX, sizeof(*mxl->mx))) == NULL) {
		free(mxl);
		route_fail(e, "4.3.0", "out of memory");
		return -1;
	}
	lookup_start(dns, mxl, domain, DNS_TYPE_MX);
	(void)dns_wait(dns, opt->deadline_ms);
	switch (mxl->status) {
	case ROUTE_LOOKUP_OK:
		break;
	case ROUTE_LOOKUP_NXDOMAIN:
	case ROUTE_LOOKUP_NODATA:
		/* No MX: the domain is its own mail exchanger (RFC 5321 5.1). */
		if (opt->myhostname != NULL && same_host(domain, opt->myhostname)) {
			route_fail(e, "5.4.6", "mail for %s loops back to myself", domain);
			e->self = 1;
		} else
			rc = route_host(dns, domain, port, opt, out, e);
		goto done;
	case ROUTE_LOOKUP_INVALID:
		route_lookup_error(mxl->status, domain, DNS_TYPE_MX, e);
		snprintf(e->warning, sizeof(e->warning),
		    "malformed domain name in resource data "
		    "of MX record for %s: %s",
		    domain, mxl->bad_name);
		goto done;
	default:
		route_lookup_error(mxl->status, domain, DNS_TYPE_MX, e);
		goto done;
	}
	out->mx_secure = mxl->ad;
	n = route_mx_prepare(mxl->mx, mxl->nmx, opt->myhostname,
	    opt->randomize ? route_random : NULL, NULL, &self);
	out->self = e->self = self;
	if (n == 0) {
		route_fail(e, "5.4.6", "mail for %s loops back to myself", domain);
		e->self = 1;
		goto done;
	}
	if ((hosts = calloc(n, sizeof(*hosts))) == NULL || (st = calloc(n, sizeof(*st))) == NULL) {
		route_fail(e, "4.3.0", "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		hosts[i].host = mxl->mx[i].host;
		hosts[i].pref = mxl->mx[i].pref;
	}
	if (resolve_hosts(dns, hosts, n, port, opt, out, e) != 0)
		goto done;
	if (out->count == 0) {
		for (i = 0; i < n; i++) {
			st[i][0] = hosts[i].a.status;
			st[i][1] = hosts[i].aaaa.status;
		}
		route_no_mx_address(domain, mxl->mx, st, n, self, e);
		goto done;
	}
	finish_list(out, opt);
	rc = 0;
done:
	free(st);
	free(hosts);
	free(mxl->mx);
	free(mxl);
	return rc;
}

int
route_resolve(struct dns_ctx *dns, const struct nexthop *nh, const struct route_options *opt,
    struct route_list *out, struct route_error *e)
{
	unsigned port;
	char name[NEXTHOP_HOST_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	memset(e, 0, sizeof(*e));
	if (route_port(nh, opt, &port, e) != 0)
		return -1;
	if (nh->kind == NEXTHOP_IPV4 || nh->kind == NEXTHOP_IPV6)
		return route_literal(nh, port, out, e);
	printable(name, sizeof(name), nh->host);
	if (!dns_msg_valid_hostname(nh->host)) {
		route_fail(e, "5.4.4", "Name service error for %s: invalid host or domain name",
		    name);
		return -1;
	}
	/* Without the trailing dot: the name goes into SNI and log lines. */
	if (name[0] != 0 && name[strlen(name) - 1] == '.')
		name[strlen(name) - 1] = 0;
	lower(name);
	if (is_localhost(name))
		rc = route_localhost(name, port, out, e);
	else if (nh->kind == NEXTHOP_HOST)
		rc = route_host(dns, name, port, opt, out, e);
	else
		rc = route_mx(dns, name, port, opt, out, e);
	if (rc != 0)
		route_list_free(out);
	return rc;
}

void
route_list_free(struct route_list *l)
{
	free(l->addrs);
	l->addrs = NULL;
	l->count = 0;
}
