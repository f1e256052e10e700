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
	uint64_t start = __atomic_load_n(&rl->window_start_ns, __ATOMIC_RELAXED);

	/* Relaxed atomics, no lock: racing threads may blur the count by a
	 * message or two, which is fine, but the accesses themselves must not
	 * be data races. One thread wins the window reset. */
	if (now - start > 1000000000ull &&
	    __atomic_compare_exchange_n(&rl->window_start_ns, &start, now, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED)) {
		uint64_t suppressed = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);

		__atomic_store_n(&rl->printed, 0, __ATOMIC_RELAXED);
		if (suppressed)
			log_msg(LOG_WARN, "guest error: %llu similar messages suppressed",
				(unsigned long long)suppressed);
	}
	if (__atomic_add_fetch(&rl->printed, 1, __ATOMIC_RELAXED) <= LOG_RATELIMIT_BURST)
		return true;
	__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return false;
}
