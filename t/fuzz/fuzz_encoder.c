/*
 * fuzz_encoder.c - the DATA encoder's wire invariant (catalogue section 5).
 *
 * The first input byte picks the line length limit and the second the
 * output chunk size; the rest is the message.  Whatever the message, the
 * encoded stream has CR and LF only as CRLF pairs, no line longer than the
 * limit (so never more than 1,000 octets with CRLF), no line that is a lone
 * "." except the final one, and exactly one final ".\r\n".  Every input
 * octet other than CR and LF reaches the wire (NUL as a space): only
 * stuffing dots and folding spaces are added.  spool_size() is the RFC
 * 1870 size of exactly that stream: every octet but the final ".\r\n" and
 * the stuffing dot at the start of a line.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Octet classes: 0 other text, 1 '.', 2 ' ' (and NUL, which becomes one),
 * 3 CR/LF.  Stuffing adds dots and folding adds spaces, nothing else.
 */
struct census {
	size_t other, dots, spaces;
};

static struct census
count_input(const uint8_t *data, size_t size)
{
	struct census c = { 0, 0, 0 };

	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r' || data[i] == '\n')
			continue;
		if (data[i] == '.')
			c.dots++;
		else if (data[i] == ' ' || data[i] == '\0')
			c.spaces++;
		else
			c.other++;
	}
	return c;
}

static size_t
rfc1870_size(const char *w, size_t len)
{
	size_t stuffed = 0;

	for (size_t i = 0; i + 3 < len; i++)
		if (w[i] == '.' && (i == 0 || w[i - 1] == '\n'))
			stuffed++;
	return len - 3 - stuffed;
}

static void
check_wire(const char *w, size_t len, size_t limit, struct census in)
{
	struct census out = { 0, 0, 0 };
	size_t line = 0, dot_lines = 0;

	if (len < 3 || memcmp(w + len - 3, ".\r\n", 3) != 0)
		abort();
	if (len > 3 && (w[len - 5] != '\r' || w[len - 4] != '\n'))
		abort();
	for (size_t i = 0; i < len; i++) {
		if (w[i] == '\r') {
			if (i + 1 >= len || w[i + 1] != '\n')
				abort();
			if (line == 1 && w[i - 1] == '.')
				dot_lines++;
			line = 0;
			i++;
			continue;
		}
		if (w[i] == '\n' || w[i] == '\0')
			abort();
		if (++line > limit)
			abort();
		if (w[i] == '.')
			out.dots++;
		else if (w[i] == ' ')
			out.spaces++;
		else
			out.other++;
	}
	if (line != 0 || dot_lines != 1)
		abort();
	/* Nothing lost, nothing invented but stuffing dots and fold spaces. */
	if (out.other != in.other || out.dots < in.dots + 1 || out.spaces < in.spaces)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 1, 3, 17, 4096, 65536 };
	FILE *fp;
	struct spool *s = NULL;
	struct spool_encoder *e;
	char err[256], *wire = NULL, *chunk;
	size_t limit, cap, len = 0, alloc = 0;
	ssize_t n;
	size_t msg_size;

	if (size < 2)
		return 0;
	limit = data[0] < 8 ? 998 : 2 + data[0] % 120;
	cap = caps[data[1] % (sizeof(caps) / sizeof(caps[0]))];
	data += 2;
	size -= 2;
	if ((fp = tmpfile()) == NULL)
		return 0;
	if (size > 0 && fwrite(data, 1, size, fp) != size)
		abort();
	fflush(fp);
	rewind(fp);
	if (spool_read(fileno(fp), &s, err, sizeof(err)) != 0)
		abort();
	fclose(fp);
	if ((e = spool_encoder_new(s, (int)limit)) == NULL || (chunk = malloc(cap)) == NULL)
		abort();
	while ((n = spool_encoder_next(e, chunk, cap)) > 0) {
		if ((size_t)n > cap)
			abort();
		if (len + (size_t)n > alloc) {
			alloc = (len + (size_t)n) * 2;
			if ((wire = realloc(wire, alloc)) == NULL)
				abort();
		}
		memcpy(wire + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	if (n != 0)
		abort();
	check_wire(wire, len, limit, count_input(data, size));
	if (spool_size(s, (int)limit, &msg_size) != 0 || msg_size != rfc1870_size(wire, len))
		abort();
	free(wire);
	free(chunk);
	spool_encoder_free(e);
	spool_free(s);
	return 0;
}
