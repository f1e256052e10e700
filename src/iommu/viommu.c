/* Guest-visible VT-d: the register file, the global command register,
 * register-based invalidation, the fault-recording registers and the
 * fault / completion events. Queued invalidation is in viommu_qi.c,
 * interrupt remapping in viommu_ir.c.
 *
 * Registers are 32 or 64 bits wide; a 64-bit register may also be accessed
 * as two 32-bit halves (a command fires when the half holding its trigger
 * bit is written). Reserved and read-only bits ignore writes, unknown
 * offsets read 0. */
#include "iommu/viommu_internal.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>

/* Where SRTP points the unit when RTADDR asks for a mode other than legacy:
 * no RAM there, so every translated request faults (root table unreadable). */
#define VIOMMU_RTA_UNUSABLE     0xfffffffffffff000ull

#define CCMD_CAIG_MASK          (3ull << VTD_CCMD_CAIG_SHIFT)
#define IOTLB_IAIG_MASK         (3ull << VTD_IOTLB_IAIG_SHIFT)

/* ---- table memory: the guest's RAM by GPA ---- */

static int viommu_table_read64(void *opaque, uint64_t gpa, uint64_t *val)
{
	struct viommu *v = opaque;
	const uint64_t *p;

	if (gpa & 7)
		return -EFAULT;
	p = gmem_gpa_to_ptr(v->gmem, gpa, 8);
	if (!p)
		return -EFAULT;
	/* The guest rewrites its tables while devices walk them. */
	*val = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	return 0;
}

/* ---- events ---- */

bool viommu_fsts_any_locked(struct viommu *v)
{
	unsigned pending, fri;
	bool pfo;

	vtd_fault_log_status(&v->unit, &pending, &fri, &pfo);
	return pending || pfo || (v->fsts & (VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE));
}

void viommu_fault_event_locked(struct viommu *v, struct viommu_fx *fx)
{
	if (v->fectl & VTD_EVCTL_IM) {
		v->fectl |= VTD_EVCTL_IP;
		return;
	}
	fx->fault_event = true;
	fx->fe_addr = v->feaddr;
	fx->fe_data = v->fedata;
}

/* Software serviced every status condition: a held event is dropped. */
static void fault_status_serviced_locked(struct viommu *v)
{
	if (!viommu_fsts_any_locked(v))
		v->fectl &= ~VTD_EVCTL_IP;
}

void viommu_completion_event(struct viommu *v)
{
	struct viommu_fx fx = { 0 };

	pthread_mutex_lock(&v->lock);
	/* Only IWC going 0 -> 1 is a new condition. */
	if (!(v->ics & VTD_ICS_IWC)) {
		v->ics |= VTD_ICS_IWC;
		if (v->iectl & VTD_EVCTL_IM) {
			v->iectl |= VTD_EVCTL_IP;
		} else {
			fx.completion_event = true;
			fx.ie_addr = v->ieaddr;
			fx.ie_data = v->iedata;
		}
	}
	pthread_mutex_unlock(&v->lock);
	viommu_fx_run(v, &fx);
}

/* The unit recorded a fault (a DMA thread, or an interrupt being remapped).
 * Called with none of the unit's locks held; takes ours. */
static void viommu_fault_notify(void *opaque, const struct vtd_fault_record *rec, bool first)
{
	struct viommu *v = opaque;
	struct viommu_fx fx = { 0 };
	bool pfo = vtd_fault_overflow(&v->unit);

	(void)rec;
	/* A new interrupt condition is PPF going 0 -> 1 with no other status
	 * condition set; whether PPF rose is decided by the log when it added
	 * the record, not here: the guest may have cleared records since, and
	 * a flag kept here would then miss the next real 0 -> 1. A record
	 * cleared before we get here costs at most a spurious event, which a
	 * guest's handler tolerates (it finds nothing to service). */
	if (!first)
		return;
	pthread_mutex_lock(&v->lock);
	if (!pfo && !(v->fsts & (VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE)))
		viommu_fault_event_locked(v, &fx);
	pthread_mutex_unlock(&v->lock);
	viommu_fx_run(v, &fx);
}

