/*
 * conn_cache.c - connection reuse between deliveries, with no daemon.
 *
 * The holder.  A delivery that succeeded forks twice; the grandchild
 * starts a session of its own (setsid), points stdin, stdout and stderr at
 * /dev/null so that pipe(8) sees the agent's exit at once, and keeps the
 * SMTP connection.  It listens on DIR/HASH.N (N < CONN_CACHE_SLOTS, the
 * first free slot; bound under a temporary name, then link(2)ed so that
 * two holders never share a name; bound by the agent before it forks, so
 * that the next agent finds it at once) and ends by itself: after
 * smtp_connection_cache_time_limit without a client, when the connection
 * is smtp_connection_reuse_time_limit old, after
 * smtp_connection_reuse_count_limit deliveries, or when the server speaks
 * or closes while nobody uses it.  It then unlinks its name, sends QUIT
 * when no transaction is open, and exits.
 *
 * One client at a time.  On accept the holder checks the peer's uid and
 * writes one header: "TLSMTP-HOLD 1 KEYLEN TOKEN USES PORT TLS STATUS
 * PROTOCOL PIPELINING SIZE SIZELIMIT 8BITMIME SMTPUTF8 HOST ADDR\n" and
 * the KEYLEN bytes of its key.  Other clients meanwhile get "BUSY\n".
 * Then it relays bytes both ways until the client sends the line
 * "XTLSMTP-RELEASE TOKEN" (not forwarded: the connection is kept) or
 * closes without it (the state of the server's transaction is unknown:
 * the connection is dropped without a QUIT, so a half-sent body is never
 * completed).  The token is random per holder, so no message line can
 * be taken for it.
 *
 * The agent's side.  conn_cache_take() tries each slot, checks the
 * directory (ours, no group or other access) and the holder's uid, and
 * compares the whole key; smtp_proto.c then proves the connection with
 * RSET before any transaction.
 *
 * Interface: conn_cache.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "reply.h"
#include "stream.h"
/* tls */
#include "tls_policy.h"
#include "tls_session.h"
/* smtp */
#include "conn_cache.h"

#define CONN_CACHE_SLOTS 32	/* holders per key at once */
#define HEADER_MAX	 1024	/* the header line */
#define HEADER_WAIT_MS	 1000	/* a holder answers at once or not at all */
#define RELAY_BUF	 65536	/* bytes per relay step */
#define RELAY_IDLE_MS	 600000 /* a client silent this long is gone */
#define QUIT_WAIT_MS	 1000	/* the holder's QUIT at the end */
#define MARKER_PREFIX	 "XTLSMTP-RELEASE "
#define FIELD_SEP	 '\x1f'

/* ------------------------------------------------------------------------
 * The key.
 */

static int
key_add(struct conn_cache_key *key, const char *name, const char *value)
{
	int n;

	if (value == NULL)
		value = "";
	if (strchr(value, '\n') != NULL || strchr(value, FIELD_SEP) != NULL)
		return -1;
	n = snprintf(key->text + key->len, sizeof(key->text) - key->len, "%s=%s%c", name, value,
	    FIELD_SEP);
	if (n < 0 || (size_t)n >= sizeof(key->text) - key->len)
		return -1;
	key->len += (size_t)n;
	return 0;
}

