/*
 * tls_policy.h - the effective TLS policy of one next-hop, and what the
 * handshake derives from it (match patterns for one server, the GnuTLS
 * priority string).
 */
#ifndef TLSMTP_TLS_POLICY_H
#define TLSMTP_TLS_POLICY_H

#include <stddef.h>

/* core */
#include "core.h"

/*
 * "MAP KEY" of the entry that decided, for log lines: a map name (a path,
 * up to 1023 bytes in struct policy_result) and the key that matched; a
 * longer text is cut short, which only shortens a log line.
 */
#define TLS_POLICY_SOURCE_MAX 1100

struct tls_effective {
	enum tls_level level;	     /* TLS_LEVEL_INVALID: fail closed (4.7.5) */
	unsigned protocol_mask;	     /* from protocols= or smtp_tls_[mandatory_]protocols */
	enum tls_cipher_grade grade; /* from ciphers= or smtp_tls_[mandatory_]ciphers */
	char *exclude;		     /* colon-separated, or NULL */
	/* verify/secure: strategies and patterns as written (expanded per host
	 * by tls_policy_match_names); fingerprint: normalised digests */
	char **match;
	size_t match_count;
	char **tafile;
	size_t tafile_count;
	char *servername;		    /* NULL: the host name; "hostname"/"nexthop"/a name */
	char source[TLS_POLICY_SOURCE_MAX]; /* "lmdb:/x key" or "smtp_tls_security_level" */
	char invalid_reason[OUTCOME_TEXT_MAX]; /* why level is TLS_LEVEL_INVALID */
};

/*
 * Look up the policy for nh in maps (may be NULL) and merge with cfg.
 * Never fails open: a lookup error or an invalid entry yields
 * level TLS_LEVEL_INVALID with the warning already logged in Postfix's words.
 */
void tls_policy_resolve(const struct tlsmtp_config *cfg, struct policy_maps *maps,
    const struct nexthop *nh, struct tls_effective *eff);
void tls_effective_free(struct tls_effective *eff);
/* The effective policy of an MTA-STS enforce policy; source names it. */
void tls_policy_mta_sts(const struct tlsmtp_config *cfg, const char *source,
    struct tls_effective *eff);

/*
 * Expand the match strategies of eff for one address into lower-case
 * patterns without trailing dots: nexthop -> next-hop domain, dot-nexthop ->
 * ".domain", hostname -> the address's host name (for [host] next-hops the
 * same as nexthop); other patterns as written.  Returns the count stored.
 * The strings are malloc'ed; free with tls_match_names_free().
 */
size_t tls_policy_match_names(const struct tls_effective *eff, const struct nexthop *nh,
    const char *hostname, char **names, size_t max);
void tls_match_names_free(char **names, size_t count);

/*
 * GnuTLS priority string for an effective policy; -1 with a reason.  The
 * cipher grade picks the base, the protocol mask the versions (SSLv2/SSLv3
 * never), levels that require TLS drop NULL ciphers, anonymous suites are
 * never offered, and exclude= words map to GnuTLS removals.
 */
int tls_priority_string(const struct tls_effective *eff, char *out, size_t outlen, char *err,
    size_t errlen);

#endif
