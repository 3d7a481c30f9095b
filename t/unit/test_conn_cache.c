/*
 * test_conn_cache.c - connection reuse between deliveries (conn_cache.c).
 *
 * The reuse key (what makes two deliveries share a connection, and what
 * keeps them apart), the directory rules (ours, mode 0700, else not
 * used), and a real holder: a plaintext "server" on a socketpair is held,
 * taken, spoken through (bytes both ways), released (the release line
 * never reaches the server) and taken again, then dropped by a client
 * that goes away mid-transaction, after which nothing can take it.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* core */
#include "core.h"
/* net */
#include "stream.h"
/* tls */
#include "tls_policy.h"
/* smtp */
#include "conn_cache.h"

static char tmpdir[] = "/tmp/test_conn_cache."
		       "XX"
		       "XX"
		       "XX";
static char conndir[300], cafile[300];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(conndir, sizeof(conndir), "%s/conn", tmpdir);
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
load(struct tlsmtp_config *cfg, const char *extra)
{
	char dir[400], ca[400], err[256];
	char *ov[3] = { dir, ca, (char *)extra };

	snprintf(dir, sizeof(dir), "smtp_connection_cache_directory=%s", conndir);
	snprintf(ca, sizeof(ca), "smtp_tls_CAfile=%s", cafile);
	memset(cfg, 0, sizeof(*cfg));
	assert_int_equal(config_load(cfg, "/dev/null", ov, extra != NULL ? 3 : 2, err, sizeof(err)),
	    0);
}

static void
policy(struct tls_effective *eff, enum tls_level level, char **match, size_t n)
{
	memset(eff, 0, sizeof(*eff));
	eff->level = level;
	eff->protocol_mask = TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3;
	eff->grade = TLS_GRADE_MEDIUM;
	eff->match = match;
	eff->match_count = n;
}

static void
key_for(const char *nexthop, const struct tlsmtp_config *cfg, const struct tls_effective *eff,
    struct conn_cache_key *key, int want)
{
	struct nexthop nh;
	char err[256];

	assert_int_equal(nexthop_parse(nexthop, &nh, err, sizeof(err)), 0);
	assert_int_equal(conn_cache_key_make(cfg, &nh, eff, key), want);
}

static int
same(const struct conn_cache_key *a, const struct conn_cache_key *b)
{
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

static void
test_key(void **state)
{
	struct tlsmtp_config cfg, other;
	struct tls_effective eff, eff2;
	struct conn_cache_key a, b;
	char *m1[] = { "mx.example.test" }, *m2[] = { "other.example.test" };
	FILE *fp;

	(void)state;
	fp = fopen(cafile, "w");
	assert_non_null(fp);
	fputs("one\n", fp);
	fclose(fp);
	load(&cfg, NULL);
	policy(&eff, TLS_LEVEL_SECURE, m1, 1);
	key_for("[mx.example.test]:2525", &cfg, &eff, &a, 0);
	key_for("[mx.example.test]:2525", &cfg, &eff, &b, 0);
	assert_true(same(&a, &b));
	assert_int_equal(a.hash, b.hash);
	/* Another next-hop, port, level or match name: another key. */
	key_for("[127.0.0.1]:2525", &cfg, &eff, &b, 0);
	assert_false(same(&a, &b));
	key_for("[mx.example.test]:2526", &cfg, &eff, &b, 0);
	assert_false(same(&a, &b));
	policy(&eff2, TLS_LEVEL_ENCRYPT, NULL, 0);
	key_for("[mx.example.test]:2525", &cfg, &eff2, &b, 0);
	assert_false(same(&a, &b));
	policy(&eff2, TLS_LEVEL_SECURE, m2, 1);
	key_for("[mx.example.test]:2525", &cfg, &eff2, &b, 0);
	assert_false(same(&a, &b));
	/* Another HELO name. */
	load(&other, "smtp_helo_name=other.example.org");
	key_for("[mx.example.test]:2525", &other, &eff, &b, 0);
	assert_false(same(&a, &b));
	config_free(&other);
	/* The CA file rewritten: by stat(2), another key. */
	fp = fopen(cafile, "w");
	assert_non_null(fp);
	fputs("two, longer\n", fp);
	fclose(fp);
	key_for("[mx.example.test]:2525", &cfg, &eff, &b, 0);
	assert_false(same(&a, &b));
	/* DANE levels are never reused; nor anything without the directory. */
	policy(&eff2, TLS_LEVEL_DANE, NULL, 0);
	key_for("[mx.example.test]:2525", &cfg, &eff2, &b, -1);
	config_free(&cfg);
	load(&cfg, "smtp_connection_cache_on_demand=no");
	key_for("[mx.example.test]:2525", &cfg, &eff, &b, -1);
	config_free(&cfg);
}

/* Read exactly what the holder forwards within a second. */
static void
expect_bytes(int fd, const char *want)
{
	char buf[256];
	size_t have = 0, n = strlen(want);
	int64_t end = now_ms() + 2000;

	while (have < n && now_ms() < end) {
		ssize_t r = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);

		if (r > 0)
			have += (size_t)r;
		else
			usleep(10000);
	}
	buf[have] = '\0';
	assert_string_equal(buf, want);
}

