/*
 * socketmap.c - Postfix socketmap: table client, as in socketmap_table(5).
 *
 * Interface (socketmap.h): socketmap_open() parses the endpoint
 * ("inet:HOST:PORT:NAME", "unix:PATH:NAME"), socketmap_lookup() asks one
 * key, socketmap_close(); socketmap_backend() wraps the three for
 * policy_maps_open_with(), which is how the policy library reaches a
 * socket without knowing of one.
 *
 * Protocol: the request is one netstring "NAME KEY", the reply one
 * netstring "OK VALUE", "NOTFOUND ", or "TEMP|TIMEOUT|PERM REASON".  As
 * Postfix's client: the key goes as given (the agent's keys are already
 * folded), the NAME is what follows the endpoint's last ':', a reply
 * longer than the limit (100000 bytes, socketmap_max_reply) is an error,
 * one connection serves every lookup of the delivery, and a connection
 * that the server closed is opened again once.  Every error is a lookup
 * error, never "not found", so the caller defers instead of falling back
 * to the default level.  The wording follows Postfix's: "unexpected
 * disconnect", "time limit exceeded", "input format error", "input
 * exceeds size limit", "socketmap server temporary error: REASON".
 *
 * Every wait (connect, write, read) is a poll() bounded by one deadline
 * per lookup: socketmap_timeout, but never past the delivery deadline.
 * The reply is read byte-exact (length prefix, data, ','), so nothing of
 * a following reply is ever consumed early.  Host names other than
 * "localhost" are refused: resolving one could wait outside any bound.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* net */
#include "socketmap.h"

#define SOCKETMAP_NAME_MAX   256
#define SOCKETMAP_LEN_DIGITS 10	 /* "4294967295:" at most */
#define REASON_SHOWN	     200 /* bytes of a server's reason in a message */

enum io_status {
	IO_OK,
	IO_EOF, /* the peer closed (or reset) the connection */
	IO_TIMEOUT,
	IO_FORMAT, /* not a netstring */
	IO_SIZE,   /* longer than max_reply */
	IO_ERROR   /* errno holds the reason */
};

struct socketmap {
	const struct socketmap_settings *settings;
	struct sockaddr_storage sa;
	socklen_t salen;
	char endpoint[300]; /* "127.0.0.1:8461" or the socket path, for messages */
	char name[SOCKETMAP_NAME_MAX];
	int fd; /* -1 when not connected */
};

/* ------------------------------------------------------------------------
 * Endpoint syntax.
 */
static int
parse_inet(struct socketmap *sm, const char *hostport, char *err, size_t errlen)
{
	const char *colon = strrchr(hostport, ':');
	char host[INET6_ADDRSTRLEN + 2];
	char *end;
	unsigned long port;
	size_t hostlen;
	struct sockaddr_in *sin = (struct sockaddr_in *)&sm->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sm->sa;

	if (colon == NULL || colon == hostport || colon[1] == 0) {
		snprintf(err, errlen, "expected inet:host:port:name, not \"inet:%.200s\"",
		    hostport);
		return -1;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end != 0 || errno != 0 || port == 0 || port > 65535 || colon[1] == '-') {
		snprintf(err, errlen, "bad port \"%.40s\" (a number is needed)", colon + 1);
		return -1;
	}
	hostlen = (size_t)(colon - hostport);
	if (hostlen >= 2 && hostport[0] == '[' && hostport[hostlen - 1] == ']') {
		hostport++;
		hostlen -= 2;
	}
	if (hostlen >= sizeof(host)) {
		snprintf(err, errlen, "bad host \"%.*s\"", (int)hostlen, hostport);
		return -1;
	}
	memcpy(host, hostport, hostlen);
	host[hostlen] = 0;
	memset(&sm->sa, 0, sizeof(sm->sa));
	if (strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sm->salen = sizeof(*sin);
		snprintf(sm->endpoint, sizeof(sm->endpoint), "%s:%lu", host, port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sm->salen = sizeof(*sin6);
		snprintf(sm->endpoint, sizeof(sm->endpoint), "[%s]:%lu", host, port);
	} else {
		snprintf(err, errlen, "host \"%s\" is not an IP address or localhost", host);
		return -1;
	}
	return 0;
}

static int
parse_unix(struct socketmap *sm, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&sm->sa;

	if (*path == 0) {
		snprintf(err, errlen, "expected unix:path:name, not \"unix:\"");
		return -1;
	}
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "socket path \"%.100s...\" is too long", path);
		return -1;
	}
	memset(&sm->sa, 0, sizeof(sm->sa));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	sm->salen = (socklen_t)sizeof(*sun);
	snprintf(sm->endpoint, sizeof(sm->endpoint), "%s", path);
	return 0;
}

