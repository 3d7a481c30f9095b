/*
 * tls_scache.h - TLS session resumption across deliveries: a session cache
 * in one LMDB file shared by every agent process, and the glue that hands
 * a cached ticket to a GnuTLS client session and saves the next one.
 *
 * Interface:
 *   tls_scache_key_make()  the cache key of one TLS session: SHA-256 over
 *                          every input that changes what "verified" means,
 *                          plus a readable label for the log
 *   tls_scache_open()      open "lmdb:/path" as the file /path.lmdb
 *   tls_scache_take()      read and delete one unexpired ticket for a key,
 *                          in one write transaction (each ticket is used
 *                          once, RFC 8446 appendix C.4)
 *   tls_scache_store()     add a ticket for a key, with its expiry
 *   tls_scache_purge()     delete every expired or malformed entry
 *   tls_scache_close()
 *   tls_scache_session_begin()  before a handshake: take a ticket for the
 *                          key and give it to the session; watch for the
 *                          server's next ticket and its lifetime
 *   tls_scache_session_ready()  after the first read past the handshake
 *                          (the EHLO reply inside TLS): store the ticket
 *                          the server sent, if any
 *
 * A cache is an optimisation, never a failure: whatever goes wrong (no
 * directory, no permission, a corrupt, truncated or full file) is a miss
 * and at most one warning line per process, and the delivery goes on with
 * a full handshake.  A resumed session is verified again by the caller
 * exactly like a new one; the cache never stores a verdict.
 */
#ifndef TLSMTP_TLS_SCACHE_H
#define TLSMTP_TLS_SCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <gnutls/gnutls.h>
/* core */
#include "core.h"
/* dns */
#include "tlsa.h"

#define TLS_SCACHE_DIGEST_LEN 32 /* SHA-256 */
#define TLS_SCACHE_LABEL_MAX  600
/* RFC 8446 4.6.1: never keep a ticket longer than 7 days. */
#define TLS_SCACHE_LIFETIME_MAX (7 * 86400)
/* Default for lmdb_map_size: the file never grows beyond this. */
#define TLS_SCACHE_MAP_SIZE (16 * 1024 * 1024)

struct tls_scache_key {
	unsigned char digest[TLS_SCACHE_DIGEST_LEN];
	/* "nexthop&host[addr]:port&level", for log lines only */
	char label[TLS_SCACHE_LABEL_MAX];
};

/*
 * What the key covers.  Lists may come in any order (they are sorted
 * before hashing); NULL strings count as empty.  Files (CA file and
 * directory, tafile=, client certificate and key) count by path and by
 * what stat(2) says of them (device, inode, size, modification time), so
 * replacing or editing one changes the key.
 */
struct tls_scache_fields {
	const char *nexthop; /* next-hop as looked up ("[mx.example]:587") */
	const char *host;    /* MX host name */
	const char *addr;    /* printable address */
	unsigned port;
	const char *sni;	  /* server name sent, "" for none */
	int level;		  /* effective enum tls_level (after DANE) */
	const char *const *names; /* expanded match names (verify, secure) */
	size_t name_count;
	const char *const *digests; /* fingerprint pins */
	size_t digest_count;
	const char *digest_alg;	     /* smtp_tls_fingerprint_digest */
	const struct tlsa_set *tlsa; /* DANE records, or NULL */
	int dane_insecure_mx;	     /* DANE "half-dane" mode */
	const char *const *tafiles;
	size_t tafile_count;
	const char *ca_file;   /* smtp_tls_CAfile, NULL or "" = none */
	const char *ca_path;   /* smtp_tls_CApath */
	const char *priority;  /* GnuTLS priority string: protocols, ciphers */
	const char *cert_file; /* client certificate, NULL = none */
	const char *key_file;
};

void tls_scache_key_make(const struct tls_scache_fields *f, struct tls_scache_key *key);

struct tls_scache;

/*
 * spec is smtp_tls_session_cache_database ("lmdb:/var/lib/tlsmtp/scache"
 * opens /var/lib/tlsmtp/scache.lmdb and its lock file scache.lmdb-lock,
 * created mode 0600).  timeout_s is smtp_tls_session_cache_timeout (an
 * upper bound on each entry's life); map_size caps the file (bytes).
 * Returns NULL after one warning when the cache cannot be used.
 */
struct tls_scache *tls_scache_open(const char *spec, int timeout_s, size_t map_size);
void tls_scache_close(struct tls_scache *sc);

/*
 * Take one ticket for key: 1 with blob (free with gnutls_free), 0 for a
 * miss.  Expired and malformed entries met on the way are deleted.
 */
int tls_scache_take(struct tls_scache *sc, const struct tls_scache_key *key, gnutls_datum_t *blob);

/*
 * Store blob for key.  It expires after the smallest of the cache timeout,
 * lifetime_s (the server's ticket lifetime; 0 = unknown) and 7 days.
 * GnuTLS's 4-byte "no ticket" placeholder and empty blobs are refused.
 * When the map is full, expired entries are purged and the store is
 * tried once more.  Returns 1 when stored, 0 otherwise.
 */
int tls_scache_store(struct tls_scache *sc, const struct tls_scache_key *key,
    const gnutls_datum_t *blob, unsigned lifetime_s);

/* Delete expired and malformed entries; returns how many, or -1. */
long tls_scache_purge(struct tls_scache *sc);

/* smtp_tls_session_cache_database set and smtp_tls_session_cache_timeout > 0. */
int tls_scache_wanted(const struct tlsmtp_config *cfg);

/*
 * Session glue for the agent: one TLS session at a time per process, the
 * cache opened on first use from cfg (nothing happens when
 * smtp_tls_session_cache_database is empty or the timeout is 0).
 * session_begin() must run after the priorities and credentials are set
 * and before the handshake; session_ready() once the first reply inside
 * TLS has been read, when new TLS 1.3 tickets have arrived.
 */
void tls_scache_session_begin(const struct tlsmtp_config *cfg, gnutls_session_t sess,
    const struct tls_scache_key *key);
void tls_scache_session_ready(gnutls_session_t sess);

#endif
