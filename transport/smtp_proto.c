/*
 * smtp_proto.c - one SMTP session with one address (smtp_attempt).
 *
 * Greeting, EHLO (HELO only when TLS is not required), STARTTLS as the
 * effective level asks (or TLS before the greeting with
 * smtp_tls_wrappermode), EHLO again inside TLS with everything learnt in
 * plaintext forgotten, AUTH when smtp_sasl_auth_enable asks for it
 * (smtp_sasl.c does the rest), then MAIL, RCPT per recipient, DATA, the body from
 * the spool encoder in large writes, the final dot and QUIT.  When the
 * server advertises PIPELINING, MAIL, RCPT and DATA go out in one write and
 * the replies are counted exactly (RFC 2920); otherwise one command at a
 * time, and a reply followed by unsolicited data is a protocol error.
 *
 * Security rules enforced here (docs/security-cases.md, sections 1 and 6):
 *  - level none never sends STARTTLS; may continues in plaintext only after
 *    a clean 4xx/5xx refusal on the same connection, and after a failed
 *    handshake asks the caller for a NEW plaintext connection
 *    (*retry_plain); levels that require TLS defer on any reply but 220,
 *    including a 5xx that a man in the middle could forge.
 *  - nothing is pipelined behind STARTTLS; any byte already received after
 *    the 220 (response injection) aborts the session.
 *  - after a failed verification nothing but the connection close follows
 *    (QUIT inside TLS at most).
 *
 * tlspolicy probe (req->probe, smtp.h) runs this same session and stops
 * where MAIL FROM would follow: QUIT, no transaction.
 *
 * Mail loops, as Postfix's smtp(8) finds them: on port 25 only, a server
 * whose EHLO reply names it after our myhostname is this host (or its
 * twin) and the mail would come straight back: 5.4.6 "mail for NEXTHOP
 * loops back to myself" from a best-preference address, else 4.4.6 so
 * that a better MX may still be tried.  A greeting with our name is only
 * logged.  Other ports are left alone: a content filter or relay on this
 * host often greets with this host's name.
 *
 * Results: each recipient gets a state, a DSN and a Postfix-style text
 * ("host H[A] said: 550 5.1.1 ... (in reply to RCPT TO command)");
 * the attempt's outcome follows from the recipients: delivered when all
 * are done, permanent when all were refused permanently, otherwise a
 * deferral (a recipient still soft makes the caller try the next address).
 *
 * Interface: smtp.h.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "reply.h"
#include "smtp_connect.h"
#include "stream.h"
/* tls */
#include "dane.h"
#include "tls_policy.h"
#include "tls_scache.h"
#include "tls_session.h"
#include "tls_verify.h"
/* smtp */
#include "conn_cache.h"
#include "smtp.h"
#include "smtp_sasl.h"

#define BODY_CHUNK	   65536	       /* bytes per body write: large TLS records */
#define QUIT_WAIT_S	   2		       /* QUIT after a failure: do not linger */
#define EARLY_REPLY_WAIT_S 2		       /* a reply sent while we wrote the body */
#define CMD_MAX		   (ADDRESS_MAX + 256) /* MAIL FROM:<address> and parameters */
#define SMTP_PORT	   25		       /* the only port with a mail loop check */
#define SMTPS_PORT	   465		       /* RFC 8314 implicit TLS: smtp_tls_wrappermode */
#define SUMMARY_LIMIT	   99		       /* pipe(8) logs the first 100 characters */
#define SUMMARY_REPLY_MAX  60 /* the server's 250 text in the success line, at most */
#define SUMMARY_REPLY_MIN  30 /* ... and at least, before the destination gives way */

#define STAGE_GREETING "receiving the initial server greeting"
#define STAGE_EHLO     "performing the EHLO handshake"
#define STAGE_HELO     "performing the HELO handshake"
#define STAGE_STARTTLS "sending STARTTLS"
#define STAGE_MAIL     "sending MAIL FROM"
#define STAGE_RCPT     "sending RCPT TO"
#define STAGE_DATA     "sending DATA command"
#define STAGE_BODY     "sending message body"
#define STAGE_DOT      "sending end of data -- message may be sent more than once"
#define STAGE_RSET     "sending RSET on a reused connection"

struct session {
	struct smtp_request *req;
	const struct route_addr *addr;
	struct stream *stream;
	enum tls_level level;		 /* effective for this attempt */
	char namaddr[ROUTE_NAMADDR_MAX]; /* "host[addr]" */
	char label[ROUTE_LABEL_MAX];	 /* "host[addr]:port" */
	struct ehlo_features feat;
	int tls_active;
	struct tls_info tls;
	struct outcome *out;
	char line[REPLY_LINE_MAX + 2];
	struct smtp_reply reply;	   /* last reply read */
	int expect_more;		   /* more pipelined replies are due */
	int in_data;			   /* the server may be reading a body: no QUIT */
	const struct smtp_rcpt *held_back; /* refused recipient that stopped DATA */
	struct dane_session *dane;	   /* dane levels: TLSA state of this attempt */
	struct sasl_session *sasl;	   /* smtp_sasl_auth_enable: AUTH (smtp_sasl.c) */
	int use_sts;			   /* req->sts decides this attempt (MTA-STS) */
	int io_lost;			   /* the connection broke or timed out */
};

/* ------------------------------------------------------------------------
 * Recipient bookkeeping.
 */

/* Every open recipient (PENDING or ACCEPTED) moves to state "to". */
static void
settle_open_rcpts(struct session *ss, enum rcpt_state to, const char *dsn, const char *text)
{
	for (size_t i = 0; i < ss->req->rcpt_count; i++) {
		struct smtp_rcpt *r = &ss->req->rcpts[i];

		if (r->state != RCPT_PENDING && r->state != RCPT_ACCEPTED)
			continue;
		r->state = to;
		snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
		snprintf(r->reply, sizeof(r->reply), "%s", text);
	}
}

