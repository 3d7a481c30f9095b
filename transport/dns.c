/*
 * dns.c - the process's one c-ares channel, driven by a deadline.
 *
 * dns_open() creates the channel (dns_servers or the system resolver),
 * dns_query() starts a query that asks for the AD bit and sets DO,
 * dns_wait() runs the event loop with poll(2) until nothing is pending or
 * the deadline passes (then every pending query is cancelled, so its
 * callback runs with ARES_ECANCELLED before dns_wait() returns).
 *
 * Interface: dns.h.
 */
#include "config.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "dns_msg.h"

#define DNS_SERVERS_MAX	   8
#define DNS_TRY_TIMEOUT_MS 2000 /* first try; c-ares backs off after it */
#define DNS_TRIES	   3
#define DNS_EDNS_UDP_SIZE  1232 /* DNS flag day 2020 */

struct dns_ctx {
	ares_channel channel;
	int ad_trusted; /* every server is on loopback */
};

/*
 * One dns_servers element: "addr", "addr:port", "[addr]" or "[addr]:port"
 * with an IPv4 or IPv6 address; written to out as c-ares wants it.
 */
static int
server_to_csv(const char *item, size_t len, char *out, size_t outlen)
{
	const char *end = item + len;
	const char *host = item;
	const char *port = NULL;
	size_t hostlen = len;
	size_t portlen;
	char hostbuf[INET6_ADDRSTRLEN + 1];
	char portbuf[8];
	unsigned char bin[sizeof(struct in6_addr)];
	unsigned long portnum = 53;
	char *stop;
	int v6;

	if (len > 0 && item[0] == '[') {
		const char *close = memchr(item, ']', len);

		if (close == NULL)
			return -1;
		host = item + 1;
		hostlen = (size_t)(close - host);
		if (close + 1 < end) {
			if (close[1] != ':')
				return -1;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(item, ':', len);

		/* A bare IPv6 address has several colons and takes no port. */
		if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
			hostlen = (size_t)(colon - item);
			port = colon + 1;
		}
	}
	if (hostlen == 0 || hostlen >= sizeof(hostbuf))
		return -1;
	memcpy(hostbuf, host, hostlen);
	hostbuf[hostlen] = 0;
	if (port != NULL) {
		portlen = (size_t)(end - port);
		if (portlen == 0 || portlen >= sizeof(portbuf))
			return -1;
		memcpy(portbuf, port, portlen);
		portbuf[portlen] = 0;
		if (portbuf[0] < '0' || portbuf[0] > '9')
			return -1;
		errno = 0;
		portnum = strtoul(portbuf, &stop, 10);
		if (errno != 0 || *stop != 0 || portnum == 0 || portnum > 65535)
			return -1;
	}
	if (inet_pton(AF_INET, hostbuf, bin) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, hostbuf, bin) == 1)
		v6 = 1;
	else
		return -1;
	if (snprintf(out, outlen, v6 ? "[%s]:%lu" : "%s:%lu", hostbuf, portnum) >= (int)outlen)
		return -1;
	return 0;
}

/* "127.0.0.1:5353, [::1]:53" -> c-ares CSV; separators are commas and blanks. */
static int
servers_to_csv(const char *servers, char *csv, size_t csvlen, char *err, size_t errlen)
{
	const char *p = servers;
	size_t used = 0;
	unsigned count = 0;
	char one[INET6_ADDRSTRLEN + 16];

	csv[0] = 0;
	while (*p != 0) {
		size_t len = strcspn(p, ", \t");

		if (len == 0) {
			p++;
			continue;
		}
		if (++count > DNS_SERVERS_MAX) {
			snprintf(err, errlen, "dns_servers: more than %d servers", DNS_SERVERS_MAX);
			return -1;
		}
		if (server_to_csv(p, len, one, sizeof(one)) != 0) {
			snprintf(err, errlen, "dns_servers: bad server address \"%.*s\"",
			    (int)(len > 64 ? 64 : len), p);
			return -1;
		}
		if (used + strlen(one) + 2 > csvlen) {
			snprintf(err, errlen, "dns_servers: value too long");
			return -1;
		}
		used += (size_t)snprintf(csv + used, csvlen - used, "%s%s", used ? "," : "", one);
		p += len;
	}
	return 0;
}

/*
 * The AD bit means something only when the path to the validating
 * resolver cannot be tampered with: trust it only when every configured
 * server is a loopback address (RFC 7672 2.1.3, TLS_README).
 */