/* One guest action (a register write, a reset) has run all it caused. */
static void viommu_pass_done(struct viommu *v)
{
	if (v->hooks && v->hooks->pass_done)
		v->hooks->pass_done(v->hooks_opaque);
}

void viommu_fx_run(struct viommu *v, struct viommu_fx *fx)
{
	int ret;

	if (fx->fault_event) {
		ret = msi_send(v->msi, fx->fe_addr, fx->fe_data, 0);
		if (ret)
			log_warn("viommu: fault event to 0x%llx data 0x%x not delivered: %d",
				 (unsigned long long)fx->fe_addr, fx->fe_data, ret);
		VIOMMU_COUNT(v, fault_events);
	}
	if (fx->completion_event) {
		ret = msi_send(v->msi, fx->ie_addr, fx->ie_data, 0);
		if (ret)
			log_warn("viommu: completion event to 0x%llx data 0x%x not delivered: %d",
				 (unsigned long long)fx->ie_addr, fx->ie_data, ret);
		VIOMMU_COUNT(v, completion_events);
	}
	/* Outside the lock: a DMA thread inside an access section may be
	 * waiting for it in viommu_fault_notify(). */
	if (fx->drain)
		vtd_drain(&v->unit);
	if (v->hooks) {
		if (fx->context_inv && v->hooks->context_invalidated)
			v->hooks->context_invalidated(v->hooks_opaque);
		if (fx->iotlb_inv && v->hooks->iotlb_invalidated)
			v->hooks->iotlb_invalidated(v->hooks_opaque, fx->gran, fx->did, fx->addr, fx->size);
		if (fx->irq_inv && v->hooks->irq_invalidated)
			v->hooks->irq_invalidated(v->hooks_opaque);
	}
	/* Shown complete only now, so software that sees ICC / IVT clear also
	 * sees whatever the hooks derived (shadow tables) updated. */
	if (fx->ccmd_done || fx->iotlb_done) {
		pthread_mutex_lock(&v->lock);
		if (fx->ccmd_done)
			v->ccmd = (v->ccmd & ~(VTD_CCMD_ICC | CCMD_CAIG_MASK)) |
				  (uint64_t)fx->caig << VTD_CCMD_CAIG_SHIFT;
		if (fx->iotlb_done)
			v->iotlb = (v->iotlb & ~(VTD_IOTLB_IVT | IOTLB_IAIG_MASK)) |
				   (uint64_t)fx->iaig << VTD_IOTLB_IAIG_SHIFT;
		pthread_mutex_unlock(&v->lock);
	}
	if (fx->qi_kick)
		viommu_qi_process(v);
}

/* ---- global command ---- */

static void set_root_table_locked(struct viommu *v, struct viommu_fx *fx)
{
	unsigned ttm = (unsigned)((v->rtaddr & VTD_RTADDR_TTM_MASK) >> VTD_RTADDR_TTM_SHIFT);

	if (ttm) {
		/* Scalable mode is not reported (ECAP.SMTS = 0) and the rest is
		 * reserved or abort-DMA mode: block translated requests. */
		guest_error("viommu: SRTP with RTADDR.TTM = %u (only legacy mode, 00b): "
			    "translated requests will fault", ttm);
		vtd_set_root_table(&v->unit, VIOMMU_RTA_UNUSABLE);
	} else {
		vtd_set_root_table(&v->unit, v->rtaddr & VTD_RTADDR_RTA_MASK);
	}
	v->gsts |= VTD_GSTS_RTPS;
	fx->context_inv = true;
}

static void set_translation_locked(struct viommu *v, bool on, struct viommu_fx *fx)
{
	if (on && !(v->gsts & VTD_GSTS_RTPS)) {
		guest_error("viommu: GCMD.TE set before a root table was latched (SRTP): ignored");
		return;
	}
	vtd_set_translation_enable(&v->unit, on);
	v->gsts = on ? v->gsts | VTD_GSTS_TES : v->gsts & ~VTD_GSTS_TES;
	fx->context_inv = true;
}

