/*
 * test_tls_verify.c - tls_verify_peer() on real GnuTLS handshakes.
 *
 * The suite runs t/lib/mkcerts into a private temporary directory, then for
 * each case forks a TLS server on one end of a socketpair that presents the
 * chosen certificate chain, completes the handshake as a client on the
 * other end and calls tls_verify_peer() on the client session.  Covers
 * docs/security-cases.md section 2, cases 14-27, as far as they concern
 * certificate checks: names, wildcards, CN vs SAN, IDN, dates, trust,
 * basic and name constraints, EKU, weak keys and signatures, pathological
 * certificates, fingerprints, and the may/encrypt Trusted/Untrusted report.
 *
 * Every server child is bounded by alarm() and reaped before any assertion;
 * the group teardown kills a child left behind by a failed test.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>

/* tls */
#include "tls_verify.h"

#define PEER_LABEL     "mx.example.test[127.0.0.1]:25"
#define IO_TIMEOUT_S   10
#define SERVER_ALARM_S 20

static char pki_dir[PATH_MAX];
static gnutls_x509_trust_list_t trust;
static pid_t server_pid = -1;

/* ------------------------------------------------------------------------
 * Files and fixtures.
 */

static void
pki_path(char *buf, size_t size, const char *name, const char *suffix)
{
	int n = snprintf(buf, size, "%s/%s%s", pki_dir, name, suffix);

	if (n < 0 || (size_t)n >= size)
		fail_msg("path too long for %s%s", name, suffix);
}

/* Concatenate PEM files (each "NAME.pem") into one gnutls-allocated datum. */
static void
load_pems(const char *const *names, size_t count, gnutls_datum_t *out)
{
	char path[PATH_MAX];
	gnutls_datum_t part;
	size_t i;

	out->data = NULL;
	out->size = 0;
	for (i = 0; i < count; i++) {
		pki_path(path, sizeof(path), names[i], ".pem");
		if (gnutls_load_file(path, &part) < 0)
			fail_msg("cannot read %s", path);
		out->data = gnutls_realloc(out->data, out->size + part.size + 1);
		assert_non_null(out->data);
		memcpy(out->data + out->size, part.data, part.size);
		out->size += part.size;
		out->data[out->size] = 0;
		gnutls_free(part.data);
	}
}

static void
load_file(const char *name, const char *suffix, gnutls_datum_t *out)
{
	char path[PATH_MAX];

	pki_path(path, sizeof(path), name, suffix);
	if (gnutls_load_file(path, out) < 0)
		fail_msg("cannot read %s", path);
}

/* sha256 hex from fingerprints.txt: "NAME cert|spki HEX". */
static void
fingerprint(const char *name, const char *kind, char *hex, size_t size)
{
	char path[PATH_MAX], line[256], n[64], k[16], h[160];
	FILE *fp;

	pki_path(path, sizeof(path), "fingerprints", ".txt");
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%63s %15s %159s", n, k, h) == 3 && strcmp(n, name) == 0
		    && strcmp(k, kind) == 0 && strlen(h) < size) {
			strcpy(hex, h);
			fclose(fp);
			return;
		}
	}
	fclose(fp);
	fail_msg("no %s fingerprint for %s", kind, name);
}