/* A session-level failure: the outcome, and every open recipient is soft. */
static void fail_soft(struct session *ss, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_soft(struct session *ss, const char *dsn, const char *fmt, ...)
{
	char text[sizeof(ss->out->text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	outcome_set(ss->out, dsn, "%s", text);
	settle_open_rcpts(ss, RCPT_SOFT, dsn, text);
}

/* "host H[A] said: <reply> (in reply to <what>)" for the last reply. */
static void
server_said(struct session *ss, const char *what, char *dsn, size_t dsnlen, char *text,
    size_t textlen)
{
	char raw[OUTCOME_TEXT_MAX], quoted[OUTCOME_TEXT_MAX];

	reply_quote(&ss->reply, raw, sizeof(raw));
	outcome_quote_text(raw, strlen(raw), quoted, sizeof(quoted));
	reply_dsn(&ss->reply, dsn, dsnlen);
	text_cut(text, textlen, "host %s said: %s (in reply to %s)", ss->namaddr, quoted, what);
}

/* ------------------------------------------------------------------------
 * I/O with Postfix's error wording.
 */

static void
io_failed(struct session *ss, enum stream_io st, const char *stage)
{
	ss->io_lost = 1;
	if (st == STREAM_TIMEOUT)
		fail_soft(ss, "4.4.2", "conversation with %s timed out while %s", ss->namaddr,
		    stage);
	else if (st == STREAM_TOOLONG)
		fail_soft(ss, "4.5.0", "protocol error: reply line too long from %s while %s",
		    ss->namaddr, stage);
	else
		fail_soft(ss, "4.4.2", "lost connection with %s while %s", ss->namaddr, stage);
}

/* One command line; -v logs shown instead when it is not NULL (a credential). */
static int
send_line(struct session *ss, int timeout_s, const char *stage, const char *line, const char *shown)
{
	char cmd[CMD_MAX + 3];
	size_t n = strlen(line);
	enum stream_io st;

	if (n >= CMD_MAX) {
		fail_soft(ss, "4.3.0", "command too long while %s", stage);
		return -1;
	}
	log_verbose("> %s: %s", ss->namaddr, shown != NULL ? shown : line);
	memcpy(cmd, line, n);
	memcpy(cmd + n, "\r\n", 3);
	st = stream_write(ss->stream, cmd, n + 2, timeout_s, ss->req->deadline_ms);
	explicit_bzero(cmd, n);
	if (st != STREAM_OK) {
		io_failed(ss, st, stage);
		return -1;
	}
	return 0;
}

static int send_command(struct session *ss, int timeout_s, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
send_command(struct session *ss, int timeout_s, const char *stage, const char *fmt, ...)
{
	char cmd[CMD_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, CMD_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= CMD_MAX) {
		fail_soft(ss, "4.3.0", "command too long while %s", stage);
		return -1;
	}
	return send_line(ss, timeout_s, stage, cmd, NULL);
}

/*
 * After a reply, nothing more may be waiting unless more pipelined replies
 * are due: a surplus reply would be taken as the answer to the next command.
 * The reply to the final dot is exempt (the message is accepted by then),
 * and so is the 220 to STARTTLS, which has its own, stricter check.
 */
static int
check_surplus(struct session *ss, const char *stage)
{
	if (ss->expect_more || strcmp(stage, STAGE_DOT) == 0 || strcmp(stage, STAGE_STARTTLS) == 0
	    || stream_pending(ss->stream) == 0)
		return 0;
	fail_soft(ss, "4.5.0", "protocol error: unexpected data after the reply from %s while %s",
	    ss->namaddr, stage);
	return -1;
}

/* Read one complete reply under one deadline for the whole reply. */
static int
read_reply(struct session *ss, int timeout_s, const char *stage)
{
	int64_t deadline = stage_deadline(timeout_s, ss->req->deadline_ms);
	enum stream_io st;
	enum reply_status rs;
	size_t len;
	char shown[256];

	reply_init(&ss->reply);
	for (;;) {
		st = stream_read_line(ss->stream, ss->line, sizeof(ss->line), &len, deadline);
		if (st != STREAM_OK) {
			io_failed(ss, st, stage);
			return -1;
		}
		/* A server that echoes our credentials gets them neither logged nor quoted. */
		if (sasl_redact(ss->sasl, ss->line) > 0)
			len = strlen(ss->line);
		log_verbose("< %s: %s", ss->namaddr,
		    outcome_quote_text(ss->line, len, shown, sizeof(shown)));
		rs = reply_feed(&ss->reply, ss->line, len);
		if (rs == REPLY_DONE)
			return check_surplus(ss, stage);
		if (rs != REPLY_MORE) {
			fail_soft(ss, "4.5.0", "protocol error: %s from %s while %s",
			    reply_status_text(rs), ss->namaddr, stage);
			return -1;
		}
	}
}

static int
command(struct session *ss, int timeout_s, const char *stage, const char *cmd)
{
	if (send_command(ss, timeout_s, stage, "%s", cmd) != 0)
		return -1;
	return read_reply(ss, timeout_s, stage);
}

/* QUIT without waiting for its reply (Postfix's smtp_skip_quit_response). */
static void
send_quit(struct session *ss)
{
	enum stream_io st;

	log_verbose("> %s: QUIT", ss->namaddr);
	st = stream_write(ss->stream, "QUIT\r\n", 6, QUIT_WAIT_S, ss->req->deadline_ms);
	if (st == STREAM_OK && ss->tls_active)
		stream_tls_bye(ss->stream, stage_deadline(QUIT_WAIT_S, ss->req->deadline_ms));
}

/* ------------------------------------------------------------------------
 * Greeting, EHLO/HELO, STARTTLS.
 */

static int
loop_check_applies(const struct session *ss)
{
	const char *me = ss->req->cfg->myhostname;

	return route_addr_port(ss->addr) == SMTP_PORT && me != NULL && me[0] != '\0';
}

/* An EHLO reply that names this host: the loop is the attempt's outcome. */
static int
ehlo_loop(struct session *ss)
{
	const char *me = ss->req->cfg->myhostname;
	char text[512];

	if (!loop_check_applies(ss) || !reply_names_host(&ss->reply, me))
		return 0;
	log_warn("host %s replied to HELO/EHLO with my own hostname %s", ss->label, me);
	send_quit(ss);
	text_cut(text, sizeof(text), "mail for %s loops back to myself", ss->req->nexthop->key);
	if (ss->addr->pref == ss->req->best_pref) {
		outcome_set(ss->out, "5.4.6", "%s", text);
		settle_open_rcpts(ss, RCPT_HARD, "5.4.6", text);
	} else {
		fail_soft(ss, "4.4.6", "%s", text);
	}
	return 1;
}

static int
greeting(struct session *ss)
{
	char dsn[OUTCOME_DSN_MAX], raw[OUTCOME_TEXT_MAX], quoted[OUTCOME_TEXT_MAX];
	const struct tlsmtp_config *cfg = ss->req->cfg;

	if (read_reply(ss, cfg->helo_timeout, STAGE_GREETING) != 0)
		return -1;
	if (ss->reply.code == 220) {
		if (loop_check_applies(ss) && reply_names_host(&ss->reply, cfg->myhostname))
			log_warn("host %s greeted me with my own hostname %s", ss->label,
			    cfg->myhostname);
		return 0;
	}
	reply_quote(&ss->reply, raw, sizeof(raw));
	outcome_quote_text(raw, strlen(raw), quoted, sizeof(quoted));
	reply_dsn(&ss->reply, dsn, sizeof(dsn));
	if (ss->reply.code / 100 == 5 && !cfg->skip_5xx_greeting) {
		char text[sizeof(ss->out->text)];

		text_cut(text, sizeof(text), "host %s refused to talk to me: %s", ss->namaddr,
		    quoted);
		outcome_set(ss->out, dsn, "%s", text);
		settle_open_rcpts(ss, RCPT_HARD, dsn, text);
		return -1;
	}
	if (ss->reply.code / 100 != 4 && ss->reply.code / 100 != 5)
		snprintf(dsn, sizeof(dsn), "4.5.0");
	dsn[0] = '4';
	fail_soft(ss, dsn, "host %s refused to talk to me: %s", ss->namaddr, quoted);
	return -1;
}

/*
 * EHLO, or HELO after a 5xx to EHLO when that cannot drop a TLS
 * requirement.  Forgets every feature learnt before.
 */
static int
hello(struct session *ss)
{
	const struct tlsmtp_config *cfg = ss->req->cfg;
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];
	const char *helo =
	    cfg->helo_name != NULL && *cfg->helo_name != '\0' ? cfg->helo_name : cfg->myhostname;

	memset(&ss->feat, 0, sizeof(ss->feat));
	sasl_ehlo(ss->sasl, NULL);
	if (send_command(ss, cfg->helo_timeout, STAGE_EHLO, "EHLO %s", helo) != 0
	    || read_reply(ss, cfg->helo_timeout, STAGE_EHLO) != 0)
		return -1;
	/* Only 250 accepts EHLO; 220, 221 and the like are protocol errors. */
	if (ss->reply.code == 250) {
		if (ehlo_loop(ss))
			return -1;
		reply_ehlo_features(&ss->reply, &ss->feat);
		sasl_ehlo(ss->sasl, &ss->reply);
		return 0;
	}
	if (ss->reply.code / 100 == 5) {
		if (TLS_LEVEL_REQUIRES_TLS(ss->level) && !ss->tls_active) {
			fail_soft(ss, "4.7.4", "TLS is required, but was not offered by host %s",
			    ss->namaddr);
			return -1;
		}
		if (send_command(ss, cfg->helo_timeout, STAGE_HELO, "HELO %s", helo) != 0
		    || read_reply(ss, cfg->helo_timeout, STAGE_HELO) != 0)
			return -1;
		if (ss->reply.code == 250)
			return 0;
		server_said(ss, "HELO command", dsn, sizeof(dsn), text, sizeof(text));
	} else {
		server_said(ss, "EHLO command", dsn, sizeof(dsn), text, sizeof(text));
	}
	if (ss->reply.code / 100 != 4 && ss->reply.code / 100 != 5)
		snprintf(dsn, sizeof(dsn), "4.5.0");
	dsn[0] = '4';
	fail_soft(ss, dsn, "%s", text);
	return -1;
}

enum tls_step { TLS_STEP_OK, TLS_STEP_PLAIN, TLS_STEP_FAILED };

/* What the TLS layer needs of this session (tls_session.h). */
static const struct tls_start_props *
tls_props(const struct session *ss, struct tls_start_props *props)
{
	memset(props, 0, sizeof(*props));
	props->cfg = ss->req->cfg;
	props->policy = ss->use_sts ? ss->req->sts : ss->req->tls;
	props->dane = ss->dane;
	props->nexthop = ss->req->nexthop;
	props->host = ss->addr->host;
	props->addr = ss->addr->addr;
	props->port = route_addr_port(ss->addr);
	props->peer_label = ss->label;
	props->deadline_ms = ss->req->deadline_ms;
	return props;
}

/*
 * "may": after a failed handshake a new plaintext connection may follow,
 * except in wrapper mode and once SASL credentials apply to this server
 * (as Postfix: credentials never go out where TLS was tried and failed).
 */
static int
may_retry_plain(struct session *ss)
{
	return ss->level == TLS_LEVEL_MAY && !ss->req->cfg->tls_wrappermode
	    && (ss->sasl == NULL || sasl_credentials(ss->sasl) == 0);
}

/* The handshake and the peer check, after the 220 to STARTTLS or at once (wrapper mode). */
static enum tls_step
begin_tls(struct session *ss, int *retry_plain)
{
	struct tls_start_props props;

	switch (tls_session_start(ss->stream, tls_props(ss, &props), &ss->tls)) {
	case TLS_START_OK:
		ss->tls_active = 1;
		return TLS_STEP_OK;
	case TLS_START_CONFIG:
		*retry_plain = may_retry_plain(ss);
		fail_soft(ss, "4.7.5", "client TLS configuration problem");
		return TLS_STEP_FAILED;
	case TLS_START_HANDSHAKE:
		*retry_plain = may_retry_plain(ss);
		fail_soft(ss, "4.7.5", "Cannot start TLS: handshake failure");
		return TLS_STEP_FAILED;
	case TLS_START_NOT_VERIFIED:
		ss->tls_active = 1;
		send_quit(ss);
		fail_soft(ss, "4.7.5", "Server certificate not verified");
		return TLS_STEP_FAILED;
	}
	return TLS_STEP_FAILED;
}

static enum tls_step
starttls(struct session *ss, int *retry_plain)
{
	const struct tlsmtp_config *cfg = ss->req->cfg;
	int may = ss->level == TLS_LEVEL_MAY;
	char raw[OUTCOME_TEXT_MAX], quoted[OUTCOME_TEXT_MAX];
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];

	if (command(ss, cfg->starttls_timeout, STAGE_STARTTLS, "STARTTLS") != 0)
		return TLS_STEP_FAILED;
	if (ss->reply.code != 220) {
		int cls = ss->reply.code / 100;

		if (may && (cls == 4 || cls == 5) && ss->reply.code != 421) {
			reply_quote(&ss->reply, raw, sizeof(raw));
			log_info("%s: STARTTLS refused, continuing without TLS: %s", ss->namaddr,
			    outcome_quote_text(raw, strlen(raw), quoted, sizeof(quoted)));
			return TLS_STEP_PLAIN;
		}
		if (!may) {
			reply_quote(&ss->reply, raw, sizeof(raw));
			outcome_quote_text(raw, strlen(raw), quoted, sizeof(quoted));
			send_quit(ss);
			fail_soft(ss, "4.7.4",
			    "TLS is required, but host %s refused to start TLS: %s", ss->namaddr,
			    quoted);
			return TLS_STEP_FAILED;
		}
		server_said(ss, "STARTTLS command", dsn, sizeof(dsn), text, sizeof(text));
		if (cls != 4 && cls != 5)
			snprintf(dsn, sizeof(dsn), "4.5.0");
		dsn[0] = '4';
		fail_soft(ss, dsn, "%s", text);
		return TLS_STEP_FAILED;
	}
	/* Response injection: nothing may follow the 220 before the handshake. */
	if (stream_unread_input(ss->stream)) {
		log_warn("%s: unexpected data after the 220 reply to STARTTLS; "
			 "possible response injection: closing the connection",
		    ss->namaddr);
		*retry_plain = may_retry_plain(ss);
		fail_soft(ss, "4.7.5",
		    "Cannot start TLS: unexpected data from host %s after STARTTLS", ss->namaddr);
		return TLS_STEP_FAILED;
	}
	return begin_tls(ss, retry_plain);
}

/* SMTP AUTH after the final EHLO, when smtp_sasl_auth_enable = yes (smtp_sasl.c). */
static int
sasl_exchange(void *ctx, const char *line, const char *shown, const struct smtp_reply **reply)
{
	struct session *ss = ctx;
	int timeout = ss->req->cfg->helo_timeout;

	/* Postfix's stage for AUTH is the EHLO handshake it ends. */
	if (send_line(ss, timeout, STAGE_EHLO, line, shown) != 0
	    || read_reply(ss, timeout, STAGE_EHLO) != 0)
		return -1;
	*reply = &ss->reply;
	return 0;
}

static int
authenticate(struct session *ss)
{
	struct sasl_io io = { sasl_exchange, ss };
	enum sasl_channel channel = !ss->tls_active ? SASL_CHANNEL_PLAIN
	    : ss->tls.status == TLS_PEER_VERIFIED   ? SASL_CHANNEL_TLS_VERIFIED
						    : SASL_CHANNEL_TLS;
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];

	switch (sasl_login(ss->sasl, channel, &io, dsn, sizeof(dsn), text, sizeof(text))) {
	case SASL_RESULT_OK:
		return 0;
	case SASL_RESULT_IO:
		return -1;
	case SASL_RESULT_FAILED:
		break;
	}
	if (dsn[0] == '5') {
		outcome_set(ss->out, dsn, "%s", text);
		settle_open_rcpts(ss, RCPT_HARD, dsn, text);
	} else {
		fail_soft(ss, dsn, "%s", text);
	}
	return -1;
}

/*
 * Relay-host settings checked before connecting: wrapper mode needs a
 * level that requires TLS (as Postfix, which skips the address); our
 * client certificate must load wherever TLS may be used, so that a broken
 * one defers instead of ever leading to plaintext; the AUTH state.
 */
static int
relay_ready(struct session *ss)
{
	const struct tlsmtp_config *cfg = ss->req->cfg;
	struct sasl_peer peer;
	char why[OUTCOME_TEXT_MAX];

	if (cfg->tls_wrappermode && ss->level < TLS_LEVEL_ENCRYPT) {
		log_warn("smtp_tls_wrappermode requires \"smtp_tls_security_level = encrypt\" "
			 "(or stronger)");
		fail_soft(ss, "4.7.5", "client TLS configuration problem");
		return -1;
	}
	if (!cfg->tls_wrappermode && route_addr_port(ss->addr) == SMTPS_PORT)
		log_info(
		    "SMTPS wrappermode (TCP port 465) requires setting \"smtp_tls_wrappermode = "
		    "yes\", and \"smtp_tls_security_level = encrypt\" (or stronger)");
	if (ss->level > TLS_LEVEL_NONE && tls_session_init(cfg, why, sizeof(why)) != 0) {
		fail_soft(ss, "4.7.5", "client TLS configuration problem");
		return -1;
	}
	if (ss->req->sasl == NULL)
		return 0;
	peer.sender = ss->req->sender;
	peer.host = ss->addr->host;
	peer.nexthop = ss->req->nexthop->key;
	peer.namaddr = ss->namaddr;
	if ((ss->sasl = sasl_session_new(cfg, ss->req->sasl, &peer)) == NULL) {
		fail_soft(ss, "4.3.0", "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Greeting, EHLO and STARTTLS as the level asks (in wrapper mode, TLS
 * first and no STARTTLS), then AUTH.  0: ready for MAIL.
 */
static int
open_session(struct session *ss, int *retry_plain)
{
	if (ss->req->cfg->tls_wrappermode && begin_tls(ss, retry_plain) != TLS_STEP_OK)
		return -1;
	if (greeting(ss) != 0)
		return -1;
	if (hello(ss) != 0)
		return -1;
	if (ss->tls_active || ss->level == TLS_LEVEL_NONE)
		return authenticate(ss);
	if (!ss->feat.starttls) {
		if (!TLS_LEVEL_REQUIRES_TLS(ss->level))
			return authenticate(ss);
		send_quit(ss);
		fail_soft(ss, "4.7.4", "TLS is required, but was not offered by host %s",
		    ss->namaddr);
		return -1;
	}
	switch (starttls(ss, retry_plain)) {
	case TLS_STEP_PLAIN:
		return authenticate(ss);
	case TLS_STEP_FAILED:
		return -1;
	case TLS_STEP_OK:
		break;
	}
	/* RFC 3207 4.2: forget what the plaintext EHLO said (its AUTH list too). */
	if (hello(ss) == 0) {
		/* The EHLO reply was the first read past the handshake: TLS 1.3
		 * tickets have arrived by now (tls_scache.h). */
		tls_scache_session_ready(stream_tls(ss->stream));
		return authenticate(ss);
	}
	/* "may": a TLS session that breaks at once is retried in plaintext. */
	if (strcmp(ss->out->dsn, "4.4.2") == 0)
		*retry_plain = may_retry_plain(ss);
	return -1;
}

/* ------------------------------------------------------------------------
 * The mail transaction.
 */

/* A refusal of the whole transaction: 4xx soft, 5xx hard, else protocol error. */
static void
refused(struct session *ss, const char *what)
{
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];
	int cls = ss->reply.code / 100;

	server_said(ss, what, dsn, sizeof(dsn), text, sizeof(text));
	if (cls == 5) {
		outcome_set(ss->out, dsn, "%s", text);
		settle_open_rcpts(ss, RCPT_HARD, dsn, text);
		return;
	}
	if (cls != 4)
		snprintf(dsn, sizeof(dsn), "4.5.0");
	fail_soft(ss, dsn, "%s", text);
}

/* Checks before MAIL and its parameters; -1 when the message cannot go here. */
static int
mail_params(struct session *ss, char *params, size_t paramslen)
{
	struct smtp_request *req = ss->req;
	size_t size, o = 0;
	char text[OUTCOME_TEXT_MAX];

	params[0] = '\0';
	if (spool_size(req->msg, req->cfg->line_length_limit, &size) != 0) {
		fail_soft(ss, "4.3.0", "error reading the queued message while %s", STAGE_MAIL);
		return -1;
	}
	/* RFC 1870 6.1: over the limit is refused; exactly the limit is not. */
	if (ss->feat.size && ss->feat.size_limit > 0 && (uint64_t)size > ss->feat.size_limit) {
		snprintf(text, sizeof(text),
		    "message size %zu exceeds size limit %" PRIu64 " of server %s", size,
		    ss->feat.size_limit, ss->namaddr);
		outcome_set(ss->out, "5.3.4", "%s", text);
		settle_open_rcpts(ss, RCPT_HARD, "5.3.4", text);
		return -1;
	}
	if (req->need_smtputf8 && !ss->feat.smtputf8) {
		snprintf(text, sizeof(text), "SMTPUTF8 is required, but was not offered by host %s",
		    ss->namaddr);
		outcome_set(ss->out, "5.6.7", "%s", text);
		settle_open_rcpts(ss, RCPT_HARD, "5.6.7", text);
		return -1;
	}
	if (ss->feat.size)
		o += (size_t)snprintf(params + o, paramslen - o, " SIZE=%zu", size);
	if (ss->feat.eightbitmime && spool_has_8bit(req->msg))
		o += (size_t)snprintf(params + o, paramslen - o, " BODY=8BITMIME");
	if (req->need_smtputf8)
		o += (size_t)snprintf(params + o, paramslen - o, " SMTPUTF8");
	/* As Postfix: the MTA authenticated, the sender is not vouched for. */
	if (sasl_authenticated(ss->sasl))
		snprintf(params + o, paramslen - o, " AUTH=<>");
	return 0;
}

static int
mail_reply(struct session *ss)
{
	if (ss->reply.code / 100 == 2)
		return 0;
	/* 552 to MAIL means the size was refused; keep the DSN exact. */
	if (ss->reply.code == 552 && ss->reply.dsn[0] == '\0')
		snprintf(ss->reply.dsn, sizeof(ss->reply.dsn), "5.3.4");
	refused(ss, "MAIL FROM command");
	return -1;
}

/* One RCPT reply: 1 accepted, 0 refused (state recorded), -1 protocol error. */
static int
rcpt_reply(struct session *ss, struct smtp_rcpt *r)
{
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];
	int cls = ss->reply.code / 100;

	if (cls == 2) {
		r->state = RCPT_ACCEPTED;
		return 1;
	}
	server_said(ss, "RCPT TO command", dsn, sizeof(dsn), text, sizeof(text));
	if (cls != 4 && cls != 5) {
		fail_soft(ss, "4.5.0", "protocol error: %s", text);
		return -1;
	}
	r->state = cls == 5 ? RCPT_HARD : RCPT_SOFT;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	snprintf(r->reply, sizeof(r->reply), "%s", text);
	return 0;
}

/*
 * pipe(8) has one status for the whole batch, so a transaction where some
 * recipients were refused cannot end in a clean result: sending the body
 * to the accepted ones and deferring the batch would deliver them a copy
 * at every retry.  Instead nobody gets the message in this attempt; the
 * accepted recipients become soft with the refused one's reason, and the
 * batch defers.  Returns 1 when the body is held back.
 */
static int
hold_back(struct session *ss)
{
	struct smtp_request *req = ss->req;
	const struct smtp_rcpt *refused = NULL;
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];

	for (size_t i = 0; i < req->rcpt_count && refused == NULL; i++)
		if (req->rcpts[i].state == RCPT_SOFT || req->rcpts[i].state == RCPT_HARD)
			refused = &req->rcpts[i];
	if (refused == NULL)
		return 0;
	snprintf(dsn, sizeof(dsn), "4%s", refused->dsn[0] != '\0' ? refused->dsn + 1 : ".0.0");
	text_cut(text, sizeof(text), "not sent because <%s> was refused: %s", refused->addr,
	    refused->reply);
	for (size_t i = 0; i < req->rcpt_count; i++) {
		struct smtp_rcpt *r = &req->rcpts[i];

		if (r->state != RCPT_ACCEPTED)
			continue;
		r->state = RCPT_SOFT;
		snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
		snprintf(r->reply, sizeof(r->reply), "%s", text);
	}
	ss->held_back = refused;
	if (!req->held_back) {
		/* Said once, here; the output line and per-recipient lines do not repeat it. */
		log_info(
		    "%s: recipient <%s> was refused, so the message was sent to none of the %zu "
		    "recipients of this batch and all are deferred, because pipe(8) has one status "
		    "for a whole batch: set %s_destination_recipient_limit = 1 in main.cf for "
		    "per-recipient results",
		    ss->namaddr, refused->addr, req->rcpt_count, req->cfg->service_name);
	}
	req->held_back = 1;
	return 1;
}