static void set_qi_locked(struct viommu *v, bool on, struct viommu_fx *fx)
{
	if (on) {
		v->iqh = 0;
		v->gsts |= VTD_GSTS_QIES;
		fx->qi_kick = true;
		return;
	}
	if (v->iqh != v->iqt) {
		guest_error("viommu: GCMD.QIE cleared with descriptors pending (IQH 0x%llx, IQT 0x%llx): ignored",
			    (unsigned long long)v->iqh, (unsigned long long)v->iqt);
		return;
	}
	v->gsts &= ~VTD_GSTS_QIES;
	v->iqh = 0;
}

static void set_ir_locked(struct viommu *v, bool on, struct viommu_fx *fx)
{
	if (on && !(v->gsts & VTD_GSTS_IRTPS)) {
		guest_error("viommu: GCMD.IRE set before an interrupt remapping table was latched (SIRTP): ignored");
		return;
	}
	v->gsts = on ? v->gsts | VTD_GSTS_IRES : v->gsts & ~VTD_GSTS_IRES;
	fx->irq_inv = true;
}

/* Software writes the GSTS image with one bit changed (and the one-shot
 * status bits masked off): act on what changed, plus one-shot commands
 * written as 1. Several at once is a programming error the spec leaves
 * undefined; they are carried out in an order that makes sense (pointers
 * before the enables that need them). WBF, SFL and EAFL are not
 * supported (CAP.RWBF = 0, CAP.AFL = 0) and ignored. */
static void gcmd_write_locked(struct viommu *v, uint32_t val, struct viommu_fx *fx)
{
	uint32_t changed = (val ^ v->gsts) & VTD_GCMD_PERSISTENT;
	uint32_t oneshot = val & (VTD_GCMD_SRTP | VTD_GCMD_SIRTP);

	if (__builtin_popcount(changed | oneshot) > 1)
		guest_error("viommu: GCMD 0x%08x changes several commands at once (GSTS 0x%08x)",
			    val, v->gsts);
	if (oneshot & VTD_GCMD_SRTP)
		set_root_table_locked(v, fx);
	if (oneshot & VTD_GCMD_SIRTP) {
		/* ECAP.EIM = 0: IRTA.EIME is reserved and reads back 0. */
		v->irta_active = v->irta;
		v->gsts |= VTD_GSTS_IRTPS;
		fx->irq_inv = true;
	}
	if (changed & VTD_GCMD_QIE)
		set_qi_locked(v, val & VTD_GCMD_QIE, fx);
	if (changed & VTD_GCMD_CFI) {
		v->gsts ^= VTD_GSTS_CFIS;
		fx->irq_inv = true;
	}
	if (changed & VTD_GCMD_IRE)
		set_ir_locked(v, val & VTD_GCMD_IRE, fx);
	if (changed & VTD_GCMD_TE)
		set_translation_locked(v, val & VTD_GCMD_TE, fx);
}

/* ---- register-based invalidation ---- */

bool viommu_context_inv(struct viommu *v, unsigned g, uint16_t did, uint16_t sid, unsigned fm)
{
	switch (g) {
	case VTD_CC_GLOBAL:
		vtd_context_invalidate_global(&v->unit);
		VIOMMU_COUNT(v, inv_context_global);
		return true;
	case VTD_CC_DOMAIN:
		vtd_context_invalidate_domain(&v->unit, did);
		VIOMMU_COUNT(v, inv_context_domain);
		return true;
	case VTD_CC_DEVICE:
		vtd_context_invalidate_device(&v->unit, did, sid, fm);
		VIOMMU_COUNT(v, inv_context_device);
		return true;
	default:
		return false;
	}
}

