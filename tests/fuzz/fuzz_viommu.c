/* libFuzzer harness: the guest-visible VT-d unit (iommu/viommu.h) as a
 * hostile guest IOMMU driver and hostile devices see it - 32- and 64-bit
 * register accesses at any offset of the 4 KiB block through the MMIO bus
 * (and accesses of other widths, which must be refused), guest RAM holding
 * whatever the input puts there (root, context and second-level tables,
 * the invalidation queue with any descriptors, the interrupt-remapping
 * table), device requests translated by vtd_translate() on the unit and
 * DMA through a dma_as on it, and MSIs remapped by viommu_irq_remap() with
 * any source-id, address and data. The unit's second stage is the VM's RAM
 * layout (stage2_init_gmem), so every output address is a host address
 * inside the VM's 2 MiB of RAM, fenced by canary regions.
 *
 * Configuration bit 3 builds instead what the VMM builds for devices behind
 * the vIOMMU (src/vmm/machine_viommu.c): a host VT-d unit (struct iommu)
 * whose domain maps the VM's RAM with IOVA = GPA and holds the devices of
 * pick_sid()'s list, the guest unit's stage 2 through it
 * (stage2_init_host), and DMA through dma_as_init_nested() (bit 0 clear)
 * or, in shadow mode (bit 0 set), through dma_as_init_shadow() on the host
 * unit with the shadow composer (iommu/viommu_shadow.h) fed by the unit's
 * hooks and every listed device added under a host source-id of its own.
 * Bit 2 then means: the host maps the RAM in 4 KiB pages, and the composer
 * gets budgets small enough to run out. The reference, "guest tables o
 * RAM", is described at the two-stage code below.
 *
 * Findings (trap) beyond sanitizer reports and canary damage:
 *  - a translation whose output page is not inside the VM's RAM, that
 *    grants less than was asked, or (TE off) is not the identity; a refused
 *    non-probe request that raised no fault (recorded, dropped or
 *    suppressed), or a probe that raised one;
 *  - an invalidation-wait status write that did not land where the
 *    descriptor said (a wait processed last in a pass, status in RAM);
 *  - IQH beyond the queue or not descriptor-aligned; more descriptors
 *    processed by one register write than the queue holds (a loop);
 *  - fault events that do not follow the fault log: FSTS.PPF without a
 *    recording register holding a fault (or the reverse), FRI naming an
 *    empty one, an invalid fault reason; an event for anything but an
 *    interrupt condition arising with none set before (or a held event
 *    released by unmasking), none when one was owed, IP not set for a
 *    masked one; the same rules for the invalidation completion event
 *    (ICS.IWC, IECTL); MSIs other than those events;
 *  - a remapped interrupt not in compatibility format with an address in
 *    0xFEE00000-0xFEEFFFFF; with remapping off a message changed; a
 *    blocked interrupt that raised no fault; viommu_irq_lookup() deciding
 *    otherwise than the viommu_irq_remap() right after it, or recording or
 *    counting anything;
 *  - GSTS.TES without RTPS, IRES without IRTPS; hooks or event MSIs
 *    called with the unit's lock held; a register-based invalidation hook
 *    that ran after the command already showed complete, or a command that
 *    never completes;
 *  - two-stage (bit 3): a DMA chunk (written, or read and compared) or a
 *    device request that the reference does not allow at exactly that
 *    address and permission - nested: the guest's tables at some moment
 *    the unit translated since the last invalidation covering the page,
 *    composed with GPA -> HPA of the RAM; shadow: the host domain the
 *    device belongs in as of the last context hook; a shadow DMA that
 *    stopped at a page that domain maps; after every hook, a shadow page
 *    inside what was invalidated that is not the guest's mapping now, or
 *    one outside it that changed.
 *
 * Input: one configuration byte (bit 0 shadow mode (CAP.CM), bit 1 MGAW 39,
 * bit 2 no hooks, or with bit 3: host RAM in 4K pages and tight composer
 * budgets; bit 3 two-stage), then operations (see the switch below) until
 * the input ends. Guest-physical layout the seeds use (the input may point anything
 * anywhere): root table 0x10000, context tables 0x11000 (bus 0) and
 * 0x12000 (bus 1), second-level table pool 0x20000-0x3ffff (32 pages),
 * invalidation queue 0x40000 (up to 128 pages), status words 0xc0000,
 * interrupt-remapping table 0xc1000, data from 0x100000. */
#include <errno.h>

#include "fuzz_common.h"
#include "iommu/dma.h"
#include "iommu/iommu.h"
#include "iommu/stage2.h"
#include "iommu/viommu.h"
#include "iommu/viommu_shadow.h"

#define FZ_MAX_OPS      128
#define RAM_SIZE        (2 * FZ_MiB)
#define BASE            VIOMMU_DEFAULT_BASE
#define G_ROOT          0x10000ull
#define G_CTX(b)        (0x11000ull + (uint64_t)(b) * 0x1000)
#define G_POOL(k)       (0x20000ull + (uint64_t)(k) * 0x1000)
#define NPOOL           32
#define G_IQ            0x40000ull
#define G_STATUS        0xc0000ull
#define G_IRT           0xc1000ull
#define G_DATA          0x100000ull
#define IOAPIC_SID      0xf0f8
#define MAX_DMA         (12 * 1024)

#define FRCD(i)         (VIOMMU_FRCD_OFFSET + VTD_FRCD_SIZE * (i))
#define REG_IVA         (VIOMMU_IVA_OFFSET + VTD_REG_IVA_OFF)
#define REG_IOTLB       (VIOMMU_IVA_OFFSET + VTD_REG_IOTLB_OFF)
#define FSTS_COND       (VTD_FSTS_PFO | VTD_FSTS_PPF | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE)

static struct fz_ram R;
static uint64_t ram_hpa;
static bool trace;                      /* FUZZ_TRACE=1: state after every op */
static uint8_t dma_buf[MAX_DMA];

static struct {
	struct bus mmio;
	struct viommu v;
	struct vtd_stage2 s2;
	struct stage2_gmem s2g;
	uint64_t qtail;                 /* the driver's software tail */
	uint64_t msis;                  /* event MSIs received */
	unsigned ctx_hooks, iotlb_hooks, irq_hooks;
	bool ccmd_busy_at_hook, ivt_busy_at_hook;
	bool hooks_seen_busy;
} S;

/* ---- Register access, as the driver does it ---- */

static uint64_t rd(uint64_t off, unsigned len)
{
	uint64_t v = 0;

	bus_read(&S.mmio, BASE + off, &v, len);
	return v;
}

static void wr(uint64_t off, uint64_t v, unsigned len)
{
	bus_write(&S.mmio, BASE + off, v, len);
}

static uint32_t r32(uint64_t off) { return (uint32_t)rd(off, 4); }
static uint64_t r64(uint64_t off) { return rd(off, 8); }

/* The spec's recipe: the status image, one-shot bits masked, one bit changed. */
static void gcmd(uint32_t bit, bool on)
{
	uint32_t sts = r32(VTD_REG_GSTS) & 0x96ffffffu;

	wr(VTD_REG_GCMD, on ? sts | bit : sts & ~bit, 4);
}

static uint64_t qsize(void)
{
	return VTD_PAGE_SIZE << (r64(VTD_REG_IQA) & VTD_IQA_QS_MASK);
}

/* ---- Hooks and the event sink: no unit lock may be held ---- */

/* Two-stage mode (below): the VMM's side of each invalidation. */
static void two_stage_iotlb(enum viommu_inv_gran gran, uint16_t did, uint64_t addr, uint64_t size);
static void two_stage_ctx(void);
static void two_stage_pass_done(void);

static void check_unlocked(const char *what)
{
	int ret = pthread_mutex_trylock(&S.v.lock);

	FZ_CHECK(ret == 0, "%s called with the vIOMMU lock held", what);
	pthread_mutex_unlock(&S.v.lock);
}

static void hook_iotlb(void *opaque, enum viommu_inv_gran gran, uint16_t did, uint64_t addr,
		       uint64_t size)
{
	check_unlocked("iotlb_invalidated");
	FZ_CHECK(gran == VIOMMU_INV_PAGE ? size >= VTD_PAGE_SIZE && !(addr & (size - 1)) :
		 addr == 0 && size == 0, "IOTLB hook: granularity %d, 0x%llx + 0x%llx", gran,
		 (unsigned long long)addr, (unsigned long long)size);
	S.iotlb_hooks++;
	S.ivt_busy_at_hook = r64(REG_IOTLB) & VTD_IOTLB_IVT;
	two_stage_iotlb(gran, did, addr, size);
}

static void hook_ctx(void *opaque)
{
	check_unlocked("context_invalidated");
	S.ctx_hooks++;
	S.ccmd_busy_at_hook = r64(VTD_REG_CCMD) & VTD_CCMD_ICC;
	two_stage_ctx();
}

static void hook_irq(void *opaque)
{
	check_unlocked("irq_invalidated");
	S.irq_hooks++;
}

static void hook_pass_done(void *opaque)
{
	check_unlocked("pass_done");
	two_stage_pass_done();
}

static const struct viommu_hooks hooks = {
	.iotlb_invalidated = hook_iotlb, .context_invalidated = hook_ctx, .irq_invalidated = hook_irq,
	.pass_done = hook_pass_done,
};

static int msi_send_fake(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	check_unlocked("event MSI");
	S.msis++;
	return 0;
}

static const struct msi_sink msi = { .send = msi_send_fake };

/* ---- Operands ---- */

