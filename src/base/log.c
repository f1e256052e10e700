#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum log_level log_threshold = LOG_WARN;
uint64_t guest_error_count;

static const char *const level_name[] = { "error", "warning", "info", "debug" };

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (lvl > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One fprintf per message keeps lines from different threads whole. */
	fprintf(stderr, "warden: %s: %s\n", level_name[lvl], buf);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	uint64_t now = monotonic_ns();
	bool ok;

	/* Races between threads only blur the count by a message or two; a lock
	 * here would put every guest error on one mutex for no benefit. */
	if (now - rl->window_start_ns > 1000000000ull) {
		if (rl->suppressed)
			log_msg(LOG_WARN, "guest error: %llu similar messages suppressed",
				(unsigned long long)rl->suppressed);
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	ok = rl->printed < LOG_RATELIMIT_BURST;
	if (ok)
		rl->printed++;
	else
		rl->suppressed++;
	return ok;
}
