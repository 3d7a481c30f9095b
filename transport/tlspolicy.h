/*
 * tlspolicy.h - the tlspolicy tool's data and the interfaces of its
 * modules.  The tool is a second main program on the agent's library
 * (layer main, docs/architecture.md): every rule it reports is the
 * agent's own code, called, never copied.
 *
 *   tlspolicy.c           options, the explain and probe commands, exit status
 *   tlspolicy_postconf.c  Postfix's answers: postconf -c DIR, postmap -c DIR -q
 *   tlspolicy_route.c     a recipient's transport and next-hop, as trivial-rewrite
 *                         finds them; the master.cf service behind the transport
 *   tlspolicy_lookup.c    the agent's policy lookup of one destination, traced;
 *                         FILE:LINE of the entry; the relay-host trap
 *   tlspolicy_probe.c     one destination probed: route, then a session per address
 *   tlspolicy_report.c    the results as text or JSON; certificate details
 *   tlspolicy_sts.c       the built-in MTA-STS state of a destination (mta_sts.c),
 *                         its MX hosts against the patterns; sts-refresh
 */
#ifndef TLSMTP_TLSPOLICY_H
#define TLSMTP_TLSPOLICY_H

#include <stddef.h>
#include <stdio.h>

/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "route.h"
/* tls */
#include "tls_policy.h"
#include "mta_sts.h"
/* smtp */
#include "smtp.h"

#define TP_EXIT_OK    0 /* every lookup succeeded, every destination would deliver */
#define TP_EXIT_WARN  1 /* a lookup failed, a delivery would defer, or a warning */
#define TP_EXIT_USAGE 2

#define TP_DESTINATIONS_MAX 32	 /* next-hop list and fallback relays, as tlsmtp.c */
#define TP_TEXT_MAX	    1024 /* one line of the report */

/* ------------------------------------------------------------------------
 * A list of report lines (tlspolicy.c).
 */
struct tp_list {
	char **item;
	size_t count;
};

