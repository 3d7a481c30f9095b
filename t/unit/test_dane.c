/*
 * test_dane.c - cmocka units for dane_verify_chain() on certificates from
 * t/lib/mkcerts (generated into a private temporary directory).
 *
 * DANE-EE: "3 0 1" and "3 1 1" built from mkcerts' own fingerprints.txt,
 * "3 1 2", "3 0 0", "3 1 0" from the certificate; an expired, a
 * self-signed and a misnamed leaf still match; one changed nibble does
 * not.  DANE-TA: the intermediate by certificate and by key digest; the
 * root by a full "2 0 0" record although the server does not send it, but
 * not by a digest; a wrong name, an expired leaf, and a leaf from another
 * CA presented with a copy of the real TA all fail with Postfix's words.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "dane.h"

#define LABEL	  "mx.example.test[127.0.0.1]:25"
#define CHAIN_MAX 8

static char pki_dir[PATH_MAX / 2];
static const char *const mx_names[] = { "example.test", "mx.example.test" };

struct chain {
	gnutls_datum_t der[CHAIN_MAX];
	unsigned n;
};

static void
load(struct chain *c, const char *file)
{
	char path[PATH_MAX];
	gnutls_datum_t pem;
	gnutls_x509_crt_t *crts;
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/%s.pem", pki_dir, file);
	assert_int_equal(gnutls_load_file(path, &pem), 0);
	assert_true(gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0) >= 0);
	gnutls_free(pem.data);
	assert_true(n >= 1 && n <= CHAIN_MAX);
	for (unsigned i = 0; i < n; i++) {
		assert_true(gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &c->der[i]) >= 0);
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
	c->n = n;
}

/* Append the certificates of file to c. */
static void
append(struct chain *c, const char *file)
{
	struct chain more;

	load(&more, file);
	assert_true(c->n + more.n <= CHAIN_MAX);
	for (unsigned i = 0; i < more.n; i++)
		c->der[c->n++] = more.der[i];
}

static void
unload(struct chain *c)
{
	for (unsigned i = 0; i < c->n; i++)
		gnutls_free(c->der[i].data);
	c->n = 0;
}

static void
set_add(struct tlsa_set *set, unsigned u, unsigned s, unsigned t, const uint8_t *data, size_t len)
{
	struct tlsa_rr *rr = &set->rr[set->count++];

	rr->usage = (uint8_t)u;
	rr->selector = (uint8_t)s;
	rr->mtype = (uint8_t)t;
	rr->data = malloc(len);
	assert_non_null(rr->data);
	memcpy(rr->data, data, len);
	rr->len = len;
	rr->usable = tlsa_usable(u, s, t, len);
	set->usable += rr->usable;
	set->status = TLSA_FOUND;
}

/* A record for cert c->der[i] computed here. */
static void
set_add_for(struct tlsa_set *set, unsigned u, unsigned s, unsigned t, const gnutls_datum_t *der)
{
	gnutls_x509_crt_t crt;
	gnutls_pubkey_t pub;
	gnutls_datum_t spki, *sel = (gnutls_datum_t *)der;
	uint8_t dig[64];

	spki.data = NULL;
	if (s == 1) {
		assert_int_equal(gnutls_x509_crt_init(&crt), 0);
		assert_int_equal(gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER), 0);
		assert_int_equal(gnutls_pubkey_init(&pub), 0);
		assert_int_equal(gnutls_pubkey_import_x509(pub, crt, 0), 0);
		assert_int_equal(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki), 0);
		gnutls_pubkey_deinit(pub);
		gnutls_x509_crt_deinit(crt);
		sel = &spki;
	}
	if (t == 0)
		set_add(set, u, s, t, sel->data, sel->size);
	else {
		gnutls_digest_algorithm_t alg = t == 1 ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_SHA512;

		assert_int_equal(gnutls_hash_fast(alg, sel->data, sel->size, dig), 0);
		set_add(set, u, s, t, dig, gnutls_hash_get_len(alg));
	}
	gnutls_free(spki.data);
}