/* The devices the input names most; with configuration bit 3 the ones
 * behind the vIOMMU (attached to the VM's host domain, or shadowed). */
#define NDEV 7
static const uint16_t dev_sids[NDEV] = {
	VTD_SID(0, 3, 0), VTD_SID(0, 4, 0), VTD_SID(1, 0, 0), IOAPIC_SID,
	VTD_SID(0, 3, 1), VTD_SID(0, 0, 0), VTD_SID(1, 31, 7),
};

static uint16_t pick_sid(struct fz *f)
{
	uint8_t m = fz_u8(f);

	return m < 0xf0 ? dev_sids[m % NDEV] : fz_u16(f);
}

/* IOVAs: small pages, the superpage area, any 32-bit page, anything. */
static uint64_t pick_iova(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t k = m >> 2;

	switch (m & 3) {
	case 0: return k << 12 | (fz_u8(f) & 1 ? fz_u16(f) & 0xfff : 0);
	case 1: return 0x40000000ull + (k << 21) + ((uint64_t)fz_u16(f) << 4);
	case 2: return fz_u32(f);
	default: return fz_value64(f);
	}
}

/* A guest-physical address for a table entry to point at. */
static uint64_t pick_gpa(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t k = m >> 2;

	switch (m & 3) {
	case 0: return G_DATA + (k << 12);
	case 1: return G_POOL(k % NPOOL);
	case 2: return (k & 7) << 21;                   /* 2M-aligned, mostly beyond RAM */
	default: return fz_value64(f) & ~0xfffull;
	}
}

static uint64_t pick_value(struct fz *f)
{
	uint8_t m = fz_u8(f);

	switch (m & 3) {
	case 0: return m >> 2;
	case 1: return (uint64_t)1 << (m >> 2);
	case 2: return fz_u32(f);
	default: return fz_value64(f);
	}
}

static uint64_t *gp64(uint64_t gpa)
{
	return gpa < RAM_SIZE && RAM_SIZE - gpa >= 8 && !(gpa & 7) ? (uint64_t *)(R.ram + gpa) : NULL;
}

static void put64(uint64_t gpa, uint64_t v)
{
	uint64_t *p = gp64(gpa);

	if (p)
		*p = v;
}

/* ---- Invariants ---- */

struct snap {
	uint32_t gsts, fsts, fectl, ics, iectl;
	uint64_t iqh, iqt, iqa;
	struct viommu_stats st;
	uint64_t msis;
	struct vtd_fault_stats fs;
};

static void take_snap(struct snap *s)
{
	s->gsts = r32(VTD_REG_GSTS);
	s->fsts = r32(VTD_REG_FSTS);
	s->fectl = r32(VTD_REG_FECTL);
	s->ics = r32(VTD_REG_ICS);
	s->iectl = r32(VTD_REG_IECTL);
	s->iqh = r64(VTD_REG_IQH);
	s->iqt = r64(VTD_REG_IQT);
	s->iqa = r64(VTD_REG_IQA);
	viommu_stats_get(&S.v, &s->st);
	s->msis = S.msis;
	vtd_fault_stats_get(viommu_unit(&S.v), &s->fs);
}

static bool valid_reason(unsigned r)
{
	return (r >= VTD_FR_ROOT_ENTRY_P && r <= VTD_FR_INTERRUPT_ADDR) ||
	       (r >= VTD_FR_IR_FIRST && r <= VTD_FR_IR_LAST);
}

/* What an operation may do to the events. fault_regs / comp_regs: it wrote
 * registers that clear conditions or unmask (FSTS, FRCD, FECTL / ICS,
 * IECTL); fectl_val / iectl_val: what it wrote to FECTL / IECTL, if it did. */
struct op_kind {
	bool fault_regs, comp_regs;
	bool fectl_written, iectl_written;
	uint32_t fectl_val, iectl_val;
};

static void check_unit(const struct snap *b, const struct snap *a, const struct op_kind *k)
{
	uint64_t ev = a->st.fault_events - b->st.fault_events;
	uint64_t cev = a->st.completion_events - b->st.completion_events;
	bool cond_b = b->fsts & FSTS_COND, cond_a = a->fsts & FSTS_COND, any_f = false;
	unsigned fri = a->fsts >> VTD_FSTS_FRI_SHIFT & 0xff;

	FZ_CHECK(!(a->gsts & VTD_GSTS_TES) || (a->gsts & VTD_GSTS_RTPS), "GSTS 0x%08x", a->gsts);
	FZ_CHECK(!(a->gsts & VTD_GSTS_IRES) || (a->gsts & VTD_GSTS_IRTPS), "GSTS 0x%08x", a->gsts);
	FZ_CHECK(!(a->iqh & 0xf) && a->iqh < (VTD_PAGE_SIZE << (a->iqa & VTD_IQA_QS_MASK)),
		 "IQH 0x%llx with IQA 0x%llx", (unsigned long long)a->iqh, (unsigned long long)a->iqa);
	FZ_CHECK(a->st.qi_descriptors - b->st.qi_descriptors <=
		 (VTD_PAGE_SIZE << (a->iqa & VTD_IQA_QS_MASK)) / VTD_QI_DESC_SIZE,
		 "%llu descriptors processed by one operation",
		 (unsigned long long)(a->st.qi_descriptors - b->st.qi_descriptors));

	/* The fault-recording registers against FSTS. */
	for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS; i++) {
		uint64_t hi = r64(FRCD(i) + 8);

		if (!(hi & VTD_FRCD_HI_F))
			continue;
		any_f = true;
		FZ_CHECK(valid_reason((unsigned)(hi >> VTD_FRCD_HI_FR_SHIFT) & 0xff),
			 "FRCD %u: 0x%016llx", i, (unsigned long long)hi);
	}
	FZ_CHECK(any_f == !!(a->fsts & VTD_FSTS_PPF), "FSTS 0x%08x with%s a fault recorded",
		 a->fsts, any_f ? "" : "out");
	if (any_f)
		FZ_CHECK(fri < VIOMMU_NR_FAULT_RECORDS && (r64(FRCD(fri) + 8) & VTD_FRCD_HI_F),
			 "FSTS.FRI %u names an empty record", fri);

	/* Every MSI is a counted event. */
	FZ_CHECK(a->msis - b->msis == ev + cev, "%llu MSIs for %llu fault and %llu completion events",
		 (unsigned long long)(a->msis - b->msis), (unsigned long long)ev,
		 (unsigned long long)cev);

	/* Fault events (VT-d 7.3.1): one when an interrupt condition arises
	 * with none set, unless masked (then IP); one when unmasking with IP. */
	if (k->fectl_written) {
		bool owed = (b->fectl & VTD_EVCTL_IP) && !(k->fectl_val & VTD_EVCTL_IM);

		FZ_CHECK(ev == owed, "FECTL 0x%08x written over 0x%08x: %llu fault events",
			 k->fectl_val, b->fectl, (unsigned long long)ev);
	} else if (k->fault_regs) {
		FZ_CHECK(ev <= 1 && (!ev || !(a->fectl & VTD_EVCTL_IM)),
			 "%llu fault events, FECTL 0x%08x", (unsigned long long)ev, a->fectl);
	} else {
		bool arose = !cond_b && cond_a, masked = b->fectl & VTD_EVCTL_IM;

		FZ_CHECK(ev == (arose && !masked), "FSTS 0x%08x -> 0x%08x, FECTL 0x%08x: %llu fault "
			 "events", b->fsts, a->fsts, b->fectl, (unsigned long long)ev);
		if (arose && masked)
			FZ_CHECK(a->fectl & VTD_EVCTL_IP, "masked fault event not held: FECTL 0x%08x",
				 a->fectl);
	}
	FZ_CHECK(!(a->fectl & VTD_EVCTL_IP) || cond_a, "FECTL.IP with FSTS 0x%08x", a->fsts);

	/* Completion events: ICS.IWC 0 -> 1, the same masking. */
	if (k->iectl_written) {
		bool owed = (b->iectl & VTD_EVCTL_IP) && !(k->iectl_val & VTD_EVCTL_IM);

		FZ_CHECK(cev == owed, "IECTL 0x%08x written over 0x%08x: %llu completion events",
			 k->iectl_val, b->iectl, (unsigned long long)cev);
	} else if (k->comp_regs) {
		FZ_CHECK(cev <= 1, "%llu completion events", (unsigned long long)cev);
	} else {
		bool arose = !(b->ics & VTD_ICS_IWC) && (a->ics & VTD_ICS_IWC);
		bool masked = b->iectl & VTD_EVCTL_IM;

		FZ_CHECK(cev == (arose && !masked), "ICS 0x%x -> 0x%x, IECTL 0x%08x: %llu completion "
			 "events", b->ics, a->ics, b->iectl, (unsigned long long)cev);
		if (arose && masked)
			FZ_CHECK(a->iectl & VTD_EVCTL_IP, "masked completion event not held");
	}
	FZ_CHECK(!(a->iectl & VTD_EVCTL_IP) || (a->ics & VTD_ICS_IWC), "IECTL.IP without IWC");
}

/* A translation's output: an address in the VM's RAM, and so is the rest
 * of the page it holds for. */
