/*
 * test_spool.c - the message spool and the DATA encoder (spool.c).
 *
 * Every encoded result is also checked against the wire invariant of the
 * security catalogue (section 5): CR and LF only as CRLF pairs, no line
 * longer than the limit, exactly one "." line, at the very end.
 */
#include "config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

struct buf {
	char *data;
	size_t len;
};

static struct spool *
spool_from(const char *data, size_t len)
{
	FILE *fp = tmpfile();
	struct spool *s = NULL;
	char err[256];

	assert_non_null(fp);
	if (len > 0)
		assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fflush(fp), 0);
	rewind(fp);
	assert_int_equal(spool_read(fileno(fp), &s, err, sizeof(err)), 0);
	fclose(fp);
	assert_non_null(s);
	return s;
}

/* Run the encoder to the end with output chunks of at most cap bytes. */
static struct buf
encode_spool(struct spool *s, int limit, size_t cap)
{
	struct spool_encoder *e = spool_encoder_new(s, limit);
	struct buf out = { NULL, 0 };
	char *chunk = malloc(cap);
	size_t alloc = 0;
	ssize_t n;

	assert_non_null(e);
	assert_non_null(chunk);
	while ((n = spool_encoder_next(e, chunk, cap)) > 0) {
		assert_true((size_t)n <= cap);
		if (out.len + (size_t)n + 1 > alloc) {
			alloc = (out.len + (size_t)n + 1) * 2;
			out.data = realloc(out.data, alloc);
			assert_non_null(out.data);
		}
		memcpy(out.data + out.len, chunk, (size_t)n);
		out.len += (size_t)n;
	}
	assert_int_equal(n, 0);
	/* After the end, the encoder stays at the end. */
	assert_int_equal(spool_encoder_next(e, chunk, cap), 0);
	spool_encoder_free(e);
	free(chunk);
	if (out.data == NULL)
		out.data = malloc(1);
	out.data[out.len] = '\0';
	return out;
}

static void
check_invariant(const struct buf *w, int limit)
{
	size_t line = 0, dot_lines = 0, last_dot = 0;

	assert_true(w->len >= 3);
	for (size_t i = 0; i < w->len; i++) {
		char c = w->data[i];

		if (c == '\r') {
			assert_true(i + 1 < w->len);
			assert_int_equal(w->data[i + 1], '\n');
			if (line == 1 && w->data[i - 1] == '.') {
				dot_lines++;
				last_dot = i - 1;
			}
			line = 0;
			i++;
			continue;
		}
		assert_int_not_equal(c, '\n');
		assert_int_not_equal(c, '\0');
		line++;
		assert_true(line <= (size_t)limit);
	}
	assert_int_equal(line, 0);
	assert_int_equal(dot_lines, 1);
	assert_int_equal(last_dot, w->len - 3);
	assert_true(
	    last_dot == 0 || (w->data[last_dot - 2] == '\r' && w->data[last_dot - 1] == '\n'));
}

/*
 * RFC 1870 size of an encoded message: every wire octet except the final
 * ".CRLF" and the dot that stuffing put in front of a line (by the
 * invariant, the only wire lines that start with '.').
 */
static size_t
size_of_wire(const struct buf *w)
{
	size_t stuffed = 0;

	for (size_t i = 0; i + 3 < w->len; i++)
		if (w->data[i] == '.' && (i == 0 || w->data[i - 1] == '\n'))
			stuffed++;
	return w->len - 3 - stuffed;
}

static void
check_size(struct spool *s, int limit, const struct buf *w)
{
	size_t size = 0;

	assert_int_equal(spool_size(s, limit, &size), 0);
	assert_int_equal(size, size_of_wire(w));
	/* Cached: the same again. */
	assert_int_equal(spool_size(s, limit, &size), 0);
	assert_int_equal(size, size_of_wire(w));
}

