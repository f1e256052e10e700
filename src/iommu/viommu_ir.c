/* Interrupt remapping (VT-d spec 5.1 and 9.10): an MSI write to 0xFEEx_xxxx
 * in remappable format names an entry of the guest's interrupt remapping
 * table (IRT, at the address SIRTP latched from IRTA, 2^(S+1) entries of
 * 128 bits); the entry supplies vector, destination, delivery mode and
 * trigger mode, and says which requester may use it. The output is a
 * compatibility-format message for the LAPIC.
 *
 * With remapping off (IRES = 0) nothing is remapped: every message leaves
 * as it came, remappable format included (the remapping hardware is
 * bypassed; QEMU and VirtualBox do the same). With it on, compatibility-
 * format messages pass only while CFIS is set (no EIME: xAPIC only), and a
 * remappable message that cannot be remapped is blocked with a fault
 * 0x20-0x26 whose record carries the interrupt index. Faults 0x22, 0x24
 * and 0x26 come from a present-or-not entry the guest owns and are
 * "qualified": the entry's FPD suppresses their recording.
 *
 * Entries are read from guest memory for every message: there is no
 * interrupt entry cache to go stale, so IEC invalidations only tell the
 * VMM (irq_invalidated) to refresh routes it derived. */
#include "iommu/viommu_internal.h"
#include "base/log.h"

#include <errno.h>

/* Posted interrupts are not supported (CAP.PI = 0): IM = 1 is reserved. */
#define IRTE_RSVD_LO    (VTD_IRTE_RSVD_LO_XAPIC | VTD_IRTE_IM)

/* A probe (the VMM deriving a route, not a message on the bus) records
 * and counts nothing. */
#define blocked(v, sid, index, reason, fpd) \
	(probe ? -EPERM : record_blocked(v, sid, index, reason, fpd))
#define COUNT(v, what) do { if (!probe) VIOMMU_COUNT(v, what); } while (0)

static int record_blocked(struct viommu *v, uint16_t sid, uint32_t index, unsigned reason, bool fpd)
{
	vtd_fault_record_intr(&v->unit, sid, (uint16_t)index, reason, fpd);
	VIOMMU_COUNT(v, ir_blocked);
	return -EPERM;
}

/* One IRTE as a single snapshot: the guest may be rewriting it (Linux
 * updates a live entry with one 128-bit compare-exchange), and a torn read
 * would mix two entries. Reread until both halves are stable. */
static bool irte_read(struct viommu *v, uint64_t gpa, uint64_t *lo, uint64_t *hi)
{
	const uint64_t *e = gmem_gpa_to_ptr(v->gmem, gpa, VTD_IRTE_SIZE);

	if (!e)
		return false;
	for (unsigned tries = 0; tries < 16; tries++) {
		*lo = __atomic_load_n(&e[0], __ATOMIC_ACQUIRE);
		*hi = __atomic_load_n(&e[1], __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&e[0], __ATOMIC_ACQUIRE) == *lo &&
		    __atomic_load_n(&e[1], __ATOMIC_ACQUIRE) == *hi)
			break;
	}
	return true;
}

/* SVT/SQ/SID of the entry against the requester. */
static bool source_ok(uint64_t hi, uint16_t sid)
{
	/* SQ: which function bits are not compared (none, 2, 2:1, 2:0). */
	static const uint16_t sq_mask[4] = { 0xffff, 0xfffb, 0xfff9, 0xfff8 };
	uint16_t esid = (uint16_t)(hi & VTD_IRTE_SID_MASK);
	unsigned sq = (unsigned)(hi >> VTD_IRTE_SQ_SHIFT) & 3;
	unsigned bus = VTD_SID_BUS(sid);

	switch ((hi >> VTD_IRTE_SVT_SHIFT) & 3) {
	case VTD_SVT_NONE:
		return true;
	case VTD_SVT_SID:
		return (sid & sq_mask[sq]) == (esid & sq_mask[sq]);
	case VTD_SVT_BUS:
		/* The requester's bus in [SID 15:8, SID 7:0] (a bridge's range). */
		return bus >= VTD_SID_BUS(esid) && bus <= (esid & 0xffu);
	default:
		return false;      /* reserved encoding: nothing can pass it */
	}
}

static int irq_remap(struct viommu *v, uint16_t sid, uint64_t addr, uint32_t data,
		     struct viommu_irq *out, bool probe)
{
	uint64_t irta, lo, hi, entries;
	uint32_t gsts, index;
	unsigned vector;
	bool fpd;

