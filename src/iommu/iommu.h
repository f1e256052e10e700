/* Host-side IOMMU: the hypervisor's view of one VT-d remapping unit whose
 * root, context and page tables Warden owns (in the arena's private region).
 *
 * A domain is one I/O address space with one domain id, normally one per VM:
 * the VM's assigned devices are attached to it and its RAM is mapped with
 * IOVA = GPA (iommu_domain_map_gmem). Every map goes through a policy that
 * refuses, with -EPERM and a log line:
 *   - pass-through (identity) translation for a device, unless the attach
 *     says IOMMU_ALLOW_PASSTHROUGH explicitly;
 *   - any mapping that touches the hypervisor-private region;
 *   - any mapping of memory that is not RAM of the domain's own VM.
 *
 * Invalidation is strict by default: iommu_domain_unmap() returns only once
 * no IOTLB entry for the range survives and no DMA that used one is still in
 * flight. A per-domain lazy mode defers that to iommu_domain_flush() (or a
 * batch limit); it is UNSAFE - a device keeps reaching unmapped memory until
 * the flush - and exists so tests can show the stale-translation window.
 *
 * Threading: map/unmap/flush of one domain are serialised by the domain's
 * lock; attach/detach/create/destroy by the IOMMU's lock. DMA through the
 * unit may run concurrently with all of them. */
#ifndef WARDEN_IOMMU_IOMMU_H
#define WARDEN_IOMMU_IOMMU_H

#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>
#include "base/arena.h"
#include "base/gmem.h"
#include "iommu/iopt.h"
#include "iommu/vtd.h"

/* Attach flags. */
#define IOMMU_ATTACH_PASSTHROUGH 0x1u   /* identity translation (TT = 10b) */
#define IOMMU_ALLOW_PASSTHROUGH  0x2u   /* ...and the caller means it */

/* Lazy mode flushes by itself after this many unmaps. */
#define IOMMU_LAZY_BATCH 64

struct iommu_cfg {
	unsigned haw;              /* 0: 46 */
	unsigned iotlb_sets;       /* 0: default */
	unsigned nr_fault_records; /* 0: default (256) */
};

struct iommu_domain;

struct iommu {
	struct arena *arena;
	struct vtd_unit unit;
	uint64_t root_hpa;
	uint64_t ctx_table[256];   /* context table HPA per bus, 0: none */
	struct iommu_domain **by_did;
	unsigned nr_domains;
	pthread_mutex_t lock;
};

struct iommu_domain_stats {
	uint64_t maps, unmaps;
	uint64_t bytes_mapped;     /* currently mapped */
	uint64_t refused;          /* policy refusals */
	uint64_t flushes;          /* invalidations issued */
};

struct iommu_domain {
	struct iommu *mmu;
	int vm_id;
	uint16_t did;
	unsigned aw_bits;
	struct iopt pt;
	pthread_mutex_t lock;
	bool lazy;
	struct iopt_gather gather;  /* lazy: unmaps not yet invalidated */
	unsigned lazy_pending;
	uint16_t *sids;             /* attached devices */
	unsigned nr_sids, cap_sids;
	struct vtd_trace_hook trace;
	struct iommu_domain_stats stats;
};

int iommu_init(struct iommu *mmu, struct arena *a, const struct iommu_cfg *cfg);
/* Destroys remaining domains too. */
void iommu_destroy(struct iommu *mmu);

/* aw_bits 39 (3-level) or 48 (4-level); vm_id >= 0 owns the RAM it may map. */
int iommu_domain_create(struct iommu *mmu, int vm_id, unsigned aw_bits, struct iommu_domain **out);
/* Detaches remaining devices, invalidates, drains, frees tables and the id. */
void iommu_domain_destroy(struct iommu_domain *dom);

/* Program the device's context entry. -EPERM for pass-through without
 * IOMMU_ALLOW_PASSTHROUGH, -EBUSY if the device is attached elsewhere. */
int iommu_domain_attach(struct iommu_domain *dom, uint16_t sid, unsigned flags);
/* Clear the context entry, invalidate, drain. -ENOENT if not attached here. */
int iommu_domain_detach(struct iommu_domain *dom, uint16_t sid);

/* Map [iova, iova+size) -> [hpa, hpa+size) with IOPT_READ/IOPT_WRITE.
 * -EPERM: policy; -EEXIST: overlap; -EINVAL/-ERANGE: bad arguments. */
int iommu_domain_map(struct iommu_domain *dom, uint64_t iova, uint64_t hpa, uint64_t size, unsigned prot);
/* Unmap what is mapped in the range; *unmapped (may be NULL) gets the bytes.
 * Strict mode: returns after invalidation and drain. */
int iommu_domain_unmap(struct iommu_domain *dom, uint64_t iova, uint64_t size, uint64_t *unmapped);
/* Map all of a VM's RAM read/write with IOVA = GPA (superpages where aligned). */
int iommu_domain_map_gmem(struct iommu_domain *dom, const struct gmem *g);

/* UNSAFE, for tests: defer invalidation of unmaps. Turning it off flushes. */
void iommu_domain_set_lazy(struct iommu_domain *dom, bool lazy);
/* Complete deferred invalidations (no-op in strict mode). */
void iommu_domain_flush(struct iommu_domain *dom);

/* Translation trace for this domain (fn NULL: off). */
int iommu_domain_set_trace(struct iommu_domain *dom,
			   void (*fn)(void *opaque, const struct vtd_trace_event *ev), void *opaque);

/* What the domain's table says (not the IOTLB): 0 and *hpa, or -ENOENT. */
int iommu_domain_iova_to_phys(struct iommu_domain *dom, uint64_t iova, uint64_t *hpa, unsigned *prot);

#endif
