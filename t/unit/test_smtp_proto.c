/*
 * test_smtp_proto.c - the SMTP dialogue (smtp_attempt) against a scripted
 * plaintext peer on 127.0.0.1.
 *
 * A forked child listens on an ephemeral loopback port, plays a script
 * (greeting, then one reply per expected command), and records every byte
 * it receives, so each case checks both the outcome and what went over the
 * wire (nothing after a refused or stripped STARTTLS at a level that
 * requires TLS, no body after a 250 to DATA, exact pipelined replies, no
 * mail transaction in tlspolicy's probe mode...).
 * TLS handshakes themselves are covered by the integration scenarios.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* tls */
#include "tls_policy.h"
/* smtp */
#include "smtp.h"

#define F_BODY	1 /* after the reply, read a message body up to CRLF.CRLF */
#define F_CLOSE 2 /* close the connection after the reply */
#define F_DRIP	4 /* send the reply one byte every 300 ms */

struct step {
	const char *expect; /* command prefix (case-insensitive); NULL: greeting */
	const char *reply;  /* bytes to send, CRLFs included; NULL: none */
	int flags;
};

/* mkdtemp template: six trailing X characters */
static char tmpdir[] = "/tmp/test_smtp_proto."
		       "XX"
		       "XX"
		       "XX";
static char wire_path[300], cf_path[300], msg_path[300], log_path[300];
static const char *test_sender = "sender@example.org";

/* ------------------------------------------------------------------------
 * The scripted peer.
 */

static void
record(int fd, const char *buf, size_t len)
{
	if (write(fd, buf, len) < 0)
		_exit(3);
}

static void
send_reply(int c, const char *reply, int flags)
{
	size_t len = strlen(reply);

	if (!(flags & F_DRIP)) {
		if (write(c, reply, len) < 0)
			_exit(0);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (write(c, reply + i, 1) < 0)
			_exit(0);
		usleep(300000);
	}
}