	pthread_mutex_lock(&v->lock);
	gsts = v->gsts;
	irta = v->irta_active;
	pthread_mutex_unlock(&v->lock);

	if (!(gsts & VTD_GSTS_IRES)) {
		out->addr = addr;
		out->data = data;
		COUNT(v, ir_passthrough);
		return 0;
	}
	if ((addr & ~0xfffffull) != VTD_MSI_ADDR_BASE)
		return blocked(v, sid, 0, VTD_FR_IR_REQ_RSVD, false);
	if (!(addr & VTD_MSI_ADDR_IRF)) {
		if (!(gsts & VTD_GSTS_CFIS))
			return blocked(v, sid, 0, VTD_FR_IR_REQ_COMPAT, false);
		out->addr = addr;
		out->data = data;
		COUNT(v, ir_passthrough);
		return 0;
	}
	if (data & VTD_MSI_DATA_RSVD_RF)
		return blocked(v, sid, 0, VTD_FR_IR_REQ_RSVD, false);

	index = (uint32_t)((addr >> VTD_MSI_ADDR_HANDLE_SHIFT) & 0x7fff) |
		(addr & VTD_MSI_ADDR_HANDLE15 ? 0x8000u : 0);
	if (addr & VTD_MSI_ADDR_SHV)
		index += data & 0xffff;   /* multi-vector MSI: handle + subhandle */
	entries = 2ull << (irta & VTD_IRTA_S_MASK);
	if (index >= entries)
		return blocked(v, sid, index, VTD_FR_IR_INDEX_OVER, false);
	if (!irte_read(v, (irta & VTD_PAGE_MASK) + (uint64_t)index * VTD_IRTE_SIZE, &lo, &hi))
		return blocked(v, sid, index, VTD_FR_IR_ROOT_INV, false);

	fpd = lo & VTD_IRTE_FPD;
	if (!(lo & VTD_IRTE_P))
		return blocked(v, sid, index, VTD_FR_IR_ENTRY_P, fpd);
	if ((lo & IRTE_RSVD_LO) || (hi & VTD_IRTE_RSVD_HI))
		return blocked(v, sid, index, VTD_FR_IR_IRTE_RSVD, fpd);
	if (!source_ok(hi, sid))
		return blocked(v, sid, index, VTD_FR_IR_SID_ERR, fpd);

	vector = (unsigned)(lo >> VTD_IRTE_V_SHIFT) & 0xff;
	/* An IOAPIC in remappable mode still sends its RTE's vector and
	 * trigger mode, and its EOIs come back by vector: the spec requires
	 * them to match the entry. A mismatch is the guest's bug, remapped
	 * as the entry says. */
	if (!probe && sid == v->ioapic_sid && !(addr & VTD_MSI_ADDR_SHV) &&
	    ((data & 0xff) != vector || !(data & VTD_MSI_DATA_TM) != !(lo & VTD_IRTE_TM)))
		guest_error("viommu: IOAPIC message (index %u) has vector %u%s, its IRTE vector %u%s",
			    index, data & 0xff, data & VTD_MSI_DATA_TM ? " level" : " edge",
			    vector, lo & VTD_IRTE_TM ? " level" : " edge");

	out->addr = VTD_MSI_ADDR_BASE |
		    ((lo >> VTD_IRTE_DST_XAPIC_SHIFT) & 0xff) << VTD_MSI_ADDR_DEST_SHIFT |
		    (lo & VTD_IRTE_RH ? VTD_MSI_ADDR_RH : 0) | (lo & VTD_IRTE_DM ? VTD_MSI_ADDR_DM : 0);
	out->data = vector | (uint32_t)((lo >> VTD_IRTE_DLM_SHIFT) & 7) << VTD_MSI_DATA_DLM_SHIFT |
		    (lo & VTD_IRTE_TM ? VTD_MSI_DATA_TM | VTD_MSI_DATA_LEVEL : 0);
	COUNT(v, ir_remapped);
	return 0;
}

int viommu_irq_remap(struct viommu *v, uint16_t sid, uint64_t addr, uint32_t data,
		     struct viommu_irq *out)
{
	return irq_remap(v, sid, addr, data, out, false);
}

int viommu_irq_lookup(struct viommu *v, uint16_t sid, uint64_t addr, uint32_t data,
		      struct viommu_irq *out)
{
	return irq_remap(v, sid, addr, data, out, true);
}
