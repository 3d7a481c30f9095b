/*
 * test_config.c - main.cf-syntax configuration (config.c): defaults,
 * file syntax, $name expansion, -o overrides and every kind of bad value.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

static char conf_path[64];

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(conf_path, sizeof(conf_path), "/tmp/tlsmtp-conf-XXXXXX");
	if ((fd = mkstemp(conf_path)) < 0)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	return 0;
}

static void
write_conf(const char *text)
{
	FILE *fp = fopen(conf_path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int
load_text(struct tlsmtp_config *cfg, const char *text, char *const *o, size_t n, char *err,
    size_t errlen)
{
	write_conf(text);
	return config_load(cfg, conf_path, o, n, err, errlen);
}

static void
test_defaults(void **state)
{
	struct tlsmtp_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load_text(&cfg, "", NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.tls_security_level, "may");
	assert_int_equal(cfg.default_level, TLS_LEVEL_MAY);
	assert_string_equal(cfg.tls_policy_maps, "");
	assert_null(cfg.tls_CAfile);
	assert_null(cfg.tls_CApath);
	assert_null(cfg.tls_cert_file);
	assert_null(cfg.tls_key_file);
	assert_string_equal(cfg.tls_fingerprint_digest, "sha256");
	assert_int_equal(cfg.tls_loglevel, 0);
	assert_string_equal(cfg.tls_protocols, ">=TLSv1");
	assert_string_equal(cfg.tls_mandatory_protocols, ">=TLSv1.2");
	assert_string_equal(cfg.tls_ciphers, "medium");
	assert_string_equal(cfg.tls_mandatory_ciphers, "medium");
	assert_string_equal(cfg.tls_verify_cert_match, "hostname");
	assert_string_equal(cfg.tls_secure_cert_match, "nexthop, dot-nexthop");
	assert_non_null(cfg.myhostname);
	assert_non_null(strchr(cfg.myhostname, '.'));
	assert_string_equal(cfg.helo_name, cfg.myhostname);
	assert_string_equal(cfg.tcp_port, "25");
	assert_string_equal(cfg.fallback_relay, "");
	assert_int_equal(cfg.tls_append_default_CA, 0);
	assert_int_equal(cfg.line_length_limit, 998);
	assert_int_equal(cfg.connect_timeout, 30);
	assert_int_equal(cfg.helo_timeout, 300);
	assert_int_equal(cfg.starttls_timeout, 300);
	assert_int_equal(cfg.mail_timeout, 300);
	assert_int_equal(cfg.rcpt_timeout, 300);
	assert_int_equal(cfg.data_init_timeout, 120);
	assert_int_equal(cfg.data_xfer_timeout, 180);
	assert_int_equal(cfg.data_done_timeout, 600);
	assert_int_equal(cfg.quit_timeout, 300);
	assert_int_equal(cfg.rset_timeout, 20);
	assert_int_equal(cfg.mx_address_limit, 5);
	assert_int_equal(cfg.mx_session_limit, 2);
	assert_string_equal(cfg.address_preference, "any");
	assert_int_equal(cfg.randomize_addresses, 1);
	assert_int_equal(cfg.skip_5xx_greeting, 1);
	assert_string_equal(cfg.dns_servers, "");
	assert_string_equal(cfg.maillog_file, "");
	assert_int_equal(cfg.delivery_deadline, 900);
	assert_true(cfg.delivery_deadline < 1000);
	assert_string_equal(cfg.service_name, "tlsmtp");
	config_free(&cfg);
}

/* myhostname as Postfix makes it: gethostname(), ".localdomain" when bare. */
static void
test_default_myhostname(void **state)
{
	struct tlsmtp_config cfg;
	char err[512], want[300];

	(void)state;
	assert_int_equal(gethostname(want, 256), 0);
	want[255] = '\0';
	if (strchr(want, '.') == NULL)
		strcat(want, ".localdomain");
	assert_int_equal(load_text(&cfg, "", NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.myhostname, want);
	config_free(&cfg);
	assert_int_equal(load_text(&cfg, "myhostname = mx.example.test\nservice_name = relay-out\n",
			     NULL, 0, err, sizeof(err)),
	    0);
	assert_string_equal(cfg.myhostname, "mx.example.test");
	assert_string_equal(cfg.helo_name, "mx.example.test");
	assert_string_equal(cfg.service_name, "relay-out");
	config_free(&cfg);
}

static void
test_missing_files(void **state)
{
	struct tlsmtp_config cfg;
	char err[512];

	(void)state;
	/* A named file that does not exist is an error ... */
	assert_int_equal(config_load(&cfg, "/nonexistent/tlsmtp.conf", NULL, 0, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "/nonexistent/tlsmtp.conf"));
	/* ... the default file may be missing. */
	if (access(SYSCONFDIR "/tlsmtp.conf", F_OK) == 0)
		skip();
	assert_int_equal(config_load(&cfg, NULL, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.tls_security_level, "may");
	config_free(&cfg);
}

static void
test_file_syntax(void **state)
{
	struct tlsmtp_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load_text(&cfg,
			     "# a comment\n"
			     "\n"
			     "   # an indented comment\n"
			     "smtp_tls_security_level=Secure\n"
			     "smtp_tls_policy_maps = lmdb:/etc/postfix/a,\n"
			     "    lmdb:/etc/postfix/b\r\n"
			     "\t lmdb:/etc/postfix/c   \n"
			     "smtp_tls_CAfile   =   /etc/ssl/ca.pem   \n"
			     "smtp_helo_timeout = 5m\n"
			     "smtp_connect_timeout = 0\n"
			     "smtp_data_done_timeout = 1h\n"
			     "delivery_deadline = 600\n"
			     "smtp_tls_loglevel = 1\n"
			     "smtp_randomize_addresses = NO\n"
			     "smtp_tcp_port = 2525\n"
			     "smtp_dns_support_level = enabled\n"
			     "smtp_tls_mandatory_ciphers = HIGH\n"
			     "smtp_tls_fingerprint_digest = SHA1\n"
			     "maillog_file = /var/log/tlsmtp.log\n"
			     "smtp_line_length_limit = 0\n"
			     "myhostname = mx.example.com\n"
			     "smtp_helo_name = helo.$myhostname\n"
			     "smtp_tls_loglevel = 2\n",
			     NULL, 0, err, sizeof(err)),
	    0);
	assert_string_equal(cfg.tls_security_level, "secure");
	assert_int_equal(cfg.default_level, TLS_LEVEL_SECURE);
	assert_string_equal(cfg.tls_policy_maps,
	    "lmdb:/etc/postfix/a, lmdb:/etc/postfix/b lmdb:/etc/postfix/c");
	assert_string_equal(cfg.tls_CAfile, "/etc/ssl/ca.pem");
	assert_int_equal(cfg.helo_timeout, 300);
	assert_int_equal(cfg.connect_timeout, 0);
	assert_int_equal(cfg.data_done_timeout, 3600);
	assert_int_equal(cfg.delivery_deadline, 600);
	assert_int_equal(cfg.tls_loglevel, 2); /* the last one wins */
	assert_int_equal(cfg.randomize_addresses, 0);
	assert_string_equal(cfg.tcp_port, "2525");
	assert_string_equal(cfg.dns_support_level, "enabled");
	assert_string_equal(cfg.tls_mandatory_ciphers, "high");
	assert_string_equal(cfg.tls_fingerprint_digest, "sha1");
	assert_string_equal(cfg.maillog_file, "/var/log/tlsmtp.log");
	assert_int_equal(cfg.line_length_limit, 998);
	assert_string_equal(cfg.myhostname, "mx.example.com");
	/* Expanded after reading: myhostname was defined after the reference. */
	assert_string_equal(cfg.helo_name, "helo.mx.example.com");
	config_free(&cfg);
}

static void
test_expansion(void **state)
{
	struct tlsmtp_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load_text(&cfg,
			     "smtp_helo_name = ${myhostname}\n"
			     "myhostname = h.example\n"
			     "smtp_tls_cert_file = /etc/x/$(myhostname).pem\n"
			     "dns_servers = 127.0.0.1:5353 $$literal\n",
			     NULL, 0, err, sizeof(err)),
	    0);
	assert_string_equal(cfg.helo_name, "h.example");
	assert_string_equal(cfg.tls_cert_file, "/etc/x/h.example.pem");
	/* Postfix: smtp_tls_key_file defaults to $smtp_tls_cert_file. */
	assert_string_equal(cfg.tls_key_file, "/etc/x/h.example.pem");
	assert_string_equal(cfg.dns_servers, "127.0.0.1:5353 $literal");
	config_free(&cfg);

	/* Postfix's config_directory is known, for shared table paths. */
	assert_int_equal(load_text(&cfg,
			     "smtp_tls_policy_maps = lmdb:$config_directory/tls_policy\n", NULL, 0,
			     err, sizeof(err)),
	    0);
	assert_string_equal(cfg.tls_policy_maps, "lmdb:/etc/postfix/tls_policy");
	config_free(&cfg);
	assert_int_equal(load_text(&cfg,
			     "config_directory = /srv/pf\n"
			     "smtp_tls_policy_maps = lmdb:${config_directory}/p\n",
			     NULL, 0, err, sizeof(err)),
	    0);
	assert_string_equal(cfg.tls_policy_maps, "lmdb:/srv/pf/p");
	config_free(&cfg);

	assert_int_equal(load_text(&cfg, "smtp_helo_name = $nosuchparam\n", NULL, 0, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "nosuchparam"));
	assert_int_equal(load_text(&cfg, "myhostname = $smtp_helo_name\n", NULL, 0, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "loop"));
	assert_int_equal(load_text(&cfg, "smtp_helo_name = ${myhostname\n", NULL, 0, err,
			     sizeof(err)),
	    -1);
	assert_int_equal(load_text(&cfg, "smtp_helo_name = $\n", NULL, 0, err, sizeof(err)), -1);
}

