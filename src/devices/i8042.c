/* i8042 reset line only; see i8042.h for why that is enough. */
#include "devices/i8042.h"
#include "base/log.h"
#include "base/snapshot.h"

#include <errno.h>
#include <string.h>

/* ---- Register definitions ---- */
#define I8042_STATUS_OBF 0x01   /* output buffer full: never, no keyboard */
#define I8042_STATUS_IBF 0x02   /* input buffer full: never, commands are instant */

/* ---- Handlers ---- */

static void i8042_pio_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	*data = 0;      /* status: neither OBF nor IBF */
}

static void i8042_pio_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct i8042 *d = opaque;
	uint8_t cmd = (uint8_t)data;

	pthread_mutex_lock(&d->lock);
	if (cmd == I8042_CMD_RESET)
		d->resets++;
	else
		d->other_cmds++;
	pthread_mutex_unlock(&d->lock);
	if (cmd != I8042_CMD_RESET) {
		/* Probing a controller that is not there is no guest error. */
		log_debug("i8042: command 0x%02x ignored (no keyboard controller)", cmd);
		return;
	}
	log_info("i8042: guest requested a reset");
	power_request_exit(&d->power, WARDEN_EXIT_CLEAN, "reset");
}

static const struct bus_ops i8042_ops = {
	.read = i8042_pio_read,
	.write = i8042_pio_write,
};

/* ---- Reset ---- */

void i8042_reset(struct i8042 *dev)
{
	(void)dev;      /* no guest-visible state */
}

/* ---- Save / load ---- */

#define I8042_STATE_MAGIC   0x32343869u    /* "i842" */
#define I8042_STATE_VERSION 1

struct i8042_state_v1 {
	struct snapshot_hdr hdr;
	uint64_t resets, other_cmds;
};

int i8042_save(const struct i8042 *dev, void *buf, size_t len)
{
	struct i8042 *d = (struct i8042 *)dev;     /* the lock is not state */
	struct i8042_state_v1 st;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), I8042_STATE_MAGIC,
				  I8042_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	st.resets = d->resets;
	st.other_cmds = d->other_cmds;
	pthread_mutex_unlock(&d->lock);
	return snapshot_save_end(buf, &st.hdr);
}

int i8042_load(struct i8042 *dev, const void *buf, size_t len)
{
	struct i8042_state_v1 st;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), I8042_STATE_MAGIC,
			    I8042_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	dev->resets = st.resets;
	dev->other_cmds = st.other_cmds;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* ---- Registration ---- */

int i8042_init(struct i8042 *dev, const struct power_ctl *power)
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

int i8042_attach(struct i8042 *dev, struct bus *pio, uint16_t base)
{
	int ret = bus_register(pio, base, 1, &i8042_ops, dev, "i8042");

	if (ret)
		log_error("i8042: registering port 0x%x: %s", base, strerror(-ret));
	return ret;
}

void i8042_destroy(struct i8042 *dev)
{
	if (!dev->inited)
		return;
	pthread_mutex_destroy(&dev->lock);
	dev->inited = false;
}
