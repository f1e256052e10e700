/* Host-side domains on the VT-d unit: root and context tables, domain ids,
 * the mapping policy, and strict (or, for tests, lazy) invalidation. */
#include "iommu/iommu.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void domain_flush_range(void *cookie, uint64_t iova, uint64_t size);

static const struct iopt_flush_ops domain_flush_ops = {
	.flush_range = domain_flush_range,
};

int iommu_init(struct iommu *mmu, struct arena *a, const struct iommu_cfg *cfg)
{
	struct vtd_unit_cfg ucfg;
	int ret;

	memset(mmu, 0, sizeof(*mmu));
	memset(&ucfg, 0, sizeof(ucfg));
	vtd_caps_default(&ucfg.caps);
	if (cfg && cfg->haw)
		ucfg.caps.haw = cfg->haw;
	if (cfg && cfg->nr_fault_records)
		ucfg.caps.nr_fault_records = cfg->nr_fault_records;
	ucfg.iotlb_sets = cfg ? cfg->iotlb_sets : 0;
	iopt_mem_init_arena(&ucfg.mem, a);
	mmu->arena = a;
	ret = vtd_unit_init(&mmu->unit, &ucfg);
	if (ret)
		return ret;
	mmu->by_did = calloc(mmu->unit.nr_dids, sizeof(*mmu->by_did));
	if (!mmu->by_did) {
		ret = -ENOMEM;
		goto err_unit;
	}
	ret = arena_alloc_pages(a, 1, &mmu->root_hpa);
	if (ret) {
		log_error("iommu: no private page for the root table: %d", ret);
		goto err_dids;
	}
	pthread_mutex_init(&mmu->lock, NULL);
	/* The order hardware wants: latch the (empty) root table, invalidate
	 * globally, then turn translation on. From here on every DMA from an
	 * unattached device faults with "root entry not present". */
	vtd_set_root_table(&mmu->unit, mmu->root_hpa);
	vtd_context_invalidate_global(&mmu->unit);
	vtd_iotlb_invalidate_global(&mmu->unit);
	vtd_set_translation_enable(&mmu->unit, true);
	return 0;

err_dids:
	free(mmu->by_did);
err_unit:
	vtd_unit_destroy(&mmu->unit);
	return ret;
}

void iommu_destroy(struct iommu *mmu)
{
	if (!mmu->by_did)
		return;
	for (unsigned did = 0; did < mmu->unit.nr_dids; did++) {
		if (mmu->by_did[did]) {
			log_warn("iommu: domain %u (VM %d) still exists at IOMMU teardown; destroying it",
				 did, mmu->by_did[did]->vm_id);
			iommu_domain_destroy(mmu->by_did[did]);
		}
	}
	/* Translation stays enabled to the end (disabled would mean identity
	 * DMA): unhook every bus, invalidate and drain, so a straggler faults
	 * instead of reading tables that are about to be freed. */
	for (unsigned bus = 0; bus < 256; bus++) {
		uint64_t *re = arena_hpa_to_ptr(mmu->arena, mmu->root_hpa + bus * VTD_ROOT_ENTRY_SIZE,
						VTD_ROOT_ENTRY_SIZE);

		__atomic_store_n(&re[0], 0, __ATOMIC_RELEASE);
	}
	vtd_context_invalidate_global(&mmu->unit);
	vtd_iotlb_invalidate_global(&mmu->unit);
	vtd_drain(&mmu->unit);
	for (unsigned bus = 0; bus < 256; bus++)
		if (mmu->ctx_table[bus])
			arena_free_pages(mmu->arena, mmu->ctx_table[bus], 1);
	arena_free_pages(mmu->arena, mmu->root_hpa, 1);
	free(mmu->by_did);
	vtd_unit_destroy(&mmu->unit);
	pthread_mutex_destroy(&mmu->lock);
	memset(mmu, 0, sizeof(*mmu));
}