static void
test_overrides(void **state)
{
	struct tlsmtp_config cfg;
	char err[512];
	char *o[] = {
		"smtp_tls_security_level=encrypt",
		" dns_servers = 127.0.0.1:5353 ",
		"smtp_tls_security_level=verify",
		"maillog_file=",
		"smtp_fallback_relay=[a.example]:587, [b.example]",
		"tls_append_default_CA=yes",
	};

	(void)state;
	assert_int_equal(load_text(&cfg, "smtp_tls_security_level = none\nmaillog_file = /x\n", o,
			     6, err, sizeof(err)),
	    0);
	assert_int_equal(cfg.default_level, TLS_LEVEL_VERIFY);
	assert_string_equal(cfg.dns_servers, "127.0.0.1:5353");
	assert_string_equal(cfg.maillog_file, "");
	assert_string_equal(cfg.fallback_relay, "[a.example]:587, [b.example]");
	assert_int_equal(cfg.tls_append_default_CA, 1);
	config_free(&cfg);
}

static void
refused(const char *text, char *override, const char *want_in_err)
{
	struct tlsmtp_config cfg;
	char err[512];
	char *o[1] = { override };

	err[0] = '\0';
	if (load_text(&cfg, text, o, override != NULL ? 1 : 0, err, sizeof(err)) == 0) {
		config_free(&cfg);
		fail_msg("accepted \"%s\" / \"%s\"", text, override != NULL ? override : "");
	}
	if (strstr(err, want_in_err) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, want_in_err);
}

