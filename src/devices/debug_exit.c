/* isa-debug-exit, QEMU-compatible. QEMU's handler is exit((val << 1) | 1)
 * for a write of any width at any offset of the range, and reads return 0;
 * here the exit goes through power_ctl so the vmm can stop vCPUs cleanly
 * and exit with the same status QEMU's process would have. */
#include "devices/debug_exit.h"
#include "base/log.h"
#include "base/snapshot.h"

#include <errno.h>
#include <string.h>

/* ---- Register definitions ---- */
/* One write-only register that every port of the range decodes (QEMU's
 * handler ignores the offset), so DEBUG_EXIT_SIZE needs no offsets here. */

/* ---- Handlers ---- */

static void debug_exit_pio_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	*data = 0;
}

static void debug_exit_pio_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct debug_exit *d = opaque;
	uint32_t v;

	/* The value is the data as written, width included: outb 0x01 and
	 * outl 0x00000001 both mean v = 1. */
	v = len >= 4 ? (uint32_t)data : (uint32_t)(data & ((1u << (8 * len)) - 1));
	pthread_mutex_lock(&d->lock);
	d->writes++;
	d->last_value = v;
	pthread_mutex_unlock(&d->lock);
	log_info("debug-exit: guest wrote 0x%x (%u bytes), exit status %d", v, len,
		 debug_exit_status(v));
	/* Outside the lock: the vmm may stop vCPUs that are in this handler. */
	power_request_exit(&d->power, debug_exit_status(v), "debug-exit");
}

static const struct bus_ops debug_exit_ops = {
	.read = debug_exit_pio_read,
	.write = debug_exit_pio_write,
};

/* ---- Reset ---- */

void debug_exit_reset(struct debug_exit *dev)
{
	/* Nothing guest-visible; the counters describe the whole run. */
	(void)dev;
}

/* ---- Save / load ---- */

#define DEBUG_EXIT_STATE_MAGIC   0x54495844u   /* "DXIT" */
#define DEBUG_EXIT_STATE_VERSION 1

struct debug_exit_state_v1 {
	struct snapshot_hdr hdr;
	uint64_t writes;
	uint32_t last_value;
	uint32_t reserved;
};

int debug_exit_save(const struct debug_exit *dev, void *buf, size_t len)
{
	struct debug_exit *d = (struct debug_exit *)dev;   /* the lock is not state */
	struct debug_exit_state_v1 st;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), DEBUG_EXIT_STATE_MAGIC,
				  DEBUG_EXIT_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	st.writes = d->writes;
	st.last_value = d->last_value;
	pthread_mutex_unlock(&d->lock);
	return snapshot_save_end(buf, &st.hdr);
}

int debug_exit_load(struct debug_exit *dev, const void *buf, size_t len)
{
	struct debug_exit_state_v1 st;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), DEBUG_EXIT_STATE_MAGIC,
			    DEBUG_EXIT_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	dev->writes = st.writes;
	dev->last_value = st.last_value;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* ---- Registration ---- */

int debug_exit_init(struct debug_exit *dev, const struct power_ctl *power)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	if (power)
		dev->power = *power;
	ret = -pthread_mutex_init(&dev->lock, NULL);
	if (!ret)
		dev->inited = true;
	return ret;
}

int debug_exit_attach(struct debug_exit *dev, struct bus *pio, uint16_t base)
{
	int ret;

	if ((uint32_t)base + DEBUG_EXIT_SIZE > 0x10000)
		return -EINVAL;
	ret = bus_register(pio, base, DEBUG_EXIT_SIZE, &debug_exit_ops, dev, "debug-exit");
	if (ret) {
		log_error("debug-exit: registering ports 0x%x+%u: %s", base, DEBUG_EXIT_SIZE,
			  strerror(-ret));
		return ret;
	}
	dev->base = base;
	return 0;
}

void debug_exit_destroy(struct debug_exit *dev)
{
	if (!dev->inited)
		return;
	pthread_mutex_destroy(&dev->lock);
	dev->inited = false;
}
