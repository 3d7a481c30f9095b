/*
 * smtp_connect.c - open a TCP connection to one route address.
 *
 * Non-blocking connect() bounded by smtp_connect_timeout (0 = the system's
 * own limit) and by the overall delivery deadline; optional source address
 * (smtp_bind_address / smtp_bind_address6); TCP_NODELAY, because every SMTP
 * command waits for its reply and Nagle plus delayed ACKs would stall each
 * exchange by about 40 ms.  Failures read as Postfix's:
 * "connect to H[A]:P: Connection refused" with DSN 4.4.1.
 *
 * route_addr_port() lives here for now because this is where an address
 * first needs its port; tls_session.c and smtp_proto.c use it too.
 *
 * Interface: smtp_connect.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "smtp_connect.h"

/* With smtp_connect_timeout = 0 the kernel decides; we still stop at the deadline. */
#define CONNECT_OS_LIMIT_S 3600

unsigned
route_addr_port(const struct route_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

static void
connect_failed(struct outcome *out, const struct route_addr *a, const char *why)
{
	outcome_set(out, "4.4.1", "connect to %s[%s]:%u: %s", a->host, a->addr, route_addr_port(a),
	    why);
}

/* Bind to the configured source address of a's family, if any. */
static int
bind_source(int fd, const struct tlsmtp_config *cfg, int family, char *why, size_t whylen)
{
	const char *src = family == AF_INET6 ? cfg->bind_address6 : cfg->bind_address;
	struct sockaddr_storage ss;
	socklen_t len;

	if (src == NULL || *src == '\0')
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, src, &sin6->sin6_addr) != 1) {
			snprintf(why, whylen, "bad smtp_bind_address6 \"%s\"", src);
			return -1;
		}
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sin->sin_addr) != 1) {
			snprintf(why, whylen, "bad smtp_bind_address \"%s\"", src);
			return -1;
		}
		len = sizeof(*sin);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		snprintf(why, whylen, "bind %s: %s", src, strerror(errno));
		return -1;
	}
	return 0;
}

/* Wait for the non-blocking connect to finish; returns 0 or an errno. */
static int
finish_connect(int fd, int64_t deadline_ms)
{
	struct pollfd pfd;
	int64_t left;
	int n, soerr = 0;
	socklen_t len = sizeof(soerr);

	for (;;) {
		left = deadline_ms - now_ms();
		if (left <= 0)
			return ETIMEDOUT;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			break;
		if (n < 0 && errno != EINTR)
			return errno;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		return errno;
	return soerr;
}

int
smtp_connect(const struct tlsmtp_config *cfg, const struct route_addr *a, int64_t overall_ms,
    struct outcome *out)
{
	int fd, err, one = 1, flags;
	int timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : CONNECT_OS_LIMIT_S;
	char why[300];

	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		connect_failed(out, a, strerror(errno));
		return -1;
	}
	if (bind_source(fd, cfg, a->sa.ss_family, why, sizeof(why)) != 0) {
		close(fd);
		connect_failed(out, a, why);
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		err = errno;
		close(fd);
		connect_failed(out, a, strerror(err));
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&a->sa, a->salen) == 0)
		err = 0;
	else if (errno == EINPROGRESS || errno == EINTR)
		err = finish_connect(fd, stage_deadline(timeout, overall_ms));
	else
		err = errno;
	if (err != 0) {
		close(fd);
		connect_failed(out, a, strerror(err));
		return -1;
	}
	return fd;
}
