/*
 * test_route.c - cmocka units for the pure parts of route.c: MX sorting,
 * duplicates, shuffling, the loop rule, address order, the address limit
 * with family balance, and the mapping of lookup results to Postfix's
 * codes and texts.  The network parts are tested by t/dns/test-route.sh.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "route.h"

/* Deterministic generator for the shuffles. */
static unsigned
lcg(unsigned bound, void *arg)
{
	uint32_t *state = arg;

	*state = *state * 1103515245u + 12345u;
	return (*state >> 8) % bound;
}

static void
set_mx(struct route_mx *mx, const char *host, unsigned pref)
{
	snprintf(mx->host, sizeof(mx->host), "%s", host);
	mx->pref = pref;
}

static void
mx_sorted_by_preference(void **state)
{
	struct route_mx mx[4];
	int self;

	(void)state;
	set_mx(&mx[0], "c.test", 30);
	set_mx(&mx[1], "a.test", 10);
	set_mx(&mx[2], "d.test", 40);
	set_mx(&mx[3], "b.test", 20);
	assert_int_equal(route_mx_prepare(mx, 4, NULL, NULL, NULL, &self), 4);
	assert_int_equal(self, 0);
	assert_string_equal(mx[0].host, "a.test");
	assert_string_equal(mx[1].host, "b.test");
	assert_string_equal(mx[2].host, "c.test");
	assert_string_equal(mx[3].host, "d.test");
}

static void
mx_duplicates_merged_at_best_preference(void **state)
{
	struct route_mx mx[4];
	int self;

	(void)state;
	set_mx(&mx[0], "b.test", 20);
	set_mx(&mx[1], "A.TEST", 30);
	set_mx(&mx[2], "a.test", 5);
	set_mx(&mx[3], "b.test.", 25);
	assert_int_equal(route_mx_prepare(mx, 4, NULL, NULL, NULL, &self), 2);
	assert_string_equal(mx[0].host, "A.TEST");
	assert_int_equal(mx[0].pref, 5);
	assert_string_equal(mx[1].host, "b.test");
	assert_int_equal(mx[1].pref, 20);
}

static void
mx_equal_preferences_shuffled(void **state)
{
	unsigned seen[3] = { 0, 0, 0 };
	uint32_t seed;

	(void)state;
	for (seed = 1; seed <= 300; seed++) {
		struct route_mx mx[4];
		uint32_t rng = seed;
		int self;

		set_mx(&mx[0], "e1.test", 10);
		set_mx(&mx[1], "e2.test", 10);
		set_mx(&mx[2], "e3.test", 10);
		set_mx(&mx[3], "first.test", 5);
		assert_int_equal(route_mx_prepare(mx, 4, NULL, lcg, &rng, &self), 4);
		/* Preference order always holds ... */
		assert_string_equal(mx[0].host, "first.test");
		assert_int_equal(mx[1].pref, 10);
		assert_int_equal(mx[3].pref, 10);
		/* ... while each equal-preference host comes first sometimes. */
		seen[mx[1].host[1] - '1']++;
	}
	assert_true(seen[0] > 30 && seen[1] > 30 && seen[2] > 30);
}

static void
mx_loop_rule(void **state)
{
	struct route_mx mx[4];
	int self;

	(void)state;
	set_mx(&mx[0], "mx1.test", 10);
	set_mx(&mx[1], "me.test", 20);
	set_mx(&mx[2], "mx2.test", 20);
	set_mx(&mx[3], "mx3.test", 30);
	/* Entries at or above our own preference go, equal ones included. */
	assert_int_equal(route_mx_prepare(mx, 4, "ME.test.", NULL, NULL, &self), 1);
	assert_int_equal(self, 1);
	assert_string_equal(mx[0].host, "mx1.test");

	set_mx(&mx[0], "mx1.test", 10);
	set_mx(&mx[1], "me.test", 10);
	assert_int_equal(route_mx_prepare(mx, 2, "me.test", NULL, NULL, &self), 0);
	assert_int_equal(self, 1);

	set_mx(&mx[0], "mx1.test", 10);
	set_mx(&mx[1], "mx2.test", 20);
	assert_int_equal(route_mx_prepare(mx, 2, "me.test", NULL, NULL, &self), 2);
	assert_int_equal(self, 0);
	assert_int_equal(route_mx_prepare(mx, 2, "", NULL, NULL, &self), 2);
}