static void check_xlate(uint16_t sid, uint64_t iova, unsigned req, int ret,
			const struct vtd_xlate *x, bool te, const struct vtd_fault_stats *f0)
{
	struct vtd_fault_stats f1;
	uint64_t raised;

	vtd_fault_stats_get(viommu_unit(&S.v), &f1);
	raised = f1.total - f0->total;
	if (ret == 0) {
		uint64_t ps = x->page_size, rest = ps - (iova & (ps - 1));

		/* What the translation holds: up to the next multiple of its
		 * page size (any other IOVA of an IOTLB entry's block is checked
		 * when it is translated). */
		FZ_CHECK(ps >= VTD_PAGE_SIZE && !(ps & (ps - 1)), "page size 0x%llx",
			 (unsigned long long)ps);
		FZ_CHECK(x->addr >= ram_hpa && x->addr < ram_hpa + RAM_SIZE &&
			 rest <= ram_hpa + RAM_SIZE - x->addr,
			 "%04x: IOVA 0x%llx -> HPA 0x%llx (page 0x%llx) outside the VM's RAM "
			 "[0x%llx, +0x%llx)", sid, (unsigned long long)iova,
			 (unsigned long long)x->addr, (unsigned long long)ps,
			 (unsigned long long)ram_hpa, (unsigned long long)RAM_SIZE);
		FZ_CHECK(!(req & IOPT_RW & ~x->perm), "request 0x%x granted 0x%x", req, x->perm);
		if (!te)
			FZ_CHECK(x->addr == ram_hpa + iova, "TE off: IOVA 0x%llx -> 0x%llx",
				 (unsigned long long)iova, (unsigned long long)(x->addr - ram_hpa));
		FZ_CHECK(raised == 0, "a translation that succeeded raised %llu faults",
			 (unsigned long long)raised);
		return;
	}
	FZ_CHECK(ret == -EFAULT, "vtd_translate: %d", ret);
	if (req & VTD_REQ_PROBE || x->stage2_fault)
		FZ_CHECK(raised == 0, "%s raised %llu faults", x->stage2_fault ? "a stage-2 refusal" :
			 "a probe", (unsigned long long)raised);
	else
		FZ_CHECK(raised == 1 && valid_reason(x->fault), "refused (reason 0x%x), %llu faults "
			 "raised", x->fault, (unsigned long long)raised);
}

static void two_stage_written(uint64_t iova, uint64_t hpa, uint64_t len);

/* Every chunk a DMA write stored, with where it went. */
static void dma_written(void *opaque, uint64_t iova, uint64_t hpa, uint64_t len)
{
	FZ_CHECK(hpa >= ram_hpa && hpa < ram_hpa + RAM_SIZE && len <= ram_hpa + RAM_SIZE - hpa,
		 "DMA write at IOVA 0x%llx stored 0x%llx bytes at HPA 0x%llx, outside the VM's RAM",
		 (unsigned long long)iova, (unsigned long long)len, (unsigned long long)hpa);
	two_stage_written(iova, hpa, len);
}

/* ---- Two-stage mode (configuration bit 3): a device behind the vIOMMU ----
 *
 * What the VMM builds (src/vmm/machine_viommu.c): a host VT-d unit with the
 * VM's host domain mapping its RAM with IOVA = GPA, the guest unit's stage 2
 * through that unit (stage2_init_host), and per device either a nested
 * dma_as (guest unit over the host) or, in shadow mode, the composer's
 * shadow domains on the host unit driven by the guest unit's hooks.
 *
 * The reference is "guest tables o RAM" (GPA g is HPA ram_hpa + g):
 *  - nested: the guest unit may serve what its tables said at any
 *    translation since the last invalidation covering the page, as
 *    tests/unit/test_nested.c has it (cached combined entries serve until
 *    the guest invalidates). The harness walks the tables itself at every
 *    moment the unit translates (before a DMA, after each chunk it wrote,
 *    before a device request), keyed as the unit's caches are: contexts by
 *    source-id until a global context invalidation, leaves by domain id
 *    in pieces as large as the guest's leaf and the host's page allow,
 *    dropped by the IOTLB invalidations the hook reports.
 *  - shadow: a shadow domain holds, per page, what the guest's tables said
 *    at the last invalidation covering it (test_shadow.c's rule): after
 *    each hook every shadow domain is walked, pages inside what was
 *    invalidated must be the guest's mapping now (IOVA, HPA, permission),
 *    pages outside must be what they were. A device goes where the guest
 *    unit said at the last context hook (identity with TE off, its
 *    domain's shadow, else blocked); its DMA moves exactly through that. */

#define HOST_SID(s)     ((uint16_t)((s) ^ 0x8000))      /* bus | 0x80: the VM's bus on the host */
#define NO_HOST_SID     0xffff                          /* a device the VMM never attached */
#define NLOG            512
#define NCTX            64
#define NREF            8
#define NRUNS           256
#define NCAND           32
#define VERIFY_STEPS    4096
/* Guest entries one register write may make the composer read: the VMM's
 * default (VIOMMU_SHADOW_MAX_ENTRIES) costs seconds per pass under the
 * sanitizers; the logic at the budget's edge is the same at any size. */
#define SHADOW_ENTRIES  (1u << 15)

enum target { T_BLOCKED, T_IDENTITY, T_SHADOW };

struct leaf { uint64_t iova, size, gpa; unsigned perm; };
struct tlb_ent { uint16_t did; uint64_t iova, size, gpa; unsigned perm; };
struct ctx_ent { uint16_t sid, did; uint64_t slptptr; uint8_t levels, aw_bits; };
struct run { uint64_t iova, hpa, len; unsigned prot; };

/* A shadow domain's mappings as merged runs, complete below `end`. */
struct shadow_ref {
	struct iommu_domain *dom;
	uint16_t did;
	uint64_t slptptr;
	uint8_t levels;
	unsigned n;
	uint64_t end;
	struct run runs[NRUNS];
};

static struct {
	bool on, shadow, sh_ready;
	struct iommu mmu;
	struct iommu_domain *vm;        /* the VM's host domain */
	uint64_t host_page;             /* its page size over the RAM */
	struct viommu_shadow sh;
	/* nested: what the guest unit's IOTLB and context cache may hold */
	struct tlb_ent log[NLOG];
	unsigned nlog;
	bool log_lost;
	struct ctx_ent ctx[NCTX];
	unsigned nctx;
	bool ctx_lost;
	uint64_t cc_global_seen;
	/* shadow: each device's place as of the last context hook */
	enum target tgt[NDEV];
	struct ctx_ent tgt_ctx[NDEV];
	struct shadow_ref refs[2][NREF];
	unsigned cur, nref, steps;
	/* the DMA in progress */
	uint16_t dma_sid;
	uint64_t dma_iova, dma_len;
	unsigned dma_access;            /* 0: none */
} T;

static inline uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static int dev_index(uint16_t sid)
{
	for (int i = 0; i < NDEV; i++)
		if (dev_sids[i] == sid)
			return i;
	return -1;
}

/* The guest's second-level tables as the spec reads them, leniently
 * (reserved bits ignored, PS honoured at levels 2 and 3): every leaf the
 * unit or the composer may use is found, with the same address and
 * permission, so lenience only ever allows more. */
static bool guest_walk(uint64_t root, unsigned levels, uint64_t iova, struct leaf *l)
{
	uint64_t table = root;
	unsigned perm = IOPT_RW;

	for (unsigned lvl = levels; lvl >= 1; lvl--) {
		unsigned shift = 12 + 9 * (lvl - 1);
		const uint64_t *e = gp64(table + ((iova >> shift) & 511) * 8);

		if (!e || !(*e & IOPT_RW))
			return false;
		perm &= *e & IOPT_RW;
		if (lvl == 1 || (lvl <= 3 && (*e & VTD_SL_PS))) {
			l->size = 1ull << shift;
			l->iova = iova & ~(l->size - 1);
			l->gpa = *e & VTD_SL_ADDR_MASK & ~(l->size - 1);
			l->perm = perm;
			return perm != 0;
		}
		table = *e & VTD_SL_ADDR_MASK;
	}
	return false;
}

/* ---- nested: the guest unit's caches, as the harness tracks them ---- */

/* What a translation of iova through this leaf may leave in the IOTLB: a
 * combined entry no larger than the guest's leaf and the host's page
 * (vtd.c, stage2_combine), nothing when stage 2 refuses (not RAM). */
static void log_add(uint16_t did, const struct leaf *l, uint64_t iova)
{
	uint64_t size = min64(l->size, T.host_page), gpa = l->gpa + (iova - l->iova);
	struct tlb_ent e;

	if (gpa >= RAM_SIZE)
		return;
	e = (struct tlb_ent){ .did = did, .iova = iova & ~(size - 1), .size = size, .perm = l->perm };
	e.gpa = l->gpa + (e.iova - l->iova);
	for (unsigned i = 0; i < T.nlog; i++)
		if (T.log[i].did == e.did && T.log[i].iova == e.iova && T.log[i].size == e.size &&
		    T.log[i].gpa == e.gpa && T.log[i].perm == e.perm)
			return;
	if (T.nlog == NLOG)
		T.log_lost = true;
	else
		T.log[T.nlog++] = e;
}

static void ctx_remember(uint16_t sid, const struct vtd_context_info *ci)
{
	struct ctx_ent c = {
		.sid = sid, .did = ci->did, .slptptr = ci->slptptr, .levels = ci->levels,
		.aw_bits = ci->aw_bits,
	};

	for (unsigned i = 0; i < T.nctx; i++)
		if (T.ctx[i].sid == sid && T.ctx[i].did == c.did && T.ctx[i].slptptr == c.slptptr &&
		    T.ctx[i].levels == c.levels && T.ctx[i].aw_bits == c.aw_bits)
			return;
	if (T.nctx == NCTX)
		T.ctx_lost = true;
	else
		T.ctx[T.nctx++] = c;
}