/* A file counts by its path and by what stat(2) says of it. */
static int
key_add_file(struct conn_cache_key *key, const char *name, const char *path)
{
	struct stat st;
	char buf[128];

	if (key_add(key, name, path) != 0)
		return -1;
	if (path == NULL || *path == '\0')
		return 0;
	if (stat(path, &st) != 0)
		snprintf(buf, sizeof(buf), "missing");
	else
		snprintf(buf, sizeof(buf), "%ju.%ju.%jd.%jd.%ld", (uintmax_t)st.st_dev,
		    (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec,
		    (long)st.st_mtim.tv_nsec);
	return key_add(key, "stat", buf);
}

static int
key_add_uint(struct conn_cache_key *key, const char *name, uintmax_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ju", v);
	return key_add(key, name, buf);
}

/* FNV-1a: only spreads keys over socket names; the text decides. */
static uint64_t
key_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int
level_reusable(enum tls_level level)
{
	/* DANE levels depend on this attempt's DNS answers: never reused. */
	switch (level) {
	case TLS_LEVEL_NONE:
	case TLS_LEVEL_MAY:
	case TLS_LEVEL_ENCRYPT:
	case TLS_LEVEL_FINGERPRINT:
	case TLS_LEVEL_VERIFY:
	case TLS_LEVEL_SECURE:
		return 1;
	default:
		return 0;
	}
}

int
conn_cache_key_make(const struct tlsmtp_config *cfg, const struct nexthop *nh,
    const struct tls_effective *eff, struct conn_cache_key *key)
{
	int rc = 0;

	memset(key, 0, sizeof(*key));
	if (cfg->connection_cache_directory == NULL || !cfg->connection_cache_on_demand
	    || !level_reusable(eff->level))
		return -1;
	rc |= key_add(key, "format", "1");
	rc |= key_add(key, "nexthop", nh->key);
	rc |= key_add(key, "port", nh->has_port ? nh->port : cfg->tcp_port);
	rc |= key_add(key, "helo", cfg->helo_name);
	rc |= key_add_uint(key, "level", (uintmax_t)eff->level);
	rc |= key_add_uint(key, "protocols", eff->protocol_mask);
	rc |= key_add_uint(key, "grade", (uintmax_t)eff->grade);
	rc |= key_add(key, "exclude", eff->exclude);
	for (size_t i = 0; i < eff->match_count; i++)
		rc |= key_add(key, "match", eff->match[i]);
	for (size_t i = 0; i < eff->tafile_count; i++)
		rc |= key_add_file(key, "tafile", eff->tafile[i]);
	rc |= key_add(key, "servername", eff->servername != NULL ? eff->servername : "-");
	rc |= key_add_file(key, "CAfile", cfg->tls_CAfile);
	rc |= key_add_file(key, "CApath", cfg->tls_CApath);
	rc |= key_add_uint(key, "append_default_CA", (uintmax_t)cfg->tls_append_default_CA);
	rc |= key_add_file(key, "cert", cfg->tls_cert_file);
	rc |= key_add_file(key, "key", cfg->tls_key_file);
	rc |= key_add(key, "digest", cfg->tls_fingerprint_digest);
	rc |= key_add(key, "verify_match", cfg->tls_verify_cert_match);
	rc |= key_add(key, "secure_match", cfg->tls_secure_cert_match);
	rc |= key_add(key, "fingerprint_match", cfg->tls_fingerprint_cert_match);
	if (rc != 0) {
		memset(key, 0, sizeof(*key));
		return -1;
	}
	key->hash = key_hash(key->text, key->len);
	return 0;
}

/* ------------------------------------------------------------------------
 * The directory and the socket names.
 */

/* The directory must be ours, a real directory, and closed to others. */
static int
dir_usable(const char *dir, int create)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		if (errno != ENOENT || !create)
			return 0;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			log_warn("smtp_connection_cache_directory %s: cannot create: %s", dir,
			    strerror(errno));
			return 0;
		}
		if (lstat(dir, &st) != 0)
			return 0;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		log_warn("smtp_connection_cache_directory %s: not a directory of uid %ld with mode "
			 "0700: not used",
		    dir, (long)geteuid());
		return 0;
	}
	return 1;
}

static int
slot_path(const char *dir, uint64_t hash, unsigned slot, struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%016" PRIx64 ".%u", dir, hash, slot);
	return n > 0 && (size_t)n < sizeof(sun->sun_path) ? 0 : -1;
}

static int
peer_is_us(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return 0;
	return cred.uid == geteuid();
}

/* ------------------------------------------------------------------------
 * The agent's side.
 */