static void
set_addr(struct route_addr *a, const char *host, const char *addr, int pref)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	snprintf(a->addr, sizeof(a->addr), "%s", addr);
	a->pref = pref;
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		a->salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &s4->sin_addr);
		a->salen = sizeof(*s4);
	}
}

static void
order_by_preference_stable_without_shuffle(void **state)
{
	struct route_addr a[5];

	(void)state;
	set_addr(&a[0], "b", "192.0.2.20", 20);
	set_addr(&a[1], "a", "192.0.2.10", 10);
	set_addr(&a[2], "b", "2001:db8::20", 20);
	set_addr(&a[3], "a", "2001:db8::10", 10);
	set_addr(&a[4], "b", "192.0.2.21", 20);
	route_order(a, 5, ROUTE_PREF_ANY, NULL, NULL);
	assert_string_equal(a[0].addr, "192.0.2.10");
	assert_string_equal(a[1].addr, "2001:db8::10");
	assert_string_equal(a[2].addr, "192.0.2.20");
	assert_string_equal(a[3].addr, "2001:db8::20");
	assert_string_equal(a[4].addr, "192.0.2.21");
}

static void
order_family_preference_within_one_mx_preference(void **state)
{
	struct route_addr a[4];

	(void)state;
	set_addr(&a[0], "a", "192.0.2.10", 10);
	set_addr(&a[1], "a", "2001:db8::10", 10);
	set_addr(&a[2], "b", "192.0.2.20", 20);
	set_addr(&a[3], "b", "2001:db8::20", 20);
	route_order(a, 4, ROUTE_PREF_IPV6, NULL, NULL);
	assert_string_equal(a[0].addr, "2001:db8::10");
	assert_string_equal(a[1].addr, "192.0.2.10");
	assert_string_equal(a[2].addr, "2001:db8::20");
	assert_string_equal(a[3].addr, "192.0.2.20");
	route_order(a, 4, ROUTE_PREF_IPV4, NULL, NULL);
	assert_string_equal(a[0].addr, "192.0.2.10");
	assert_string_equal(a[1].addr, "2001:db8::10");
	assert_string_equal(a[2].addr, "192.0.2.20");
	assert_string_equal(a[3].addr, "2001:db8::20");
}

static void
order_shuffles_equal_preferences_only(void **state)
{
	unsigned first[3] = { 0, 0, 0 };
	uint32_t seed;

	(void)state;
	for (seed = 1; seed <= 300; seed++) {
		struct route_addr a[5];
		uint32_t rng = seed;

		set_addr(&a[0], "z", "192.0.2.99", 99);
		set_addr(&a[1], "e", "192.0.2.1", 10);
		set_addr(&a[2], "e", "192.0.2.2", 10);
		set_addr(&a[3], "e", "192.0.2.3", 10);
		set_addr(&a[4], "p", "192.0.2.50", 5);
		route_order(a, 5, ROUTE_PREF_ANY, lcg, &rng);
		assert_string_equal(a[0].addr, "192.0.2.50");
		assert_int_equal(a[1].pref, 10);
		assert_int_equal(a[3].pref, 10);
		assert_string_equal(a[4].addr, "192.0.2.99");
		first[a[1].addr[8] - '1']++;
	}
	assert_true(first[0] > 30 && first[1] > 30 && first[2] > 30);
}

