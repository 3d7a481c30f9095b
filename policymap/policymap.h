/*
 * policymap.h - public interface of the TLS policy table library.
 *
 * The library reads, validates, compiles and looks up Postfix-compatible
 * smtp_tls_policy_maps tables.  It knows nothing of sockets or SMTP; the
 * agent (transport/) and the compiler (tools/) both link it.
 *
 * Modules, one concern each:
 *   policy_parse.c   a policy value ("secure match=nexthop ...") -> struct tls_policy
 *   policy_proto.c   protocol expressions (">=TLSv1.2", "!SSLv3:!TLSv1", hex) and cipher grades
 *   nexthop.c        Postfix next-hop syntax -> struct nexthop, and the lookup key list
 *   table_source.c   postmap source syntax: comments, continuation, folding, IDN
 *   table_lmdb.c     Postfix's lmdb: file format, read side (fcntl-locked) and atomic build side
 *   table_text.c     tables held in memory: texthash: (a source file) and inline:{...}
 *   policy_lookup.c  the map list, its map types and the lookup order across them
 *
 * Every function that can fail takes (char *err, size_t errlen) and writes a
 * one-line reason there, in Postfix's wording where Postfix has one.
 */
#ifndef TLSMTP_POLICYMAP_H
#define TLSMTP_POLICYMAP_H

#include <stddef.h>
#include <stdio.h>

/* ------------------------------------------------------------------------
 * Security levels.  The numeric order is Postfix's, so "level > MAY" means
 * "TLS required" and "level > ENCRYPT" means "the peer must match".
 */
enum tls_level {
	TLS_LEVEL_INVALID = -1,
	TLS_LEVEL_NONE = 0,
	TLS_LEVEL_MAY,
	TLS_LEVEL_ENCRYPT,
	TLS_LEVEL_FINGERPRINT,
	TLS_LEVEL_HALF_DANE, /* internal: DANE with an insecure MX; never parsed */
	TLS_LEVEL_DANE,
	TLS_LEVEL_DANE_ONLY,
	TLS_LEVEL_VERIFY,
	TLS_LEVEL_SECURE
};

#define TLS_LEVEL_REQUIRES_TLS(l) ((l) > TLS_LEVEL_MAY)
#define TLS_LEVEL_MUST_MATCH(l)	  ((l) > TLS_LEVEL_ENCRYPT)
#define TLS_LEVEL_MUST_PKIX(l)	  ((l) >= TLS_LEVEL_VERIFY)

/* Case-insensitive name -> level; TLS_LEVEL_INVALID if unknown. */
enum tls_level tls_level_from_name(const char *name);
/* Canonical lower-case name ("dane-only"); "invalid" for unknown values. */
const char *tls_level_name(enum tls_level level);

/* ------------------------------------------------------------------------
 * Protocol versions and cipher grades (policy_proto.c).  Also used by the
 * agent for the main.cf-style smtp_tls_*protocols / *ciphers parameters.
 */
#define TLS_PROTO_SSLv2	  (1u << 0)
#define TLS_PROTO_SSLv3	  (1u << 1)
#define TLS_PROTO_TLSv1	  (1u << 2)
#define TLS_PROTO_TLSv1_1 (1u << 3)
#define TLS_PROTO_TLSv1_2 (1u << 4)
#define TLS_PROTO_TLSv1_3 (1u << 5)
#define TLS_PROTO_ALL	  (0x3fu)

/*
 * Parse a protocol expression as Postfix 3.7 does: ">=TLSv1.2", "<=TLSv1.3",
 * ">=0x0303" (hex version), the legacy exclusion form "!SSLv2:!SSLv3", plain
 * inclusion lists "TLSv1.2:TLSv1.3", combinations separated by ':' (and, in
 * main.cf values, also by whitespace or ','); empty = all protocols.
 * On success stores the set of allowed versions in *mask and returns 0.
 * Returns -1 and an explanation for an unknown name, a malformed bound, or an
 * expression that allows no protocol at all.
 */
int tls_protocols_parse(const char *expr, unsigned *mask, char *err, size_t errlen);

enum tls_cipher_grade {
	TLS_GRADE_INVALID = -1,
	TLS_GRADE_EXPORT = 0,
	TLS_GRADE_LOW,
	TLS_GRADE_MEDIUM,
	TLS_GRADE_HIGH,
	TLS_GRADE_NULL
};
/* Case-insensitive: export low medium high null. */
enum tls_cipher_grade tls_cipher_grade_from_name(const char *name);

/* ------------------------------------------------------------------------
 * A parsed policy value (policy_parse.c).
 */
#define TLS_POLICY_MAX_LIST 64 /* match= / tafile= entries kept */

