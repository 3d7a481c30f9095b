/*
 * fuzz_address.c - envelope addresses as they arrive in argv.
 *
 * Whatever address_check() accepts must be safe to put between angle
 * brackets in MAIL FROM or RCPT TO: printable, no CR/LF/NUL, no '<' or '>'
 * outside the quoted local part, at most ADDRESS_MAX octets, with a
 * domain; and checking the result again must give the same result.  A
 * refusal leaves the output empty and says why; only an address longer
 * than ADDRESS_MAX (or no memory) may be deferred instead of refused.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_safe(const char *path)
{
	int quoted = 0;
	size_t len = strlen(path);

	if (len == 0 || len > ADDRESS_MAX)
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x20 || c == 0x7f)
			abort();
		if (c == '\\') {
			if (!quoted || i + 1 >= len)
				abort();
			i++;
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '<' || c == '>' || c == ' '))
			abort();
	}
	if (quoted)
		abort();
	if (address_domain(path)[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[ADDRESS_MAX + 1], again[ADDRESS_MAX + 1];
	char *addr, err[256];
	int utf8, utf8_again, rc;

	if ((addr = malloc(size + 1)) == NULL)
		return 0;
	memcpy(addr, data, size);
	addr[size] = '\0';
	err[0] = '\0';
	rc = address_check(addr, out, sizeof(out), &utf8, err, sizeof(err));
	if (rc != ADDRESS_OK && (out[0] != '\0' || err[0] == '\0'))
		abort();
	if (rc == ADDRESS_DEFER && strstr(err, "longer than") == NULL
	    && strcmp(err, "out of memory") != 0)
		abort();
	if (rc == ADDRESS_OK) {
		check_safe(out);
		if (address_check(out, again, sizeof(again), &utf8_again, err, sizeof(err)) != 0)
			abort();
		if (strcmp(out, again) != 0 || utf8 != utf8_again)
			abort();
	}
	free(addr);
	return 0;
}