static int
run_mkcerts(const char *dir)
{
	const char *top = getenv("top_srcdir");
	char script[PATH_MAX];
	pid_t pid;
	int status;

	snprintf(script, sizeof(script), "%s/t/lib/mkcerts", top ? top : ".");
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("bash", "bash", script, dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void
remove_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int
trust_file(gnutls_x509_trust_list_t *list, const char *name)
{
	char path[PATH_MAX];

	if (gnutls_x509_trust_list_init(list, 0) < 0)
		return -1;
	pki_path(path, sizeof(path), name, ".pem");
	return gnutls_x509_trust_list_add_trust_file(*list, path, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
		== 1
	    ? 0
	    : -1;
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (gnutls_global_init() < 0)
		return -1;
	snprintf(pki_dir, sizeof(pki_dir), "%s/tlsmtp-verify.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(pki_dir) == NULL)
		return -1;
	if (run_mkcerts(pki_dir) < 0) {
		fprintf(stderr, "t/lib/mkcerts failed (is top_srcdir set?)\n");
		return -1;
	}
	return trust_file(&trust, "ca");
}

static int
group_teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
	gnutls_x509_trust_list_deinit(trust, 1);
	remove_dir(pki_dir);
	gnutls_global_deinit();
	return 0;
}

/* ------------------------------------------------------------------------
 * Handshake over a socketpair with a forked server.
 */

struct server_conf {
	const gnutls_datum_t *cert_pem; /* chain, leaf first; NULL: anonymous */
	const gnutls_datum_t *key_pem;
};

#define ANON_PRIORITY "NORMAL:-VERS-TLS1.3:-KX-ALL:+ANON-ECDH"

static void
set_io_timeouts(int fd)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void __attribute__((noreturn))
server_main(int fd, const struct server_conf *conf)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_anon_server_credentials_t anon = NULL;
	gnutls_session_t s;
	char buf[64];
	int ret;

	alarm(SERVER_ALARM_S);
	if (gnutls_init(&s, GNUTLS_SERVER) < 0)
		_exit(2);
	if (conf->cert_pem == NULL) {
		if (gnutls_anon_allocate_server_credentials(&anon) < 0
		    || gnutls_priority_set_direct(s, ANON_PRIORITY, NULL) < 0
		    || gnutls_credentials_set(s, GNUTLS_CRD_ANON, anon) < 0)
			_exit(3);
	} else {
		if (gnutls_certificate_allocate_credentials(&cred) < 0
		    || gnutls_certificate_set_x509_key_mem2(cred, conf->cert_pem, conf->key_pem,
			   GNUTLS_X509_FMT_PEM, NULL, 0)
			< 0
		    || gnutls_set_default_priority(s) < 0
		    || gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
			_exit(4);
	}
	gnutls_handshake_set_max_packet_length(s, 1024 * 1024);
	gnutls_transport_set_int(s, fd);
	do {
		ret = gnutls_handshake(s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		fprintf(stderr, "server handshake: %s\n", gnutls_strerror(ret));
		_exit(5);
	}
	/* Wait for the client's close_notify (or EOF). */
	while (gnutls_record_recv(s, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

/*
 * Reap the server child: it exits by itself once the client end is closed;
 * after two seconds it is killed.
 */
static void
reap_server(int *status)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 200; i++) {
		if (waitpid(server_pid, status, WNOHANG) == server_pid) {
			server_pid = -1;
			return;
		}
		nanosleep(&pause, NULL);
	}
	kill(server_pid, SIGKILL);
	waitpid(server_pid, status, 0);
	server_pid = -1;
}

/*
 * Serve conf from a child, handshake as a client, run tls_verify_peer().
 * Returns 0 when the handshake completed and result was filled.  The child
 * is always reaped before returning.
 */
static int
handshake_verify(const struct server_conf *conf, const struct tls_match_spec *spec,
    struct tls_verify_result *result)
{
	gnutls_certificate_credentials_t cred;
	gnutls_anon_client_credentials_t anon;
	gnutls_session_t s;
	int sv[2], ret, status = 0, rc = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	server_pid = fork();
	if (server_pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (server_pid == 0) {
		close(sv[0]);
		server_main(sv[1], conf);
	}
	close(sv[1]);
	set_io_timeouts(sv[0]);

	gnutls_certificate_allocate_credentials(&cred);
	gnutls_anon_allocate_client_credentials(&anon);
	gnutls_init(&s, GNUTLS_CLIENT);
	if (conf->cert_pem == NULL)
		gnutls_priority_set_direct(s, ANON_PRIORITY, NULL);
	else
		gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_credentials_set(s, GNUTLS_CRD_ANON, anon);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, "mx.example.test", 15);
	gnutls_handshake_set_timeout(s, IO_TIMEOUT_S * 1000);
	/*
	 * GnuTLS refuses handshake messages over 128 KB by default, which
	 * already stops a 10,000-SAN certificate; lift it so the test reaches
	 * tls_verify_peer() with one.
	 */
	gnutls_handshake_set_max_packet_length(s, 1024 * 1024);
	gnutls_transport_set_int(s, sv[0]);
	do {
		ret = gnutls_handshake(s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret >= 0) {
		tls_verify_peer(s, spec, result);
		gnutls_bye(s, GNUTLS_SHUT_WR);
		rc = 0;
	} else {
		fprintf(stderr, "client handshake: %s\n", gnutls_strerror(ret));
	}
	close(sv[0]);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	gnutls_anon_free_client_credentials(anon);

	reap_server(&status);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		fprintf(stderr, "server child failed: status %#x\n", status);
		rc = -1;
	}
	return rc;
}

static void
spec_init(struct tls_match_spec *spec, enum tls_level level, const char *const *names,
    size_t name_count)
{
	memset(spec, 0, sizeof(*spec));
	spec->level = level;
	spec->names = names;
	spec->name_count = name_count;
	spec->digest_alg = GNUTLS_DIG_SHA256;
	spec->trust = trust;
	spec->peer_label = PEER_LABEL;
}

/* Serve the given PEM certificates (leaf first) with key KEYNAME.key. */
static void
serve_pems(const char *const *pems, size_t count, const char *keyname,
    const struct tls_match_spec *spec, struct tls_verify_result *result)
{
	gnutls_datum_t cert, key;
	struct server_conf conf = { &cert, &key };
	int rc;

	load_pems(pems, count, &cert);
	load_file(keyname, ".key", &key);
	rc = handshake_verify(&conf, spec, result);
	gnutls_free(cert.data);
	gnutls_free(key.data);
	assert_int_equal(rc, 0);
}

/* Serve NAME-chain.pem with NAME.key. */
static void
serve(const char *name, const struct tls_match_spec *spec, struct tls_verify_result *result)
{
	char chain[80];
	const char *pems[1];

	snprintf(chain, sizeof(chain), "%s-chain", name);
	pems[0] = chain;
	serve_pems(pems, 1, name, spec, result);
}

/* Verify NAME at LEVEL against one reference name. */
static void
check_one(const char *name, enum tls_level level, const char *ref, struct tls_verify_result *result)
{
	struct tls_match_spec spec;
	const char *names[1];

	names[0] = ref;
	spec_init(&spec, level, names, 1);
	serve(name, &spec, result);
}

static void
expect_verified(const char *name, const char *ref)
{
	struct tls_verify_result r;

	check_one(name, TLS_LEVEL_VERIFY, ref, &r);
	if (r.status != TLS_PEER_VERIFIED || r.matched != 1 || r.reason[0] != 0)
		fail_msg("%s as %s: status %s matched %d reason \"%s\"", name, ref,
		    tls_peer_status_name(r.status), r.matched, r.reason);
}

/* Rejected at verify with exactly this reason after the peer label. */
static void
expect_rejected(const char *name, const char *ref, const char *prefix, const char *detail)
{
	struct tls_verify_result r;
	enum tls_peer_status want_status;
	char want[512];

	check_one(name, TLS_LEVEL_VERIFY, ref, &r);
	snprintf(want, sizeof(want), "%scertificate verification failed for %s: %s", prefix,
	    PEER_LABEL, detail);
	/* A good chain with the wrong name is "Trusted", as in Postfix's log. */
	want_status =
	    strstr(detail, "hostname mismatch") != NULL ? TLS_PEER_TRUSTED : TLS_PEER_UNTRUSTED;
	if (r.status != want_status || r.matched != 0 || strcmp(r.reason, want) != 0)
		fail_msg("%s as %s: status %s matched %d reason \"%s\", want \"%s\"", name, ref,
		    tls_peer_status_name(r.status), r.matched, r.reason, want);
}

#define MISMATCH "server ", "num=62:hostname mismatch"

/* ------------------------------------------------------------------------
 * Certificates built here: certtool cannot write them.
 */

/* A SAN extension with the given dNSName byte strings (explicit lengths). */
static unsigned char *
san_der(const char *const *names, const size_t *lens, size_t count, size_t *der_len)
{
	size_t body = 0, i, off;
	unsigned char *der;

	for (i = 0; i < count; i++)
		body += 2 + lens[i]; /* every name is < 128 bytes */
	der = malloc(body + 5);
	assert_non_null(der);
	der[0] = 0x30;
	der[1] = 0x83;
	der[2] = (unsigned char)(body >> 16);
	der[3] = (unsigned char)(body >> 8);
	der[4] = (unsigned char)body;
	off = 5;
	for (i = 0; i < count; i++) {
		der[off++] = 0x82; /* [2] IA5String dNSName */
		der[off++] = (unsigned char)lens[i];
		memcpy(der + off, names[i], lens[i]);
		off += lens[i];
	}
	*der_len = off;
	return der;
}

/* Subject CommonNames of a built leaf (explicit lengths). */
struct cn_list {
	const char *const *names;
	const size_t *lens;
	size_t count;
};

static const char default_cn_name[] = "mx.example.test";
static const char *const default_cn_names[] = { default_cn_name };
static const size_t default_cn_lens[] = { sizeof(default_cn_name) - 1 };
static const struct cn_list default_cns = { default_cn_names, default_cn_lens, 1 };

/*
 * Leaf issued by "int" with key wrongname.key, the given SAN extension
 * (none when san is NULL) and CommonNames; *chain gets leaf + int in PEM.
 */
static void
make_leaf(const unsigned char *san, size_t san_len, const struct cn_list *cns,
    gnutls_datum_t *chain)
{
	size_t i;
	gnutls_x509_crt_t crt, ca;
	gnutls_x509_privkey_t key, ca_key;
	gnutls_datum_t pem, leaf;
	unsigned char serial[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	time_t now = time(NULL);
	const char *pems[1] = { "int" };

	gnutls_x509_crt_init(&crt);
	gnutls_x509_crt_init(&ca);
	gnutls_x509_privkey_init(&key);
	gnutls_x509_privkey_init(&ca_key);
	load_file("wrongname", ".key", &pem);
	assert_int_equal(gnutls_x509_privkey_import(key, &pem, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(pem.data);
	load_file("int", ".key", &pem);
	assert_int_equal(gnutls_x509_privkey_import(ca_key, &pem, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(pem.data);
	load_file("int", ".pem", &pem);
	assert_int_equal(gnutls_x509_crt_import(ca, &pem, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(pem.data);

	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 86400), 0);
	for (i = 0; i < cns->count; i++)
		assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
				     cns->names[i], cns->lens[i]),
		    0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), 0);
	assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), 0);
	if (san != NULL)
		assert_int_equal(gnutls_x509_crt_set_extension_by_oid(crt, "2.5.29.17", san,
				     san_len, 0),
		    0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &leaf), 0);

	load_pems(pems, 1, &pem);
	chain->size = leaf.size + pem.size;
	chain->data = gnutls_malloc(chain->size + 1);
	assert_non_null(chain->data);
	memcpy(chain->data, leaf.data, leaf.size);
	memcpy(chain->data + leaf.size, pem.data, pem.size);
	chain->data[chain->size] = 0;
	gnutls_free(pem.data);
	gnutls_free(leaf.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(ca_key);
}

static void
serve_built_cns(const unsigned char *san, size_t san_len, const struct cn_list *cns,
    const struct tls_match_spec *spec, struct tls_verify_result *result)
{
	gnutls_datum_t chain, key;
	struct server_conf conf = { &chain, &key };
	int rc;

	make_leaf(san, san_len, cns, &chain);
	load_file("wrongname", ".key", &key);
	rc = handshake_verify(&conf, spec, result);
	gnutls_free(chain.data);
	gnutls_free(key.data);
	assert_int_equal(rc, 0);
}

static void
serve_built(const unsigned char *san, size_t san_len, const struct tls_match_spec *spec,
    struct tls_verify_result *result)
{
	serve_built_cns(san, san_len, &default_cns, spec, result);
}

/* ------------------------------------------------------------------------
 * The cases.
 */

static void
test_good(void **state)
{
	static const char *const secure_names[] = { "example.test", ".example.test" };
	struct tls_match_spec spec;
	struct tls_verify_result r;

	(void)state;
	expect_verified("good", "mx.example.test");
	expect_verified("good", "MX.EXAMPLE.TEST.");
	expect_verified("good", "localhost");
	/* The IP SAN is no DNS name. */
	expect_rejected("good", "127.0.0.1", MISMATCH);

	/* Case 15: secure with nexthop, dot-nexthop. */
	spec_init(&spec, TLS_LEVEL_SECURE, secure_names, 2);
	serve("good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);
	assert_int_equal(r.matched, 1);
	assert_string_equal(r.reason, "");
}

/* Case 15: secure ignores the MX name; verify would accept it. */
static void
test_secure_nexthop(void **state)
{
	static const char *const names[] = { "victim.test", ".victim.test" };
	struct tls_match_spec spec;
	struct tls_verify_result r;

	(void)state;
	spec_init(&spec, TLS_LEVEL_SECURE, names, 2);
	serve("good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "server certificate verification failed for " PEER_LABEL ": num=62:hostname mismatch");
}

/* Case 14: wrong name: verify rejects, may and encrypt carry on. */
static void
test_wrong_name(void **state)
{
	struct tls_verify_result r;
	struct tls_match_spec spec;

	(void)state;
	expect_rejected("wrongname", "mx.example.test", MISMATCH);
	expect_verified("wrongname", "other.example.test");

	spec_init(&spec, TLS_LEVEL_ENCRYPT, NULL, 0);
	spec.trust = NULL;
	serve("wrongname", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 1);

	spec_init(&spec, TLS_LEVEL_MAY, NULL, 0);
	serve("wrongname", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 1);
	assert_string_equal(r.reason, "");
}

/* Case 16. */
static void
test_wildcards(void **state)
{
	(void)state;
	expect_verified("wildcard", "mx.example.test");
	expect_rejected("wildcard", "a.b.example.test", MISMATCH);
	expect_rejected("wildcard", "example.test", MISMATCH);
	expect_rejected("wild-tld", "mx.example.test", MISMATCH);
	expect_rejected("wild-tld", "example.test", MISMATCH);
	expect_rejected("wild-partial", "mx.example.test", MISMATCH);
	expect_rejected("wild-suffix", "mx.example.test", MISMATCH);
	expect_rejected("wild-suffix", "x.example.test", MISMATCH);
	expect_rejected("wild-idn", "xn--bcher-kva.example.test", MISMATCH);
	/* A wildcard never stands for an A-label. */
	expect_rejected("wildcard", "xn--bcher-kva.example.test", MISMATCH);
}

/* Case 17 (choices pinned: CN-only accepted, any SAN disables the CN). */
static void
test_cn_vs_san(void **state)
{
	(void)state;
	expect_rejected("san-cn", "mx.example.test", MISMATCH);
	expect_verified("san-cn", "other.example.test");
	expect_rejected("san-nodns", "mx.example.test", MISMATCH);
	expect_verified("cn-only", "mx.example.test");
	expect_rejected("cn-only", "other.example.test", MISMATCH);
}

/* Case 18 and 19 with certificates built here: NUL and raw UTF-8 SANs. */
static void
test_nul_and_utf8_san(void **state)
{
	static const char nul_name[] = "mx.example.test\0.evil.test";
	static const char utf8_name[] = "mx.b\xc3\xbc"
					"cher.test";
	static const char *const refs_nul[] = { "mx.example.test", ".evil.test" };
	static const char *const refs_utf8[] = { "mx.b\xc3\xbc"
						 "cher.test",
		"mx.xn--bcher-kva.test" };
	const char *names[1];
	size_t lens[1], der_len;
	unsigned char *der;
	struct tls_match_spec spec;
	struct tls_verify_result r;

	(void)state;
	names[0] = nul_name;
	lens[0] = sizeof(nul_name) - 1;
	der = san_der(names, lens, 1, &der_len);
	spec_init(&spec, TLS_LEVEL_VERIFY, refs_nul, 2);
	serve_built(der, der_len, &spec, &r);
	free(der);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "server certificate verification failed for " PEER_LABEL ": num=62:hostname mismatch");

	names[0] = utf8_name;
	lens[0] = sizeof(utf8_name) - 1;
	der = san_der(names, lens, 1, &der_len);
	spec_init(&spec, TLS_LEVEL_VERIFY, refs_utf8, 2);
	serve_built(der, der_len, &spec, &r);
	free(der);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "server certificate verification failed for " PEER_LABEL ": num=62:hostname mismatch");
}

/* CN fallback: exactly one CN, read with its length. */
static void
test_common_names(void **state)
{
	static const char mx[] = "mx.example.test";
	static const char other[] = "other.example.test";
	static const char nul_cn[] = "mx.example.test\0.evil.test";
	const char *names[2];
	size_t lens[2];
	struct cn_list cns = { names, lens, 0 };
	const char *refs[2] = { "mx.example.test", ".evil.test" };
	struct tls_match_spec spec;
	struct tls_verify_result r;

	(void)state;
	spec_init(&spec, TLS_LEVEL_VERIFY, refs, 2);

	/* One CN, no SAN: the CN counts (built here as a control). */
	names[0] = mx;
	lens[0] = sizeof(mx) - 1;
	cns.count = 1;
	serve_built_cns(NULL, 0, &cns, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);

	/* Two CNs: ambiguous, neither counts. */
	names[1] = other;
	lens[1] = sizeof(other) - 1;
	cns.count = 2;
	serve_built_cns(NULL, 0, &cns, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_string_equal(r.reason,
	    "server certificate verification failed for " PEER_LABEL ": num=62:hostname mismatch");
	names[0] = other;
	names[1] = mx;
	lens[0] = sizeof(other) - 1;
	lens[1] = sizeof(mx) - 1;
	serve_built_cns(NULL, 0, &cns, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);

	/* A NUL inside the CN. */
	names[0] = nul_cn;
	lens[0] = sizeof(nul_cn) - 1;
	cns.count = 1;
	serve_built_cns(NULL, 0, &cns, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 0);
}

/* Case 19. */
static void
test_idn(void **state)
{
	(void)state;
	expect_verified("idn", "mx.xn--bcher-kva.test");
	expect_verified("idn", "MX.XN--BCHER-KVA.TEST");
	expect_rejected("idn", "mx.example.test", MISMATCH);
}

/* Case 20. */
static void
test_dates(void **state)
{
	(void)state;
	expect_rejected("expired", "mx.example.test", "server ", "certificate has expired");
	expect_rejected("notyet", "mx.example.test", "server ", "certificate not yet valid");
}

/* Case 21. */
static void
test_untrusted(void **state)
{
	static const char *const leaf_only[] = { "good" };
	struct tls_match_spec spec;
	struct tls_verify_result r;
	const char *names[1] = { "mx.example.test" };

	(void)state;
	expect_rejected("untrusted", "mx.example.test", "",
	    "untrusted issuer /O=tlsmtp tests/CN=tlsmtp Untrusted Root CA");
	expect_rejected("selfsigned", "mx.example.test", "", "self-signed certificate");

	/* The intermediate is missing; nothing fetches it. */
	spec_init(&spec, TLS_LEVEL_VERIFY, names, 1);
	serve_pems(leaf_only, 1, "good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "certificate verification failed for " PEER_LABEL
	    ": untrusted issuer /O=tlsmtp tests/CN=tlsmtp Test Intermediate CA");

	/* No trust anchors at all: nothing is trusted. */
	spec_init(&spec, TLS_LEVEL_VERIFY, names, 1);
	spec.trust = NULL;
	serve("good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "certificate verification failed for " PEER_LABEL
	    ": untrusted issuer /O=tlsmtp tests/CN=tlsmtp Test Root CA");
}

/* Case 22. */
static void
test_basic_constraints(void **state)
{
	(void)state;
	expect_rejected("badissuer", "mx.example.test", "server ", "num=24:invalid CA certificate");
}

/* Case 23. */
static void
test_name_constraints(void **state)
{
	(void)state;
	expect_verified("nc-inside", "mx.example.test");
	expect_rejected("nc-outside", "mx.outside.test", "server ",
	    "num=47:permitted subtree violation");
	expect_rejected("nc-excluded", "mx.bad.example.test", "server ",
	    "num=47:permitted subtree violation");
	expect_rejected("nc-cn-only", "mx.outside.test", "server ",
	    "num=47:permitted subtree violation");
}

/* Case 24. */
static void
test_eku(void **state)
{
	(void)state;
	expect_rejected("clientauth", "mx.example.test", "",
	    "not designated for use as a server certificate");
	expect_verified("noeku", "mx.example.test");
}

/* Case 25. */
static void
test_weak_crypto(void **state)
{
	struct tls_match_spec spec;
	struct tls_verify_result r;

	(void)state;
	expect_rejected("rsa1024", "mx.example.test", "server ",
	    "num=66:EE certificate key too weak");
	expect_rejected("sha1", "mx.example.test", "server ",
	    "num=68:CA signature digest algorithm too weak");
	expect_rejected("weakca", "mx.example.test", "server ",
	    "num=67:CA certificate key too weak");

	/* Not even "Trusted" at may. */
	spec_init(&spec, TLS_LEVEL_MAY, NULL, 0);
	serve("rsa1024", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 1);
}

/* Case 26: 10,000 SANs, only the first SAN_EXAMINE_MAX looked at. */
static void
test_many_sans(void **state)
{
	enum { COUNT = 10000 };
	static char storage[COUNT][24];
	static const char *names[COUNT];
	static size_t lens[COUNT];
	const char *refs[1];
	struct tls_match_spec spec;
	struct tls_verify_result r;
	unsigned char *der;
	size_t der_len, i;

	(void)state;
	for (i = 0; i < COUNT; i++) {
		if (i == COUNT - 1)
			snprintf(storage[i], sizeof(storage[i]), "mx.example.test");
		else
			snprintf(storage[i], sizeof(storage[i]), "n%05zu.example.test", i);
		names[i] = storage[i];
		lens[i] = strlen(storage[i]);
	}
	der = san_der(names, lens, COUNT, &der_len);

	refs[0] = "n00000.example.test";
	spec_init(&spec, TLS_LEVEL_VERIFY, refs, 1);
	serve_built(der, der_len, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);

	refs[0] = "n01023.example.test";
	serve_built(der, der_len, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);

	/* Beyond the cap: not examined, so not matched. */
	refs[0] = "n01024.example.test";
	serve_built(der, der_len, &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);

	refs[0] = "mx.example.test";
	serve_built(der, der_len, &spec, &r);
	free(der);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "server certificate verification failed for " PEER_LABEL ": num=62:hostname mismatch");
}

/* Case 26: the chain limit is 9 issuers above the leaf. */
static void
test_long_chain(void **state)
{
	const char *pems[50];
	char names[50][16];
	struct tls_match_spec spec;
	struct tls_verify_result r;
	gnutls_x509_trust_list_t mid;
	const char *refs[1] = { "mx.example.test" };
	int i;

	(void)state;
	expect_rejected("chain50", "mx.example.test", "", "certificate chain longer than limit(9)");

	/* leaf + chain-49 .. chain-41 (10 certificates) under anchor chain-40. */
	pems[0] = "chain50";
	for (i = 1; i < 11; i++) {
		snprintf(names[i], sizeof(names[i]), "chain-%02d", 50 - i);
		pems[i] = names[i];
	}
	assert_int_equal(trust_file(&mid, "chain-40"), 0);
	spec_init(&spec, TLS_LEVEL_VERIFY, refs, 1);
	spec.trust = mid;
	serve_pems(pems, 10, "chain50", &spec, &r);
	assert_string_equal(r.reason, "");
	assert_int_equal(r.status, TLS_PEER_VERIFIED);
	gnutls_x509_trust_list_deinit(mid, 1);

	/* leaf + chain-49 .. chain-40 (11 certificates): over the limit. */
	assert_int_equal(trust_file(&mid, "chain-39"), 0);
	spec.trust = mid;
	serve_pems(pems, 11, "chain50", &spec, &r);
	gnutls_x509_trust_list_deinit(mid, 1);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_string_equal(r.reason,
	    "certificate verification failed for " PEER_LABEL
	    ": certificate chain longer than limit(9)");
}

static void
check_fingerprints(const char *name, const char *const *digests, size_t count,
    gnutls_digest_algorithm_t alg, struct tls_verify_result *r)
{
	struct tls_match_spec spec;

	spec_init(&spec, TLS_LEVEL_FINGERPRINT, NULL, 0);
	spec.trust = NULL;
	spec.digests = digests;
	spec.digest_count = count;
	spec.digest_alg = alg;
	serve(name, &spec, r);
}

static void
expect_fp(const char *name, const char *digest, int want_match)
{
	struct tls_verify_result r;
	const char *digests[1] = { digest };

	check_fingerprints(name, digests, 1, GNUTLS_DIG_SHA256, &r);
	assert_int_equal(r.matched, want_match);
	assert_int_equal(r.status, want_match ? TLS_PEER_VERIFIED : TLS_PEER_UNTRUSTED);
	if (want_match)
		assert_string_equal(r.reason, "");
	else
		assert_string_equal(r.reason,
		    "certificate verification failed for " PEER_LABEL
		    ": not trusted by local or TLSA policy");
}

/* "ab12..." -> "AB:12:..." */
static void
colon_upper(const char *hex, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; hex[i] && o + 3 < size; i++) {
		if (i > 0 && i % 2 == 0)
			out[o++] = ':';
		out[o++] = (hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 'a' + 'A' : hex[i];
	}
	out[o] = 0;
}

/* Case 27 (and the FP halves of 20 and 21). */
static void
test_fingerprint(void **state)
{
	char good_cert[160], good_spki[160], other_cert[160], other_spki[160];
	char fancy[200], hex[160];
	const char *several[3];
	struct tls_verify_result r;

	(void)state;
	fingerprint("good", "cert", good_cert, sizeof(good_cert));
	fingerprint("good", "spki", good_spki, sizeof(good_spki));
	fingerprint("wrongname", "cert", other_cert, sizeof(other_cert));
	fingerprint("rsa1024", "spki", other_spki, sizeof(other_spki));

	expect_fp("good", good_cert, 1);
	expect_fp("good", good_spki, 1);
	colon_upper(good_cert, fancy, sizeof(fancy));
	expect_fp("good", fancy, 1);
	expect_fp("good", other_cert, 0);
	expect_fp("good", other_spki, 0);
	expect_fp("good", "", 0);
	/* A prefix of the right digest is not the digest. */
	snprintf(hex, sizeof(hex), "%.63s", good_cert);
	expect_fp("good", hex, 0);

	several[0] = other_cert;
	several[1] = other_spki;
	several[2] = good_spki;
	check_fingerprints("good", several, 3, GNUTLS_DIG_SHA256, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);
	check_fingerprints("good", several, 2, GNUTLS_DIG_SHA256, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 0);

	/* Dates, issuer and name are not looked at. */
	fingerprint("expired", "cert", hex, sizeof(hex));
	expect_fp("expired", hex, 1);
	fingerprint("selfsigned", "spki", hex, sizeof(hex));
	expect_fp("selfsigned", hex, 1);
	fingerprint("untrusted", "cert", hex, sizeof(hex));
	expect_fp("untrusted", hex, 1);
	fingerprint("wrongname", "cert", hex, sizeof(hex));
	expect_fp("wrongname", hex, 1);
}

/* Another digest: computed here with GnuTLS from the certificate file. */
static void
test_fingerprint_sha512(void **state)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem, der;
	unsigned char md[64];
	char cert_hex[129], spki_hex[129];
	const char *digests[1];
	size_t mdlen = sizeof(md), i;
	struct tls_verify_result r;

	(void)state;
	load_file("good", ".pem", &pem);
	gnutls_x509_crt_init(&crt);
	assert_int_equal(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(pem.data);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA512, der.data, der.size, md), 0);
	for (i = 0; i < 64; i++)
		snprintf(cert_hex + 2 * i, 3, "%02x", md[i]);
	gnutls_free(der.data);
	assert_int_equal(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA512, md, &mdlen), 0);
	assert_int_equal(mdlen, 64);
	for (i = 0; i < 64; i++)
		snprintf(spki_hex + 2 * i, 3, "%02x", md[i]);
	gnutls_x509_crt_deinit(crt);

	digests[0] = cert_hex;
	check_fingerprints("good", digests, 1, GNUTLS_DIG_SHA512, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);
	digests[0] = spki_hex;
	check_fingerprints("good", digests, 1, GNUTLS_DIG_SHA512, &r);
	assert_int_equal(r.status, TLS_PEER_VERIFIED);
	/* The sha256 digest is not accepted when sha512 is configured. */
	fingerprint("good", "cert", cert_hex, sizeof(cert_hex));
	digests[0] = cert_hex;
	check_fingerprints("good", digests, 1, GNUTLS_DIG_SHA512, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
}

/* may and encrypt: the summary word, never a failed match. */
static void
test_opportunistic_report(void **state)
{
	struct tls_match_spec spec;
	struct tls_verify_result r;

	(void)state;
	spec_init(&spec, TLS_LEVEL_MAY, NULL, 0);
	serve("good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 1);
	assert_string_equal(tls_peer_status_name(r.status), "Trusted");

	serve("untrusted", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 1);
	assert_string_equal(r.reason,
	    "certificate verification failed for " PEER_LABEL
	    ": untrusted issuer /O=tlsmtp tests/CN=tlsmtp Untrusted Root CA");

	serve("expired", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 1);

	spec.trust = NULL;
	serve("good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 1);
	assert_string_equal(r.reason, "");

	spec_init(&spec, TLS_LEVEL_ENCRYPT, NULL, 0);
	serve("good", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_TRUSTED);
	assert_int_equal(r.matched, 1);
	serve("selfsigned", &spec, &r);
	assert_int_equal(r.status, TLS_PEER_UNTRUSTED);
	assert_int_equal(r.matched, 1);
}

static void
test_anonymous(void **state)
{
	struct server_conf conf = { NULL, NULL };
	struct tls_match_spec spec;
	struct tls_verify_result r;
	const char *names[1] = { "mx.example.test" };

	(void)state;
	spec_init(&spec, TLS_LEVEL_MAY, NULL, 0);
	assert_int_equal(handshake_verify(&conf, &spec, &r), 0);
	assert_int_equal(r.status, TLS_PEER_ANONYMOUS);
	assert_int_equal(r.matched, 1);
	assert_string_equal(tls_peer_status_name(r.status), "Anonymous");

	spec_init(&spec, TLS_LEVEL_VERIFY, names, 1);
	assert_int_equal(handshake_verify(&conf, &spec, &r), 0);
	assert_int_equal(r.status, TLS_PEER_ANONYMOUS);
	assert_int_equal(r.matched, 0);
	assert_string_equal(r.reason,
	    "server certificate verification failed for " PEER_LABEL
	    ": no X.509 certificate presented");
}

/* The exported pieces tlspolicy shows: fingerprints and DNs of a certificate. */
static void
test_fingerprint_hex_and_dn(void **state)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem, der;
	char want[160], hex[160], dn[256];

	(void)state;
	load_file("good", ".pem", &pem);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(pem.data);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
	fingerprint("good", "cert", want, sizeof(want));
	assert_int_equal(tls_fingerprint_hex(&der, GNUTLS_DIG_SHA256, 0, hex, sizeof(hex)), 0);
	assert_string_equal(hex, want);
	fingerprint("good", "spki", want, sizeof(want));
	assert_int_equal(tls_fingerprint_hex(&der, GNUTLS_DIG_SHA256, 1, hex, sizeof(hex)), 0);
	assert_string_equal(hex, want);
	/* Too small for the digest: refused, not cut. */
	assert_int_equal(tls_fingerprint_hex(&der, GNUTLS_DIG_SHA256, 0, hex, 64), -1);
	der.size = 10;
	assert_int_equal(tls_fingerprint_hex(&der, GNUTLS_DIG_SHA256, 1, hex, sizeof(hex)), -1);
	gnutls_free(der.data);
	tls_dn_oneline(crt, 0, dn, sizeof(dn));
	assert_string_equal(dn, "/O=tlsmtp tests/CN=mx.example.test");
	tls_dn_oneline(crt, 1, dn, sizeof(dn));
	assert_string_equal(dn, "/O=tlsmtp tests/CN=tlsmtp Test Intermediate CA");
	gnutls_x509_crt_deinit(crt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_secure_nexthop),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_cn_vs_san),
		cmocka_unit_test(test_nul_and_utf8_san),
		cmocka_unit_test(test_common_names),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_basic_constraints),
		cmocka_unit_test(test_name_constraints),
		cmocka_unit_test(test_eku),
		cmocka_unit_test(test_weak_crypto),
		cmocka_unit_test(test_many_sans),
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_fingerprint_sha512),
		cmocka_unit_test(test_fingerprint_hex_and_dn),
		cmocka_unit_test(test_opportunistic_report),
		cmocka_unit_test(test_anonymous),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
