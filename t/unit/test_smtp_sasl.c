/*
 * test_smtp_sasl.c - SMTP AUTH as smtp_proto.c drives it (smtp_sasl.c),
 * with the dialogue's I/O played by a script in this file: Postfix's
 * password lookup order, the EHLO AUTH lists and the mechanism filter, the
 * security options per connection, the failure classes and their texts,
 * and that no line shown in the log and no text returned holds the
 * credential.  The wire itself is covered by the relay-* scenarios.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* core */
#include "core.h"
/* net */
#include "reply.h"
/* smtp */
#include "sasl_gsasl.h"
#include "sasl_mech.h"
#include "smtp_sasl.h"

#define PASSWORDS                                                              \
	"smtp_sasl_password_maps=inline:{ "                                    \
	"{bob@example.org=bob:Bob-Pw-1}, {@example.org=dom:Dom-Pw-2}, "        \
	"{relay.example=host:Host-Pw-3}, {[relay.example]:587=hop:Hop-Pw-4}, " \
	"{[other.example]:587=hop2:Hop2-Pw-5} }"

static struct tlsmtp_config cfg;
static int cfg_loaded;
static struct sasl_maps *maps;

/* The scripted server: one reply per line the client sends. */
struct exchange {
	char line[2048];
	char shown[256];
};

static struct {
	const char *replies[8];
	size_t next;
	struct exchange seen[8];
	size_t nseen;
	int fail_at; /* 1-based exchange that fails as I/O; 0 none */
	struct smtp_reply reply;
} io_state;

static int
fake_exchange(void *ctx, const char *line, const char *shown, const struct smtp_reply **reply)
{
	const char *text, *p, *nl;

	(void)ctx;
	assert_true(io_state.nseen < 8);
	snprintf(io_state.seen[io_state.nseen].line, sizeof(io_state.seen[0].line), "%s", line);
	snprintf(io_state.seen[io_state.nseen].shown, sizeof(io_state.seen[0].shown), "%s", shown);
	io_state.nseen++;
	if (io_state.fail_at != 0 && (size_t)io_state.fail_at == io_state.nseen)
		return -1;
	text = io_state.replies[io_state.next++];
	assert_non_null(text);
	reply_init(&io_state.reply);
	for (p = text; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		reply_feed(&io_state.reply, p, (size_t)(nl - p));
	}
	assert_true(io_state.reply.complete);
	*reply = &io_state.reply;
	return 0;
}

static const struct sasl_io fake_io = { fake_exchange, NULL };

static void
script(const char *r0, const char *r1, const char *r2)
{
	memset(&io_state, 0, sizeof(io_state));
	io_state.replies[0] = r0;
	io_state.replies[1] = r1;
	io_state.replies[2] = r2;
}