struct tls_policy {
	enum tls_level level;
	/* Single-use attributes; NULL when absent.  Strings are owned. */
	char *ciphers;			    /* grade name as written */
	enum tls_cipher_grade cipher_grade; /* TLS_GRADE_INVALID when absent */
	char *protocols;		    /* expression as written */
	unsigned protocol_mask;		    /* valid only when protocols != NULL */
	char *exclude;			    /* colon-separated cipher list as written */
	char *servername;		    /* DNS name (A-label), "hostname" or "nexthop" */
	/* "last one wins" attributes: -1 unset, 0 no, 1 yes */
	int connection_reuse;
	int enable_rpk;
	/*
	 * match=: for verify/secure, one element per ':'-separated pattern or
	 * strategy ("nexthop", "dot-nexthop", "hostname", "example.com",
	 * ".example.com"), strategies and names lower-cased.  For fingerprint,
	 * one element per digest, normalised to lower-case hex without colons.
	 */
	char *match[TLS_POLICY_MAX_LIST];
	size_t match_count;
	char *tafile[TLS_POLICY_MAX_LIST];
	size_t tafile_count;
	/* Non-fatal remarks, e.g. ignoring attribute "x" with TLS disabled. */
	char *notes[8];
	size_t note_count;
};

void tls_policy_init(struct tls_policy *p);
void tls_policy_free(struct tls_policy *p);

/*
 * Parse and validate one table value with Postfix's rules (tokens separated
 * by whitespace and/or commas; level first; attribute names case-insensitive;
 * which attributes are legal at which level; single-use vs repeatable).
 * Returns 0 and fills *p on success; returns -1 with the reason in err
 * (e.g. "invalid security level \"foo\"", "attribute \"match\" invalid at
 * security level \"may\"") and p->level == TLS_LEVEL_INVALID on failure.
 * The caller calls tls_policy_free() in both cases.
 */