/* Read one line into buf (CRLF kept); 0 at EOF. */
static size_t
read_line(int c, int rec, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		if (read(c, buf + n, 1) != 1)
			break;
		record(rec, buf + n, 1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return n;
}

static void
read_body(int c, int rec)
{
	char window[5] = { 0 }, ch;

	while (read(c, &ch, 1) == 1) {
		record(rec, &ch, 1);
		memmove(window, window + 1, 4);
		window[4] = ch;
		if (memcmp(window, "\r\n.\r\n", 5) == 0)
			return;
	}
}

static void
serve(int ls, const struct step *script)
{
	int c, rec;
	char line[4096], ch;

	alarm(20);
	if ((rec = open(wire_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		_exit(2);
	if ((c = accept(ls, NULL, NULL)) < 0)
		_exit(2);
	for (const struct step *st = script; st->reply != NULL || st->expect != NULL; st++) {
		if (st->expect != NULL) {
			if (read_line(c, rec, line, sizeof(line)) == 0)
				_exit(0);
			if (strncasecmp(line, st->expect, strlen(st->expect)) != 0)
				_exit(4);
		}
		if (st->reply != NULL)
			send_reply(c, st->reply, st->flags);
		if (st->flags & F_BODY)
			read_body(c, rec);
		if (st->flags & F_CLOSE)
			_exit(0);
	}
	/* Record whatever else the client sends until it closes. */
	while (read(c, &ch, 1) == 1)
		record(rec, &ch, 1);
	_exit(0);
}

static pid_t
start_server(const struct step *script, unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int ls;
	pid_t pid;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(ls >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	unlink(wire_path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		serve(ls, script);
	close(ls);
	return pid;
}

static void
stop_server(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* What the peer received, as a C string (NULs cannot occur in commands). */
static char wire[1 << 16];

static const char *
wire_bytes(void)
{
	FILE *fp = fopen(wire_path, "rb");
	size_t n = 0;

	if (fp != NULL) {
		n = fread(wire, 1, sizeof(wire) - 1, fp);
		fclose(fp);
	}
	wire[n] = '\0';
	return wire;
}

/* The agent's log since the last log_reset(). */
static char logtext[1 << 16];

static void
log_reset(void)
{
	assert_int_equal(truncate(log_path, 0), 0);
}

static const char *
log_text(void)
{
	FILE *fp = fopen(log_path, "rb");
	size_t n = 0;

	if (fp != NULL) {
		n = fread(logtext, 1, sizeof(logtext) - 1, fp);
		fclose(fp);
	}
	logtext[n] = '\0';
	return logtext;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* ------------------------------------------------------------------------
 * The client side: one smtp_attempt with a given level and overrides.
 */

struct run {
	enum attempt_status status;
	struct outcome out;
	int retry_plain;
	char summary[128];
	struct smtp_rcpt rcpts[4];
	size_t rcpt_count;
};

/* The server's name and the request's via for the next attempt() (NULL: defaults). */
static const char *attempt_host;
static const char *attempt_via;
static struct smtp_probe *attempt_probe; /* tlspolicy probe mode when set */

static void
attempt(const struct step *script, const char *const *overrides, size_t noverrides,
    const char *const *rcpts, const char *message, struct run *r)
{
	struct tlsmtp_config cfg;
	struct tls_effective eff;
	struct nexthop nh;
	struct route_addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	struct spool *msg;
	struct smtp_request req;
	char err[256];
	unsigned port;
	pid_t pid;
	FILE *fp;
	int fd;

	memset(r, 0, sizeof(*r));
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_load(&cfg, cf_path, (char *const *)overrides, noverrides, err,
			     sizeof(err)),
	    0);
	assert_int_equal(nexthop_parse("[mx.example.test]", &nh, err, sizeof(err)), 0);
	tls_policy_resolve(&cfg, NULL, &nh, &eff);

	fp = fopen(msg_path, "wb");
	assert_non_null(fp);
	fputs(message != NULL ? message : "Subject: test\n\nhello\n.leading dot\n", fp);
	fclose(fp);
	fd = open(msg_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(spool_read(fd, &msg, err, sizeof(err)), 0);
	close(fd);

	for (r->rcpt_count = 0; rcpts[r->rcpt_count] != NULL; r->rcpt_count++)
		r->rcpts[r->rcpt_count].addr = rcpts[r->rcpt_count];

	pid = start_server(script, &port);
	memset(&a, 0, sizeof(a));
	snprintf(a.host, sizeof(a.host), "%s",
	    attempt_host != NULL ? attempt_host : "mx.example.test");
	snprintf(a.addr, sizeof(a.addr), "127.0.0.1");
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.salen = sizeof(*sin);

	memset(&req, 0, sizeof(req));
	req.cfg = &cfg;
	req.nexthop = &nh;
	req.queue_id = "TESTQ";
	req.sender = test_sender;
	req.rcpts = r->rcpts;
	req.rcpt_count = r->rcpt_count;
	req.msg = msg;
	req.tls = &eff;
	req.deadline_ms = now_ms() + 15000;
	req.via = attempt_via;
	req.probe = attempt_probe;
	r->status =
	    smtp_attempt(&req, &a, 0, &r->out, &r->retry_plain, r->summary, sizeof(r->summary));
	/* Let the peer record the last bytes (QUIT) before it is stopped. */
	usleep(100000);
	stop_server(pid);
	spool_free(msg);
	tls_effective_free(&eff);
	config_free(&cfg);
}

#define GREETING                                         \
	{                                                \
		NULL, "220 mx.example.test ESMTP\r\n", 0 \
	}
#define EHLO_PLAIN                                                    \
	{                                                             \
		"EHLO ", "250-mx.example.test\r\n250 8BITMIME\r\n", 0 \
	}
#define EHLO_TLS                                                                          \
	{                                                                                 \
		"EHLO ", "250-mx.example.test\r\n250-STARTTLS\r\n250 SIZE 1000000\r\n", 0 \
	}
#define END                   \
	{                     \
		NULL, NULL, 0 \
	}

static const char *const one_rcpt[] = { "rcpt@example.test", NULL };
static const char *const level_none[] = { "smtp_tls_security_level=none" };
static const char *const level_may[] = { "smtp_tls_security_level=may" };
static const char *const level_encrypt[] = { "smtp_tls_security_level=encrypt" };

static void
test_plain_delivery(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:<sender@example.org>", "250 2.1.0 Ok\r\n", 0 },
		{ "RCPT TO:<rcpt@example.test>", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY },
		{ NULL, "250 2.0.0 Ok: queued as X1\r\n", 0 }, END };
	struct run r;
	const char *w;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_int_equal(r.out.exit_code, 0);
	assert_int_equal(r.rcpts[0].state, RCPT_DONE);
	assert_non_null(strstr(r.summary, "250 2.0.0 Ok: queued as X1"));
	assert_true(strlen(r.summary) < 100);
	w = wire_bytes();
	assert_non_null(strstr(w,
	    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<rcpt@example.test>\r\n"
	    "DATA\r\n"));
	/* Dot-stuffed body, one final dot, then QUIT. */
	assert_non_null(strstr(w, "\r\nhello\r\n..leading dot\r\n.\r\nQUIT\r\n"));
}

static void
test_none_never_starttls(void **state)
{
	static const struct step script[] = { GREETING, EHLO_TLS,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY }, { NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_null(strstr(wire_bytes(), "STARTTLS"));
	/* SIZE was advertised: the parameter goes with MAIL. */
	assert_non_null(strstr(wire_bytes(), "MAIL FROM:<sender@example.org> SIZE="));
}

static void
test_encrypt_not_offered(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN, END };
	struct run r;

	(void)state;
	attempt(script, level_encrypt, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.7.4");
	assert_string_equal(r.out.text,
	    "TLS is required, but was not offered by host mx.example.test[127.0.0.1]");
	assert_int_equal(r.out.exit_code, 75);
	assert_int_equal(r.rcpts[0].state, RCPT_SOFT);
	assert_null(strstr(wire_bytes(), "MAIL"));
}

static void
test_encrypt_starttls_refused(void **state)
{
	static const struct step script[] = { GREETING, EHLO_TLS,
		{ "STARTTLS", "554 5.7.0 not today\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_encrypt, 1, one_rcpt, NULL, &r);
	/* Stricter than Postfix: a plaintext 5xx can be forged, so defer. */
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.7.4");
	assert_non_null(strstr(r.out.text, "refused to start TLS: 554 5.7.0 not today"));
	assert_null(strstr(wire_bytes(), "MAIL"));
	assert_int_equal(r.retry_plain, 0);
}

static void
test_encrypt_ehlo_refused_no_helo(void **state)
{
	static const struct step script[] = { GREETING, { "EHLO ", "500 5.5.1 what\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_encrypt, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "4.7.4");
	assert_null(strstr(wire_bytes(), "HELO "));
}

static void
test_ehlo_odd_2xx_defers(void **state)
{
	static const struct step script[] = { GREETING, { "EHLO ", "221 2.0.0 bye\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_may, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.5.0");
	assert_null(strstr(wire_bytes(), "HELO "));
	assert_null(strstr(wire_bytes(), "MAIL"));
}

static void
test_may_helo_fallback(void **state)
{
	static const struct step script[] = { GREETING, { "EHLO ", "502 5.5.1 no ESMTP\r\n", 0 },
		{ "HELO ", "250 mx.example.test\r\n", 0 },
		{ "MAIL FROM:<sender@example.org>\r", "250 2.1.0 Ok\r\n", 0 },
		{ "RCPT TO:", "250 2.1.5 Ok\r\n", 0 }, { "DATA", "354 go ahead\r\n", F_BODY },
		{ NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_may, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
}

static void
test_may_starttls_refused_continues(void **state)
{
	static const struct step script[] = { GREETING, EHLO_TLS,
		{ "STARTTLS", "454 4.7.0 TLS not available\r\n", 0 },
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY }, { NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_may, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_non_null(strstr(r.summary, "no TLS"));
}

static void
test_starttls_response_injection(void **state)
{
	static const struct step script[] = { GREETING, EHLO_TLS,
		{ "STARTTLS", "220 2.0.0 go ahead\r\n250-evil\r\n250 PIPELINING\r\n", 0 }, END };
	struct run r;
	const char *w, *after;

	(void)state;
	attempt(script, level_may, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.7.5");
	/* "may": the caller may try again on a new plaintext connection. */
	assert_int_equal(r.retry_plain, 1);
	/* Nothing at all was sent after STARTTLS on this connection. */
	w = wire_bytes();
	after = strstr(w, "STARTTLS\r\n");
	assert_non_null(after);
	assert_string_equal(after, "STARTTLS\r\n");

	attempt(script, level_encrypt, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "4.7.5");
	assert_int_equal(r.retry_plain, 0);
}

static void
test_rcpt_mixed(void **state)
{
	/* One status for the batch: with any recipient refused, nobody gets DATA. */
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:<a@", "250 2.1.5 Ok\r\n", 0 },
		{ "RCPT TO:<b@", "550 5.1.1 <b@example.test>: no such user\r\n", 0 },
		{ "RCPT TO:<c@", "450 4.2.0 try later\r\n", 0 }, { "QUIT", "221 2.0.0 Bye\r\n", 0 },
		END };
	static const char *const rcpts[] = { "a@example.test", "b@example.test", "c@example.test",
		NULL };
	struct run r;

	(void)state;
	log_reset();
	attempt(script, level_none, 1, rcpts, NULL, &r);
	assert_int_equal(r.rcpts[0].state, RCPT_SOFT);
	assert_string_equal(r.rcpts[0].dsn, "4.1.1");
	assert_non_null(strstr(r.rcpts[0].reply, "not sent because <b@example.test> was refused"));
	assert_int_equal(r.rcpts[1].state, RCPT_HARD);
	assert_string_equal(r.rcpts[1].dsn, "5.1.1");
	assert_string_equal(r.rcpts[1].reply,
	    "host mx.example.test[127.0.0.1] said: 550 5.1.1 "
	    "<b@example.test>: no such user (in reply to RCPT TO command)");
	assert_int_equal(r.rcpts[2].state, RCPT_SOFT);
	assert_string_equal(r.rcpts[2].dsn, "4.2.0");
	/* Settled: another address must not deliver a subset either. */
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "4.1.1");
	assert_int_equal(r.out.exit_code, 75);
	assert_non_null(strstr(r.out.text,
	    "recipient <b@example.test> refused, so the message "
	    "was sent to nobody"));
	assert_null(strstr(wire_bytes(), "DATA"));
	/* The fix is named with the service name: once in the log, once in the output. */
	assert_non_null(strstr(r.out.text,
	    "(set tlsmtp_destination_recipient_limit = 1 for "
	    "per-recipient results)"));
	assert_int_equal(count_of(log_text(), "destination_recipient_limit"), 1);
	assert_non_null(strstr(log_text(),
	    "recipient <b@example.test> was refused, so the message "
	    "was sent to none of the 3 recipients of this batch and all are deferred"));
	assert_null(strstr(r.rcpts[0].reply, "destination_recipient_limit"));
	/* service_name names the master.cf entry. */
	log_reset();
	attempt(script,
	    (const char *const[]){ "smtp_tls_security_level=none", "service_name=relay-out" }, 2,
	    rcpts, NULL, &r);
	assert_non_null(strstr(r.out.text, "set relay-out_destination_recipient_limit = 1"));
	assert_non_null(strstr(log_text(),
	    "set relay-out_destination_recipient_limit = 1 in "
	    "main.cf"));
}

static void
test_all_rcpts_refused(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 },
		{ "RCPT TO:", "550 5.1.1 no such user\r\n", 0 }, { "QUIT", "221 bye\r\n", 0 },
		END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "5.1.1");
	assert_int_equal(r.out.exit_code, 67);
	assert_null(strstr(wire_bytes(), "DATA"));
}

static void
test_data_250_no_body(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "250 2.0.0 Ok\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.5.0");
	assert_null(strstr(wire_bytes(), "hello"));
}

static void
test_dot_unanswered(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY | F_CLOSE }, END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.4.2");
	assert_string_equal(r.out.text,
	    "lost connection with mx.example.test[127.0.0.1] while "
	    "sending end of data -- message may be sent more than once");
}

static void
test_dot_refused(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY }, { NULL, "554 5.7.1 spam\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "5.7.1");
	assert_string_equal(r.out.text,
	    "host mx.example.test[127.0.0.1] said: 554 5.7.1 spam "
	    "(in reply to end of DATA command)");
}

static void
test_greeting_5xx_is_soft(void **state)
{
	static const struct step script[] = { { NULL, "554 5.7.1 go away\r\n", 0 }, END };
	static const char *const noskip[] = { "smtp_tls_security_level=none",
		"smtp_skip_5xx_greeting=no" };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.7.1");
	assert_string_equal(r.out.text,
	    "host mx.example.test[127.0.0.1] refused to talk to me: 554 5.7.1 go away");
	attempt(script, noskip, 2, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "5.7.1");
}

static void
test_malformed_replies_defer(void **state)
{
	static const struct step mismatch[] = { { NULL, "220-a\r\n550 b\r\n", 0 }, END };
	static const struct step badcode[] = { GREETING, { "EHLO ", "250-mx\r\n2500 x\r\n", 0 },
		END };
	struct run r;

	(void)state;
	attempt(mismatch, level_none, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "4.5.0");
	assert_int_equal(r.out.exit_code, 75);
	attempt(badcode, level_none, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "4.5.0");
	assert_non_null(strstr(r.out.text, "malformed reply"));
}

static void
test_size_limit(void **state)
{
	static const struct step script[] = { GREETING, { "EHLO ", "250-mx\r\n250 SIZE 10\r\n", 0 },
		{ "QUIT", "221 bye\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "5.3.4");
	assert_null(strstr(wire_bytes(), "MAIL"));
}

static void
test_pipelining(void **state)
{
	static const struct step script[] = { GREETING,
		{ "EHLO ", "250-mx\r\n250 PIPELINING\r\n", 0 },
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:<a@", "250 2.1.5 Ok\r\n", 0 },
		{ "RCPT TO:<b@", "250 2.1.5 Ok\r\n", 0 }, { "DATA", "354 go ahead\r\n", F_BODY },
		{ NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	static const struct step surplus[] = { GREETING,
		{ "EHLO ", "250-mx\r\n250 PIPELINING\r\n", 0 },
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 },
		{ "RCPT TO:<a@", "250 2.1.5 Ok\r\n250 2.1.5 again\r\n", 0 },
		{ "RCPT TO:<b@", "250 2.1.5 Ok\r\n", 0 }, { "DATA", "354 go ahead\r\n", 0 }, END };
	static const char *const rcpts[] = { "a@example.test", "b@example.test", NULL };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, rcpts, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_int_equal(r.rcpts[1].state, RCPT_DONE);
	/* One reply too many: never a success, no body. */
	attempt(surplus, level_none, 1, rcpts, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.5.0");
	assert_null(strstr(wire_bytes(), "hello"));
}

static void
test_surplus_reply_lockstep(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n250 2.1.5 forged rcpt reply\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(script, level_none, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "4.5.0");
	assert_null(strstr(wire_bytes(), "DATA"));
}

static void
test_dripping_greeting_times_out(void **state)
{
	static const struct step script[] = {
		{ NULL, "220 mx.example.test slowly but surely\r\n", F_DRIP }, END
	};
	static const char *const quick[] = { "smtp_tls_security_level=none",
		"smtp_helo_timeout=1s" };
	struct run r;
	int64_t start = now_ms();

	(void)state;
	attempt(script, quick, 2, one_rcpt, NULL, &r);
	assert_true(now_ms() - start < 4000);
	assert_string_equal(r.out.dsn, "4.4.2");
	assert_string_equal(r.out.text,
	    "conversation with mx.example.test[127.0.0.1] timed out "
	    "while receiving the initial server greeting");
}

static void
test_dane_fails_closed(void **state)
{
	static const struct step script[] = { GREETING, END };
	static const char *const dane[] = { "smtp_tls_security_level=dane-only" };
	struct run r;

	(void)state;
	/* dane-only and an address that was not DNSSEC-validated: no connection. */
	attempt(script, dane, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.7.5");
	assert_string_equal(r.out.text, "non DNSSEC destination");
	assert_string_equal(wire_bytes(), "");
}

/*
 * RFC 1870: SIZE= is the message with CRLF line ends, without stuffing
 * dots ("Subject: test", "", "hello", ".leading dot": 30 + 4 * 2 = 38).
 * A limit equal to the size is sent; one octet less bounces as Postfix.
 */
static void
test_size_exact(void **state)
{
	static const struct step fits[] = { GREETING, { "EHLO ", "250-mx\r\n250 SIZE 38\r\n", 0 },
		{ "MAIL FROM:<sender@example.org> SIZE=38\r\n", "250 2.1.0 Ok\r\n", 0 },
		{ "RCPT TO:", "250 2.1.5 Ok\r\n", 0 }, { "DATA", "354 go ahead\r\n", F_BODY },
		{ NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	static const struct step over[] = { GREETING, { "EHLO ", "250-mx\r\n250 SIZE 37\r\n", 0 },
		{ "QUIT", "221 bye\r\n", 0 }, END };
	struct run r;

	(void)state;
	attempt(fits, level_none, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_non_null(strstr(wire_bytes(), "MAIL FROM:<sender@example.org> SIZE=38\r\n"));
	attempt(over, level_none, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "5.3.4");
	assert_string_equal(r.out.text,
	    "message size 38 exceeds size limit 37 of server "
	    "mx.example.test[127.0.0.1]");
	assert_null(strstr(wire_bytes(), "MAIL"));
}

/* Issue 9: 69- and 900-octet local parts go out whole, in both forms. */
static void
test_long_addresses(void **state)
{
	static const struct step lockstep[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:<", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:<", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY }, { NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	static const struct step pipelined[] = { GREETING,
		{ "EHLO ", "250-mx\r\n250 PIPELINING\r\n", 0 },
		{ "MAIL FROM:<", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:<", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY }, { NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	char sender[100], rcpt[1000], want[1200];
	const char *rcpts[] = { rcpt, NULL };
	struct run r;

	(void)state;
	memset(sender, 's', 69);
	strcpy(sender + 69, "@example.org");
	memset(rcpt, 'r', 900);
	strcpy(rcpt + 900, "@example.test");
	test_sender = sender;
	snprintf(want, sizeof(want), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", sender, rcpt);
	attempt(lockstep, level_none, 1, rcpts, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_non_null(strstr(wire_bytes(), want));
	attempt(pipelined, level_none, 1, rcpts, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_non_null(strstr(wire_bytes(), want));
	test_sender = "sender@example.org";
}

/*
 * The loop check is Postfix's: port 25 only.  On any other port a server
 * with our own name (a content filter on this host) is delivered to.
 */
static void
test_own_name_other_port(void **state)
{
	static const struct step script[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY }, { NULL, "250 2.0.0 Ok\r\n", 0 }, END };
	static const char *const same_name[] = { "smtp_tls_security_level=none",
		"myhostname=MX.example.test" };
	struct run r;

	(void)state;
	log_reset();
	attempt(script, same_name, 2, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_null(strstr(log_text(), "my own hostname"));
}

static int
setup(void **state)
{
	FILE *fp;

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(wire_path, sizeof(wire_path), "%s/wire", tmpdir);
	snprintf(cf_path, sizeof(cf_path), "%s/tlsmtp.conf", tmpdir);
	snprintf(msg_path, sizeof(msg_path), "%s/message", tmpdir);
	if ((fp = fopen(cf_path, "w")) == NULL)
		return -1;
	fprintf(fp, "smtp_helo_name = client.example.org\n");
	fclose(fp);
	snprintf(log_path, sizeof(log_path), "%s/maillog", tmpdir);
	log_open(log_path, "TESTQ", 1);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_close();
	unlink(wire_path);
	unlink(cf_path);
	unlink(msg_path);
	unlink(log_path);
	rmdir(tmpdir);
	return 0;
}

/*
 * The success line: where the mail went and how survive any reply and
 * host name; only the host name, then the reply's tail, give way.
 */
static void
test_success_summary(void **state)
{
	static const struct step short_reply[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY },
		{ NULL, "250 2.0.0 Ok: queued as 4XQID01\r\n", 0 }, END };
	static const struct step long_reply[] = { GREETING, EHLO_PLAIN,
		{ "MAIL FROM:", "250 2.1.0 Ok\r\n", 0 }, { "RCPT TO:", "250 2.1.5 Ok\r\n", 0 },
		{ "DATA", "354 go ahead\r\n", F_BODY },
		{ NULL,
		    "250 2.0.0 Ok: queued as 4XQID0123456789 and a very long tail of text that "
		    "goes on and on\r\n",
		    0 },
		END };
	static const char tail[] = " via relay-domain.example:2525, no TLS)";
	char longhost[201];
	struct run r;
	const char *p;

	(void)state;
	/* Everything fits. */
	attempt(short_reply, level_none, 1, one_rcpt, NULL, &r);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_non_null((p = strstr(r.summary,
			     "250 2.0.0 Ok: queued as 4XQID01 "
			     "(mx.example.test[127.0.0.1]:")));
	assert_int_equal(p - r.summary, 0);
	assert_string_equal(r.summary + strlen(r.summary) - 9, ", no TLS)");

	/* A long reply: the host name goes first, the address and port stay. */
	attempt(long_reply, level_none, 1, one_rcpt, NULL, &r);
	assert_true(strlen(r.summary) < 100);
	assert_non_null(strstr(r.summary, "250 2.0.0 Ok: queued as 4XQID0123456789 and a "));
	assert_non_null(strstr(r.summary, " ([127.0.0.1]:"));
	assert_string_equal(r.summary + strlen(r.summary) - 9, ", no TLS)");

	/* And a long host name and a destination: the reply's tail gives way too. */
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	attempt_host = longhost;
	attempt_via = "relay-domain.example:2525";
	attempt(long_reply, level_none, 1, one_rcpt, NULL, &r);
	attempt_host = attempt_via = NULL;
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_true(strlen(r.summary) < 100);
	assert_null(strstr(r.summary, "hhh"));
	assert_non_null(strstr(r.summary, "250 2.0.0 Ok: queued as 4XQID"));
	assert_non_null((p = strstr(r.summary, " ([127.0.0.1]:")));
	assert_true(p - r.summary >= 30);
	assert_true(strlen(p) > strlen(tail));
	assert_string_equal(p + strlen(p) - strlen(tail), tail);
}

/* tlspolicy probe: the session up to where MAIL would go, then QUIT. */
static void
test_probe_stops_before_mail(void **state)
{
	static const struct step plain[] = { GREETING, EHLO_PLAIN, END };
	struct smtp_probe probe;
	struct run r;
	const char *w;

	(void)state;
	memset(&probe, 0, sizeof(probe));
	attempt_probe = &probe;
	attempt(plain, level_may, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_SETTLED);
	assert_string_equal(r.out.dsn, "2.0.0");
	assert_int_equal(r.rcpts[0].state, RCPT_DONE);
	assert_non_null(strstr(r.summary, "no TLS"));
	assert_int_equal(probe.tls_active, 0);
	assert_int_equal(probe.chain_count, 0);
	assert_int_equal(probe.dane, 0);
	w = wire_bytes();
	assert_non_null(strstr(w, "EHLO "));
	assert_non_null(strstr(w, "\r\nQUIT\r\n"));
	assert_null(strstr(w, "MAIL"));
	assert_null(strstr(w, "RCPT"));

	/* A failure is the delivery's own, with the recipient soft. */
	attempt(plain, level_encrypt, 1, one_rcpt, NULL, &r);
	assert_int_equal(r.status, ATTEMPT_TRY_NEXT);
	assert_string_equal(r.out.dsn, "4.7.4");
	assert_int_equal(r.rcpts[0].state, RCPT_SOFT);
	assert_null(strstr(wire_bytes(), "MAIL"));
	smtp_probe_free(&probe);
	attempt_probe = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_delivery),
		cmocka_unit_test(test_none_never_starttls),
		cmocka_unit_test(test_encrypt_not_offered),
		cmocka_unit_test(test_encrypt_starttls_refused),
		cmocka_unit_test(test_encrypt_ehlo_refused_no_helo),
		cmocka_unit_test(test_ehlo_odd_2xx_defers),
		cmocka_unit_test(test_may_helo_fallback),
		cmocka_unit_test(test_may_starttls_refused_continues),
		cmocka_unit_test(test_starttls_response_injection),
		cmocka_unit_test(test_rcpt_mixed),
		cmocka_unit_test(test_all_rcpts_refused),
		cmocka_unit_test(test_data_250_no_body),
		cmocka_unit_test(test_dot_unanswered),
		cmocka_unit_test(test_dot_refused),
		cmocka_unit_test(test_greeting_5xx_is_soft),
		cmocka_unit_test(test_malformed_replies_defer),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_size_exact),
		cmocka_unit_test(test_long_addresses),
		cmocka_unit_test(test_own_name_other_port),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_surplus_reply_lockstep),
		cmocka_unit_test(test_dripping_greeting_times_out),
		cmocka_unit_test(test_dane_fails_closed),
		cmocka_unit_test(test_success_summary),
		cmocka_unit_test(test_probe_stops_before_mail),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