/* The reply to DATA: 0 for 354, else the recipients are settled, -1. */
static int
data_reply(struct session *ss)
{
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];

	if (ss->reply.code == 354)
		return 0;
	if (ss->reply.code / 100 == 2 || ss->reply.code / 100 == 3) {
		/* 250 instead of 354: the server is not reading a body. */
		server_said(ss, "DATA command", dsn, sizeof(dsn), text, sizeof(text));
		fail_soft(ss, "4.5.0", "protocol error: %s", text);
	} else {
		refused(ss, "DATA command");
	}
	return -1;
}

/*
 * The body could not be written: a server that stopped reading may have
 * said why.  A complete 4xx/5xx reply that is already there (or arrives
 * within a moment) decides, by its code; anything else (nothing, a 2xx, a
 * broken reply) leaves the caller's I/O error in place.  Never a success.
 */
static int
early_reply(struct session *ss)
{
	int64_t deadline = stage_deadline(EARLY_REPLY_WAIT_S, ss->req->deadline_ms);
	enum reply_status rs = REPLY_MORE;
	char shown[256];
	size_t len;
	int cls;

	reply_init(&ss->reply);
	while (rs == REPLY_MORE) {
		if (stream_read_line(ss->stream, ss->line, sizeof(ss->line), &len, deadline)
		    != STREAM_OK)
			return 0;
		log_verbose("< %s: %s", ss->namaddr,
		    outcome_quote_text(ss->line, len, shown, sizeof(shown)));
		rs = reply_feed(&ss->reply, ss->line, len);
	}
	cls = ss->reply.code / 100;
	if (rs != REPLY_DONE || (cls != 4 && cls != 5))
		return 0;
	refused(ss, "DATA command");
	return 1;
}