/* Encode with several chunk sizes; all must agree and hold the invariant. */
static struct buf
encode(const char *in, size_t inlen, int limit)
{
	static const size_t caps[] = { 1, 2, 3, 7, 64, 16384 };
	struct spool *s = spool_from(in, inlen);
	struct buf first = encode_spool(s, limit, caps[0]);

	for (size_t i = 1; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct buf again = encode_spool(s, limit, caps[i]);

		assert_int_equal(again.len, first.len);
		assert_memory_equal(again.data, first.data, first.len);
		free(again.data);
	}
	check_invariant(&first, limit < 2 || limit > 998 ? 998 : limit);
	check_size(s, limit, &first);
	spool_free(s);
	return first;
}

static void
expect(const char *in, size_t inlen, int limit, const char *want)
{
	struct buf w = encode(in, inlen, limit);

	if (w.len != strlen(want) || memcmp(w.data, want, w.len) != 0)
		fail_msg("encoded \"%s\", want \"%s\"", w.data, want);
	free(w.data);
}

#define EXPECT(in, want) expect(in, sizeof(in) - 1, 998, want)

static void
test_line_endings(void **state)
{
	(void)state;
	EXPECT("a\nb\n", "a\r\nb\r\n.\r\n");
	EXPECT("a\r\nb\r\n", "a\r\nb\r\n.\r\n");
	EXPECT("a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n.\r\n");
	/* A bare CR is a line break of its own; CRLF never becomes CR CR LF. */
	EXPECT("a\rb\n", "a\r\nb\r\n.\r\n");
	EXPECT("a\r\r\nb\n", "a\r\n\r\nb\r\n.\r\n");
	EXPECT("a\r", "a\r\n.\r\n");
	EXPECT("\n\n", "\r\n\r\n.\r\n");
}

static void
test_final_newline_and_empty(void **state)
{
	(void)state;
	EXPECT("", ".\r\n");
	EXPECT("abc", "abc\r\n.\r\n");
	EXPECT("Subject: x\n", "Subject: x\r\n.\r\n");
	EXPECT("\n", "\r\n.\r\n");
}

static void
test_dot_stuffing(void **state)
{
	(void)state;
	EXPECT(".\n..\n.x\n .\n", "..\r\n...\r\n..x\r\n .\r\n.\r\n");
	EXPECT("a\n.", "a\r\n..\r\n.\r\n");
	EXPECT(".", "..\r\n.\r\n");
	EXPECT("x.\n", "x.\r\n.\r\n");
	EXPECT("a\r.\r\n", "a\r\n..\r\n.\r\n");
}

static void
test_nul_bytes(void **state)
{
	(void)state;
	/* NUL becomes a space and never truncates what follows. */
	EXPECT("a\0b\n", "a b\r\n.\r\n");
	EXPECT("\0\0tail", "  tail\r\n.\r\n");
	EXPECT("\r\n\0.\r\n", "\r\n .\r\n.\r\n");
}

static void
test_folding(void **state)
{
	char line[1200];
	struct buf w;

	(void)state;
	expect("0123456789\n", 11, 10, "0123456789\r\n.\r\n");
	expect("0123456789A\n", 12, 10, "0123456789\r\n A\r\n.\r\n");
	expect("0123456789ABCDEFGHIJK\n", 22, 10, "0123456789\r\n ABCDEFGHI\r\n JK\r\n.\r\n");
	/* The stuffed dot counts: the wire line never exceeds the limit. */
	expect(".123456789\n", 11, 10, "..12345678\r\n 9\r\n.\r\n");
	/* A fold never starts a line with '.': the continuation has a space. */
	expect("0123456789.\n", 12, 10, "0123456789\r\n .\r\n.\r\n");

	/* At the default limit: 998 octets pass, 999 fold. */
	memset(line, 'x', sizeof(line));
	line[998] = '\n';
	w = encode(line, 999, 998);
	assert_int_equal(w.len, 998 + 2 + 3);
	free(w.data);
	line[998] = 'y';
	line[999] = '\n';
	w = encode(line, 1000, 998);
	assert_int_equal(w.len, 998 + 2 + 2 + 2 + 3);
	assert_memory_equal(w.data + 998, "\r\n y\r\n.\r\n", 9);
	free(w.data);
	/* Out-of-range limits fall back to the RFC maximum. */
	w = encode(line, 1000, 0);
	assert_int_equal(w.len, 998 + 2 + 2 + 2 + 3);
	free(w.data);
}