unsigned viommu_iotlb_inv(struct viommu *v, unsigned g, uint16_t did, uint64_t addr, unsigned am,
			  bool ih, const char *via, struct viommu_inv_range *r)
{
	*r = (struct viommu_inv_range){ VIOMMU_INV_DOMAIN, did, 0, 0 };
	switch (g) {
	case VTD_IOTLB_GLOBAL:
		vtd_iotlb_invalidate_global(&v->unit);
		VIOMMU_COUNT(v, inv_iotlb_global);
		r->gran = VIOMMU_INV_GLOBAL;
		r->did = 0;
		return g;
	case VTD_IOTLB_DOMAIN:
		break;
	case VTD_IOTLB_PAGE:
		if (!vtd_iotlb_invalidate_page(&v->unit, did, addr, am, ih)) {
			VIOMMU_COUNT(v, inv_iotlb_page);
			*r = (struct viommu_inv_range){ VIOMMU_INV_PAGE, did, addr, VTD_PAGE_SIZE << am };
			return g;
		}
		/* A superset is always a correct invalidation; hardware reports
		 * the granularity it performed (IAIG). */
		guest_error("viommu: %s page-selective invalidation of DID %u at 0x%llx with AM %u "
			    "(misaligned or above MAMV): domain invalidated instead", via, did,
			    (unsigned long long)addr, am);
		break;
	default:
		return 0;
	}
	vtd_iotlb_invalidate_domain(&v->unit, did);
	VIOMMU_COUNT(v, inv_iotlb_domain);
	return VTD_IOTLB_DOMAIN;
}

static bool register_inv_allowed_locked(struct viommu *v, const char *reg)
{
	if (!(v->gsts & VTD_GSTS_QIES))
		return true;
	/* Hardware supports one interface at a time. The request completes
	 * with granularity 0 ("not performed"), so the guest does not hang. */
	guest_error("viommu: %s invalidation while queued invalidation is enabled: ignored", reg);
	return false;
}

static void ccmd_execute_locked(struct viommu *v, struct viommu_fx *fx)
{
	unsigned cirg = (unsigned)(v->ccmd >> VTD_CCMD_CIRG_SHIFT) & 3;
	uint16_t did = (uint16_t)(v->ccmd & VTD_CCMD_DID_MASK);
	uint16_t sid = (uint16_t)(v->ccmd >> VTD_CCMD_SID_SHIFT);
	unsigned fm = (unsigned)(v->ccmd >> VTD_CCMD_FM_SHIFT) & 3;

	fx->ccmd_done = true;
	fx->caig = 0;
	if (!register_inv_allowed_locked(v, "CCMD"))
		return;
	if (!viommu_context_inv(v, cirg, did, sid, fm)) {
		guest_error("viommu: CCMD with reserved granularity 0: not performed");
		return;
	}
	VIOMMU_COUNT(v, inv_by_register);
	fx->caig = cirg;
	fx->context_inv = true;
}

static void iotlb_execute_locked(struct viommu *v, struct viommu_fx *fx)
{
	unsigned iirg = (unsigned)(v->iotlb >> VTD_IOTLB_IIRG_SHIFT) & 3;
	uint16_t did = (uint16_t)(v->iotlb >> VTD_IOTLB_DID_SHIFT);
	uint64_t addr = v->iva & VTD_PAGE_MASK;
	unsigned am = (unsigned)(v->iva & VTD_IVA_AM_MASK);
	struct viommu_inv_range r;

	fx->iotlb_done = true;
	fx->iaig = 0;
	if (!register_inv_allowed_locked(v, "IOTLB_REG"))
		return;
	iirg = viommu_iotlb_inv(v, iirg, did, addr, am, v->iva & VTD_IVA_IH, "register", &r);
	if (!iirg) {
		guest_error("viommu: IOTLB_REG with reserved granularity 0: not performed");
		return;
	}
	fx->gran = r.gran;
	fx->did = r.did;
	fx->addr = r.addr;
	fx->size = r.size;
	VIOMMU_COUNT(v, inv_by_register);
	fx->iaig = iirg;
	fx->iotlb_inv = true;
	/* No DMA that used a removed translation may still be in flight when
	 * IVT reads clear. */
	fx->drain = true;
}

/* ---- register file ---- */

static unsigned frcd_index(uint64_t base)
{
	return (unsigned)((base - VIOMMU_FRCD_OFFSET) / VTD_FRCD_SIZE);
}

