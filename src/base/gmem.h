/* A VM's guest-physical address space as seen by the VMM: a sorted list of
 * RAM ranges, each backed by a run of arena HPAs. It is what the loaders write
 * through and what the IOMMU policy consults ("is this HPA this VM's RAM?").
 * Devices never use it directly: they go through the DMA API. */
#ifndef WARDEN_BASE_GMEM_H
#define WARDEN_BASE_GMEM_H

#include <stdint.h>
#include <stddef.h>
#include "base/arena.h"

#define GMEM_MAX_RANGES 8

struct gmem_range {
	uint64_t gpa;
	uint64_t size;
	uint64_t hpa;
};

struct gmem {
	struct arena *arena;
	int vm_id;
	unsigned nr_ranges;
	struct gmem_range ranges[GMEM_MAX_RANGES];   /* sorted by gpa, disjoint */
	uint64_t ram_size;                            /* sum of range sizes */
};

/* q35-like layout kept by every later issue. */
#define GMEM_LOWMEM_LIMIT   0xb0000000ull   /* RAM below 4G stops at PCI ECAM */
#define GMEM_HIGHMEM_BASE   0x100000000ull

/* Carve ram_size bytes for vm_id from the arena and lay them out q35-style:
 * [0, min(ram, 0xb0000000)) and the rest from 4 GiB. Returns 0 or -errno. */
int gmem_init(struct gmem *g, struct arena *a, int vm_id, uint64_t ram_size);
void gmem_destroy(struct gmem *g);

/* Bounds-checked: NULL unless [gpa, gpa+len) lies inside one RAM range. */
void *gmem_gpa_to_ptr(const struct gmem *g, uint64_t gpa, uint64_t len);
/* 0 and *hpa, or -EFAULT when gpa is not RAM. */
int gmem_gpa_to_hpa(const struct gmem *g, uint64_t gpa, uint64_t *hpa);

/* Copy helpers for VMM-internal use (loaders, boot info); -EFAULT if any byte
 * of the range is not RAM, in which case nothing is copied. */
int gmem_write(const struct gmem *g, uint64_t gpa, const void *src, size_t len);
int gmem_read(const struct gmem *g, uint64_t gpa, void *dst, size_t len);

#endif