static size_t
size_at(const char *in, size_t inlen, int limit)
{
	struct spool *s = spool_from(in, inlen);
	size_t size = 0;

	assert_int_equal(spool_size(s, limit, &size), 0);
	spool_free(s);
	return size;
}

/*
 * SIZE= is RFC 1870's size: CRLF line ends counted as two octets, no
 * stuffing dots, no final ".CRLF"; never an estimate that counts every
 * dot, CR and LF again (a 16,012-octet message once became 24,019).
 */
static void
test_size_rfc1870(void **state)
{
	char *msg;
	size_t len = 0, lines = 0;

	(void)state;
	assert_int_equal(size_at("", 0, 998), 0);
	assert_int_equal(size_at("a\nb\n", 4, 998), 6);
	assert_int_equal(size_at("a\r\nb\r\n", 6, 998), 6);
	assert_int_equal(size_at("abc", 3, 998), 5);	 /* the added line end counts */
	assert_int_equal(size_at(".\n..\n", 5, 998), 7); /* stuffing does not */
	assert_int_equal(size_at("a\rb", 3, 998), 6);	 /* a bare CR is a line end */
	/* A fold is part of what the server receives: CRLF SPACE. */
	assert_int_equal(size_at("0123456789A\n", 12, 10), 16);
	assert_int_equal(size_at("0123456789A\n", 12, 998), 13);

	/* 16,012 octets in 1,000 LF lines, 500 of them starting with '.'. */
	msg = malloc(17000);
	assert_non_null(msg);
	while (len < 16012) {
		size_t n = lines % 2 == 0 ? 16 : 15; /* with the LF */

		if (len + n > 16012 || lines == 999)
			n = 16012 - len;
		memset(msg + len, 'x', n - 1);
		if (lines % 2 == 0)
			msg[len] = '.';
		msg[len + n - 1] = '\n';
		len += n;
		lines++;
	}
	assert_int_equal(lines, 1000);
	assert_int_equal(size_at(msg, len, 998), 16012 + 1000);
	free(msg);
}

/* Catalogue #67: each payload followed by a smuggled transaction. */
static void
test_smuggling_payloads(void **state)
{
	static const struct {
		const char *p;
		size_t len;
	} payloads[] = {
		{ "\n.\n", 3 },
		{ "\r.\r", 3 },
		{ "\r.\n", 3 },
		{ "\n.\r", 3 },
		{ "\n.\r\n", 4 },
		{ "\r\n.\n", 4 },
		{ "\r.\r\n", 4 },
		{ "\r\n.\r", 4 },
		{ "\r\n\0.\r\n", 6 },
		{ "\r\r\n.\r\r\n", 7 },
		{ "\r\n.\r\n", 5 },
	};
	static const char smuggled[] = "MAIL FROM:<spoof@x.test>\r\nRCPT TO:<victim@y.test>\r\n"
				       "DATA\r\nFrom: spoof\r\n\r\nevil\r\n.\r\nQUIT\r\n";
	char in[512];

	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		size_t n = 0;
		struct buf w;

		memcpy(in + n, "Subject: t\n\nbody", 16);
		n += 16;
		memcpy(in + n, payloads[i].p, payloads[i].len);
		n += payloads[i].len;
		memcpy(in + n, smuggled, sizeof(smuggled) - 1);
		n += sizeof(smuggled) - 1;
		/* check_invariant() requires exactly one "." line, at the end. */
		w = encode(in, n, 998);
		assert_non_null(strstr(w.data, "\r\nMAIL FROM:<spoof@x.test>\r\n"));
		assert_non_null(strstr(w.data, "\r\n..\r\nQUIT\r\n.\r\n"));
		free(w.data);
	}
}