static bool in_frcd(uint64_t base)
{
	return base >= VIOMMU_FRCD_OFFSET &&
	       base < VIOMMU_FRCD_OFFSET + VIOMMU_NR_FAULT_RECORDS * VTD_FRCD_SIZE;
}

/* Offsets (8-aligned) of the 64-bit registers. */
static bool is_reg64(uint64_t base)
{
	switch (base) {
	case VTD_REG_CAP: case VTD_REG_ECAP: case VTD_REG_RTADDR: case VTD_REG_CCMD:
	case VTD_REG_AFLOG: case VTD_REG_IQH: case VTD_REG_IQT: case VTD_REG_IQA:
	case VTD_REG_IQERCD: case VTD_REG_IRTA:
	case VIOMMU_IVA_OFFSET + VTD_REG_IVA_OFF: case VIOMMU_IVA_OFFSET + VTD_REG_IOTLB_OFF:
		return true;
	default:
		return in_frcd(base);
	}
}

static uint64_t read_reg64_locked(struct viommu *v, uint64_t base)
{
	struct vtd_fault_record rec;
	uint64_t frcd[2];

	switch (base) {
	case VTD_REG_CAP:    return v->cap;
	case VTD_REG_ECAP:   return v->ecap;
	case VTD_REG_RTADDR: return v->rtaddr;
	case VTD_REG_CCMD:   return v->ccmd;
	case VTD_REG_IQH:    return v->iqh;
	case VTD_REG_IQT:    return v->iqt;
	case VTD_REG_IQA:    return v->iqa;
	case VTD_REG_IQERCD: return v->iqercd;
	case VTD_REG_IRTA:   return v->irta;
	case VIOMMU_IVA_OFFSET + VTD_REG_IVA_OFF:   return v->iva;
	case VIOMMU_IVA_OFFSET + VTD_REG_IOTLB_OFF: return v->iotlb;
	}
	if (!in_frcd(base) || !vtd_fault_log_peek(&v->unit, frcd_index(base), &rec))
		return 0;
	vtd_fault_record_encode(&rec, frcd);
	return frcd[(base - VIOMMU_FRCD_OFFSET) / 8 % 2];
}

static uint32_t fsts_read_locked(struct viommu *v)
{
	unsigned pending, fri;
	bool pfo;

	vtd_fault_log_status(&v->unit, &pending, &fri, &pfo);
	return v->fsts | (pfo ? VTD_FSTS_PFO : 0) |
	       (pending ? VTD_FSTS_PPF | fri << VTD_FSTS_FRI_SHIFT : 0);
}

static uint32_t read_dword_locked(struct viommu *v, uint64_t off)
{
	if (is_reg64(off & ~7ull)) {
		uint64_t r = read_reg64_locked(v, off & ~7ull);

		return off & 4 ? (uint32_t)(r >> 32) : (uint32_t)r;
	}
	switch (off) {
	case VTD_REG_VER:    return VTD_VER_1_0;
	case VTD_REG_GSTS:   return v->gsts;
	case VTD_REG_FSTS:   return fsts_read_locked(v);
	case VTD_REG_FECTL:  return v->fectl;
	case VTD_REG_FEDATA: return v->fedata;
	case VTD_REG_FEADDR: return v->feaddr;
	case VTD_REG_ICS:    return v->ics;
	case VTD_REG_IECTL:  return v->iectl;
	case VTD_REG_IEDATA: return v->iedata;
	case VTD_REG_IEADDR: return v->ieaddr;
	default:             return 0;   /* GCMD is write-only; EIM = 0: upper addresses RsvdZ */
	}
}

static uint64_t merge(uint64_t old, uint64_t val, uint64_t mask)
{
	return (old & ~mask) | (val & mask);
}

static void frcd_clear_locked(struct viommu *v, unsigned idx)
{
	vtd_fault_log_clear_index(&v->unit, idx);
	fault_status_serviced_locked(v);
}

/* A write of the bytes in mask of the 64-bit register at base. */
static void write_reg64_locked(struct viommu *v, uint64_t base, uint64_t val, uint64_t mask,
			       struct viommu_fx *fx)
{
	uint64_t nv;

