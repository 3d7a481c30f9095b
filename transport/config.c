/*
 * config.c - the agent's configuration: built-in defaults, then a file in
 * Postfix main.cf syntax, then each -o NAME=VALUE in order.
 *
 * File syntax (postconf(5)): "name = value" logical lines; a line starting
 * with white space continues the previous logical line; empty lines and
 * lines whose first non-blank character is '#' are ignored; white space
 * around the name and the value is dropped.  A value may refer to another
 * parameter as $name, ${name} or $(name); "$$" is a literal '$'.  As in
 * Postfix, references are expanded after everything is read, so the order
 * of definitions does not matter.
 *
 * Every parameter is checked when the configuration is complete: an
 * unknown name, a bad time, number, yes/no, level, protocol list, cipher
 * grade or port is an error, which the agent turns into a 4.3.5 deferral
 * (our own mistakes never bounce mail).
 *
 * Interface: core.h (section config.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* core */
#include "core.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define CONFIG_DEFAULT_FILE SYSCONFDIR "/tlsmtp.conf"
#define VALUE_MAX	    8192 /* one expanded value */
#define EXPAND_DEPTH	    10
#define TIME_MAX	    (7 * 86400 * 52) /* a year is plenty */

enum ptype {
	P_STR,	   /* char *, "" allowed */
	P_PATH,	   /* char *, "" stored as NULL */
	P_TIME,	   /* int seconds */
	P_INT,	   /* int within [min, max] */
	P_BOOL,	   /* int 0/1 from yes/no */
	P_LEVEL,   /* char * plus default_level */
	P_PROTO,   /* char *, checked with tls_protocols_parse */
	P_GRADE,   /* char *, checked with tls_cipher_grade_from_name */
	P_DIGEST,  /* char *, lower-cased */
	P_PORT,	   /* char *, stored as a decimal port number */
	P_CHOICE,  /* char *, one of a '|'-separated list, lower-cased */
	P_LINELEN, /* int: 0 (RFC maximum) or 40..998 */
	P_WORDS,   /* char *, words of a '|'-separated list, lower-cased; "" allowed */
	P_REF	   /* not stored: only for $name references */
};

struct param {
	const char *name;
	enum ptype type;
	size_t offset;
	const char *def;
	int min, max;	     /* P_INT, P_TIME */
	const char *choices; /* P_CHOICE */
};

#define F(field) offsetof(struct tlsmtp_config, field)

/* Cyrus SASL's security property names, as Postfix accepts them. */
#define SASL_SECURITY_WORDS "noplaintext|noactive|nodictionary|noanonymous|mutual_auth"