/* The unit is about to translate iova for sid: whatever it may cache now
 * is what the tables say now, through any context it may hold for sid. */
static void sample(uint16_t sid, uint64_t iova)
{
	struct vtd_context_info ci;
	struct leaf l;

	if (!viommu_translation_enabled(&S.v))
		return;
	if (!vtd_context_lookup(viommu_unit(&S.v), sid, &ci, NULL) && ci.tt == VTD_TT_TRANSLATED)
		ctx_remember(sid, &ci);
	for (unsigned i = 0; i < T.nctx; i++) {
		const struct ctx_ent *c = &T.ctx[i];

		if (c->sid == sid && !(iova >> c->aw_bits) && guest_walk(c->slptptr, c->levels, iova, &l))
			log_add(c->did, &l, iova);
	}
}

/* The pages of [iova, iova + len) a transfer still has to translate. */
static void sample_span(uint16_t sid, uint64_t iova, uint64_t len)
{
	uint64_t pages = ((iova & 0xfff) + len + 0xfff) >> 12, p = iova & VTD_PAGE_MASK;

	for (uint64_t k = 0; k < pages && p >= (iova & VTD_PAGE_MASK); k++, p += VTD_PAGE_SIZE)
		sample(sid, p);
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return b - a < alen || a - b < blen;
}

static void log_invalidate(enum viommu_inv_gran gran, uint16_t did, uint64_t addr, uint64_t size)
{
	for (unsigned i = 0; i < T.nlog;) {
		const struct tlb_ent *e = &T.log[i];

		if (gran == VIOMMU_INV_GLOBAL ||
		    (e->did == did && (gran == VIOMMU_INV_DOMAIN || overlap(e->iova, e->size, addr, size))))
			T.log[i] = T.log[--T.nlog];
		else
			i++;
	}
	if (gran == VIOMMU_INV_GLOBAL)
		T.log_lost = false;
}

/* GPAs the nested path may reach for iova: -1 when the harness lost
 * track (a table full), else how many went to c[]. */
static int cands_nested(uint16_t sid, uint64_t iova, unsigned access, uint64_t *c)
{
	int k = 0;

	/* Shadow mode: the guest unit's second stage looks the source-id up
	 * on the host unit as it is (stage2_init_host), where the composer
	 * attached its devices under host source-ids (bus | 0x80). A guest
	 * request with one of those reaches whatever the composer attached
	 * there - an aliasing of the harness's wiring the VMM never builds
	 * (its stage 2 maps every device to the VM's domain): not judged. */
	if (T.shadow && dev_index(sid ^ 0x8000) >= 0)
		return -1;
	if (!viommu_translation_enabled(&S.v)) {
		/* Identity, then stage 2 with the device's own source-id. */
		if (dev_index(sid) >= 0 && iova < RAM_SIZE)
			c[k++] = iova;
		return k;
	}
	if (T.log_lost || T.ctx_lost)
		return -1;
	for (unsigned i = 0; i < T.nctx; i++) {
		if (T.ctx[i].sid != sid)
			continue;
		for (unsigned j = 0; j < T.nlog; j++) {
			const struct tlb_ent *e = &T.log[j];

			if (e->did != T.ctx[i].did || iova - e->iova >= e->size || (e->perm & access) != access)
				continue;
			if (k == NCAND)
				return -1;
			c[k++] = e->gpa + (iova - e->iova);
		}
	}
	return k;
}

/* ---- shadow: where devices go, what the composer built ---- */

static struct viommu_shadow_dom *shadow_dom_of(const struct ctx_ent *key)
{
	for (unsigned i = 0; i < T.sh.nr_doms; i++) {
		struct viommu_shadow_dom *sd = &T.sh.doms[i];

		if (sd->did == key->did && sd->slptptr == key->slptptr && sd->levels == key->levels)
			return sd;
	}
	return NULL;
}

static int cands_shadow(uint16_t sid, uint64_t iova, unsigned access, uint64_t *c)
{
	struct viommu_shadow_dom *sd;
	int d = dev_index(sid);
	uint64_t hpa;
	unsigned prot;

	if (d < 0 || T.tgt[d] == T_BLOCKED)
		return 0;
	if (T.tgt[d] == T_IDENTITY) {
		c[0] = iova;
		return iova < RAM_SIZE;
	}
	sd = shadow_dom_of(&T.tgt_ctx[d]);
	if (!sd || iommu_domain_iova_to_phys(sd->dom, iova, &hpa, &prot) || (prot & access) != access)
		return 0;
	c[0] = hpa - ram_hpa;
	return 1;
}

/* Every 4 KiB piece of [iova, iova + len) a DMA moved: a write stored it
 * at GPA gpa, a read (data) found those bytes at a GPA the reference
 * allows for the piece. */
static void check_moved(uint16_t sid, uint64_t iova, uint64_t len, uint64_t gpa, unsigned access,
			const uint8_t *data, bool shadow)
{
	while (len) {
		uint64_t n = min64(len, VTD_PAGE_SIZE - (iova & 0xfff)), c[NCAND];
		int k = shadow ? cands_shadow(sid, iova, access, c) : cands_nested(sid, iova, access, c);
		bool ok = k < 0;

		for (int i = 0; i < k && !ok; i++)
			ok = data ? c[i] < RAM_SIZE && n <= RAM_SIZE - c[i] && !memcmp(R.ram + c[i], data, n) :
				    c[i] == gpa;
		FZ_CHECK(ok, "%s %04x: %s of 0x%llx bytes at IOVA 0x%llx %s GPA 0x%llx; the reference "
			 "allows %d translation(s) there (first 0x%llx)", shadow ? "shadow" : "nested",
			 sid, access == IOPT_WRITE ? "write" : "read", (unsigned long long)n,
			 (unsigned long long)iova, data ? "did not come from" : "went to",
			 (unsigned long long)(data ? (k > 0 ? c[0] : 0) : gpa), k,
			 (unsigned long long)(k > 0 ? c[0] : 0));
		iova += n;
		len -= n;
		gpa += n;
		if (data)
			data += n;
	}
}

static void targets_update(void)
{
	bool te = viommu_translation_enabled(&S.v);

	for (unsigned d = 0; d < NDEV; d++) {
		struct vtd_context_info ci;

		if (!te) {
			T.tgt[d] = T_IDENTITY;
		} else if (vtd_context_lookup(viommu_unit(&S.v), dev_sids[d], &ci, NULL) ||
			   ci.tt != VTD_TT_TRANSLATED) {
			T.tgt[d] = T_BLOCKED;
		} else {
			T.tgt[d] = T_SHADOW;
			T.tgt_ctx[d] = (struct ctx_ent){
				.did = ci.did, .slptptr = ci.slptptr, .levels = ci.levels,
			};
		}
	}
}

static int collect_leaf(void *arg, uint64_t iova, uint64_t hpa, uint64_t size, unsigned prot)
{
	struct shadow_ref *r = arg;
	struct run *last = r->n ? &r->runs[r->n - 1] : NULL;

	if (last && last->iova + last->len == iova && last->hpa + last->len == hpa && last->prot == prot) {
		last->len += size;
		return 0;
	}
	if (r->n == NRUNS) {
		r->end = iova;
		return 1;
	}
	r->runs[r->n++] = (struct run){ .iova = iova, .hpa = hpa, .len = size, .prot = prot };
	return 0;
}

static const struct shadow_ref *ref_old(const struct viommu_shadow_dom *sd)
{
	for (unsigned i = 0; i < T.nref; i++) {
		const struct shadow_ref *r = &T.refs[T.cur][i];

		if (r->dom == sd->dom && r->did == sd->did && r->slptptr == sd->slptptr &&
		    r->levels == sd->levels)
			return r;
	}
	return NULL;
}

/* What a hook resynced of this shadow domain (viommu_shadow.c's rule). */
static void inv_range(const struct viommu_shadow_dom *sd, int gran, uint16_t did, uint64_t addr,
		      uint64_t size, uint64_t *lo, uint64_t *hi)
{
	uint64_t limit = 1ull << sd->aw_bits;

	*lo = *hi = 0;
	if (gran != VIOMMU_INV_GLOBAL && sd->did != did)
		return;
	if (gran != VIOMMU_INV_PAGE) {
		*hi = limit;
	} else if (size && addr < limit) {
		*lo = addr & VTD_PAGE_MASK;
		*hi = size > limit - addr ? limit : (addr + size + VTD_PAGE_SIZE - 1) & VTD_PAGE_MASK;
	}
}

/* The runs of r clipped to [from, to), one after the other. */
static bool clip_next(const struct shadow_ref *r, unsigned *i, uint64_t from, uint64_t to, struct run *out)
{
	while (*i < r->n) {
		const struct run *x = &r->runs[(*i)++];
		uint64_t a = max64(x->iova, from), b = min64(x->iova + x->len, to);

		if (a < b) {
			*out = (struct run){ .iova = a, .hpa = x->hpa + (a - x->iova), .len = b - a,
					     .prot = x->prot };
			return true;
		}
	}
	return false;
}