static void
test_bad_values(void **state)
{
	(void)state;
	refused("no_such_parameter = 1\n", NULL, "unknown parameter \"no_such_parameter\"");
	refused("", "no_such_parameter=1", "unknown parameter");
	refused("", "smtp_helo_timeout", "NAME=VALUE");
	refused("", "=x", "name = value");
	refused("", "maillog_file=/a\nsmtp_tls_security_level=none", "NAME=VALUE");
	refused("  smtp_helo_timeout = 5s\n", NULL, "line 1");
	refused("smtp_helo_timeout 5s\n", NULL, "line 1");
	refused("# c\nsmtp_helo_timeout = 5x\n", NULL, "bad time value for smtp_helo_timeout");
	refused("smtp_helo_timeout = -5\n", NULL, "bad time");
	refused("smtp_helo_timeout = 0\n", NULL, "bad time");
	refused("smtp_helo_timeout = 99999999999\n", NULL, "bad time");
	refused("delivery_deadline = \n", NULL, "delivery_deadline");
	refused("smtp_mx_address_limit = five\n", NULL, "bad number");
	refused("smtp_mx_address_limit = 5a\n", NULL, "bad number");
	refused("smtp_tls_loglevel = 9\n", NULL, "bad number");
	refused("smtp_randomize_addresses = maybe\n", NULL, "yes/no");
	refused("smtp_tls_security_level = paranoid\n", NULL, "invalid TLS security level");
	refused("smtp_tls_security_level = halfdane\n", NULL, "invalid TLS security level");
	refused("smtp_tls_protocols = >=TLSv9\n", NULL, "smtp_tls_protocols");
	refused("smtp_tls_mandatory_protocols = !TLSv1:!TLSv1.1:!TLSv1.2:!TLSv1.3:!SSLv2:!SSLv3\n",
	    NULL, "smtp_tls_mandatory_protocols");
	refused("smtp_tls_ciphers = strong\n", NULL, "bad cipher grade");
	refused("smtp_tls_fingerprint_digest = crc32\n", NULL, "digest");
	refused("smtp_tcp_port = 0\n", NULL, "bad port");
	refused("smtp_tcp_port = 70000\n", NULL, "bad port");
	refused("smtp_tcp_port = no-such-service-name\n", NULL, "bad port");
	refused("smtp_address_preference = ipv5\n", NULL, "smtp_address_preference");
	refused("smtp_dns_support_level = sometimes\n", NULL, "smtp_dns_support_level");
	refused("smtp_line_length_limit = 5\n", NULL, "smtp_line_length_limit");
	refused("smtp_line_length_limit = 2000\n", NULL, "smtp_line_length_limit");
	refused("smtp_helo_name =\n", NULL, "smtp_helo_name");
	refused("service_name =\n", NULL, "bad service_name");
	refused("", "service_name=two words", "bad service_name");
	refused("", "service_name=a/b", "bad service_name");
}