int iommu_domain_create(struct iommu *mmu, int vm_id, unsigned aw_bits, struct iommu_domain **out)
{
	struct iommu_domain *dom;
	struct iopt_cfg pcfg;
	int aw = vtd_bits_to_aw(aw_bits), ret;
	unsigned did;

	if (vm_id < 0 || aw < 0 || !(mmu->unit.caps.sagaw & (1u << aw))) {
		log_error("iommu: cannot create a %u-bit domain for VM %d (supported: 39, 48)", aw_bits, vm_id);
		return -EINVAL;
	}
	dom = calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	dom->mmu = mmu;
	dom->vm_id = vm_id;
	dom->aw_bits = aw_bits;
	pthread_mutex_init(&dom->lock, NULL);
	iopt_gather_init(&dom->gather);
	pcfg = (struct iopt_cfg){
		.arena = mmu->arena, .ias = aw_bits, .oas = mmu->unit.caps.haw,
		.pgsize_bitmap = IOPT_PAGE_4K | (mmu->unit.caps.sp_2m ? IOPT_PAGE_2M : 0) |
				 (mmu->unit.caps.sp_1g ? IOPT_PAGE_1G : 0),
		.tlb = &domain_flush_ops, .cookie = dom,
	};
	ret = iopt_init(&dom->pt, IOPT_VTD_SL, &pcfg);
	if (ret)
		goto err_free;
	pthread_mutex_lock(&mmu->lock);
	/* DID 0 stays unused: with caching mode (a later vIOMMU) it is reserved. */
	for (did = 1; did < mmu->unit.nr_dids && mmu->by_did[did]; did++)
		;
	if (did == mmu->unit.nr_dids) {
		pthread_mutex_unlock(&mmu->lock);
		log_error("iommu: all %u domain ids in use; cannot create a domain for VM %d",
			  mmu->unit.nr_dids - 1, vm_id);
		ret = -ENOSPC;
		goto err_pt;
	}
	dom->did = (uint16_t)did;
	mmu->by_did[did] = dom;
	mmu->nr_domains++;
	pthread_mutex_unlock(&mmu->lock);
	*out = dom;
	return 0;

err_pt:
	iopt_destroy(&dom->pt);
err_free:
	pthread_mutex_destroy(&dom->lock);
	free(dom);
	return ret;
}

static uint64_t *ctx_entry_ptr(struct iommu *mmu, uint16_t sid)
{
	uint64_t ct = mmu->ctx_table[VTD_SID_BUS(sid)];

	if (!ct)
		return NULL;
	return arena_hpa_to_ptr(mmu->arena, ct + VTD_SID_DEVFN(sid) * VTD_CTX_ENTRY_SIZE,
				VTD_CTX_ENTRY_SIZE);
}

/* Context table for sid's bus, created (and hooked into the root) on demand. */
static int ctx_table_get(struct iommu *mmu, uint16_t sid)
{
	unsigned bus = VTD_SID_BUS(sid);
	uint64_t *re, ct;
	int ret;

	if (mmu->ctx_table[bus])
		return 0;
	ret = arena_alloc_pages(mmu->arena, 1, &ct);
	if (ret) {
		log_error("iommu: no private page for bus %02x's context table: %d", bus, ret);
		return ret;
	}
	re = arena_hpa_to_ptr(mmu->arena, mmu->root_hpa + bus * VTD_ROOT_ENTRY_SIZE, VTD_ROOT_ENTRY_SIZE);
	/* Upper half first, present bit last: the unit may read at any time. */
	__atomic_store_n(&re[1], 0, __ATOMIC_RELEASE);
	__atomic_store_n(&re[0], vtd_root_entry_lo(ct), __ATOMIC_RELEASE);
	mmu->ctx_table[bus] = ct;
	return 0;
}

static int sid_index(const struct iommu_domain *dom, uint16_t sid)
{
	for (unsigned i = 0; i < dom->nr_sids; i++)
		if (dom->sids[i] == sid)
			return (int)i;
	return -1;
}

