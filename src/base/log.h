/* Logging. Host errors are reported with context; guest mistakes go through
 * guest_error(), which is rate-limited per call site so a hostile guest
 * cannot flood the host's log. */
#ifndef WARDEN_BASE_LOG_H
#define WARDEN_BASE_LOG_H

#include <stdint.h>
#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct log_ratelimit {
	uint64_t window_start_ns;
	unsigned printed;
	uint64_t suppressed;
};

/* At most LOG_RATELIMIT_BURST messages per second per call site. */
#define LOG_RATELIMIT_BURST 10
bool log_ratelimit_ok(struct log_ratelimit *rl);
extern uint64_t guest_error_count;     /* all guest errors, printed or not */

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#define guest_error(fmt, ...) do {                                        \
		static struct log_ratelimit rl__;                         \
		__atomic_add_fetch(&guest_error_count, 1, __ATOMIC_RELAXED); \
		if (log_ratelimit_ok(&rl__))                              \
			log_msg(LOG_WARN, "guest error: " fmt, ##__VA_ARGS__); \
	} while (0)

#endif
