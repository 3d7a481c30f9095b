/*
 * stream.c - buffered, non-blocking connection, plaintext or GnuTLS.
 *
 * Reads go into one buffer and are handed out a line at a time; every
 * wait is a poll() bounded by an absolute deadline, so the deadline the
 * caller computes once per reply holds however slowly the peer drips its
 * bytes.  Writes are bounded by "no progress for N seconds" (Postfix's
 * smtp_data_xfer_timeout semantics) and by the overall deadline.
 *
 * stream_pending()/stream_unread_input() let the STARTTLS code refuse any
 * byte that arrived behind the 220 reply (response injection).
 *
 * Interface: stream.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* core */
#include "core.h"
/* net */
#include "reply.h"
#include "stream.h"

#define STREAM_BUF     16384 /* read buffer; a line is at most REPLY_LINE_MAX */
#define TLS_RECORD_MAX 16384 /* plaintext bytes per TLS record */

struct stream {
	int fd;
	gnutls_session_t tls;
	char buf[STREAM_BUF];
	size_t start; /* first unread byte */
	size_t end;   /* one past the last stored byte */
};

struct stream *
stream_new(int fd)
{
	struct stream *s;
	int flags;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	s->fd = fd;
	return s;
}

void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->tls != NULL)
		gnutls_deinit(s->tls);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

int
stream_fd(const struct stream *s)
{
	return s->fd;
}

void
stream_set_tls(struct stream *s, gnutls_session_t session)
{
	s->tls = session;
}

gnutls_session_t
stream_tls(const struct stream *s)
{
	return s->tls;
}

size_t
stream_pending(const struct stream *s)
{
	return s->end - s->start;
}

int
stream_unread_input(struct stream *s)
{
	char c;
	ssize_t n;

	if (stream_pending(s) > 0)
		return 1;
	if (s->tls != NULL)
		return gnutls_record_check_pending(s->tls) > 0;
	n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0;
}

/* Wait for events on the fd until deadline_ms; STREAM_OK when ready. */
static enum stream_io
wait_fd(int fd, short events, int64_t deadline_ms)
{
	int one = 1;

	/*
	 * Before waiting for a reply, ACK at once: a server whose small reply
	 * sits behind an unacknowledged segment (e.g. a TLS 1.3 session ticket
	 * before the EHLO reply) would otherwise wait for our delayed ACK, about
	 * 40 ms per exchange.  The kernel clears the flag by itself, so it is
	 * set again before every wait; on a non-TCP fd the call just fails.
	 */
	if (events & POLLIN)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	switch (deadline_poll(fd, events, deadline_ms)) {
	case 1:
		return STREAM_OK;
	case 0:
		return STREAM_TIMEOUT;
	default:
		return STREAM_ERROR;
	}
}

enum stream_io
stream_wait_tls(struct stream *s, int64_t deadline_ms)
{
	short events = gnutls_record_get_direction(s->tls) ? POLLOUT : POLLIN;

	return wait_fd(s->fd, events, deadline_ms);
}

/* Move unread bytes to the front and read more; never blocks past deadline. */
static enum stream_io
fill(struct stream *s, int64_t deadline_ms)
{
	ssize_t n;
	enum stream_io st;

	if (s->start > 0) {
		memmove(s->buf, s->buf + s->start, s->end - s->start);
		s->end -= s->start;
		s->start = 0;
	}
	if (s->end >= sizeof(s->buf))
		return STREAM_TOOLONG;
	for (;;) {
		if (s->tls != NULL) {
			n = gnutls_record_recv(s->tls, s->buf + s->end, sizeof(s->buf) - s->end);
			if (n > 0) {
				s->end += (size_t)n;
				return STREAM_OK;
			}
			if (n == 0)
				return STREAM_EOF;
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				if ((st = stream_wait_tls(s, deadline_ms)) != STREAM_OK)
					return st;
				continue;
			}
			if (n == GNUTLS_E_PREMATURE_TERMINATION)
				return STREAM_EOF;
			/* Warning alerts, renegotiation requests: keep reading. */
			if (!gnutls_error_is_fatal((int)n))
				continue;
			return STREAM_ERROR;
		}
		n = recv(s->fd, s->buf + s->end, sizeof(s->buf) - s->end, 0);
		if (n > 0) {
			s->end += (size_t)n;
			return STREAM_OK;
		}
		if (n == 0)
			return STREAM_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if ((st = wait_fd(s->fd, POLLIN, deadline_ms)) != STREAM_OK)
				return st;
			continue;
		}
		return errno == ECONNRESET ? STREAM_EOF : STREAM_ERROR;
	}
}

