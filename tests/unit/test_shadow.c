/* Shadow translation: host domains composed from the guest's VT-d tables on
 * each (Caching Mode) invalidation. A 4K guest mapping inside a 2M-aligned
 * block stays 4K, permissions are the guest's, GPAs outside RAM and host
 * policy refusals are left unmapped and counted, the stale window lasts
 * exactly until the invalidation, guest faults land in the guest's log with
 * the right reason, devices follow TE and context changes, resyncs touch
 * only what changed, hostile tables are bounded, and a seeded randomized
 * differential test drives nested and shadow devices side by side against a
 * reference model of "guest tables o RAM". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <cmocka.h>

#include "test_twostage_harness.h"

/* The host unit knows a shadowed device by another source-id than the
 * guest (its VM's bus), as when several VMs share the host unit. */
#define HSID(sid) ((uint16_t)((sid) + 0x100))

struct sfx {
	struct vfx v;
	struct viommu_shadow sh;
	struct dma_as as;       /* SID_S, shadowed */
	struct dma_as asn;      /* SID_N, nested (the "both" fixture) */
};

static struct sfx fx;

static int setup_common(void **state, bool nested_too, const struct viommu_shadow_cfg *over)
{
	struct vfx *f = &fx.v;
	struct viommu_shadow_cfg cfg;

	vfx_host_init(f);
	assert_int_equal(iommu_domain_map_gmem(f->identity, &f->vm), 0);
	stage2_init_host(&f->s2, &f->mmu);
	vfx_guest_init(f, nested_too ? &f->s2 : NULL, nested_too ? 64 : 0);
	gt_context(&f->t, SID_S, GDID, f->slpt, 4, VTD_TT_TRANSLATED);
	cfg = over ? *over : (struct viommu_shadow_cfg){ 0 };
	cfg.guest = &f->gu;
	cfg.host = &f->mmu;
	cfg.gmem = &f->vm;
	cfg.vm_id = VM_ID;
	cfg.identity = f->identity;
	assert_int_equal(viommu_shadow_init(&fx.sh, &cfg), 0);
	assert_int_equal(viommu_shadow_add_device(&fx.sh, SID_S, HSID(SID_S)), 0);
	dma_as_init_shadow(&fx.as, &f->mmu.unit, HSID(SID_S), &f->gu, SID_S, &f->a);
	if (nested_too) {
		gt_context(&f->t, SID_N, GDID, f->slpt, 4, VTD_TT_TRANSLATED);
		assert_int_equal(iommu_domain_attach(f->identity, SID_N, 0), 0);
		dma_as_init_nested(&fx.asn, &f->gu, &f->mmu.unit, &f->a, SID_N);
	}
	*state = &fx;
	return 0;
}

static int setup(void **state)      { return setup_common(state, false, NULL); }
static int setup_both(void **state) { return setup_common(state, true, NULL); }

static int teardown(void **state)
{
	struct sfx *s = *state;

	viommu_shadow_destroy(&s->sh);
	vfx_fini(&s->v);
	return 0;
}

/* The guest's invalidation as the vIOMMU carries it out: the guest unit's
 * own IOTLB, then the shadow hook, then the wait. */
static void inv(struct sfx *s, int gran, uint16_t did, uint64_t addr, unsigned am)
{
	guest_inv(&s->v, gran, did, addr, am);
	viommu_shadow_iotlb_invalidated(&s->sh, gran, did, addr, VTD_PAGE_SIZE << am);
}

static struct viommu_shadow_stats sstats(struct sfx *s)
{
	struct viommu_shadow_stats st;

	viommu_shadow_stats_get(&s->sh, &st);
	return st;
}

static struct iommu_domain *shadow_dom(struct sfx *s)
{
	assert_int_equal(s->sh.nr_doms, 1);
	return s->sh.doms[0].dom;
}

static uint64_t host_faults(struct sfx *s)
{
	struct vtd_fault_stats st;

	vtd_fault_stats_get(&s->v.mmu.unit, &st);
	return st.total;
}

