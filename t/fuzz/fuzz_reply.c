/*
 * fuzz_reply.c - fuzz target for the SMTP reply parser.
 *
 * The input is split at LF (a CR before it removed, as stream.c does) and
 * fed line by line until the parser stops; a complete reply then goes
 * through the EHLO scanner, the DSN picker and the quoting.  Checks the
 * parser's own promises: bounded text, a C string, a valid code.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* net */
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_complete(const struct smtp_reply *r)
{
	struct ehlo_features f;
	char dsn[16], quoted[600];

	if (r->code < 200 || r->code > 559 || r->textlen >= sizeof(r->text)
	    || strlen(r->text) != r->textlen)
		abort();
	reply_ehlo_features(r, &f);
	reply_dsn(r, dsn, sizeof(dsn));
	if (dsn[0] != '2' && dsn[0] != '4' && dsn[0] != '5')
		abort();
	reply_quote(r, quoted, sizeof(quoted));
	for (const char *p = quoted; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_reply r;
	const char *p = (const char *)data, *end = p + size, *nl;
	enum reply_status st = REPLY_MORE;

	reply_init(&r);
	while (p < end && st == REPLY_MORE) {
		size_t len;

		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		st = reply_feed(&r, p, len);
		p = nl != NULL ? nl + 1 : end;
	}
	if (st == REPLY_DONE)
		check_complete(&r);
	return 0;
}
