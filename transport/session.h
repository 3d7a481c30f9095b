/*
 * session.h - internal interfaces of the SMTP session layer.
 *
 * These modules sit below smtp_attempt() (smtp.h) and are private to it;
 * tests link them directly.
 *   reply.c         pure SMTP reply parser and EHLO keyword scanner
 *   stream.c        buffered fd / GnuTLS I/O under deadlines
 *   smtp_connect.c  TCP connect with timeout, bind address, TCP_NODELAY
 *   tls_session.c   GnuTLS client handshake, priorities, SNI, summary line
 *   tls_policy.c    match strategy expansion (tls_policy_match_names)
 */
#ifndef TLSMTP_SESSION_H
#define TLSMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <gnutls/gnutls.h>
#include "smtp.h"
#include "tls_verify.h"

/* ------------------------------------------------------------------------
 * reply.c - one SMTP reply, fed line by line (line ends already removed).
 */
#define REPLY_LINE_MAX		2048	/* bytes in one reply line, CRLF excluded */
#define REPLY_LINES_MAX		1000	/* lines in one reply */
#define REPLY_TEXT_MAX		65536	/* bytes of text kept for one reply */

struct smtp_reply {
	int code;			/* 200..599 once complete */
	char dsn[16];			/* enhanced code of the first line, or "" */
	/* text of all lines without "NNN-"/"NNN ", joined by '\n'; NUL bytes
	 * from the wire are replaced by '?' so this is a C string */
	char text[REPLY_TEXT_MAX];
	size_t textlen;
	size_t lines;
	int complete;
};

enum reply_status {
	REPLY_MORE = 0,		/* continuation line seen; feed the next one */
	REPLY_DONE,		/* last line seen; reply complete */
	REPLY_MALFORMED,	/* bad code or separator: protocol error */
	REPLY_MISMATCH,		/* lines of one reply carry different codes */
	REPLY_TOO_BIG		/* line, line count or text over the caps */
};

void reply_init(struct smtp_reply *r);
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
	int size;			/* SIZE advertised */
	uint64_t size_limit;		/* 0: no limit known */
	int eightbitmime;
	int smtputf8;
};

/* Scan EHLO reply lines after the first; unknown or bad lines are ignored. */
void reply_ehlo_features(const struct smtp_reply *r, struct ehlo_features *f);
/* Whether the reply's first word, the server's own name, is name (any case). */
int reply_names_host(const struct smtp_reply *r, const char *name);

/* ------------------------------------------------------------------------
 * stream.c - a non-blocking connection, plain or TLS, with a read buffer.
 */
enum stream_io {
	STREAM_OK = 0,
	STREAM_TIMEOUT = -1,
	STREAM_EOF = -2,	/* peer closed the connection */
	STREAM_ERROR = -3,	/* reset, TLS record error, ... */
	STREAM_TOOLONG = -4	/* line longer than the cap */
};

struct stream;

/* Takes ownership of fd (set non-blocking here). */
struct stream *stream_new(int fd);
/* Close: TLS close_notify is attempted only when done_tls is set, briefly. */
void stream_free(struct stream *s);
int stream_fd(const struct stream *s);
/* Attach an established-or-handshaking GnuTLS session; I/O goes through it. */
void stream_set_tls(struct stream *s, gnutls_session_t session);
gnutls_session_t stream_tls(const struct stream *s);
/* Bytes received but not yet consumed (response injection check). */
size_t stream_pending(const struct stream *s);
/*
 * Also true when the kernel already holds bytes for us (a peek, plaintext
 * only): used right after the 220 to STARTTLS, when no TLS data may exist.
 */
int stream_unread_input(struct stream *s);
/*
 * Read one line ending in LF; CR before the LF is removed.  The line is
 * stored in buf (NUL-terminated; len excludes the terminator).  At most
 * REPLY_LINE_MAX bytes; longer lines give STREAM_TOOLONG.
 */
enum stream_io stream_read_line(struct stream *s, char *buf, size_t cap, size_t *len,
    int64_t deadline_ms);
/*
 * Write everything.  The time limit is "no progress for timeout_s", never
 * past overall_ms.  TLS data goes out in records of up to 16 KiB.
 */
enum stream_io stream_write(struct stream *s, const char *buf, size_t len, int timeout_s,
    int64_t overall_ms);
/* Wait until fd is readable/writable as GnuTLS asks, or the deadline. */
enum stream_io stream_wait_tls(struct stream *s, int64_t deadline_ms);
/* Best-effort TLS close_notify within a short time. */
void stream_tls_bye(struct stream *s, int64_t deadline_ms);
const char *stream_io_text(enum stream_io st);

/* ------------------------------------------------------------------------
 * smtp_connect.c
 */
/*
 * Connect to a; returns a connected fd (non-blocking, TCP_NODELAY) or -1
 * with *out set to 4.4.1 "connect to H[A]:P: reason".
 */
int smtp_connect(const struct tlsmtp_config *cfg, const struct route_addr *a,
    int64_t overall_ms, struct outcome *out);
/* Port of a as a number (host order). */
unsigned route_addr_port(const struct route_addr *a);

/* ------------------------------------------------------------------------
 * tls_session.c
 */
enum tls_start_result {
	TLS_START_OK = 0,
	TLS_START_CONFIG,	/* our configuration: 4.7.5 client TLS configuration problem */
	TLS_START_HANDSHAKE,	/* handshake failed or timed out */
	TLS_START_NOT_VERIFIED	/* handshake done, peer does not satisfy the level */
};

struct tls_info {
	enum tls_peer_status status;
	char protocol[32];	/* "TLSv1.3" */
	char cipher[128];
	unsigned usebits;
	unsigned algbits;
	char detail[512];	/* handshake error or verification reason */
};

/*
 * Handshake on s (plaintext so far) for this request and address, verify
 * the peer as the effective level asks, and log the summary line.
 */
enum tls_start_result tls_session_start(struct stream *s, const struct smtp_request *req,
    const struct route_addr *a, struct tls_info *info);

/* ------------------------------------------------------------------------
 * tls_policy.c
 */
/*
 * Expand the match strategies of eff for one address into lower-case
 * patterns without trailing dots: nexthop -> next-hop domain, dot-nexthop ->
 * ".domain", hostname -> the address's host name (for [host] next-hops the
 * same as nexthop); other patterns as written.  Returns the count stored.
 * The strings are malloc'ed; free with tls_match_names_free().
 */
size_t tls_policy_match_names(const struct tls_effective *eff, const struct nexthop *nh,
    const char *hostname, char **names, size_t max);
void tls_match_names_free(char **names, size_t count);
/* GnuTLS priority string for an effective policy; -1 with a reason. */
int tls_priority_string(const struct tls_effective *eff, char *out, size_t outlen,
    char *err, size_t errlen);

#endif