int iommu_domain_attach(struct iommu_domain *dom, uint16_t sid, unsigned flags)
{
	struct iommu *mmu = dom->mmu;
	bool passthrough = flags & IOMMU_ATTACH_PASSTHROUGH;
	uint64_t *ce;
	int ret;

	if (passthrough && !(flags & IOMMU_ALLOW_PASSTHROUGH)) {
		__atomic_add_fetch(&dom->stats.refused, 1, __ATOMIC_RELAXED);
		log_error("iommu: refusing pass-through translation for " SID_FMT " (domain %u, VM %d): "
			  "identity DMA reaches all host memory; IOMMU_ALLOW_PASSTHROUGH must be explicit",
			  SID_ARGS(sid), dom->did, dom->vm_id);
		return -EPERM;
	}
	pthread_mutex_lock(&mmu->lock);
	ce = ctx_entry_ptr(mmu, sid);
	if (ce && (__atomic_load_n(&ce[0], __ATOMIC_RELAXED) & VTD_CTX_LO_P)) {
		unsigned owner = (unsigned)((ce[1] & VTD_CTX_HI_DID_MASK) >> VTD_CTX_HI_DID_SHIFT);

		log_error("iommu: " SID_FMT " is already attached to domain %u; detach it first",
			  SID_ARGS(sid), owner);
		ret = -EBUSY;
		goto out;
	}
	if (dom->nr_sids == dom->cap_sids) {
		unsigned cap = dom->cap_sids ? 2 * dom->cap_sids : 8;
		uint16_t *n = realloc(dom->sids, cap * sizeof(*n));

		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		dom->sids = n;
		dom->cap_sids = cap;
	}
	ret = ctx_table_get(mmu, sid);
	if (ret)
		goto out;
	ce = ctx_entry_ptr(mmu, sid);
	/* A not-present entry is never cached (CAP.CM = 0), so making it
	 * present needs no invalidation; the present bit goes in last. */
	__atomic_store_n(&ce[1], vtd_ctx_entry_hi(dom->did, (unsigned)vtd_bits_to_aw(dom->aw_bits)),
			 __ATOMIC_RELEASE);
	__atomic_store_n(&ce[0], vtd_ctx_entry_lo(dom->pt.root,
						  passthrough ? VTD_TT_PASSTHROUGH : VTD_TT_TRANSLATED, false),
			 __ATOMIC_RELEASE);
	dom->sids[dom->nr_sids++] = sid;
	if (passthrough)
		log_warn("iommu: " SID_FMT " attached to domain %u with pass-through translation "
			 "(explicitly allowed): it can DMA anywhere in host memory", SID_ARGS(sid), dom->did);
out:
	pthread_mutex_unlock(&mmu->lock);
	return ret;
}

static void detach_locked(struct iommu_domain *dom, unsigned idx)
{
	struct iommu *mmu = dom->mmu;
	uint16_t sid = dom->sids[idx];
	uint64_t *ce = ctx_entry_ptr(mmu, sid);

	/* Only the present bit first: a miss that read P = 1 just before must
	 * still find the upper half it was written with, or it would decode a
	 * half-cleared entry. */
	__atomic_store_n(&ce[0], 0, __ATOMIC_RELEASE);
	/* Spec order: context-cache invalidation, then the domain's IOTLB, then
	 * wait for DMA in flight to drain. */
	vtd_context_invalidate_device(&mmu->unit, dom->did, sid, 0);
	vtd_iotlb_invalidate_domain(&mmu->unit, dom->did);
	vtd_drain(&mmu->unit);
	__atomic_store_n(&ce[1], 0, __ATOMIC_RELEASE);
	dom->stats.flushes++;
	dom->sids[idx] = dom->sids[--dom->nr_sids];
}

int iommu_domain_detach(struct iommu_domain *dom, uint16_t sid)
{
	int idx, ret = 0;

	pthread_mutex_lock(&dom->mmu->lock);
	idx = sid_index(dom, sid);
	if (idx < 0) {
		log_error("iommu: " SID_FMT " is not attached to domain %u", SID_ARGS(sid), dom->did);
		ret = -ENOENT;
	} else {
		detach_locked(dom, (unsigned)idx);
	}
	pthread_mutex_unlock(&dom->mmu->lock);
	return ret;
}

/* Strict invalidation: one page-selective invalidation over the smallest
 * aligned power-of-two block covering the range (more is allowed, less is
 * not), domain-selective if that exceeds MAMV; then drain. */
