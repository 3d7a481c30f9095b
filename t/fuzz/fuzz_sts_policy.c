/*
 * fuzz_sts_policy.c - fuzz target for sts_policy_parse() and
 * sts_txt_parse().
 *
 * Aborts if an accepted policy breaks an invariant: a known mode,
 * 0 <= max_age <= 31557600, at least one pattern unless mode is none, and
 * every pattern lower case, a match for a host built from it.  An accepted
 * TXT record gives an id of 1-32 letters and digits.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policymap */
#include "policymap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_sts_policy: invariant failed: %s (line %d)\n", \
			    #cond, __LINE__);                                                \
			abort();                                                             \
		}                                                                            \
	} while (0)

static void
check_pattern(const char *pat)
{
	char host[300];

	for (const char *c = pat; *c != '\0'; c++)
		CHECK(!isupper((unsigned char)*c));
	if (pat[0] == '*') {
		snprintf(host, sizeof(host), "x%s", pat + 1);
		CHECK(sts_mx_match(pat, host));
		snprintf(host, sizeof(host), "x.y%s", pat + 1);
		CHECK(!sts_mx_match(pat, host));
		CHECK(!sts_mx_match(pat, pat + 2));
	} else {
		CHECK(sts_mx_match(pat, pat));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sts_policy p;
	char err[256], id[STS_ID_MAX + 1];

	if (sts_policy_parse((const char *)data, size, &p, err, sizeof(err)) == 0) {
		CHECK(p.mode == STS_MODE_NONE || p.mode == STS_MODE_TESTING
		    || p.mode == STS_MODE_ENFORCE);
		CHECK(p.max_age >= 0 && p.max_age <= STS_MAX_AGE_MAX);
		CHECK(p.mode == STS_MODE_NONE || p.mx_count > 0);
		CHECK(p.mx_count <= STS_MX_MAX);
		for (size_t i = 0; i < p.mx_count; i++)
			check_pattern(p.mx[i]);
	}
	if (sts_txt_parse((const char *)data, size, id, err, sizeof(err)) == 0) {
		size_t n = strlen(id);
		CHECK(n >= 1 && n <= STS_ID_MAX);
		for (size_t i = 0; i < n; i++)
			CHECK(isalnum((unsigned char)id[i]));
	}
	return 0;
}
