/*
 * log.c - the agent's log, in Postfix's shape.
 *
 * One destination per process: syslog with ident "tlsmtp" and facility
 * mail, or, when maillog_file is set, that file opened for appending, with
 * each line written by one write(2) so that concurrent deliveries do not
 * interleave.  File lines carry a syslog-like prefix
 * "Mmm dd HH:MM:SS host tlsmtp[pid]: ", and every line starts with
 * "QUEUEID: " once the queue id is known, as Postfix's do.  Control
 * characters never reach the log (a CR or LF in server text could forge a
 * line).  Nothing is ever written to stderr: pipe(8) mixes it into the
 * output line it parses.  Message content is never logged.  A tool that
 * shows the agent's lines itself (tlspolicy) takes them through a sink
 * (log_to_sink) instead of any log.
 *
 * Interface: core.h (section log.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* core */
#include "core.h"

#define LOG_LINE_MAX 8192 /* an ADDRESS_MAX address and a reply fit */
#define LOG_IDENT    "tlsmtp"

static int log_fd = -1;
static int log_syslog_open;
static int log_is_verbose;
static char log_queue_id[64];
static char log_host[64];
static log_sink_fn log_sink;
static void *log_sink_ctx;

static void
open_syslog(void)
{
	if (!log_syslog_open) {
		openlog(LOG_IDENT, LOG_PID | LOG_NDELAY, LOG_MAIL);
		log_syslog_open = 1;
	}
}

void
log_open(const char *maillog_file, const char *queue_id, int verbose)
{
	char *dot;

	log_sink = NULL;
	log_is_verbose = verbose;
	log_queue_id[0] = '\0';
	if (queue_id != NULL) {
		/* A queue id is [0-9A-Za-z]; refuse anything else quietly. */
		size_t i, n = strlen(queue_id);

		for (i = 0; i < n && i + 1 < sizeof(log_queue_id); i++) {
			char c = queue_id[i];

			if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
				|| (c >= 'a' && c <= 'z')))
				break;
			log_queue_id[i] = c;
		}
		log_queue_id[i] = '\0';
		if (i != n)
			log_queue_id[0] = '\0';
	}
	if (gethostname(log_host, sizeof(log_host)) != 0)
		snprintf(log_host, sizeof(log_host), "localhost");
	log_host[sizeof(log_host) - 1] = '\0';
	if ((dot = strchr(log_host, '.')) != NULL)
		*dot = '\0';
	if (log_fd >= 0) {
		(void)close(log_fd);
		log_fd = -1;
	}
	if (maillog_file != NULL && maillog_file[0] != '\0') {
		log_fd =
		    open(maillog_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (log_fd >= 0)
			return;
		open_syslog();
		syslog(LOG_WARNING, "warning: cannot open maillog_file %.200s: %s; using syslog",
		    maillog_file, strerror(errno));
		return;
	}
	open_syslog();
}

void
log_to_sink(log_sink_fn fn, void *ctx, int verbose)
{
	log_close();
	log_sink = fn;
	log_sink_ctx = ctx;
	log_is_verbose = verbose;
	log_queue_id[0] = '\0';
}

void
log_close(void)
{
	if (log_fd >= 0)
		(void)close(log_fd);
	log_fd = -1;
	if (log_syslog_open)
		closelog();
	log_syslog_open = 0;
}

/* Replace what could split or garble a line. */
static void
clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void emit(int, const char *, const char *, va_list) __attribute__((format(printf, 3, 0)));

static void
emit(int priority, const char *prefix, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 256];
	char stamp[32];
	size_t off = 0;
	int n;

	n = snprintf(text, sizeof(text), "%s%s%s", log_queue_id, log_queue_id[0] ? ": " : "",
	    prefix);
	if (n < 0 || (size_t)n >= sizeof(text))
		return;
	off = (size_t)n;
	vsnprintf(text + off, sizeof(text) - off, fmt, ap);
	clean(text);

	if (log_sink != NULL) {
		log_sink(text, log_sink_ctx);
		return;
	}
	if (log_fd < 0) {
		open_syslog();
		syslog(priority, "%s", text);
		return;
	}
	{
		time_t now = time(NULL);
		struct tm tm;

		if (localtime_r(&now, &tm) == NULL
		    || strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm) == 0)
			snprintf(stamp, sizeof(stamp), "-");
	}
	n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s\n", stamp, log_host, LOG_IDENT,
	    (long)getpid(), text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	while (write(log_fd, line, (size_t)n) < 0 && errno == EINTR)
		continue;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

void
log_verbose(const char *fmt, ...)
{
	va_list ap;

	if (!log_is_verbose)
		return;
	va_start(ap, fmt);
	emit(LOG_INFO, "", fmt, ap);
	va_end(ap);
}
