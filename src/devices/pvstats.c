#include "devices/pvstats.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>

#define PVSTATS_REG_SELECT 0x0
#define PVSTATS_REG_LOW    0x4
#define PVSTATS_REG_HIGH   0x8

static void pvstats_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct pvstats *p = opaque;

	pthread_mutex_lock(&p->lock);
	if (len == 4 && off == PVSTATS_REG_LOW)
		*data = (uint32_t)p->latched;
	else if (len == 4 && off == PVSTATS_REG_HIGH)
		*data = (uint32_t)(p->latched >> 32);
	else
		*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
	pthread_mutex_unlock(&p->lock);
}

static void pvstats_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct pvstats *p = opaque;
	uint64_t v;

	if (off != PVSTATS_REG_SELECT || len != 4) {
		guest_error("pvstats: %u-byte write at offset %llu ignored", len,
			    (unsigned long long)off);
		return;
	}
	if (data == PVSTATS_ID_SIGNATURE)
		v = PVSTATS_SIGNATURE;
	else if (data < PVSTATS_NR_IDS && p->read_counter)
		v = p->read_counter(p->opaque, (enum pvstats_counter)data);
	else
		v = ~0ull;
	pthread_mutex_lock(&p->lock);
	p->latched = v;
	p->queries++;
	pthread_mutex_unlock(&p->lock);
}

static const struct bus_ops pvstats_ops = { pvstats_read, pvstats_write };

int pvstats_init(struct pvstats *p, pvstats_read_fn *fn, void *opaque)
{
	memset(p, 0, sizeof(*p));
	p->read_counter = fn;
	p->opaque = opaque;
	if (pthread_mutex_init(&p->lock, NULL))
		return -ENOMEM;
	p->ready = true;
	return 0;
}

int pvstats_attach(struct pvstats *p, struct bus *pio, uint16_t base)
{
	return bus_register(pio, base, PVSTATS_SIZE, &pvstats_ops, p, "pvstats");
}

void pvstats_destroy(struct pvstats *p)
{
	if (p->ready)
		pthread_mutex_destroy(&p->lock);
	memset(p, 0, sizeof(*p));
}
