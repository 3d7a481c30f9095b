/*
 * text.c - formatting into a caller's fixed buffer where cutting a long
 * text short is the intended result (server replies, reasons, log sources).
 *
 * Interface: core.h (section text.c).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

/* core */
#include "core.h"

void
text_vcut(char *buf, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(buf, len, fmt, ap);
}

void
text_cut(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	text_vcut(buf, len, fmt, ap);
	va_end(ap);
}
