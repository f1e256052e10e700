/* VT-d remapping unit: capabilities, root/context entry decoding, and the
 * translation path. Caches live in vtd_cache.c, the fault log in
 * vtd_fault.c, access draining in vtd_drain.c. */
#include "iommu/vtd_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const fault_reason_names[] = {
	[VTD_FR_NONE]               = "no fault",
	[VTD_FR_ROOT_ENTRY_P]       = "root entry not present",
	[VTD_FR_CONTEXT_ENTRY_P]    = "context entry not present",
	[VTD_FR_CONTEXT_ENTRY_INV]  = "invalid context entry",
	[VTD_FR_ADDR_BEYOND_MGAW]   = "address beyond the address width",
	[VTD_FR_WRITE]              = "write denied",
	[VTD_FR_READ]               = "read denied",
	[VTD_FR_PAGING_ENTRY_INV]   = "second-level table access failed",
	[VTD_FR_ROOT_TABLE_INV]     = "root table access failed",
	[VTD_FR_CONTEXT_TABLE_INV]  = "context table access failed",
	[VTD_FR_ROOT_ENTRY_RSVD]    = "reserved bit in root entry",
	[VTD_FR_CONTEXT_ENTRY_RSVD] = "reserved bit in context entry",
	[VTD_FR_PAGING_ENTRY_RSVD]  = "reserved bit in second-level entry",
	[VTD_FR_CONTEXT_ENTRY_TT]   = "translated request blocked by TT",
	[VTD_FR_INTERRUPT_ADDR]     = "output address in interrupt range",
};

const char *vtd_fault_reason_str(unsigned reason)
{
	if (reason < sizeof(fault_reason_names) / sizeof(fault_reason_names[0]) &&
	    fault_reason_names[reason])
		return fault_reason_names[reason];
	return "unknown fault reason";
}

void vtd_caps_default(struct vtd_caps *c)
{
	c->haw = 46;
	c->mgaw = 48;
	c->sagaw = 1u << VTD_AW_39BIT | 1u << VTD_AW_48BIT;
	c->sp_2m = true;
	c->sp_1g = true;
	c->nd = 4;
	c->mamv = 18;
	c->nr_fault_records = VTD_DEFAULT_FAULT_RECORDS;
}

static bool is_pow2(unsigned v) { return v && !(v & (v - 1)); }

static bool caps_all_zero(const struct vtd_caps *c)
{
	return !c->haw && !c->mgaw && !c->sagaw && !c->sp_2m && !c->sp_1g && !c->nd && !c->mamv &&
	       !c->nr_fault_records;
}

