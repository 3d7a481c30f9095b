/*
 * tls_ccert.c - client certificates from Postfix's parameters.
 *
 * smtp_tls_chain_files (Postfix 3.4): the files, concatenated in the order
 * given, are one sequence of PEM objects "key1, cert1, [chain1], key2,
 * cert2, ...": each private key directly followed by its certificate and
 * the issuers that complete its chain.  Each key and chain is one GnuTLS
 * credential, so GnuTLS picks the one that suits the server's
 * CertificateRequest.  When the parameter is set, smtp_tls_cert_file and
 * smtp_tls_key_file are ignored with a warning, as Postfix does.
 * Otherwise smtp_tls_cert_file (the certificate and its chain; it may hold
 * the key too) with smtp_tls_key_file (default: the certificate file).
 *
 * GnuTLS checks that each key matches its certificate when loading it
 * (GNUTLS_E_CERTIFICATE_KEY_MISMATCH); such a mismatch, an unreadable file,
 * an encrypted key or an object out of order is a configuration error
 * that the caller turns into a deferral (4.7.5), never into a session
 * without our certificate.
 *
 * Interface: tls_ccert.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/x509.h>

/* core */
#include "core.h"
/* tls */
#include "tls_ccert.h"

#define CHAIN_FILE_MAX	(1024 * 1024) /* bytes in one PEM file */
#define CHAIN_FILES_MAX 16
#define PEM_LABEL_MAX	64

/* One PEM object: where it is and what it says it is. */
struct pem_object {
	char *start; /* "-----BEGIN" */
	size_t len;  /* through the END line */
	char label[PEM_LABEL_MAX];
	const char *file;
};

enum pem_kind { PEM_KEY, PEM_CERT, PEM_SKIP, PEM_BAD };

static enum pem_kind
pem_kind(const char *label)
{
	if (strcmp(label, "CERTIFICATE") == 0)
		return PEM_CERT;
	if (strcmp(label, "PRIVATE KEY") == 0 || strcmp(label, "RSA PRIVATE KEY") == 0
	    || strcmp(label, "EC PRIVATE KEY") == 0 || strcmp(label, "DSA PRIVATE KEY") == 0)
		return PEM_KEY;
	/* What "openssl ecparam -genkey" writes before the key. */
	if (strcmp(label, "EC PARAMETERS") == 0)
		return PEM_SKIP;
	return PEM_BAD;
}

/* The whole file, NUL-terminated; NULL with the reason. */
static char *
read_pem_file(const char *path, char *why, size_t whylen)
{
	FILE *fp = fopen(path, "re");
	char *buf;
	size_t n;

	if (fp == NULL) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CHAIN_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, CHAIN_FILE_MAX + 1, fp);
	if (ferror(fp) || n > CHAIN_FILE_MAX) {
		snprintf(why, whylen, ferror(fp) ? "cannot read %s" : "%s is larger than %d bytes",
		    path, CHAIN_FILE_MAX);
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[n] = '\0';
	return buf;
}

/*
 * The next PEM object at or after p: 1 found, 0 none left, -1 malformed.
 */
static int
next_pem(char *p, const char *path, struct pem_object *o, char **rest, char *why, size_t whylen)
{
	char *begin = strstr(p, "-----BEGIN "), *label, *dash, *end;
	char endline[PEM_LABEL_MAX + 16];
	size_t llen;

	if (begin == NULL)
		return 0;
	label = begin + strlen("-----BEGIN ");
	if ((dash = strstr(label, "-----")) == NULL || (llen = (size_t)(dash - label)) == 0
	    || llen >= PEM_LABEL_MAX || memchr(label, '\n', llen) != NULL) {
		snprintf(why, whylen, "%s: malformed PEM header", path);
		return -1;
	}
	memcpy(o->label, label, llen);
	o->label[llen] = '\0';
	snprintf(endline, sizeof(endline), "-----END %s-----", o->label);
	if ((end = strstr(dash + 5, endline)) == NULL) {
		snprintf(why, whylen, "%s: no \"%s\" line", path, endline);
		return -1;
	}
	end += strlen(endline);
	o->start = begin;
	o->len = (size_t)(end - begin);
	o->file = path;
	*rest = end;
	return 1;
}