static void domain_flush_range(void *cookie, uint64_t iova, uint64_t size)
{
	struct iommu_domain *dom = cookie;
	struct vtd_unit *u = &dom->mmu->unit;
	uint64_t first = iova >> VTD_PAGE_SHIFT, last = (iova + size - 1) >> VTD_PAGE_SHIFT;
	unsigned am = 0;

	while ((first >> am) != (last >> am))
		am++;
	if (am > u->caps.mamv || vtd_iotlb_invalidate_page(u, dom->did, (first >> am) << am << VTD_PAGE_SHIFT,
							    am, false))
		vtd_iotlb_invalidate_domain(u, dom->did);
	vtd_drain(u);
	dom->stats.flushes++;
}

static void flush_locked(struct iommu_domain *dom)
{
	if (!iopt_gather_empty(&dom->gather))
		iopt_gather_sync(&dom->pt, &dom->gather);
	dom->lazy_pending = 0;
}

/* The policy. Every refusal is a host-side error: the VMM asked for
 * something that would let a device reach memory it must not. */
static int policy_check_map(struct iommu_domain *dom, uint64_t iova, uint64_t hpa, uint64_t size)
{
	struct arena *a = dom->mmu->arena;
	int owner;

	if (arena_range_is_private(a, hpa, size)) {
		log_error("iommu: refusing map IOVA 0x%llx -> HPA 0x%llx size 0x%llx in domain %u (VM %d): "
			  "range reaches hypervisor-private memory",
			  (unsigned long long)iova, (unsigned long long)hpa, (unsigned long long)size,
			  dom->did, dom->vm_id);
		return -EPERM;
	}
	owner = arena_range_owner(a, hpa, size);
	if (owner != dom->vm_id) {
		char who[48];

		if (owner >= 0)
			snprintf(who, sizeof(who), "belongs to VM %d", owner);
		else
			snprintf(who, sizeof(who), "is not wholly RAM of VM %d", dom->vm_id);
		log_error("iommu: refusing map IOVA 0x%llx -> HPA 0x%llx size 0x%llx in domain %u (VM %d): "
			  "memory %s", (unsigned long long)iova, (unsigned long long)hpa,
			  (unsigned long long)size, dom->did, dom->vm_id, who);
		return -EPERM;
	}
	return 0;
}

int iommu_domain_map(struct iommu_domain *dom, uint64_t iova, uint64_t hpa, uint64_t size, unsigned prot)
{
	int ret;

	if (!size || (iova | hpa | size) & (VTD_PAGE_SIZE - 1) || !(prot & IOPT_RW) || prot & ~IOPT_RW ||
	    hpa + size < hpa) {
		log_error("iommu: bad map request IOVA 0x%llx -> HPA 0x%llx size 0x%llx prot %u in domain %u",
			  (unsigned long long)iova, (unsigned long long)hpa, (unsigned long long)size,
			  prot, dom->did);
		return -EINVAL;
	}
	ret = policy_check_map(dom, iova, hpa, size);
	if (ret) {
		__atomic_add_fetch(&dom->stats.refused, 1, __ATOMIC_RELAXED);
		return ret;
	}
	pthread_mutex_lock(&dom->lock);
	/* A stale lazy translation must never coexist with a new mapping of
	 * the same IOVA: complete deferred invalidations that overlap. */
	if (dom->lazy && dom->gather.end && iova < dom->gather.end && dom->gather.start < iova + size)
		flush_locked(dom);
	ret = iopt_map(&dom->pt, iova, hpa, size, prot);
	if (!ret) {
		dom->stats.maps++;
		dom->stats.bytes_mapped += size;
	}
	pthread_mutex_unlock(&dom->lock);
	if (ret)
		log_error("iommu: map IOVA 0x%llx -> HPA 0x%llx size 0x%llx in domain %u failed: %s",
			  (unsigned long long)iova, (unsigned long long)hpa, (unsigned long long)size,
			  dom->did, ret == -EEXIST ? "overlaps an existing mapping" :
			  ret == -ERANGE ? "beyond the domain's address width" : strerror(-ret));
	return ret;
}