	switch (base) {
	case VTD_REG_RTADDR:
		v->rtaddr = merge(v->rtaddr, val, mask & VTD_RTADDR_WMASK);
		return;
	case VTD_REG_CCMD:
		v->ccmd = merge(v->ccmd, val, mask & VTD_CCMD_WMASK);
		if ((mask & VTD_CCMD_ICC) && (v->ccmd & VTD_CCMD_ICC))
			ccmd_execute_locked(v, fx);
		return;
	case VTD_REG_IQT:
		v->iqt = merge(v->iqt, val, mask & VTD_IQ_QT_MASK);
		if ((mask & VTD_IQ_QT_MASK) && (v->gsts & VTD_GSTS_QIES))
			fx->qi_kick = true;
		return;
	case VTD_REG_IQA:
		if (v->gsts & VTD_GSTS_QIES) {
			guest_error("viommu: IQA written while queued invalidation is enabled: ignored");
			return;
		}
		v->iqa = merge(v->iqa, val, mask & VTD_IQA_WMASK);
		return;
	case VTD_REG_IRTA:
		if (val & mask & VTD_IRTA_EIME)
			guest_error("viommu: IRTA.EIME set, but x2APIC mode is not supported (ECAP.EIM = 0)");
		v->irta = merge(v->irta, val, mask & VTD_IRTA_WMASK);
		return;
	case VIOMMU_IVA_OFFSET + VTD_REG_IVA_OFF:
		v->iva = merge(v->iva, val, mask & VTD_IVA_WMASK);
		return;
	case VIOMMU_IVA_OFFSET + VTD_REG_IOTLB_OFF:
		v->iotlb = merge(v->iotlb, val, mask & VTD_IOTLB_WMASK);
		if ((mask & VTD_IOTLB_IVT) && (v->iotlb & VTD_IOTLB_IVT))
			iotlb_execute_locked(v, fx);
		return;
	}
	/* FRCD: only F (bit 127, the high qword's bit 63) is writable, W1C. */
	if (in_frcd(base) && (base - VIOMMU_FRCD_OFFSET) % VTD_FRCD_SIZE == 8) {
		nv = val & mask;
		if (nv & VTD_FRCD_HI_F)
			frcd_clear_locked(v, frcd_index(base));
	}
}

static void write_dword_locked(struct viommu *v, uint64_t off, uint32_t val, struct viommu_fx *fx)
{
	switch (off) {
	case VTD_REG_GCMD:
		gcmd_write_locked(v, val, fx);
		break;
	case VTD_REG_FSTS:
		if (val & VTD_FSTS_PFO)
			vtd_fault_clear_overflow(&v->unit);
		if (val & v->fsts & VTD_FSTS_IQE)
			fx->qi_kick = true;    /* the queue resumes at IQH */
		v->fsts &= ~(val & VTD_FSTS_RW1C);
		if (!(v->fsts & VTD_FSTS_IQE))
			v->iqercd = 0;
		fault_status_serviced_locked(v);
		break;
	case VTD_REG_FECTL:
		if (!(val & VTD_EVCTL_IM) && (v->fectl & VTD_EVCTL_IP)) {
			v->fectl &= ~VTD_EVCTL_IP;
			fx->fault_event = true;
			fx->fe_addr = v->feaddr;
			fx->fe_data = v->fedata;
		}
		v->fectl = (v->fectl & VTD_EVCTL_IP) | (val & VTD_EVCTL_IM);
		break;
	case VTD_REG_FEDATA:
		v->fedata = val & VTD_EVDATA_WMASK;
		break;
	case VTD_REG_FEADDR:
		v->feaddr = val & VTD_EVADDR_WMASK;
		break;
	case VTD_REG_ICS:
		if (val & VTD_ICS_IWC) {
			v->ics &= ~VTD_ICS_IWC;
			v->iectl &= ~VTD_EVCTL_IP;
		}
		break;
	case VTD_REG_IECTL:
		if (!(val & VTD_EVCTL_IM) && (v->iectl & VTD_EVCTL_IP)) {
			v->iectl &= ~VTD_EVCTL_IP;
			fx->completion_event = true;
			fx->ie_addr = v->ieaddr;
			fx->ie_data = v->iedata;
		}
		v->iectl = (v->iectl & VTD_EVCTL_IP) | (val & VTD_EVCTL_IM);
		break;
	case VTD_REG_IEDATA:
		v->iedata = val & VTD_EVDATA_WMASK;
		break;
	case VTD_REG_IEADDR:
		v->ieaddr = val & VTD_EVADDR_WMASK;
		break;
	default:
		break;   /* read-only, reserved, or unsupported (EIM = 0: FEUADDR / IEUADDR) */
	}
}

