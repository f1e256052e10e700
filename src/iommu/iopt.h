/* I/O page-table format, kept apart from the remapping hardware behind a small
 * ops table (the shape of Linux's io-pgtable): map, unmap, iova_to_phys, walk,
 * plus a flush callback and cookie through which the format asks its owner to
 * invalidate cached translations before table pages are reused.
 *
 * The one format implemented is the VT-d second-level table (3-level/39-bit
 * and 4-level/48-bit, 4 KiB pages, 2 MiB and 1 GiB superpages). Tables are
 * pages of the hypervisor-private arena region, addressed by HPA, as on a
 * real machine.
 *
 * The translation walk (iopt_vtd_walk) is the single walker of the project:
 * the format's iova_to_phys uses it, and so does the remapping unit on an
 * IOTLB miss. It reads table memory through struct iopt_mem so that the same
 * code walks host-owned tables (HPA, read from the arena) and, later,
 * guest-owned tables (GPA, read through the guest's memory map).
 *
 * Concurrency: map and unmap of one table must be serialised by the owner;
 * walks may run concurrently with them from any thread. Entries are written
 * with single atomic stores in an order that keeps every intermediate state
 * a valid table; table pages that unmap detaches are only freed after the
 * owner's flush callback returned (which must wait for walks in flight). */
#ifndef WARDEN_IOMMU_IOPT_H
#define WARDEN_IOMMU_IOPT_H

#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include "base/arena.h"

#define IOPT_READ   0x1u
#define IOPT_WRITE  0x2u
#define IOPT_RW     (IOPT_READ | IOPT_WRITE)

#define IOPT_PAGE_4K (1ull << 12)
#define IOPT_PAGE_2M (1ull << 21)
#define IOPT_PAGE_1G (1ull << 30)

/* Table memory: "read a 64-bit entry at address addr of some address space".
 * base/size is a fast path for an address space that is one flat host
 * mapping (the arena, for HPA-addressed tables); read64 serves everything
 * else (e.g. GPA-addressed guest tables) and returns 0 or -errno. */
struct iopt_mem {
	const uint8_t *base;
	uint64_t size;
	int (*read64)(void *opaque, uint64_t addr, uint64_t *val);
	void *opaque;
};

static inline int iopt_mem_read64(const struct iopt_mem *m, uint64_t addr, uint64_t *val)
{
	if (m->base && addr < m->size && m->size - addr >= 8 && !(addr & 7)) {
		/* Tables change under concurrent walks: one atomic 64-bit load,
		 * acquire so a table linked by a release store reads as written. */
		*val = __atomic_load_n((const uint64_t *)(m->base + addr), __ATOMIC_ACQUIRE);
		return 0;
	}
	if (m->read64)
		return m->read64(m->opaque, addr, val);
	return -EFAULT;
}

/* Flat table memory over the arena (host tables). */
void iopt_mem_init_arena(struct iopt_mem *m, const struct arena *a);

/* Outcome of one translation walk. */
struct iopt_walk_result {
	uint64_t pa;           /* output address of the leaf page (page aligned) */
	uint64_t page_size;    /* 4K, 2M or 1G */
	unsigned perm;         /* IOPT_READ|IOPT_WRITE, ANDed over all levels */
	unsigned level;        /* level the walk ended at (leaf or fault), 1 = PTE */
	uint64_t pte;          /* last entry read (diagnostics) */
	bool not_present;      /* the fault was a non-present entry (R = W = 0) */
};

/* Walk a VT-d second-level table rooted at `root` (levels 3 or 4) for iova.
 * `access` is the IOPT_READ/IOPT_WRITE the request needs (0: any present
 * leaf). Returns 0, or the VT-d fault reason (enum vtd_fault_reason):
 * beyond the address width, read/write denied (non-present entries
 * included, as the spec has it), reserved bits, or a table read failure. */
int iopt_vtd_walk(const struct iopt_mem *mem, uint64_t root, unsigned levels, unsigned haw,
		  uint64_t iova, unsigned access, struct iopt_walk_result *res);

struct iopt;
typedef int (*iopt_walk_fn)(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot);

/* Enumerate the leaves of a VT-d second-level table rooted at `root` (read
 * through mem, so it may be a guest's table at GPAs) that overlap
 * [iova, iova + size), in IOVA order: fn(arg, leaf iova, leaf pa, leaf size,
 * permission ANDed over every level). Only leaves a translation walk would
 * use are reported: entries that are not present, carry reserved bits
 * (for host address width haw), are superpages of a size not in pgsizes, or
 * end up with no permission are skipped, and so is the rest of a table that
 * cannot be read. Depth is bounded by `levels`; *budget bounds the entries
 * read in all (a hostile table can link a table to itself at every level)
 * and is decremented. Returns 0, the first non-zero return of fn, -E2BIG
 * when the budget ran out, or -EINVAL for bad arguments. */