int vtd_unit_init(struct vtd_unit *u, const struct vtd_unit_cfg *cfg)
{
	struct vtd_caps def;
	int ret = -ENOMEM;

	memset(u, 0, sizeof(*u));
	vtd_caps_default(&def);
	/* All-zero caps: the defaults. Otherwise as given, with zero numeric
	 * fields defaulted (the superpage flags are taken as they are). */
	u->caps = caps_all_zero(&cfg->caps) ? def : cfg->caps;
	if (!u->caps.haw)
		u->caps.haw = def.haw;
	if (!u->caps.mgaw)
		u->caps.mgaw = def.mgaw;
	if (!u->caps.sagaw)
		u->caps.sagaw = def.sagaw;
	if (!u->caps.nd)
		u->caps.nd = def.nd;
	if (!u->caps.mamv)
		u->caps.mamv = def.mamv;
	if (!u->caps.nr_fault_records)
		u->caps.nr_fault_records = def.nr_fault_records;
	u->iotlb_sets = cfg->iotlb_sets ? cfg->iotlb_sets : VTD_DEFAULT_IOTLB_SETS;
	u->cc_entries = cfg->cc_entries ? cfg->cc_entries : VTD_DEFAULT_CC_ENTRIES;
	if (u->caps.haw < 32 || u->caps.haw > 52 || (u->caps.mgaw != 39 && u->caps.mgaw != 48) ||
	    !(u->caps.sagaw & (1u << VTD_AW_39BIT | 1u << VTD_AW_48BIT)) || u->caps.nd > 6 ||
	    u->caps.mamv > 63 || u->caps.nr_fault_records > 256 ||
	    !is_pow2(u->iotlb_sets) || !is_pow2(u->cc_entries) ||
	    (!cfg->mem.base && !cfg->mem.read64)) {
		log_error("vtd: invalid unit configuration (HAW %u, MGAW %u, SAGAW 0x%x, ND %u)",
			  u->caps.haw, u->caps.mgaw, u->caps.sagaw, u->caps.nd);
		return -EINVAL;
	}
	u->mem = cfg->mem;
	if (cfg->stage2)
		u->stage2 = *cfg->stage2;
	u->nr_dids = 1u << (4 + 2 * u->caps.nd);
	u->iotlb = aligned_alloc(128, sizeof(*u->iotlb) * u->iotlb_sets);
	u->cc = aligned_alloc(32, sizeof(*u->cc) * u->cc_entries);
	u->shards = aligned_alloc(64, sizeof(*u->shards) * VTD_SHARDS);
	u->trace = calloc(u->nr_dids, sizeof(*u->trace));
	if (!u->iotlb || !u->cc || !u->shards || !u->trace)
		goto err;
	memset(u->iotlb, 0, sizeof(*u->iotlb) * u->iotlb_sets);
	memset(u->cc, 0, sizeof(*u->cc) * u->cc_entries);
	memset(u->shards, 0, sizeof(*u->shards) * VTD_SHARDS);
	vtd_fault_log_init(&u->flog, u->caps.nr_fault_records);
	ret = vtd_fault_log_alloc(&u->flog);
	if (ret)
		goto err;
	pthread_mutex_init(&u->drain_lock, NULL);
	return 0;

err:
	log_error("vtd: cannot allocate unit caches: %d", ret);
	free(u->iotlb);
	free(u->cc);
	free(u->shards);
	free(u->trace);
	memset(u, 0, sizeof(*u));
	return ret;
}

void vtd_unit_destroy(struct vtd_unit *u)
{
	if (!u->iotlb)
		return;
	vtd_fault_log_destroy(&u->flog);
	pthread_mutex_destroy(&u->drain_lock);
	free(u->iotlb);
	free(u->cc);
	free(u->shards);
	free(u->trace);
	memset(u, 0, sizeof(*u));
}

uint64_t vtd_cap_reg(const struct vtd_caps *c)
{
	return (uint64_t)c->nd << VTD_CAP_ND_SHIFT |
	       (uint64_t)(c->sagaw & 0x1f) << VTD_CAP_SAGAW_SHIFT |
	       (uint64_t)(c->mgaw - 1) << VTD_CAP_MGAW_SHIFT |
	       (uint64_t)((c->fro ? c->fro : 0x400) / 16) << VTD_CAP_FRO_SHIFT |
	       (c->cm ? VTD_CAP_CM : 0) |
	       (c->sp_2m ? VTD_CAP_SLLPS_2M : 0) | (c->sp_1g ? VTD_CAP_SLLPS_1G : 0) |
	       VTD_CAP_PSI | (uint64_t)(c->nr_fault_records - 1) << VTD_CAP_NFR_SHIFT |
	       (uint64_t)c->mamv << VTD_CAP_MAMV_SHIFT | VTD_CAP_DWD | VTD_CAP_DRD;
}

uint64_t vtd_ecap_reg(const struct vtd_caps *c)
{
	/* Walks read table memory as it is (no cache to flush): coherent. With
	 * IR, MHMV 15 lets index-selective IEC invalidations cover any mask. */
	return VTD_ECAP_C | (c->no_pt ? 0 : VTD_ECAP_PT) | (c->qi ? VTD_ECAP_QI : 0) |
	       (c->ir ? VTD_ECAP_IR | 0xfull << VTD_ECAP_MHMV_SHIFT : 0) |
	       (uint64_t)(c->iro / 16) << VTD_ECAP_IRO_SHIFT;
}

void vtd_set_root_table(struct vtd_unit *u, uint64_t rta)
{
	__atomic_store_n(&u->rtaddr, rta & VTD_PAGE_MASK, __ATOMIC_RELEASE);
	__atomic_store_n(&u->root_set, true, __ATOMIC_RELEASE);
	/* Not an invalidation (software still owes one), but misses in flight
	 * must not cache what they read from the old table. */
	__atomic_add_fetch(&u->gen_cc, 1, __ATOMIC_SEQ_CST);
}

