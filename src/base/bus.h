/* PIO/MMIO bus: devices register [base, base+len) ranges behind a narrow
 * read/write handler (Jailhouse-style). Overlaps are refused; ranges can be
 * removed and moved (BAR relocation) while vCPUs run: lookups take a read
 * lock, changes a write lock, and handlers run with no bus lock held, so a
 * handler may itself move or register ranges. A device must stay alive for
 * as long as any vCPU may still dispatch to it (the VM's lifetime). */
#ifndef WARDEN_BASE_BUS_H
#define WARDEN_BASE_BUS_H

#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>

enum bus_space { BUS_PIO = 0, BUS_MMIO = 1 };

/* offset is relative to the registered base; len is 1, 2, 4 or 8. A read
 * handler fills *data (zero-extended); unhandled bits read as the handler
 * decides. Handlers must not block for long: they run on vCPU threads. */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, uint64_t *data, unsigned len);
	void (*write)(void *opaque, uint64_t offset, uint64_t data, unsigned len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	pthread_rwlock_t lock;
	struct bus_range *ranges;      /* sorted by base, disjoint */
	unsigned nr, cap;
	uint64_t unhandled;            /* accesses that hit no range */
};

int bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);
/* 0, -EEXIST on overlap, -EINVAL on empty/wrapping range, -ENOMEM. */
int bus_register(struct bus *b, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name);
/* Remove the range registered at base with this opaque; -ENOENT if none. */
int bus_unregister(struct bus *b, uint64_t base, void *opaque);
/* Move a range to new_base atomically; -EEXIST if the target overlaps. */
int bus_move(struct bus *b, uint64_t base, void *opaque, uint64_t new_base);
/* Dispatch. Returns true if a range handled it; unhandled reads return all
 * ones (as on a real bus) and unhandled writes are dropped. */
bool bus_read(struct bus *b, uint64_t addr, uint64_t *data, unsigned len);
bool bus_write(struct bus *b, uint64_t addr, uint64_t data, unsigned len);
/* Lookup for tests and diagnostics: copies the range covering addr. */
bool bus_find(struct bus *b, uint64_t addr, struct bus_range *out);

#endif
