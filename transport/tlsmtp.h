/*
 * tlsmtp.h - types and interfaces shared by the delivery agent's modules.
 *
 * The agent is one process per message (Postfix pipe(8)).  Flow:
 *   tlsmtp.c        main: options, configuration, envelope checks, read the
 *                   message, look up the policy, resolve the route, try each
 *                   address until one settles the delivery, print one line,
 *                   exit with a sysexits code.
 *   config.c        main.cf-syntax configuration file and -o overrides
 *   address.c       envelope address validation and quoting
 *   spool.c         stdin -> memory or unlinked temp file; wire encoding
 *   log.c           syslog (facility mail) or maillog_file, Postfix wording
 *   outcome.c       results: enhanced code, text, exit status (smtp_trouble)
 *   text.c          formatting into fixed buffers, cut short when too long
 *   deadline.c      monotonic clock and stage deadlines
 *   smtp_connect.c  TCP connect with timeout, TCP_NODELAY
 *   stream.c        buffered socket / TLS I/O under per-reply deadlines
 *   reply.c         SMTP reply parser (pure)
 *   smtp_proto.c    the SMTP dialogue including STARTTLS
 *   tls_session.c   GnuTLS client setup, priorities, SNI, summary line
 *   tls_policy.c    effective TLS policy of one session (smtp_tls_policy)
 *   tls_verify.c    certificate checks            (tls_verify.h)
 *   dns.c route.c   c-ares channel and routing      (dns.h, route.h)
 */
#ifndef TLSMTP_TLSMTP_H
#define TLSMTP_TLSMTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "policymap.h"

/* sysexits codes we use; only 0, 75 and permanent refusals ever leave us. */
#define TLSMTP_EX_OK		0
#define TLSMTP_EX_DATAERR	65	/* 5.6.x content refused */
#define TLSMTP_EX_NOUSER	67	/* 5.1.1 */
#define TLSMTP_EX_NOHOST	68	/* 5.1.2, 5.4.4 */
#define TLSMTP_EX_UNAVAILABLE	69	/* other permanent refusals */
#define TLSMTP_EX_TEMPFAIL	75	/* every temporary condition */

/* ------------------------------------------------------------------------
 * deadline.c
 */
int64_t now_ms(void);				/* CLOCK_MONOTONIC, milliseconds */
/* The earlier of now+timeout_s*1000 and the overall delivery deadline. */
int64_t stage_deadline(int timeout_s, int64_t overall_ms);

/* ------------------------------------------------------------------------
 * config.c - parameters use Postfix's smtp(8) names where the meaning is
 * the same.  Time values in seconds after parsing ("30s", "5m", "1h").
 */
struct tlsmtp_config {
	char *tls_security_level;	/* smtp_tls_security_level, default "may" */
	enum tls_level default_level;
	char *tls_policy_maps;		/* smtp_tls_policy_maps, "" = none */
	char *tls_CAfile;
	char *tls_CApath;
	char *tls_cert_file;
	char *tls_key_file;
	char *tls_fingerprint_digest;	/* sha256 */
	int tls_loglevel;
	char *tls_protocols;		/* smtp_tls_protocols */
	char *tls_mandatory_protocols;	/* smtp_tls_mandatory_protocols: >=TLSv1.2 (RFC 8996) */
	char *tls_ciphers;		/* medium */
	char *tls_mandatory_ciphers;	/* medium */
	char *tls_exclude_ciphers;
	char *tls_mandatory_exclude_ciphers;
	char *tls_verify_cert_match;	/* hostname */
	char *tls_secure_cert_match;	/* nexthop, dot-nexthop */
	char *tls_fingerprint_cert_match;
	char *helo_name;		/* smtp_helo_name, default myhostname */
	char *myhostname;		/* default: gethostname() FQDN */
	char *tcp_port;			/* smtp_tcp_port, default 25 */
	char *bind_address;
	char *bind_address6;
	int line_length_limit;		/* 998 */
	int connect_timeout;		/* 30s */
	int helo_timeout;		/* 300s */
	int starttls_timeout;		/* 300s */
	int mail_timeout;		/* 300s */
	int rcpt_timeout;		/* 300s */
	int data_init_timeout;		/* 120s */
	int data_xfer_timeout;		/* 180s */
	int data_done_timeout;		/* 600s */
	int quit_timeout;		/* 300s */
	int rset_timeout;		/* 20s */
	int mx_address_limit;		/* 5 */
	int mx_session_limit;		/* 2 */
	char *address_preference;	/* any */
	int randomize_addresses;	/* yes */
	int skip_5xx_greeting;		/* yes */
	char *dns_support_level;	/* accepted for compatibility; dnssec */
	char *dns_servers;		/* ours: "" = system resolver */
	char *maillog_file;		/* ours: "" = syslog facility mail */
	int delivery_deadline;		/* ours: overall limit, default 900s (< pipe's 1000s) */
	char *tls_session_cache_database;	/* smtp_tls_session_cache_database, "" = off */
	int tls_session_cache_timeout;	/* smtp_tls_session_cache_timeout, 3600s, 0 = off */
	int lmdb_map_size;		/* size limit of the session cache file, bytes */
};

