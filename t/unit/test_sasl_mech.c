/*
 * test_sasl_mech.c - the SASL mechanisms without I/O (sasl_mech.c,
 * sasl_gsasl.c): RFC 4648 base64 and its strict decoder, the security
 * properties that smtp_sasl_security_options filter on, the choice of a
 * mechanism, PLAIN and LOGIN exactly, and CRAM-MD5 through GNU SASL
 * against RFC 2195's example.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* core */
#include "core.h"
/* smtp */
#include "sasl_gsasl.h"
#include "sasl_mech.h"

/* RFC 4648 section 10 */
static const char *const b64_vectors[][2] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_b64_vectors(void **state)
{
	char enc[64];
	unsigned char dec[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const char *raw = b64_vectors[i][0], *b64 = b64_vectors[i][1];

		assert_int_equal(sasl_b64_encode((const unsigned char *)raw, strlen(raw), enc,
				     sizeof(enc)),
		    strlen(b64));
		assert_string_equal(enc, b64);
		assert_int_equal(sasl_b64_decode(b64, strlen(b64), dec, sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(raw));
		assert_memory_equal(dec, raw, n);
	}
}

static void
test_b64_binary(void **state)
{
	unsigned char raw[256], dec[256];
	char enc[400];
	size_t n;

	(void)state;
	for (int i = 0; i < 256; i++)
		raw[i] = (unsigned char)i;
	n = sasl_b64_encode(raw, sizeof(raw), enc, sizeof(enc));
	assert_int_equal(n, SASL_B64_LEN(sizeof(raw)));
	assert_int_equal(sasl_b64_decode(enc, n, dec, sizeof(dec), &n), 0);
	assert_int_equal(n, sizeof(raw));
	assert_memory_equal(dec, raw, sizeof(raw));
	/* Too small an output buffer: nothing, never a cut string. */
	assert_int_equal(sasl_b64_encode(raw, 3, enc, 4), 0);
	assert_string_equal(enc, "");
	assert_int_equal(sasl_b64_decode("Zm9vYmFy", 8, dec, 5, &n), -1);
}

/* Everything but the alphabet and final padding is refused. */
static void
test_b64_strict(void **state)
{
	static const char *const bad[] = {
		"Zg=",
		"Zg",
		"Z",
		"Zg=a",
		"Z===",
		"====",
		"Zg==Zg==",
		"Zm9v\n",
		"Zm 9v",
		" Zm9v",
		"Zm9-",
		"Zm9_",
		"Zh==",
		"Zm9=",
		"Zm8b=",
		"Zm\r\n9v",
		"Zg==\n",
	};
	unsigned char dec[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sasl_b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n), -1);
	/* A NUL inside the counted length. */
	assert_int_equal(sasl_b64_decode("Zm\0v", 4, dec, sizeof(dec), &n), -1);
}

static void
test_security_mask(void **state)
{
	(void)state;
	assert_int_equal(sasl_security_mask(""), 0);
	assert_int_equal(sasl_security_mask("noplaintext, noanonymous"),
	    SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS);
	assert_int_equal(sasl_security_mask("NoActive\tnodictionary,,mutual_auth"),
	    SASL_SEC_NOACTIVE | SASL_SEC_NODICTIONARY | SASL_SEC_MUTUAL_AUTH);
	assert_int_equal(sasl_security_mask("noplaintextx"), 0);
}

static void
test_choose(void **state)
{
	const char *plain_login[] = { "login", "PLAIN" };
	const char *all[] = { "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
		"GSSAPI" };
	const char *unknown[] = { "GSSAPI", "NTLM", "XOAUTH2" };
	int lib = sasl_gsasl_built();

	(void)state;
	/* Over TLS with "noanonymous": PLAIN before LOGIN, whatever the server's order. */
	assert_string_equal(sasl_mech_choose(plain_login, 2, SASL_SEC_NOANONYMOUS), "PLAIN");
	/* Postfix's default "noplaintext, noanonymous" refuses both. */
	assert_null(sasl_mech_choose(plain_login, 2, SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS));
	assert_null(sasl_mech_choose(unknown, 3, 0));
	if (lib) {
		assert_string_equal(sasl_mech_choose(all, 6, 0), "SCRAM-SHA-256");
		assert_string_equal(sasl_mech_choose(all + 2, 1, SASL_SEC_NOPLAINTEXT), "CRAM-MD5");
		/* CRAM-MD5 does not resist active attacks; SCRAM does. */
		assert_string_equal(sasl_mech_choose(all, 4, SASL_SEC_NOACTIVE), "SCRAM-SHA-1");
		assert_null(sasl_mech_choose(all, 3, SASL_SEC_NOACTIVE));
		/* Nothing here resists dictionary attacks. */
		assert_null(sasl_mech_choose(all, 6, SASL_SEC_NODICTIONARY));
	} else {
		assert_string_equal(sasl_mech_choose(all, 6, 0), "PLAIN");
		assert_null(sasl_mech_choose(all, 6, SASL_SEC_NOPLAINTEXT));
	}
	assert_int_equal(sasl_mech_known("plain"), 1);
	assert_int_equal(sasl_mech_known("GSSAPI"), 0);
	assert_int_equal(sasl_mech_known("SCRAM-SHA-256"), lib);
}

