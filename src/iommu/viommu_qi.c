/* Queued invalidation (VT-d spec 6.5.2): a ring of 128-bit descriptors in
 * guest RAM at IQA (2^QS 4 KiB pages), consumed from IQH up to the tail
 * software wrote to IQT. Processing is synchronous on the thread that wrote
 * IQT (or enabled the queue, or cleared IQE); a second thread arriving
 * while a pass runs only moves the tail, and the running pass goes on until
 * head meets tail.
 *
 * Each descriptor runs with no vIOMMU lock held: its invalidation, its
 * hook, and for an invalidation wait the drain of in-flight DMA, the
 * status write and the completion event, in that order. A descriptor the
 * model cannot carry out (device-TLB, PASID, unknown types, reserved bits
 * set) stops the queue with FSTS.IQE set and IQH left pointing at it, as
 * hardware does; the queue resumes from there once software clears IQE. */
#include "iommu/viommu_internal.h"
#include "base/log.h"

#include <errno.h>

static void qi_hook_context(struct viommu *v)
{
	if (v->hooks && v->hooks->context_invalidated)
		v->hooks->context_invalidated(v->hooks_opaque);
}

static void qi_hook_iotlb(struct viommu *v, enum viommu_inv_gran gran, uint16_t did, uint64_t addr,
			  uint64_t size)
{
	if (v->hooks && v->hooks->iotlb_invalidated)
		v->hooks->iotlb_invalidated(v->hooks_opaque, gran, did, addr, size);
}

static void qi_hook_irq(struct viommu *v)
{
	if (v->hooks && v->hooks->irq_invalidated)
		v->hooks->irq_invalidated(v->hooks_opaque);
}

static int qi_context(struct viommu *v, uint64_t lo, uint64_t hi)
{
	uint16_t did = (uint16_t)(lo >> VTD_QI_CC_DID_SHIFT);
	uint16_t sid = (uint16_t)(lo >> VTD_QI_CC_SID_SHIFT);
	unsigned fm = (unsigned)(lo >> VTD_QI_CC_FM_SHIFT) & 3;

	if ((lo & VTD_QI_CC_RSVD_LO) || hi)
		return VTD_IQEI_RSVD;
	if (!viommu_context_inv(v, (unsigned)(lo >> VTD_QI_G_SHIFT) & 3, did, sid, fm))
		return VTD_IQEI_RSVD;     /* granularity 0 is reserved */
	qi_hook_context(v);
	return 0;
}

static int qi_iotlb(struct viommu *v, uint64_t lo, uint64_t hi)
{
	uint16_t did = (uint16_t)(lo >> VTD_QI_IOTLB_DID_SHIFT);
	uint64_t addr = hi & VTD_PAGE_MASK;
	unsigned am = (unsigned)(hi & VTD_IVA_AM_MASK);
	struct viommu_inv_range r;

	if ((lo & VTD_QI_IOTLB_RSVD_LO) || (hi & VTD_QI_IOTLB_RSVD_HI))
		return VTD_IQEI_RSVD;
	/* DR / DW need nothing here: completion is only observable through a
	 * later invalidation wait, and that drains. */
	if (!viommu_iotlb_inv(v, (unsigned)(lo >> VTD_QI_G_SHIFT) & 3, did, addr, am, hi & VTD_IVA_IH,
			      "queued", &r))
		return VTD_IQEI_RSVD;
	qi_hook_iotlb(v, r.gran, r.did, r.addr, r.size);
	return 0;
}

/* No interrupt entry cache is modelled (IRTEs are read per message); what
 * the VMM derived from IRTEs is dropped through the hook. */
static int qi_iec(struct viommu *v, uint64_t lo, uint64_t hi)
{
	if ((lo & VTD_QI_IEC_RSVD_LO) || hi)
		return VTD_IQEI_RSVD;
	VIOMMU_COUNT(v, inv_iec);
	qi_hook_irq(v);
	return 0;
}

static int qi_wait(struct viommu *v, uint64_t lo, uint64_t hi)
{
	uint64_t gpa = hi & ~VTD_QI_WAIT_RSVD_HI;
	uint32_t *status;

	if ((lo & VTD_QI_WAIT_RSVD_LO) || (hi & VTD_QI_WAIT_RSVD_HI))
		return VTD_IQEI_RSVD;
	/* Every invalidation before this descriptor is done; what remains is
	 * DMA that translated before them and is still copying. FN needs
	 * nothing more: descriptors run one after the other. */
	vtd_drain(&v->unit);
	VIOMMU_COUNT(v, qi_waits);
	if (lo & VTD_QI_WAIT_SW) {
		status = gmem_gpa_to_ptr(v->gmem, gpa, sizeof(*status));
		if (status)
			__atomic_store_n(status, (uint32_t)(lo >> VTD_QI_WAIT_SDATA_SHIFT), __ATOMIC_RELEASE);
		else
			guest_error("viommu: invalidation wait status write to 0x%llx, not RAM: dropped",
				    (unsigned long long)gpa);
	}
	if (lo & VTD_QI_WAIT_IF)
		viommu_completion_event(v);
	return 0;
}