int iommu_domain_unmap(struct iommu_domain *dom, uint64_t iova, uint64_t size, uint64_t *unmapped)
{
	int64_t r;

	pthread_mutex_lock(&dom->lock);
	r = iopt_unmap(&dom->pt, iova, size, dom->lazy ? &dom->gather : NULL);
	if (r >= 0) {
		dom->stats.unmaps++;
		dom->stats.bytes_mapped -= (uint64_t)r;
		if (dom->lazy && ++dom->lazy_pending >= IOMMU_LAZY_BATCH)
			flush_locked(dom);
	}
	pthread_mutex_unlock(&dom->lock);
	if (r < 0) {
		log_error("iommu: unmap IOVA 0x%llx size 0x%llx in domain %u failed: %s",
			  (unsigned long long)iova, (unsigned long long)size, dom->did, strerror((int)-r));
		return (int)r;
	}
	if (unmapped)
		*unmapped = (uint64_t)r;
	return 0;
}

int iommu_domain_map_gmem(struct iommu_domain *dom, const struct gmem *g)
{
	unsigned i;
	int ret = 0;

	if (g->vm_id != dom->vm_id) {
		log_error("iommu: refusing to map VM %d's RAM into domain %u of VM %d",
			  g->vm_id, dom->did, dom->vm_id);
		__atomic_add_fetch(&dom->stats.refused, 1, __ATOMIC_RELAXED);
		return -EPERM;
	}
	for (i = 0; i < g->nr_ranges; i++) {
		ret = iommu_domain_map(dom, g->ranges[i].gpa, g->ranges[i].hpa, g->ranges[i].size, IOPT_RW);
		if (ret)
			goto err;
	}
	return 0;

err:
	while (i--)
		iommu_domain_unmap(dom, g->ranges[i].gpa, g->ranges[i].size, NULL);
	return ret;
}

void iommu_domain_set_lazy(struct iommu_domain *dom, bool lazy)
{
	pthread_mutex_lock(&dom->lock);
	if (lazy && !dom->lazy)
		log_warn("iommu: domain %u (VM %d) switched to LAZY invalidation: unmapped memory stays "
			 "reachable by its devices until the next flush. Unsafe; for tests only.",
			 dom->did, dom->vm_id);
	if (!lazy)
		flush_locked(dom);
	dom->lazy = lazy;
	pthread_mutex_unlock(&dom->lock);
}

void iommu_domain_flush(struct iommu_domain *dom)
{
	pthread_mutex_lock(&dom->lock);
	flush_locked(dom);
	pthread_mutex_unlock(&dom->lock);
}

int iommu_domain_set_trace(struct iommu_domain *dom,
			   void (*fn)(void *opaque, const struct vtd_trace_event *ev), void *opaque)
{
	struct vtd_unit *u = &dom->mmu->unit;
	int ret;

	/* Unhook (and drain) before rewriting the hook the unit may be using. */
	ret = vtd_set_trace(u, dom->did, NULL);
	if (ret || !fn)
		return ret;
	dom->trace.fn = fn;
	dom->trace.opaque = opaque;
	return vtd_set_trace(u, dom->did, &dom->trace);
}

int iommu_domain_iova_to_phys(struct iommu_domain *dom, uint64_t iova, uint64_t *hpa, unsigned *prot)
{
	return iopt_iova_to_phys(&dom->pt, iova, hpa, prot);
}

void iommu_domain_destroy(struct iommu_domain *dom)
{
	struct iommu *mmu = dom->mmu;

	pthread_mutex_lock(&mmu->lock);
	while (dom->nr_sids)
		detach_locked(dom, dom->nr_sids - 1);
	pthread_mutex_unlock(&mmu->lock);
	vtd_set_trace(&mmu->unit, dom->did, NULL);
	pthread_mutex_lock(&dom->lock);
	flush_locked(dom);
	pthread_mutex_unlock(&dom->lock);
	/* The domain id goes back only after its IOTLB entries are gone and
	 * nothing in flight uses its tables, or the next owner of the id
	 * would inherit stale translations. */
	vtd_iotlb_invalidate_domain(&mmu->unit, dom->did);
	vtd_drain(&mmu->unit);
	iopt_destroy(&dom->pt);
	pthread_mutex_lock(&mmu->lock);
	mmu->by_did[dom->did] = NULL;
	mmu->nr_domains--;
	pthread_mutex_unlock(&mmu->lock);
	free(dom->sids);
	pthread_mutex_destroy(&dom->lock);
	free(dom);
}