static void
limit_single_family_truncates(void **state)
{
	struct route_addr a[4];

	(void)state;
	set_addr(&a[0], "a", "192.0.2.1", 10);
	set_addr(&a[1], "a", "192.0.2.2", 10);
	set_addr(&a[2], "b", "192.0.2.3", 20);
	set_addr(&a[3], "b", "192.0.2.4", 20);
	assert_int_equal(route_limit(a, 4, 0), 4);
	assert_int_equal(route_limit(a, 4, 9), 4);
	assert_int_equal(route_limit(a, 4, 3), 3);
	assert_string_equal(a[2].addr, "192.0.2.3");
}

static void
limit_balances_families(void **state)
{
	struct route_addr a[8];
	size_t n, i, v6;

	(void)state;
	/* Six IPv6 addresses first would crowd out IPv4 under a limit of 5. */
	for (i = 0; i < 6; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "2001:db8::%zu", i + 1);
		set_addr(&a[i], "six", buf, 10);
	}
	set_addr(&a[6], "four", "192.0.2.1", 20);
	set_addr(&a[7], "four", "192.0.2.2", 20);
	n = route_limit(a, 8, 5);
	assert_int_equal(n, 5);
	for (i = 0, v6 = 0; i < n; i++)
		v6 += a[i].sa.ss_family == AF_INET6;
	/* Region: IPv4 count (2) <= limit/2 -> all IPv4 kept, IPv6 fills the rest. */
	assert_int_equal(v6, 3);
	assert_string_equal(a[0].addr, "2001:db8::1");
	assert_string_equal(a[2].addr, "2001:db8::3");
	assert_string_equal(a[3].addr, "192.0.2.1");
	assert_string_equal(a[4].addr, "192.0.2.2");

	/* Both families large: the first address's family gets the odd one. */
	for (i = 0; i < 4; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "192.0.2.%zu", i + 1);
		set_addr(&a[2 * i], "m", buf, 10);
		snprintf(buf, sizeof(buf), "2001:db8::%zu", i + 1);
		set_addr(&a[2 * i + 1], "m", buf, 10);
	}
	n = route_limit(a, 8, 5);
	assert_int_equal(n, 5);
	for (i = 0, v6 = 0; i < n; i++)
		v6 += a[i].sa.ss_family == AF_INET6;
	assert_int_equal(v6, 2);
}

static void
lookup_error_texts(void **state)
{
	struct route_error e;

	(void)state;
	memset(&e, 0, sizeof(e));
	route_lookup_error(ROUTE_LOOKUP_NXDOMAIN, "h.test", 1, &e);
	assert_string_equal(e.dsn, "5.4.4");
	assert_string_equal(e.text,
	    "Host or domain name not found. Name service error for "
	    "name=h.test type=A: Host not found");
	route_lookup_error(ROUTE_LOOKUP_NODATA, "h.test", 28, &e);
	assert_string_equal(e.dsn, "5.4.4");
	assert_string_equal(e.text,
	    "Host or domain name not found. Name service error for "
	    "name=h.test type=AAAA: Host found but no data record of requested type");
	route_lookup_error(ROUTE_LOOKUP_TEMP, "d.test", 15, &e);
	assert_string_equal(e.dsn, "4.4.3");
	assert_string_equal(e.text,
	    "Host or domain name not found. Name service error for "
	    "name=d.test type=MX: Host not found, try again");
	route_lookup_error(ROUTE_LOOKUP_MALFORMED, "d.test", 15, &e);
	assert_string_equal(e.dsn, "4.4.3");
	assert_string_equal(e.text,
	    "Name service error for name=d.test type=MX: "
	    "Malformed or unexpected name server reply");
	route_lookup_error(ROUTE_LOOKUP_INVALID, "d.test", 15, &e);
	assert_string_equal(e.dsn, "5.4.4");
	route_lookup_error(ROUTE_LOOKUP_NULLMX, "d.test", 15, &e);
	assert_string_equal(e.dsn, "5.1.0");
	assert_string_equal(e.text, "Domain d.test does not accept mail (nullMX)");
	/* A lookup cut off by the deadline is temporary. */
	route_lookup_error(ROUTE_LOOKUP_PENDING, "d.test", 1, &e);
	assert_string_equal(e.dsn, "4.4.3");
}