/*
 * Built-in defaults, then FILE (NULL = the default path, where a missing file
 * means built-in defaults; an explicitly named missing file is an error),
 * then each NAME=VALUE override in order.  Unknown names and bad values are
 * errors.  Returns 0 or -1 with a reason.
 */
int config_load(struct tlsmtp_config *cfg, const char *file, char *const *overrides,
    size_t override_count, char *err, size_t errlen);
void config_free(struct tlsmtp_config *cfg);
/* Postfix time syntax: "30", "30s", "5m", "1h", "1d", "1w" -> seconds. */
int config_parse_time(const char *text, int *seconds);

/* ------------------------------------------------------------------------
 * address.c
 */
/*
 * Check one envelope address from argv.  Refuses CR, LF, NUL, other control
 * characters, '<' or '>' outside a quoted local part, over-long parts.
 * Writes the RFC 5321 path content (without angle brackets) to out.
 * Sets *utf8 when the address needs SMTPUTF8 (non-ASCII local part).
 * Returns 0, or -1 with a reason for a 5.1.3 refusal.
 */
int address_check(const char *addr, char *out, size_t outlen, int *utf8, char *err, size_t errlen);
/* The domain part of a checked address, or "" when there is none. */
const char *address_domain(const char *addr);

/* ------------------------------------------------------------------------
 * spool.c - the message from stdin, re-readable for each address tried.
 */
struct spool;
/* Read fd to EOF; small messages stay in memory, large ones go to an
 * unlinked temporary file.  Returns 0 or -1 (I/O error: defer). */
int spool_read(int fd, struct spool **out, char *err, size_t errlen);
void spool_free(struct spool *s);
size_t spool_size(const struct spool *s);	/* estimate of the wire size */
int spool_has_8bit(const struct spool *s);

/*
 * Wire encoder: CRLF line ends only, stray CR/LF become line breaks, NUL
 * bytes are replaced (documented), lines folded at line_length_limit with
 * CRLF SPACE, dot-stuffing, and exactly one final ".\r\n".
 */
struct spool_encoder;
struct spool_encoder *spool_encoder_new(struct spool *s, int line_length_limit);
/* Fill buf with up to cap wire bytes; returns bytes stored, 0 at the end
 * (after ".\r\n" was produced), -1 on a read error. */
ssize_t spool_encoder_next(struct spool_encoder *e, char *buf, size_t cap);
void spool_encoder_free(struct spool_encoder *e);

/* ------------------------------------------------------------------------
 * log.c - one destination per process: syslog (mail) or maillog_file.
 * Lines look like Postfix's: "QUEUEID: text" when a queue id is known.
 */
void log_open(const char *maillog_file, const char *queue_id, int verbose);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));	/* "warning: ..." */
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));	/* only with -v */
void log_close(void);

/* ------------------------------------------------------------------------
 * text.c - vsnprintf into buf[len] where a cut-short result is acceptable
 * (always NUL-terminated when len > 0).
 */
void text_cut(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void text_vcut(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* ------------------------------------------------------------------------
 * outcome.c - what happened, in Postfix's words (cf. smtp_trouble).
 */
struct outcome {
	char dsn[16];		/* "2.0.0", "4.7.5", "5.1.1" */
	char text[512];		/* reason, sanitised, without the code */
	int exit_code;		/* 0, 75, or a permanent sysexits code */
};
/* Set an outcome from our own code; exit code follows the class. */
void outcome_set(struct outcome *o, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Copy server text for use inside our own text: control characters removed,
 * length limited, never leading.  Returns out.
 */
char *outcome_quote_text(const char *in, size_t inlen, char *out, size_t outlen);
/* The one line we print: "X.Y.Z text" (cut to fit pipe(8)'s log line). */
void outcome_print(const struct outcome *o);

#endif