static void
test_dns_support_levels(void **state)
{
	static const char *levels[] = { "", "disabled", "enabled", "dnssec", "DNSSEC" };
	struct tlsmtp_config cfg;
	char err[512], line[128];

	(void)state;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(line, sizeof(line), "smtp_dns_support_level = %s\n", levels[i]);
		assert_int_equal(load_text(&cfg, line, NULL, 0, err, sizeof(err)), 0);
		config_free(&cfg);
	}
}

static void
test_parse_time(void **state)
{
	int s = -1;

	(void)state;
	assert_int_equal(config_parse_time("30", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(config_parse_time("30s", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(config_parse_time("5m", &s), 0);
	assert_int_equal(s, 300);
	assert_int_equal(config_parse_time("1h", &s), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(config_parse_time("1d", &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(config_parse_time("2w", &s), 0);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(config_parse_time("", &s), -1);
	assert_int_equal(config_parse_time("s", &s), -1);
	assert_int_equal(config_parse_time("5 m", &s), -1);
	assert_int_equal(config_parse_time("5mm", &s), -1);
	assert_int_equal(config_parse_time("-1", &s), -1);
	assert_int_equal(config_parse_time("99999999w", &s), -1);
	assert_int_equal(config_parse_time("3000000000", &s), -1);
	assert_int_equal(config_parse_time(NULL, &s), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expansion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_myhostname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns_support_levels, setup, teardown),
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