/* Read the header and the key (nothing else can be in flight yet). */
static int
read_header(int fd, char *buf, size_t cap, size_t *len)
{
	int64_t deadline = now_ms() + HEADER_WAIT_MS;
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	*len = 0;
	for (;;) {
		char *nl = memchr(buf, '\n', *len);

		if (nl != NULL) {
			if (strncmp(buf, "TLSMTP-HOLD 1 ", 14) != 0)
				return -1;
			{
				unsigned long keylen = strtoul(buf + 14, NULL, 10);
				size_t need = (size_t)(nl - buf) + 1 + keylen;

				if (keylen > CONN_CACHE_KEY_MAX || need > cap)
					return -1;
				if (*len >= need)
					return *len == need ? 0 : -1;
			}
		}
		if (*len >= cap)
			return -1;
		if (now_ms() >= deadline)
			return -1;
		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		n = read(fd, buf + *len, cap - *len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		*len += (size_t)n;
	}
}

static int
lease_parse(const struct conn_cache_key *key, char *hdr, size_t len, struct conn_cache_lease *l)
{
	char *nl = memchr(hdr, '\n', len), host[256], addr[64], proto[32], token[64];
	unsigned long keylen, uses, port, tls, status, pipelining, size, eight, utf8;
	unsigned long long size_limit;
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr.sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr.sa;

	*nl = '\0';
	if (sscanf(hdr,
		"TLSMTP-HOLD 1 %lu %63s %lu %lu %lu %lu %31s %lu %lu %llu %lu %lu %255s %63s",
		&keylen, token, &uses, &port, &tls, &status, proto, &pipelining, &size, &size_limit,
		&eight, &utf8, host, addr)
	    != 14)
		return -1;
	/* The whole key, byte for byte: never another destination or policy. */
	if (keylen != key->len || memcmp(nl + 1, key->text, key->len) != 0)
		return -1;
	if (strlen(token) != CONN_CACHE_TOKEN_LEN || port == 0 || port > 65535
	    || status > TLS_PEER_VERIFIED)
		return -1;
	memcpy(l->token, token, CONN_CACHE_TOKEN_LEN + 1);
	l->uses = (unsigned)uses;
	l->tls_active = tls != 0;
	l->tls.status = (enum tls_peer_status)status;
	snprintf(l->tls.protocol, sizeof(l->tls.protocol), "%s", proto);
	l->feat.pipelining = pipelining != 0;
	l->feat.size = size != 0;
	l->feat.size_limit = size_limit;
	l->feat.eightbitmime = eight != 0;
	l->feat.smtputf8 = utf8 != 0;
	snprintf(l->addr.host, sizeof(l->addr.host), "%s", host);
	snprintf(l->addr.addr, sizeof(l->addr.addr), "%s", addr);
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		l->addr.salen = sizeof(*sin6);
	} else if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l->addr.salen = sizeof(*sin);
	} else {
		return -1;
	}
	return 0;
}

int
conn_cache_take(const struct tlsmtp_config *cfg, const struct conn_cache_key *key,
    struct conn_cache_lease *lease)
{
	const char *dir = cfg->connection_cache_directory;
	struct sockaddr_un sun;
	char *hdr;
	size_t len;
	int fd, found = 0;

	memset(lease, 0, sizeof(*lease));
	if (key->len == 0 || !dir_usable(dir, 0))
		return 0;
	if ((hdr = malloc(HEADER_MAX + CONN_CACHE_KEY_MAX)) == NULL)
		return 0;
	for (unsigned slot = 0; slot < CONN_CACHE_SLOTS && !found; slot++) {
		if (slot_path(dir, key->hash, slot, &sun) != 0)
			break;
		/* Non-blocking: a holder whose backlog is full is skipped, not waited for. */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || !peer_is_us(fd)
		    || read_header(fd, hdr, HEADER_MAX + CONN_CACHE_KEY_MAX, &len) != 0
		    || lease_parse(key, hdr, len, lease) != 0) {
			close(fd);
			memset(lease, 0, sizeof(*lease));
			continue;
		}
		if ((lease->stream = stream_new(fd)) == NULL) {
			close(fd);
			break;
		}
		found = 1;
	}
	free(hdr);
	return found;
}

void
conn_cache_release(struct conn_cache_lease *lease, int64_t deadline_ms)
{
	char line[sizeof(MARKER_PREFIX) + CONN_CACHE_TOKEN_LEN + 3];
	int n = snprintf(line, sizeof(line), "%s%s\r\n", MARKER_PREFIX, lease->token);

	(void)stream_write(lease->stream, line, (size_t)n, 2, deadline_ms);
	conn_cache_lease_free(lease);
}

