/*
 * sts_https.c - fetch an MTA-STS policy over HTTPS (RFC 8461 section 3.3).
 *
 * A deliberately small client instead of libcurl: one GET, no redirects,
 * no cookies, proxies, HTTP caching or HTTP/2, on the GnuTLS and c-ares the
 * agent links anyway, so no library is added to a delivery's start-up.
 * The request says HTTP/1.0, so a server must not answer with chunked
 * transfer coding (RFC 9112 section 6.1) and the body runs to the close.
 * The end must be a TLS close_notify: GNUTLS_E_PREMATURE_TERMINATION
 * could have cut off "mx:" lines.  The response is read to at most
 * HEAD_MAX + STS_POLICY_MAX + 1 bytes; more is an error.
 *
 * Interface: sts_https.h.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "route.h"
/* net */
#include "smtp_connect.h"
/* tls */
#include "sts_https.h"

#define HEAD_MAX   8192
#define HTTPS_PORT 443
#define PRIORITY   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

static int
load_trust(gnutls_certificate_credentials_t cred, const struct tlsmtp_config *cfg)
{
	int n = 0, rc;
	int file = cfg->tls_CAfile != NULL && *cfg->tls_CAfile != '\0';
	int dir = cfg->tls_CApath != NULL && *cfg->tls_CApath != '\0';

	if (file
	    && (rc = gnutls_certificate_set_x509_trust_file(cred, cfg->tls_CAfile,
		    GNUTLS_X509_FMT_PEM))
		> 0)
		n += rc;
	if (dir
	    && (rc = gnutls_certificate_set_x509_trust_dir(cred, cfg->tls_CApath,
		    GNUTLS_X509_FMT_PEM))
		> 0)
		n += rc;
	if ((!file && !dir) || cfg->tls_append_default_CA)
		if ((rc = gnutls_certificate_set_x509_system_trust(cred)) > 0)
			n += rc;
	return n;
}

static int
wait_io(gnutls_session_t s, int fd, int64_t deadline_ms)
{
	short ev = gnutls_record_get_direction(s) ? POLLOUT : POLLIN;
	return deadline_poll(fd, ev, deadline_ms) == 1 ? 0 : -1;
}

static int
handshake(gnutls_session_t s, int fd, const char *host, int64_t deadline_ms, char *err,
    size_t errlen)
{
	int rc;

	while ((rc = gnutls_handshake(s)) < 0) {
		if (gnutls_error_is_fatal(rc)) {
			if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
				gnutls_datum_t why = { NULL, 0 };
				unsigned st = gnutls_session_get_verify_cert_status(s);
				gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509,
				    &why, 0);
				text_cut(err, errlen, "certificate of %s not verified: %s", host,
				    why.data != NULL ? (char *)why.data : "unknown");
				gnutls_free(why.data);
			} else {
				text_cut(err, errlen, "TLS handshake with %s failed: %s", host,
				    gnutls_strerror(rc));
			}
			return -1;
		}
		if (wait_io(s, fd, deadline_ms) != 0) {
			text_cut(err, errlen, "timeout in TLS handshake with %s", host);
			return -1;
		}
	}
	return 0;
}

static int
send_all(gnutls_session_t s, int fd, const char *buf, size_t len, int64_t deadline_ms)
{
	while (len > 0) {
		ssize_t n = gnutls_record_send(s, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0 || gnutls_error_is_fatal((int)n) || wait_io(s, fd, deadline_ms) != 0)
			return -1;
	}
	return 0;
}

