/*
 * test_table_source.c - unit tests for table_source.c: every postmap
 * source syntax rule (comments, blank lines, continuation, CRLF, trimming,
 * quoted keys, folding, IDN keys) and every diagnostic path.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* policymap */
#include "policymap.h"

#define MAX_ITEMS 16

/* What the reader reported, in order. */
struct collected {
	char *key[MAX_ITEMS];
	char *value[MAX_ITEMS];
	unsigned line[MAX_ITEMS];
	size_t entries;
	char *diag[MAX_ITEMS];
	unsigned diag_line[MAX_ITEMS];
	size_t diags;
	size_t stop_after; /* entry callback returns 1 after this many; 0 = never */
};

static int
on_entry(const struct table_entry *e, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->entries < MAX_ITEMS);
	c->key[c->entries] = strdup(e->key);
	c->value[c->entries] = strdup(e->value);
	c->line[c->entries] = e->line;
	c->entries++;
	return c->stop_after != 0 && c->entries >= c->stop_after;
}

static void
on_diag(unsigned line, const char *message, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->diags < MAX_ITEMS);
	c->diag[c->diags] = strdup(message);
	c->diag_line[c->diags] = line;
	c->diags++;
}

static void
release(struct collected *c)
{
	for (size_t i = 0; i < c->entries; i++) {
		free(c->key[i]);
		free(c->value[i]);
	}
	for (size_t i = 0; i < c->diags; i++)
		free(c->diag[i]);
	memset(c, 0, sizeof(*c));
}

static void
read_text_len(const char *text, size_t len, unsigned flags, struct collected *c)
{
	FILE *fp = fmemopen((void *)text, len, "r");

	assert_non_null(fp);
	assert_int_equal(table_source_read(fp, flags, on_entry, on_diag, c), 0);
	fclose(fp);
}

static void
read_text(const char *text, unsigned flags, struct collected *c)
{
	memset(c, 0, sizeof(*c));
	read_text_len(text, strlen(text), flags, c);
}

static void
assert_entry(const struct collected *c, size_t i, const char *key, const char *value, unsigned line)
{
	assert_true(i < c->entries);
	assert_string_equal(c->key[i], key);
	assert_string_equal(c->value[i], value);
	assert_int_equal(c->line[i], line);
}

