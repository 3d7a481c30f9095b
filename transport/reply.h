/*
 * reply.h - SMTP replies (RFC 5321 4.2): a parser fed one line at a time,
 * and the scanner of EHLO keywords.  No I/O and no TLS, so the parser, its
 * unit test and its fuzz target build without GnuTLS.
 *
 * Feed the lines of one reply (line ends removed) to reply_feed() until it
 * returns something other than REPLY_MORE.  The caps below bound what a
 * hostile server can make us store.
 */
#ifndef TLSMTP_REPLY_H
#define TLSMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* core */
#include "core.h"

#define REPLY_LINE_MAX	2048  /* bytes in one reply line, CRLF excluded */
#define REPLY_LINES_MAX 1000  /* lines in one reply */
#define REPLY_TEXT_MAX	65536 /* bytes of text kept for one reply */

struct smtp_reply {
	int code;		   /* 200..599 once complete */
	char dsn[OUTCOME_DSN_MAX]; /* enhanced code of the first line, or "" */
	/* text of all lines without "NNN-"/"NNN ", joined by '\n'; NUL bytes
	 * from the wire are replaced by '?' so this is a C string */
	char text[REPLY_TEXT_MAX];
	size_t textlen;
	size_t lines;
	int complete;
};

enum reply_status {
	REPLY_MORE = 0,	 /* continuation line seen; feed the next one */
	REPLY_DONE,	 /* last line seen; reply complete */
	REPLY_MALFORMED, /* bad code or separator: protocol error */
	REPLY_MISMATCH,	 /* lines of one reply carry different codes */
	REPLY_TOO_BIG	 /* line, line count or text over the caps */
};

void reply_init(struct smtp_reply *r);
/* One line of the reply, without its line end. */
enum reply_status reply_feed(struct smtp_reply *r, const char *line, size_t len);
/* Text for an error message: "malformed", "code mismatch", ... */
const char *reply_status_text(enum reply_status st);
/*
 * The reply as one line, "550 5.1.1 text more text": lines joined by a
 * space, control and non-ASCII bytes replaced by '?', cut to outlen.
 * Returns out.
 */
char *reply_quote(const struct smtp_reply *r, char *out, size_t outlen);
/*
 * The DSN to use for this reply: its own enhanced code when the class
 * agrees with the reply code, else "C.0.0" with C the reply's class.
 */
void reply_dsn(const struct smtp_reply *r, char *dsn, size_t dsnlen);

struct ehlo_features {
	int starttls;
	int pipelining;
	int size;	     /* SIZE advertised */
	uint64_t size_limit; /* 0: no limit known */
	int eightbitmime;
	int smtputf8;
};

/* Scan EHLO reply lines after the first; unknown or bad lines are ignored. */
void reply_ehlo_features(const struct smtp_reply *r, struct ehlo_features *f);
/* Whether the reply's first word, the server's own name, is name (any case). */
int reply_names_host(const struct smtp_reply *r, const char *name);

#endif