/* Inside what was resynced: exactly the guest's mapping now. */
static void verify_resynced(const struct viommu_shadow_dom *sd, const struct shadow_ref *r,
			    uint64_t lo, uint64_t hi)
{
	struct run x;
	unsigned i = 0;

	while (T.steps < VERIFY_STEPS && clip_next(r, &i, lo, min64(hi, r->end), &x)) {
		for (uint64_t p = x.iova; p < x.iova + x.len && T.steps < VERIFY_STEPS; T.steps++) {
			uint64_t hpa = x.hpa + (p - x.iova);
			struct leaf l;
			bool mapped = guest_walk(sd->slptptr, sd->levels, p, &l);
			uint64_t gpa = mapped ? l.gpa + (p - l.iova) : 0;

			FZ_CHECK(mapped && gpa < RAM_SIZE && hpa == ram_hpa + gpa && l.perm == x.prot,
				 "shadow of guest domain %u maps IOVA 0x%llx -> HPA 0x%llx (prot %u); the "
				 "guest's tables at 0x%llx say %s GPA 0x%llx (prot %u)", sd->did,
				 (unsigned long long)p, (unsigned long long)hpa, x.prot,
				 (unsigned long long)sd->slptptr, mapped ? "" : "nothing, not even",
				 (unsigned long long)gpa, mapped ? l.perm : 0);
			p = min64(x.iova + x.len, l.iova + l.size);
		}
	}
}

/* Outside it: what was there before the hook. */
static void verify_kept(const struct viommu_shadow_dom *sd, const struct shadow_ref *a,
			const struct shadow_ref *b, uint64_t from, uint64_t to)
{
	unsigned i = 0, j = 0;
	struct run x, y;

	to = min64(to, min64(a->end, b->end));
	for (;;) {
		bool gx = clip_next(a, &i, from, to, &x), gy = clip_next(b, &j, from, to, &y);

		if (!gx && !gy)
			return;
		FZ_CHECK(gx && gy && x.iova == y.iova && x.hpa == y.hpa && x.len == y.len && x.prot == y.prot,
			 "shadow of guest domain %u changed outside the invalidated range: IOVA 0x%llx "
			 "+0x%llx -> 0x%llx (prot %u) was IOVA 0x%llx +0x%llx -> 0x%llx (prot %u)",
			 sd->did, (unsigned long long)(gy ? y.iova : 0), (unsigned long long)(gy ? y.len : 0),
			 (unsigned long long)(gy ? y.hpa : 0), gy ? y.prot : 0,
			 (unsigned long long)(gx ? x.iova : 0), (unsigned long long)(gx ? x.len : 0),
			 (unsigned long long)(gx ? x.hpa : 0), gx ? x.prot : 0);
	}
}

/* After a hook: every shadow domain against the guest's tables and
 * against itself before (iotlb: the invalidation, else only new domains
 * were composed). */
static void shadow_verify(bool iotlb, int gran, uint16_t did, uint64_t addr, uint64_t size)
{
	unsigned next = !T.cur, n = 0;

	T.steps = 0;
	for (unsigned i = 0; i < T.sh.nr_doms && n < NREF; i++) {
		const struct viommu_shadow_dom *sd = &T.sh.doms[i];
		struct shadow_ref *r = &T.refs[next][n++];
		const struct shadow_ref *old = ref_old(sd);
		uint64_t limit = 1ull << sd->aw_bits, lo = 0, hi = limit;

		*r = (struct shadow_ref){ .dom = sd->dom, .did = sd->did, .slptptr = sd->slptptr,
					  .levels = sd->levels, .end = limit };
		iopt_walk(&sd->dom->pt, 0, limit, collect_leaf, r);
		if (old && iotlb)
			inv_range(sd, gran, did, addr, size, &lo, &hi);
		else if (old)
			hi = 0;
		verify_resynced(sd, r, lo, hi);
		if (old) {
			verify_kept(sd, old, r, 0, lo);
			verify_kept(sd, old, r, hi, limit);
		}
	}
	T.cur = next;
	T.nref = n;
}

/* ---- the hooks' two-stage side, setup, DMA ---- */

static void two_stage_iotlb(enum viommu_inv_gran gran, uint16_t did, uint64_t addr, uint64_t size)
{
	if (!T.on)
		return;
	log_invalidate(gran, did, addr, size);
	if (T.sh_ready) {
		viommu_shadow_iotlb_invalidated(&T.sh, (int)gran, did, addr, size);
		shadow_verify(true, (int)gran, did, addr, size);
	}
}

static void two_stage_pass_done(void)
{
	if (T.on && T.sh_ready)
		viommu_shadow_pass_done(&T.sh);
}

static void two_stage_ctx(void)
{
	struct viommu_stats st;

	if (!T.on)
		return;
	/* Only a global context invalidation is sure to empty the unit's
	 * context cache; contexts it may still hold stay candidates. */
	viommu_stats_get(&S.v, &st);
	if (st.inv_context_global != T.cc_global_seen) {
		T.cc_global_seen = st.inv_context_global;
		T.nctx = 0;
		T.ctx_lost = false;
	}
	if (T.sh_ready) {
		viommu_shadow_context_changed(&T.sh);
		targets_update();
		shadow_verify(false, 0, 0, 0, 0);
	}
}

static int leaf_size(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	*(uint64_t *)arg = size;
	return 1;
}

/* The host unit and the VM's domain over its RAM, the guest unit's stage
 * 2 through them. host4k: the RAM in 4 KiB pages rather than as the VMM
 * maps it, so combined entries stay 4 KiB. */
static void two_stage_init(bool shadow, bool host4k)
{
	struct iommu_cfg hc = { .iotlb_sets = 64, .nr_fault_records = 16 };
	int ret;

	memset(&T, 0, offsetof(__typeof__(T), refs));
	T.nref = 0;
	T.on = true;
	T.shadow = shadow;
	ret = iommu_init(&T.mmu, &R.arena, &hc);
	FZ_CHECK(ret == 0, "iommu_init: %d", ret);
	ret = iommu_domain_create(&T.mmu, FZ_VM_ID, 48, &T.vm);
	FZ_CHECK(ret == 0, "iommu_domain_create: %d", ret);
	if (host4k) {
		for (uint64_t g = 0; g < RAM_SIZE && !ret; g += VTD_PAGE_SIZE)
			ret = iommu_domain_map(T.vm, g, ram_hpa + g, VTD_PAGE_SIZE, IOPT_RW);
	} else {
		ret = iommu_domain_map_gmem(T.vm, &R.gmem);
	}
	FZ_CHECK(ret == 0, "mapping the VM's RAM: %d", ret);
	iopt_walk(&T.vm->pt, 0, RAM_SIZE, leaf_size, &T.host_page);
	/* Stage 2 looks a device up by its own source-id (stage2_init_host):
	 * the devices are on the VM's domain, as nested mode attaches them. */
	for (unsigned d = 0; d < NDEV; d++) {
		ret = iommu_domain_attach(T.vm, dev_sids[d], 0);
		FZ_CHECK(ret == 0, "attach %04x: %d", dev_sids[d], ret);
	}
	stage2_init_host(&S.s2, &T.mmu);
}

/* Once the guest unit exists: the composer, each device added under its
 * host source-id. tight: budgets small enough to run out. */
static void two_stage_shadow_init(bool tight)
{
	struct viommu_shadow_cfg sc = {
		.guest = viommu_unit(&S.v), .host = &T.mmu, .gmem = &R.gmem, .vm_id = FZ_VM_ID,
		.identity = T.vm, .max_entries = tight ? 3000 : SHADOW_ENTRIES,
		.max_tables = tight ? 6 : 0, .passes = true,
	};
	int ret = viommu_shadow_init(&T.sh, &sc);

	FZ_CHECK(ret == 0, "viommu_shadow_init: %d", ret);
	for (unsigned d = 0; d < NDEV; d++) {
		ret = viommu_shadow_add_device(&T.sh, dev_sids[d], HOST_SID(dev_sids[d]));
		FZ_CHECK(ret == 0, "viommu_shadow_add_device %04x: %d", dev_sids[d], ret);
	}
	T.sh_ready = true;
	targets_update();
	shadow_verify(false, 0, 0, 0, 0);
}

static void two_stage_reset(void)
{
	T.nlog = T.nctx = 0;
	T.log_lost = T.ctx_lost = false;
}

/* A chunk a two-stage DMA wrote; then the pages still to come are what
 * the unit translates next, with the tables as this chunk left them. */
static void two_stage_written(uint64_t iova, uint64_t hpa, uint64_t len)
{
	uint64_t done = iova + len - T.dma_iova;

	if (!T.on || !T.dma_access)
		return;
	check_moved(T.dma_sid, iova, len, hpa - ram_hpa, IOPT_WRITE, NULL, T.shadow);
	if (done < T.dma_len)
		sample_span(T.dma_sid, iova + len, T.dma_len - done);
}

