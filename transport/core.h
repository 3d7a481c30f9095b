/*
 * core.h - the core layer of the delivery agent: the modules that depend on
 * nothing else in transport/ (only on policymap/ and the C library).
 *
 *   deadline.c  config.c  address.c  spool.c  log.c  outcome.c  text.c
 *
 * One umbrella header for the seven, on purpose: they are small, nearly
 * every other file needs several of them, and none of them pulls in a
 * network or TLS library.  Every other module of transport/ has a header of
 * its own, named after it.  The layers and the one-line map of every file
 * are in docs/architecture.md.
 */
#ifndef TLSMTP_CORE_H
#define TLSMTP_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* policymap */
#include "policymap.h"

/* sysexits codes we use; only 0, 75 and permanent refusals ever leave us. */
#define TLSMTP_EX_OK	      0
#define TLSMTP_EX_DATAERR     65 /* 5.6.x content refused */
#define TLSMTP_EX_NOUSER      67 /* 5.1.1 */
#define TLSMTP_EX_NOHOST      68 /* 5.1.2, 5.4.4 */
#define TLSMTP_EX_UNAVAILABLE 69 /* other permanent refusals */
#define TLSMTP_EX_TEMPFAIL    75 /* every temporary condition */

/* ------------------------------------------------------------------------
 * deadline.c - every wait is bounded by an absolute CLOCK_MONOTONIC time
 * in milliseconds.
 */
int64_t now_ms(void); /* CLOCK_MONOTONIC, milliseconds */
/*
 * The earlier of now+timeout_s*1000 and the overall delivery deadline.  A
 * timeout <= 0 means "no stage limit" (Postfix: 0 = the system's own
 * limit); an overall deadline <= 0 means "none".
 */
int64_t stage_deadline(int timeout_s, int64_t overall_ms);
/*
 * Wait until fd is ready for events (POLLIN, POLLOUT) or deadline_ms
 * passes: 1 ready (or in error: the next I/O call tells), 0 timed out,
 * -1 poll failed (errno).  EINTR is retried; long waits are cut into
 * slices of at most a minute so a clock jump is noticed.
 */
int deadline_poll(int fd, short events, int64_t deadline_ms);

/* ------------------------------------------------------------------------
 * config.c - parameters use Postfix's smtp(8) names where the meaning is
 * the same.  Time values in seconds after parsing ("30s", "5m", "1h").
 */