static int
send_body(struct session *ss)
{
	struct spool_encoder *enc;
	char *buf;
	ssize_t n;
	enum stream_io st;
	int rc = 0;

	if ((buf = malloc(BODY_CHUNK)) == NULL
	    || (enc = spool_encoder_new(ss->req->msg, ss->req->cfg->line_length_limit)) == NULL) {
		free(buf);
		fail_soft(ss, "4.3.0", "out of memory while %s", STAGE_BODY);
		return -1;
	}
	while ((n = spool_encoder_next(enc, buf, BODY_CHUNK)) > 0) {
		st = stream_write(ss->stream, buf, (size_t)n, ss->req->cfg->data_xfer_timeout,
		    ss->req->deadline_ms);
		if (st != STREAM_OK) {
			if (!early_reply(ss))
				io_failed(ss, st, STAGE_BODY);
			rc = -1;
			break;
		}
	}
	if (n < 0) {
		fail_soft(ss, "4.3.0", "error reading the queued message while %s", STAGE_BODY);
		rc = -1;
	}
	spool_encoder_free(enc);
	free(buf);
	return rc;
}

/* After 354: the body, the final dot and its reply. */
static void
body_and_dot(struct session *ss)
{
	char dsn[OUTCOME_DSN_MAX], text[OUTCOME_TEXT_MAX];
	char raw[OUTCOME_TEXT_MAX], quoted[OUTCOME_TEXT_MAX];
	size_t size = 0;

	(void)spool_size(ss->req->msg, ss->req->cfg->line_length_limit, &size);
	log_verbose("> %s: (message body, %zu octets)", ss->namaddr, size);
	/* Until the dot's reply, a QUIT would only become part of the body. */
	ss->in_data = 1;
	if (send_body(ss) != 0)
		return;
	if (read_reply(ss, ss->req->cfg->data_done_timeout, STAGE_DOT) != 0)
		return;
	ss->in_data = 0;
	if (ss->reply.code / 100 != 2) {
		refused(ss, "end of DATA command");
		return;
	}
	server_said(ss, "end of DATA command", dsn, sizeof(dsn), text, sizeof(text));
	reply_quote(&ss->reply, raw, sizeof(raw));
	outcome_quote_text(raw, strlen(raw), quoted, sizeof(quoted));
	settle_open_rcpts(ss, RCPT_DONE, dsn, quoted);
}