void
conn_cache_lease_free(struct conn_cache_lease *lease)
{
	stream_free(lease->stream);
	lease->stream = NULL;
}

/* ------------------------------------------------------------------------
 * The holder.
 */

struct holder {
	const struct tlsmtp_config *cfg;
	const struct conn_cache_key *key;
	struct stream *server;
	int listen_fd;
	struct sockaddr_un sun; /* our name */
	ino_t ino;		/* ... and its inode, to unlink only our own */
	char header[HEADER_MAX];
	size_t header_len; /* up to the USES field's position */
	char token[CONN_CACHE_TOKEN_LEN + 1];
	char marker[sizeof(MARKER_PREFIX) + CONN_CACHE_TOKEN_LEN + 3];
	size_t marker_len;
	unsigned uses;
	int64_t born_ms;
	const struct route_addr *addr;
	int tls_active;
	const struct tls_info *tls;
	const struct ehlo_features *feat;
	char label[ROUTE_LABEL_MAX];
};

static int
make_token(char *out)
{
	unsigned char raw[CONN_CACHE_TOKEN_LEN / 2];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* Bind under a temporary name, then link to the first free slot. */
static int
holder_listen(struct holder *h)
{
	const char *dir = h->cfg->connection_cache_directory;
	struct sockaddr_un tmp;
	struct stat st;
	int fd, n;

	memset(&tmp, 0, sizeof(tmp));
	tmp.sun_family = AF_UNIX;
	n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s/tmp.%ld", dir, (long)getpid());
	if (n <= 0 || (size_t)n >= sizeof(tmp.sun_path))
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	(void)unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) != 0 || listen(fd, 16) != 0) {
		close(fd);
		(void)unlink(tmp.sun_path);
		return -1;
	}
	for (unsigned slot = 0; slot < CONN_CACHE_SLOTS; slot++) {
		if (slot_path(dir, h->key->hash, slot, &h->sun) != 0)
			break;
		if (link(tmp.sun_path, h->sun.sun_path) == 0) {
			(void)unlink(tmp.sun_path);
			if (stat(h->sun.sun_path, &st) != 0)
				break;
			h->ino = st.st_ino;
			h->listen_fd = fd;
			return 0;
		}
		if (errno != EEXIST)
			break;
		/* A name nobody listens on is left over from a holder that was killed. */
		{
			int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

			if (probe >= 0
			    && connect(probe, (struct sockaddr *)&h->sun, sizeof(h->sun)) != 0
			    && errno == ECONNREFUSED && unlink(h->sun.sun_path) == 0
			    && link(tmp.sun_path, h->sun.sun_path) == 0) {
				close(probe);
				(void)unlink(tmp.sun_path);
				if (stat(h->sun.sun_path, &st) != 0)
					break;
				h->ino = st.st_ino;
				h->listen_fd = fd;
				return 0;
			}
			if (probe >= 0)
				close(probe);
		}
	}
	close(fd);
	(void)unlink(tmp.sun_path);
	return -1;
}

static void
holder_unlisten(struct holder *h)
{
	struct stat st;

	if (h->listen_fd < 0)
		return;
	if (stat(h->sun.sun_path, &st) == 0 && st.st_ino == h->ino)
		(void)unlink(h->sun.sun_path);
	close(h->listen_fd);
	h->listen_fd = -1;
}

static int
write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	struct pollfd p = { fd, POLLOUT, 0 };

	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (now_ms() >= deadline || poll(&p, 1, (int)(deadline - now_ms())) < 0)
			return -1;
	}
	return 0;
}

