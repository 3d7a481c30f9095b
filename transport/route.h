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
 *                    and text; never blocks past the deadline.
 *   route_list_free()
 */
#ifndef TLSMTP_ROUTE_H
#define TLSMTP_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "policymap.h"
#include "dns.h"

enum route_pref { ROUTE_PREF_ANY, ROUTE_PREF_IPV4, ROUTE_PREF_IPV6 };

struct route_options {
	unsigned port;			/* TCP port (network order NOT applied) */
	unsigned mx_address_limit;	/* smtp_mx_address_limit, 0 = none */
	enum route_pref address_preference;	/* smtp_address_preference */
	int randomize;			/* smtp_randomize_addresses */
	const char *myhostname;		/* for the MX loop rule; may be NULL */
	int64_t deadline_ms;		/* CLOCK_MONOTONIC */
};

struct route_addr {
	char host[256];			/* MX host or [host] name; the literal for [addr] */
	char addr[64];			/* printable address, e.g. "192.0.2.1", "2001:db8::1" */
	int pref;			/* MX preference (0 for non-MX routes) */
	int dnssec_secure;		/* address records came with the AD bit (for DANE) */
	struct sockaddr_storage sa;	/* with the port filled in */
	socklen_t salen;
};

struct route_list {
	struct route_addr *addrs;
	size_t count;
	int mx_secure;			/* the MX answer itself was DNSSEC-validated */
};

struct route_error {
	char dsn[16];			/* "5.4.4", "4.4.3", "5.1.0" ... */
	char text[512];			/* Postfix's wording, ready for the output line */
};

/* Returns 0 with a non-empty list, or -1 with *e filled in. */
int route_resolve(struct dns_ctx *dns, const struct nexthop *nh, const struct route_options *opt,
    struct route_list *out, struct route_error *e);
void route_list_free(struct route_list *l);

#endif