static void two_stage_dma(uint16_t sid, uint64_t iova, bool write, size_t len)
{
	unsigned access = write ? IOPT_WRITE : IOPT_READ;
	uint64_t c[NCAND], stop;
	struct dma_as as;
	ssize_t n;

	if (T.shadow)
		dma_as_init_shadow(&as, &T.mmu.unit, dev_index(sid) >= 0 ? HOST_SID(sid) : NO_HOST_SID,
				   viommu_unit(&S.v), sid, &R.arena);
	else
		dma_as_init_nested(&as, viommu_unit(&S.v), &T.mmu.unit, &R.arena, sid);
	dma_as_set_dirty_hook(&as, dma_written, NULL);
	T.dma_sid = sid;
	T.dma_iova = iova;
	T.dma_len = len;
	T.dma_access = access;
	sample_span(sid, iova, len);
	n = write ? dma_write(&as, iova, dma_buf, len) : dma_read(&as, iova, dma_buf, len);
	T.dma_access = 0;
	FZ_CHECK(n == -EFAULT || (n > 0 && n <= (ssize_t)len), "DMA of %zu bytes: %zd", len, n);
	if (!write && n > 0)
		check_moved(sid, iova, (uint64_t)n, 0, IOPT_READ, dma_buf, T.shadow);
	/* Shadow is exact the other way too: a page the device's host domain
	 * maps does not stop a transfer. */
	stop = iova + (n > 0 ? (uint64_t)n : 0);
	if (T.shadow && n < (ssize_t)len && stop >= iova)
		FZ_CHECK(cands_shadow(sid, stop, access, c) == 0, "shadow %04x: %s stopped at IOVA "
			 "0x%llx, which its host domain maps to GPA 0x%llx", sid, write ? "write" : "read",
			 (unsigned long long)stop, (unsigned long long)c[0]);
	if (trace)
		fprintf(fz_err(), "  %s DMA %04x IOVA 0x%llx %s 0x%zx: %zd\n", T.shadow ? "shadow" : "nested",
			sid, (unsigned long long)iova, write ? "write" : "read", len, n);
}

static void two_stage_fini(void)
{
	if (T.sh_ready)
		viommu_shadow_destroy(&T.sh);
	T.sh_ready = false;
}

/* ---- Operations that need more than a few lines ---- */

static const uint32_t regs32[] = {
	VTD_REG_GCMD, VTD_REG_FSTS, VTD_REG_FECTL, VTD_REG_FEDATA, VTD_REG_FEADDR, VTD_REG_FEUADDR,
	VTD_REG_ICS, VTD_REG_IECTL, VTD_REG_IEDATA, VTD_REG_IEADDR, VTD_REG_IEUADDR, VTD_REG_PMEN,
	VTD_REG_VER, VTD_REG_GSTS, VTD_REG_CCMD + 4, REG_IOTLB + 4, VTD_REG_IQT, VTD_REG_IQA,
	VTD_REG_IRTA, VTD_REG_RTADDR, FRCD(0) + 12, FRCD(1) + 12, REG_IVA, VTD_REG_CAP + 4,
};

static const uint32_t regs64[] = {
	VTD_REG_CAP, VTD_REG_ECAP, VTD_REG_RTADDR, VTD_REG_CCMD, VTD_REG_IQH, VTD_REG_IQT,
	VTD_REG_IQA, VTD_REG_IQERCD, VTD_REG_IRTA, REG_IVA, REG_IOTLB, FRCD(0), FRCD(0) + 8,
	FRCD(7) + 8, VTD_REG_AFLOG, 0x30, 0x38, 0x98,
};

/* Classifies a register write the model accepts (4 or 8 bytes, aligned;
 * an 8-byte one of two 32-bit registers writes both) for the event rules. */
static void classify(uint64_t off, unsigned len, uint64_t v, struct op_kind *k)
{
	if (overlap(off, len, VTD_REG_FSTS, 4) || overlap(off, len, VTD_REG_FECTL, 4) ||
	    overlap(off, len, VIOMMU_FRCD_OFFSET, VIOMMU_NR_FAULT_RECORDS * VTD_FRCD_SIZE))
		k->fault_regs = true;
	if (overlap(off, len, VTD_REG_ICS, 4) || overlap(off, len, VTD_REG_IECTL, 4))
		k->comp_regs = true;
	/* Both are 8-aligned: an 8-byte write at them starts there. */
	if (off == VTD_REG_FECTL) {
		k->fectl_written = true;
		k->fectl_val = (uint32_t)v;
	}
	if (off == VTD_REG_IECTL) {
		k->iectl_written = true;
		k->iectl_val = (uint32_t)v;
	}
}

/* A register write the way the input wants it; one the model must refuse
 * (another width, misaligned) changes nothing and needs no classifying. */
static void reg_write(uint64_t off, uint64_t v, unsigned len, struct op_kind *k)
{
	if ((len == 4 || len == 8) && !(off & (len - 1)))
		classify(off, len, v, k);
	wr(off, v, len);
}

/* Table entries in guest RAM: root, context, second level. */
static void op_table(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t at, lo, hi;

	switch (m & 3) {
	case 0: {                               /* root entry */
		unsigned bus = m & 0x80 ? fz_u8(f) : (m >> 2) & 1;

		at = G_ROOT + bus * 16ull;
		lo = m & 0x40 ? fz_value64(f) : vtd_root_entry_lo(G_CTX((m >> 2) & 1));
		hi = m & 0x20 ? fz_value64(f) : 0;
		put64(at + 8, hi);
		put64(at, lo);
		break;
	}
	case 1: {                               /* context entry */
		uint8_t devfn = fz_u8(f), t = fz_u8(f);
		uint16_t did = m & 0x80 ? fz_u16(f) : (uint16_t)(fz_u8(f) & 7);
		unsigned aw = t & 0x40 ? (t >> 4) & 3 : ((t >> 4) & 1) + 1;

		at = G_CTX((m >> 2) & 1) + devfn * 16ull;
		/* t: bits 3:0 the top table, 4 AW 48, 6 any AW, 6 and 5 pass-through, 7 FPD */
		lo = vtd_ctx_entry_lo(G_POOL(t & 15), (enum vtd_tt)(t >> 6 & t >> 5 & 1 ? 2 : 0), t & 0x80);
		hi = vtd_ctx_entry_hi(did, aw);
		if (m & 0x40)
			lo = fz_value64(f);
		if (m & 0x20)
			hi = fz_value64(f);
		put64(at + 8, hi);
		put64(at, lo);
		break;
	}
	case 2: {                               /* second-level entry */
		unsigned page = (m >> 2) & (NPOOL - 1), idx = m & 0x80 ? fz_u16(f) & 511 : fz_u8(f);
		uint8_t how = fz_u8(f);
		uint64_t perm = how & 3;

		switch ((how >> 2) & 3) {
		case 0:                         /* next-level table */
			lo = G_POOL(fz_u8(f) % NPOOL) | VTD_SL_R | VTD_SL_W;
			break;
		case 1:                         /* 4K leaf */
			lo = pick_gpa(f) | perm;
			break;
		case 2:                         /* superpage */
			lo = pick_gpa(f) | perm | VTD_SL_PS;
			break;
		default:
			lo = fz_value64(f);
			break;
		}
		put64(G_POOL(page) + idx * 8ull, lo);
		break;
	}
	default: {                              /* an interrupt-remapping table entry */
		unsigned idx = m & 0x80 ? fz_u16(f) : fz_u8(f);
		uint8_t a = fz_u8(f), b = fz_u8(f), vector = fz_u8(f), dest = fz_u8(f);

		lo = VTD_IRTE_P * (a & 1) | VTD_IRTE_FPD * (a >> 1 & 1) | VTD_IRTE_DM * (a >> 2 & 1) |
		     VTD_IRTE_RH * (a >> 3 & 1) | VTD_IRTE_TM * (a >> 4 & 1) |
		     (uint64_t)(a >> 5) << VTD_IRTE_DLM_SHIFT | (uint64_t)vector << VTD_IRTE_V_SHIFT |
		     (uint64_t)dest << VTD_IRTE_DST_XAPIC_SHIFT;
		hi = (uint64_t)(b & 3) << VTD_IRTE_SVT_SHIFT | (uint64_t)(b >> 2 & 3) << VTD_IRTE_SQ_SHIFT |
		     (b & 0x10 ? fz_u16(f) : VTD_SID(0, 3, 0));
		if (m & 0x40)
			lo = fz_value64(f);
		if (m & 0x20)
			hi = fz_value64(f);
		at = G_IRT + idx * 16ull;
		put64(at, lo);
		put64(at + 8, hi);
		break;
	}
	}
}

/* An invalidation descriptor at the driver's tail, reps times (a queue
 * filled up to its wrap). */
static void op_qi_put(struct fz *f, unsigned reps)
{
	uint8_t m = fz_u8(f);
	uint64_t lo, hi = 0, base = r64(VTD_REG_IQA) & VTD_PAGE_MASK;

	switch (m % 5) {
	case 0: {                               /* context cache */
		uint8_t did = fz_u8(f);
		uint16_t sid = pick_sid(f);

		lo = VTD_QI_CC | (uint64_t)(1 + (m >> 3) % 3) << VTD_QI_G_SHIFT |
		     (uint64_t)did << VTD_QI_CC_DID_SHIFT | (uint64_t)sid << VTD_QI_CC_SID_SHIFT |
		     (uint64_t)(m >> 6 & 3) << VTD_QI_CC_FM_SHIFT;
		break;
	}
	case 1: {                               /* IOTLB */
		uint8_t did = fz_u8(f);
		uint64_t iova = pick_iova(f);

		lo = VTD_QI_IOTLB | (uint64_t)(1 + (m >> 3) % 3) << VTD_QI_G_SHIFT |
		     (uint64_t)did << VTD_QI_IOTLB_DID_SHIFT | (m & 0x40 ? VTD_QI_IOTLB_DR : 0) |
		     (m & 0x80 ? VTD_QI_IOTLB_DW : 0);
		hi = (iova & VTD_PAGE_MASK) | (fz_u8(f) & 0x7f);
		break;
	}
	case 2:                                 /* interrupt entry cache */
		lo = VTD_QI_IEC | (m & 8 ? VTD_QI_IEC_INDEX : 0) |
		     (uint64_t)fz_u16(f) << VTD_QI_IEC_IIDX_SHIFT | (uint64_t)(m >> 4 & 7) << VTD_QI_IEC_IM_SHIFT;
		break;
	case 3: {                               /* invalidation wait */
		uint8_t w = fz_u8(f);
		uint32_t sdata = fz_u32(f);

		lo = VTD_QI_WAIT | (w & 1 ? VTD_QI_WAIT_SW : 0) | (w & 2 ? VTD_QI_WAIT_IF : 0) |
		     (w & 4 ? VTD_QI_WAIT_FN : 0) | (uint64_t)sdata << VTD_QI_WAIT_SDATA_SHIFT;
		hi = w & 8 ? fz_value64(f) : G_STATUS + (fz_u8(f) & 0xfc);
		break;
	}
	default:
		lo = fz_value64(f);
		hi = fz_value64(f);
		break;
	}
	if (m & 0x80 && m % 5 != 1)             /* a reserved bit, now and then */
		lo |= 1ull << (fz_u8(f) & 63);
	for (unsigned i = 0; i < reps; i++) {
		put64(base + S.qtail, lo);
		put64(base + S.qtail + 8, hi);
		S.qtail = (S.qtail + VTD_QI_DESC_SIZE) % qsize();
	}
}