/* A "3 x 1" record from mkcerts' fingerprints.txt (kind "cert" or "spki"). */
static void
set_add_fingerprint(struct tlsa_set *set, const char *leaf, const char *kind, int flip)
{
	char path[PATH_MAX], line[256], n[64], k[16], h[160];
	uint8_t dig[32];
	FILE *fp;
	int found = 0;

	snprintf(path, sizeof(path), "%s/fingerprints.txt", pki_dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = sscanf(line, "%63s %15s %159s", n, k, h) == 3 && strcmp(n, leaf) == 0
		    && strcmp(k, kind) == 0 && strlen(h) == 64;
	fclose(fp);
	assert_true(found);
	for (int i = 0; i < 32; i++) {
		unsigned v;

		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		dig[i] = (uint8_t)v;
	}
	if (flip)
		dig[17] ^= 0x01; /* one nibble off */
	set_add(set, 3, strcmp(kind, "spki") == 0 ? 1 : 0, 1, dig, sizeof(dig));
}

static void
check(const struct chain *c, const struct tlsa_set *set, const char *const *names, size_t n,
    int want, const char *want_reason)
{
	struct tls_verify_result res;

	dane_verify_chain(c->der, c->n, set, names, n, LABEL, &res);
	if (want) {
		assert_int_equal(res.matched, 1);
		assert_int_equal(res.status, TLS_PEER_VERIFIED);
		assert_string_equal(res.reason, "");
	} else {
		assert_int_equal(res.matched, 0);
		assert_int_not_equal(res.status, TLS_PEER_VERIFIED);
		assert_string_equal(res.reason, want_reason);
	}
}

#define NOT_TRUSTED \
	"certificate verification failed for " LABEL ": not trusted by local or TLSA policy"

static void
ee_matches(void **state)
{
	struct chain c;
	struct tlsa_set set;
	static const unsigned combos[][2] = { { 0, 1 }, { 1, 1 }, { 1, 2 }, { 0, 0 }, { 1, 0 },
		{ 0, 2 } };

	(void)state;
	load(&c, "good-chain");
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		memset(&set, 0, sizeof(set));
		set_add_for(&set, 3, combos[i][0], combos[i][1], &c.der[0]);
		check(&c, &set, mx_names, 2, 1, NULL);
		/* The same record for the intermediate does not make the leaf match. */
		tlsa_set_free(&set);
		set_add_for(&set, 3, combos[i][0], combos[i][1], &c.der[1]);
		check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
		tlsa_set_free(&set);
	}
	/* mkcerts' fingerprints: an independent computation of 3 0 1 and 3 1 1. */
	memset(&set, 0, sizeof(set));
	set_add_fingerprint(&set, "good", "cert", 0);
	check(&c, &set, mx_names, 2, 1, NULL);
	tlsa_set_free(&set);
	set_add_fingerprint(&set, "good", "spki", 0);
	check(&c, &set, mx_names, 2, 1, NULL);
	tlsa_set_free(&set);
	set_add_fingerprint(&set, "good", "spki", 1);
	check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
	tlsa_set_free(&set);
	unload(&c);
}

static void
ee_ignores_dates_and_names(void **state)
{
	static const char *const leaves[] = { "expired", "selfsigned", "wrongname", "notyet" };
	struct chain c;
	struct tlsa_set set;

	(void)state;
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		memset(&set, 0, sizeof(set));
		load(&c, leaves[i]);
		set_add_fingerprint(&set, leaves[i], "spki", 0);
		check(&c, &set, mx_names, 2, 1, NULL);
		tlsa_set_free(&set);
		unload(&c);
	}
}