int
socketmap_open(const char *arg, const struct socketmap_settings *s, struct socketmap **out,
    char *err, size_t errlen)
{
	struct socketmap *sm;
	const char *last = strrchr(arg, ':');
	char endpoint[400];
	size_t eplen;
	int rc;

	*out = NULL;
	if (last == NULL || last[1] == 0 || strlen(last + 1) >= SOCKETMAP_NAME_MAX) {
		snprintf(err, errlen, "socketmap: needs inet:host:port:name or unix:path:name");
		return -1;
	}
	eplen = (size_t)(last - arg);
	if (eplen >= sizeof(endpoint)) {
		snprintf(err, errlen, "socketmap endpoint is too long");
		return -1;
	}
	memcpy(endpoint, arg, eplen);
	endpoint[eplen] = 0;
	if ((sm = calloc(1, sizeof(*sm))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sm->settings = s;
	sm->fd = -1;
	snprintf(sm->name, sizeof(sm->name), "%s", last + 1);
	if (strncmp(endpoint, "inet:", 5) == 0)
		rc = parse_inet(sm, endpoint + 5, err, errlen);
	else if (strncmp(endpoint, "unix:", 5) == 0)
		rc = parse_unix(sm, endpoint + 5, err, errlen);
	else {
		snprintf(err, errlen,
		    "socketmap: needs inet:host:port:name or unix:path:name, "
		    "not \"%.200s\"",
		    arg);
		rc = -1;
	}
	if (rc < 0) {
		free(sm);
		return -1;
	}
	*out = sm;
	return 0;
}

static void
disconnect(struct socketmap *sm)
{
	if (sm->fd >= 0)
		close(sm->fd);
	sm->fd = -1;
}

void
socketmap_close(struct socketmap *sm)
{
	if (sm == NULL)
		return;
	disconnect(sm);
	free(sm);
}

/* ------------------------------------------------------------------------
 * Bounded I/O.
 */

/* Wait for events until deadline_ms: IO_OK, IO_TIMEOUT or IO_ERROR. */
static enum io_status
wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		left = deadline_ms - now_ms();
		if (left <= 0)
			return IO_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return IO_OK;
		if (n < 0 && errno != EINTR)
			return IO_ERROR;
	}
}

static enum io_status
connect_endpoint(struct socketmap *sm, int64_t deadline_ms)
{
	int fd;
	int soerr = 0;
	int one = 1;
	socklen_t len = sizeof(soerr);
	enum io_status st;

	fd = socket(sm->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return IO_ERROR;
	if (sm->sa.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&sm->sa, sm->salen) == 0) {
		sm->fd = fd;
		return IO_OK;
	}
	if (errno != EINPROGRESS && errno != EINTR) {
		soerr = errno;
		close(fd);
		errno = soerr;
		return IO_ERROR;
	}
	if ((st = wait_fd(fd, POLLOUT, deadline_ms)) != IO_OK) {
		soerr = errno;
		close(fd);
		errno = soerr;
		return st;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
		if (soerr == 0)
			soerr = errno;
		close(fd);
		errno = soerr;
		return IO_ERROR;
	}
	sm->fd = fd;
	return IO_OK;
}

static enum io_status
write_all(int fd, const char *buf, size_t len, int64_t deadline_ms)
{
	size_t done = 0;
	ssize_t n;
	enum io_status st;

	while (done < len) {
		n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return IO_EOF;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return IO_ERROR;
		if ((st = wait_fd(fd, POLLOUT, deadline_ms)) != IO_OK)
			return st;
	}
	return IO_OK;
}