/* Publishes the tail. If the descriptor right before it is a well-formed
 * wait with a status write into RAM and the whole queue gets processed,
 * the status word must hold its data afterwards (it ran last). */
static void op_qi_commit(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t size = qsize(), base = r64(VTD_REG_IQA) & VTD_PAGE_MASK;
	uint64_t tail = m & 1 ? fz_value64(f) & 0x7fff0 : S.qtail;
	uint64_t last = base + (tail + size - VTD_QI_DESC_SIZE) % size, lo = 0, hi = 0, before;
	uint32_t *status = NULL, data = 0;

	if (gp64(last) && gp64(last + 8)) {
		lo = *gp64(last);
		hi = *gp64(last + 8);
	}
	if (VTD_QI_TYPE(lo) == VTD_QI_WAIT && (lo & VTD_QI_WAIT_SW) &&
	    !(lo & VTD_QI_WAIT_RSVD_LO) && !(hi & VTD_QI_WAIT_RSVD_HI) && gp64(hi & ~7ull)) {
		status = (uint32_t *)(R.ram + hi);
		data = (uint32_t)(lo >> VTD_QI_WAIT_SDATA_SHIFT);
	}
	before = r64(VTD_REG_IQH);
	wr(VTD_REG_IQT, tail, m & 2 ? 4 : 8);
	if (status && before != tail && r64(VTD_REG_IQH) == tail &&
	    !(r32(VTD_REG_FSTS) & VTD_FSTS_IQE) && (r32(VTD_REG_GSTS) & VTD_GSTS_QIES))
		FZ_CHECK(*status == data, "wait status at 0x%llx reads 0x%x, descriptor said 0x%x",
			 (unsigned long long)hi, *status, data);
}

/* Register-based invalidation as a driver issues it: the command must
 * show complete when the write returns, and its hook must have run while
 * it still showed busy (header: hooks before completion). */
static void op_reg_inv(struct fz *f, uint8_t m)
{
	uint64_t gran = 1 + (m >> 2) % 3, v;

	if (m & 2) {
		uint64_t iova = pick_iova(f);

		wr(REG_IVA, (iova & VTD_PAGE_MASK) | (fz_u8(f) & 0x7f), 8);
		v = VTD_IOTLB_IVT | gran << VTD_IOTLB_IIRG_SHIFT | (uint64_t)fz_u8(f) << VTD_IOTLB_DID_SHIFT |
		    (m & 0x80 ? VTD_IOTLB_DR | VTD_IOTLB_DW : 0);
		S.iotlb_hooks = 0;
		if (m & 0x40) {         /* as two halves: IVT is in the upper one */
			wr(REG_IOTLB, (uint32_t)v, 4);
			wr(REG_IOTLB + 4, v >> 32, 4);
		} else {
			wr(REG_IOTLB, v, 8);
		}
		FZ_CHECK(!(r64(REG_IOTLB) & VTD_IOTLB_IVT), "IOTLB_REG.IVT still set");
		if (S.iotlb_hooks)
			FZ_CHECK(S.ivt_busy_at_hook, "IOTLB hook ran after IVT cleared");
	} else {
		uint8_t did = fz_u8(f);
		uint16_t sid = pick_sid(f);

		S.ctx_hooks = 0;
		wr(VTD_REG_CCMD, VTD_CCMD_ICC | gran << VTD_CCMD_CIRG_SHIFT | did |
		   (uint64_t)sid << VTD_CCMD_SID_SHIFT | (uint64_t)(m >> 4 & 3) << VTD_CCMD_FM_SHIFT, 8);
		FZ_CHECK(!(r64(VTD_REG_CCMD) & VTD_CCMD_ICC), "CCMD.ICC still set");
		if (S.ctx_hooks)
			FZ_CHECK(S.ccmd_busy_at_hook, "context hook ran after ICC cleared");
	}
}

/* The driver's fault handler, one step of it. */
static void op_fault_handler(struct fz *f, uint8_t m, struct op_kind *k)
{
	uint32_t fsts = r32(VTD_REG_FSTS);
	unsigned fri = fsts >> VTD_FSTS_FRI_SHIFT & 0xff;
	uint32_t v;

	switch (m % 6) {
	case 0:                                 /* clear the record FRI names */
		(void)r64(FRCD(fri % VIOMMU_NR_FAULT_RECORDS));
		reg_write(FRCD(fri % VIOMMU_NR_FAULT_RECORDS) + 12, 0x80000000u, 4, k);
		break;
	case 1:                                 /* clear every record */
		for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS; i++)
			reg_write(FRCD(i) + 8, VTD_FRCD_HI_F, 8, k);
		break;
	case 2:                                 /* FSTS: write back what is set */
		reg_write(VTD_REG_FSTS, m & 0x80 ? fz_u32(f) : fsts, 4, k);
		break;
	case 3:                                 /* FECTL: mask / unmask */
		v = m & 0x80 ? VTD_EVCTL_IM : 0;
		reg_write(VTD_REG_FECTL, v, 4, k);
		break;
	case 4:                                 /* ICS: clear IWC */
		reg_write(VTD_REG_ICS, VTD_ICS_IWC, 4, k);
		break;
	default:                                /* IECTL: mask / unmask */
		v = m & 0x80 ? VTD_EVCTL_IM : 0;
		reg_write(VTD_REG_IECTL, v, 4, k);
		break;
	}
}