int vtd_set_translation_enable(struct vtd_unit *u, bool enable)
{
	if (enable && !__atomic_load_n(&u->root_set, __ATOMIC_ACQUIRE))
		return -EINVAL;
	__atomic_store_n(&u->te, enable, __ATOMIC_RELEASE);
	return 0;
}

/* Root entry -> context entry, checked as the spec orders the checks.
 * Returns 0 or a fault reason; *ctx_valid tells whether c->fpd is known. */
static unsigned ctx_fetch(struct vtd_unit *u, uint16_t sid, struct vtd_ctx *c, bool *fpd_known)
{
	uint64_t rta = __atomic_load_n(&u->rtaddr, __ATOMIC_ACQUIRE);
	uint64_t haw_mask = (1ull << u->caps.haw) - 1;
	uint64_t re_lo, re_hi, ce_lo, ce_hi, ctp, e;
	unsigned tt, aw, did;

	*fpd_known = false;
	e = rta + VTD_SID_BUS(sid) * VTD_ROOT_ENTRY_SIZE;
	if (iopt_mem_read64(&u->mem, e, &re_lo) || iopt_mem_read64(&u->mem, e + 8, &re_hi))
		return VTD_FR_ROOT_TABLE_INV;
	if (!(re_lo & VTD_ROOT_LO_P))
		return VTD_FR_ROOT_ENTRY_P;
	if (re_lo & (VTD_ROOT_LO_RSVD_11_1 | ~haw_mask) || re_hi)
		return VTD_FR_ROOT_ENTRY_RSVD;
	ctp = re_lo & VTD_ROOT_LO_CTP_MASK;
	e = ctp + VTD_SID_DEVFN(sid) * VTD_CTX_ENTRY_SIZE;
	if (iopt_mem_read64(&u->mem, e, &ce_lo) || iopt_mem_read64(&u->mem, e + 8, &ce_hi))
		return VTD_FR_CONTEXT_TABLE_INV;
	if (!(ce_lo & VTD_CTX_LO_P))
		return VTD_FR_CONTEXT_ENTRY_P;
	c->fpd = ce_lo & VTD_CTX_LO_FPD;
	*fpd_known = true;
	did = (unsigned)((ce_hi & VTD_CTX_HI_DID_MASK) >> VTD_CTX_HI_DID_SHIFT);
	/* DID bits beyond what CAP.ND reports are treated as reserved. */
	if (ce_lo & (VTD_CTX_LO_RSVD_11_4 | ~haw_mask) ||
	    ce_hi & (VTD_CTX_HI_RSVD_7 | VTD_CTX_HI_RSVD_63_24) || did >= u->nr_dids)
		return VTD_FR_CONTEXT_ENTRY_RSVD;
	tt = (unsigned)((ce_lo & VTD_CTX_LO_TT_MASK) >> VTD_CTX_LO_TT_SHIFT);
	aw = (unsigned)(ce_hi & VTD_CTX_HI_AW_MASK);
	/* ECAP.DT = 0: device-TLB translation type is invalid like reserved;
	 * so is pass-through where ECAP.PT = 0. */
	if (tt == VTD_TT_RESERVED || tt == VTD_TT_DEV_TLB ||
	    (tt == VTD_TT_PASSTHROUGH && u->caps.no_pt) || !(u->caps.sagaw & (1u << aw)) ||
	    vtd_aw_to_bits(aw) > u->caps.mgaw)
		return VTD_FR_CONTEXT_ENTRY_INV;
	c->slptptr = ce_lo & VTD_CTX_LO_SLPTPTR_MASK;
	c->did = (uint16_t)did;
	c->tt = (uint8_t)tt;
	c->levels = (uint8_t)vtd_aw_to_levels(aw);
	c->aw_bits = (uint8_t)vtd_aw_to_bits(aw);
	return 0;
}