static void
test_plain(void **state)
{
	struct sasl_mech *m;
	char *initial, *resp, why[256];
	unsigned char dec[64];
	size_t n;

	(void)state;
	assert_int_equal(sasl_mech_start("PLAIN", "alice", "s3cr:t", &m, &initial, why,
			     sizeof(why)),
	    0);
	assert_non_null(initial);
	assert_int_equal(sasl_b64_decode(initial, strlen(initial), dec, sizeof(dec), &n), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(dec, "\0alice\0s3cr:t", 13);
	/* PLAIN says everything at once: a challenge afterwards is an error. */
	assert_int_equal(sasl_mech_step(m, "", 0, &resp, why, sizeof(why)), -1);
	assert_null(resp);
	assert_non_null(strstr(why, "unexpected"));
	free(initial);
	sasl_mech_free(m);
}

static void
test_login(void **state)
{
	struct sasl_mech *m;
	char *initial, *resp, why[256];

	(void)state;
	assert_int_equal(sasl_mech_start("login", "alice@example.org", "pw", &m, &initial, why,
			     sizeof(why)),
	    0);
	assert_null(initial);
	/* The prompt's text does not matter, only the order. */
	assert_int_equal(sasl_mech_step(m, "VXNlcm5hbWU6", 12, &resp, why, sizeof(why)), 0);
	assert_string_equal(resp, "YWxpY2VAZXhhbXBsZS5vcmc=");
	free(resp);
	assert_int_equal(sasl_mech_step(m, "", 0, &resp, why, sizeof(why)), 0);
	assert_string_equal(resp, "cHc=");
	free(resp);
	assert_int_equal(sasl_mech_step(m, "UGFzc3dvcmQ6", 12, &resp, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "third"));
	sasl_mech_free(m);

	/* A malformed challenge is answered with nothing. */
	assert_int_equal(sasl_mech_start("LOGIN", "alice", "pw", &m, &initial, why, sizeof(why)),
	    0);
	assert_int_equal(sasl_mech_step(m, "VXNlcm5hbWU6*", 13, &resp, why, sizeof(why)), -1);
	assert_null(resp);
	assert_string_equal(why, "malformed server challenge (not base64)");
	sasl_mech_free(m);
}

static void
test_limits(void **state)
{
	struct sasl_mech *m;
	char *initial, why[256], *big = malloc(2000);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 1999);
	big[1999] = '\0';
	assert_int_equal(sasl_mech_start("PLAIN", "alice", big, &m, &initial, why, sizeof(why)),
	    -1);
	assert_null(m);
	assert_int_equal(sasl_mech_start("GSSAPI", "alice", "pw", &m, &initial, why, sizeof(why)),
	    -1);
	free(big);
}

/* RFC 2195 section 2: the example exchange, through GNU SASL. */
static void
test_cram_md5(void **state)
{
	const char *challenge = "<1896.697170952@postoffice.reston.mci.net>";
	const char *expected = "tim b913a602c7eda7a495b4e6e7334d3890";
	char b64[128], *initial, *resp, why[256];
	unsigned char dec[128];
	struct sasl_mech *m;
	size_t n;

	(void)state;
	if (!sasl_gsasl_built()) {
		assert_int_equal(sasl_mech_start("CRAM-MD5", "tim", "tanstaaftanstaaf", &m,
				     &initial, why, sizeof(why)),
		    -1);
		return;
	}
	/* Built with GNU SASL: its runtime library must be there (libgsasl18). */
	assert_true(sasl_gsasl_usable("CRAM-MD5"));
	assert_int_equal(sasl_mech_start("CRAM-MD5", "tim", "tanstaaftanstaaf", &m, &initial, why,
			     sizeof(why)),
	    0);
	assert_null(initial); /* the server speaks first */
	sasl_b64_encode((const unsigned char *)challenge, strlen(challenge), b64, sizeof(b64));
	assert_int_equal(sasl_mech_step(m, b64, strlen(b64), &resp, why, sizeof(why)), 0);
	assert_int_equal(sasl_b64_decode(resp, strlen(resp), dec, sizeof(dec), &n), 0);
	assert_int_equal(n, strlen(expected));
	assert_memory_equal(dec, expected, n);
	free(resp);
	/* The exchange is over: one more challenge is refused. */
	assert_int_equal(sasl_mech_step(m, b64, strlen(b64), &resp, why, sizeof(why)), -1);
	sasl_mech_free(m);
}

/* SCRAM's client-first message: "n,,n=user,r=NONCE" (no channel binding). */
static void
test_scram_first(void **state)
{
	char *initial, why[256];
	unsigned char dec[256];
	struct sasl_mech *m;
	size_t n;

	(void)state;
	if (!sasl_gsasl_built())
		return;
	assert_int_equal(sasl_mech_start("SCRAM-SHA-256", "alice", "pw", &m, &initial, why,
			     sizeof(why)),
	    0);
	assert_non_null(initial);
	assert_int_equal(sasl_b64_decode(initial, strlen(initial), dec, sizeof(dec) - 1, &n), 0);
	dec[n] = '\0';
	assert_int_equal(strncmp((char *)dec, "n,,n=alice,r=", 13), 0);
	assert_true(n > 13 + 8);
	/* A server-first message that is not SCRAM is the library's error. */
	{
		char *resp;

		assert_int_equal(sasl_mech_step(m, "Zm9vYmFy", 8, &resp, why, sizeof(why)), -1);
	}
	free(initial);
	sasl_mech_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_binary),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_security_mask),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_cram_md5),
		cmocka_unit_test(test_scram_first),
	};

	log_open("/dev/null", "TESTQ", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