/* One command and one reply at a time. */
static void
lockstep_transaction(struct session *ss, const char *params)
{
	struct smtp_request *req = ss->req;
	const struct tlsmtp_config *cfg = req->cfg;
	int accepted = 0, rc;

	if (send_command(ss, cfg->mail_timeout, STAGE_MAIL, "MAIL FROM:<%s>%s", req->sender, params)
		!= 0
	    || read_reply(ss, cfg->mail_timeout, STAGE_MAIL) != 0 || mail_reply(ss) != 0)
		return;
	for (size_t i = 0; i < req->rcpt_count; i++) {
		struct smtp_rcpt *r = &req->rcpts[i];

		if (r->state != RCPT_PENDING)
			continue;
		if (send_command(ss, cfg->rcpt_timeout, STAGE_RCPT, "RCPT TO:<%s>", r->addr) != 0
		    || read_reply(ss, cfg->rcpt_timeout, STAGE_RCPT) != 0
		    || (rc = rcpt_reply(ss, r)) < 0)
			return;
		accepted += rc;
	}
	if (accepted == 0 || hold_back(ss))
		return;
	if (command(ss, cfg->data_init_timeout, STAGE_DATA, "DATA") != 0 || data_reply(ss) != 0)
		return;
	body_and_dot(ss);
}