static void
host_error_temporary_wins(void **state)
{
	struct route_error e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(route_host_error("h.test", ROUTE_LOOKUP_NXDOMAIN, ROUTE_LOOKUP_NXDOMAIN,
			     &e),
	    0);
	assert_string_equal(e.dsn, "5.4.4");
	assert_non_null(strstr(e.text, "type=A: Host not found"));
	assert_int_equal(route_host_error("h.test", ROUTE_LOOKUP_NODATA, ROUTE_LOOKUP_TEMP, &e), 1);
	assert_string_equal(e.dsn, "4.4.3");
	assert_non_null(strstr(e.text, "type=AAAA: Host not found, try again"));
	assert_int_equal(route_host_error("h.test", ROUTE_LOOKUP_TEMP, ROUTE_LOOKUP_NODATA, &e), 1);
	assert_non_null(strstr(e.text, "type=A: Host not found, try again"));
	assert_int_equal(route_host_error("h.test", ROUTE_LOOKUP_NODATA, ROUTE_LOOKUP_MALFORMED,
			     &e),
	    1);
	assert_string_equal(e.dsn, "4.4.3");
}

static void
no_mx_address_outcomes(void **state)
{
	struct route_mx mx[2];
	enum route_lookup_status st[2][2];
	struct route_error e;

	(void)state;
	set_mx(&mx[0], "mx1.test", 10);
	set_mx(&mx[1], "mx2.test", 20);

	memset(&e, 0, sizeof(e));
	st[0][0] = st[0][1] = ROUTE_LOOKUP_NXDOMAIN;
	st[1][0] = st[1][1] = ROUTE_LOOKUP_NODATA;
	route_no_mx_address("d.test", mx, st, 2, 0, &e);
	assert_string_equal(e.dsn, "5.4.4");
	assert_non_null(strstr(e.text, "name=mx2.test type=A: Host found but no data"));
	assert_string_equal(e.warning, "no MX host for d.test has a valid address record");

	memset(&e, 0, sizeof(e));
	st[0][0] = ROUTE_LOOKUP_TEMP;
	route_no_mx_address("d.test", mx, st, 2, 0, &e);
	assert_string_equal(e.dsn, "4.4.4");
	assert_non_null(strstr(e.text, "name=mx2.test"));

	memset(&e, 0, sizeof(e));
	st[0][0] = ROUTE_LOOKUP_NXDOMAIN;
	st[1][1] = ROUTE_LOOKUP_TEMP;
	route_no_mx_address("d.test", mx, st, 2, 0, &e);
	assert_string_equal(e.dsn, "4.4.3");
	assert_non_null(strstr(e.text, "name=mx2.test type=AAAA: Host not found, try again"));

	memset(&e, 0, sizeof(e));
	st[1][1] = ROUTE_LOOKUP_NODATA;
	route_no_mx_address("d.test", mx, st, 1, 1, &e);
	assert_string_equal(e.dsn, "4.4.4");
	assert_string_equal(e.text, "unable to find primary relay for d.test");
	assert_string_equal(e.warning, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mx_sorted_by_preference),
		cmocka_unit_test(mx_duplicates_merged_at_best_preference),
		cmocka_unit_test(mx_equal_preferences_shuffled),
		cmocka_unit_test(mx_loop_rule),
		cmocka_unit_test(order_by_preference_stable_without_shuffle),
		cmocka_unit_test(order_family_preference_within_one_mx_preference),
		cmocka_unit_test(order_shuffles_equal_preferences_only),
		cmocka_unit_test(limit_single_family_truncates),
		cmocka_unit_test(limit_balances_families),
		cmocka_unit_test(lookup_error_texts),
		cmocka_unit_test(host_error_temporary_wins),
		cmocka_unit_test(no_mx_address_outcomes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
