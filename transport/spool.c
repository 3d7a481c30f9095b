/*
 * spool.c - the message from stdin, kept so that it can be sent again to
 * the next address, and its encoding for the SMTP DATA phase.
 *
 * Reading: stdin is read to EOF (pipe(8) counts an exit 0 after a broken
 * pipe as a delivery, so we never stop early).  The first SPOOL_MEM_MAX
 * bytes stay in memory; a larger message moves to an unlinked temporary
 * file (O_TMPFILE, or mkstemp+unlink) in $TMPDIR or /tmp, mode 0600, so a
 * large message costs bounded memory and leaves nothing behind.
 *
 * Encoding (what goes on the wire, RFC 5321 4.5.2 and 2.3.8):
 *   - CRLF and bare LF end a line; a bare CR also ends a line (so "\r\r\n"
 *     is two line breaks): no CR or LF ever reaches the wire except as a
 *     CRLF pair, which defeats SMTP smuggling ("\n.\r\n" and friends);
 *   - a NUL byte becomes a space (nothing after it is lost);
 *   - a line longer than line_length_limit octets is folded by inserting
 *     CRLF SPACE, as Postfix's smtp_line_length_limit does;
 *   - a line starting with '.' gets another '.';
 *   - a missing final line break is added, then exactly one ".\r\n".
 * The encoder is a byte state machine that fills the caller's buffer as far
 * as it can, so the session can send the body in large TLS records.
 *
 * Size (for SIZE= and the comparison with the server's limit): RFC 1870's
 * message size, the octets of the message as sent with CRLF line ends,
 * without the dots added for stuffing and without the final ".CRLF".  It
 * is counted by running the encoder once without sending (and cached), so
 * it is exactly what the server receives, folds included.
 *
 * Interface: core.h (section spool.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* core */
#include "core.h"

#define SPOOL_MEM_MAX	 (1024 * 1024) /* larger messages go to a file */
#define SPOOL_READ_CHUNK (64 * 1024)
#define ENCODER_IN_CHUNK (64 * 1024)
#define WIRE_LINE_MAX	 998 /* RFC 5321 4.5.3.1.6, without CRLF */
#define NUL_REPLACEMENT	 ' '

struct spool {
	char *mem; /* the message while it is small */
	size_t mem_len;
	int fd;	      /* unlinked temporary file, or -1 */
	size_t total; /* input octets */
	int has_8bit;
	int sized_limit; /* line limit of the cached size, 0: none yet */
	size_t size;	 /* RFC 1870 size at that limit */
};

struct spool_encoder {
	struct spool *spool;
	int limit;     /* fold longer lines */
	size_t in_off; /* next input octet to encode */
	char *in;      /* file input buffer */
	size_t in_len, in_pos;
	size_t col;	/* octets on the current output line */
	int pending_cr; /* a CR seen, not yet known to be CRLF */
	int finished;	/* input exhausted, final line closed */
	int done;	/* ".\r\n" queued */
	size_t stuffed; /* dots added for dot-stuffing so far */
	char q[16];	/* output that did not fit the caller's buffer */
	size_t q_len, q_off;
};

static int
fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (dir == NULL || dir[0] != '/' || strlen(dir) > sizeof(path) - 32)
		dir = "/tmp";
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	snprintf(path, sizeof(path), "%s/tlsmtp.XXXXXX", dir);
	if ((fd = mkstemp(path)) < 0)
		return -1;
	(void)unlink(path);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static void
account(struct spool *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len && !s->has_8bit; i++)
		if ((unsigned char)buf[i] >= 0x80)
			s->has_8bit = 1;
	s->total += len;
}

/* Move the in-memory part to a temporary file. */
static int
spill(struct spool *s, char *err, size_t errlen)
{
	if ((s->fd = temp_file()) < 0)
		return fail(err, errlen, "cannot create temporary file");
	if (write_all(s->fd, s->mem, s->mem_len) != 0)
		return fail(err, errlen, "cannot write temporary file");
	free(s->mem);
	s->mem = NULL;
	s->mem_len = 0;
	return 0;
}

static int
store(struct spool *s, const char *buf, size_t len, char *err, size_t errlen)
{
	if (s->fd < 0 && s->mem_len + len > SPOOL_MEM_MAX && spill(s, err, errlen) != 0)
		return -1;
	if (s->fd >= 0) {
		if (write_all(s->fd, buf, len) != 0)
			return fail(err, errlen, "cannot write temporary file");
		return 0;
	}
	memcpy(s->mem + s->mem_len, buf, len);
	s->mem_len += len;
	return 0;
}

/* read() that waits when the descriptor was left non-blocking. */
static ssize_t
read_some(int fd, char *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			(void)poll(&pfd, 1, -1);
			continue;
		}
		return -1;
	}
}

