/*
 * sts_fetch.c - tlsmtp-sts-fetch, the MTA-STS policy cache tool beside the
 * agent: shows, and with --refresh fetches again, the policies of the
 * domains named, with the agent's configuration and exactly its code
 * (mta_sts.c), so that cron or a systemd timer can keep the cache fresh
 * before policies expire (RFC 8461 section 3.3) and "tlspolicy
 * sts-refresh" can call it.
 *
 *   tlsmtp-sts-fetch [-v] [-c FILE] [-o NAME=VALUE]... [--refresh] DOMAIN...
 *
 * One line per domain on stdout:
 *   DOMAIN: enforce id ID expires EPOCH (fetched|cached) mx PATTERN...
 *   DOMAIN: no policy
 * Exit 0 when every domain was settled (a policy, or none published), 75
 * when a fetch that was due failed, 64 for a usage or configuration error.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* dns */
#include "dns.h"
/* tls */
#include "mta_sts.h"

#define OVERRIDES_MAX 64

static int
usage(void)
{
	fprintf(stderr,
	    "usage: tlsmtp-sts-fetch [-v] [-c FILE] [-o NAME=VALUE]... [--refresh] DOMAIN...\n");
	return 64;
}

static void
show(const struct mta_sts_result *r)
{
	if (!r->active) {
		if (r->error[0] != '\0')
			printf("%s: no policy (%s)\n", r->domain, r->error);
		else
			printf("%s: no policy\n", r->domain);
		return;
	}
	printf("%s: %s id %s expires %lld (%s) mx", r->domain, sts_mode_name(r->policy.mode), r->id,
	    (long long)r->expires, r->from_cache ? "cached" : "fetched");
	for (size_t i = 0; i < r->policy.mx_count; i++)
		printf(" %s", r->policy.mx[i]);
	printf("\n");
}

int
main(int argc, char **argv)
{
	struct tlsmtp_config cfg;
	struct dns_ctx *dns = NULL;
	char *overrides[OVERRIDES_MAX], err[512];
	const char *conf = NULL;
	size_t noverrides = 0;
	int force = 0, verbose = 0, status = 0, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--refresh") == 0) {
			force = 1;
		} else if (strcmp(argv[i], "-v") == 0) {
			verbose = 1;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf = argv[++i];
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc
		    && noverrides < OVERRIDES_MAX) {
			overrides[noverrides++] = argv[++i];
		} else {
			return usage();
		}
	}
	if (i >= argc)
		return usage();
	if (config_load(&cfg, conf, overrides, noverrides, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsmtp-sts-fetch: %s\n", err);
		return 64;
	}
	log_open(cfg.maillog_file, NULL, verbose);
	if (dns_open(&dns, cfg.dns_servers, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsmtp-sts-fetch: %s\n", err);
		config_free(&cfg);
		return 75;
	}
	for (; i < argc; i++) {
		struct mta_sts_result *r = malloc(sizeof(*r));
		struct nexthop nh;
		int64_t deadline = now_ms() + (int64_t)cfg.tls_mta_sts_fetch_timeout * 2000;

		if (r == NULL) {
			status = 75;
			break;
		}
		if (nexthop_parse(argv[i], &nh, err, sizeof(err)) != 0
		    || nh.kind != NEXTHOP_DOMAIN) {
			fprintf(stderr, "tlsmtp-sts-fetch: %s: not a domain\n", argv[i]);
			status = status != 0 ? status : 64;
			free(r);
			continue;
		}
		if (mta_sts_discover(dns, &cfg, nh.host, force, deadline, r) != 0)
			status = 75;
		show(r);
		free(r);
	}
	dns_close(dns);
	config_free(&cfg);
	return status;
}