/* Read to the close_notify; returns the length, or -1 with a reason. */
static long
recv_all(gnutls_session_t s, int fd, char *buf, size_t cap, int64_t deadline_ms, char *err,
    size_t errlen)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;
		if (len == cap) {
			text_cut(err, errlen, "response larger than %d bytes", STS_POLICY_MAX);
			return -1;
		}
		n = gnutls_record_recv(s, buf + len, cap - len);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			return (long)len;
		if (n == GNUTLS_E_PREMATURE_TERMINATION) {
			text_cut(err, errlen, "connection closed without TLS close_notify");
			return -1;
		}
		if (gnutls_error_is_fatal((int)n)) {
			text_cut(err, errlen, "TLS error: %s", gnutls_strerror((int)n));
			return -1;
		}
		if (wait_io(s, fd, deadline_ms) != 0) {
			text_cut(err, errlen, "timeout reading the response");
			return -1;
		}
	}
}

/* The value of header name in [head, end), or NULL; *vlen its length. */
static const char *
header(const char *head, const char *end, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', (size_t)(end - head));

	while (p != NULL && p + 1 < end) {
		const char *line = p + 1, *le = memchr(line, '\n', (size_t)(end - line)), *v;
		if (le == NULL)
			le = end;
		p = le < end ? le : NULL;
		if ((size_t)(le - line) > nl && line[nl] == ':'
		    && strncasecmp(line, name, nl) == 0) {
			v = line + nl + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			while (le > v && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
				le--;
			*vlen = (size_t)(le - v);
			return v;
		}
	}
	return NULL;
}

static int
check_response(char *resp, size_t len, char **body, size_t *bodylen, char *err, size_t errlen)
{
	char *sep = NULL, *b;
	const char *ct, *cl;
	size_t ctlen = 0, cllen = 0, semi;
	int status;

	for (size_t i = 0; i + 1 < len && i < HEAD_MAX; i++) {
		if (resp[i] == '\n' && resp[i + 1] == '\n') {
			sep = resp + i;
			b = sep + 2;
			break;
		}
		if (i + 3 < len && memcmp(resp + i, "\r\n\r\n", 4) == 0) {
			sep = resp + i;
			b = sep + 4;
			break;
		}
	}
	if (sep == NULL) {
		text_cut(err, errlen, "malformed HTTP response header");
		return -1;
	}
	if (len < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' '
	    || sscanf(resp + 9, "%3d", &status) != 1) {
		text_cut(err, errlen, "malformed HTTP status line");
		return -1;
	}
	if (status != 200) {
		text_cut(err, errlen, "HTTP status %d", status);
		return -1;
	}
	if ((ct = header(resp, sep + 1, "Content-Type", &ctlen)) == NULL) {
		text_cut(err, errlen, "no Content-Type");
		return -1;
	}
	for (semi = 0; semi < ctlen && ct[semi] != ';'; semi++)
		;
	while (semi > 0 && (ct[semi - 1] == ' ' || ct[semi - 1] == '\t'))
		semi--;
	if (semi != 10 || strncasecmp(ct, "text/plain", 10) != 0) {
		text_cut(err, errlen, "media type is %.*s, not text/plain",
		    (int)(ctlen > 60 ? 60 : ctlen), ct);
		return -1;
	}
	*bodylen = len - (size_t)(b - resp);
	if (*bodylen > STS_POLICY_MAX) {
		text_cut(err, errlen, "policy larger than %d bytes", STS_POLICY_MAX);
		return -1;
	}
	if ((cl = header(resp, sep + 1, "Content-Length", &cllen)) != NULL) {
		char num[24];
		char *e;
		unsigned long long want;
		if (cllen == 0 || cllen >= sizeof(num)) {
			text_cut(err, errlen, "malformed Content-Length");
			return -1;
		}
		memcpy(num, cl, cllen);
		num[cllen] = '\0';
		want = strtoull(num, &e, 10);
		if (*e != '\0' || num[0] < '0' || num[0] > '9' || want != *bodylen) {
			text_cut(err, errlen, "Content-Length %s but %zu bytes received", num,
			    *bodylen);
			return -1;
		}
	}
	if ((*body = malloc(*bodylen + 1)) == NULL) {
		text_cut(err, errlen, "out of memory");
		return -1;
	}
	memcpy(*body, b, *bodylen);
	(*body)[*bodylen] = '\0';
	return 0;
}

/* One address: connect, handshake, request, response. */
static int
fetch_from(const struct tlsmtp_config *cfg, gnutls_certificate_credentials_t cred,
    const struct route_addr *a, const char *host, int64_t deadline_ms, char **body, size_t *bodylen,
    char *err, size_t errlen)
{
	gnutls_session_t s = NULL;
	struct outcome out;
	char req[600], *resp = NULL;
	long n;
	int fd, rc = -1;

	if ((fd = smtp_connect(cfg, a, deadline_ms, &out)) < 0) {
		text_cut(err, errlen, "%s", out.text);
		return -1;
	}
	if (gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0
	    || gnutls_priority_set_direct(s, PRIORITY, NULL) < 0
	    || gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0
	    || gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host)) < 0) {
		text_cut(err, errlen, "cannot set up TLS");
		goto out;
	}
	gnutls_session_set_verify_cert(s, host, 0);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 0);
	if (handshake(s, fd, host, deadline_ms, err, errlen) != 0)
		goto out;
	snprintf(req, sizeof(req),
	    "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: %s\r\nUser-Agent: tlsmtp\r\n"
	    "Connection: close\r\n\r\n",
	    host);
	if (send_all(s, fd, req, strlen(req), deadline_ms) != 0) {
		text_cut(err, errlen, "cannot send the request to %s", host);
		goto out;
	}
	if ((resp = malloc(HEAD_MAX + STS_POLICY_MAX + 1)) == NULL) {
		text_cut(err, errlen, "out of memory");
		goto out;
	}
	if ((n = recv_all(s, fd, resp, HEAD_MAX + STS_POLICY_MAX + 1, deadline_ms, err, errlen))
	    < 0)
		goto out;
	rc = check_response(resp, (size_t)n, body, bodylen, err, errlen);