static void trace_emit(struct vtd_unit *u, uint16_t sid, uint16_t did, uint64_t iova,
		       unsigned req, const struct vtd_xlate *x, unsigned fault)
{
	const struct vtd_trace_hook *h = __atomic_load_n(&u->trace[did], __ATOMIC_ACQUIRE);
	struct vtd_trace_event ev;

	if (!h)
		return;
	ev = (struct vtd_trace_event){
		.sid = sid, .did = did, .iova = iova, .access = req & IOPT_RW,
		.addr = fault ? 0 : x->addr, .perm = fault ? 0 : x->perm,
		.fault = (uint8_t)fault, .iotlb_hit = x->iotlb_hit,
	};
	h->fn(h->opaque, &ev);
}

static int fault(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req, unsigned reason,
		 const struct vtd_ctx *ctx, unsigned level, bool not_present, struct vtd_xlate *x)
{
	struct vtd_fault_record rec = {
		.iova = iova & VTD_PAGE_MASK, .sid = sid, .reason = (uint8_t)reason,
		.is_write = req & VTD_REQ_WRITE, .level = (uint8_t)level, .not_present = not_present,
	};

	x->fault = (uint8_t)reason;
	x->addr = 0;
	x->perm = 0;
	if (!(req & VTD_REQ_PROBE))
		vtd_fault_raise(u, &rec, ctx && ctx->fpd);
	if (ctx && unlikely(__atomic_load_n(&u->trace_active, __ATOMIC_RELAXED)))
		trace_emit(u, sid, ctx->did, iova, req, x, reason);
	return -EFAULT;
}

static inline bool in_interrupt_range(uint64_t base, uint64_t size)
{
	return base <= VTD_INTERRUPT_ADDR_LAST && base + size > VTD_INTERRUPT_ADDR_FIRST;
}

/* Identity translation (TE off or pass-through) still stops at the host
 * address width and may not target the interrupt window. */
static int identity(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req,
		    const struct vtd_ctx *ctx, struct vtd_xlate *x)
{
	if (iova >> u->caps.haw)
		return fault(u, sid, iova, req, VTD_FR_ADDR_BEYOND_MGAW, ctx, 0, false, x);
	if (in_interrupt_range(iova & VTD_PAGE_MASK, VTD_PAGE_SIZE))
		return fault(u, sid, iova, req, VTD_FR_INTERRUPT_ADDR, ctx, 0, false, x);
	x->addr = iova;
	x->page_size = VTD_PAGE_SIZE;
	x->perm = IOPT_RW;
	x->did = ctx ? ctx->did : 0;
	x->fault = 0;
	x->iotlb_hit = false;
	return 0;
}

static inline bool gens_changed(struct vtd_unit *u, uint64_t g_cc, uint64_t g_glob,
				const uint64_t *did_gen, uint64_t g_did)
{
	return __atomic_load_n(&u->gen_cc, __ATOMIC_ACQUIRE) != g_cc ||
	       __atomic_load_n(&u->gen_global, __ATOMIC_ACQUIRE) != g_glob ||
	       (did_gen && __atomic_load_n(did_gen, __ATOMIC_ACQUIRE) != g_did);
}

/* ---- nested translation: the second stage ---- */

/* The second stage refused what the first allowed. The requester gets a
 * fault, the guest's log gets nothing: the second stage's owner has counted
 * it already (the host unit records it in its own log). */
static int stage2_refused(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req,
			  const struct vtd_ctx *ctx, struct vtd_xlate *x)
{
	x->fault = req & VTD_REQ_WRITE ? VTD_FR_WRITE : VTD_FR_READ;
	x->stage2_fault = true;
	x->addr = 0;
	x->perm = 0;
	if (ctx && unlikely(__atomic_load_n(&u->trace_active, __ATOMIC_RELAXED)))
		trace_emit(u, sid, ctx->did, iova, req, x, x->fault);
	return -EFAULT;
}

/* Stage 2 for the page holding gpa. Everything the first stage granted is
 * asked for first as a probe, so a narrower second stage records nothing;
 * then just the access the request needs, which the second stage records
 * when it refuses (unless the request itself is a probe). */