static void test_4k_in_2m_stays_4k(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	static uint8_t out[8192];
	struct vtd_fault_record r;
	struct vtd_xlate x;
	uint64_t hpa;
	unsigned prot;

	gt_map(&f->t, f->slpt, 4, 0x200000, 32 * MiB, 4096, IOPT_RW);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x200000, 0);
	assert_int_equal(iommu_domain_iova_to_phys(shadow_dom(s), 0x200000, &hpa, &prot), 0);
	assert_int_equal(hpa, vm_hpa(f, 32 * MiB));
	assert_int_equal(prot, IOPT_RW);
	/* no superpage past the requested range: the rest of the block is not mapped */
	assert_int_equal(iommu_domain_iova_to_phys(shadow_dom(s), 0x201000, &hpa, NULL), -ENOENT);
	assert_int_equal(iommu_domain_iova_to_phys(shadow_dom(s), 0x3ff000, &hpa, NULL), -ENOENT);
	assert_int_equal(vtd_translate(&f->mmu.unit, HSID(SID_S), 0x200010, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.page_size, 4096);
	assert_int_equal(sstats(s).pages_mapped, 1);
	memset(out, 0x3c, sizeof(out));
	assert_int_equal(dma_write(&s->as, 0x200000, out, sizeof(out)), 4096);
	assert_memory_equal(vm_ptr(f, 32 * MiB, 4096), out, 4096);
	assert_int_not_equal(*vm_ptr(f, 32 * MiB + 4096, 1), 0x3c);
	r = guest_pop(f, NULL);
	assert_int_equal(r.iova, 0x201000);
	assert_int_equal(r.reason, VTD_FR_WRITE);
	assert_true(r.not_present);
	assert_int_equal(s->as.stats.shadow_stale, 0);
	/* real 2M and 1G guest pages do become host superpages */
	gt_map(&f->t, f->slpt, 4, 0x600000, 34 * MiB, 2 * MiB, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, GiB, 0, GiB, IOPT_READ);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	assert_int_equal(vtd_translate(&f->mmu.unit, HSID(SID_S), 0x600000 + 0x1234, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.page_size, 2 * MiB);
	assert_int_equal(x.addr, vm_hpa(f, 34 * MiB + 0x1234));
	assert_int_equal(vtd_translate(&f->mmu.unit, HSID(SID_S), GiB + 0x12345678, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.page_size, GiB);
	assert_int_equal(x.addr, vm_hpa(f, 0x12345678));
	assert_int_equal(sstats(s).pages_mapped, 1 + 512 + 262144);
}

static void test_permissions_are_the_guests(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	uint8_t b[32] = { 7 };
	unsigned prot;
	uint64_t hpa;

	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA, 4096, IOPT_READ);
	gt_map(&f->t, f->slpt, 4, 0x11000, DATA_GPA + 0x1000, 4096, IOPT_WRITE);
	/* permissions narrow over the levels: an R-only directory entry */
	gt_map(&f->t, f->slpt, 4, 0x40000000, DATA_GPA + 0x2000, 4096, IOPT_RW);
	*gt_entry(&f->t, f->slpt, 4, 0x40000000, 2) &= ~VTD_SL_W;
	inv(s, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	assert_int_equal(iommu_domain_iova_to_phys(shadow_dom(s), 0x40000000, &hpa, &prot), 0);
	assert_int_equal(prot, IOPT_READ);
	assert_int_equal(dma_read(&s->as, 0x10000, b, sizeof(b)), sizeof(b));
	assert_int_equal(dma_write(&s->as, 0x10000, b, sizeof(b)), -EFAULT);
	assert_int_equal(guest_pop(f, NULL).reason, VTD_FR_WRITE);
	assert_int_equal(dma_write(&s->as, 0x11000, b, sizeof(b)), sizeof(b));
	assert_int_equal(dma_read(&s->as, 0x11000, b, sizeof(b)), -EFAULT);
	assert_int_equal(guest_pop(f, NULL).reason, VTD_FR_READ);
	assert_int_equal(dma_read(&s->as, 0x40000000, b, sizeof(b)), sizeof(b));
	assert_int_equal(dma_write(&s->as, 0x40000000, b, sizeof(b)), -EFAULT);
	assert_int_equal(guest_pop(f, NULL).reason, VTD_FR_WRITE);
	assert_int_equal(s->as.stats.shadow_stale, 0);
	/* a permission change is a change: resynced */
	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA, 4096, IOPT_RW);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(dma_write(&s->as, 0x10000, b, sizeof(b)), sizeof(b));
}

static void test_refusals(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	const uint64_t bad[] = { 0xb0000000ull, VM_RAM, 0xfec00000ull, 1ull << 45 };
	uint64_t priv = f->a.canary_hpa[4], h0 = host_faults(s), hpa;
	static uint8_t out[4096];
	uint8_t before[64];

	memset(out, 0xa5, sizeof(out));
	for (unsigned i = 0; i < 4; i++)
		gt_map(&f->t, f->slpt, 4, 0x100000 + i * 0x1000, bad[i], 4096, IOPT_RW);
	/* a 1G page half over RAM: the RAM half is shadowed, the rest refused */
	gt_map(&f->t, f->slpt, 4, 2 * GiB, GiB, GiB, IOPT_RW);
	/* the numbers of a private page are a GPA of the guest's own RAM */
	assert_true(priv >= DATA_GPA && priv + 4096 <= VM_RAM);
	gt_map(&f->t, f->slpt, 4, 0x200000, priv, 4096, IOPT_RW);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	assert_int_equal(sstats(s).refused, 5);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(iommu_domain_iova_to_phys(shadow_dom(s), 0x100000 + i * 0x1000, &hpa, NULL), -ENOENT);
		assert_int_equal(dma_write(&s->as, 0x100000 + i * 0x1000, out, 16), -EFAULT);
	}
	/* the guest allowed them: stale for the host, nothing in the guest's log */
	assert_int_equal(s->as.stats.shadow_stale, 4);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
	assert_true(host_faults(s) >= h0 + 4);
	assert_int_equal(dma_write(&s->as, 2 * GiB + GiB / 2 - 0x800, out, 0x1000), 0x800);
	assert_memory_equal(vm_ptr(f, GiB + GiB / 2 - 0x800, 0x800), out, 0x800);
	memcpy(before, arena_hpa_to_ptr(&f->a, priv, sizeof(before)), sizeof(before));
	assert_int_equal(dma_write(&s->as, 0x200000, out, sizeof(out)), sizeof(out));
	assert_memory_equal(vm_ptr(f, priv, sizeof(out)), out, sizeof(out));
	assert_memory_equal(arena_hpa_to_ptr(&f->a, priv, sizeof(before)), before, sizeof(before));
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

/* Defence in depth: even a composer handed a wrong RAM layout (here one
 * that claims the private region is the VM's RAM) cannot map it - the
 * host domain policy refuses, and the refusal is counted. */
static void test_host_policy_refuses(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	struct viommu_shadow_cfg cfg = { .guest = &f->gu, .host = &f->mmu, .gmem = NULL, .vm_id = VM_ID };
	struct viommu_shadow bad;
	struct gmem lie = f->vm;
	struct dma_as as;
	uint8_t b[16] = { 1 };
	uint64_t h0;

	lie.ranges[0].hpa = 0;                       /* "GPA 0 is at HPA 0": the private region */
	cfg.gmem = &lie;
	gt_context(&f->t, SID_X, GDID + 1, gt_alloc(&f->t), 4, VTD_TT_TRANSLATED);
	viommu_shadow_destroy(&s->sh);
	assert_int_equal(viommu_shadow_init(&bad, &cfg), 0);
	assert_int_equal(viommu_shadow_add_device(&bad, SID_X, HSID(SID_X)), 0);
	gt_map(&f->t, bad.doms[0].slptptr, 4, 0x10000, f->mmu.root_hpa, 4096, IOPT_RW);
	viommu_shadow_iotlb_invalidated(&bad, VIOMMU_SHADOW_INV_PAGE, GDID + 1, 0x10000, 4096);
	viommu_shadow_stats_get(&bad, &bad.stats);
	assert_int_equal(bad.stats.refused, 1);
	assert_int_equal(bad.stats.pages_mapped, 0);
	assert_int_equal(bad.doms[0].dom->stats.refused, 1);
	dma_as_init_shadow(&as, &f->mmu.unit, HSID(SID_X), &f->gu, SID_X, &f->a);
	h0 = host_faults(s);
	assert_int_equal(dma_write(&as, 0x10000, b, sizeof(b)), -EFAULT);
	assert_int_equal(as.stats.shadow_stale, 1);
	assert_int_equal(host_faults(s), h0 + 1);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
	viommu_shadow_destroy(&bad);
	/* the fixture's teardown destroys s->sh again: give it a fresh one */
	cfg.gmem = &f->vm;
	assert_int_equal(viommu_shadow_init(&s->sh, &cfg), 0);
}

static void test_stale_window_until_invalidation(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	const uint64_t A = DATA_GPA + 0x10000, B = DATA_GPA + 0x20000;
	uint8_t b[8];
	uint64_t h0;

	memset(vm_ptr(f, A, 8), 0xaa, 8);
	memset(vm_ptr(f, B, 8), 0xbb, 8);
	gt_map(&f->t, f->slpt, 4, 0x10000, A, 4096, IOPT_RW);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(dma_read(&s->as, 0x10000, b, 8), 8);
	assert_int_equal(b[0], 0xaa);
	/* the guest repoints the PTE: the old page until it invalidates */
	gt_map(&f->t, f->slpt, 4, 0x10000, B, 4096, IOPT_RW);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dma_read(&s->as, 0x10000, b, 8), 8);
		assert_int_equal(b[0], 0xaa);
	}
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(dma_read(&s->as, 0x10000, b, 8), 8);
	assert_int_equal(b[0], 0xbb);
	/* unmapped without invalidation: still B; invalidated: a guest fault */
	gt_unmap(&f->t, f->slpt, 4, 0x10000, 4096);
	assert_int_equal(dma_read(&s->as, 0x10000, b, 8), 8);
	assert_int_equal(b[0], 0xbb);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(dma_read(&s->as, 0x10000, b, 8), -EFAULT);
	assert_int_equal(guest_pop(f, NULL).reason, VTD_FR_READ);
	assert_int_equal(s->as.stats.shadow_stale, 0);
	/* mapped without the invalidation Caching Mode demands: refused, and
	 * counted as the host's business, until the invalidation */
	gt_map(&f->t, f->slpt, 4, 0x10000, A, 4096, IOPT_RW);
	h0 = host_faults(s);
	assert_int_equal(dma_read(&s->as, 0x10000, b, 8), -EFAULT);
	assert_int_equal(s->as.stats.shadow_stale, 1);
	assert_int_equal(host_faults(s), h0 + 1);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(dma_read(&s->as, 0x10000, b, 8), 8);
	assert_int_equal(b[0], 0xaa);
}