out:
	free(resp);
	if (s != NULL)
		gnutls_deinit(s);
	close(fd);
	return rc;
}

int
sts_https_get(struct dns_ctx *dns, const struct tlsmtp_config *cfg, const char *domain,
    int64_t deadline_ms, char **body, size_t *bodylen, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	struct nexthop nh;
	struct route_options ro;
	struct route_list route = { NULL, 0, 0, 0 };
	struct route_error re;
	char host[300], spec[320], why[256];
	int rc = -1;

	*body = NULL;
	*bodylen = 0;
	if (snprintf(host, sizeof(host), "mta-sts.%s", domain) >= 254) {
		text_cut(err, errlen, "policy host name too long");
		return -1;
	}
	snprintf(spec, sizeof(spec), "[%s]:%d", host, HTTPS_PORT);
	if (nexthop_parse(spec, &nh, why, sizeof(why)) != 0) {
		text_cut(err, errlen, "bad policy host %s: %s", host, why);
		return -1;
	}
	memset(&ro, 0, sizeof(ro));
	ro.port = HTTPS_PORT;
	ro.mx_address_limit = 2;
	ro.deadline_ms = deadline_ms;
	if (route_resolve(dns, &nh, &ro, &route, &re) != 0) {
		text_cut(err, errlen, "%s", re.text);
		return -1;
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		route_list_free(&route);
		text_cut(err, errlen, "out of memory");
		return -1;
	}
	if (load_trust(cred, cfg) <= 0)
		log_warn("MTA-STS: no CA certificates loaded to verify %s", host);
	for (size_t i = 0; i < route.count && rc != 0; i++) {
		if (now_ms() >= deadline_ms) {
			text_cut(err, errlen, "timeout fetching the policy from %s", host);
			break;
		}
		rc = fetch_from(cfg, cred, &route.addrs[i], host, deadline_ms, body, bodylen, err,
		    errlen);
	}
	gnutls_certificate_free_credentials(cred);
	route_list_free(&route);
	return rc;
}
