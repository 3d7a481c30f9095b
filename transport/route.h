/*
 * route.h - from a Postfix next-hop to the ordered list of addresses to try.
 *
 * Follows smtp(8): domain -> MX lookup (sorted by preference, equal
 * preferences shuffled, smtp_mx_address_limit, loop rule against
 * myhostname, null MX, implicit MX when there is no MX); [host] -> A/AAAA
 * only; [addr] and [ipv6:addr] -> used as they are.  Every address carries
 * the host name it came from (the MX host name, no trailing dot), which the
 * TLS layer uses for SNI and the "hostname" match strategy.
 *
 * Interface:
 *   route_resolve()  fills a route_list or a route_error with Postfix's code
 *                    and text; never blocks past the deadline.  "self" in
 *                    either says that myhostname is a mail exchanger of the
 *                    destination: as in smtp(8), no further destination of
 *                    a next-hop list (nor a fallback relay) may be tried.
 *   route_list_free()
 */
#ifndef TLSMTP_ROUTE_H
#define TLSMTP_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* dns */
#include "dns.h"

/*
 * Printable names of one address (struct route_addr), for reasons and logs:
 * ROUTE_NAMADDR_MAX  "host[addr]": a host name of 255 and an address of 63
 *                    characters, brackets and NUL make 321;
 * ROUTE_LABEL_MAX    "host[addr]:port": 6 more for ":65535", rounded up.
 */
#define ROUTE_NAMADDR_MAX 330
#define ROUTE_LABEL_MAX	  400

enum route_pref { ROUTE_PREF_ANY, ROUTE_PREF_IPV4, ROUTE_PREF_IPV6 };

struct route_options {
	unsigned port;			    /* TCP port (network order NOT applied) */
	unsigned mx_address_limit;	    /* smtp_mx_address_limit, 0 = none */
	enum route_pref address_preference; /* smtp_address_preference */
	int randomize;			    /* smtp_randomize_addresses */
	const char *myhostname;		    /* for the MX loop rule; may be NULL */
	int64_t deadline_ms;		    /* CLOCK_MONOTONIC */
};

struct route_addr {
	char host[256];		    /* MX host or [host] name; the literal for [addr] */
	char addr[64];		    /* printable address, e.g. "192.0.2.1", "2001:db8::1" */
	int pref;		    /* MX preference (0 for non-MX routes) */
	int dnssec_secure;	    /* address records came with the AD bit (for DANE) */
	struct sockaddr_storage sa; /* with the port filled in */
	socklen_t salen;
};

struct route_list {
	struct route_addr *addrs;
	size_t count;
	int mx_secure; /* the MX answer itself was DNSSEC-validated */
	int self;      /* myhostname is an MX host (the loop rule cut the list) */
};

struct route_error {
	char dsn[OUTCOME_DSN_MAX];	/* "5.4.4", "4.4.3", "5.1.0" ... */
	char text[OUTCOME_TEXT_MAX];	/* Postfix's wording, ready for the output line */
	char warning[OUTCOME_TEXT_MAX]; /* for the log, without "warning: "; "" if none */
	int self;			/* the failure is the loop rule's: mail for the
					 * destination would come back to myhostname */
};

/* Returns 0 with a non-empty list, or -1 with *e filled in. */
int route_resolve(struct dns_ctx *dns, const struct nexthop *nh, const struct route_options *opt,
    struct route_list *out, struct route_error *e);
void route_list_free(struct route_list *l);

/* ------------------------------------------------------------------------
 * Building blocks of route_resolve(), pure functions exposed for the unit
 * tests.  Nothing else should need them.
 */
#define ROUTE_MX_MAX	    100 /* MX records kept from one answer */
#define ROUTE_HOST_ADDR_MAX 20	/* addresses kept per host and family */
#define ROUTE_ADDR_MAX	    256 /* addresses considered per delivery */

enum route_lookup_status {
	ROUTE_LOOKUP_PENDING,
	ROUTE_LOOKUP_OK,
	ROUTE_LOOKUP_NXDOMAIN,	/* permanent: "Host not found" */
	ROUTE_LOOKUP_NODATA,	/* permanent: no record of that type */
	ROUTE_LOOKUP_TEMP,	/* SERVFAIL, REFUSED, timeout, truncated */
	ROUTE_LOOKUP_MALFORMED, /* unreadable answer: temporary, as Postfix */
	ROUTE_LOOKUP_INVALID,	/* only invalid host names: permanent */
	ROUTE_LOOKUP_NULLMX	/* an MX record with target "." */
};

struct route_mx {
	char host[256]; /* valid host name, no trailing dot */
	unsigned pref;
};

/* A number in [0, bound); NULL where a function takes one means "do not shuffle". */
typedef unsigned route_random_fn(unsigned bound, void *arg);
unsigned route_random(unsigned bound, void *arg); /* arc4random_uniform */

/*
 * Sort MX records by preference, merge duplicate hosts at their best
 * preference, shuffle equal preferences (rnd != NULL) and apply the loop
 * rule: when myhostname is an MX host, drop every entry at or above its
 * preference and set *self.  Returns the number of entries kept.
 */
size_t route_mx_prepare(struct route_mx *mx, size_t n, const char *myhostname, route_random_fn *rnd,
    void *arg, int *self);

/*
 * Postfix's address order: shuffle all addresses (rnd != NULL), then a
 * stable sort by MX preference and, within one preference, by family as
 * address_preference says.
 */
void route_order(struct route_addr *a, size_t n, enum route_pref pref, route_random_fn *rnd,
    void *arg);

/*
 * smtp_mx_address_limit (0 = none) with smtp_balance_inet_protocols: when
 * both families are present and must be cut, each keeps a fair share.
 * Keeps the relative order; returns the new count.
 */
size_t route_limit(struct route_addr *a, size_t n, unsigned limit);

/* Postfix's code and text for one failed lookup of name and type. */
void route_lookup_error(enum route_lookup_status st, const char *name, unsigned type,
    struct route_error *e);

/*
 * A host's A and AAAA lookups both failed: a temporary failure of either
 * wins (mail must not bounce while addresses may exist); otherwise the A
 * lookup names the reason.  Returns 1 when the result is temporary.
 */
int route_host_error(const char *host, enum route_lookup_status a, enum route_lookup_status aaaa,
    struct route_error *e);

/*
 * No MX host had an address.  st[i][0..1] are the A and AAAA outcomes of
 * mx[i].  As Postfix: the reason of the last failure, made temporary when
 * any failure was ("4.4.4" after a temporary one); "unable to find primary
 * relay" when the loop rule had dropped entries (self).
 */
void route_no_mx_address(const char *domain, const struct route_mx *mx,
    enum route_lookup_status (*st)[2], size_t n, int self, struct route_error *e);

#endif
