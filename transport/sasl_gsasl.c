/*
 * sasl_gsasl.c - CRAM-MD5 and SCRAM through GNU SASL, loaded on first use.
 *
 * Why dlopen() and not a link-time dependency: the agent is one process per
 * message, so whatever it loads at start-up is paid for every delivery.
 * Measured on Debian 12 (hyperfine, 1000 runs of "tlsmtp -c /dev/null",
 * which exits after reading its options): the agent linked with
 * libgsasl.so.18, which brings libidn, libntlm and libgssglue, starts in
 * 3.6 ms instead of 3.2 ms, and its dynamic loader takes 1.24 instead of
 * 0.69 million cycles, whether or not the library is used.  Most relays are served with PLAIN or LOGIN inside TLS,
 * which need no library (sasl_mech.c), so the library is loaded only when
 * one of its mechanisms is the one about to be used.  Built without
 * gsasl.h, the functions below report the mechanisms unusable.
 *
 * The function pointers are typed from gsasl.h's own declarations, so the
 * compiler checks every call against the library's interface.  The soname
 * (GSASL_SONAME) is the one configure found for the installed library.
 *
 * Interface: sasl_gsasl.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_GSASL_H
#include <dlfcn.h>
#include <gsasl.h>
#endif

/* core */
#include "core.h"
/* smtp */
#include "sasl_gsasl.h"

#ifdef HAVE_GSASL_H

#ifndef GSASL_SONAME
#define GSASL_SONAME "libgsasl.so.18"
#endif

/* The part of the library's interface we call. */
struct gsasl_api {
	__typeof__(gsasl_init) *init;
	__typeof__(gsasl_done) *done;
	__typeof__(gsasl_client_support_p) *client_support_p;
	__typeof__(gsasl_client_start) *client_start;
	__typeof__(gsasl_property_set) *property_set;
	__typeof__(gsasl_step) *step;
	__typeof__(gsasl_finish) *finish;
	__typeof__(gsasl_free) *free;
	__typeof__(gsasl_strerror) *strerror;
};

static struct gsasl_api api;
static int load_state; /* 0 not tried, 1 loaded, -1 unavailable */

struct sasl_gsasl {
	Gsasl *ctx;
	Gsasl_session *session;
};

/* One symbol; records the first one missing. */
static void *
symbol(void *handle, const char *name, const char **missing)
{
	void *p = dlsym(handle, name);

	if (p == NULL && *missing == NULL)
		*missing = name;
	return p;
}

/* Load the library once; 0 when its functions are bound. */
static int
load(void)
{
	const char *missing = NULL;
	void *h;

	if (load_state != 0)
		return load_state > 0 ? 0 : -1;
	load_state = -1;
	if ((h = dlopen(GSASL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_warn("cannot load GNU SASL (%s): %s; CRAM-MD5 and SCRAM are unavailable",
		    GSASL_SONAME, dlerror());
		return -1;
	}
	api.init = (__typeof__(api.init))symbol(h, "gsasl_init", &missing);
	api.done = (__typeof__(api.done))symbol(h, "gsasl_done", &missing);
	api.client_support_p =
	    (__typeof__(api.client_support_p))symbol(h, "gsasl_client_support_p", &missing);
	api.client_start = (__typeof__(api.client_start))symbol(h, "gsasl_client_start", &missing);
	api.property_set = (__typeof__(api.property_set))symbol(h, "gsasl_property_set", &missing);
	api.step = (__typeof__(api.step))symbol(h, "gsasl_step", &missing);
	api.finish = (__typeof__(api.finish))symbol(h, "gsasl_finish", &missing);
	api.free = (__typeof__(api.free))symbol(h, "gsasl_free", &missing);
	api.strerror = (__typeof__(api.strerror))symbol(h, "gsasl_strerror", &missing);
	if (missing != NULL) {
		log_warn("GNU SASL (%s) has no %s; CRAM-MD5 and SCRAM are unavailable",
		    GSASL_SONAME, missing);
		dlclose(h);
		return -1;
	}
	load_state = 1;
	return 0;
}

int
sasl_gsasl_built(void)
{
	return 1;
}

int
sasl_gsasl_usable(const char *name)
{
	Gsasl *ctx;
	int ok;

	if (load() != 0 || api.init(&ctx) != GSASL_OK)
		return 0;
	ok = api.client_support_p(ctx, name);
	api.done(ctx);
	return ok;
}

int
sasl_gsasl_start(const char *name, const char *user, const char *pass, struct sasl_gsasl **out,
    char *why, size_t whylen)
{
	struct sasl_gsasl *g;
	int rc;

	*out = NULL;
	if (load() != 0) {
		snprintf(why, whylen, "GNU SASL is not available");
		return -1;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if ((rc = api.init(&g->ctx)) != GSASL_OK) {
		snprintf(why, whylen, "GNU SASL: %s", api.strerror(rc));
		free(g);
		return -1;
	}
	if ((rc = api.client_start(g->ctx, name, &g->session)) != GSASL_OK
	    || (rc = api.property_set(g->session, GSASL_AUTHID, user)) != GSASL_OK
	    || (rc = api.property_set(g->session, GSASL_PASSWORD, pass)) != GSASL_OK) {
		snprintf(why, whylen, "GNU SASL %s: %s", name, api.strerror(rc));
		sasl_gsasl_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

int
sasl_gsasl_step(struct sasl_gsasl *g, const unsigned char *in, size_t inlen, unsigned char **out,
    size_t *outlen, char *why, size_t whylen)
{
	char *raw = NULL;
	size_t rawlen = 0;
	int rc;

	*out = NULL;
	*outlen = 0;
	rc = api.step(g->session, (const char *)in, inlen, &raw, &rawlen);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		snprintf(why, whylen, "%s", api.strerror(rc));
		api.free(raw);
		return -1;
	}
	/* Copied so that the caller frees with free(); the library's copy is wiped. */
	if ((*out = malloc(rawlen + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		if (raw != NULL)
			explicit_bzero(raw, rawlen);
		api.free(raw);
		return -1;
	}
	if (rawlen > 0)
		memcpy(*out, raw, rawlen);
	(*out)[rawlen] = '\0';
	*outlen = rawlen;
	if (raw != NULL)
		explicit_bzero(raw, rawlen);
	api.free(raw);
	return rc == GSASL_NEEDS_MORE ? 1 : 0;
}

void
sasl_gsasl_free(struct sasl_gsasl *g)
{
	if (g == NULL)
		return;
	if (g->session != NULL)
		api.finish(g->session);
	if (g->ctx != NULL)
		api.done(g->ctx);
	free(g);
}

#else /* !HAVE_GSASL_H: built without GNU SASL */

int
sasl_gsasl_built(void)
{
	return 0;
}

int
sasl_gsasl_usable(const char *name)
{
	(void)name;
	return 0;
}

int
sasl_gsasl_start(const char *name, const char *user, const char *pass, struct sasl_gsasl **out,
    char *why, size_t whylen)
{
	(void)name;
	(void)user;
	(void)pass;
	*out = NULL;
	snprintf(why, whylen, "built without GNU SASL");
	return -1;
}

int
sasl_gsasl_step(struct sasl_gsasl *g, const unsigned char *in, size_t inlen, unsigned char **out,
    size_t *outlen, char *why, size_t whylen)
{
	(void)g;
	(void)in;
	(void)inlen;
	*out = NULL;
	*outlen = 0;
	snprintf(why, whylen, "built without GNU SASL");
	return -1;
}

void
sasl_gsasl_free(struct sasl_gsasl *g)
{
	(void)g;
}

#endif