/* Configuration from overrides (on top of PASSWORDS and auth enabled). */
static void
setup_cfg(const char *const *extra, size_t n)
{
	const char *o[16] = { "smtp_sasl_auth_enable=yes", PASSWORDS };
	char err[512];

	assert_true(n + 2 <= 16);
	for (size_t i = 0; i < n; i++)
		o[2 + i] = extra[i];
	if (maps != NULL)
		sasl_maps_close(maps);
	maps = NULL;
	if (cfg_loaded)
		config_free(&cfg);
	cfg_loaded = 0;
	if (config_load(&cfg, "/dev/null", (char *const *)o, n + 2, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	cfg_loaded = 1;
	if (sasl_maps_open(&cfg, NULL, 0, &maps, err, sizeof(err)) != 0)
		fail_msg("sasl_maps_open: %s", err);
}

static struct sasl_session *
session(const char *sender, const char *host, const char *nexthop)
{
	static struct sasl_peer peer;
	struct sasl_session *s;

	peer.sender = sender;
	peer.host = host;
	peer.nexthop = nexthop;
	peer.namaddr = "relay.example[192.0.2.1]";
	assert_non_null(s = sasl_session_new(&cfg, maps, &peer));
	return s;
}

/* An EHLO reply from text lines ("250-name\n250 AUTH PLAIN\n"). */
static void
ehlo(struct sasl_session *s, const char *text)
{
	static struct smtp_reply r;
	const char *p, *nl;

	reply_init(&r);
	for (p = text; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		reply_feed(&r, p, (size_t)(nl - p));
	}
	assert_true(r.complete);
	sasl_ehlo(s, &r);
}

/* Log in with PLAIN over TLS; returns the user of the credentials used, or "". */
static const char *
plain_user(struct sasl_session *s)
{
	static char user[64];
	char dsn[16], text[512];
	unsigned char raw[256];
	size_t n;
	const char *b64;

	user[0] = '\0';
	script("235 2.7.0 Authentication successful\n", NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_OK);
	if (io_state.nseen == 0)
		return user;
	b64 = io_state.seen[0].line + strlen("AUTH PLAIN ");
	assert_int_equal(sasl_b64_decode(b64, strlen(b64), raw, sizeof(raw), &n), 0);
	assert_int_equal(raw[0], 0);
	snprintf(user, sizeof(user), "%.60s", (const char *)raw + 1);
	return user;
}

static const char *tls_noanon[] = { "smtp_sasl_tls_security_options=noanonymous" };

static void
test_lookup_order(void **state)
{
	const char *dependent[] = { "smtp_sasl_tls_security_options=noanonymous",
		"smtp_sender_dependent_authentication=yes", "recipient_delimiter=+" };
	struct sasl_session *s;

	(void)state;
	/* Sender ignored; the host name before the next-hop (smtp_sasl_glue.c). */
	setup_cfg(tls_noanon, 1);
	s = session("bob@example.org", "relay.example", "[relay.example]:587");
	assert_string_equal(plain_user(s), "host");
	sasl_session_free(s);
	s = session("bob@example.org", "mx.relay.example", "[relay.example]:587");
	assert_string_equal(plain_user(s), "hop");
	sasl_session_free(s);
	/* The next-hop exactly as written: no port is another key. */
	s = session("", "mx.relay.example", "[relay.example]");
	assert_int_equal(sasl_credentials(s), 0);
	assert_string_equal(plain_user(s), "");
	assert_int_equal(io_state.nseen, 0); /* no credentials: no AUTH */
	sasl_session_free(s);

	setup_cfg(dependent, 3);
	s = session("Bob+lists@Example.ORG", "relay.example", "[relay.example]:587");
	assert_string_equal(plain_user(s), "bob");
	sasl_session_free(s);
	s = session("carol@example.org", "relay.example", "[relay.example]:587");
	assert_string_equal(plain_user(s), "dom");
	sasl_session_free(s);
	/* The null sender has no entry of its own. */
	s = session("", "relay.example", "[relay.example]:587");
	assert_string_equal(plain_user(s), "host");
	sasl_session_free(s);
	s = session("dave@other.example", "mx.other.example", "[other.example]:587");
	assert_string_equal(plain_user(s), "hop2");
	sasl_session_free(s);
}

static void
test_plain_dialogue(void **state)
{
	struct sasl_session *s;
	char dsn[16], text[512];

	(void)state;
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	script("235 2.7.0 ok\n", NULL, NULL);
	/* Both AUTH forms, several lines: joined; LOGIN listed first. */
	ehlo(s, "250-relay.example\n250-AUTH LOGIN\n250-AUTH=LOGIN PLAIN\n250 8BITMIME\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_OK);
	assert_int_equal(io_state.nseen, 1);
	assert_string_equal(io_state.seen[0].line, "AUTH PLAIN AGhvc3QASG9zdC1Qdy0z");
	assert_string_equal(io_state.seen[0].shown, "AUTH PLAIN [initial response, 20 bytes]");
	assert_int_equal(sasl_authenticated(s), 1);
	sasl_session_free(s);
}

static void
test_login_dialogue(void **state)
{
	const char *o[] = { "smtp_sasl_tls_security_options=noanonymous",
		"smtp_sasl_mechanism_filter=login" };
	struct sasl_session *s;
	char dsn[16], text[512];

	(void)state;
	setup_cfg(o, 2);
	s = session("", "relay.example", "[relay.example]:587");
	script("334 VXNlcm5hbWU6\n", "334 UGFzc3dvcmQ6\n", "235 2.7.0 ok\n");
	ehlo(s, "250-relay.example\n250 AUTH PLAIN LOGIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS_VERIFIED, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_OK);
	assert_int_equal(io_state.nseen, 3);
	assert_string_equal(io_state.seen[0].line, "AUTH LOGIN");
	assert_string_equal(io_state.seen[1].line, "aG9zdA==");
	assert_string_equal(io_state.seen[2].line, "SG9zdC1Qdy0z");
	assert_string_equal(io_state.seen[2].shown, "[SASL response, 12 bytes]");
	sasl_session_free(s);
}

static void
test_refused(void **state)
{
	const char *hard[] = { "smtp_sasl_tls_security_options=noanonymous",
		"smtp_sasl_auth_soft_bounce=no" };
	struct sasl_session *s;
	char dsn[16], text[512];

	(void)state;
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	/* The server echoes the response and the password: both redacted. */
	script("535 5.7.8 bad AGhvc3QASG9zdC1Qdy0z = Host-Pw-3\n", NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_string_equal(dsn, "4.7.8");
	assert_string_equal(text,
	    "SASL authentication failed; server relay.example[192.0.2.1] "
	    "said: 535 5.7.8 bad * = *");
	assert_int_equal(sasl_authenticated(s), 0);
	sasl_session_free(s);

	setup_cfg(hard, 2);
	s = session("", "relay.example", "[relay.example]:587");
	script("535 5.7.8 Error: authentication failed\n", NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_string_equal(dsn, "5.7.8");
	sasl_session_free(s);

	/* A temporary refusal keeps its own code. */
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	script("454 4.7.0 Temporary authentication failure\n", NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_string_equal(dsn, "4.7.0");
	sasl_session_free(s);
}

static void
test_no_mechanism(void **state)
{
	const char *filter[] = { "smtp_sasl_tls_security_options=noanonymous",
		"smtp_sasl_mechanism_filter=!plain, static:yes" };
	struct sasl_session *s;
	char dsn[16], text[512];

	(void)state;
	/* Postfix's defaults forbid PLAIN and LOGIN over TLS too. */
	setup_cfg(NULL, 0);
	s = session("", "relay.example", "[relay.example]:587");
	script(NULL, NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN LOGIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS_VERIFIED, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_string_equal(dsn, "4.7.0");
	assert_string_equal(text,
	    "SASL authentication failed; cannot authenticate to server "
	    "relay.example[192.0.2.1]: no mechanism available");
	assert_int_equal(io_state.nseen, 0);
	sasl_session_free(s);

	/* The filter removes everything the server has. */
	setup_cfg(filter, 2);
	s = session("", "relay.example", "[relay.example]:587");
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_string_equal(text,
	    "SASL authentication failed: server relay.example[192.0.2.1] "
	    "offered no compatible authentication mechanisms for this type of connection security");
	/* ... and a table in the filter admits LOGIN. */
	script("334 VXNlcm5hbWU6\n", "334 UGFzc3dvcmQ6\n", "235 2.7.0 ok\n");
	ehlo(s, "250-relay.example\n250 AUTH PLAIN LOGIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_OK);
	assert_string_equal(io_state.seen[0].line, "AUTH LOGIN");
	sasl_session_free(s);

	/* Without TLS, smtp_sasl_security_options (default: noplaintext) decides. */
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	script(NULL, NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN LOGIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_PLAIN, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_int_equal(io_state.nseen, 0);
	sasl_session_free(s);
}

static void
test_not_offered(void **state)
{
	struct sasl_session *s;
	char dsn[16], text[512];

	(void)state;
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	script(NULL, NULL, NULL);
	/* AUTH before STARTTLS, none after: the later EHLO is what counts. */
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	ehlo(s, "250-relay.example\n250 8BITMIME\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_OK);
	assert_int_equal(io_state.nseen, 0);
	assert_int_equal(sasl_authenticated(s), 0);
	/* A word that only starts with AUTH is another keyword. */
	ehlo(s, "250-relay.example\n250 AUTHX PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_OK);
	assert_int_equal(io_state.nseen, 0);
	sasl_ehlo(s, NULL);
	sasl_session_free(s);
}

static void
test_errors(void **state)
{
	const char *missing[] = { "smtp_sasl_password_maps=lmdb:/nonexistent/sasl_passwd" };
	const char *bad[] = { "smtp_sasl_password_maps=inline:{ [relay.example] u:Secr3t-Pw }" };
	const char *hashed[] = { "smtp_sasl_password_maps=hash:/etc/postfix/sasl_passwd" };
	const char *o[4] = { "smtp_sasl_auth_enable=yes" };
	struct sasl_maps *m = NULL;
	struct sasl_session *s;
	struct tlsmtp_config c;
	char dsn[16], text[512], err[512];

	(void)state;
	/* A table that cannot be read: never "no credentials". */
	setup_cfg(missing, 1);
	s = session("", "relay.example", "[relay.example]:587");
	assert_int_equal(sasl_credentials(s), -1);
	script(NULL, NULL, NULL);
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_FAILED);
	assert_string_equal(dsn, "4.3.0");
	assert_string_equal(text, "local data error while talking to relay.example[192.0.2.1]");
	sasl_session_free(s);

	/* An I/O failure leaves the outcome to the caller. */
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	script(NULL, NULL, NULL);
	io_state.fail_at = 1;
	ehlo(s, "250-relay.example\n250 AUTH PLAIN\n");
	assert_int_equal(sasl_login(s, SASL_CHANNEL_TLS, &fake_io, dsn, sizeof(dsn), text,
			     sizeof(text)),
	    SASL_RESULT_IO);
	sasl_session_free(s);

	/* Opening: the reason never quotes a value; hash: gets the fix. */
	o[1] = bad[0];
	assert_int_equal(config_load(&c, "/dev/null", (char *const *)o, 2, err, sizeof(err)), 0);
	assert_int_equal(sasl_maps_open(&c, NULL, 0, &m, err, sizeof(err)), -1);
	assert_null(strstr(err, "Secr3t-Pw"));
	config_free(&c);
	o[1] = hashed[0];
	assert_int_equal(config_load(&c, "/dev/null", (char *const *)o, 2, err, sizeof(err)), 0);
	assert_int_equal(sasl_maps_open(&c, NULL, 0, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tlsmap -P lmdb:FILE"));
	config_free(&c);
	/* Disabled: nothing opened. */
	assert_int_equal(config_load(&c, "/dev/null", NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(sasl_maps_open(&c, NULL, 0, &m, err, sizeof(err)), 0);
	assert_null(m);
	config_free(&c);
	/* Enabled without a table is a configuration error (Postfix: fatal). */
	assert_int_equal(config_load(&c, "/dev/null", (char *const *)o, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "smtp_sasl_password_maps"));
}

static void
test_redact(void **state)
{
	struct sasl_session *s;
	char text[128];

	(void)state;
	setup_cfg(tls_noanon, 1);
	s = session("", "relay.example", "[relay.example]:587");
	assert_int_equal(sasl_credentials(s), 1);
	snprintf(text, sizeof(text), "x Host-Pw-3Host-Pw-3 y");
	assert_int_equal(sasl_redact(s, text), 2);
	assert_string_equal(text, "x ** y");
	assert_int_equal(sasl_redact(NULL, text), 0);
	sasl_session_free(s);
}

static int
teardown(void **state)
{
	(void)state;
	sasl_maps_close(maps);
	maps = NULL;
	if (cfg_loaded)
		config_free(&cfg);
	cfg_loaded = 0;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lookup_order, teardown),
		cmocka_unit_test_teardown(test_plain_dialogue, teardown),
		cmocka_unit_test_teardown(test_login_dialogue, teardown),
		cmocka_unit_test_teardown(test_refused, teardown),
		cmocka_unit_test_teardown(test_no_mechanism, teardown),
		cmocka_unit_test_teardown(test_not_offered, teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_redact, teardown),
	};

	log_open("/dev/null", "TESTQ", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