static void
test_8bit_flag(void **state)
{
	struct spool *s;

	(void)state;
	s = spool_from("plain ascii\n", 12);
	assert_false(spool_has_8bit(s));
	spool_free(s);
	s = spool_from("caf\xc3\xa9\n", 6);
	assert_true(spool_has_8bit(s));
	spool_free(s);
}

static size_t
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * A message over the memory limit goes to an unlinked file in $TMPDIR:
 * nothing is left in the directory, and the encoding is still exact,
 * including lines of 5,000 and 1,000,000 octets.
 */
static void
test_large_input_via_file(void **state)
{
	char tmpl[] = "/tmp/tlsmtp-test-XXXXXX";
	char *dir = mkdtemp(tmpl);
	size_t lines = 200000, inlen = 0, wantlen = 0, cap;
	char *in, *want;
	struct buf w;
	struct spool *s;

	(void)state;
	assert_non_null(dir);
	setenv("TMPDIR", dir, 1);
	cap = lines * 16 + 1100000;
	in = malloc(cap);
	want = malloc(cap * 2);
	assert_non_null(in);
	assert_non_null(want);
	for (size_t i = 0; i < lines; i++) {
		inlen += (size_t)sprintf(in + inlen, "%sline %zu\n", i % 1000 == 0 ? "." : "", i);
		wantlen +=
		    (size_t)sprintf(want + wantlen, "%sline %zu\r\n", i % 1000 == 0 ? ".." : "", i);
	}
	/* 5,000 then 1,000,000 octets: folded into 998-octet lines. */
	for (size_t len = 5000; len <= 1000000; len = len == 5000 ? 1000000 : len + 1) {
		size_t col = 0;

		for (size_t k = 0; k < len; k++) {
			if (col == 998) {
				memcpy(want + wantlen, "\r\n ", 3);
				wantlen += 3;
				col = 1;
			}
			in[inlen++] = 'z';
			want[wantlen++] = 'z';
			col++;
		}
		in[inlen++] = '\n';
		memcpy(want + wantlen, "\r\n", 2);
		wantlen += 2;
	}
	memcpy(want + wantlen, ".\r\n", 3);
	wantlen += 3;

	s = spool_from(in, inlen);
	assert_int_equal(count_entries(dir), 0);
	w = encode_spool(s, 998, 65536);
	assert_int_equal(w.len, wantlen);
	assert_memory_equal(w.data, want, wantlen);
	check_invariant(&w, 998);
	check_size(s, 998, &w);
	free(w.data);
	/* Re-readable for the next address. */
	w = encode_spool(s, 998, 20000);
	assert_int_equal(w.len, wantlen);
	free(w.data);
	spool_free(s);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(rmdir(dir), 0);
	unsetenv("TMPDIR");
	free(in);
	free(want);
}

/* The encoder fills large buffers: the body goes out in big TLS records. */
static void
test_large_chunks(void **state)
{
	static char in[100000];
	struct spool *s;
	struct spool_encoder *e;
	char out[16384];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (i % 70 == 69) ? '\n' : 'a';
	s = spool_from(in, sizeof(in));
	e = spool_encoder_new(s, 998);
	assert_non_null(e);
	assert_int_equal(spool_encoder_next(e, out, sizeof(out)), (ssize_t)sizeof(out));
	spool_encoder_free(e);
	spool_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_final_newline_and_empty),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_size_rfc1870),
		cmocka_unit_test(test_smuggling_payloads),
		cmocka_unit_test(test_8bit_flag),
		cmocka_unit_test(test_large_input_via_file),
		cmocka_unit_test(test_large_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