static int stage2_page(struct vtd_unit *u, uint16_t sid, uint64_t gpa, unsigned want, unsigned req,
		       uint64_t *out, uint64_t *contig, unsigned *granted)
{
	const struct vtd_stage2 *s2 = &u->stage2;
	unsigned access = req & IOPT_RW;

	if (want != access && !s2->translate(s2->opaque, sid, gpa, want | VTD_REQ_PROBE, out, contig)) {
		*granted = want;
	} else if (!s2->translate(s2->opaque, sid, gpa, access | (req & VTD_REQ_PROBE), out, contig)) {
		*granted = access;
	} else {
		return -EFAULT;
	}
	/* A second stage that moved the page offset or covers less than the
	 * page would make every later chunk wrong: refuse rather than trust. */
	if ((*out ^ gpa) & (VTD_PAGE_SIZE - 1) || *contig < VTD_PAGE_SIZE - (gpa & (VTD_PAGE_SIZE - 1)))
		return -EFAULT;
	return 0;
}

/* First stage identity (TE off, or pass-through): the input address is a
 * GPA and still goes through stage 2. Not cached here: there is no domain
 * id to tag it with, and the second stage caches its own translation. */
static int stage2_identity(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req,
			   const struct vtd_ctx *ctx, struct vtd_xlate *x)
{
	uint64_t out, contig;
	unsigned granted;

	if (stage2_page(u, sid, iova, IOPT_RW, req, &out, &contig, &granted))
		return stage2_refused(u, sid, iova, req, ctx, x);
	x->addr = out;
	x->perm = granted;
	x->page_size = VTD_PAGE_SIZE;
	for (uint64_t p = IOPT_PAGE_1G; p > VTD_PAGE_SIZE; p >>= VTD_LEVEL_STRIDE) {
		if (contig >= p - (iova & (p - 1)) && !in_interrupt_range(iova & ~(p - 1), p)) {
			x->page_size = p;
			break;
		}
	}
	return 0;
}

/* Combines the first stage's leaf with stage 2 into one IOTLB entry: the
 * largest page size, no larger than the guest's leaf, whose aligned block
 * around iova stage 2 maps contiguously with every permission the guest
 * granted. A guest 2M page over host 4K pages gives 4K entries; caching it
 * whole would hand out memory stage 2 never mapped there. The bigger blocks
 * are probed at their base (speculatively: a refusal there is no fault).
 * Returns 0 with *base (final address of the block), *order and *perm, and
 * *cacheable false when stage 2 grants less than the guest did (a cached
 * entry's permission denial is reported as the guest's fault);
 * VTD_FR_INTERRUPT_ADDR when the request's GPA is in the interrupt window
 * (a first-stage fault); -EFAULT when stage 2 refuses the request's page. */
static int stage2_combine(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req,
			  const struct iopt_walk_result *w, uint64_t *base, unsigned *order,
			  unsigned *perm, bool *cacheable)
{
	const struct vtd_stage2 *s2 = &u->stage2;
	uint64_t gpa = w->pa + (iova & (w->page_size - 1)), out, contig;
	unsigned o = w->page_size == IOPT_PAGE_4K ? 0 : w->page_size == IOPT_PAGE_2M ? 1 : 2;

	if (unlikely(in_interrupt_range(w->pa, w->page_size))) {
		if (in_interrupt_range(gpa & VTD_PAGE_MASK, VTD_PAGE_SIZE))
			return VTD_FR_INTERRUPT_ADDR;
		o = 0;      /* 4K pieces only: none of them reaches the window */
	}
	for (; o; o--) {
		uint64_t bsize = 1ull << iotlb_order_shift(o), gbase = gpa & ~(bsize - 1);

		if (!s2->translate(s2->opaque, sid, gbase, w->perm | VTD_REQ_PROBE, &out, &contig) &&
		    contig >= bsize && !(out & (VTD_PAGE_SIZE - 1))) {
			*base = out;
			*order = o;
			*perm = w->perm;
			*cacheable = true;
			return 0;
		}
	}
	if (stage2_page(u, sid, gpa & VTD_PAGE_MASK, w->perm, req, &out, &contig, perm))
		return -EFAULT;
	*base = out;
	*order = 0;
	*cacheable = *perm == w->perm;
	return 0;
}