struct tlsmtp_config {
	char *tls_security_level; /* smtp_tls_security_level, default "may" */
	enum tls_level default_level;
	char *tls_policy_maps; /* smtp_tls_policy_maps, "" = none */
	char *tls_CAfile;
	char *tls_CApath;
	int tls_append_default_CA; /* tls_append_default_CA: the system store as well, default no */
	char *tls_cert_file;
	char *tls_key_file;
	char *tls_fingerprint_digest; /* sha256 */
	int tls_loglevel;
	char *tls_protocols;	       /* smtp_tls_protocols */
	char *tls_mandatory_protocols; /* smtp_tls_mandatory_protocols: >=TLSv1.2 (RFC 8996) */
	char *tls_ciphers;	       /* medium */
	char *tls_mandatory_ciphers;   /* medium */
	char *tls_exclude_ciphers;
	char *tls_mandatory_exclude_ciphers;
	char *tls_verify_cert_match; /* hostname */
	char *tls_secure_cert_match; /* nexthop, dot-nexthop */
	char *tls_fingerprint_cert_match;
	char *helo_name;      /* smtp_helo_name, default myhostname */
	char *myhostname;     /* default: gethostname() FQDN */
	char *tcp_port;	      /* smtp_tcp_port, default 25 */
	char *fallback_relay; /* smtp_fallback_relay: destinations tried last, "" = none */
	char *bind_address;
	char *bind_address6;
	int line_length_limit;		  /* 998 */
	int connect_timeout;		  /* 30s */
	int helo_timeout;		  /* 300s */
	int starttls_timeout;		  /* 300s */
	int mail_timeout;		  /* 300s */
	int rcpt_timeout;		  /* 300s */
	int data_init_timeout;		  /* 120s */
	int data_xfer_timeout;		  /* 180s */
	int data_done_timeout;		  /* 600s */
	int quit_timeout;		  /* 300s */
	int rset_timeout;		  /* 20s */
	int mx_address_limit;		  /* 5 */
	int mx_session_limit;		  /* 2 */
	char *address_preference;	  /* any */
	int randomize_addresses;	  /* yes */
	int skip_5xx_greeting;		  /* yes */
	char *dns_support_level;	  /* accepted for compatibility; dnssec */
	char *dns_servers;		  /* ours: "" = system resolver */
	char *maillog_file;		  /* ours: "" = syslog facility mail */
	int delivery_deadline;		  /* ours: overall limit, default 900s (< pipe's 1000s) */
	char *service_name;		  /* ours: master.cf service name, for advice in logs */
	int socketmap_timeout;		  /* socketmap: lookups, Postfix's built-in 100s */
	int socketmap_max_reply;	  /* socketmap: reply bytes, Postfix's built-in 100000 */
	char *tls_session_cache_database; /* smtp_tls_session_cache_database, "" = off */
	int tls_session_cache_timeout;	  /* smtp_tls_session_cache_timeout, 3600s, 0 = off */
	int lmdb_map_size;		  /* size limit of the session cache file, bytes */
	/* Relay hosts: implicit TLS, client certificates, SASL (smtp_sasl.h). */
	int tls_wrappermode;	  /* smtp_tls_wrappermode: TLS before the greeting, default no */
	char *tls_chain_files;	  /* smtp_tls_chain_files: key, certificate, chain... ("" = none) */
	int sasl_auth_enable;	  /* smtp_sasl_auth_enable, default no */
	char *sasl_password_maps; /* smtp_sasl_password_maps, "" = none */
	char *sasl_security_options;	 /* smtp_sasl_security_options: noplaintext, noanonymous */
	char *sasl_tls_security_options; /* ..._tls_...: $smtp_sasl_security_options */
	char *sasl_tls_verified_security_options; /* ..._tls_verified_...: $..._tls_... */
	char *sasl_mechanism_filter;	      /* smtp_sasl_mechanism_filter, "" = every mechanism */
	int sasl_auth_soft_bounce;	      /* smtp_sasl_auth_soft_bounce, default yes */
	int sender_dependent_authentication;  /* smtp_sender_dependent_authentication, no */
	char *sasl_password_result_delimiter; /* one character, default ":" */
	char *sasl_type;	   /* smtp_sasl_type: accepted for compatibility, "cyrus" */
	char *recipient_delimiter; /* recipient_delimiter: sender lookups, "" = none */
	int tls_mta_sts;		  /* smtp_tls_mta_sts, ours: default no */
	char *tls_mta_sts_cache;	  /* smtp_tls_mta_sts_cache, lmdb:PATH, "" = none */
	int tls_mta_sts_fetch_timeout;	  /* smtp_tls_mta_sts_fetch_timeout, 10s */
	char *connection_cache_directory; /* ours: where held connections listen, "" = off */
	int connection_cache_on_demand;	  /* smtp_connection_cache_on_demand, yes */
	int connection_cache_time_limit;  /* idle time of a held connection, 2s */
	int connection_reuse_time_limit;  /* a connection's whole life for reuse, 300s */
	int connection_reuse_count_limit; /* deliveries per connection, 0 = no limit */
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
/*
 * A TCP port: a number 1..65535, or a service name (letters, digits, '-',
 * '_') of the services database, where "smtp" is 25 even without one.
 * The one port rule, for smtp_tcp_port and for the ":port" of a next-hop
 * (route.c route_port()).  Returns 0, or -1 for anything else.
 */
int config_parse_port(const char *text, unsigned *port);

/* ------------------------------------------------------------------------
 * address.c
 */
/*
 * The most octets of an encoded address (the path between the angle
 * brackets) this client sends: twice the 2048-octet command line of
 * Postfix's smtpd, so that a server, not we, refuses long addresses.
 */
#define ADDRESS_MAX 4096

enum address_result {
	ADDRESS_OK = 0,
	ADDRESS_MALFORMED = -1, /* syntax: a 5.1.3 refusal */
	ADDRESS_DEFER = -2	/* longer than ADDRESS_MAX, or out of memory: defer */
};

/*
 * Check one envelope address from argv.  Refuses CR, LF, NUL, other control
 * characters, '<' or '>' outside a quoted local part, a malformed domain.
 * There is no RFC 5321 local-part or path limit (see address.c).  Writes
 * the RFC 5321 path content (without angle brackets) to out, which should
 * hold ADDRESS_MAX + 1 octets.  Sets *utf8 when the address needs SMTPUTF8
 * (non-ASCII local part).  Returns an address_result, with a reason in err
 * unless ADDRESS_OK.
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
/*
 * RFC 1870 size at this line limit: octets with CRLF line ends as the
 * encoder sends them, less dot-stuffing and the final ".CRLF".  Counted
 * once per limit (a pass over the message) and cached.  -1: read error.
 */
int spool_size(struct spool *s, int line_length_limit, size_t *size);
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
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* "warning: ..." */
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* only with -v */
void log_close(void);
/*
 * Instead of log_open(), for a tool on the agent's library (tlspolicy):
 * every line the agent would log goes to fn, as logged but without the
 * syslog-like prefix ("warning: " kept), and nothing to syslog or a file.
 * verbose as for log_open(); fn NULL goes back to syslog.
 */
typedef void (*log_sink_fn)(const char *line, void *ctx);
void log_to_sink(log_sink_fn fn, void *ctx, int verbose);

/* ------------------------------------------------------------------------
 * text.c - vsnprintf into buf[len] where a cut-short result is acceptable
 * (always NUL-terminated when len > 0).
 */
void text_cut(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void text_vcut(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* ------------------------------------------------------------------------
 * outcome.c - what happened, in Postfix's words (cf. smtp_trouble).
 */
/*
 * Sizes used wherever a DSN or a reason is built or copied, in every layer:
 * OUTCOME_DSN_MAX   an enhanced status code "C.SSS.DDD" (RFC 3463: at most
 *                   9 characters) and its NUL, with room to spare;
 * OUTCOME_TEXT_MAX  a reason in one line: as long as RFC 5321 allows a reply
 *                   line to be (4.5.3.1.5: 512 octets), so that one line of
 *                   server text fits; longer texts are cut short.
 */
#define OUTCOME_DSN_MAX	 16
#define OUTCOME_TEXT_MAX 512

struct outcome {
	char dsn[OUTCOME_DSN_MAX];   /* "2.0.0", "4.7.5", "5.1.1" */
	char text[OUTCOME_TEXT_MAX]; /* reason, sanitised, without the code */
	int exit_code;		     /* 0, 75, or a permanent sysexits code */
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
