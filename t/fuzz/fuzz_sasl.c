/*
 * fuzz_sasl.c - fuzz target for server challenges (sasl_mech.c, and GNU
 * SASL's CRAM-MD5 and SCRAM through sasl_gsasl.c).
 *
 * The first byte picks the mechanism (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
 * SCRAM-SHA-256); the rest, split at LF, is the sequence of challenges as
 * they would follow "334 ".  Checks the decoder's promise (what it accepts
 * is canonical: encoding the bytes again gives the same text) and the
 * mechanisms' (a response is always valid base64, an error always has a
 * reason, a refused challenge gets no response).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* core */
#include "core.h"
/* smtp */
#include "sasl_mech.h"

#define LINE_MAX_FUZZ 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const mechs[] = {
	"PLAIN",
	"LOGIN",
	"CRAM-MD5",
	"SCRAM-SHA-1",
	"SCRAM-SHA-256",
};

static void
check_decoder(const char *line, size_t len)
{
	unsigned char raw[LINE_MAX_FUZZ];
	char again[LINE_MAX_FUZZ * 2];
	size_t n;

	if (sasl_b64_decode(line, len, raw, sizeof(raw), &n) != 0)
		return;
	if (n > len / 4 * 3 || sasl_b64_encode(raw, n, again, sizeof(again)) != len
	    || memcmp(again, line, len) != 0)
		abort();
}

static void
check_response(const char *resp)
{
	unsigned char raw[LINE_MAX_FUZZ * 2];
	size_t n;

	if (resp == NULL || sasl_b64_decode(resp, strlen(resp), raw, sizeof(raw), &n) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int logging;
	const char *p, *end, *nl;
	struct sasl_mech *m;
	char *initial, why[256];

	if (!logging) {
		log_open("/dev/null", NULL, 0);
		logging = 1;
	}
	if (size < 1)
		return 0;
	if (sasl_mech_start(mechs[data[0] % 5], "fuzz@example.org", "Fuzz:Pass", &m, &initial, why,
		sizeof(why))
	    != 0)
		return 0; /* GNU SASL not there: nothing to fuzz for this mechanism */
	if (initial != NULL)
		check_response(initial);
	free(initial);
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end) {
		char *resp = NULL;
		size_t len;
		int rc;

		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (len < LINE_MAX_FUZZ) {
			check_decoder(p, len);
			why[0] = '\0';
			rc = sasl_mech_step(m, p, len, &resp, why, sizeof(why));
			if (rc == 0)
				check_response(resp);
			else if (resp != NULL || why[0] == '\0')
				abort();
			free(resp);
			if (rc != 0)
				break;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	sasl_mech_free(m);
	return 0;
}
