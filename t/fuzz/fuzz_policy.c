/*
 * fuzz_policy.c - fuzz target for tls_policy_parse().
 *
 * Feeds arbitrary text to the policy parser and aborts if the result
 * breaks an invariant: success exactly when a level is set, attributes
 * only where their level allows them, well-formed fingerprint digests,
 * a usable protocol mask, and a canonical re-serialisation that parses
 * back to the same policy.  Memory errors are left to ASan/libFuzzer.
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

#define CHECK(cond)                                                                             \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "fuzz_policy: invariant failed: %s (line %d)\n", #cond, \
			    __LINE__);                                                          \
			abort();                                                                \
		}                                                                               \
	} while (0)

static int
is_lower_hex(const char *s)
{
	for (; *s != 0; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return 0;
	return 1;
}

static int
has_upper(const char *s)
{
	for (; *s != 0; s++)
		if (isupper((unsigned char)*s))
			return 1;
	return 0;
}

static int
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_success(const struct tls_policy *p)
{
	unsigned mask;
	char err[256];

	CHECK(p->level >= TLS_LEVEL_NONE && p->level <= TLS_LEVEL_SECURE);
	CHECK(p->level != TLS_LEVEL_HALF_DANE);
	CHECK(p->match_count <= TLS_POLICY_MAX_LIST);
	CHECK(p->tafile_count <= TLS_POLICY_MAX_LIST);
	CHECK(p->note_count <= sizeof(p->notes) / sizeof(p->notes[0]));
	CHECK((p->ciphers != NULL) == (p->cipher_grade != TLS_GRADE_INVALID));
	CHECK(p->connection_reuse >= -1 && p->connection_reuse <= 1);
	CHECK(p->enable_rpk >= -1 && p->enable_rpk <= 1);
	if (p->level == TLS_LEVEL_NONE) {
		CHECK(p->ciphers == NULL && p->protocols == NULL && p->exclude == NULL);
		CHECK(p->servername == NULL && p->match_count == 0 && p->tafile_count == 0);
		CHECK(p->connection_reuse == -1 && p->enable_rpk == -1);
	}
	if (p->ciphers != NULL)
		CHECK(tls_cipher_grade_from_name(p->ciphers) == p->cipher_grade);
	if (p->protocols != NULL) {
		CHECK(p->protocol_mask != 0 && (p->protocol_mask & ~TLS_PROTO_ALL) == 0);
		CHECK(tls_protocols_parse(p->protocols, &mask, err, sizeof(err)) == 0);
		CHECK(mask == p->protocol_mask);
	}
	if (p->tafile_count > 0)
		CHECK(TLS_LEVEL_MUST_PKIX(p->level));
	if (p->level == TLS_LEVEL_FINGERPRINT)
		CHECK(p->match_count > 0);
	for (size_t i = 0; i < p->match_count; i++) {
		size_t len = strlen(p->match[i]);

		CHECK(len > 0);
		if (p->level == TLS_LEVEL_FINGERPRINT) {
			CHECK(is_lower_hex(p->match[i]));
			CHECK(len % 2 == 0 && len >= 32 && len <= 128);
		} else {
			CHECK(TLS_LEVEL_MUST_PKIX(p->level));
			CHECK(!has_upper(p->match[i]) && strchr(p->match[i], ':') == NULL);
		}
	}
}

/* Write p back as a policy value in canonical form. */
static size_t
serialise(const struct tls_policy *p, char *out, size_t outlen)
{
	size_t len = 0;

#define PUT(...)                                                         \
	do {                                                             \
		int n_ = snprintf(out + len, outlen - len, __VA_ARGS__); \
		CHECK(n_ >= 0 && (size_t)n_ < outlen - len);             \
		len += (size_t)n_;                                       \
	} while (0)
	PUT("%s", tls_level_name(p->level));
	if (p->ciphers != NULL)
		PUT(" ciphers=%s", p->ciphers);
	if (p->protocols != NULL)
		PUT(" protocols=%s", p->protocols);
	if (p->exclude != NULL)
		PUT(" exclude=%s", p->exclude);
	if (p->servername != NULL)
		PUT(" servername=%s", p->servername);
	if (p->connection_reuse >= 0)
		PUT(" connection_reuse=%s", p->connection_reuse ? "yes" : "no");
	if (p->enable_rpk >= 0)
		PUT(" enable_rpk=%s", p->enable_rpk ? "yes" : "no");
	for (size_t i = 0; i < p->match_count; i++)
		PUT(" match=%s", p->match[i]);
	for (size_t i = 0; i < p->tafile_count; i++)
		PUT(" tafile=%s", p->tafile[i]);
#undef PUT
	return len;
}

static void
check_round_trip(const struct tls_policy *p)
{
	struct tls_policy again;
	char *text;
	char err[512];
	size_t cap = 64;

	cap += p->ciphers ? strlen(p->ciphers) : 0;
	cap += p->protocols ? strlen(p->protocols) : 0;
	cap += p->exclude ? strlen(p->exclude) : 0;
	cap += p->servername ? strlen(p->servername) : 0;
	for (size_t i = 0; i < p->match_count; i++)
		cap += strlen(p->match[i]) + 8;
	for (size_t i = 0; i < p->tafile_count; i++)
		cap += strlen(p->tafile[i]) + 8;
	cap += 128;
	if ((text = malloc(cap)) == NULL)
		return;
	serialise(p, text, cap);
	if (tls_policy_parse(text, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_policy: canonical form \"%s\" rejected: %s\n", text, err);
		abort();
	}
	CHECK(again.level == p->level);
	CHECK(same_string(again.ciphers, p->ciphers));
	CHECK(again.cipher_grade == p->cipher_grade);
	CHECK(same_string(again.protocols, p->protocols));
	CHECK(p->protocols == NULL || again.protocol_mask == p->protocol_mask);
	CHECK(same_string(again.exclude, p->exclude));
	CHECK(same_string(again.servername, p->servername));
	CHECK(again.connection_reuse == p->connection_reuse);
	CHECK(again.enable_rpk == p->enable_rpk);
	CHECK(again.match_count == p->match_count);
	for (size_t i = 0; i < p->match_count; i++)
		CHECK(strcmp(again.match[i], p->match[i]) == 0);
	CHECK(again.tafile_count == p->tafile_count);
	for (size_t i = 0; i < p->tafile_count; i++)
		CHECK(strcmp(again.tafile[i], p->tafile[i]) == 0);
	tls_policy_free(&again);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_policy p;
	char err[512], small[8];
	char *text;
	int rc;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	memset(err, 'x', sizeof(err));
	rc = tls_policy_parse(text, &p, err, sizeof(err));
	CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (rc == 0) {
		check_success(&p);
		check_round_trip(&p);
	} else {
		CHECK(rc == -1);
		CHECK(p.level == TLS_LEVEL_INVALID);
		CHECK(err[0] != 0);
	}
	tls_policy_free(&p);

	/* The same verdict with a tiny error buffer, which must stay terminated. */
	memset(small, 'x', sizeof(small));
	CHECK(tls_policy_parse(text, &p, small, sizeof(small)) == rc);
	CHECK(memchr(small, 0, sizeof(small)) != NULL);
	tls_policy_free(&p);
	free(text);
	return 0;
}