/* Append "text\r\n" to a growing command batch. */
static int batch_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
batch_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *grown;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n + 3 <= *cap - *len)
			break;
		if ((grown = realloc(*buf, *cap * 2 + (size_t)n + 3)) == NULL)
			return -1;
		*buf = grown;
		*cap = *cap * 2 + (size_t)n + 3;
	}
	memcpy(*buf + *len + n, "\r\n", 3);
	*len += (size_t)n + 2;
	return 0;
}

/*
 * RFC 2920: MAIL, every RCPT and DATA in one write, then the replies in
 * order, exactly one per command (fewer ends in a timeout, more is a
 * protocol error caught by the check after the DATA reply).
 */
static void
pipelined_transaction(struct session *ss, const char *params)
{
	struct smtp_request *req = ss->req;
	const struct tlsmtp_config *cfg = req->cfg;
	size_t len = 0, cap = 1024;
	char *batch = malloc(cap);
	int accepted = 0, rc, failed = 0;
	enum stream_io st;

	if (batch == NULL) {
		fail_soft(ss, "4.3.0", "out of memory while %s", STAGE_MAIL);
		return;
	}
	log_verbose("> %s: MAIL FROM:<%s>%s", ss->namaddr, req->sender, params);
	failed |= batch_add(&batch, &len, &cap, "MAIL FROM:<%s>%s", req->sender, params);
	for (size_t i = 0; i < req->rcpt_count; i++) {
		if (req->rcpts[i].state != RCPT_PENDING)
			continue;
		log_verbose("> %s: RCPT TO:<%s>", ss->namaddr, req->rcpts[i].addr);
		failed |= batch_add(&batch, &len, &cap, "RCPT TO:<%s>", req->rcpts[i].addr);
	}
	log_verbose("> %s: DATA", ss->namaddr);
	failed |= batch_add(&batch, &len, &cap, "DATA");
	if (failed) {
		free(batch);
		fail_soft(ss, "4.3.0", "out of memory while %s", STAGE_MAIL);
		return;
	}
	st = stream_write(ss->stream, batch, len, cfg->mail_timeout, req->deadline_ms);
	free(batch);
	if (st != STREAM_OK) {
		io_failed(ss, st, STAGE_MAIL);
		return;
	}
	ss->expect_more = 1;
	if (read_reply(ss, cfg->mail_timeout, STAGE_MAIL) != 0 || mail_reply(ss) != 0) {
		ss->in_data = 1; /* DATA may have been accepted: no QUIT */
		return;
	}
	for (size_t i = 0; i < req->rcpt_count; i++) {
		struct smtp_rcpt *r = &req->rcpts[i];

		if (r->state != RCPT_PENDING)
			continue;
		if (read_reply(ss, cfg->rcpt_timeout, STAGE_RCPT) != 0
		    || (rc = rcpt_reply(ss, r)) < 0) {
			ss->in_data = 1;
			return;
		}
		accepted += rc;
	}
	ss->expect_more = 0;
	if (read_reply(ss, cfg->data_init_timeout, STAGE_DATA) != 0) {
		ss->in_data = 1;
		return;
	}
	if (accepted == 0 || hold_back(ss)) {
		/*
		 * No body for this transaction.  After a 354 the only safe way out
		 * is to drop the connection: the server discards a message whose
		 * data never ended (RFC 5321 4.1.1.4), where a "." would send it.
		 */
		ss->in_data = ss->reply.code == 354;
		return;
	}
	if (data_reply(ss) != 0)
		return;
	body_and_dot(ss);
}

static void
transaction(struct session *ss)
{
	char params[128];

	if (mail_params(ss, params, sizeof(params)) != 0)
		return;
	if (ss->feat.pipelining)
		pipelined_transaction(ss, params);
	else
		lockstep_transaction(ss, params);
}

/* ------------------------------------------------------------------------
 * Putting it together.
 */

/*
 * The success line for pipe(8) (smtp.h): "REPLY (host[addr]:port[ via
 * DEST], TLS)" in at most SUMMARY_LIMIT characters.  What gives way when it
 * does not fit, in this order: the host name (the address stays), the
 * reply beyond SUMMARY_REPLY_MIN characters, the destination; the address,
 * port and TLS status word are always there.
 */
static void
success_summary(const struct session *ss, const char *reply, char *out, size_t outlen)
{
	const struct route_addr *a = ss->addr;
	size_t limit = outlen - 1 < SUMMARY_LIMIT ? outlen - 1 : SUMMARY_LIMIT;
	char tls[64], via[80] = "", port[8];
	size_t reply_len = strnlen(reply, SUMMARY_REPLY_MAX), fixed;
	const char *host = a->host;

	if (ss->tls_active)
		snprintf(tls, sizeof(tls), ", %s %s%s", ss->tls.protocol,
		    tls_peer_status_name(ss->tls.status), ss->use_sts ? " MTA-STS" : "");
	else
		snprintf(tls, sizeof(tls), ", no TLS");
	if (ss->req->via != NULL)
		snprintf(via, sizeof(via), " via %.60s", ss->req->via);
	snprintf(port, sizeof(port), "%u", route_addr_port(a));
	fixed = strlen(" ([]:)") + strlen(a->addr) + strlen(port) + strlen(tls);
	if (reply_len + fixed + strlen(host) + strlen(via) > limit)
		host = "";
	if (reply_len + fixed + strlen(via) > limit && reply_len > SUMMARY_REPLY_MIN)
		reply_len = limit > fixed + strlen(via) + SUMMARY_REPLY_MIN
		    ? limit - fixed - strlen(via)
		    : SUMMARY_REPLY_MIN;
	if (reply_len + fixed + strlen(via) > limit)
		via[0] = '\0';
	if (reply_len + fixed > limit)
		reply_len = limit > fixed ? limit - fixed : 0;
	text_cut(out, outlen, "%.*s (%s[%s]:%s%s%s)", (int)reply_len, reply, host, a->addr, port,
	    via, tls);
	if (strlen(out) > limit)
		out[limit] = '\0';
}

