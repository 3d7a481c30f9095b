/*
 * stream.h - one non-blocking connection, plaintext or GnuTLS, with a read
 * buffer, under absolute deadlines.
 *
 * Deadlines are absolute CLOCK_MONOTONIC milliseconds (core.h, now_ms).
 */
#ifndef TLSMTP_STREAM_H
#define TLSMTP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <gnutls/gnutls.h>

enum stream_io {
	STREAM_OK = 0,
	STREAM_TIMEOUT = -1,
	STREAM_EOF = -2,    /* peer closed the connection */
	STREAM_ERROR = -3,  /* reset, TLS record error, ... */
	STREAM_TOOLONG = -4 /* line longer than the cap */
};

struct stream;

/* Takes ownership of fd (set non-blocking here); NULL when out of memory. */
struct stream *stream_new(int fd);
/* Free the TLS session (no close_notify: see stream_tls_bye) and close fd. */
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
 * REPLY_LINE_MAX bytes (reply.h) and cap - 1; longer lines give
 * STREAM_TOOLONG.
 */
enum stream_io stream_read_line(struct stream *s, char *buf, size_t cap, size_t *len,
    int64_t deadline_ms);
/*
 * Whatever is buffered, else one read (waiting until the deadline): at
 * most cap bytes into buf, *len > 0 on STREAM_OK.  For relaying bytes
 * that are not lines (conn_cache.c).
 */
enum stream_io stream_read_some(struct stream *s, char *buf, size_t cap, size_t *len,
    int64_t deadline_ms);
/* Bytes readable without waiting: in our buffer or inside GnuTLS. */
int stream_buffered(const struct stream *s);
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

#endif