int tls_policy_parse(const char *value, struct tls_policy *p, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Next-hops (nexthop.c).
 */
#define NEXTHOP_KEY_MAX	 1024
#define NEXTHOP_HOST_MAX 256

enum nexthop_kind {
	NEXTHOP_DOMAIN, /* example.com[:port]       MX lookup */
	NEXTHOP_HOST,	/* [mx.example.com][:port]  A/AAAA only */
	NEXTHOP_IPV4,	/* [192.0.2.1][:port]       literal */
	NEXTHOP_IPV6	/* [ipv6:2001:db8::1][:port] literal */
};

struct nexthop {
	enum nexthop_kind kind;
	char key[NEXTHOP_KEY_MAX];   /* verbatim, case-folded, IDN as A-labels: the policy key */
	char host[NEXTHOP_HOST_MAX]; /* domain, host name or address, no brackets, no "ipv6:" */
	char port[32]; /* as written after ':' ("" when absent): number or service name */
	int has_port;
};

/*
 * Parse Postfix next-hop syntax.  A trailing dot on a domain is removed;
 * U-labels are converted to A-labels.  Returns -1 on malformed input
 * (empty, unbalanced brackets, bad IP literal, bad port, control characters).
 */
int nexthop_parse(const char *text, struct nexthop *nh, char *err, size_t errlen);

/*
 * A destination list (Postfix >= 3.5): elements separated by commas and/or
 * white space, empty ones skipped, each parsed as above into out[0..max).
 * Returns the number of destinations (0 for a list of separators only), or
 * -1 with a reason naming the first bad element, or when there are more
 * than max.  Nothing is used unless every element parses.
 */
int nexthop_list_parse(const char *text, struct nexthop *out, size_t max, char *err, size_t errlen);

/*
 * The keys to try, in order: the verbatim key, then for a bare domain (no
 * brackets, no port) each dotted parent ".b.example.com", ".example.com",
 * ".com".  Returns the number of keys stored (at most max).
 */
size_t nexthop_lookup_keys(const struct nexthop *nh, char keys[][NEXTHOP_KEY_MAX], size_t max);

/* ------------------------------------------------------------------------
 * Source tables (table_source.c): postmap syntax.
 */
#define TABLE_SOURCE_FOLD (1u << 0) /* lower-case keys (postmap default; -f clears) */

struct table_entry {
	const char *key;   /* folded (if asked), IDN converted to A-labels */
	const char *value; /* trimmed, continuation lines joined */
	unsigned line;	   /* line number where the logical line starts */
};

/*
 * Read a source table.  For each entry calls entry_cb; for each problem
 * calls diag_cb with the line number and a message (without the
 * "FILE:LINE: " prefix, which the caller adds).  A callback returning
 * non-zero stops the read.  Returns 0 on success, -1 on an I/O error.
 */
typedef int (*table_entry_cb)(const struct table_entry *e, void *ctx);
typedef void (*table_diag_cb)(unsigned line, const char *message, void *ctx);
int table_source_read(FILE *fp, unsigned flags, table_entry_cb entry_cb, table_diag_cb diag_cb,
    void *ctx);
/*
 * Fold one key as table_source_read() does (for queries such as
 * "tlsmap -q KEY"): ASCII lower case with TABLE_SOURCE_FOLD; a non-ASCII
 * domain part converted to A-labels.  Returns 0, or -1 with the reason.
 */
int table_source_fold_key(const char *key, unsigned flags, char *out, size_t outlen, char *err,
    size_t errlen);

/* ------------------------------------------------------------------------
 * Postfix lmdb: tables (table_lmdb.c).  PATH is the file itself ("x.lmdb").
 */
struct lmdb_table;

/* Read-only open: MDB_RDONLY|MDB_NOSUBDIR|MDB_NOLOCK; no lock file is made. */
int lmdb_table_open(const char *path, struct lmdb_table **out, char *err, size_t errlen);
/*
 * Exact lookup under a shared fcntl lock.  Tries key+NUL, then the bare key.
 * Returns 1 found (*value is malloc'ed and NUL-terminated), 0 not found,
 * -1 error.
 */
int lmdb_table_get(struct lmdb_table *t, const char *key, char **value, char *err, size_t errlen);
/*
 * Walk every entry in database order (for dumps); cb returning non-zero
 * stops.  cb sees keys and values without their trailing NUL (either style).
 */
typedef int (*lmdb_table_walk_cb)(const char *key, size_t keylen, const char *value,
    size_t valuelen, void *ctx);
int lmdb_table_walk(struct lmdb_table *t, lmdb_table_walk_cb cb, void *ctx, char *err,
    size_t errlen);
void lmdb_table_close(struct lmdb_table *t);
/*
 * Delete KEY (key+NUL and bare key) from the table file PATH in place,
 * under an exclusive fcntl lock, as "postmap -d" does.  Returns 1 deleted,
 * 0 not found, -1 error.
 */
int lmdb_table_delete(const char *path, const char *key, char *err, size_t errlen);

/*
 * Building: entries go into a temporary file in the target's directory,
 * which is fsync'ed and renamed over PATH on commit; on abort (or a crash)
 * the old PATH is untouched.  mode is the new file's permission bits.
 */
struct lmdb_builder;
#define LMDB_BUILD_NO_NUL (1u << 0) /* store without trailing NUL (postmap -n) */

int lmdb_builder_begin(const char *path, unsigned flags, unsigned mode, struct lmdb_builder **out,
    char *err, size_t errlen);
/* Returns 1 inserted, 0 key existed (replace: overwritten, else kept), -1 error. */
int lmdb_builder_put(struct lmdb_builder *b, const char *key, const char *value, int replace,
    char *err, size_t errlen);
int lmdb_builder_commit(struct lmdb_builder *b, char *err, size_t errlen);
void lmdb_builder_abort(struct lmdb_builder *b);

/* ------------------------------------------------------------------------
 * Tables held in memory (table_text.c): texthash: and inline:.
 */
struct text_table;

/* Read a postmap source file (keys folded); any problem refuses the table. */
int text_table_read_file(const char *path, struct text_table **out, char *err, size_t errlen);
/* Parse "{ key=value, { key = value with spaces }, ... }" (inline:). */
int text_table_parse_inline(const char *text, struct text_table **out, char *err, size_t errlen);
/* 1 found (*value malloc'ed), 0 not found, -1 out of memory. */
int text_table_get(const struct text_table *t, const char *key, char **value);
void text_table_free(struct text_table *t);

/* ------------------------------------------------------------------------
 * Policy maps and lookup (policy_lookup.c).
 */
struct policy_maps;

/*
 * A map type served by the caller, for types that need what this library
 * must not do (socketmap: opens sockets).  open() gets the text after
 * "type:" and ctx, and returns a handle or -1 with the reason (a syntax
 * error: the list is refused); lookup() returns 1 found (*value
 * malloc'ed), 0 not found, -1 error with the reason; close() frees.
 */
struct policy_map_backend {
	const char *type; /* "socketmap" */
	int (*open)(const char *arg, void *ctx, void **handle, char *err, size_t errlen);
	int (*lookup)(void *handle, const char *key, char **value, char *err, size_t errlen);
	void (*close)(void *handle);
	void *ctx;
};

/*
 * Length of the next element of a Postfix list (smtp_tls_policy_maps,
 * smtp_sasl_password_maps, transport_maps, ...): up to a comma or white
 * space outside braces, so that inline:{a=b, c=d} is one element.
 */
size_t policy_list_element_length(const char *p);

/*
 * Open a list of maps as written in smtp_tls_policy_maps: "lmdb:/path/a,
 * texthash:/path/b, inline:{ key=value, ... }, static:{value}"
 * (separated by commas and/or white space, braces grouping).  An unknown
 * or unreadable type is an error, with the fix for hash:, btree:, cdb:,
 * dbm: and sdbm: ("compile it with tlsmap lmdb:FILE ...").  A missing
 * file is NOT an error here: it becomes a lookup error at lookup time
 * (fail closed, as Postfix).  policy_maps_open_with() also accepts the
 * caller's types (at most 4); the array is copied.
 */
int policy_maps_open(const char *spec, struct policy_maps **out, char *err, size_t errlen);
int policy_maps_open_with(const char *spec, const struct policy_map_backend *backends,
    size_t nbackends, struct policy_maps **out, char *err, size_t errlen);
void policy_maps_close(struct policy_maps *m);

/*
 * One key, as given (the caller folds it), in every map in order; the
 * first hit wins.  The generic lookup under policy_lookup(), also used for
 * tables whose values are not policies (smtp_sasl_password_maps).  Returns
 * 1 found (*value malloc'ed, *map the name of the map that had it), 0 not
 * found, -1 error ("MAP: reason" in err; *map the map that failed).
 */
int policy_maps_find(struct policy_maps *m, const char *key, char **value, const char **map,
    char *err, size_t errlen);

enum policy_lookup_status {
	POLICY_NOT_FOUND = 0, /* use the default level */
	POLICY_FOUND,	      /* result->policy is valid */
	POLICY_INVALID,	      /* found, but the value is not a valid policy */
	POLICY_LOOKUP_ERROR   /* a table could not be read: fail closed */
};

struct policy_result {
	char map[1024];		   /* "lmdb:/etc/postfix/tls_policy" */
	char key[NEXTHOP_KEY_MAX]; /* the key that matched */
	char *value;		   /* raw value (owned) */
	struct tls_policy policy;
};

/*
 * Look up the policy for a next-hop: keys in nexthop_lookup_keys() order,
 * each key in every map in order; the first hit wins.  On POLICY_INVALID and
 * POLICY_LOOKUP_ERROR, err holds the reason in Postfix's wording (without
 * the 'smtp_tls_policy_maps, next-hop destination "KEY": ' prefix).
 * Call policy_result_free() afterwards in every case.
 */
enum policy_lookup_status policy_lookup(struct policy_maps *m, const struct nexthop *nh,
    struct policy_result *result, char *err, size_t errlen);
void policy_result_free(struct policy_result *r);

/*
 * What a lookup did, for a tool that explains it (tlspolicy): with a trace
 * set, policy_lookup() calls fn once for every map it asks for every key,
 * in order, with the outcome: rc 1 found (value is the raw value), 0 not
 * found (value NULL), -1 error (value is the reason).  fn NULL: no trace.
 */
typedef void (
    *policy_trace_fn)(const char *map, const char *key, int rc, const char *value, void *ctx);
void policy_maps_set_trace(struct policy_maps *m, policy_trace_fn fn, void *ctx);

/*
 * The source file of a map, for reporting an entry's FILE:LINE: FILE for
 * lmdb:FILE (whose table is FILE.lmdb) and for texthash:FILE.  Returns 1
 * with out filled, 0 when the map has no source file (inline:, static:,
 * the caller's types) or the name does not fit.
 */
int policy_map_source(const char *map, char *out, size_t outlen);

/*
 * MTA-STS (RFC 8461) text, sts_policy.c: the _mta-sts TXT record, the
 * policy file and its mx patterns.  Returns 0, or -1 with a reason.
 */
#define STS_ID_MAX	32
#define STS_MX_MAX	64
#define STS_MAX_AGE_MAX 31557600L
#define STS_POLICY_MAX	65536 /* bytes of a policy file (section 3.3) */

enum sts_mode { STS_MODE_NONE, STS_MODE_TESTING, STS_MODE_ENFORCE };

struct sts_policy {
	enum sts_mode mode;
	long max_age;
	size_t mx_count;
	char mx[STS_MX_MAX][256]; /* lower case, "*." kept */
};

int sts_txt_is_sts(const char *txt, size_t len);
int sts_txt_parse(const char *txt, size_t len, char id[STS_ID_MAX + 1], char *err, size_t errlen);
int sts_policy_parse(const char *text, size_t len, struct sts_policy *p, char *err, size_t errlen);
int sts_mx_match(const char *pattern, const char *host);
int sts_policy_allows(const struct sts_policy *p, const char *host);
const char *sts_mode_name(enum sts_mode m);

#endif
