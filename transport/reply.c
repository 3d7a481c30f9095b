/*
 * reply.c - SMTP reply parser (RFC 5321 section 4.2), no I/O.
 *
 * The caller reads lines (line ends removed) and feeds them one at a time
 * with reply_feed() until it returns something other than REPLY_MORE.  A
 * reply code is three digits, the first 2..5, the second 0..5; the code is
 * followed by the end of the line, a space (last line) or '-' (more lines
 * follow).  Every line of one reply must carry the same code.  Anything
 * else is a protocol error, which the session turns into a deferral.
 * Sizes are capped (REPLY_LINE_MAX, REPLY_LINES_MAX, REPLY_TEXT_MAX) so a
 * hostile server cannot make us grow without bound.
 *
 * reply_ehlo_features() scans the keywords of a complete EHLO reply;
 * reply_names_host() reads the server's name from a greeting or an EHLO
 * reply (the mail loop check).
 *
 * Interface: reply.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* net */
#include "reply.h"

void
reply_init(struct smtp_reply *r)
{
	r->code = 0;
	r->dsn[0] = '\0';
	r->text[0] = '\0';
	r->textlen = 0;
	r->lines = 0;
	r->complete = 0;
}

/* Three digits "[2-5][0-5][0-9]"; returns the code or -1. */
static int
parse_code(const char *line, size_t len)
{
	if (len < 3)
		return -1;
	if (line[0] < '2' || line[0] > '5')
		return -1;
	if (line[1] < '0' || line[1] > '5')
		return -1;
	if (line[2] < '0' || line[2] > '9')
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/*
 * An enhanced status code "C.S.D" at the start of text: C one digit
 * (2, 4 or 5), S and D one to three digits, then a space or the end.
 * Stores it in dsn and returns 1, or returns 0.
 */
static int
parse_enhanced(const char *text, size_t len, char *dsn, size_t dsnlen)
{
	size_t i = 0, digits;
	int part;

	if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		digits = 0;
		while (i < len && isdigit((unsigned char)text[i]) && digits < 4) {
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0) {
			if (i >= len || text[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && text[i] != ' ')
		return 0;
	if (i + 1 > dsnlen)
		return 0;
	memcpy(dsn, text, i);
	dsn[i] = '\0';
	return 1;
}

static int
append_text(struct smtp_reply *r, const char *text, size_t len)
{
	size_t need = len + (r->lines > 0 ? 1 : 0);

	if (r->textlen + need + 1 > sizeof(r->text))
		return -1;
	if (r->lines > 0)
		r->text[r->textlen++] = '\n';
	for (size_t i = 0; i < len; i++)
		r->text[r->textlen++] = text[i] == '\0' ? '?' : text[i];
	r->text[r->textlen] = '\0';
	return 0;
}

enum reply_status
reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
	int code, last;
	const char *text;
	size_t textlen;

	if (r->complete)
		return REPLY_MALFORMED;
	if (len > REPLY_LINE_MAX || r->lines >= REPLY_LINES_MAX)
		return REPLY_TOO_BIG;
	if ((code = parse_code(line, len)) < 0)
		return REPLY_MALFORMED;
	if (len == 3)
		last = 1;
	else if (line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return REPLY_MALFORMED;
	if (r->lines > 0 && code != r->code)
		return REPLY_MISMATCH;
	text = len > 4 ? line + 4 : "";
	textlen = len > 4 ? len - 4 : 0;
	if (r->lines == 0) {
		r->code = code;
		if (!parse_enhanced(text, textlen, r->dsn, sizeof(r->dsn)))
			r->dsn[0] = '\0';
	}
	if (append_text(r, text, textlen) < 0)
		return REPLY_TOO_BIG;
	r->lines++;
	if (!last)
		return REPLY_MORE;
	r->complete = 1;
	return REPLY_DONE;
}

const char *
reply_status_text(enum reply_status st)
{
	switch (st) {
	case REPLY_MORE:
		return "incomplete reply";
	case REPLY_DONE:
		return "complete reply";
	case REPLY_MALFORMED:
		return "malformed reply";
	case REPLY_MISMATCH:
		return "reply lines with different codes";
	case REPLY_TOO_BIG:
		return "reply too long";
	}
	return "unknown reply status";
}

char *
reply_quote(const struct smtp_reply *r, char *out, size_t outlen)
{
	size_t o;

	if (outlen == 0)
		return out;
	o = (size_t)snprintf(out, outlen, "%03d", r->code);
	if (o >= outlen)
		return out;
	if (r->textlen > 0 && o + 1 < outlen)
		out[o++] = ' ';
	for (size_t i = 0; i < r->textlen && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if (c == '\n' || c == '\t')
			out[o++] = ' ';
		else if (c < 0x20 || c >= 0x7f)
			out[o++] = '?';
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

void
reply_dsn(const struct smtp_reply *r, char *dsn, size_t dsnlen)
{
	int cls = r->code / 100;

	if (r->dsn[0] != '\0' && r->dsn[0] - '0' == cls && cls != 3)
		snprintf(dsn, dsnlen, "%s", r->dsn);
	else
		snprintf(dsn, dsnlen, "%d.0.0", cls == 3 ? 4 : cls);
}

/*
 * SIZE's argument: decimal digits only, no overflow past 2^63.  Returns 1
 * with *value set, or 0 for anything else (then the limit is ignored).
 */
static int
parse_size(const char *p, size_t len, uint64_t *value)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)p[i]))
			return 0;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*value = v;
	return 1;
}

static int
keyword_is(const char *kw, size_t kwlen, const char *name)
{
	return strlen(name) == kwlen && strncasecmp(kw, name, kwlen) == 0;
}

static void
scan_ehlo_line(const char *line, size_t len, struct ehlo_features *f)
{
	size_t kwlen = 0, argstart, arglen;
	uint64_t limit;

	while (kwlen < len && line[kwlen] != ' ')
		kwlen++;
	if (keyword_is(line, kwlen, "STARTTLS") && kwlen == len)
		f->starttls = 1;
	else if (keyword_is(line, kwlen, "PIPELINING") && kwlen == len)
		f->pipelining = 1;
	else if (keyword_is(line, kwlen, "8BITMIME") && kwlen == len)
		f->eightbitmime = 1;
	else if (keyword_is(line, kwlen, "SMTPUTF8") && kwlen == len)
		f->smtputf8 = 1;
	else if (keyword_is(line, kwlen, "SIZE")) {
		f->size = 1;
		f->size_limit = 0;
		argstart = kwlen;
		while (argstart < len && line[argstart] == ' ')
			argstart++;
		arglen = len - argstart;
		while (arglen > 0 && line[argstart + arglen - 1] == ' ')
			arglen--;
		if (parse_size(line + argstart, arglen, &limit))
			f->size_limit = limit;
	}
}

void
reply_ehlo_features(const struct smtp_reply *r, struct ehlo_features *f)
{
	const char *p = r->text, *end = r->text + r->textlen, *nl;
	size_t lineno = 0;

	memset(f, 0, sizeof(*f));
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		/* The first line names the server; keywords follow. */
		if (lineno > 0) {
			size_t len = (size_t)(nl - p);

			while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\r'))
				len--;
			scan_ehlo_line(p, len, f);
		}
		lineno++;
		p = nl + 1;
	}
}

/*
 * The first word of the first line after the code: the name a server gives
 * itself in its greeting ("220 mx.example.com ESMTP") and its EHLO reply
 * ("250-mx.example.com").  Words end at white space or '=', as Postfix
 * reads them.
 */
int
reply_names_host(const struct smtp_reply *r, const char *name)
{
	const char *p = r->text;
	size_t len, namelen = strlen(name);

	p += strspn(p, " \t");
	len = strcspn(p, " \t\n=");
	return namelen > 0 && len == namelen && strncasecmp(p, name, len) == 0;
}