/* One key and its chain (PEM text, leaf first) into creds. */
static int
add_pair(gnutls_certificate_credentials_t creds, const struct pem_object *key, char *certs,
    size_t certslen, unsigned n, char *why, size_t whylen)
{
	gnutls_datum_t k = { (unsigned char *)key->start, (unsigned)key->len };
	gnutls_datum_t c = { (unsigned char *)certs, (unsigned)certslen };
	int rc = gnutls_certificate_set_x509_key_mem2(creds, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);

	if (rc < 0) {
		snprintf(why, whylen, "smtp_tls_chain_files: key %u (%s) and its certificate: %s",
		    n, key->file, gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

/* Every object of every file, in order, into key+chain groups. */
static int
load_objects(gnutls_certificate_credentials_t creds, char *const *texts, char *const *paths,
    size_t nfiles, char *why, size_t whylen)
{
	struct pem_object o, key;
	char *chain = NULL;
	size_t chainlen = 0, chaincap = 0;
	unsigned pairs = 0;
	int have_key = 0, rc = 0;

	for (size_t f = 0; f < nfiles && rc == 0; f++) {
		char *p = texts[f];
		int found = 0;

		while (rc == 0 && (found = next_pem(p, paths[f], &o, &p, why, whylen)) > 0) {
			switch (pem_kind(o.label)) {
			case PEM_SKIP:
				continue;
			case PEM_BAD:
				snprintf(why, whylen,
				    "smtp_tls_chain_files: %s: unsupported PEM object "
				    "\"%s\"%s",
				    o.file, o.label,
				    strstr(o.label, "ENCRYPTED") != NULL
					? " (encrypted keys are not supported)"
					: "");
				rc = -1;
				continue;
			case PEM_KEY:
				if (have_key && chainlen == 0) {
					snprintf(why, whylen,
					    "smtp_tls_chain_files: %s: private key %u has "
					    "no certificate after it",
					    key.file, pairs + 1);
					rc = -1;
					continue;
				}
				if (have_key
				    && (rc = add_pair(creds, &key, chain, chainlen, ++pairs, why,
					    whylen))
					!= 0)
					continue;
				key = o;
				have_key = 1;
				chainlen = 0;
				continue;
			case PEM_CERT:
				if (!have_key) {
					snprintf(why, whylen,
					    "smtp_tls_chain_files: %s: a certificate before "
					    "any private key (each key must come right before its "
					    "certificate)",
					    o.file);
					rc = -1;
					continue;
				}
				if (chainlen + o.len + 2 > chaincap) {
					char *grown = realloc(chain, chainlen + o.len + 4096);

					if (grown == NULL) {
						snprintf(why, whylen, "out of memory");
						rc = -1;
						continue;
					}
					chain = grown;
					chaincap = chainlen + o.len + 4096;
				}
				memcpy(chain + chainlen, o.start, o.len);
				chainlen += o.len;
				chain[chainlen++] = '\n';
				chain[chainlen] = '\0';
				continue;
			}
		}
		if (found < 0)
			rc = -1;
	}
	if (rc == 0 && have_key && chainlen == 0) {
		snprintf(why, whylen,
		    "smtp_tls_chain_files: %s: private key %u has no certificate "
		    "after it",
		    key.file, pairs + 1);
		rc = -1;
	}
	if (rc == 0 && have_key)
		rc = add_pair(creds, &key, chain, chainlen, ++pairs, why, whylen);
	if (rc == 0 && pairs == 0) {
		snprintf(why, whylen, "smtp_tls_chain_files: no private key found");
		rc = -1;
	}
	free(chain);
	if (rc == 0)
		log_verbose(
		    "loaded %u client key(s) and certificate chain(s) from smtp_tls_chain_files",
		    pairs);
	return rc;
}

static int
load_chain_files(gnutls_certificate_credentials_t creds, const char *list, char *why, size_t whylen)
{
	char *paths[CHAIN_FILES_MAX], *texts[CHAIN_FILES_MAX];
	size_t n = 0;
	int rc = 0;

	for (const char *p = list; *p != '\0' && rc == 0;) {
		size_t len;

		p += strspn(p, ", \t\r\n");
		if ((len = strcspn(p, ", \t\r\n")) == 0)
			break;
		if (n == CHAIN_FILES_MAX) {
			snprintf(why, whylen, "smtp_tls_chain_files: more than %d files",
			    CHAIN_FILES_MAX);
			rc = -1;
			break;
		}
		if ((paths[n] = strndup(p, len)) == NULL) {
			snprintf(why, whylen, "out of memory");
			rc = -1;
			break;
		}
		if ((texts[n] = read_pem_file(paths[n], why, whylen)) == NULL) {
			free(paths[n]);
			rc = -1;
			break;
		}
		n++;
		p += len;
	}
	if (rc == 0)
		rc = load_objects(creds, texts, paths, n, why, whylen);
	for (size_t i = 0; i < n; i++) {
		explicit_bzero(texts[i], strlen(texts[i]));
		free(texts[i]);
		free(paths[i]);
	}
	return rc;
}

int
tls_ccert_load(gnutls_certificate_credentials_t creds, const struct tlsmtp_config *cfg, char *why,
    size_t whylen)
{
	const char *cert = cfg->tls_cert_file, *key = cfg->tls_key_file;
	int rc;

	if (cfg->tls_chain_files != NULL && cfg->tls_chain_files[0] != '\0') {
		if ((cert != NULL && *cert != '\0') || (key != NULL && *key != '\0'))
			log_warn("smtp_tls_chain_files is set: ignoring smtp_tls_cert_file and "
				 "smtp_tls_key_file");
		return load_chain_files(creds, cfg->tls_chain_files, why, whylen);
	}
	if (cert == NULL || *cert == '\0') {
		if (key != NULL && *key != '\0')
			log_warn("smtp_tls_key_file is set without smtp_tls_cert_file: no client "
				 "certificate");
		return 0;
	}
	if (key == NULL || *key == '\0')
		key = cert;
	rc = gnutls_certificate_set_x509_key_file2(creds, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		snprintf(why, whylen, "cannot load client certificate %s / key %s: %s", cert, key,
		    gnutls_strerror(rc));
		return -1;
	}
	return 0;
}
