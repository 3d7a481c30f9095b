/*
 * sasl_mech.h - the client side of SASL mechanisms for SMTP AUTH (RFC 4954),
 * without any I/O: base64 as RFC 4954 uses it, the security properties of
 * each mechanism as Cyrus SASL defines them (what smtp_sasl_security_options
 * filters on), the choice of a mechanism, and the mechanisms themselves:
 * PLAIN (RFC 4616) and LOGIN built in, CRAM-MD5, SCRAM-SHA-1 and
 * SCRAM-SHA-256 through GNU SASL (sasl_gsasl.h).
 *
 * A mechanism turns server challenges (base64 text, as after "334 ") into
 * client responses (base64 text); every challenge is decoded strictly, and
 * a malformed one is an error, never guessed at.
 */
#ifndef TLSMTP_SASL_MECH_H
#define TLSMTP_SASL_MECH_H

#include <stddef.h>

/* core */
#include "core.h"

/*
 * Security properties, named after the smtp_sasl_security_options word that
 * refuses a mechanism lacking them.  A mechanism is usable when it has
 * every property the options ask for.
 */
#define SASL_SEC_NOPLAINTEXT  (1u << 0) /* no password sent in the clear */
#define SASL_SEC_NOACTIVE     (1u << 1) /* resists active attacks */
#define SASL_SEC_NODICTIONARY (1u << 2) /* resists offline dictionary attacks */
#define SASL_SEC_NOANONYMOUS  (1u << 3) /* not anonymous */
#define SASL_SEC_MUTUAL_AUTH  (1u << 4) /* the server proves itself too */

/* "noplaintext, noanonymous" to the properties asked for; unknown words are ignored. */
unsigned sasl_security_mask(const char *options);

/*
 * The mechanism this client prefers among names[0..n) (as the server
 * offered them, any case) that the options allow and that can be used here
 * (GNU SASL loads), or NULL.  Preference: SCRAM-SHA-256, SCRAM-SHA-1,
 * CRAM-MD5, PLAIN, LOGIN.  Returns the canonical upper-case name.
 */
const char *sasl_mech_choose(const char *const *names, size_t n, unsigned required);
/* Whether this client knows the mechanism at all (whatever the options). */
int sasl_mech_known(const char *name);

/* ------------------------------------------------------------------------
 * base64 (RFC 4648 section 4, with padding; no line breaks, no white space).
 */
#define SASL_B64_LEN(n) (((n) + 2) / 3 * 4)

/* Encode len bytes into out (cap >= SASL_B64_LEN(len) + 1); returns the length. */
size_t sasl_b64_encode(const unsigned char *in, size_t len, char *out, size_t cap);
/*
 * Decode exactly len characters: only the alphabet, length a multiple of 4,
 * '=' only as the final padding, no stray bits in the last character.
 * Returns 0 with *outlen set, -1 when malformed or out is too small.
 */
int sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen);

/* ------------------------------------------------------------------------
 * One mechanism's client state.
 */
struct sasl_mech;

/*
 * Start NAME (as returned by sasl_mech_choose) for user and password.
 * *initial is the initial response in base64 (malloc'ed; "" for an empty
 * one), or NULL when the server speaks first (LOGIN, CRAM-MD5).  Returns
 * 0, or -1 with the reason.
 */
int sasl_mech_start(const char *name, const char *user, const char *pass, struct sasl_mech **out,
    char **initial, char *why, size_t whylen);
/*
 * The response (base64, malloc'ed, possibly "") to one server challenge
 * (the base64 text after "334 ", len bytes).  Returns 0, or -1 with the
 * reason: a malformed challenge, one the mechanism does not expect, or the
 * mechanism's own refusal (a SCRAM server that fails to prove itself).
 */
int sasl_mech_step(struct sasl_mech *m, const char *challenge, size_t len, char **response,
    char *why, size_t whylen);
/* Frees the state; every copy of the password in it is wiped first. */
void sasl_mech_free(struct sasl_mech *m);

#endif