/* The attempt's outcome from the recipients' states. */
static enum attempt_status
conclude(struct session *ss, char *summary, size_t summarylen)
{
	struct smtp_request *req = ss->req;
	const struct smtp_rcpt *soft = NULL, *hard = NULL, *done = NULL;

	for (size_t i = 0; i < req->rcpt_count; i++) {
		const struct smtp_rcpt *r = &req->rcpts[i];

		if ((r->state == RCPT_SOFT || r->state == RCPT_PENDING || r->state == RCPT_ACCEPTED)
		    && soft == NULL)
			soft = r;
		else if (r->state == RCPT_HARD && hard == NULL)
			hard = r;
		else if (r->state == RCPT_DONE && done == NULL)
			done = r;
	}
	if (ss->held_back != NULL) {
		outcome_set(ss->out, soft->dsn,
		    "recipient <%s> refused, so the message was sent to "
		    "nobody and the batch is deferred (set %s_destination_recipient_limit = 1 for "
		    "per-recipient results): %s",
		    ss->held_back->addr, req->cfg->service_name, ss->held_back->reply);
		return ATTEMPT_SETTLED;
	}
	if (soft != NULL) {
		if (soft->dsn[0] != '\0')
			outcome_set(ss->out, soft->dsn, "%s", soft->reply);
		else if (ss->out->dsn[0] == '\0')
			outcome_set(ss->out, "4.3.0", "delivery to %s was not completed",
			    ss->namaddr);
		return ATTEMPT_TRY_NEXT;
	}
	if (hard != NULL && done == NULL) {
		outcome_set(ss->out, hard->dsn, "%s", hard->reply);
		return ATTEMPT_SETTLED;
	}
	if (hard != NULL) {
		char dsn[OUTCOME_DSN_MAX];

		snprintf(dsn, sizeof(dsn), "4%s", hard->dsn + 1);
		outcome_set(ss->out, dsn, "some recipients were refused, the others delivered: %s",
		    hard->reply);
		return ATTEMPT_SETTLED;
	}
	outcome_set(ss->out, done != NULL ? done->dsn : "2.0.0", "delivered via %s: %s",
	    ss->namaddr, done != NULL ? done->reply : "");
	if (summary != NULL && summarylen > 0)
		success_summary(ss, done != NULL ? done->reply : "", summary, summarylen);
	return ATTEMPT_SETTLED;
}

/* Levels this session cannot serve: fail closed before connecting. */
static int
level_unusable(struct session *ss)
{
	const struct smtp_request *req = ss->req;

	if (ss->level == TLS_LEVEL_INVALID) {
		/* tls_policy_resolve() already logged why. */
		fail_soft(ss, "4.7.5", "client TLS configuration problem");
		return 1;
	}
	if (ss->level == TLS_LEVEL_HALF_DANE) {
		log_warn("%s: %s security level is not supported by this client", req->nexthop->key,
		    tls_level_name(ss->level));
		fail_soft(ss, "4.7.5", "client TLS configuration problem");
		return 1;
	}
	return 0;
}

/* ---- DANE begin (dane.c owns the rules; this only wires them in) ----
 *
 * At dane and dane-only, before connecting: the TLSA state and the level
 * of this attempt (dane_session_open()), or a deferral ("TLSA lookup error
 * for H:P", which makes the caller try the next address).  Returns 0 to go
 * on, -1 when the attempt is settled as a soft failure.
 */
static int
dane_level(struct session *ss, int tls_off)
{
	struct smtp_request *req = ss->req;
	char dsn[OUTCOME_DSN_MAX], reason[OUTCOME_TEXT_MAX];

	if (dane_session_open(req->dns, req->cfg, ss->level, req->nexthop, req->mx_secure, ss->addr,
		req->deadline_ms, &ss->dane, dsn, sizeof(dsn), reason, sizeof(reason))
	    != DANE_PLAN_OK) {
		fail_soft(ss, dsn, "%s", reason);
		return -1;
	}
	if (req->sts != NULL && (ss->dane == NULL || ss->dane->level != TLS_LEVEL_DANE)) {
		/* RFC 8461 section 2: usable DANE records decide; else MTA-STS. */
		dane_session_close(ss->dane);
		ss->dane = NULL;
		ss->use_sts = 1;
		req->sts_last = 1;
		ss->level = req->sts->level;
		return 0;
	}
	if (ss->dane == NULL)
		return 0;
	ss->level = ss->dane->level;
	if (tls_off && ss->level == TLS_LEVEL_MAY)
		ss->level = TLS_LEVEL_NONE;
	return 0;
}
/* ---- DANE end ---- */

/* ---- probe begin (tlspolicy probe: smtp.h, struct smtp_probe) ---- */

/* The session would now send MAIL FROM: the probe stops here, satisfied. */
static void
probe_ready(struct session *ss)
{
	settle_open_rcpts(ss, RCPT_DONE, "2.0.0", "probe: ready for MAIL FROM, nothing sent");
}

/* What the session saw, for the report; before the stream and DANE state go. */
static void
probe_capture(struct session *ss)
{
	struct smtp_probe *p = ss->req->probe;
	gnutls_session_t tls = ss->stream != NULL ? stream_tls(ss->stream) : NULL;
	const gnutls_datum_t *peers;
	unsigned n = 0;

	smtp_probe_free(p);
	p->tls_active = ss->tls_active;
	p->tls = ss->tls;
	if (tls != NULL && (peers = gnutls_certificate_get_peers(tls, &n)) != NULL) {
		for (unsigned i = 0; i < n && p->chain_count < SMTP_PROBE_CHAIN_MAX; i++) {
			gnutls_datum_t *d = &p->chain[p->chain_count];

			if ((d->data = gnutls_malloc(peers[i].size)) == NULL)
				break;
			memcpy(d->data, peers[i].data, peers[i].size);
			d->size = peers[i].size;
			p->chain_count++;
		}
	}
	if (ss->dane != NULL) {
		p->dane = 1;
		p->dane_level = ss->dane->level;
		p->tlsa_status = ss->dane->tlsa.status;
		p->tlsa_count = ss->dane->tlsa.count;
		p->tlsa_usable = ss->dane->tlsa.usable;
		snprintf(p->tlsa_base, sizeof(p->tlsa_base), "%s", ss->dane->base);
	}
}

void
smtp_probe_free(struct smtp_probe *p)
{
	for (unsigned i = 0; i < p->chain_count; i++)
		gnutls_free(p->chain[i].data);
	memset(p, 0, sizeof(*p));
}
/* ---- probe end ---- */
/* ---- connection reuse begin (conn_cache.c owns the holder) ---- */

static int
all_delivered(const struct smtp_request *req)
{
	for (size_t i = 0; i < req->rcpt_count; i++)
		if (req->rcpts[i].state != RCPT_DONE)
			return 0;
	return req->rcpt_count > 0;
}

