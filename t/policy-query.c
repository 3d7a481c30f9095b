/*
 * policy-query.c - print what policy_lookup() returns for one next-hop.
 *
 * usage: policy-query MAPS NEXTHOP
 *   MAPS     as in smtp_tls_policy_maps, e.g. "lmdb:/tmp/a, lmdb:/tmp/b"
 * Output, one line:
 *   found<TAB>KEY<TAB>LEVEL<TAB>VALUE
 *   not-found
 *   invalid<TAB>KEY<TAB>REASON
 *   error<TAB>REASON
 * Exit 0 when a line was printed, 1 on a bad next-hop or map list, 2 on
 * usage.  Used by t/interop-postmap.sh.
 */
#include "config.h"

#include <stdio.h>

/* policymap */
#include "policymap.h"

int
main(int argc, char **argv)
{
	struct policy_maps *maps;
	struct policy_result r;
	struct nexthop nh;
	char err[1024];

	if (argc != 3) {
		fprintf(stderr, "usage: policy-query MAPS NEXTHOP\n");
		return 2;
	}
	if (policy_maps_open(argv[1], &maps, err, sizeof(err)) != 0
	    || nexthop_parse(argv[2], &nh, err, sizeof(err)) != 0) {
		fprintf(stderr, "policy-query: %s\n", err);
		return 1;
	}
	switch (policy_lookup(maps, &nh, &r, err, sizeof(err))) {
	case POLICY_FOUND:
		printf("found\t%s\t%s\t%s\n", r.key, tls_level_name(r.policy.level), r.value);
		break;
	case POLICY_NOT_FOUND:
		printf("not-found\n");
		break;
	case POLICY_INVALID:
		printf("invalid\t%s\t%s\n", r.key, err);
		break;
	case POLICY_LOOKUP_ERROR:
		printf("error\t%s\n", err);
		break;
	}
	policy_result_free(&r);
	policy_maps_close(maps);
	return 0;
}