enum stream_io
stream_read_line(struct stream *s, char *buf, size_t cap, size_t *len, int64_t deadline_ms)
{
	char *nl, *line;
	size_t linelen, scanned = 0;
	enum stream_io st;

	for (;;) {
		nl = memchr(s->buf + s->start + scanned, '\n', s->end - s->start - scanned);
		if (nl != NULL)
			break;
		scanned = s->end - s->start;
		if (scanned > REPLY_LINE_MAX + 1)
			return STREAM_TOOLONG;
		if ((st = fill(s, deadline_ms)) != STREAM_OK)
			return st;
	}
	line = s->buf + s->start;
	linelen = (size_t)(nl - line);
	s->start += linelen + 1;
	if (linelen > 0 && line[linelen - 1] == '\r')
		linelen--;
	if (linelen > REPLY_LINE_MAX || linelen + 1 > cap)
		return STREAM_TOOLONG;
	memcpy(buf, line, linelen);
	buf[linelen] = '\0';
	*len = linelen;
	return STREAM_OK;
}

enum stream_io
stream_read_some(struct stream *s, char *buf, size_t cap, size_t *len, int64_t deadline_ms)
{
	enum stream_io st;
	size_t n;

	if (s->end == s->start && (st = fill(s, deadline_ms)) != STREAM_OK)
		return st;
	n = s->end - s->start < cap ? s->end - s->start : cap;
	memcpy(buf, s->buf + s->start, n);
	s->start += n;
	*len = n;
	return STREAM_OK;
}

int
stream_buffered(const struct stream *s)
{
	if (s->end > s->start)
		return 1;
	return s->tls != NULL && gnutls_record_check_pending(s->tls) > 0;
}

/* One attempt at sending; returns bytes sent (>0), 0 to wait, <0 on error. */
static ssize_t
send_some(struct stream *s, const char *buf, size_t len)
{
	ssize_t n;

	if (s->tls != NULL) {
		n = gnutls_record_send(s->tls, buf, len > TLS_RECORD_MAX ? TLS_RECORD_MAX : len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			return 0;
		return -1;
	}
	n = send(s->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return errno == EPIPE || errno == ECONNRESET ? -2 : -1;
}

enum stream_io
stream_write(struct stream *s, const char *buf, size_t len, int timeout_s, int64_t overall_ms)
{
	size_t done = 0;
	int64_t deadline = stage_deadline(timeout_s, overall_ms);
	ssize_t n;
	enum stream_io st;

	while (done < len) {
		n = send_some(s, buf + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			deadline = stage_deadline(timeout_s, overall_ms);
			continue;
		}
		if (n == -2)
			return STREAM_EOF;
		if (n < 0)
			return STREAM_ERROR;
		if (s->tls != NULL)
			st = stream_wait_tls(s, deadline);
		else
			st = wait_fd(s->fd, POLLOUT, deadline);
		if (st != STREAM_OK)
			return st;
	}
	return STREAM_OK;
}

void
stream_tls_bye(struct stream *s, int64_t deadline_ms)
{
	int rc;

	if (s->tls == NULL)
		return;
	for (;;) {
		rc = gnutls_bye(s->tls, GNUTLS_SHUT_WR);
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
			return;
		if (stream_wait_tls(s, deadline_ms) != STREAM_OK)
			return;
	}
}

const char *
stream_io_text(enum stream_io st)
{
	switch (st) {
	case STREAM_OK:
		return "success";
	case STREAM_TIMEOUT:
		return "timeout";
	case STREAM_EOF:
		return "lost connection";
	case STREAM_ERROR:
		return "I/O error";
	case STREAM_TOOLONG:
		return "line too long";
	}
	return "unknown";
}
