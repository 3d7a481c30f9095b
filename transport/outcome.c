/*
 * outcome.c - the result of a delivery in Postfix's terms: an enhanced
 * status code, a reason text and the exit status pipe(8) acts on.
 *
 * pipe(8) uses the code at the start of our output line when it is present
 * (it overrides the exit status), and the exit status otherwise, so the two
 * must agree:
 *   2.x.x  exit 0
 *   4.x.x  exit 75 (EX_TEMPFAIL)
 *   5.1.1  exit 67 (EX_NOUSER)
 *   5.1.2, 5.4.4  exit 68 (EX_NOHOST)
 *   5.1.3, 5.6.x  exit 65 (EX_DATAERR): the address or content was refused
 *   other 5.x.x   exit 69 (EX_UNAVAILABLE)
 * A malformed code is our own fault and becomes 4.3.0 / 75: we never
 * bounce mail because of a mistake of ours.
 *
 * Interface: core.h (section outcome.c).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* core */
#include "core.h"

#define OUTCOME_LINE_MAX    1000 /* well below pipe(8)'s 4096-byte read */
#define OUTCOME_SUCCESS_MAX 99	 /* pipe(8) logs the first 100 characters */

/* [245].[0-9]{1,3}.[0-9]{1,3}, the form pipe(8)'s dsn_valid() accepts. */
static int
dsn_is_valid(const char *dsn)
{
	const char *p = dsn;
	int digits;

	if (*p != '2' && *p != '4' && *p != '5')
		return 0;
	p++;
	for (int part = 0; part < 2; part++) {
		if (*p++ != '.')
			return 0;
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
	}
	return *p == '\0';
}

static int
dsn_has_prefix(const char *dsn, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(dsn, prefix, n) == 0 && (dsn[n] == '\0' || dsn[n] == '.');
}

static int
permanent_exit_code(const char *dsn)
{
	if (dsn_has_prefix(dsn, "5.1.1"))
		return TLSMTP_EX_NOUSER;
	if (dsn_has_prefix(dsn, "5.1.2") || dsn_has_prefix(dsn, "5.4.4"))
		return TLSMTP_EX_NOHOST;
	if (dsn_has_prefix(dsn, "5.1.3") || dsn_has_prefix(dsn, "5.6"))
		return TLSMTP_EX_DATAERR;
	return TLSMTP_EX_UNAVAILABLE;
}

/*
 * The end of a terminal escape sequence that starts at in[i] (ESC): a CSI
 * sequence "ESC [ parameters final" or an OSC string "ESC ] ... BEL|ESC \"
 * goes as a whole, so no "[31m" residue is left; any other ESC goes alone.
 */
static size_t
skip_escape(const char *in, size_t inlen, size_t i)
{
	if (i + 1 >= inlen)
		return i;
	if (in[i + 1] == '[') {
		for (i += 2; i < inlen; i++) {
			unsigned char c = (unsigned char)in[i];

			if (c >= 0x40 && c <= 0x7e)
				return i;
			if (c < 0x20 || c > 0x3f)
				return i - 1; /* malformed: keep what follows */
		}
		return inlen - 1;
	}
	if (in[i + 1] == ']') {
		for (i += 2; i < inlen; i++) {
			if (in[i] == '\a')
				return i;
			if (in[i] == 0x1b && i + 1 < inlen && in[i + 1] == '\\')
				return i + 1;
		}
		return inlen - 1;
	}
	return i;
}

/*
 * Keep printable ASCII only: control characters (including ESC and DEL)
 * and terminal escape sequences go, runs of white space become one space,
 * bytes above 0x7e become '?', so a log line or the output line can never
 * be split or coloured.
 */
static size_t
sanitise(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t n = 0;
	int space = 0;

	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < inlen && n + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == 0x1b) {
			i = skip_escape(in, inlen, i);
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			continue;
		if (space && n > 0) {
			out[n++] = ' ';
			if (n + 1 >= outlen)
				break;
		}
		space = 0;
		out[n++] = c > 0x7e ? '?' : (char)c;
	}
	out[n] = '\0';
	return n;
}

void
outcome_set(struct outcome *o, const char *dsn, const char *fmt, ...)
{
	char raw[sizeof(o->text) * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitise(raw, strlen(raw), o->text, sizeof(o->text));
	if (dsn == NULL || !dsn_is_valid(dsn) || strlen(dsn) >= sizeof(o->dsn)) {
		snprintf(o->dsn, sizeof(o->dsn), "4.3.0");
		o->exit_code = TLSMTP_EX_TEMPFAIL;
		return;
	}
	snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
	switch (dsn[0]) {
	case '2':
		o->exit_code = TLSMTP_EX_OK;
		break;
	case '4':
		o->exit_code = TLSMTP_EX_TEMPFAIL;
		break;
	default:
		o->exit_code = permanent_exit_code(dsn);
		break;
	}
}

char *
outcome_quote_text(const char *in, size_t inlen, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	if (in == NULL) {
		out[0] = '\0';
		return out;
	}
	sanitise(in, inlen, out, outlen);
	return out;
}

/*
 * pipe(8) makes its end of the pipe non-blocking, and the line is tiny, so
 * one write normally does it; wait briefly when the pipe is momentarily
 * full rather than losing the line.
 */
static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (poll(&pfd, 1, 1000) > 0)
				continue;
		}
		return;
	}
}

void
outcome_print(const struct outcome *o)
{
	char text[OUTCOME_LINE_MAX];
	char line[OUTCOME_LINE_MAX + 32];
	size_t len;
	int n;

	sanitise(o->text, strnlen(o->text, sizeof(o->text)), text, sizeof(text));
	if (o->exit_code == TLSMTP_EX_OK && o->dsn[0] == '2') {
		/* Success: the short summary alone, cut to what pipe(8) logs. */
		if (text[0] == '\0')
			snprintf(text, sizeof(text), "%s delivered", o->dsn);
		text[OUTCOME_SUCCESS_MAX] = '\0';
		n = snprintf(line, sizeof(line), "%s\n", text);
	} else if (text[0] != '\0') {
		n = snprintf(line, sizeof(line), "%s %s\n", o->dsn, text);
	} else {
		n = snprintf(line, sizeof(line), "%s\n", o->dsn);
	}
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	fflush(stdout);
	write_all(STDOUT_FILENO, line, len);
}
