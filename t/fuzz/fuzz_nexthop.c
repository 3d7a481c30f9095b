/*
 * fuzz_nexthop.c - fuzz target for nexthop_parse() and
 * nexthop_lookup_keys().
 *
 * Aborts if a parsed next-hop breaks an invariant: a non-empty folded
 * ASCII key that parses back to itself, a host that fits its kind, and
 * lookup keys that start with the key and continue with the dotted
 * parents of a bare domain only.  The same input as a destination list:
 * at most the room given, every element's key canonical, and a valid
 * single next-hop is a list of one with the same key.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policymap */
#include "policymap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "fuzz_nexthop: invariant failed: %s (line %d)\n", #cond, \
			    __LINE__);                                                           \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#define KEYS_MAX 130

static int
is_folded_ascii(const char *s)
{
	for (; *s != 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch <= ' ' || ch >= 0x7f || isupper(ch))
			return 0;
	}
	return 1;
}

static size_t
count_dots(const char *s)
{
	size_t n = 0;

	for (; *s != 0; s++)
		n += *s == '.';
	return n;
}

static void
check_host(const struct nexthop *nh)
{
	unsigned char bin[16];

	switch (nh->kind) {
	case NEXTHOP_IPV4:
		CHECK(inet_pton(AF_INET, nh->host, bin) == 1);
		break;
	case NEXTHOP_IPV6:
		CHECK(inet_pton(AF_INET6, nh->host, bin) == 1);
		break;
	case NEXTHOP_DOMAIN:
	case NEXTHOP_HOST:
		CHECK(strlen(nh->host) <= 253);
		CHECK(nh->host[0] != '.' && nh->host[strlen(nh->host) - 1] != '.');
		CHECK(strchr(nh->host, ':') == NULL && strchr(nh->host, '[') == NULL);
		break;
	default:
		CHECK(!"unknown kind");
	}
}

static void
check_keys(const struct nexthop *nh)
{
	static char keys[KEYS_MAX][NEXTHOP_KEY_MAX];
	size_t n = nexthop_lookup_keys(nh, keys, KEYS_MAX);

	CHECK(n >= 1);
	CHECK(strcmp(keys[0], nh->key) == 0);
	if (nh->kind != NEXTHOP_DOMAIN || nh->has_port) {
		CHECK(n == 1);
		return;
	}
	CHECK(n == 1 + count_dots(nh->host));
	for (size_t i = 1; i < n; i++) {
		size_t len = strlen(keys[i]), hostlen = strlen(nh->host);

		CHECK(keys[i][0] == '.');
		CHECK(len < hostlen && strcmp(nh->host + hostlen - len, keys[i]) == 0);
		CHECK(strlen(keys[i - 1]) > len);
	}
}

#define LIST_ROOM 4

/* The input as a list; returns the count (or -1) for the caller's check. */
static int
check_list(const char *text)
{
	static struct nexthop list[LIST_ROOM];
	struct nexthop again;
	char err[256];
	int n;

	memset(err, 'x', sizeof(err));
	n = nexthop_list_parse(text, list, LIST_ROOM, err, sizeof(err));
	CHECK(n >= -1 && n <= LIST_ROOM);
	if (n < 0) {
		CHECK(memchr(err, 0, sizeof(err)) != NULL && err[0] != 0);
		return n;
	}
	for (int i = 0; i < n; i++) {
		CHECK(list[i].key[0] != 0 && is_folded_ascii(list[i].key));
		CHECK(nexthop_parse(list[i].key, &again, err, sizeof(err)) == 0);
		CHECK(strcmp(again.key, list[i].key) == 0);
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nexthop first[1];
	struct nexthop nh, again;
	char err[256];
	char *text;
	int listed;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	listed = check_list(text);
	memset(err, 'x', sizeof(err));
	if (nexthop_parse(text, &nh, err, sizeof(err)) != 0) {
		CHECK(memchr(err, 0, sizeof(err)) != NULL && err[0] != 0);
		CHECK(nh.key[0] == 0 && nh.host[0] == 0);
		free(text);
		return 0;
	}
	CHECK(nh.key[0] != 0 && nh.host[0] != 0);
	CHECK(is_folded_ascii(nh.key) && is_folded_ascii(nh.host) && is_folded_ascii(nh.port));
	CHECK(nh.has_port == (nh.port[0] != 0));
	CHECK((nh.kind == NEXTHOP_DOMAIN) == (nh.key[0] != '['));
	CHECK(strstr(nh.key, nh.host) != NULL);
	check_host(&nh);
	check_keys(&nh);

	/* The key is canonical: parsing it again changes nothing. */
	if (nexthop_parse(nh.key, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_nexthop: key \"%s\" rejected: %s\n", nh.key, err);
		abort();
	}
	CHECK(strcmp(again.key, nh.key) == 0 && strcmp(again.host, nh.host) == 0);
	CHECK(strcmp(again.port, nh.port) == 0 && again.kind == nh.kind);
	/* A valid next-hop has no separator in it: a list of one, same key. */
	CHECK(listed == 1);
	CHECK(nexthop_list_parse(text, first, 1, err, sizeof(err)) == 1);
	CHECK(strcmp(first[0].key, nh.key) == 0);
	free(text);
	return 0;
}