/* Exactly len bytes, or EOF / timeout / error. */
static enum io_status
read_exact(int fd, char *buf, size_t len, int64_t deadline_ms)
{
	size_t done = 0;
	ssize_t n;
	enum io_status st;

	while (done < len) {
		n = recv(fd, buf + done, len - done, 0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return IO_EOF;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return IO_ERROR;
		if ((st = wait_fd(fd, POLLIN, deadline_ms)) != IO_OK)
			return st;
	}
	return IO_OK;
}

/*
 * One netstring: "LEN:" read a byte at a time, then LEN bytes and ','.
 * *reply is malloc'ed and NUL-terminated; *replylen excludes the NUL.
 */
static enum io_status
read_netstring(int fd, size_t max, char **reply, size_t *replylen, int64_t deadline_ms)
{
	size_t len = 0;
	int digits = 0;
	char c;
	char *buf;
	enum io_status st;

	*reply = NULL;
	for (;;) {
		if ((st = read_exact(fd, &c, 1, deadline_ms)) != IO_OK)
			return st;
		if (c == ':' && digits > 0)
			break;
		if (c < '0' || c > '9' || digits == SOCKETMAP_LEN_DIGITS)
			return IO_FORMAT;
		len = len * 10 + (size_t)(c - '0');
		digits++;
		if (len > max)
			return IO_SIZE;
	}
	if ((buf = malloc(len + 1)) == NULL)
		return IO_ERROR;
	if ((st = read_exact(fd, buf, len, deadline_ms)) == IO_OK
	    && (st = read_exact(fd, &c, 1, deadline_ms)) == IO_OK && c != ',')
		st = IO_FORMAT;
	if (st != IO_OK) {
		free(buf);
		return st;
	}
	buf[len] = 0;
	*reply = buf;
	*replylen = len;
	return IO_OK;
}

/* ------------------------------------------------------------------------
 * Lookups.
 */
static void
io_failed(const struct socketmap *sm, enum io_status st, int saved_errno, int connecting, char *err,
    size_t errlen)
{
	switch (st) {
	case IO_EOF:
		snprintf(err, errlen, "unexpected disconnect");
		break;
	case IO_TIMEOUT:
		snprintf(err, errlen, "time limit exceeded%s (socketmap_timeout = %ds)",
		    connecting ? " connecting" : "", sm->settings->timeout_s);
		break;
	case IO_FORMAT:
		snprintf(err, errlen, "input format error (the reply is not a netstring)");
		break;
	case IO_SIZE:
		snprintf(err, errlen, "input exceeds size limit (socketmap_max_reply = %zu)",
		    sm->settings->max_reply);
		break;
	default:
		snprintf(err, errlen, "%s %s: %s", connecting ? "connect to" : "talking to",
		    sm->endpoint, strerror(saved_errno));
		break;
	}
}

/* Copy at most REASON_SHOWN bytes of text, control characters as '?'. */
static void
printable(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	while (*text == ' ' || *text == '\t')
		text++;
	for (; *text != 0 && o + 1 < outlen && o < REASON_SHOWN; text++) {
		unsigned char ch = (unsigned char)*text;

		out[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[o] = 0;
}

/* Split "STATUS payload" and judge it; takes ownership of reply. */
static int
judge_reply(char *reply, size_t replylen, char **value, char *err, size_t errlen)
{
	char *payload = strchr(reply, ' ');
	char shown[REASON_SHOWN + 1];
	const char *class;

	if (strlen(reply) != replylen) {
		free(reply);
		snprintf(err, errlen, "input format error (a NUL byte in the reply)");
		return -1;
	}
	if (payload != NULL)
		*payload++ = 0;
	if (strcmp(reply, "OK") == 0) {
		if (payload == NULL)
			payload = reply + strlen(reply);
		memmove(reply, payload, strlen(payload) + 1);
		*value = reply;
		return 1;
	}
	if (strcmp(reply, "NOTFOUND") == 0) {
		free(reply);
		return 0;
	}
	if (strcmp(reply, "TEMP") == 0)
		class = "temporary";
	else if (strcmp(reply, "TIMEOUT") == 0)
		class = "timeout";
	else if (strcmp(reply, "PERM") == 0)
		class = "permanent";
	else {
		class = "unknown";
		if (payload != NULL)
			payload[-1] = ' ';
		payload = reply;
	}
	printable(payload != NULL ? payload : "", shown, sizeof(shown));
	snprintf(err, errlen, "socketmap server %s error%s%s", class, shown[0] ? ": " : "", shown);
	free(reply);
	return -1;
}

int
socketmap_lookup(struct socketmap *sm, const char *key, char **value, char *err, size_t errlen)
{
	int64_t deadline = stage_deadline(sm->settings->timeout_s, sm->settings->deadline_ms);
	size_t keylen = strlen(key);
	size_t namelen = strlen(sm->name);
	size_t reqcap = keylen + namelen + 32;
	char *req;
	char *reply = NULL;
	size_t replylen = 0;
	int reqlen;
	enum io_status st = IO_ERROR;
	int saved_errno = 0;

	*value = NULL;
	if ((req = malloc(reqcap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	reqlen = snprintf(req, reqcap, "%zu:%s %s,", namelen + 1 + keylen, sm->name, key);
	/* A connection the server closed (a restart, an idle limit) is retried once. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (sm->fd < 0 && (st = connect_endpoint(sm, deadline)) != IO_OK) {
			io_failed(sm, st, errno, 1, err, errlen);
			free(req);
			return -1;
		}
		st = write_all(sm->fd, req, (size_t)reqlen, deadline);
		if (st == IO_OK)
			st = read_netstring(sm->fd, sm->settings->max_reply, &reply, &replylen,
			    deadline);
		if (st == IO_OK)
			break;
		saved_errno = errno;
		disconnect(sm);
		if (st != IO_EOF)
			break;
	}
	free(req);
	if (st != IO_OK) {
		io_failed(sm, st, saved_errno, 0, err, errlen);
		return -1;
	}
	return judge_reply(reply, replylen, value, err, errlen);
}

/* ------------------------------------------------------------------------
 * The policy library's view.
 */
static int
backend_open(const char *arg, void *ctx, void **handle, char *err, size_t errlen)
{
	struct socketmap *sm;

	if (socketmap_open(arg, ctx, &sm, err, errlen) < 0)
		return -1;
	*handle = sm;
	return 0;
}

static int
backend_lookup(void *handle, const char *key, char **value, char *err, size_t errlen)
{
	return socketmap_lookup(handle, key, value, err, errlen);
}

static void
backend_close(void *handle)
{
	socketmap_close(handle);
}

void
socketmap_backend(struct socketmap_settings *s, struct policy_map_backend *b)
{
	memset(b, 0, sizeof(*b));
	b->type = "socketmap";
	b->open = backend_open;
	b->lookup = backend_lookup;
	b->close = backend_close;
	b->ctx = s;
}