/* 0, or the IQEI code that stops the queue. */
static int qi_execute(struct viommu *v, uint64_t lo, uint64_t hi)
{
	unsigned type = VTD_QI_TYPE(lo);

	switch (type) {
	case VTD_QI_CC:    return qi_context(v, lo, hi);
	case VTD_QI_IOTLB: return qi_iotlb(v, lo, hi);
	case VTD_QI_IEC:   return qi_iec(v, lo, hi);
	case VTD_QI_WAIT:  return qi_wait(v, lo, hi);
	default:
		/* Device-TLB (ECAP.DT = 0), PASID-based (legacy mode) and
		 * undefined types. */
		guest_error("viommu: invalidation descriptor type %u not supported (0x%016llx 0x%016llx)",
			    type, (unsigned long long)hi, (unsigned long long)lo);
		return VTD_IQEI_TYPE;
	}
}

static void qi_error_locked(struct viommu *v, enum vtd_iqei why, struct viommu_fx *fx)
{
	bool quiet = viommu_fsts_any_locked(v);

	guest_error("viommu: invalidation queue error %u at IQH 0x%llx (IQT 0x%llx, IQA 0x%llx)",
		    why, (unsigned long long)v->iqh, (unsigned long long)v->iqt,
		    (unsigned long long)v->iqa);
	v->fsts |= VTD_FSTS_IQE;
	v->iqercd = why;
	VIOMMU_COUNT(v, qi_errors);
	if (!quiet)
		viommu_fault_event_locked(v, fx);
}

/* Fetches the descriptor at IQH: 0, or the IQEI code. Caller holds the lock. */
static int qi_fetch_locked(struct viommu *v, uint64_t *lo, uint64_t *hi)
{
	uint64_t size = VTD_PAGE_SIZE << (v->iqa & VTD_IQA_QS_MASK);
	const uint64_t *d;

	if (v->iqa & VTD_IQA_DW)
		return VTD_IQEI_WIDTH;    /* 256-bit descriptors are scalable mode's */
	if (v->iqt >= size || v->iqh >= size)
		return VTD_IQEI_TAIL;
	d = gmem_gpa_to_ptr(v->gmem, (v->iqa & VTD_PAGE_MASK) + v->iqh, VTD_QI_DESC_SIZE);
	if (!d)
		return VTD_IQEI_FETCH;
	*lo = __atomic_load_n(&d[0], __ATOMIC_ACQUIRE);
	*hi = __atomic_load_n(&d[1], __ATOMIC_ACQUIRE);
	return 0;
}

void viommu_qi_process(struct viommu *v)
{
	struct viommu_fx fx = { 0 };
	uint64_t lo, hi, size;
	unsigned epoch;
	int err;

	pthread_mutex_lock(&v->lock);
	if (v->qi_busy) {
		pthread_mutex_unlock(&v->lock);
		return;
	}
	v->qi_busy = true;
	epoch = v->epoch;
	while ((v->gsts & VTD_GSTS_QIES) && !(v->fsts & VTD_FSTS_IQE) && v->iqh != v->iqt) {
		err = qi_fetch_locked(v, &lo, &hi);
		if (!err) {
			pthread_mutex_unlock(&v->lock);
			err = qi_execute(v, lo, hi);
			pthread_mutex_lock(&v->lock);
			if (v->epoch != epoch) {
				/* Reset while it ran: that queue is gone; look
				 * at whatever the guest set up since. */
				epoch = v->epoch;
				continue;
			}
		}
		if (err) {
			qi_error_locked(v, (enum vtd_iqei)err, &fx);
			break;
		}
		size = VTD_PAGE_SIZE << (v->iqa & VTD_IQA_QS_MASK);
		v->iqh = (v->iqh + VTD_QI_DESC_SIZE) & (size - 1);
		VIOMMU_COUNT(v, qi_descriptors);
	}
	v->qi_busy = false;
	pthread_mutex_unlock(&v->lock);
	viommu_fx_run(v, &fx);
}