static void
ta_matches(void **state)
{
	struct chain c, root;
	struct tlsa_set set;

	(void)state;
	load(&c, "good-chain");
	load(&root, "ca");
	memset(&set, 0, sizeof(set));
	set_add_for(&set, 2, 0, 1, &c.der[1]);
	check(&c, &set, mx_names, 2, 1, NULL);
	tlsa_set_free(&set);
	set_add_for(&set, 2, 1, 1, &c.der[1]);
	check(&c, &set, mx_names, 2, 1, NULL);
	tlsa_set_free(&set);
	/* The name check is "nexthop, hostname". */
	{
		static const char *const other[] = { "other.test", "mx.other.test" };

		set_add_for(&set, 2, 1, 1, &c.der[1]);
		check(&c, &set, other, 2, 0,
		    "server certificate verification failed for " LABEL
		    ": num=62:hostname mismatch");
		tlsa_set_free(&set);
	}
	/* The root is not sent: a digest cannot name it, the full certificate can. */
	set_add_for(&set, 2, 0, 1, &root.der[0]);
	check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
	tlsa_set_free(&set);
	set_add_for(&set, 2, 0, 0, &root.der[0]);
	check(&c, &set, mx_names, 2, 1, NULL);
	tlsa_set_free(&set);
	/* A DANE-TA record for the leaf itself is no trust anchor. */
	set_add_for(&set, 2, 0, 1, &c.der[0]);
	check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
	tlsa_set_free(&set);
	unload(&root);
	unload(&c);
}

static void
ta_dates_and_forgery(void **state)
{
	struct chain c, good;
	struct tlsa_set set;

	(void)state;
	load(&good, "good-chain");
	/* Expired leaf under the intermediate: DANE-TA checks dates. */
	load(&c, "expired-chain");
	memset(&set, 0, sizeof(set));
	set_add_for(&set, 2, 1, 1, &good.der[1]);
	check(&c, &set, mx_names, 2, 0,
	    "server certificate verification failed for " LABEL ": certificate has expired");
	unload(&c);
	/* A leaf from another CA with a copy of the real TA appended. */
	load(&c, "untrusted");
	append(&c, "int");
	check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
	tlsa_set_free(&set);
	/* Same with the full TA certificate in a "2 0 0" record. */
	set_add_for(&set, 2, 0, 0, &good.der[1]);
	check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
	tlsa_set_free(&set);
	unload(&c);
	unload(&good);
}

static void
mixed_and_empty(void **state)
{
	struct chain c;
	struct tlsa_set set;
	struct tls_verify_result res;

	(void)state;
	load(&c, "good-chain");
	memset(&set, 0, sizeof(set));
	/* Unusable records are ignored even when they would match. */
	set_add_for(&set, 1, 1, 1, &c.der[0]);
	check(&c, &set, mx_names, 2, 0, NOT_TRUSTED);
	/* A usable one beside them decides. */
	set_add_for(&set, 3, 1, 1, &c.der[0]);
	check(&c, &set, mx_names, 2, 1, NULL);
	tlsa_set_free(&set);
	/* No certificate at all. */
	set_add_for(&set, 3, 1, 1, &c.der[0]);
	dane_verify_chain(NULL, 0, &set, mx_names, 2, LABEL, &res);
	assert_int_equal(res.matched, 0);
	assert_int_equal(res.status, TLS_PEER_ANONYMOUS);
	tlsa_set_free(&set);
	unload(&c);
}

static int
run_mkcerts(const char *dir)
{
	const char *top = getenv("top_srcdir");
	char script[PATH_MAX];
	pid_t pid;
	int status;

	snprintf(script, sizeof(script), "%s/t/lib/mkcerts", top ? top : ".");
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		execlp("bash", "bash", script, dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (gnutls_global_init() < 0)
		return -1;
	snprintf(pki_dir, sizeof(pki_dir), "%s/tlsmtp-dane.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(pki_dir) == NULL)
		return -1;
	if (run_mkcerts(pki_dir) < 0) {
		fprintf(stderr, "t/lib/mkcerts failed (is top_srcdir set?)\n");
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	DIR *d;
	struct dirent *de;
	char path[PATH_MAX];

	(void)state;
	if ((d = opendir(pki_dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0
			    && snprintf(path, sizeof(path), "%s/%s", pki_dir, de->d_name)
				< (int)sizeof(path))
				unlink(path);
		closedir(d);
	}
	rmdir(pki_dir);
	gnutls_global_deinit();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ee_matches),
		cmocka_unit_test(ee_ignores_dates_and_names),
		cmocka_unit_test(ta_matches),
		cmocka_unit_test(ta_dates_and_forgery),
		cmocka_unit_test(mixed_and_empty),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
