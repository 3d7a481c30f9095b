/*
 * deadline.c - the monotonic clock and per-stage deadlines.
 *
 * Every wait in the agent is bounded by an absolute CLOCK_MONOTONIC time in
 * milliseconds, so a change of the wall clock never stretches or cuts a
 * timeout.  A stage (greeting, MAIL, DATA, ...) gets its own Postfix-style
 * timeout, but never more than what is left of the overall
 * delivery_deadline.
 *
 * Interface: core.h (section deadline.c).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

/* core */
#include "core.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
stage_deadline(int timeout_s, int64_t overall_ms)
{
	int64_t stage;

	if (timeout_s <= 0)
		return overall_ms > 0 ? overall_ms : INT64_MAX;
	stage = now_ms() + (int64_t)timeout_s * 1000;
	if (overall_ms > 0 && overall_ms < stage)
		return overall_ms;
	return stage;
}

int
deadline_poll(int fd, short events, int64_t deadline_ms)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		left = deadline_ms - now_ms();
		if (left <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}