static int
send_header(struct holder *h, int fd)
{
	char line[HEADER_MAX];
	int n;

	n = snprintf(line, sizeof(line),
	    "TLSMTP-HOLD 1 %zu %s %u %u %d %d %s %d %d %" PRIu64 " %d %d %s %s\n", h->key->len,
	    h->token, h->uses, route_addr_port(h->addr), h->tls_active, (int)h->tls->status,
	    h->tls_active && h->tls->protocol[0] != '\0' ? h->tls->protocol : "-",
	    h->feat->pipelining, h->feat->size, h->feat->size_limit, h->feat->eightbitmime,
	    h->feat->smtputf8, h->addr->host[0] != '\0' ? h->addr->host : "-", h->addr->addr);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return -1;
	if (write_all(fd, line, (size_t)n, now_ms() + HEADER_WAIT_MS) != 0)
		return -1;
	return write_all(fd, h->key->text, h->key->len, now_ms() + HEADER_WAIT_MS);
}

/* Clients that come while one is served are told so and closed. */
static void
turn_away(struct holder *h)
{
	int fd;

	while ((fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		(void)write(fd, "BUSY\n", 5);
		close(fd);
	}
}

enum relay_end { RELAY_MORE, RELAY_RELEASED, RELAY_DROPPED, RELAY_SERVER_GONE };

/* Client bytes up to the release line, if any, go to the server. */
static enum relay_end
from_client(struct holder *h, int fd, char *buf, int *at_line_start)
{
	ssize_t n = read(fd, buf, RELAY_BUF);
	size_t fwd;
	char *m = NULL;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return RELAY_MORE;
	if (n <= 0)
		return RELAY_DROPPED;
	if (*at_line_start && (size_t)n >= h->marker_len
	    && memcmp(buf, h->marker, h->marker_len) == 0)
		m = buf;
	for (ssize_t i = 0; m == NULL && i + 1 < n; i++)
		if (buf[i] == '\n' && (size_t)(n - i - 1) >= h->marker_len
		    && memcmp(buf + i + 1, h->marker, h->marker_len) == 0)
			m = buf + i + 1;
	fwd = m != NULL ? (size_t)(m - buf) : (size_t)n;
	if (fwd > 0
	    && stream_write(h->server, buf, fwd, h->cfg->data_xfer_timeout,
		   now_ms() + (int64_t)h->cfg->data_xfer_timeout * 1000)
		!= STREAM_OK)
		return RELAY_SERVER_GONE;
	*at_line_start = fwd > 0 ? buf[fwd - 1] == '\n' : *at_line_start;
	return m != NULL ? RELAY_RELEASED : RELAY_MORE;
}

/* One client: relay until it releases the connection or goes. */
static enum relay_end
relay(struct holder *h, int fd)
{
	char *buf = malloc(RELAY_BUF);
	int at_line_start = 1;
	enum relay_end end = RELAY_DROPPED;

	if (buf == NULL)
		return RELAY_DROPPED;
	for (;;) {
		struct pollfd p[3] = { { fd, POLLIN, 0 }, { stream_fd(h->server), POLLIN, 0 },
			{ h->listen_fd, POLLIN, 0 } };

		if (stream_buffered(h->server)) {
			p[1].revents = POLLIN;
		} else if (poll(p, 3, RELAY_IDLE_MS) <= 0) {
			end = RELAY_DROPPED;
			break;
		}
		/*
		 * The client first: a release line is always queued before the
		 * next agent's connection, which must then wait, not be turned away.
		 */
		if (p[0].revents && (end = from_client(h, fd, buf, &at_line_start)) != RELAY_MORE)
			break;
		if (p[2].revents)
			turn_away(h);
		if (p[1].revents) {
			size_t len;
			enum stream_io st =
			    stream_read_some(h->server, buf, RELAY_BUF, &len, now_ms() + 1000);

			if (st == STREAM_TIMEOUT)
				continue;
			if (st != STREAM_OK
			    || write_all(fd, buf, len, now_ms() + RELAY_IDLE_MS) != 0) {
				end = st != STREAM_OK ? RELAY_SERVER_GONE : RELAY_DROPPED;
				break;
			}
		}
	}
	free(buf);
	return end;
}

static void
holder_quit(struct holder *h)
{
	char line[REPLY_LINE_MAX + 2];
	size_t len;
	int64_t deadline = now_ms() + QUIT_WAIT_MS;

	if (stream_write(h->server, "QUIT\r\n", 6, 1, deadline) == STREAM_OK)
		(void)stream_read_line(h->server, line, sizeof(line), &len, deadline);
	if (stream_tls(h->server) != NULL)
		stream_tls_bye(h->server, now_ms() + QUIT_WAIT_MS);
}

/* The holder's life; never returns. */
static void
holder_run(struct holder *h)
{
	const struct tlsmtp_config *cfg = h->cfg;
	int64_t life_end = h->born_ms + (int64_t)cfg->connection_reuse_time_limit * 1000;
	int quit = 1;

	for (;;) {
		int64_t idle_end = now_ms() + (int64_t)cfg->connection_cache_time_limit * 1000;
		struct pollfd p[2] = { { h->listen_fd, POLLIN, 0 },
			{ stream_fd(h->server), POLLIN, 0 } };
		int fd, r;
		enum relay_end end;

		if (cfg->connection_reuse_count_limit > 0
		    && h->uses >= (unsigned)cfg->connection_reuse_count_limit)
			break;
		if (idle_end > life_end)
			idle_end = life_end;
		if (now_ms() >= idle_end)
			break;
		if (stream_buffered(h->server))
			break; /* the server spoke unasked: a 421, or worse */
		r = poll(p, 2, (int)(idle_end - now_ms()));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (p[1].revents)
			break; /* closed or spoke while idle */
		fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		if (!peer_is_us(fd) || send_header(h, fd) != 0) {
			close(fd);
			continue;
		}
		end = relay(h, fd);
		close(fd);
		if (end != RELAY_RELEASED) {
			/* The client's transaction may be open: no QUIT, no reuse. */
			quit = 0;
			break;
		}
		h->uses++;
	}
	holder_unlisten(h);
	if (quit)
		holder_quit(h);
	stream_free(h->server);
	log_verbose("%s: held connection closed after %u deliveries", h->label, h->uses);
	_exit(0);
}

static void
detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

int
conn_cache_hold(const struct tlsmtp_config *cfg, const struct conn_cache_key *key, struct stream *s,
    const struct route_addr *addr, int tls_active, const struct tls_info *tls,
    const struct ehlo_features *feat, unsigned uses, struct spool *msg)
{
	struct holder h;
	pid_t pid, gone;
	int status;

	if (key->len == 0 || stream_buffered(s)
	    || (cfg->connection_reuse_count_limit > 0
		&& uses >= (unsigned)cfg->connection_reuse_count_limit)
	    || !dir_usable(cfg->connection_cache_directory, 1))
		return 0;
	memset(&h, 0, sizeof(h));
	h.cfg = cfg;
	h.key = key;
	h.server = s;
	h.listen_fd = -1;
	h.uses = uses;
	h.born_ms = now_ms();
	h.addr = addr;
	h.tls_active = tls_active;
	h.tls = tls;
	h.feat = feat;
	route_addr_label(addr, h.label, sizeof(h.label));
	if (make_token(h.token) != 0)
		return 0;
	h.marker_len =
	    (size_t)snprintf(h.marker, sizeof(h.marker), "%s%s\r\n", MARKER_PREFIX, h.token);
	/* Listening before the agent exits: the next agent finds it at once. */
	if (holder_listen(&h) != 0)
		return 0;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		holder_unlisten(&h);
		return 0;
	}
	if (pid == 0) {
		/* The middle process: a new session, then the holder. */
		(void)setsid();
		if ((pid = fork()) != 0)
			_exit(pid < 0 ? 1 : 0);
		log_info("%s: connection kept for reuse (holder pid %ld)", h.label, (long)getpid());
		(void)signal(SIGPIPE, SIG_IGN);
		(void)signal(SIGALRM, SIG_DFL);
		(void)alarm(0);
		detach_stdio();
		spool_free(msg);
		holder_run(&h);
	}
	do
		gone = waitpid(pid, &status, 0);
	while (gone < 0 && errno == EINTR);
	/* The holder exists only when the middle process forked it. */
	if (gone == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		close(h.listen_fd);
		return 1;
	}
	holder_unlisten(&h);
	return 0;
}