void tp_list_add(struct tp_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_list_free(struct tp_list *l);

/* ------------------------------------------------------------------------
 * What the tool found: one result per recipient (explain) or destination
 * argument (probe), with one tp_dest per destination tlsmtp would try.
 */

/* One map asked for one key (policy_maps_set_trace). */
struct tp_lookup {
	char *map;
	char *key;
	int rc;	     /* 1 found, 0 not found, -1 error */
	char *value; /* the raw entry, or the error; NULL when not found */
};

/* One server of a probed destination. */
struct tp_address {
	char label[ROUTE_LABEL_MAX]; /* "host[addr]:port" */
	struct outcome out;	     /* the attempt's outcome, in the agent's words */
	int delivered;		     /* the session got as far as MAIL FROM */
	int plaintext_retry; /* "may": a new connection without TLS after a failed handshake */
	char tls_failure[OUTCOME_TEXT_MAX]; /* then: why the TLS attempt failed */
	struct smtp_probe probe;   /* TLS details and the peer chain (of the TLS attempt) */
	char verdict[TP_TEXT_MAX]; /* "would deliver over Verified TLS", "would defer: ..." */
	struct tp_list log;	   /* the agent's log lines of this attempt */
	int sts_match;		   /* its MX host matches an mx pattern: 1, 0; -1 no policy */
	int sts_used;		   /* the MTA-STS enforce policy decided this attempt */
};

struct tp_dest {
	struct nexthop nh;
	int fallback; /* from smtp_fallback_relay */
	/* the policy lookup (tlspolicy_lookup.c) */
	struct tp_lookup *lookups;
	size_t lookup_count;
	struct tp_list keys;		   /* the keys in the order tried */
	int lookup_error;		   /* a map could not be read */
	char matched_key[NEXTHOP_KEY_MAX]; /* "" when none */
	char matched_map[1024];
	char *entry;				/* the raw value that matched, NULL */
	char source[TP_TEXT_MAX];		/* "FILE:LINE", "" when unknown */
	enum tls_level level;			/* effective; TLS_LEVEL_INVALID defers 4.7.5 */
	char level_from[TLS_POLICY_SOURCE_MAX]; /* "lmdb:/x key" or "smtp_tls_security_level" */
	char invalid_reason[OUTCOME_TEXT_MAX];
	char level_text[TP_TEXT_MAX]; /* what the level asks for, in words */
	struct tp_list match;	      /* what the certificate must match */
	char dane[TP_TEXT_MAX];	      /* "" when DANE does not apply */
	char mta_sts[TP_TEXT_MAX];    /* "" when no policy daemon is asked */
	struct tp_list log;	      /* the agent's lines during the lookup */
	/* the built-in MTA-STS (tlspolicy_sts.c) */
	int sts_looked;			/* mta_sts_wanted(): the agent looks for a policy */
	char sts_skip[TP_TEXT_MAX];	/* why it does not, "" */
	struct mta_sts_result *sts;	/* what mta_sts_discover() found, NULL */
	int sts_fetch_failed;		/* a fetch was due and failed */
	int sts_enforce;		/* sts_eff is the policy of addresses without DANE */
	struct tls_effective sts_eff;	/* enforce */
	char sts_decision[TP_TEXT_MAX]; /* what the policy does to this destination */
	struct tp_list sts_not_tried;	/* MX hosts outside the patterns (enforce) */
	/* the probe (tlspolicy_probe.c) */
	int probed;
	char route_error[OUTCOME_TEXT_MAX + 32]; /* "dsn text" when routing failed */
	struct tp_address *addrs;
	size_t addr_count;
	int deliverable;
	char verdict[TP_TEXT_MAX];
};

struct tp_result {
	char *recipient;	   /* explain, or a probe argument with '@'; NULL */
	char *argument;		   /* probe: the argument as given */
	char *sender;		   /* explain -f; NULL when not given */
	char transport[256];	   /* master.cf service, "" when unknown */
	char service[TP_TEXT_MAX]; /* what master.cf runs for it: "pipe(8) running /x/tlsmtp" */
	int tlsmtp;		   /* the transport is a pipe(8) service running tlsmtp */
	char nexthop[NEXTHOP_KEY_MAX * 2]; /* what tlsmtp is given (-n), or Postfix's */
	char conf[1024];		   /* the tlsmtp configuration file used */
	struct tp_list route;		   /* how the transport and next-hop were found */
	struct tp_dest *dests;
	size_t dest_count;
	struct tp_list warnings;   /* each makes the exit status 1 */
	struct tp_list notes;	   /* information only */
	int failed;		   /* a lookup failed or a delivery would defer */
	char verdict[TP_TEXT_MAX]; /* probe: the destination's verdict */
};

void tp_result_free(struct tp_result *r);

/* ------------------------------------------------------------------------
 * tlspolicy_postconf.c - Postfix's own answers, from Postfix's commands,
 * always with "-c DIR".
 */
struct pf_conf;

/*
 * Read the parameters tlspolicy needs (postconf -c DIR -x NAME...) and
 * master.cf (postconf -c DIR -M).  -1 with a reason when postconf cannot
 * be run or fails.
 */
int pf_conf_open(const char *dir, struct pf_conf **out, char *err, size_t errlen);
void pf_conf_close(struct pf_conf *c);
const char *pf_conf_dir(const struct pf_conf *c);
/* A main.cf parameter, $names expanded; "" when it has no value. */
const char *pf_param(const struct pf_conf *c, const char *name);

enum pf_lookup { PF_NOT_FOUND = 0, PF_FOUND, PF_ERROR };

/*
 * One key in one map, with postmap -c DIR -q KEY MAP (every map type
 * Postfix has works).  PF_FOUND with *value (malloc'ed); PF_ERROR with
 * postmap's reason.
 */
enum pf_lookup pf_map_query(const struct pf_conf *c, const char *map, const char *key, char **value,
    char *err, size_t errlen);

/* The master.cf entry NAME/TYPE, its fields after maxproc: "pipe flags=..." */
const char *pf_master_command(const struct pf_conf *c, const char *name, const char *type);

/* ------------------------------------------------------------------------
 * tlspolicy_route.c
 */

/* What the master.cf service behind a transport runs. */
struct tp_service {
	int found;	     /* master.cf has NAME/unix */
	char command[64];    /* the daemon: "pipe", "smtp", ... */
	int tlsmtp;	     /* pipe(8) with argv= a program named tlsmtp */
	char agent[1024];    /* argv[0] */
	char conf[1024];     /* its -c FILE, "" */
	char *overrides[16]; /* its -o NAME=VALUE, malloc'ed */
	size_t override_count;
	char nexthop_arg[NEXTHOP_KEY_MAX]; /* its -n argument as written, "" */
};

/*
 * The transport and next-hop of rcpt (user@domain) as trivial-rewrite
 * finds them (sender NULL: none given), into r->transport, r->nexthop
 * and r->route.  Returns 0, or -1 when the address cannot be routed: not
 * an address, or a lookup failed (Postfix would defer), with a warning
 * and r->failed.
 */
int tp_route_recipient(const struct pf_conf *c, const char *rcpt, const char *sender,
    struct tp_result *r);
/* The master.cf service of transport NAME. */
void tp_service_find(const struct pf_conf *c, const char *name, struct tp_service *s);
void tp_service_free(struct tp_service *s);
/* The -n argument of the service with pipe(8)'s macros of one recipient expanded. */
void tp_service_nexthop(const struct tp_service *s, const char *nexthop, const char *rcpt,
    char *out, size_t outlen);

/* ------------------------------------------------------------------------
 * tlspolicy_lookup.c
 */

/*
 * The agent's lookup for one destination (tls_policy_resolve(), traced):
 * keys and maps asked, the match and its FILE:LINE, the effective level
 * and what the certificate must match.  eff receives the effective policy
 * (free with tls_effective_free).  Problems with the source file become
 * warnings of r.
 */
void tp_lookup_destination(const struct tlsmtp_config *cfg, struct policy_maps *maps,
    struct tp_dest *d, struct tls_effective *eff, struct tp_result *r);

/* The level text and match list of d for another effective policy (MTA-STS). */
void tp_lookup_describe(const struct tlsmtp_config *cfg, const struct tls_effective *eff,
    struct tp_dest *d);

/*
 * The trap: an entry for the recipient's domain (or a parent) that tlsmtp
 * never consults because the mail goes to another next-hop.  Adds a
 * warning to r, or a note when the entry that applies is at least as
 * strict.
 */
void tp_lookup_trap(struct policy_maps *maps, const char *rcpt, struct tp_result *r);

/* Where the agent's log lines go while a list is set (NULL: dropped). */
void tp_log_into(struct tp_list *l);
void tp_log_sink(const char *line, void *ctx);

/* ------------------------------------------------------------------------
 * tlspolicy_probe.c
 */

/*
 * Probe one destination whose lookup is done (d, eff): its route, then one
 * session per address as a delivery would run it, stopping before MAIL.
 */
void tp_probe_destination(const struct tlsmtp_config *cfg, struct dns_ctx *dns,
    const struct tls_effective *eff, struct tp_dest *d, int verbose);

/* ------------------------------------------------------------------------
 * tlspolicy_sts.c
 */

/*
 * The MTA-STS state of a destination whose lookup is done (eff), as the
 * agent finds it (mta_sts_wanted, mta_sts_discover: the cache, the TXT
 * record, a fetch on a miss); an enforce policy becomes d->sts_eff.
 */
void tp_sts_lookup(const struct tlsmtp_config *cfg, struct dns_ctx *dns,
    const struct tls_effective *eff, struct tp_dest *d);
/* The probe's route against the policy (mta_sts_filter); addresses left. */
size_t tp_sts_route(struct tp_dest *d, struct route_list *route);
/* An address's MX host against the patterns: 1, 0; -1 when no policy. */
int tp_sts_host_matches(const struct tp_dest *d, const char *host);
void tp_sts_free(struct tp_dest *d);
/*
 * tlspolicy sts-refresh: fetch the policies of the domains again
 * (mta_sts_discover with force), one line or JSON object each.  Returns
 * TP_EXIT_OK, or TP_EXIT_WARN when a fetch failed or a name is no domain.
 */
int tp_sts_refresh(const struct tlsmtp_config *cfg, struct dns_ctx *dns, char **domains,
    size_t count, int json);

/* ------------------------------------------------------------------------
 * tlspolicy_report.c
 */
void tp_report_text(FILE *fp, const struct tp_result *r, int probe);
/* One JSON array of every result; call once with all of them. */
void tp_report_json(FILE *fp, const struct tp_result *const *r, size_t count, int probe);
/* sts-refresh: each domain's policy after the fetch (failed[i]: it failed). */
void tp_report_sts(FILE *fp, const struct mta_sts_result *const *r, const int *failed, size_t count,
    int json);

#endif
