/* vIOMMU internals shared by viommu.c (registers, events), viommu_qi.c
 * (queued invalidation) and viommu_ir.c (interrupt remapping). */
#ifndef WARDEN_IOMMU_VIOMMU_INTERNAL_H
#define WARDEN_IOMMU_VIOMMU_INTERNAL_H

#include "iommu/viommu.h"

#define VIOMMU_COUNT(v, field) __atomic_add_fetch(&(v)->stats.field, 1, __ATOMIC_RELAXED)

/* What a register write decided under the lock and what must happen after
 * it is released, in this order: event MSIs, drain, hooks, completion of a
 * register-based invalidation, queue processing. */
struct viommu_fx {
	bool fault_event, completion_event;
	uint64_t fe_addr, ie_addr;
	uint32_t fe_data, ie_data;
	bool drain;
	bool context_inv, irq_inv;
	bool iotlb_inv;
	enum viommu_inv_gran gran;
	uint16_t did;
	uint64_t addr, size;
	bool ccmd_done, iotlb_done;      /* clear ICC / IVT with this actual granularity */
	unsigned caig, iaig;
	bool qi_kick;
};

void viommu_fx_run(struct viommu *v, struct viommu_fx *fx);

/* Caller holds v->lock. Is any FSTS interrupt condition (PPF, PFO, IQE,
 * ICE, ITE) set? A new one raises a fault event only if none was. */
bool viommu_fsts_any_locked(struct viommu *v);
/* A new fault-event condition: send the event, or hold it pending (IM). */
void viommu_fault_event_locked(struct viommu *v, struct viommu_fx *fx);
/* Invalidation wait with IF: ICS.IWC and the completion event. */
void viommu_completion_event(struct viommu *v);

/* The invalidations both interfaces perform (register-based and queued),
 * with the granularity encodings they share (CCMD.CIRG = descriptor G for
 * the context cache, IOTLB.IIRG = descriptor G for the IOTLB). */
/* false: reserved granularity 0, nothing done. */
bool viommu_context_inv(struct viommu *v, unsigned g, uint16_t did, uint16_t sid, unsigned fm);
/* Returns the granularity actually performed (a page-selective request
 * that is misaligned or above MAMV widens to its domain, as hardware may)
 * or 0 for the reserved granularity; *r says what the iotlb hook gets. */
struct viommu_inv_range {
	enum viommu_inv_gran gran;
	uint16_t did;
	uint64_t addr, size;
};
unsigned viommu_iotlb_inv(struct viommu *v, unsigned g, uint16_t did, uint64_t addr, unsigned am,
			  bool ih, const char *via, struct viommu_inv_range *r);

/* Queued invalidation: process IQH..IQT. No lock held. */
void viommu_qi_process(struct viommu *v);

#endif