static void write_locked(struct viommu *v, uint64_t off, uint64_t val, unsigned len,
			 struct viommu_fx *fx)
{
	uint64_t base = off & ~7ull;

	if (is_reg64(base)) {
		unsigned shift = len == 8 ? 0 : (off & 4) * 8;
		uint64_t mask = len == 8 ? ~0ull : 0xffffffffull << shift;

		write_reg64_locked(v, base, val << shift, mask, fx);
	} else if (len == 8) {
		write_dword_locked(v, off, (uint32_t)val, fx);
		write_dword_locked(v, off + 4, (uint32_t)(val >> 32), fx);
	} else {
		write_dword_locked(v, off, (uint32_t)val, fx);
	}
}

static bool access_ok(uint64_t off, unsigned len)
{
	if ((len == 4 || len == 8) && !(off & (len - 1)) && off + len <= VIOMMU_MMIO_SIZE)
		return true;
	guest_error("viommu: %u-byte register access at offset 0x%llx (4 or 8 bytes, aligned)",
		    len, (unsigned long long)off);
	return false;
}

static void viommu_mmio_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct viommu *v = opaque;
	uint64_t val;

	*data = 0;
	if (!access_ok(off, len))
		return;
	pthread_mutex_lock(&v->lock);
	val = read_dword_locked(v, off);
	if (len == 8)
		val |= (uint64_t)read_dword_locked(v, off + 4) << 32;
	pthread_mutex_unlock(&v->lock);
	*data = val;
}

static void viommu_mmio_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct viommu *v = opaque;
	struct viommu_fx fx = { 0 };

	if (!access_ok(off, len))
		return;
	pthread_mutex_lock(&v->lock);
	write_locked(v, off, len == 4 ? (uint32_t)data : data, len, &fx);
	pthread_mutex_unlock(&v->lock);
	viommu_fx_run(v, &fx);
	viommu_pass_done(v);
}

static const struct bus_ops viommu_bus_ops = {
	.read = viommu_mmio_read,
	.write = viommu_mmio_write,
};

/* ---- lifecycle ---- */

static void reset_locked(struct viommu *v)
{
	v->epoch++;
	vtd_set_translation_enable(&v->unit, false);
	v->gsts = 0;
	v->rtaddr = v->ccmd = v->iva = v->iotlb = 0;
	v->fsts = 0;
	v->fectl = VTD_EVCTL_IM;
	v->fedata = v->feaddr = 0;
	v->iqh = v->iqt = v->iqa = v->iqercd = 0;
	v->ics = 0;
	v->iectl = VTD_EVCTL_IM;
	v->iedata = v->ieaddr = 0;
	v->irta = v->irta_active = 0;
	vtd_fault_log_reset(&v->unit);
	vtd_context_invalidate_global(&v->unit);
	vtd_iotlb_invalidate_global(&v->unit);
}