int iopt_vtd_enum(const struct iopt_mem *mem, uint64_t root, unsigned levels, unsigned haw,
		  uint64_t pgsizes, uint64_t iova, uint64_t size, uint64_t *budget,
		  iopt_walk_fn fn, void *arg);

enum iopt_fmt {
	IOPT_VTD_SL,           /* VT-d second-level */
};

struct iopt_flush_ops {
	/* Drop every cached translation of [iova, iova + size) and return only
	 * when no translation or access that used one is still in flight. */
	void (*flush_range)(void *cookie, uint64_t iova, uint64_t size);
};

struct iopt_cfg {
	struct arena *arena;              /* table pages come from its private region */
	unsigned ias;                     /* input address bits: 39 or 48 */
	unsigned oas;                     /* output (host) address bits, <= 52 */
	uint64_t pgsize_bitmap;           /* page sizes allowed; 0 = 4K|2M|1G */
	const struct iopt_flush_ops *tlb;
	void *cookie;
};

/* Collects what unmaps took away so the owner can defer the invalidation
 * (lazy mode): the IOVA span touched and the detached table pages, chained
 * through their first entry (a not-present value, so a walk still in flight
 * that reads it just faults). */
struct iopt_gather {
	uint64_t start, end;              /* end == 0: nothing gathered */
	uint64_t free_head;               /* HPA of first detached table, 0 = none */
	uint64_t nr_free;
};

struct iopt_ops {
	/* Map [iova, iova+size) to [pa, pa+size). All 4K aligned; nothing in the
	 * range may be mapped yet (-EEXIST, nothing changed). Superpages are used
	 * only where an aligned superpage lies wholly inside the request. */
	int (*map)(struct iopt *pt, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot);
	/* Unmap whatever is mapped in [iova, iova+size), splitting superpages
	 * that straddle the edges; returns the bytes unmapped or -errno (nothing
	 * changed). gather NULL: flush and free before returning. */
	int64_t (*unmap)(struct iopt *pt, uint64_t iova, uint64_t size, struct iopt_gather *gather);
	/* 0 and *pa (with the page offset), or -ENOENT. prot may be NULL. */
	int (*iova_to_phys)(struct iopt *pt, uint64_t iova, uint64_t *pa, unsigned *prot);
	/* Calls fn for each leaf overlapping [iova, iova+size), in IOVA order;
	 * stops at and returns the first non-zero return of fn. */
	int (*walk)(struct iopt *pt, uint64_t iova, uint64_t size, iopt_walk_fn fn, void *arg);
};

struct iopt {
	const struct iopt_ops *ops;
	struct iopt_cfg cfg;
	unsigned levels;                  /* 3 or 4 */
	uint64_t root;                    /* HPA of the top table (SLPTPTR) */
	uint64_t nr_tables;               /* table pages held, root included */
	struct iopt_mem mem;              /* how walks read this table */
};

int iopt_init(struct iopt *pt, enum iopt_fmt fmt, const struct iopt_cfg *cfg);
/* Frees every table page; the owner must have invalidated and drained. */
void iopt_destroy(struct iopt *pt);

static inline int iopt_map(struct iopt *pt, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	return pt->ops->map(pt, iova, pa, size, prot);
}

static inline int64_t iopt_unmap(struct iopt *pt, uint64_t iova, uint64_t size, struct iopt_gather *g)
{
	return pt->ops->unmap(pt, iova, size, g);
}

static inline int iopt_iova_to_phys(struct iopt *pt, uint64_t iova, uint64_t *pa, unsigned *prot)
{
	return pt->ops->iova_to_phys(pt, iova, pa, prot);
}

static inline int iopt_walk(struct iopt *pt, uint64_t iova, uint64_t size, iopt_walk_fn fn, void *arg)
{
	return pt->ops->walk(pt, iova, size, fn, arg);
}

static inline void iopt_gather_init(struct iopt_gather *g)
{
	g->start = g->end = 0;
	g->free_head = 0;
	g->nr_free = 0;
}

static inline bool iopt_gather_empty(const struct iopt_gather *g)
{
	return g->end == 0 && g->nr_free == 0;
}

/* Flush the gathered span through cfg.tlb, then free the gathered tables. */
void iopt_gather_sync(struct iopt *pt, struct iopt_gather *g);

#endif