static void
test_holder(void **state)
{
	struct tlsmtp_config cfg;
	struct tls_effective eff;
	struct conn_cache_key key;
	struct conn_cache_lease lease;
	struct route_addr addr;
	struct tls_info tls;
	struct ehlo_features feat;
	struct stream *s;
	char line[512];
	size_t len;
	int sv[2];

	(void)state;
	load(&cfg, "smtp_connection_cache_time_limit=3s");
	policy(&eff, TLS_LEVEL_NONE, NULL, 0);
	key_for("[127.0.0.1]:2525", &cfg, &eff, &key, 0);
	/* No directory yet: nothing to take. */
	assert_int_equal(conn_cache_take(&cfg, &key, &lease), 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_non_null(s = stream_new(sv[0]));
	memset(&addr, 0, sizeof(addr));
	snprintf(addr.host, sizeof(addr.host), "127.0.0.1");
	snprintf(addr.addr, sizeof(addr.addr), "127.0.0.1");
	addr.sa.ss_family = AF_INET;
	((struct sockaddr_in *)&addr.sa)->sin_port = htons(2525);
	memset(&tls, 0, sizeof(tls));
	memset(&feat, 0, sizeof(feat));
	feat.pipelining = 1;
	assert_int_equal(conn_cache_hold(&cfg, &key, s, &addr, 0, &tls, &feat, 1, NULL), 1);
	stream_free(s); /* the holder has its own copy */

	/* The directory was made private. */
	{
		struct stat st;

		assert_int_equal(lstat(conndir, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}

	/* Another key finds nothing. */
	{
		struct conn_cache_key other;
		struct tls_effective e2;

		policy(&e2, TLS_LEVEL_NONE, NULL, 0);
		key_for("[127.0.0.2]:2525", &cfg, &e2, &other, 0);
		assert_int_equal(conn_cache_take(&cfg, &other, &lease), 0);
	}

	assert_int_equal(conn_cache_take(&cfg, &key, &lease), 1);
	assert_int_equal(lease.uses, 1);
	assert_true(lease.feat.pipelining);
	assert_int_equal(route_addr_port(&lease.addr), 2525);
	/* A second client meanwhile is turned away. */
	{
		struct conn_cache_lease busy;

		assert_int_equal(conn_cache_take(&cfg, &key, &busy), 0);
	}
	assert_int_equal(stream_write(lease.stream, "RSET\r\n", 6, 2, now_ms() + 2000), STREAM_OK);
	expect_bytes(sv[1], "RSET\r\n");
	assert_int_equal(write(sv[1], "250 2.0.0 Ok\r\n", 14), 14);
	assert_int_equal(stream_read_line(lease.stream, line, sizeof(line), &len, now_ms() + 2000),
	    STREAM_OK);
	assert_string_equal(line, "250 2.0.0 Ok");
	conn_cache_release(&lease, now_ms() + 2000);

	/* Released: the release line never reached the server; taken again. */
	assert_int_equal(conn_cache_take(&cfg, &key, &lease), 1);
	assert_int_equal(lease.uses, 2);
	assert_int_equal(stream_write(lease.stream, "MAIL FROM:<a@b>\r\n", 17, 2, now_ms() + 2000),
	    STREAM_OK);
	expect_bytes(sv[1], "MAIL FROM:<a@b>\r\n");
	/* Gone mid-transaction: the holder drops the connection, no QUIT. */
	conn_cache_lease_free(&lease);
	{
		char buf[64];
		ssize_t r;
		int64_t end = now_ms() + 2000;

		do
			r = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
		while (r < 0 && now_ms() < end && usleep(10000) == 0);
		assert_int_equal(r, 0); /* EOF, nothing sent */
	}
	assert_int_equal(conn_cache_take(&cfg, &key, &lease), 0);
	close(sv[1]);
	config_free(&cfg);
}

static void
test_directory_not_ours(void **state)
{
	struct tlsmtp_config cfg;
	struct tls_effective eff;
	struct conn_cache_key key;
	struct conn_cache_lease lease;

	(void)state;
	load(&cfg, NULL);
	policy(&eff, TLS_LEVEL_NONE, NULL, 0);
	key_for("[127.0.0.1]:2525", &cfg, &eff, &key, 0);
	(void)mkdir(conndir, 0700);
	assert_int_equal(chmod(conndir, 0755), 0);
	assert_int_equal(conn_cache_take(&cfg, &key, &lease), 0);
	assert_int_equal(chmod(conndir, 0700), 0);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_holder),
		cmocka_unit_test(test_directory_not_ours),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
