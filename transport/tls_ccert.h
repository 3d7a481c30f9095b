/*
 * tls_ccert.h - the client certificates tlsmtp presents when a server asks
 * for one (a relay that authenticates its clients by certificate), from
 * Postfix's parameters: smtp_tls_chain_files, or else smtp_tls_cert_file
 * with smtp_tls_key_file.
 */
#ifndef TLSMTP_TLS_CCERT_H
#define TLSMTP_TLS_CCERT_H

#include <stddef.h>
#include <gnutls/gnutls.h>

/* core */
#include "core.h"

/*
 * Load every configured key and its certificate chain into creds.  Nothing
 * configured: 0 and nothing loaded.  A file that cannot be read, a PEM
 * sequence out of Postfix's order, or a key that does not match its
 * certificate: -1 with the reason (a configuration error: the caller
 * defers, never continues without the certificate).
 */
int tls_ccert_load(gnutls_certificate_credentials_t creds, const struct tlsmtp_config *cfg,
    char *why, size_t whylen);

#endif