/* ---- The harness ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	fz_ram_init(&R, RAM_SIZE);
	ram_hpa = R.gmem.ranges[0].hpa;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct viommu_cfg cfg;
	struct snap after;
	struct fz f;
	uint8_t b;
	int ret;

	fz_init(&f, data, size);
	b = fz_u8(&f);
	memset(R.ram, 0, RAM_SIZE);
	memset(&S, 0, sizeof(S));
	FZ_CHECK(bus_init(&S.mmio, "mmio") == 0, "bus");
	T.on = false;
	if (b & 8)
		two_stage_init(b & 1, b & 4);
	else
		stage2_init_gmem(&S.s2, &S.s2g, &R.gmem);
	cfg = (struct viommu_cfg){
		.mode = b & 1 ? VIOMMU_MODE_SHADOW : VIOMMU_MODE_NESTED, .gmem = &R.gmem,
		.msi = &msi, .ioapic_sid = IOAPIC_SID, .mgaw = b & 2 ? 39 : 48, .stage2 = &S.s2,
		.hooks = b & 4 && !(b & 8) ? NULL : &hooks,
	};
	ret = viommu_init(&S.v, &cfg);
	FZ_CHECK(ret == 0, "viommu_init: %d", ret);
	ret = viommu_attach(&S.v, &S.mmio, BASE);
	FZ_CHECK(ret == 0, "viommu_attach: %d", ret);
	if (b & 8 && b & 1)
		two_stage_shadow_init(b & 4);

	/* Nothing runs between operations: the state after one is the state
	 * before the next. */
	take_snap(&after);
	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		struct op_kind k = { 0 };
		struct snap before = after;
		uint8_t o = fz_u8(&f);

		switch (o % 16) {
		case 0: {                       /* 32-bit register write */
			uint8_t m = fz_u8(&f);
			uint64_t off = m & 0x80 ? fz_u16(&f) & 0xffc : regs32[m % (sizeof(regs32) / 4)];

			reg_write(off, (uint32_t)pick_value(&f), 4, &k);
			break;
		}
		case 1: {                       /* 64-bit register write */
			uint8_t m = fz_u8(&f);
			uint64_t off = m & 0x80 ? fz_u16(&f) & 0xff8 : regs64[m % (sizeof(regs64) / 4)];

			reg_write(off, pick_value(&f), 8, &k);
			break;
		}
		case 2: {                       /* a read, or an access of any width / alignment */
			uint8_t m = fz_u8(&f);
			uint64_t off = fz_u16(&f) & 0xfff;
			unsigned len = 1u << (m & 3);

			if (m & 0x80)
				reg_write(off, pick_value(&f), len, &k);
			else
				(void)rd(off, len);
			break;
		}
		case 3: {                       /* GCMD, one bit changed */
			static const uint32_t bits[] = {
				VTD_GCMD_SRTP, VTD_GCMD_TE, VTD_GCMD_QIE, VTD_GCMD_SIRTP, VTD_GCMD_IRE,
				VTD_GCMD_CFI, VTD_GCMD_WBF, VTD_GCMD_SFL,
			};
			uint8_t m = fz_u8(&f);

			gcmd(bits[m % 8], m & 0x80 ? false : true);
			break;
		}
		case 4: case 5:                 /* table entries in guest RAM */
			op_table(&f);
			break;
		case 6: {                       /* root table latched, translation on */
			uint8_t m = fz_u8(&f);

			wr(VTD_REG_RTADDR, m & 1 ? fz_value64(&f) : G_ROOT, 8);
			gcmd(VTD_GCMD_SRTP, true);
			if (m & 2) {
				wr(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_GLOBAL << VTD_CCMD_CIRG_SHIFT, 8);
				wr(REG_IOTLB, VTD_IOTLB_IVT | (uint64_t)VTD_IOTLB_GLOBAL << VTD_IOTLB_IIRG_SHIFT, 8);
			}
			if (!(m & 4))
				gcmd(VTD_GCMD_TE, true);
			break;
		}
		case 7: {                       /* a device request */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f);
			unsigned req = fz_u8(&f) & 0xf;
			bool te = viommu_translation_enabled(&S.v);
			struct vtd_fault_stats f0;
			struct vtd_xlate x;

			vtd_fault_stats_get(viommu_unit(&S.v), &f0);
			memset(&x, 0, sizeof(x));
			if (T.on)
				sample(sid, iova & VTD_PAGE_MASK);
			ret = vtd_translate(viommu_unit(&S.v), sid, iova, req, &x);
			check_xlate(sid, iova, req, ret, &x, te, &f0);
			if (T.on && ret == 0)
				check_moved(sid, iova, 1, x.addr - ram_hpa, req & IOPT_RW, NULL, false);
			break;
		}
		case 8: {                       /* DMA through the unit */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f);
			uint8_t m = fz_u8(&f);
			size_t len = 1 + fz_u16(&f) % MAX_DMA;
			struct dma_as as;
			ssize_t n;

			if (T.on) {             /* the VMM's path for a device behind the vIOMMU */
				if (m & 1)
					memset(dma_buf, m, len);
				two_stage_dma(sid, iova, m & 1, len);
				break;
			}
			dma_as_init_vtd(&as, viommu_unit(&S.v), &R.arena, sid);
			dma_as_set_dirty_hook(&as, dma_written, NULL);
			if (m & 1) {
				memset(dma_buf, m, len);
				n = dma_write(&as, iova, dma_buf, len);
			} else {
				n = dma_read(&as, iova, dma_buf, len);
			}
			FZ_CHECK(n == -EFAULT || (n > 0 && n <= (ssize_t)len), "DMA of %zu bytes: %zd",
				 len, n);
			break;
		}
		case 9:                         /* the opcode's upper bits: a run of them */
			op_qi_put(&f, o >> 4 ? (o >> 4) * 17u : 1);
			break;
		case 10:
			op_qi_commit(&f);
			break;
		case 11: {                      /* queued invalidation on */
			uint8_t m = fz_u8(&f);

			wr(VTD_REG_IQT, 0, 8);
			wr(VTD_REG_IQA, m & 0x80 ? fz_value64(&f) : G_IQ | (m & 7), 8);
			gcmd(VTD_GCMD_QIE, true);
			S.qtail = 0;
			break;
		}
		case 12: {                      /* interrupt remapping on */
			uint8_t m = fz_u8(&f);

			wr(VTD_REG_IRTA, m & 0x80 ? fz_value64(&f) : G_IRT | (m & 0xf), 8);
			gcmd(VTD_GCMD_SIRTP, true);
			if (m & 0x10)
				gcmd(VTD_GCMD_CFI, true);
			if (!(m & 0x20))
				gcmd(VTD_GCMD_IRE, true);
			break;
		}
		case 13: {                      /* an MSI to remap */
			uint16_t sid = pick_sid(&f);
			uint8_t m = fz_u8(&f);
			uint64_t addr;
			uint32_t val;
			bool ire = r32(VTD_REG_GSTS) & VTD_GSTS_IRES;
			struct vtd_fault_stats f0, f1;
			struct viommu_irq out = { 0 }, look = { 0 };
			struct viommu_stats st0, st1;
			int lret;

			switch (m & 3) {
			case 0: {                       /* remappable: handle, SHV, handle[15] */
				uint16_t h = fz_u16(&f);

				addr = VTD_MSI_ADDR_BASE | VTD_MSI_ADDR_IRF |
				       (uint64_t)(h & 0x7fff) << VTD_MSI_ADDR_HANDLE_SHIFT |
				       (h & 0x8000 ? VTD_MSI_ADDR_HANDLE15 : 0) | (m & 4 ? VTD_MSI_ADDR_SHV : 0);
				break;
			}
			case 1:                         /* compatibility format */
				addr = VTD_MSI_ADDR_BASE | (uint64_t)fz_u8(&f) << VTD_MSI_ADDR_DEST_SHIFT |
				       (m & 0xc);
				break;
			case 2:
				addr = VTD_MSI_ADDR_BASE | (fz_u32(&f) & 0xfffff);
				break;
			default:
				addr = fz_value64(&f);
				break;
			}
			val = m & 0x80 ? fz_u32(&f) : fz_u16(&f);
			/* The side-effect free lookup first: same answer, nothing
			 * recorded or counted. */
			vtd_fault_stats_get(viommu_unit(&S.v), &f0);
			viommu_stats_get(&S.v, &st0);
			lret = viommu_irq_lookup(&S.v, sid, addr, val, &look);
			vtd_fault_stats_get(viommu_unit(&S.v), &f1);
			viommu_stats_get(&S.v, &st1);
			FZ_CHECK(f1.total == f0.total && !memcmp(&st0, &st1, sizeof(st0)),
				 "viommu_irq_lookup raised a fault or counted");
			ret = viommu_irq_remap(&S.v, sid, addr, val, &out);
			vtd_fault_stats_get(viommu_unit(&S.v), &f1);
			FZ_CHECK(lret == ret && (ret || (look.addr == out.addr && look.data == out.data)),
				 "lookup %d 0x%llx/0x%x, remap %d 0x%llx/0x%x", lret,
				 (unsigned long long)look.addr, look.data, ret, (unsigned long long)out.addr,
				 out.data);
			if (!ire) {
				FZ_CHECK(ret == 0 && out.addr == addr && out.data == val,
					 "remapping off: 0x%llx/0x%x -> %d 0x%llx/0x%x",
					 (unsigned long long)addr, val, ret, (unsigned long long)out.addr,
					 out.data);
			} else if (ret == 0) {
				FZ_CHECK(out.addr >= VTD_INTERRUPT_ADDR_FIRST &&
					 out.addr <= VTD_INTERRUPT_ADDR_LAST && !(out.addr & VTD_MSI_ADDR_IRF),
					 "%04x: 0x%llx/0x%x remapped to 0x%llx/0x%x", sid,
					 (unsigned long long)addr, val, (unsigned long long)out.addr, out.data);
				if (addr & VTD_MSI_ADDR_IRF)
					FZ_CHECK(!(out.data >> 16), "remapped data 0x%x", out.data);
			} else {
				FZ_CHECK(ret == -EPERM && f1.total == f0.total + 1,
					 "blocked (%d) with %llu faults raised", ret,
					 (unsigned long long)(f1.total - f0.total));
			}
			if (ret == 0)
				FZ_CHECK(f1.total == f0.total, "delivered, and a fault raised");
			break;
		}
		case 14: {                      /* raw bytes anywhere in RAM, or invalidations */
			uint8_t m = fz_u8(&f);

			if (m & 1) {
				op_reg_inv(&f, m);
			} else {
				uint64_t at = ((uint64_t)fz_u16(&f) << 5) % RAM_SIZE;
				size_t len = fz_u8(&f);

				if (len > RAM_SIZE - at)
					len = RAM_SIZE - at;
				fz_bytes(&f, R.ram + at, len);
			}
			break;
		}
		default: {                      /* the fault handler, or a reset */
			uint8_t m = fz_u8(&f);

			if (m == 0xff) {
				viommu_reset(&S.v);
				two_stage_reset();
				S.qtail = 0;
				FZ_CHECK(r32(VTD_REG_GSTS) == 0 && r64(VTD_REG_IQH) == 0 &&
					 !(r32(VTD_REG_FSTS) & FSTS_COND), "after reset: GSTS 0x%x FSTS 0x%x",
					 r32(VTD_REG_GSTS), r32(VTD_REG_FSTS));
			} else {
				op_fault_handler(&f, m, &k);
			}
			break;
		}
		}
		take_snap(&after);
		check_unit(&before, &after, &k);
		if (trace)
			fprintf(fz_err(), "op %u (%u): GSTS 0x%08x FSTS 0x%08x FECTL 0x%08x ICS %u "
				"IQH 0x%llx IQT 0x%llx IQA 0x%llx, %llu faults, %llu events, %llu qi "
				"descriptors, %llu irq remapped\n", op, o % 16, after.gsts, after.fsts,
				after.fectl, after.ics, (unsigned long long)after.iqh,
				(unsigned long long)after.iqt, (unsigned long long)after.iqa,
				(unsigned long long)after.fs.total,
				(unsigned long long)after.st.fault_events,
				(unsigned long long)after.st.qi_descriptors,
				(unsigned long long)after.st.ir_remapped);
	}
	two_stage_fini();
	viommu_destroy(&S.v);
	if (T.on)
		iommu_destroy(&T.mmu);
	FZ_CHECK(S.mmio.nr == 0, "ranges left on the bus");
	bus_destroy(&S.mmio);
	fz_ram_check(&R);
	return 0;
}