int viommu_init(struct viommu *v, const struct viommu_cfg *cfg)
{
	struct vtd_unit_cfg ucfg;
	struct vtd_caps *c = &ucfg.caps;
	unsigned mgaw = cfg->mgaw ? cfg->mgaw : 48;
	const struct gmem_range *top;
	int ret;

	memset(v, 0, sizeof(*v));
	if (!cfg->gmem || !cfg->gmem->nr_ranges || (mgaw != 39 && mgaw != 48) ||
	    (cfg->mode != VIOMMU_MODE_NESTED && cfg->mode != VIOMMU_MODE_SHADOW)) {
		log_error("viommu: invalid configuration (MGAW %u, mode %d)", mgaw, cfg->mode);
		return -EINVAL;
	}
	top = &cfg->gmem->ranges[cfg->gmem->nr_ranges - 1];
	if (top->gpa + top->size > 1ull << VIOMMU_HAW) {
		log_error("viommu: guest RAM up to 0x%llx is beyond the %u-bit host address width",
			  (unsigned long long)(top->gpa + top->size), VIOMMU_HAW);
		return -EINVAL;
	}
	memset(&ucfg, 0, sizeof(ucfg));
	c->haw = VIOMMU_HAW;
	c->mgaw = mgaw;
	c->sagaw = 1u << VTD_AW_39BIT | (mgaw == 48 ? 1u << VTD_AW_48BIT : 0);
	c->sp_2m = c->sp_1g = true;
	c->nd = 6;                        /* 2^16 domain ids: any 16-bit DID */
	c->mamv = 18;
	c->nr_fault_records = VIOMMU_NR_FAULT_RECORDS;
	c->no_pt = true;                  /* pass-through would hand a device all guest RAM */
	c->qi = c->ir = true;
	c->cm = cfg->mode == VIOMMU_MODE_SHADOW;
	c->fro = VIOMMU_FRCD_OFFSET;
	c->iro = VIOMMU_IVA_OFFSET;
	ucfg.mem.read64 = viommu_table_read64;
	ucfg.mem.opaque = v;
	ucfg.stage2 = cfg->stage2;
	ret = vtd_unit_init(&v->unit, &ucfg);
	if (ret)
		return ret;
	vtd_fault_log_set_pfo_blocks(&v->unit, true);
	vtd_set_fault_notify(&v->unit, viommu_fault_notify, v);
	v->mode = cfg->mode;
	v->gmem = cfg->gmem;
	v->msi = cfg->msi;
	v->hooks = cfg->hooks;
	v->hooks_opaque = cfg->hooks_opaque;
	v->ioapic_sid = cfg->ioapic_sid;
	v->cap = vtd_cap_reg(&v->unit.caps);
	v->ecap = vtd_ecap_reg(&v->unit.caps);
	pthread_mutex_init(&v->lock, NULL);
	reset_locked(v);
	return 0;
}

void viommu_destroy(struct viommu *v)
{
	if (v->mmio)
		bus_unregister(v->mmio, v->base, v);
	vtd_set_fault_notify(&v->unit, NULL, NULL);
	vtd_unit_destroy(&v->unit);
	pthread_mutex_destroy(&v->lock);
	memset(v, 0, sizeof(*v));
}

int viommu_attach(struct viommu *v, struct bus *mmio, uint64_t base)
{
	int ret = bus_register(mmio, base, VIOMMU_MMIO_SIZE, &viommu_bus_ops, v, "vt-d");

	if (ret) {
		log_error("viommu: cannot register the register block at 0x%llx: %d",
			  (unsigned long long)base, ret);
		return ret;
	}
	v->mmio = mmio;
	v->base = base;
	return 0;
}

void viommu_reset(struct viommu *v)
{
	struct viommu_fx fx = { .drain = true, .context_inv = true, .irq_inv = true };

	pthread_mutex_lock(&v->lock);
	reset_locked(v);
	pthread_mutex_unlock(&v->lock);
	viommu_fx_run(v, &fx);
	viommu_pass_done(v);
}

struct vtd_unit *viommu_unit(struct viommu *v)
{
	return &v->unit;
}

bool viommu_translation_enabled(struct viommu *v)
{
	bool on;

	pthread_mutex_lock(&v->lock);
	on = v->gsts & VTD_GSTS_TES;
	pthread_mutex_unlock(&v->lock);
	return on;
}

void viommu_stats_get(struct viommu *v, struct viommu_stats *s)
{
	const uint64_t *src = (const uint64_t *)&v->stats;
	uint64_t *dst = (uint64_t *)s;

	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