/*
 * After a transaction that delivered to every recipient, the connection
 * may be kept for the next delivery of this next-hop and policy: TLS as
 * the level asked (plaintext only at level none).  1 when a holder has it.
 */
static int
hold_connection(struct session *ss)
{
	struct smtp_request *req = ss->req;
	struct conn_cache_key key;

	/* Not with SASL or MTA-STS yet: tlsmtp.c try_reuse() says why. */
	if (!all_delivered(req) || ss->dane != NULL || req->cfg->sasl_auth_enable
	    || req->cfg->tls_mta_sts
	    || (ss->level != TLS_LEVEL_NONE && !ss->tls_active)
	    || conn_cache_key_make(req->cfg, req->nexthop, req->tls, &key) != 0)
		return 0;
	if (!conn_cache_hold(req->cfg, &key, ss->stream, ss->addr, ss->tls_active, &ss->tls,
		&ss->feat, req->conn_use, req->msg))
		return 0;
	return 1;
}

/* Pending again: what a failed reuse attempt set counts for nothing. */
static void
reopen_rcpts(struct smtp_request *req, struct outcome *out)
{
	for (size_t i = 0; i < req->rcpt_count; i++)
		if (req->rcpts[i].state == RCPT_SOFT || req->rcpts[i].state == RCPT_ACCEPTED) {
			req->rcpts[i].state = RCPT_PENDING;
			req->rcpts[i].dsn[0] = '\0';
			req->rcpts[i].reply[0] = '\0';
		}
	memset(out, 0, sizeof(*out));
	req->held_back = 0;
}

enum attempt_status
smtp_attempt_reuse(struct smtp_request *req, struct outcome *out, char *summary, size_t summarylen,
    char *relay, size_t relaylen, int *fresh)
{
	struct conn_cache_key key;
	struct conn_cache_lease lease;
	struct session *ss;
	enum attempt_status status;

	*fresh = 1;
	if (summary != NULL && summarylen > 0)
		summary[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (conn_cache_key_make(req->cfg, req->nexthop, req->tls, &key) != 0
	    || !conn_cache_take(req->cfg, &key, &lease))
		return ATTEMPT_TRY_NEXT;
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		conn_cache_lease_free(&lease);
		return ATTEMPT_TRY_NEXT;
	}
	reopen_rcpts(req, out);
	ss->req = req;
	ss->addr = &lease.addr;
	ss->out = out;
	ss->level = req->tls->level;
	ss->stream = lease.stream;
	ss->feat = lease.feat;
	ss->tls_active = lease.tls_active;
	ss->tls.status = lease.tls.status;
	memcpy(ss->tls.protocol, lease.tls.protocol, sizeof(ss->tls.protocol));
	snprintf(ss->namaddr, sizeof(ss->namaddr), "%s[%s]", lease.addr.host, lease.addr.addr);
	route_addr_label(&lease.addr, ss->label, sizeof(ss->label));

	/* Proven alive first, as Postfix does; a failure here costs nothing. */
	if (command(ss, req->cfg->rset_timeout, STAGE_RSET, "RSET") != 0 || ss->reply.code != 250) {
		log_info("%s: cached connection unusable (%s): delivering over a new connection",
		    ss->label, ss->io_lost ? out->text : "RSET refused");
		if (!ss->io_lost)
			send_quit(ss);
		conn_cache_lease_free(&lease);
		reopen_rcpts(req, out);
		free(ss);
		return ATTEMPT_TRY_NEXT;
	}
	req->conn_use = lease.uses + 1;
	log_info("%s: connection reused (conn_use=%u%s%s%s)", ss->label, req->conn_use,
	    ss->tls_active ? ", " : "", ss->tls_active ? ss->tls.protocol : "",
	    ss->tls_active ? " TLS" : "");
	transaction(ss);
	if (!ss->in_data && !ss->io_lost && all_delivered(req))
		conn_cache_release(&lease, req->deadline_ms);
	else if (!ss->in_data && !ss->io_lost)
		send_quit(ss);
	status = conclude(ss, summary, summarylen);
	/* Broken before the body: nothing was sent, so deliver afresh. */
	if (status == ATTEMPT_TRY_NEXT && ss->io_lost && !ss->in_data) {
		log_info("%s: reused connection lost (%s): delivering over a new connection",
		    ss->label, out->text);
		reopen_rcpts(req, out);
		req->conn_use = 0;
	} else {
		*fresh = 0;
		snprintf(relay, relaylen, "%s", ss->label);
		if (status == ATTEMPT_TRY_NEXT)
			status = ATTEMPT_SETTLED; /* a deferral, as on a new connection */
	}
	conn_cache_lease_free(&lease);
	free(ss);
	return status;
}
/* ---- connection reuse end ---- */

enum attempt_status
smtp_attempt(struct smtp_request *req, const struct route_addr *addr, int tls_off,
    struct outcome *out, int *retry_plain, char *summary, size_t summarylen)
{
	struct session *ss;
	enum attempt_status status;
	int fd;

	*retry_plain = 0;
	req->sts_last = 0;
	if (summary != NULL && summarylen > 0)
		summary[0] = '\0';
	memset(out, 0, sizeof(*out));
	/* Soft recipients of an earlier attempt are tried again here. */
	for (size_t i = 0; i < req->rcpt_count; i++)
		if (req->rcpts[i].state == RCPT_SOFT || req->rcpts[i].state == RCPT_ACCEPTED)
			req->rcpts[i].state = RCPT_PENDING;
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		outcome_set(out, "4.3.0", "out of memory");
		return ATTEMPT_TRY_NEXT;
	}
	ss->req = req;
	ss->addr = addr;
	ss->out = out;
	ss->level = req->tls->level;
	if (tls_off && ss->level == TLS_LEVEL_MAY)
		ss->level = TLS_LEVEL_NONE;
	snprintf(ss->namaddr, sizeof(ss->namaddr), "%s[%s]", addr->host, addr->addr);
	route_addr_label(addr, ss->label, sizeof(ss->label));
	if (!level_unusable(ss) && dane_level(ss, tls_off) == 0 && relay_ready(ss) == 0) {
		if ((fd = smtp_connect(req->cfg, addr, req->deadline_ms, out)) < 0) {
			settle_open_rcpts(ss, RCPT_SOFT, out->dsn, out->text);
		} else if ((ss->stream = stream_new(fd)) == NULL) {
			close(fd);
			fail_soft(ss, "4.3.0", "out of memory");
		} else if (open_session(ss, retry_plain) == 0) {
			/* Counts toward smtp_mx_session_limit (EHLO and TLS done). */
			req->sessions++;
			req->conn_use = 1;
			if (req->probe != NULL)
				probe_ready(ss);
			else
				transaction(ss);
			if (!ss->in_data && (req->probe != NULL || !hold_connection(ss)))
				send_quit(ss);
		}
	}
	if (req->probe != NULL)
		probe_capture(ss);
	status = conclude(ss, summary, summarylen);
	stream_free(ss->stream);
	sasl_session_free(ss->sasl);
	dane_session_close(ss->dane);
	free(ss);
	return status;
}
