/* QEMU's isa-debug-exit (iobase=0xf4, iosize=4): a guest-side way to end
 * the run with a status, used by test kernels. */
#ifndef WARDEN_DEVICES_DEBUG_EXIT_H
#define WARDEN_DEVICES_DEBUG_EXIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"
#include "base/power.h"

#define DEBUG_EXIT_BASE 0xf4
#define DEBUG_EXIT_SIZE 4

struct debug_exit {
	pthread_mutex_t lock;
	bool inited;
	uint16_t base;                  /* set by debug_exit_attach() */
	struct power_ctl power;
	uint64_t writes;
	uint32_t last_value;            /* the v of the last write */
};

/* The exit status QEMU's process ends with for a write of v: it calls
 * exit((v << 1) | 1) and the kernel keeps the low 8 bits. So v = 0 gives 1,
 * v = 0x7f gives 255 and v = 0x80 wraps to 1; a status of 0 is impossible,
 * which is why tests use the port to report failure or a chosen success. */
static inline int debug_exit_status(uint32_t v)
{
	return (int)((((uint64_t)v << 1) | 1) & 0xff);
}

/* power: copied (NULL: writes are counted and do nothing). */
int debug_exit_init(struct debug_exit *dev, const struct power_ctl *power);
/* Claims DEBUG_EXIT_SIZE ports from base (DEBUG_EXIT_BASE). */
int debug_exit_attach(struct debug_exit *dev, struct bus *pio, uint16_t base);
void debug_exit_reset(struct debug_exit *dev);
/* Versioned state; returns its size or -ENOSPC (buf == NULL: the size). */
int debug_exit_save(const struct debug_exit *dev, void *buf, size_t len);
int debug_exit_load(struct debug_exit *dev, const void *buf, size_t len);
/* Safe on a zeroed or failed-to-init device. */
void debug_exit_destroy(struct debug_exit *dev);

#endif