int vtd_translate(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req, struct vtd_xlate *x)
{
	struct vtd_shard *sh = vtd_shard(u);
	unsigned access = req & IOPT_RW, order = 0, reason, perm = 0;
	bool nested = u->stage2.translate != NULL, cacheable = true;
	struct iopt_walk_result w;
	struct vtd_ctx ctx;
	uint64_t g_cc, g_glob, g_did, *did_gen, val = 0, size;
	bool fpd_known;
	int s2;

	x->stage2_fault = false;
retry:
	/* Sampled before anything is read: a miss that races with an
	 * invalidation finds them changed and starts over. */
	g_cc = __atomic_load_n(&u->gen_cc, __ATOMIC_ACQUIRE);
	g_glob = __atomic_load_n(&u->gen_global, __ATOMIC_ACQUIRE);
	if (unlikely(!__atomic_load_n(&u->te, __ATOMIC_ACQUIRE))) {
		if (identity(u, sid, iova, req, NULL, x))
			return -EFAULT;
		return nested ? stage2_identity(u, sid, iova, req, NULL, x) : 0;
	}

	if (likely(cc_lookup(u, sid, &ctx))) {
		vtd_count(&sh->cc_hits);
	} else {
		vtd_count(&sh->cc_misses);
		reason = ctx_fetch(u, sid, &ctx, &fpd_known);
		if (gens_changed(u, g_cc, g_glob, NULL, 0)) {
			vtd_count(&sh->walk_retries);
			goto retry;
		}
		if (reason)
			return fault(u, sid, iova, req, reason, fpd_known ? &ctx : NULL, 0, false, x);
		vtd_cc_fill(u, sid, &ctx, g_cc);
	}
	if (unlikely(req & VTD_REQ_TRANSLATED))
		return fault(u, sid, iova, req, VTD_FR_CONTEXT_ENTRY_TT, &ctx, 0, false, x);
	if (ctx.tt == VTD_TT_PASSTHROUGH) {
		if (identity(u, sid, iova, req, &ctx, x))
			return -EFAULT;
		return nested ? stage2_identity(u, sid, iova, req, &ctx, x) : 0;
	}
	if (unlikely(iova >> ctx.aw_bits))
		return fault(u, sid, iova, req, VTD_FR_ADDR_BEYOND_MGAW, &ctx, ctx.levels, false, x);

	did_gen = gen_did_of(u, ctx.did);
	g_did = __atomic_load_n(did_gen, __ATOMIC_ACQUIRE);
	x->did = ctx.did;
	if (likely(iotlb_lookup(u, ctx.did, iova, &val, &order))) {
		vtd_count(&sh->iotlb_hits);
		x->iotlb_hit = true;
		x->perm = (unsigned)(val & IOTLB_VAL_PERM_MASK);
		size = 1ull << iotlb_order_shift(order);
		val &= ~IOTLB_VAL_PERM_MASK;
		if (unlikely(access & ~x->perm))
			return fault(u, sid, iova, req, access & ~x->perm & IOPT_WRITE ? VTD_FR_WRITE : VTD_FR_READ,
				     &ctx, 1 + order, false, x);
	} else {
		vtd_count(&sh->iotlb_misses);
		x->iotlb_hit = false;
		reason = iopt_vtd_walk(&u->mem, ctx.slptptr, ctx.levels, u->caps.haw, iova, access, &w);
		if (!reason && ((w.page_size == IOPT_PAGE_2M && !u->caps.sp_2m) ||
				(w.page_size == IOPT_PAGE_1G && !u->caps.sp_1g)))
			reason = VTD_FR_PAGING_ENTRY_RSVD;   /* PS where SLLPS says none */
		/* Inside the validated window, so a combined entry is dropped
		 * like any other when an invalidation races with its miss. */
		s2 = 0;
		if (!reason && nested)
			s2 = stage2_combine(u, sid, iova, req, &w, &val, &order, &perm, &cacheable);
		if (unlikely(u->walk_race_hook))
			u->walk_race_hook(u->walk_race_opaque);
		/* Validate before trusting or recording anything: tables may
		 * have been freed and reused under a walk that raced. */
		if (gens_changed(u, g_cc, g_glob, did_gen, g_did)) {
			vtd_count(&sh->walk_retries);
			goto retry;
		}
		if (reason)
			return fault(u, sid, iova, req, reason, &ctx, w.level, w.not_present, x);
		if (unlikely(s2 == VTD_FR_INTERRUPT_ADDR))
			return fault(u, sid, iova, req, VTD_FR_INTERRUPT_ADDR, &ctx, 1, false, x);
		if (unlikely(s2))
			return stage2_refused(u, sid, iova, req, &ctx, x);
		if (!nested) {
			val = w.pa;
			perm = w.perm;
			order = w.page_size == IOPT_PAGE_4K ? 0 : w.page_size == IOPT_PAGE_2M ? 1 : 2;
		}
		size = 1ull << iotlb_order_shift(order);
		x->perm = perm;
		if (likely(cacheable))
			vtd_iotlb_fill(u, ctx.did, iova, order, val | perm, g_glob, g_did);
	}
	x->addr = val + (iova & (size - 1));
	x->page_size = size;
	/* A nested unit checked the window on the GPA, where the guest put
	 * it; its cached output is a host address, which says nothing. */
	if (unlikely(!nested && in_interrupt_range(val, size))) {
		/* Only the window itself faults; the rest of the page is
		 * handed out 4K at a time so no access runs into it. */
		if (in_interrupt_range(x->addr & VTD_PAGE_MASK, VTD_PAGE_SIZE))
			return fault(u, sid, iova, req, VTD_FR_INTERRUPT_ADDR, &ctx, 1, false, x);
		x->page_size = VTD_PAGE_SIZE;
	}
	x->fault = 0;
	if (unlikely(__atomic_load_n(&u->trace_active, __ATOMIC_RELAXED)))
		trace_emit(u, sid, ctx.did, iova, req, x, 0);
	return 0;
}

