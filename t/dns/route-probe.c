/*
 * route-probe.c - run dns_open() and route_resolve() once and print the
 * result, for t/dns/test-route.sh.
 *
 * Usage: route-probe [-s dns_servers] [-p port] [-l mx_address_limit]
 *            [-a any|ipv4|ipv6] [-R] [-m myhostname] [-t timeout_ms] [-v] NEXTHOP
 *
 * NEXTHOP is domain[:port], [host][:port], [addr][:port] or [ipv6:addr][:port].
 * -R turns smtp_randomize_addresses off.  On success prints one line per
 * address, "host addr pref" (with -v also "port=P secure=N", and a first
 * line "mx_secure=N") and exits 0; on failure prints "dsn text" (and the
 * warning, if any, on stderr as "warning: ...") and exits 1; bad usage
 * exits 2.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "route.h"

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: route-probe [-s servers] [-p port] [-l limit] [-a any|ipv4|ipv6] "
	    "[-R] [-m myhostname] [-t timeout_ms] [-v] NEXTHOP\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct route_options opt;
	struct route_list list;
	struct route_error e;
	struct nexthop nh;
	struct dns_ctx *dns;
	const char *servers = NULL;
	char err[256];
	long timeout_ms = 10000;
	int verbose = 0, ch, rc;
	size_t i;

	memset(&opt, 0, sizeof(opt));
	opt.port = 25;
	opt.mx_address_limit = 5;
	opt.address_preference = ROUTE_PREF_ANY;
	opt.randomize = 1;
	while ((ch = getopt(argc, argv, "s:p:l:a:Rm:t:v")) != -1) {
		switch (ch) {
		case 's':
			servers = optarg;
			break;
		case 'p':
			opt.port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			opt.mx_address_limit = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			if (strcmp(optarg, "ipv4") == 0)
				opt.address_preference = ROUTE_PREF_IPV4;
			else if (strcmp(optarg, "ipv6") == 0)
				opt.address_preference = ROUTE_PREF_IPV6;
			else if (strcmp(optarg, "any") == 0)
				opt.address_preference = ROUTE_PREF_ANY;
			else
				usage();
			break;
		case 'R':
			opt.randomize = 0;
			break;
		case 'm':
			opt.myhostname = optarg;
			break;
		case 't':
			timeout_ms = strtol(optarg, NULL, 10);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	if (nexthop_parse(argv[optind], &nh, err, sizeof(err)) != 0) {
		printf("4.3.5 bad next-hop: %s\n", err);
		return 1;
	}
	if (dns_open(&dns, servers, err, sizeof(err)) != 0) {
		printf("4.3.5 %s\n", err);
		return 1;
	}
	opt.deadline_ms = mono_ms() + timeout_ms;
	rc = route_resolve(dns, &nh, &opt, &list, &e);
	if (rc != 0) {
		printf("%s %s\n", e.dsn, e.text);
		fflush(stdout);
		if (e.warning[0] != 0)
			fprintf(stderr, "warning: %s\n", e.warning);
	} else {
		if (verbose)
			printf("mx_secure=%d\n", list.mx_secure);
		for (i = 0; i < list.count; i++) {
			const struct route_addr *a = &list.addrs[i];
			unsigned port = a->sa.ss_family == AF_INET6
			    ? ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port)
			    : ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);

			if (verbose)
				printf("%s %s %d port=%u secure=%d\n", a->host, a->addr, a->pref,
				    port, a->dnssec_secure);
			else
				printf("%s %s %d\n", a->host, a->addr, a->pref);
		}
		route_list_free(&list);
	}
	dns_close(dns);
	return rc == 0 ? 0 : 1;
}