static const struct param params[] = {
	{ "smtp_tls_security_level", P_LEVEL, F(tls_security_level), "may", 0, 0, NULL },
	{ "smtp_tls_policy_maps", P_STR, F(tls_policy_maps), "", 0, 0, NULL },
	{ "smtp_tls_CAfile", P_PATH, F(tls_CAfile), "", 0, 0, NULL },
	{ "smtp_tls_CApath", P_PATH, F(tls_CApath), "", 0, 0, NULL },
	{ "tls_append_default_CA", P_BOOL, F(tls_append_default_CA), "no", 0, 0, NULL },
	{ "smtp_tls_cert_file", P_PATH, F(tls_cert_file), "", 0, 0, NULL },
	{ "smtp_tls_key_file", P_PATH, F(tls_key_file), "$smtp_tls_cert_file", 0, 0, NULL },
	{ "smtp_tls_fingerprint_digest", P_DIGEST, F(tls_fingerprint_digest), "sha256", 0, 0,
	    NULL },
	{ "smtp_tls_loglevel", P_INT, F(tls_loglevel), "0", 0, 4, NULL },
	{ "smtp_tls_protocols", P_PROTO, F(tls_protocols), ">=TLSv1", 0, 0, NULL },
	{ "smtp_tls_mandatory_protocols", P_PROTO, F(tls_mandatory_protocols), ">=TLSv1.2", 0, 0,
	    NULL },
	{ "smtp_tls_ciphers", P_GRADE, F(tls_ciphers), "medium", 0, 0, NULL },
	{ "smtp_tls_mandatory_ciphers", P_GRADE, F(tls_mandatory_ciphers), "medium", 0, 0, NULL },
	{ "smtp_tls_exclude_ciphers", P_STR, F(tls_exclude_ciphers), "", 0, 0, NULL },
	{ "smtp_tls_mandatory_exclude_ciphers", P_STR, F(tls_mandatory_exclude_ciphers), "", 0, 0,
	    NULL },
	{ "smtp_tls_verify_cert_match", P_STR, F(tls_verify_cert_match), "hostname", 0, 0, NULL },
	{ "smtp_tls_secure_cert_match", P_STR, F(tls_secure_cert_match), "nexthop, dot-nexthop", 0,
	    0, NULL },
	{ "smtp_tls_fingerprint_cert_match", P_STR, F(tls_fingerprint_cert_match), "", 0, 0, NULL },
	{ "smtp_helo_name", P_STR, F(helo_name), "$myhostname", 0, 0, NULL },
	{ "myhostname", P_STR, F(myhostname), NULL, 0, 0, NULL },
	{ "smtp_tcp_port", P_PORT, F(tcp_port), "smtp", 0, 0, NULL },
	{ "smtp_fallback_relay", P_STR, F(fallback_relay), "", 0, 0, NULL },
	{ "smtp_bind_address", P_PATH, F(bind_address), "", 0, 0, NULL },
	{ "smtp_bind_address6", P_PATH, F(bind_address6), "", 0, 0, NULL },
	{ "smtp_line_length_limit", P_LINELEN, F(line_length_limit), "998", 0, 0, NULL },
	{ "smtp_connect_timeout", P_TIME, F(connect_timeout), "30s", 0, TIME_MAX, NULL },
	{ "smtp_helo_timeout", P_TIME, F(helo_timeout), "300s", 1, TIME_MAX, NULL },
	{ "smtp_starttls_timeout", P_TIME, F(starttls_timeout), "300s", 1, TIME_MAX, NULL },
	{ "smtp_mail_timeout", P_TIME, F(mail_timeout), "300s", 1, TIME_MAX, NULL },
	{ "smtp_rcpt_timeout", P_TIME, F(rcpt_timeout), "300s", 1, TIME_MAX, NULL },
	{ "smtp_data_init_timeout", P_TIME, F(data_init_timeout), "120s", 1, TIME_MAX, NULL },
	{ "smtp_data_xfer_timeout", P_TIME, F(data_xfer_timeout), "180s", 1, TIME_MAX, NULL },
	{ "smtp_data_done_timeout", P_TIME, F(data_done_timeout), "600s", 1, TIME_MAX, NULL },
	{ "smtp_quit_timeout", P_TIME, F(quit_timeout), "300s", 1, TIME_MAX, NULL },
	{ "smtp_rset_timeout", P_TIME, F(rset_timeout), "20s", 1, TIME_MAX, NULL },
	{ "smtp_mx_address_limit", P_INT, F(mx_address_limit), "5", 0, 1000, NULL },
	{ "smtp_mx_session_limit", P_INT, F(mx_session_limit), "2", 0, 1000, NULL },
	{ "smtp_address_preference", P_CHOICE, F(address_preference), "any", 0, 0,
	    "any|ipv4|ipv6" },
	{ "smtp_randomize_addresses", P_BOOL, F(randomize_addresses), "yes", 0, 0, NULL },
	{ "smtp_skip_5xx_greeting", P_BOOL, F(skip_5xx_greeting), "yes", 0, 0, NULL },
	{ "smtp_dns_support_level", P_CHOICE, F(dns_support_level), "dnssec", 0, 0,
	    "|disabled|enabled|dnssec" },
	{ "dns_servers", P_STR, F(dns_servers), "", 0, 0, NULL },
	{ "maillog_file", P_STR, F(maillog_file), "", 0, 0, NULL },
	{ "delivery_deadline", P_TIME, F(delivery_deadline), "900s", 1, TIME_MAX, NULL },
	{ "service_name", P_STR, F(service_name), "tlsmtp", 0, 0, NULL },
	/* Postfix's socketmap client has these built in (dict_sockmap.c). */
	{ "socketmap_timeout", P_TIME, F(socketmap_timeout), "100s", 1, TIME_MAX, NULL },
	{ "socketmap_max_reply", P_INT, F(socketmap_max_reply), "100000", 100, 10000000, NULL },
	/* TLS session cache (tls_scache.c); Postfix caps the timeout at 100 days. */
	{ "smtp_tls_session_cache_database", P_STR, F(tls_session_cache_database), "", 0, 0, NULL },
	{ "smtp_tls_session_cache_timeout", P_TIME, F(tls_session_cache_timeout), "3600s", 0,
	    100 * 86400, NULL },
	{ "lmdb_map_size", P_INT, F(lmdb_map_size), "16777216", 16384, INT_MAX, NULL },
	/* Relay hosts (smtp_sasl.c, tls_ccert.c). */
	{ "smtp_tls_wrappermode", P_BOOL, F(tls_wrappermode), "no", 0, 0, NULL },
	{ "smtp_tls_chain_files", P_STR, F(tls_chain_files), "", 0, 0, NULL },
	{ "smtp_sasl_auth_enable", P_BOOL, F(sasl_auth_enable), "no", 0, 0, NULL },
	{ "smtp_sasl_password_maps", P_STR, F(sasl_password_maps), "", 0, 0, NULL },
	{ "smtp_sasl_security_options", P_WORDS, F(sasl_security_options),
	    "noplaintext, noanonymous", 0, 0, SASL_SECURITY_WORDS },
	{ "smtp_sasl_tls_security_options", P_WORDS, F(sasl_tls_security_options),
	    "$smtp_sasl_security_options", 0, 0, SASL_SECURITY_WORDS },
	{ "smtp_sasl_tls_verified_security_options", P_WORDS, F(sasl_tls_verified_security_options),
	    "$smtp_sasl_tls_security_options", 0, 0, SASL_SECURITY_WORDS },
	{ "smtp_sasl_mechanism_filter", P_STR, F(sasl_mechanism_filter), "", 0, 0, NULL },
	{ "smtp_sasl_auth_soft_bounce", P_BOOL, F(sasl_auth_soft_bounce), "yes", 0, 0, NULL },
	{ "smtp_sender_dependent_authentication", P_BOOL, F(sender_dependent_authentication), "no",
	    0, 0, NULL },
	{ "smtp_sasl_password_result_delimiter", P_STR, F(sasl_password_result_delimiter), ":", 0,
	    0, NULL },
	{ "smtp_sasl_type", P_CHOICE, F(sasl_type), "cyrus", 0, 0, "cyrus" },
	{ "recipient_delimiter", P_STR, F(recipient_delimiter), "", 0, 0, NULL },
	/* MTA-STS (mta_sts.c): ours; off until the administrator opts in. */
	{ "smtp_tls_mta_sts", P_BOOL, F(tls_mta_sts), "no", 0, 0, NULL },
	{ "smtp_tls_mta_sts_cache", P_STR, F(tls_mta_sts_cache), "lmdb:/var/lib/tlsmtp/sts_cache",
	    0, 0, NULL },
	{ "smtp_tls_mta_sts_fetch_timeout", P_TIME, F(tls_mta_sts_fetch_timeout), "10s", 1, 60,
	    NULL },
	/* Connection reuse between deliveries (conn_cache.c); "" directory = off. */
	{ "smtp_connection_cache_directory", P_PATH, F(connection_cache_directory), "", 0, 0,
	    NULL },
	{ "smtp_connection_cache_on_demand", P_BOOL, F(connection_cache_on_demand), "yes", 0, 0,
	    NULL },
	{ "smtp_connection_cache_time_limit", P_TIME, F(connection_cache_time_limit), "2s", 1, 300,
	    NULL },
	{ "smtp_connection_reuse_time_limit", P_TIME, F(connection_reuse_time_limit), "300s", 1,
	    86400, NULL },
	{ "smtp_connection_reuse_count_limit", P_INT, F(connection_reuse_count_limit), "0", 0,
	    INT_MAX, NULL },
	/* So that a shared value like lmdb:$config_directory/tls_policy works. */
	{ "config_directory", P_REF, 0, "/etc/postfix", 0, 0, NULL },
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* Raw (unexpanded) values while loading, and where each came from. */
struct raw_config {
	char *value[NPARAMS];
	char origin[NPARAMS][300];
	char myhostname[256];
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	text_vcut(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static long
param_index(const char *name, size_t len)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (strlen(params[i].name) == len && strncmp(params[i].name, name, len) == 0)
			return (long)i;
	return -1;
}

static char **
str_field(struct tlsmtp_config *cfg, size_t i)
{
	return (char **)(void *)((char *)cfg + params[i].offset);
}

static int *
int_field(struct tlsmtp_config *cfg, size_t i)
{
	return (int *)(void *)((char *)cfg + params[i].offset);
}

/* gethostname(), qualified the way Postfix does without a domain. */
static void
default_hostname(char *out, size_t outlen)
{
	if (gethostname(out, outlen) != 0 || out[0] == '\0')
		snprintf(out, outlen, "localhost");
	out[outlen - 1] = '\0';
	if (strchr(out, '.') == NULL && strlen(out) + sizeof(".localdomain") <= outlen)
		strcat(out, ".localdomain");
}

static int
set_raw(struct raw_config *raw, const char *name, size_t namelen, const char *value,
    const char *origin, char *err, size_t errlen)
{
	long i = param_index(name, namelen);
	char *copy;

	if (i < 0)
		return fail(err, errlen, "%s: unknown parameter \"%.*s\"", origin,
		    (int)(namelen > 100 ? 100 : namelen), name);
	if ((copy = strdup(value)) == NULL)
		return fail(err, errlen, "out of memory");
	free(raw->value[i]);
	raw->value[i] = copy;
	snprintf(raw->origin[i], sizeof(raw->origin[i]), "%s", origin);
	return 0;
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

static int
is_name_char(int c)
{
	return isalnum(c) || c == '_';
}

/* "name = value" -> set_raw; line is modified. */
static int
parse_assignment(struct raw_config *raw, char *line, const char *origin, char *err, size_t errlen)
{
	char *p = trim(line), *name = p;
	size_t namelen;

	while (is_name_char((unsigned char)*p))
		p++;
	namelen = (size_t)(p - name);
	while (*p == ' ' || *p == '\t')
		p++;
	if (namelen == 0 || *p != '=')
		return fail(err, errlen, "%s: expected \"name = value\"", origin);
	return set_raw(raw, name, namelen, trim(p + 1), origin, err, errlen);
}

static int
flush_logical(struct raw_config *raw, char *logical, size_t *len, const char *path, unsigned line,
    char *err, size_t errlen)
{
	char origin[300];
	int rc;

	if (*len == 0)
		return 0;
	logical[*len] = '\0';
	snprintf(origin, sizeof(origin), "%.250s, line %u", path, line);
	rc = parse_assignment(raw, logical, origin, err, errlen);
	*len = 0;
	return rc;
}

static int
read_file(struct raw_config *raw, const char *path, FILE *fp, char *err, size_t errlen)
{
	char *buf = NULL, *logical;
	size_t bufcap = 0, len = 0;
	unsigned lineno = 0, start = 0;
	ssize_t n;
	int rc = 0;

	if ((logical = malloc(VALUE_MAX + 1)) == NULL)
		return fail(err, errlen, "out of memory");
	while (rc == 0 && (n = getline(&buf, &bufcap, fp)) >= 0) {
		char *p = buf;

		lineno++;
		if (memchr(buf, '\0', (size_t)n) != NULL) {
			rc = fail(err, errlen, "%.250s, line %u: NUL character", path, lineno);
			break;
		}
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (p != buf) {
			/* Continuation of the logical line being read. */
			if (len == 0) {
				rc = fail(err, errlen,
				    "%.250s, line %u: continuation line without a parameter", path,
				    lineno);
				break;
			}
			p = trim(p);
			if (len + 1 + strlen(p) > VALUE_MAX) {
				rc = fail(err, errlen, "%.250s, line %u: logical line too long",
				    path, lineno);
				break;
			}
			logical[len++] = ' ';
			memcpy(logical + len, p, strlen(p));
			len += strlen(p);
			continue;
		}
		rc = flush_logical(raw, logical, &len, path, start, err, errlen);
		if (rc != 0)
			break;
		p = trim(buf);
		if (strlen(p) > VALUE_MAX) {
			rc = fail(err, errlen, "%.250s, line %u: logical line too long", path,
			    lineno);
			break;
		}
		memcpy(logical, p, strlen(p));
		len = strlen(p);
		start = lineno;
	}
	if (rc == 0 && ferror(fp))
		rc = fail(err, errlen, "%.250s: read error: %s", path, strerror(errno));
	if (rc == 0)
		rc = flush_logical(raw, logical, &len, path, start, err, errlen);
	free(buf);
	free(logical);
	return rc;
}

/* ------------------------------------------------------------------------
 * $name expansion.
 */
struct expansion {
	char buf[VALUE_MAX];
	size_t len;
};

static int expand_into(const struct raw_config *raw, size_t i, struct expansion *x, int depth,
    char *err, size_t errlen);

static int
append(struct expansion *x, const char *s, size_t n, const char *name, char *err, size_t errlen)
{
	if (x->len + n >= sizeof(x->buf))
		return fail(err, errlen, "value of %s is too long after expansion", name);
	memcpy(x->buf + x->len, s, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return 0;
}

static const char *
raw_value(const struct raw_config *raw, size_t i)
{
	if (raw->value[i] != NULL)
		return raw->value[i];
	if (params[i].def != NULL)
		return params[i].def;
	return raw->myhostname; /* the one default computed at run time */
}

static int
expand_text(const struct raw_config *raw, const char *text, const char *owner, struct expansion *x,
    int depth, char *err, size_t errlen)
{
	const char *p = text;

	while (*p != '\0') {
		const char *dollar = strchr(p, '$'), *name;
		size_t namelen;
		long ref;
		char close = 0;

		if (dollar == NULL)
			return append(x, p, strlen(p), owner, err, errlen);
		if (append(x, p, (size_t)(dollar - p), owner, err, errlen) != 0)
			return -1;
		p = dollar + 1;
		if (*p == '$') {
			if (append(x, "$", 1, owner, err, errlen) != 0)
				return -1;
			p++;
			continue;
		}
		if (*p == '{')
			close = '}';
		else if (*p == '(')
			close = ')';
		if (close)
			p++;
		name = p;
		while (is_name_char((unsigned char)*p))
			p++;
		namelen = (size_t)(p - name);
		if (namelen == 0 || (close && *p != close))
			return fail(err, errlen, "%s: malformed parameter reference", owner);
		if (close)
			p++;
		if ((ref = param_index(name, namelen)) < 0)
			return fail(err, errlen, "%s: reference to unknown parameter \"$%.*s\"",
			    owner, (int)(namelen > 100 ? 100 : namelen), name);
		if (expand_into(raw, (size_t)ref, x, depth + 1, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static int
expand_into(const struct raw_config *raw, size_t i, struct expansion *x, int depth, char *err,
    size_t errlen)
{
	if (depth > EXPAND_DEPTH)
		return fail(err, errlen, "%s: parameter references nest too deeply (a loop?)",
		    params[i].name);
	return expand_text(raw, raw_value(raw, i), params[i].name, x, depth, err, errlen);
}

/* ------------------------------------------------------------------------
 * Typed values.
 */
int
config_parse_time(const char *text, int *seconds)
{
	const char *p = text;
	long long value = 0, unit = 1;

	if (p == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		value = value * 10 + (*p - '0');
		if (value > INT_MAX)
			return -1;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		unit = 1;
		p++;
		break;
	case 'm':
		unit = 60;
		p++;
		break;
	case 'h':
		unit = 3600;
		p++;
		break;
	case 'd':
		unit = 86400;
		p++;
		break;
	case 'w':
		unit = 7 * 86400;
		p++;
		break;
	default:
		return -1;
	}
	if (*p != '\0' || value * unit > INT_MAX)
		return -1;
	*seconds = (int)(value * unit);
	return 0;
}

static int
parse_int(const char *text, long *out)
{
	char *end;

	if (text[0] == '\0' || !(isdigit((unsigned char)text[0]) || text[0] == '-'))
		return -1;
	errno = 0;
	*out = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
parse_bool(const char *text, int *out)
{
	if (strcasecmp(text, "yes") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(text, "no") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

int
config_parse_port(const char *text, unsigned *port)
{
	long n;

	if (parse_int(text, &n) == 0) {
		if (n < 1 || n > 65535)
			return -1;
		*port = (unsigned)n;
		return 0;
	}
	if (text[0] == '\0')
		return -1;
	for (const char *p = text; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return -1;
	if (strcmp(text, "smtp") == 0) {
		/* Needs no /etc/services. */
		*port = 25;
		return 0;
	}
	{
		struct servent *se = getservbyname(text, "tcp");

		if (se == NULL)
			return -1;
		*port = ntohs((uint16_t)se->s_port);
	}
	return 0;
}

static int
in_choices(const char *text, const char *choices)
{
	size_t n = strlen(text);

	for (const char *p = choices;; p++) {
		const char *bar = strchr(p, '|');
		size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncasecmp(p, text, n) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar;
	}
}

/* Every word (separated by commas and/or white space) one of choices. */
static int
check_words(const char *text, const char *choices, char *why, size_t whylen)
{
	char word[64];

	for (const char *p = text; *p != '\0';) {
		size_t len;

		p += strspn(p, ", \t");
		if ((len = strcspn(p, ", \t")) == 0)
			break;
		if (len >= sizeof(word)) {
			snprintf(why, whylen, "word too long: \"%.40s...\"", p);
			return -1;
		}
		memcpy(word, p, len);
		word[len] = '\0';
		if (!in_choices(word, choices)) {
			snprintf(why, whylen, "unknown word \"%s\" (known: %s)", word, choices);
			return -1;
		}
		p += len;
	}
	return 0;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
set_string(struct tlsmtp_config *cfg, size_t i, const char *value, char *err, size_t errlen)
{
	char **field = str_field(cfg, i);

	if (params[i].type == P_PATH && value[0] == '\0')
		return 0;
	if ((*field = strdup(value)) == NULL)
		return fail(err, errlen, "out of memory");
	return 0;
}

static int
convert(struct tlsmtp_config *cfg, size_t i, char *value, const char *origin, char *err,
    size_t errlen)
{
	const struct param *p = &params[i];
	char why[256];
	long n;
	int t;

	switch (p->type) {
	case P_REF:
		return 0;
	case P_STR:
	case P_PATH:
		return set_string(cfg, i, value, err, errlen);
	case P_TIME:
		if (config_parse_time(value, &t) != 0 || t < p->min || t > p->max)
			return fail(err, errlen, "%s: bad time value for %s: \"%.100s\"", origin,
			    p->name, value);
		*int_field(cfg, i) = t;
		return 0;
	case P_INT:
		if (parse_int(value, &n) != 0 || n < p->min || n > p->max)
			return fail(err, errlen, "%s: bad number for %s: \"%.100s\" (%d..%d)",
			    origin, p->name, value, p->min, p->max);
		*int_field(cfg, i) = (int)n;
		return 0;
	case P_LINELEN:
		if (parse_int(value, &n) != 0 || n < 0 || (n > 0 && n < 40) || n > 998)
			return fail(err, errlen, "%s: bad value for %s: \"%.100s\" (0 or 40..998)",
			    origin, p->name, value);
		*int_field(cfg, i) = n == 0 ? 998 : (int)n;
		return 0;
	case P_BOOL:
		if (parse_bool(value, &t) != 0)
			return fail(err, errlen, "%s: bad yes/no value for %s: \"%.100s\"", origin,
			    p->name, value);
		*int_field(cfg, i) = t;
		return 0;
	case P_LEVEL:
		/* Postfix: an empty level means none. */
		cfg->default_level = value[0] == '\0' ? TLS_LEVEL_NONE : tls_level_from_name(value);
		if (cfg->default_level == TLS_LEVEL_INVALID
		    || cfg->default_level == TLS_LEVEL_HALF_DANE)
			return fail(err, errlen,
			    "%s: invalid TLS security level for %s: \"%.100s\"", origin, p->name,
			    value);
		return set_string(cfg, i, tls_level_name(cfg->default_level), err, errlen);
	case P_PROTO: {
		unsigned mask;

		if (tls_protocols_parse(value, &mask, why, sizeof(why)) != 0)
			return fail(err, errlen, "%s: bad protocol list for %s: %s", origin,
			    p->name, why);
		return set_string(cfg, i, value, err, errlen);
	}
	case P_GRADE:
		if (tls_cipher_grade_from_name(value) == TLS_GRADE_INVALID)
			return fail(err, errlen, "%s: bad cipher grade for %s: \"%.100s\"", origin,
			    p->name, value);
		lower(value);
		return set_string(cfg, i, value, err, errlen);
	case P_DIGEST:
		if (!in_choices(value, "md5|sha1|sha224|sha256|sha384|sha512"))
			return fail(err, errlen, "%s: unsupported digest for %s: \"%.100s\"",
			    origin, p->name, value);
		lower(value);
		return set_string(cfg, i, value, err, errlen);
	case P_PORT: {
		unsigned port;
		char text[16];

		if (config_parse_port(value, &port) != 0)
			return fail(err, errlen, "%s: bad port for %s: \"%.100s\"", origin, p->name,
			    value);
		snprintf(text, sizeof(text), "%u", port);
		return set_string(cfg, i, text, err, errlen);
	}
	case P_WORDS:
		if (check_words(value, p->choices, why, sizeof(why)) != 0)
			return fail(err, errlen, "%s: bad value for %s: %s", origin, p->name, why);
		lower(value);
		return set_string(cfg, i, value, err, errlen);
	case P_CHOICE:
		if (!in_choices(value, p->choices))
			return fail(err, errlen, "%s: bad value for %s: \"%.100s\"", origin,
			    p->name, value);
		lower(value);
		return set_string(cfg, i, value, err, errlen);
	}
	return fail(err, errlen, "%s: internal error", p->name);
}

/* What a main.cf parameter name prefix can be: "tlsmtp", "relay-out". */
static int
is_service_name(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 100)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return 0;
	return 1;
}

static int
finish(struct tlsmtp_config *cfg, struct raw_config *raw, char *err, size_t errlen)
{
	struct expansion *x;
	int rc = 0;

	if ((x = malloc(sizeof(*x))) == NULL)
		return fail(err, errlen, "out of memory");
	for (size_t i = 0; i < NPARAMS && rc == 0; i++) {
		const char *origin = raw->value[i] != NULL ? raw->origin[i] : "default";

		x->len = 0;
		x->buf[0] = '\0';
		rc = expand_into(raw, i, x, 0, err, errlen);
		if (rc == 0)
			rc = convert(cfg, i, x->buf, origin, err, errlen);
	}
	free(x);
	if (rc == 0 && (cfg->helo_name == NULL || cfg->helo_name[0] == '\0'))
		rc = fail(err, errlen, "smtp_helo_name is empty");
	if (rc == 0 && strlen(cfg->sasl_password_result_delimiter) != 1)
		rc = fail(err, errlen,
		    "smtp_sasl_password_result_delimiter must be one character, "
		    "not \"%.20s\"",
		    cfg->sasl_password_result_delimiter);
	if (rc == 0 && cfg->sasl_auth_enable && cfg->sasl_password_maps[0] == '\0')
		rc = fail(err, errlen,
		    "smtp_sasl_auth_enable = yes: specify a password table "
		    "via the smtp_sasl_password_maps configuration parameter");
	if (rc == 0 && !is_service_name(cfg->service_name))
		rc = fail(err, errlen,
		    "bad service_name \"%.100s\": a master.cf service name "
		    "(letters, digits, '-', '_', '.')",
		    cfg->service_name);
	return rc;
}

int
config_load(struct tlsmtp_config *cfg, const char *file, char *const *overrides,
    size_t override_count, char *err, size_t errlen)
{
	struct raw_config *raw;
	const char *path = file != NULL ? file : CONFIG_DEFAULT_FILE;
	FILE *fp;
	int rc = 0;

	memset(cfg, 0, sizeof(*cfg));
	if ((raw = calloc(1, sizeof(*raw))) == NULL)
		return fail(err, errlen, "out of memory");
	default_hostname(raw->myhostname, sizeof(raw->myhostname));

	if ((fp = fopen(path, "r")) != NULL) {
		rc = read_file(raw, path, fp, err, errlen);
		fclose(fp);
	} else if (file != NULL || errno != ENOENT) {
		rc = fail(err, errlen, "cannot open %.300s: %s", path, strerror(errno));
	}
	for (size_t i = 0; rc == 0 && i < override_count; i++) {
		char *copy, *eq, origin[64];

		snprintf(origin, sizeof(origin), "-o option %zu", i + 1);
		if ((copy = strdup(overrides[i])) == NULL) {
			rc = fail(err, errlen, "out of memory");
			break;
		}
		if ((eq = strchr(copy, '=')) == NULL || strpbrk(copy, "\r\n") != NULL)
			rc = fail(err, errlen, "%s: expected NAME=VALUE", origin);
		else
			rc = parse_assignment(raw, copy, origin, err, errlen);
		free(copy);
	}
	if (rc == 0)
		rc = finish(cfg, raw, err, errlen);
	for (size_t i = 0; i < NPARAMS; i++)
		free(raw->value[i]);
	free(raw);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

void
config_free(struct tlsmtp_config *cfg)
{
	for (size_t i = 0; i < NPARAMS; i++) {
		if (params[i].type == P_TIME || params[i].type == P_INT || params[i].type == P_BOOL
		    || params[i].type == P_LINELEN || params[i].type == P_REF)
			continue;
		free(*str_field(cfg, i));
		*str_field(cfg, i) = NULL;
	}
}