static void
test_basic_entries(void **state)
{
	struct collected c;

	(void)state;
	read_text("a.example may\nb.example\tencrypt\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 2);
	assert_int_equal(c.diags, 0);
	assert_entry(&c, 0, "a.example", "may", 1);
	assert_entry(&c, 1, "b.example", "encrypt", 2);
	release(&c);

	/* Last line without a newline still counts. */
	read_text("a.example may", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "a.example", "may", 1);
	release(&c);

	/* Empty input: nothing at all. */
	read_text("", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries + c.diags, 0);
	release(&c);
}

static void
test_comments_and_blank_lines(void **state)
{
	struct collected c;

	(void)state;
	read_text(
	    "# header\n\n   \n\t# indented comment\na.example may # not a comment\n\n#\nb.example none\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 2);
	assert_entry(&c, 0, "a.example", "may # not a comment", 5);
	assert_entry(&c, 1, "b.example", "none", 8);
	release(&c);
}

static void
test_continuation(void **state)
{
	struct collected c;

	(void)state;
	/* Newline dropped, continuation's leading white space kept. */
	read_text("a.example verify\n\tmatch=x\n  ciphers=high\nb.example may\n", TABLE_SOURCE_FOLD,
	    &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 2);
	assert_entry(&c, 0, "a.example", "verify\tmatch=x  ciphers=high", 1);
	assert_entry(&c, 1, "b.example", "may", 4);
	release(&c);

	/* Comment and blank lines between continuations do not end the line. */
	read_text("a.example verify\n# note\n\n match=x\n#c\n match=y\nb.example may\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 2);
	assert_entry(&c, 0, "a.example", "verify match=x match=y", 1);
	assert_entry(&c, 1, "b.example", "may", 7);
	release(&c);

	/* A key alone, continued: the value comes from the next line. */
	read_text("a.example\n  may\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_entry(&c, 0, "a.example", "may", 1);
	release(&c);
}

static void
test_crlf(void **state)
{
	struct collected c;

	(void)state;
	read_text("a.example may\r\nb.example  encrypt  \r\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 2);
	assert_entry(&c, 0, "a.example", "may", 1);
	assert_entry(&c, 1, "b.example", "encrypt", 2);
	release(&c);

	/* Inside a continued value the CR stays, as postmap stores it. */
	read_text("a.example verify\r\n\tmatch=x\r\n", TABLE_SOURCE_FOLD, &c);
	assert_entry(&c, 0, "a.example", "verify\r\tmatch=x", 1);
	release(&c);
}

static void
test_folding(void **state)
{
	struct collected c;

	(void)state;
	read_text(
	    "Mixed.EXAMPLE Verify Match=Mixed.Example\n[MX.Example]:587 may\nXN--ABC.example may\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 3);
	/* Only the key is folded; the value is kept as written. */
	assert_entry(&c, 0, "mixed.example", "Verify Match=Mixed.Example", 1);
	assert_entry(&c, 1, "[mx.example]:587", "may", 2);
	assert_entry(&c, 2, "xn--abc.example", "may", 3);
	release(&c);

	read_text("Mixed.EXAMPLE may\n", 0, &c);
	assert_entry(&c, 0, "Mixed.EXAMPLE", "may", 1);
	release(&c);
}

static void
test_idn_keys(void **state)
{
	struct collected c;

	(void)state;
	/* U-labels become A-labels, in every key form. */
	read_text("b\xc3\xbc"
		  "cher.example may\n"
		  ".B\xc3\x9c"
		  "CHER.example may\n"
		  "[mx.b\xc3\xbc"
		  "cher.example]:25 may\n"
		  "b\xc3\xbc"
		  "cher.example:2525 may\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 4);
	assert_entry(&c, 0, "xn--bcher-kva.example", "may", 1);
	assert_entry(&c, 1, ".xn--bcher-kva.example", "may", 2);
	assert_entry(&c, 2, "[mx.xn--bcher-kva.example]:25", "may", 3);
	assert_entry(&c, 3, "xn--bcher-kva.example:2525", "may", 4);
	release(&c);

	/* A UTF-8 value is fine; only keys are converted. */
	read_text("a.example may # caf\xc3\xa9\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_entry(&c, 0, "a.example", "may # caf\xc3\xa9", 1);
	release(&c);

	/* Valid UTF-8 that is no domain name (a label starting with '-'). */
	read_text("-\xc3\xbc.example may\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 0);
	assert_int_equal(c.diags, 1);
	assert_non_null(strstr(c.diag[0], "invalid internationalized domain name"));
	release(&c);
}

static void
test_fold_key(void **state)
{
	char out[NEXTHOP_KEY_MAX];
	char small[8];
	char err[256];

	(void)state;
	assert_int_equal(table_source_fold_key("A.Example", TABLE_SOURCE_FOLD, out, sizeof(out),
			     err, sizeof(err)),
	    0);
	assert_string_equal(out, "a.example");
	assert_int_equal(table_source_fold_key("A.Example", 0, out, sizeof(out), err, sizeof(err)),
	    0);
	assert_string_equal(out, "A.Example");
	assert_int_equal(table_source_fold_key("\"Q K\"", TABLE_SOURCE_FOLD, out, sizeof(out), err,
			     sizeof(err)),
	    0);
	assert_string_equal(out, "\"q k\"");
	assert_int_equal(table_source_fold_key("[B\xc3\xbc"
					       "cher.example]:587",
			     TABLE_SOURCE_FOLD, out, sizeof(out), err, sizeof(err)),
	    0);
	assert_string_equal(out, "[xn--bcher-kva.example]:587");
	assert_int_equal(table_source_fold_key("too-long.example", 0, small, sizeof(small), err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "too long"));
}

static void
test_quoted_keys(void **state)
{
	struct collected c;

	(void)state;
	read_text("\"Two Words\" secure\n"
		  "a\"b c\"d may\n"
		  "a\\ b none\n"
		  "\"\" may\n"
		  "\"e\\\"f\" may\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 5);
	/* The quotes and backslashes are part of the key, as in postmap. */
	assert_entry(&c, 0, "\"two words\"", "secure", 1);
	assert_entry(&c, 1, "a\"b c\"d", "may", 2);
	assert_entry(&c, 2, "a\\ b", "none", 3);
	assert_entry(&c, 3, "\"\"", "may", 4);
	assert_entry(&c, 4, "\"e\\\"f\"", "may", 5);
	release(&c);

	read_text("\"unclosed may\nf\"g may\n\"h\\\" may\nok.example may\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "ok.example", "may", 4);
	assert_int_equal(c.diags, 3);
	assert_string_equal(c.diag[0], "unbalanced '\"' in '\"unclosed may' -- ignoring this line");
	assert_int_equal(c.diag_line[0], 1);
	assert_int_equal(c.diag_line[1], 2);
	assert_int_equal(c.diag_line[2], 3);
	release(&c);
}

static void
test_missing_value(void **state)
{
	struct collected c;

	(void)state;
	read_text("a.example\nb.example   \nc.example may\n\"only quoted\"\n", TABLE_SOURCE_FOLD,
	    &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "c.example", "may", 3);
	assert_int_equal(c.diags, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(c.diag[i], "expected format: key whitespace value");
	assert_int_equal(c.diag_line[0], 1);
	assert_int_equal(c.diag_line[1], 2);
	assert_int_equal(c.diag_line[2], 4);
	release(&c);
}

static void
test_leading_whitespace(void **state)
{
	struct collected c;

	(void)state;
	/* The whole logical line (with its continuations) is skipped. */
	read_text("# top\n  a.example may\n  more\nb.example none\n", TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "b.example", "none", 4);
	assert_int_equal(c.diags, 1);
	assert_int_equal(c.diag_line[0], 2);
	assert_non_null(strstr(c.diag[0], "logical line must not start with whitespace"));
	release(&c);
}

static void
test_non_utf8(void **state)
{
	struct collected c;

	(void)state;
	read_text("a.example \xff\xfe\n"
		  "b.example may \xc0\xaf\n"	     /* overlong '/' */
		  "c.example may \xed\xa0\x80\n"     /* surrogate */
		  "d.example may \xf4\x90\x80\x80\n" /* beyond U+10FFFF */
		  "e.example may \xe2\x82\n"	     /* truncated */
		  "ok.example may\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "ok.example", "may", 6);
	assert_int_equal(c.diags, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_non_null(strstr(c.diag[i], "non-UTF-8 input"));
		assert_non_null(strstr(c.diag[i], "-- ignoring this line"));
		assert_int_equal(c.diag_line[i], i + 1);
	}
	release(&c);
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "a.exa\0mple may\nb.example may\n";
	struct collected c;

	(void)state;
	memset(&c, 0, sizeof(c));
	read_text_len(text, sizeof(text) - 1, TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "b.example", "may", 2);
	assert_int_equal(c.diags, 1);
	assert_non_null(strstr(c.diag[0], "NUL character"));
	release(&c);
}

static void
test_long_lines(void **state)
{
	size_t n = 200 * 1024;
	char *text = malloc(n + 64);
	struct collected c;

	(void)state;
	assert_non_null(text);
	memcpy(text, "a.example may ", 14);
	memset(text + 14, 'x', n);
	strcpy(text + 14 + n, "\nb.example may\n");
	read_text(text, TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	assert_entry(&c, 0, "b.example", "may", 2);
	assert_int_equal(c.diags, 1);
	assert_int_equal(c.diag_line[0], 1);
	assert_non_null(strstr(c.diag[0], "longer than"));
	release(&c);

	/* Just under the limit is accepted. */
	memset(text + 14, 'y', 60000);
	strcpy(text + 14 + 60000, "\n");
	read_text(text, TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 1);
	assert_int_equal(strlen(c.value[0]), 60004);
	release(&c);

	/* A long comment is no problem at all. */
	text[0] = '#';
	memset(text + 1, 'z', n);
	strcpy(text + 1 + n, "\nb.example may\n");
	read_text(text, TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.diags, 0);
	assert_int_equal(c.entries, 1);
	release(&c);
	free(text);
}

static void
test_callback_stops(void **state)
{
	struct collected c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	read_text_len("a.example may\nb.example may\n", 28, TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 1);
	release(&c);
}

static void
test_line_numbers(void **state)
{
	struct collected c;

	(void)state;
	read_text("\n\n# x\na.example verify\n match=a\n\n match=b\nb.example may\n\n",
	    TABLE_SOURCE_FOLD, &c);
	assert_int_equal(c.entries, 2);
	assert_int_equal(c.line[0], 4);
	assert_int_equal(c.line[1], 8);
	release(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_entries),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_idn_keys),
		cmocka_unit_test(test_fold_key),
		cmocka_unit_test(test_quoted_keys),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_leading_whitespace),
		cmocka_unit_test(test_non_utf8),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_line_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
