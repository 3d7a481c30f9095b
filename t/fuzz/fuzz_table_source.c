/*
 * fuzz_table_source.c - fuzz target for table_source_read() and
 * table_source_fold_key().
 *
 * Aborts if the reader breaks an invariant: every entry has a non-empty
 * key without white space outside quotes and a non-empty value trimmed at
 * both ends; with folding, keys hold no upper-case ASCII; line numbers
 * never go backwards; every diagnostic is a non-empty single line.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policymap */
#include "policymap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_table_source: invariant failed: %s (line %d)\n", \
			    #cond, __LINE__);                                                  \
			abort();                                                               \
		}                                                                              \
	} while (0)

struct state {
	unsigned flags;
	unsigned last_line;
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int
on_entry(const struct table_entry *e, void *ctx)
{
	struct state *st = ctx;
	size_t vlen = strlen(e->value);

	CHECK(e->key[0] != 0);
	CHECK(vlen > 0 && !is_space(e->value[0]) && !is_space(e->value[vlen - 1]));
	CHECK(e->line >= 1 && e->line >= st->last_line);
	st->last_line = e->line;
	if (e->key[0] != '"' && strpbrk(e->key, "\"\\") == NULL)
		CHECK(strpbrk(e->key, " \t\r\n") == NULL);
	if (st->flags & TABLE_SOURCE_FOLD)
		for (const char *cp = e->key; *cp; cp++)
			CHECK(!(*cp >= 'A' && *cp <= 'Z'));
	return 0;
}

static void
on_diag(unsigned line, const char *message, void *ctx)
{
	struct state *st = ctx;

	CHECK(line >= 1 && line >= st->last_line);
	st->last_line = line;
	CHECK(message[0] != 0 && strchr(message, '\n') == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[NEXTHOP_KEY_MAX];
	char err[512];
	char *copy;
	FILE *fp;

	for (unsigned flags = 0; flags <= TABLE_SOURCE_FOLD; flags++) {
		struct state st = { flags, 0 };

		if (size == 0 || (fp = fmemopen((void *)data, size, "r")) == NULL)
			break;
		CHECK(table_source_read(fp, flags, on_entry, on_diag, &st) == 0);
		fclose(fp);
	}
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 0;
	if (table_source_fold_key(copy, TABLE_SOURCE_FOLD, out, sizeof(out), err, sizeof(err)) == 0)
		CHECK(strlen(out) < sizeof(out));
	else
		CHECK(err[0] != 0);
	free(copy);
	return 0;
}
