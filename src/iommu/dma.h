/* The DMA API: the only road from a device model to memory.
 *
 * A device holds a struct dma_as (its DMA address space, which carries its
 * source-id) and moves bytes with dma_read/dma_write or the scatter-gather
 * helpers. Each transfer is translated page by page; when a page faults the
 * transfer stops there - the bytes before it have moved, as on hardware -
 * and the call returns how many moved, or -errno when nothing did.
 *
 * Backends:
 *  - through a VT-d unit for a source-id (faults are recorded by the unit);
 *  - "direct": a VM's guest-physical space with no IOMMU (emulated devices
 *    on a machine without one); anything outside that VM's RAM is refused;
 *  - behind a guest-visible vIOMMU, two-stage (docs/iommu.md, "Two-stage
 *    translation"): "nested" translates through the guest unit, whose stage
 *    2 is the host; "shadow" through the host unit's shadow domains, with
 *    the guest unit consulted on failure so the guest's fault is recorded.
 *
 * Hooks for other layers: a DMA-enable gate the PCI layer drives from the
 * command register's bus-master bit, and a dirty hook called for every
 * range written (dirty tracking for migration). */
#ifndef WARDEN_IOMMU_DMA_H
#define WARDEN_IOMMU_DMA_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "base/arena.h"
#include "base/gmem.h"
#include "iommu/vtd.h"

struct dma_as;

struct dma_as_ops {
	/* Translate the page holding iova for a read or write: 0 with *hpa and
	 * *avail (bytes from *hpa this translation covers), or -EFAULT. */
	int (*translate)(struct dma_as *as, uint64_t iova, bool write, uint64_t *hpa, uint64_t *avail);
	/* Bracket a transfer so invalidations can wait for it. */
	unsigned (*begin)(struct dma_as *as);
	void (*end)(struct dma_as *as, unsigned token);
	/* Wait for every bracket open when called. */
	void (*sync)(struct dma_as *as);
};

typedef void (*dma_dirty_fn)(void *opaque, uint64_t iova, uint64_t hpa, uint64_t len);

struct dma_as_stats {
	uint64_t bytes_read, bytes_written;
	uint64_t faults;        /* transfers stopped by a translation fault */
	uint64_t blocked;       /* transfers refused by the enable gate */
	uint64_t stage2_faults; /* nested: stage 2 refused what the guest allowed */
	uint64_t shadow_stale;  /* shadow: the guest allowed what the shadow lacks */
};

struct dma_as {
	const struct dma_as_ops *ops;
	struct arena *arena;    /* where translated addresses point */
	uint16_t sid;           /* on the unit that translates */
	uint16_t guest_sid;     /* shadow: the device's source-id on the guest unit */
	bool enabled;           /* DMA gate, true after init */
	struct vtd_unit *unit;  /* VT-d backend; nested: the guest unit; shadow: the host unit */
	struct vtd_unit *unit2; /* nested: the host unit; shadow: the guest unit */
	const struct gmem *gmem;   /* direct backend */
	long inflight;          /* direct backend's transfer count */
	dma_dirty_fn dirty;
	void *dirty_opaque;
	struct dma_as_stats stats;
};

/* Through the remapping unit; translated addresses are HPAs in arena. */
void dma_as_init_vtd(struct dma_as *as, struct vtd_unit *unit, struct arena *arena, uint16_t sid);
/* A VM's guest-physical space, no IOMMU. */
void dma_as_init_direct(struct dma_as *as, const struct gmem *gmem, uint16_t sid);
/* Nested: through guest_unit, configured with a second stage over host_unit
 * (stage2_init_host). Transfers are bracketed on both units, so a drain on
 * either (the guest's invalidation wait, a host unmap) waits for them. */
void dma_as_init_nested(struct dma_as *as, struct vtd_unit *guest_unit, struct vtd_unit *host_unit,
			struct arena *arena, uint16_t sid);
/* Shadow: through host_unit as host_sid, where the shadow composer
 * (iommu/viommu_shadow.h) attaches the device. When the host refuses, the
 * request is translated through guest_unit as guest_sid: a guest fault is
 * recorded in the guest's log; if the guest's tables allow it (the guest
 * skipped an invalidation, or the host policy refused the mapping) it still
 * fails, counted in stats.shadow_stale and recorded in the host unit's log.
 * Bracketed on both units. */
void dma_as_init_shadow(struct dma_as *as, struct vtd_unit *host_unit, uint16_t host_sid,
			struct vtd_unit *guest_unit, uint16_t guest_sid, struct arena *arena);

/* Gate DMA (bus-master enable). Disabling returns only when no transfer of
 * this address space is in flight; while disabled, transfers fail with
 * -EPERM and move nothing. */
void dma_as_set_enabled(struct dma_as *as, bool enabled);
/* Dirty tracking hook (NULL: off); called after each chunk is written. */
void dma_as_set_dirty_hook(struct dma_as *as, dma_dirty_fn fn, void *opaque);

ssize_t dma_read(struct dma_as *as, uint64_t iova, void *buf, size_t len);
ssize_t dma_write(struct dma_as *as, uint64_t iova, const void *buf, size_t len);

struct dma_sg {
	uint64_t iova;
	uint64_t len;
};

/* Gather from the segments into buf / scatter buf into the segments, up to
 * min(len, sum of segment lengths) bytes, stopping at the first fault. */
ssize_t dma_sg_read(struct dma_as *as, const struct dma_sg *sg, unsigned nsg, void *buf, size_t len);
ssize_t dma_sg_write(struct dma_as *as, const struct dma_sg *sg, unsigned nsg, const void *buf, size_t len);

/* Fast path for device hot paths: translate once and get a host pointer to
 * up to len bytes (clipped at the end of the translated page). The window
 * stays open - and invalidations wait for it - until dma_access_end(); keep
 * it short and never sleep in it. */
struct dma_access {
	struct dma_as *as;
	void *ptr;
	size_t len;
	uint64_t iova, hpa;
	bool write;
	unsigned token;
};

int dma_access_begin(struct dma_as *as, uint64_t iova, size_t len, bool write, struct dma_access *acc);
void dma_access_end(struct dma_access *acc);

#endif