int vtd_context_lookup(struct vtd_unit *u, uint16_t sid, struct vtd_context_info *ci, uint8_t *reason)
{
	struct vtd_ctx c;
	bool fpd_known;
	unsigned r = ctx_fetch(u, sid, &c, &fpd_known);

	if (r) {
		if (reason)
			*reason = (uint8_t)r;
		return -ENOENT;
	}
	*ci = (struct vtd_context_info){
		.slptptr = c.slptptr, .did = c.did, .tt = c.tt, .levels = c.levels,
		.aw_bits = c.aw_bits, .fpd = c.fpd,
	};
	return 0;
}

void vtd_stats_get(struct vtd_unit *u, struct vtd_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < VTD_SHARDS; i++) {
		const struct vtd_shard *sh = &u->shards[i];

		s->iotlb_hits += __atomic_load_n(&sh->iotlb_hits, __ATOMIC_RELAXED);
		s->iotlb_misses += __atomic_load_n(&sh->iotlb_misses, __ATOMIC_RELAXED);
		s->cc_hits += __atomic_load_n(&sh->cc_hits, __ATOMIC_RELAXED);
		s->cc_misses += __atomic_load_n(&sh->cc_misses, __ATOMIC_RELAXED);
		s->walk_retries += __atomic_load_n(&sh->walk_retries, __ATOMIC_RELAXED);
	}
	s->iotlb_fills = __atomic_load_n(&u->iotlb_fills, __ATOMIC_RELAXED);
	s->iotlb_evictions = __atomic_load_n(&u->iotlb_evictions, __ATOMIC_RELAXED);
	s->inv_global = __atomic_load_n(&u->inv_global, __ATOMIC_RELAXED);
	s->inv_domain = __atomic_load_n(&u->inv_domain, __ATOMIC_RELAXED);
	s->inv_page = __atomic_load_n(&u->inv_page, __ATOMIC_RELAXED);
	s->inv_context = __atomic_load_n(&u->inv_context, __ATOMIC_RELAXED);
	s->drains = __atomic_load_n(&u->drains, __ATOMIC_RELAXED);
}

int vtd_set_trace(struct vtd_unit *u, uint16_t did, const struct vtd_trace_hook *hook)
{
	const struct vtd_trace_hook *old;

	if (did >= u->nr_dids || (hook && !hook->fn))
		return -EINVAL;
	old = __atomic_exchange_n(&u->trace[did], hook, __ATOMIC_ACQ_REL);
	if (hook && !old)
		__atomic_add_fetch(&u->trace_active, 1, __ATOMIC_RELEASE);
	else if (!hook && old)
		__atomic_sub_fetch(&u->trace_active, 1, __ATOMIC_RELEASE);
	/* The caller may free the old hook once this returns. */
	if (old && old != hook)
		vtd_drain(u);
	return 0;
}