int
spool_read(int fd, struct spool **out, char *err, size_t errlen)
{
	struct spool *s;
	char *buf;
	ssize_t n;
	int stored = 0;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return fail(err, errlen, "cannot allocate message buffer");
	s->fd = -1;
	buf = malloc(SPOOL_READ_CHUNK);
	s->mem = malloc(SPOOL_MEM_MAX);
	if (buf == NULL || s->mem == NULL) {
		free(buf);
		spool_free(s);
		return fail(err, errlen, "cannot allocate message buffer");
	}
	while ((n = read_some(fd, buf, SPOOL_READ_CHUNK)) > 0) {
		if (stored != 0)
			continue; /* keep reading: the writer must see EOF */
		account(s, buf, (size_t)n);
		stored = store(s, buf, (size_t)n, err, errlen);
	}
	if (n < 0)
		fail(err, errlen, "cannot read message from standard input");
	free(buf);
	if (n != 0 || stored != 0) {
		spool_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void
spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	free(s->mem);
	if (s->fd >= 0)
		(void)close(s->fd);
	free(s);
}

int
spool_size(struct spool *s, int line_length_limit, size_t *size)
{
	struct spool_encoder *e;
	char *buf;
	size_t wire = 0;
	ssize_t n;

	if ((e = spool_encoder_new(s, line_length_limit)) == NULL)
		return -1;
	if (s->sized_limit == e->limit) {
		spool_encoder_free(e);
		*size = s->size;
		return 0;
	}
	if ((buf = malloc(ENCODER_IN_CHUNK)) == NULL) {
		spool_encoder_free(e);
		return -1;
	}
	while ((n = spool_encoder_next(e, buf, ENCODER_IN_CHUNK)) > 0)
		wire += (size_t)n;
	free(buf);
	if (n < 0 || wire < e->stuffed + 3) {
		spool_encoder_free(e);
		return -1;
	}
	s->size = wire - e->stuffed - 3;
	s->sized_limit = e->limit;
	spool_encoder_free(e);
	*size = s->size;
	return 0;
}

int
spool_has_8bit(const struct spool *s)
{
	return s->has_8bit;
}

/* ------------------------------------------------------------------------
 * Encoder.
 */
struct spool_encoder *
spool_encoder_new(struct spool *s, int line_length_limit)
{
	struct spool_encoder *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->spool = s;
	/* A limit below 2 could never make progress after "CRLF SPACE". */
	if (line_length_limit < 2 || line_length_limit > WIRE_LINE_MAX)
		line_length_limit = WIRE_LINE_MAX;
	e->limit = line_length_limit;
	if (s->fd >= 0 && (e->in = malloc(ENCODER_IN_CHUNK)) == NULL) {
		free(e);
		return NULL;
	}
	return e;
}

void
spool_encoder_free(struct spool_encoder *e)
{
	if (e == NULL)
		return;
	free(e->in);
	free(e);
}

/* Output octets go to dst while there is room, then to the small queue. */
struct sink {
	char *dst;
	size_t cap, len;
	struct spool_encoder *e;
};

static void
put(struct sink *k, char c)
{
	if (k->e->q_len == 0 && k->len < k->cap) {
		k->dst[k->len++] = c;
		return;
	}
	k->e->q[k->e->q_len++] = c;
}

static void
put_break(struct sink *k)
{
	put(k, '\r');
	put(k, '\n');
	k->e->col = 0;
}

static void
put_text(struct sink *k, char c)
{
	struct spool_encoder *e = k->e;

	if (e->col >= (size_t)e->limit) {
		put_break(k);
		put(k, ' ');
		e->col = 1;
	}
	if (e->col == 0 && c == '.') {
		put(k, '.');
		e->stuffed++;
		e->col++;
		if (e->col >= (size_t)e->limit) {
			put_break(k);
			put(k, ' ');
			e->col = 1;
		}
	}
	put(k, c);
	e->col++;
}

static void
encode_octet(struct sink *k, unsigned char c)
{
	struct spool_encoder *e = k->e;

	if (c == '\n') {
		e->pending_cr = 0;
		put_break(k);
		return;
	}
	if (e->pending_cr) {
		/* A CR not followed by LF: a line break of its own. */
		e->pending_cr = 0;
		put_break(k);
	}
	if (c == '\r') {
		e->pending_cr = 1;
		return;
	}
	put_text(k, c == '\0' ? NUL_REPLACEMENT : (char)c);
}

/* The next input octets: a pointer into memory or the file buffer. */
static ssize_t
input_window(struct spool_encoder *e, const char **data)
{
	struct spool *s = e->spool;

	if (s->fd < 0) {
		*data = s->mem + e->in_off;
		return (ssize_t)(s->mem_len - e->in_off);
	}
	if (e->in_pos == e->in_len) {
		ssize_t n;

		do
			n = pread(s->fd, e->in, ENCODER_IN_CHUNK, (off_t)e->in_off);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
		e->in_len = (size_t)n;
		e->in_pos = 0;
	}
	*data = e->in + e->in_pos;
	return (ssize_t)(e->in_len - e->in_pos);
}

static void
consume(struct spool_encoder *e, size_t n)
{
	e->in_off += n;
	if (e->spool->fd >= 0)
		e->in_pos += n;
}

static void
drain_queue(struct spool_encoder *e, struct sink *k)
{
	while (e->q_off < e->q_len && k->len < k->cap)
		k->dst[k->len++] = e->q[e->q_off++];
	if (e->q_off == e->q_len)
		e->q_len = e->q_off = 0;
}

ssize_t
spool_encoder_next(struct spool_encoder *e, char *buf, size_t cap)
{
	struct sink k = { buf, cap, 0, e };

	drain_queue(e, &k);
	while (e->q_len == 0 && k.len < k.cap && !e->done) {
		const char *data;
		ssize_t avail;
		size_t i;

		if (e->finished) {
			put(&k, '.');
			put(&k, '\r');
			put(&k, '\n');
			e->done = 1;
			break;
		}
		if ((avail = input_window(e, &data)) < 0)
			return -1;
		if (avail == 0) {
			if (e->pending_cr || e->col > 0) {
				e->pending_cr = 0;
				put_break(&k);
			}
			e->finished = 1;
			continue;
		}
		for (i = 0; i < (size_t)avail && e->q_len == 0 && k.len < k.cap; i++)
			encode_octet(&k, (unsigned char)data[i]);
		consume(e, i);
	}
	return (ssize_t)k.len;
}
