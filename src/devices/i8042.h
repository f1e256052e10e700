/* The one piece of the PC keyboard controller a VM needs: the reset line.
 * Writing command 0xFE (pulse output port bit 0) to port 0x64 resets the
 * CPU; Linux's "reboot=k" (and its fallback after ACPI reset) does that.
 * There is no keyboard: the status register reads 0 (no data, input buffer
 * empty), so the reset path's "wait until the controller is ready" loop
 * finishes at once, and the ACPI tables should say there is no 8042. */
#ifndef WARDEN_DEVICES_I8042_H
#define WARDEN_DEVICES_I8042_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"
#include "base/power.h"

#define I8042_CMD_PORT   0x64
#define I8042_CMD_RESET  0xfe

struct i8042 {
	pthread_mutex_t lock;
	bool inited;
	struct power_ctl power;
	uint64_t resets, other_cmds;
};

/* power: copied. A reset request exits with status 0 and reason "reset":
 * Warden has no reboot, so a guest reboot ends the run cleanly, as
 * Firecracker treats it; the reason tells the two apart in the logs. */
int i8042_init(struct i8042 *dev, const struct power_ctl *power);
/* Claims the command/status port at base (I8042_CMD_PORT); the data port
 * 0x60 stays unclaimed. */
int i8042_attach(struct i8042 *dev, struct bus *pio, uint16_t base);
void i8042_reset(struct i8042 *dev);
/* Versioned state; returns its size or -ENOSPC (buf == NULL: the size). */
int i8042_save(const struct i8042 *dev, void *buf, size_t len);
int i8042_load(struct i8042 *dev, const void *buf, size_t len);
/* Safe on a zeroed or failed-to-init device. */
void i8042_destroy(struct i8042 *dev);

#endif