static void expect_guest_fault(struct sfx *s, uint16_t sid, uint64_t iova, bool write, unsigned reason)
{
	struct vfx *f = &s->v;
	struct vtd_fault_record r;
	struct dma_as as;
	uint8_t b[8] = { 0 };
	size_t k;

	dma_as_init_shadow(&as, &f->mmu.unit, HSID(sid), &f->gu, sid, &f->a);
	guest_pop(f, NULL);
	assert_int_equal(write ? dma_write(&as, iova, b, 8) : dma_read(&as, iova, b, 8), -EFAULT);
	r = guest_pop(f, &k);
	assert_int_equal(k, 1);
	assert_int_equal(r.sid, sid);
	assert_int_equal(r.iova, iova & VTD_PAGE_MASK);
	assert_int_equal(r.reason, reason);
	assert_int_equal(r.is_write, write);
	assert_int_equal(as.stats.shadow_stale, 0);
}

static void test_guest_fault_reasons(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	uint64_t slpt3 = gt_alloc(&f->t);

	/* shadowed devices the guest has not set up: blocked on the host,
	 * reported by the guest unit */
	assert_int_equal(viommu_shadow_add_device(&s->sh, SID_X, HSID(SID_X)), 0);
	assert_int_equal(viommu_shadow_add_device(&s->sh, VTD_SID(2, 0, 0), HSID(VTD_SID(2, 0, 0))), 0);
	expect_guest_fault(s, SID_X, 0x1000, false, VTD_FR_CONTEXT_ENTRY_P);
	expect_guest_fault(s, VTD_SID(2, 0, 0), 0x1000, true, VTD_FR_ROOT_ENTRY_P);
	/* a 3-level context: beyond 2^39 */
	gt_context(&f->t, SID_X, 9, slpt3, 3, VTD_TT_TRANSLATED);
	viommu_shadow_context_changed(&s->sh);
	expect_guest_fault(s, SID_X, 1ull << 39, false, VTD_FR_ADDR_BEYOND_MGAW);
	/* not present, reserved bits (never shadowed), the interrupt window */
	expect_guest_fault(s, SID_S, 0x5000, true, VTD_FR_WRITE);
	gt_map(&f->t, f->slpt, 4, 0x6000, DATA_GPA, 4096, IOPT_RW);
	*gt_entry(&f->t, f->slpt, 4, 0x6000, 1) |= VTD_SL_TM;
	gt_map(&f->t, f->slpt, 4, 0x7000, 0xfee00000ull, 4096, IOPT_RW);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	expect_guest_fault(s, SID_S, 0x6000, false, VTD_FR_PAGING_ENTRY_RSVD);
	expect_guest_fault(s, SID_S, 0x7008, true, VTD_FR_INTERRUPT_ADDR);
	/* a table pointer outside RAM */
	*gt_entry(&f->t, f->slpt, 4, 0x300000000000ull, 4) = (3 * GiB) | VTD_SL_R | VTD_SL_W;
	inv(s, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	expect_guest_fault(s, SID_S, 0x300000000000ull, false, VTD_FR_PAGING_ENTRY_INV);
}

static void test_te_and_context_changes(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	uint64_t other = gt_alloc(&f->t);
	uint8_t b[8];

	memset(vm_ptr(f, DATA_GPA, 8), 0x11, 8);
	memset(vm_ptr(f, DATA_GPA + 0x1000, 8), 0x22, 8);
	gt_map(&f->t, f->slpt, 4, 0x1000, DATA_GPA + 0x1000, 4096, IOPT_RW);
	inv(s, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	/* translation off: the identity domain, IOVA = GPA */
	assert_int_equal(vtd_set_translation_enable(&f->gu, false), 0);
	viommu_shadow_context_changed(&s->sh);
	assert_int_equal(sstats(s).domains, 0);      /* the unused shadow went */
	assert_int_equal(dma_read(&s->as, DATA_GPA, b, 8), 8);
	assert_int_equal(b[0], 0x11);
	assert_int_equal(dma_read(&s->as, 0xb0000000ull, b, 8), -EFAULT);
	assert_int_equal(s->as.stats.shadow_stale, 1);
	/* on again: composed afresh from the guest's tables */
	assert_int_equal(vtd_set_translation_enable(&f->gu, true), 0);
	viommu_shadow_context_changed(&s->sh);
	assert_int_equal(sstats(s).domains, 1);
	assert_int_equal(dma_read(&s->as, 0x1000, b, 8), 8);
	assert_int_equal(b[0], 0x22);
	assert_int_equal(dma_read(&s->as, DATA_GPA, b, 8), -EFAULT);
	guest_pop(f, NULL);
	/* pass-through context: identity again */
	gt_context(&f->t, SID_S, GDID, f->slpt, 4, VTD_TT_PASSTHROUGH);
	vtd_context_invalidate_global(&f->gu);
	viommu_shadow_context_changed(&s->sh);
	assert_int_equal(dma_read(&s->as, DATA_GPA, b, 8), 8);
	assert_int_equal(b[0], 0x11);
	/* another domain id and table: a new shadow */
	gt_map(&f->t, other, 4, 0x1000, DATA_GPA, 4096, IOPT_READ);
	gt_context(&f->t, SID_S, GDID + 1, other, 4, VTD_TT_TRANSLATED);
	vtd_context_invalidate_global(&f->gu);
	viommu_shadow_context_changed(&s->sh);
	assert_int_equal(s->sh.doms[0].did, GDID + 1);
	assert_int_equal(dma_read(&s->as, 0x1000, b, 8), 8);
	assert_int_equal(b[0], 0x11);
	/* context gone: blocked, and the guest sees "context not present" */
	gt_context_clear(&f->t, SID_S);
	vtd_context_invalidate_global(&f->gu);
	viommu_shadow_context_changed(&s->sh);
	assert_int_equal(sstats(s).domains, 0);
	expect_guest_fault(s, SID_S, 0x1000, false, VTD_FR_CONTEXT_ENTRY_P);
	assert_true(sstats(s).attaches >= 5);
}

static void test_resync_touches_only_changes(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	struct viommu_shadow_stats st0, st1;

	for (uint64_t i = 0; i < 600; i++)
		gt_map(&f->t, f->slpt, 4, 0x100000 + (i << 12), DATA_GPA + (i << 12), 4096, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, 0x40000000, 64 * MiB, 2 * MiB, IOPT_READ);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	st0 = sstats(s);
	assert_int_equal(st0.pages_mapped, 600 + 512);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	inv(s, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0, 10);
	st1 = sstats(s);
	assert_int_equal(st1.pages_mapped, st0.pages_mapped);
	assert_int_equal(st1.pages_unmapped, 0);
	assert_int_equal(st1.syncs, st0.syncs + 3);
	/* one PTE repointed, one removed: exactly those */
	gt_map(&f->t, f->slpt, 4, 0x100000 + (7 << 12), DATA_GPA + (900 << 12), 4096, IOPT_RW);
	gt_unmap(&f->t, f->slpt, 4, 0x100000 + (8 << 12), 4096);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	st1 = sstats(s);
	assert_int_equal(st1.pages_mapped, st0.pages_mapped + 1);
	assert_int_equal(st1.pages_unmapped, 2);
	/* an invalidation of another domain id does nothing here */
	gt_unmap(&f->t, f->slpt, 4, 0x100000, 4096);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID + 3, 0x100000, 0);
	assert_int_equal(sstats(s).pages_unmapped, 2);
}

/* A stable mapping must keep working while the same domain is resynced
 * around it, domain-selective and global flushes included. */
struct stable {
	struct sfx *s;
	bool stop;
	uint64_t ok, bad;
};

static void *stable_reader(void *arg)
{
	struct stable *c = arg;
	uint8_t b[64];

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		if (dma_read(&c->s->as, 0x10000, b, sizeof(b)) == sizeof(b) && b[0] == 0x77)
			__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
		else
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_resync_leaves_live_mappings_alone(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	struct stable c = { .s = s };
	pthread_t th;

	memset(vm_ptr(f, DATA_GPA, 64), 0x77, 64);
	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA, 4096, IOPT_READ);
	inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(pthread_create(&th, NULL, stable_reader, &c), 0);
	for (unsigned round = 0; round < 300; round++) {
		uint64_t iova = 0x11000 + ((uint64_t)(round % 16) << 12);

		gt_map(&f->t, f->slpt, 4, iova, DATA_GPA + 0x100000, 4096, IOPT_RW);
		inv(s, round % 3 ? VIOMMU_SHADOW_INV_DOMAIN : VIOMMU_SHADOW_INV_GLOBAL, GDID, 0, 0);
		gt_unmap(&f->t, f->slpt, 4, iova, 4096);
		inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, 0, 5);
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	print_message("stable mapping during resyncs: %llu reads ok, %llu bad\n",
		      (unsigned long long)c.ok, (unsigned long long)c.bad);
	assert_int_equal(c.bad, 0);
	assert_true(c.ok > 0);
}

/* ---- hostile tables ---- */

static int count_leaf(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static void test_self_linked_tables_are_bounded(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	struct iopt_mem mem = { .read64 = guest_read64, .opaque = &f->vm };
	uint64_t *t = (uint64_t *)vm_ptr(f, f->slpt, 4096), budget, leaves = 0;
	struct viommu_shadow_stats st;
	uint8_t b[8];

	/* every entry of the top table points at the table itself: 512^4
	 * leaves through one page */
	for (unsigned i = 0; i < 512; i++)
		t[i] = f->slpt | VTD_SL_R | VTD_SL_W;
	budget = 5000;
	assert_int_equal(iopt_vtd_enum(&mem, f->slpt, 4, 46, IOPT_PAGE_4K, 0, 1ull << 48, &budget,
				       count_leaf, &leaves), -E2BIG);
	assert_int_equal(budget, 0);
	assert_true(leaves > 4000 && leaves < 5000);
	/* the composer: bounded work, the rest left unmapped (fails safe) */
	viommu_shadow_destroy(&s->sh);
	{
		struct viommu_shadow_cfg cfg = {
			.guest = &f->gu, .host = &f->mmu, .gmem = &f->vm, .vm_id = VM_ID,
			.identity = f->identity, .max_entries = 20000, .max_tables = 64,
		};

		assert_int_equal(viommu_shadow_init(&s->sh, &cfg), 0);
	}
	assert_int_equal(viommu_shadow_add_device(&s->sh, SID_S, HSID(SID_S)), 0);
	st = sstats(s);
	assert_int_equal(st.truncated, 1);
	/* what was composed before the budget ran out is what the guest
	 * mapped (its own table page, read-write); the rest is unmapped */
	assert_true(st.pages_mapped > 0 && st.pages_mapped < 20000);
	assert_int_equal(dma_read(&s->as, 0, b, 8), 8);
	assert_int_equal(dma_read(&s->as, 0xfff000ull << 20, b, 8), -EFAULT);
	assert_int_equal(s->as.stats.shadow_stale, 1);
	assert_true(shadow_dom(s)->pt.nr_tables <= 64 + 3);
	/* a PS bit at level 4, and bits beyond HAW, are never leaves */
	for (unsigned i = 0; i < 512; i++)
		t[i] = 0;
	t[1] = VTD_SL_PS | VTD_SL_R | VTD_SL_W;
	t[2] = (1ull << 50) | VTD_SL_R | VTD_SL_W;
	budget = 5000;
	leaves = 0;
	assert_int_equal(iopt_vtd_enum(&mem, f->slpt, 4, 46, IOPT_PAGE_4K, 0, 1ull << 48, &budget,
				       count_leaf, &leaves), 0);
	assert_int_equal(leaves, 0);
	assert_int_equal(budget, 5000 - 512);
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

/* Guest table reads, counted: the guest unit's table memory wrapped. */
static struct iopt_mem counted_inner;
static uint64_t counted_reads;

static int counted_read64(void *opaque, uint64_t addr, uint64_t *val)
{
	(void)opaque;
	counted_reads++;
	return iopt_mem_read64(&counted_inner, addr, val);
}

static void reinit_shadow(struct sfx *s, uint64_t max_entries, bool passes)
{
	struct vfx *f = &s->v;
	struct viommu_shadow_cfg cfg = {
		.guest = &f->gu, .host = &f->mmu, .gmem = &f->vm, .vm_id = VM_ID,
		.identity = f->identity, .max_entries = max_entries, .max_tables = 64, .passes = passes,
	};

	viommu_shadow_destroy(&s->sh);
	assert_int_equal(viommu_shadow_init(&s->sh, &cfg), 0);
	assert_int_equal(viommu_shadow_add_device(&s->sh, SID_S, HSID(SID_S)), 0);
}

/* fuzz_viommu's timeout: a queued-invalidation pass of many global
 * invalidations over self-linked tables read the whole budget per domain
 * and per descriptor (minutes in one exit). With passes, every hook of one
 * guest action shares one budget; it renews at pass_done. */
static void test_budget_is_per_guest_action(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	uint64_t *t = (uint64_t *)vm_ptr(f, f->slpt, 4096), before;
	uint8_t b[8];

	for (unsigned i = 0; i < 512; i++)
		t[i] = f->slpt | VTD_SL_R | VTD_SL_W;
	counted_inner = f->gu.mem;
	f->gu.mem = (struct iopt_mem){ .read64 = counted_read64 };

	reinit_shadow(s, 20000, true);
	counted_reads = 0;
	for (unsigned i = 0; i < 50; i++)
		viommu_shadow_iotlb_invalidated(&s->sh, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	assert_true(counted_reads > 19000 && counted_reads <= 20000);
	assert_int_equal(sstats(s).truncated, 1 + 50);
	/* spent: the rest of the pass fails safe, nothing mapped */
	assert_int_equal(dma_read(&s->as, 0, b, 8), -EFAULT);
	/* a context change in the same pass: its context lookups only */
	before = counted_reads;
	viommu_shadow_context_changed(&s->sh);
	assert_true(counted_reads - before <= 4);
	/* the next guest action reads again */
	viommu_shadow_pass_done(&s->sh);
	before = counted_reads;
	viommu_shadow_iotlb_invalidated(&s->sh, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	assert_true(counted_reads - before > 19000 && counted_reads - before <= 20000);
	assert_int_equal(dma_read(&s->as, 0, b, 8), 8);

	/* without passes each hook call has its own budget */
	reinit_shadow(s, 20000, false);
	counted_reads = 0;
	for (unsigned i = 0; i < 3; i++)
		viommu_shadow_iotlb_invalidated(&s->sh, VIOMMU_SHADOW_INV_GLOBAL, 0, 0, 0);
	assert_true(counted_reads > 3 * 19000 && counted_reads <= 3 * 20000);
	f->gu.mem = counted_inner;
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

static void test_table_pages_are_limited(void **state)
{
	struct sfx *s = *state;
	struct vfx *f = &s->v;
	struct viommu_shadow_cfg cfg = {
		.guest = &f->gu, .host = &f->mmu, .gmem = &f->vm, .vm_id = VM_ID,
		.identity = f->identity, .max_tables = 16,
	};
	struct viommu_shadow_stats st;
	uint64_t tables;

	viommu_shadow_destroy(&s->sh);
	assert_int_equal(viommu_shadow_init(&s->sh, &cfg), 0);
	assert_int_equal(viommu_shadow_add_device(&s->sh, SID_S, HSID(SID_S)), 0);
	/* one 4K page in each of 40 different 512 GiB regions: 3 host tables each */
	for (uint64_t i = 0; i < 40; i++)
		gt_map(&f->t, f->slpt, 4, i << 39, DATA_GPA, 4096, IOPT_READ);
	inv(s, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	st = sstats(s);
	tables = shadow_dom(s)->pt.nr_tables;
	assert_true(tables <= 16 + 3);
	assert_true(st.refused >= 30);
	assert_int_equal(st.pages_mapped + st.refused, 40);
}

/* ---- differential: nested and shadow against "guest tables o RAM" ---- */

#define NSLOT     32                       /* 2M slots at IOVA [0, 64M) */
#define SLOT1G    GiB                      /* one 1G slot at IOVA [1G, 2G) */
#define MAXPEND   12

enum { EMPTY, LEAF, TABLE };

struct slot {
	int kind;
	uint64_t gpa;                          /* LEAF */
	unsigned prot;
	uint64_t table;                        /* its PT, once allocated */
	uint64_t pg_gpa[512];
	uint8_t pg_prot[512];                  /* 0: not mapped */
};

struct model {
	struct slot s[NSLOT];
	int kind1g;
	uint64_t gpa1g;
	unsigned prot1g;
	uint64_t pend_iova[MAXPEND], pend_size[MAXPEND];
	unsigned npend;
	uint64_t rng;
	uint64_t checks, ok, guest_faults, host_refusals;
};

static uint64_t rnd(struct model *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

static unsigned rnd_prot(struct model *m)
{
	unsigned r = (unsigned)(rnd(m) % 8);

	return r < 5 ? IOPT_RW : r < 7 ? IOPT_READ : IOPT_WRITE;
}

static uint64_t rnd_gpa4k(struct model *m)
{
	unsigned r = (unsigned)(rnd(m) % 100);

	if (r < 88)
		return DATA_GPA + ((rnd(m) % 16384) << 12);
	if (r < 93)
		return VM_RAM + ((rnd(m) % 64) << 12);
	if (r < 97)
		return 0xb0000000ull + ((rnd(m) % 64) << 12);
	return 0xfee00000ull;
}

static void pend(struct sfx *s, struct model *m, uint64_t iova, uint64_t size);

static void flush_pending(struct sfx *s, struct model *m)
{
	for (unsigned i = 0; i < m->npend; i++) {
		unsigned am = 0;

		while ((VTD_PAGE_SIZE << am) < m->pend_size[i])
			am++;
		inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, m->pend_iova[i], am);
	}
	m->npend = 0;
}

static void pend(struct sfx *s, struct model *m, uint64_t iova, uint64_t size)
{
	if (m->npend == MAXPEND)
		flush_pending(s, m);
	m->pend_iova[m->npend] = iova;
	m->pend_size[m->npend++] = size;
}

static bool pending(const struct model *m, uint64_t iova)
{
	for (unsigned i = 0; i < m->npend; i++)
		if (iova >= m->pend_iova[i] && iova - m->pend_iova[i] < m->pend_size[i])
			return true;
	return false;
}

static uint64_t *pde(struct sfx *s, unsigned i)
{
	return gt_entry(&s->v.t, s->v.slpt, 4, (uint64_t)i << 21, 2);
}

static void op_map4k(struct sfx *s, struct model *m)
{
	unsigned i = (unsigned)(rnd(m) % NSLOT), p = (unsigned)(rnd(m) % 512);
	struct slot *sl = &m->s[i];
	uint64_t iova = ((uint64_t)i << 21) + ((uint64_t)p << 12);

	if (sl->kind == LEAF)
		return;
	if (sl->kind == EMPTY) {
		if (!sl->table)
			sl->table = gt_alloc(&s->v.t);
		memset(vm_ptr(&s->v, sl->table, 4096), 0, 4096);
		memset(sl->pg_prot, 0, sizeof(sl->pg_prot));
		*pde(s, i) = sl->table | VTD_SL_R | VTD_SL_W;
		sl->kind = TABLE;
	}
	/* mapped already: repointed in place, as a (careless) guest may */
	sl->pg_gpa[p] = rnd_gpa4k(m);
	sl->pg_prot[p] = (uint8_t)rnd_prot(m);
	*gt_ptr(&s->v.t, sl->table + p * 8) = sl->pg_gpa[p] | sl->pg_prot[p];
	pend(s, m, iova, 4096);
}

static void op_unmap4k(struct sfx *s, struct model *m)
{
	unsigned i = (unsigned)(rnd(m) % NSLOT);
	struct slot *sl = &m->s[i];

	if (sl->kind != TABLE)
		return;
	for (unsigned n = 0, p = (unsigned)(rnd(m) % 512); n < 512; n++, p = (p + 1) % 512) {
		if (!sl->pg_prot[p])
			continue;
		sl->pg_prot[p] = 0;
		*gt_ptr(&s->v.t, sl->table + p * 8) = 0;
		pend(s, m, ((uint64_t)i << 21) + ((uint64_t)p << 12), 4096);
		return;
	}
}

static void op_toggle2m(struct sfx *s, struct model *m)
{
	unsigned i = (unsigned)(rnd(m) % NSLOT);
	struct slot *sl = &m->s[i];
	unsigned mapped = 0;

	for (unsigned p = 0; sl->kind == TABLE && p < 512; p++)
		mapped += sl->pg_prot[p] != 0;
	if (sl->kind == LEAF) {
		*pde(s, i) = 0;
		sl->kind = EMPTY;
	} else if (!mapped) {
		sl->gpa = rnd(m) % 10 ? DATA_GPA + ((rnd(m) % 32) << 21) : VM_RAM + ((rnd(m) % 8) << 21);
		sl->prot = rnd_prot(m);
		*pde(s, i) = sl->gpa | sl->prot | VTD_SL_PS;
		sl->kind = LEAF;
	} else {
		return;
	}
	pend(s, m, (uint64_t)i << 21, 2 * MiB);
}

static void op_toggle1g(struct sfx *s, struct model *m)
{
	uint64_t *e = gt_entry(&s->v.t, s->v.slpt, 4, SLOT1G, 3);

	if (m->kind1g == LEAF) {
		*e = 0;
		m->kind1g = EMPTY;
	} else {
		m->gpa1g = (rnd(m) % 3) * GiB;     /* all RAM, half RAM, none */
		m->prot1g = rnd_prot(m);
		*e = m->gpa1g | m->prot1g | VTD_SL_PS;
		m->kind1g = LEAF;
	}
	pend(s, m, SLOT1G, GiB);
}

/* What "guest tables o RAM" says for iova: 0 and gpa/prot, or -1. */
static int model_lookup(const struct model *m, uint64_t iova, uint64_t *gpa, unsigned *prot)
{
	if (iova >= SLOT1G && iova < 2 * GiB) {
		if (m->kind1g != LEAF)
			return -1;
		*gpa = m->gpa1g + (iova - SLOT1G);
		*prot = m->prot1g;
		return 0;
	}
	if (iova < NSLOT * 2 * MiB) {
		const struct slot *sl = &m->s[iova >> 21];
		unsigned p = (unsigned)(iova >> 12) & 511;

		if (sl->kind == LEAF) {
			*gpa = sl->gpa + (iova & (2 * MiB - 1));
			*prot = sl->prot;
			return 0;
		}
		if (sl->kind == TABLE && sl->pg_prot[p]) {
			*gpa = sl->pg_gpa[p] + (iova & 4095);
			*prot = sl->pg_prot[p];
			return 0;
		}
	}
	return -1;
}

static bool in_ram(uint64_t gpa) { return gpa < VM_RAM; }

/* One DMA through one device, checked against the model. */
static void check_one(struct sfx *s, struct model *m, struct dma_as *as, bool shadow, uint64_t iova,
		      bool write, size_t len)
{
	struct vfx *f = &s->v;
	uint8_t buf[64], want[64];
	uint64_t gpa = 0, g0 = guest_faults(f), stale0 = as->stats.shadow_stale, s20 = as->stats.stage2_faults;
	unsigned prot = 0, access = write ? IOPT_WRITE : IOPT_READ;
	int mapped = model_lookup(m, iova, &gpa, &prot);
	bool guest_denies = mapped || !(prot & access);
	bool window = !guest_denies && (gpa & VTD_PAGE_MASK) == 0xfee00000ull;
	ssize_t r;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd(m);
	memcpy(want, buf, len);
	r = write ? dma_write(as, iova, buf, len) : dma_read(as, iova, buf, len);
	m->checks++;
	if (!guest_denies && !window && in_ram(gpa)) {
		assert_int_equal(r, (ssize_t)len);
		if (write)
			assert_memory_equal(vm_ptr(f, gpa, len), want, len);
		else
			assert_memory_equal(buf, vm_ptr(f, gpa, len), len);
		assert_int_equal(guest_faults(f), g0);
		m->ok++;
		return;
	}
	assert_int_equal(r, -EFAULT);
	if (guest_denies || window) {
		struct vtd_fault_record rec = guest_pop(f, NULL);

		assert_int_equal(guest_faults(f), g0 + 1);
		assert_int_equal(rec.reason, window ? VTD_FR_INTERRUPT_ADDR : write ? VTD_FR_WRITE : VTD_FR_READ);
		assert_int_equal(rec.iova, iova & VTD_PAGE_MASK);
		m->guest_faults++;
	} else {
		/* the guest allowed a GPA that is not RAM: the host's refusal */
		assert_int_equal(guest_faults(f), g0);
		if (shadow)
			assert_int_equal(as->stats.shadow_stale, stale0 + 1);
		else
			assert_int_equal(as->stats.stage2_faults, s20 + 1);
		m->host_refusals++;
	}
}

static void op_check(struct sfx *s, struct model *m)
{
	uint64_t iova, gpa;
	unsigned prot;
	bool write;
	size_t len;

	iova = rnd(m) % 5 ? ((rnd(m) % (NSLOT * 512)) << 12) : SLOT1G + ((rnd(m) % 262144) << 12);
	if (iova < SLOT1G && rnd(m) % 4) {
		/* mostly where something is mapped: the nearest 4K mapping */
		struct slot *sl = &m->s[iova >> 21];
		unsigned p = (unsigned)(iova >> 12) & 511;

		for (unsigned n = 0; sl->kind == TABLE && n < 512 && !sl->pg_prot[p]; n++)
			p = (p + 1) % 512;
		iova = (iova & ~(2 * MiB - 1)) + ((uint64_t)p << 12);
	}
	iova += (rnd(m) % 64) * 64;
	if (pending(m, iova))
		return;
	len = 1 + rnd(m) % 64;
	write = rnd(m) & 1;
	/* writes stay in the data area: never into the guest's own tables */
	if (write && !model_lookup(m, iova, &gpa, &prot) && gpa < DATA_GPA)
		write = false;
	check_one(s, m, &s->asn, false, iova, write, len);
	check_one(s, m, &s->as, true, iova, write, len);
}

/* After everything is invalidated, the shadow domain holds exactly the
 * model's RAM mappings (sampled over the 1G slot). */
static void check_shadow_table(struct sfx *s, struct model *m)
{
	struct iommu_domain *d = shadow_dom(s);

	for (uint64_t iova = 0; iova < 2 * GiB; iova += iova < NSLOT * 2 * MiB ? 4096 : 0x1f000) {
		uint64_t gpa = 0, hpa;
		unsigned prot = 0, hprot;
		bool want = !model_lookup(m, iova, &gpa, &prot) && in_ram(gpa);
		int r = iommu_domain_iova_to_phys(d, iova, &hpa, &hprot);

		if (iova == NSLOT * 2 * MiB)
			iova = SLOT1G - 0x1f000;
		if (!want) {
			assert_int_equal(r, -ENOENT);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(hpa, vm_hpa(&s->v, gpa));
		assert_int_equal(hprot, prot);
	}
}

static void test_differential_nested_vs_shadow(void **state)
{
	struct sfx *s = *state;
	static struct model m;
	struct viommu_shadow_stats st;
	const unsigned ops = 20000;

	memset(&m, 0, sizeof(m));
	m.rng = 0x9e3779b97f4a7c15ull;
	for (unsigned n = 0; n < ops; n++) {
		unsigned r = (unsigned)(rnd(&m) % 100);

		if (r < 30)
			op_map4k(s, &m);
		else if (r < 42)
			op_unmap4k(s, &m);
		else if (r < 47)
			op_toggle2m(s, &m);
		else if (r < 48)
			op_toggle1g(s, &m);
		else if (r < 58)
			flush_pending(s, &m);
		else if (r < 60) {
			/* a coarser flush: covers the pending ones and more */
			inv(s, rnd(&m) & 1 ? VIOMMU_SHADOW_INV_DOMAIN : VIOMMU_SHADOW_INV_GLOBAL, GDID, 0, 0);
			m.npend = 0;
		} else if (r < 62) {
			/* a flush of something unchanged changes nothing */
			inv(s, VIOMMU_SHADOW_INV_PAGE, GDID, (rnd(&m) % (NSLOT * 512)) << 12, 0);
		} else {
			op_check(s, &m);
		}
		if (n % 5000 == 4999) {
			flush_pending(s, &m);
			check_shadow_table(s, &m);
		}
	}
	flush_pending(s, &m);
	check_shadow_table(s, &m);
	viommu_shadow_stats_get(&s->sh, &st);
	print_message("differential: %llu checks (%llu ok, %llu guest faults, %llu host refusals); "
		      "shadow: %llu syncs, %llu pages mapped, %llu unmapped, %llu refused\n",
		      (unsigned long long)m.checks, (unsigned long long)m.ok,
		      (unsigned long long)m.guest_faults, (unsigned long long)m.host_refusals,
		      (unsigned long long)st.syncs, (unsigned long long)st.pages_mapped,
		      (unsigned long long)st.pages_unmapped, (unsigned long long)st.refused);
	assert_true(m.ok > 1000);
	assert_true(m.guest_faults > 1000);
	assert_true(m.host_refusals > 50);
	assert_int_equal(arena_check_canaries(&s->v.a), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_4k_in_2m_stays_4k),
		T(test_permissions_are_the_guests),
		T(test_refusals),
		T(test_host_policy_refuses),
		T(test_stale_window_until_invalidation),
		T(test_guest_fault_reasons),
		T(test_te_and_context_changes),
		T(test_resync_touches_only_changes),
		T(test_resync_leaves_live_mappings_alone),
		T(test_self_linked_tables_are_bounded),
		T(test_budget_is_per_guest_action),
		T(test_table_pages_are_limited),
		cmocka_unit_test_setup_teardown(test_differential_nested_vs_shadow, setup_both, teardown),
	};

	return cmocka_run_group_tests_name("shadow", tests, NULL, NULL);
}