static int
servers_all_loopback(ares_channel channel)
{
	struct ares_addr_port_node *list, *n;
	int all = 1;

	if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS)
		return 0;
	if (list == NULL)
		all = 0;
	for (n = list; n != NULL; n = n->next) {
		if (n->family == AF_INET) {
			if ((ntohl(n->addr.addr4.s_addr) >> 24) != 127)
				all = 0;
		} else if (n->family == AF_INET6) {
			static const unsigned char loop6[16] = { [15] = 1 };

			if (memcmp(&n->addr.addr6, loop6, sizeof(loop6)) != 0)
				all = 0;
		} else
			all = 0;
	}
	ares_free_data(list);
	return all;
}

int
dns_open(struct dns_ctx **out, const char *servers, char *err, size_t errlen)
{
	struct dns_ctx *ctx;
	struct ares_options opts;
	int optmask;
	int status;
	char csv[DNS_SERVERS_MAX * (INET6_ADDRSTRLEN + 16)];

	*out = NULL;
	csv[0] = 0;
	if (servers != NULL && servers_to_csv(servers, csv, sizeof(csv), err, errlen) != 0)
		return -1;
	if ((status = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "DNS resolver initialization: %s", ares_strerror(status));
		return -1;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		ares_library_cleanup();
		snprintf(err, errlen, "DNS resolver initialization: out of memory");
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	/* No search list, no HOSTALIASES: we only ever ask for absolute names.
	 * EDNS lets c-ares accept answers up to ednspsz over UDP. */
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	opts.timeout = DNS_TRY_TIMEOUT_MS;
	opts.tries = DNS_TRIES;
	opts.ednspsz = DNS_EDNS_UDP_SIZE;
	optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ;
	if ((status = ares_init_options(&ctx->channel, &opts, optmask)) != ARES_SUCCESS) {
		snprintf(err, errlen, "DNS resolver initialization: %s", ares_strerror(status));
		free(ctx);
		ares_library_cleanup();
		return -1;
	}
	if (csv[0] != 0
	    && (status = ares_set_servers_ports_csv(ctx->channel, csv)) != ARES_SUCCESS) {
		snprintf(err, errlen, "dns_servers: %s", ares_strerror(status));
		dns_close(ctx);
		return -1;
	}
	ctx->ad_trusted = servers_all_loopback(ctx->channel);
	*out = ctx;
	return 0;
}

int
dns_query(struct dns_ctx *ctx, const char *name, unsigned type, dns_answer_fn *cb, void *arg)
{
	uint8_t query[DNS_MSG_QUERY_MAX];
	size_t qlen;

	if (dns_msg_build_query(name, type, DNS_EDNS_UDP_SIZE, query, sizeof(query), &qlen) != 0)
		return -1;
	ares_send(ctx->channel, query, (int)qlen, cb, arg);
	return 0;
}

int
dns_wait(struct dns_ctx *ctx, int64_t deadline_ms)
{
	for (;;) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv;
		int64_t now, wait_ms;
		unsigned bits;
		int nfds = 0, ready, i;

		/* ares_timeout() answers NULL exactly when no query is pending. */
		if (ares_timeout(ctx->channel, NULL, &tv) == NULL)
			return 0;
		now = now_ms();
		if (now >= deadline_ms) {
			ares_cancel(ctx->channel);
			return -1;
		}
		wait_ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
		if (wait_ms > deadline_ms - now)
			wait_ms = deadline_ms - now;
		/* The ARES_GETSOCK_* macros shift a signed 1 into the sign bit
		 * for the last socket; test the bits as unsigned instead. */
		bits = (unsigned)ares_getsock(ctx->channel, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			int rd = (bits & (1u << i)) != 0;
			int wr = (bits & (1u << (i + ARES_GETSOCK_MAXNUM))) != 0;

			if (!rd && !wr)
				continue;
			pfd[nfds].fd = socks[i];
			pfd[nfds].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
			pfd[nfds].revents = 0;
			nfds++;
		}
		ready = poll(pfd, (nfds_t)nfds, (int)wait_ms);
		if (ready < 0 && errno != EINTR) {
			ares_cancel(ctx->channel);
			return -1;
		}
		if (ready <= 0) {
			ares_process_fd(ctx->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < nfds; i++) {
			ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

			if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
				rfd = pfd[i].fd;
			if (pfd[i].revents & POLLOUT)
				wfd = pfd[i].fd;
			if (rfd != ARES_SOCKET_BAD || wfd != ARES_SOCKET_BAD)
				ares_process_fd(ctx->channel, rfd, wfd);
		}
	}
}

int
dns_ad_trusted(const struct dns_ctx *ctx)
{
	return ctx->ad_trusted;
}

void *
dns_channel(struct dns_ctx *ctx)
{
	return ctx->channel;
}

void
dns_close(struct dns_ctx *ctx)
{
	if (ctx == NULL)
		return;
	/* Pending callbacks run now (ARES_EDESTRUCTION); callers have none. */
	ares_destroy(ctx->channel);
	free(ctx);
	ares_library_cleanup();
}
