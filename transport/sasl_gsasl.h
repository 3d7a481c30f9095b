/*
 * sasl_gsasl.h - the SASL mechanisms tlsmtp takes from GNU SASL (libgsasl):
 * CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256.  The library is loaded with
 * dlopen() the first time one of them is about to be used, never at start-up
 * (see sasl_gsasl.c for the measurement behind that), so a delivery that
 * needs none of them costs nothing, and a host without libgsasl still
 * delivers with PLAIN and LOGIN.
 *
 * Bytes in and out are raw (the caller does base64: sasl_mech.c).
 */
#ifndef TLSMTP_SASL_GSASL_H
#define TLSMTP_SASL_GSASL_H

#include <stddef.h>

/* core */
#include "core.h"

/* 1 when tlsmtp was built with gsasl.h (configure found libgsasl-dev). */
int sasl_gsasl_built(void);
/*
 * Whether the client side of mechanism NAME can be used now: built with the
 * header, the library loads (the first call loads it and logs a warning
 * once when it cannot), and the library has the mechanism.
 */
int sasl_gsasl_usable(const char *name);

struct sasl_gsasl;

/*
 * A client session of NAME for user and password (both copied by the
 * library, which wipes them).  Returns 0, or -1 with the reason.
 */
int sasl_gsasl_start(const char *name, const char *user, const char *pass, struct sasl_gsasl **out,
    char *why, size_t whylen);
/*
 * One step: the server's data in (inlen 0 for the client's first turn),
 * the client's data out (*out malloc'ed, possibly empty; never NULL on
 * success).  Returns 1 when the mechanism expects more, 0 when it is
 * complete (server verified, for SCRAM), -1 on error with the reason.
 */
int sasl_gsasl_step(struct sasl_gsasl *g, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, char *why, size_t whylen);
void sasl_gsasl_free(struct sasl_gsasl *g);

#endif
