#include "base/bus.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	return -pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	pthread_rwlock_destroy(&b->lock);
	memset(b, 0, sizeof(*b));
}

/* Index of the first range whose end is above addr (binary search). */
static unsigned bus_lower_bound(const struct bus *b, uint64_t addr)
{
	unsigned lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (r->base + r->len - 1 < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool bus_overlaps(const struct bus *b, uint64_t base, uint64_t len, int skip)
{
	unsigned i = bus_lower_bound(b, base);

	for (; i < b->nr; i++) {
		const struct bus_range *r = &b->ranges[i];

		if ((int)i == skip)
			continue;
		if (r->base > base + len - 1)
			break;
		return true;
	}
	return false;
}

static int bus_insert(struct bus *b, const struct bus_range *nr)
{
	unsigned i;

	if (b->nr == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *n = realloc(b->ranges, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		b->ranges = n;
		b->cap = cap;
	}
	i = bus_lower_bound(b, nr->base);
	memmove(&b->ranges[i + 1], &b->ranges[i], (b->nr - i) * sizeof(*nr));
	b->ranges[i] = *nr;
	b->nr++;
	return 0;
}

static int bus_index_of(const struct bus *b, uint64_t base, void *opaque)
{
	unsigned i = bus_lower_bound(b, base);

	if (i < b->nr && b->ranges[i].base == base && b->ranges[i].opaque == opaque)
		return (int)i;
	return -1;
}

static bool range_valid(uint64_t base, uint64_t len)
{
	return len != 0 && base + (len - 1) >= base;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name)
{
	struct bus_range r = { base, len, ops, opaque, name };
	int ret;

	if (!range_valid(base, len) || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	if (bus_overlaps(b, base, len, -1)) {
		struct bus_range *o = &b->ranges[bus_lower_bound(b, base)];

		/* Debug level: a guest placing BARs over each other could otherwise
		 * flood the log; callers report the refusal in their own terms. */
		log_debug("%s bus: %s [0x%llx-0x%llx] overlaps %s [0x%llx-0x%llx]", b->name,
			  name ? name : "?", (unsigned long long)base,
			  (unsigned long long)(base + len - 1), o->name ? o->name : "?",
			  (unsigned long long)o->base, (unsigned long long)(o->base + o->len - 1));
		ret = -EEXIST;
		goto out;
	}
	ret = bus_insert(b, &r);
out:
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int bus_unregister(struct bus *b, uint64_t base, void *opaque)
{
	int i, ret = -ENOENT;

	pthread_rwlock_wrlock(&b->lock);
	i = bus_index_of(b, base, opaque);
	if (i >= 0) {
		memmove(&b->ranges[i], &b->ranges[i + 1], (b->nr - i - 1) * sizeof(b->ranges[0]));
		b->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int bus_move(struct bus *b, uint64_t base, void *opaque, uint64_t new_base)
{
	struct bus_range r;
	int i, ret;

	pthread_rwlock_wrlock(&b->lock);
	i = bus_index_of(b, base, opaque);
	if (i < 0) {
		ret = -ENOENT;
		goto out;
	}
	r = b->ranges[i];
	if (!range_valid(new_base, r.len)) {
		ret = -EINVAL;
		goto out;
	}
	if (bus_overlaps(b, new_base, r.len, i)) {
		ret = -EEXIST;
		goto out;
	}
	memmove(&b->ranges[i], &b->ranges[i + 1], (b->nr - i - 1) * sizeof(r));
	b->nr--;
	r.base = new_base;
	ret = bus_insert(b, &r);   /* cannot fail: capacity was already there */
out:
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

/* Caller holds the read lock. */
static const struct bus_range *bus_lookup(const struct bus *b, uint64_t addr)
{
	unsigned i = bus_lower_bound(b, addr);

	if (i < b->nr && b->ranges[i].base <= addr)
		return &b->ranges[i];
	return NULL;
}

/* The handler runs without the bus lock, on a copy of its range: a handler
 * may itself register or move ranges (a config write that relocates a BAR
 * arrives through the ECAM range of the same bus). Devices outlive every
 * vCPU, so a range removed meanwhile still has a live opaque. */
static bool bus_snapshot(struct bus *b, uint64_t addr, struct bus_range *out)
{
	const struct bus_range *r;

	pthread_rwlock_rdlock(&b->lock);
	r = bus_lookup(b, addr);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&b->lock);
	return r != NULL;
}

bool bus_read(struct bus *b, uint64_t addr, uint64_t *data, unsigned len)
{
	struct bus_range r;

	if (bus_snapshot(b, addr, &r) && r.ops->read) {
		*data = 0;
		r.ops->read(r.opaque, addr - r.base, data, len);
		return true;
	}
	*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
	__atomic_add_fetch(&b->unhandled, 1, __ATOMIC_RELAXED);
	return false;
}

bool bus_write(struct bus *b, uint64_t addr, uint64_t data, unsigned len)
{
	struct bus_range r;

	if (bus_snapshot(b, addr, &r) && r.ops->write) {
		r.ops->write(r.opaque, addr - r.base, data, len);
		return true;
	}
	__atomic_add_fetch(&b->unhandled, 1, __ATOMIC_RELAXED);
	return false;
}

bool bus_find(struct bus *b, uint64_t addr, struct bus_range *out)
{
	return bus_snapshot(b, addr, out);
}
