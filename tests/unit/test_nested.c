/* Nested translation: a guest-visible VT-d unit over tables in guest RAM
 * (IOVA -> GPA) with the VM's host domain as its second stage (GPA -> HPA).
 * 4K/2M/1G guest pages, guest superpages over host 4K/2M pages (combined
 * entries clamped to what both stages map contiguously), the combined IOTLB
 * hit, guest page-selective invalidation, hostile guest tables (GPAs outside
 * RAM, "HPAs" of the private region, tables outside RAM), translation off,
 * the interrupt window, the gmem second stage, and strict guest unmap
 * against a concurrent device. */
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

struct nfx {
	struct vfx v;
	struct dma_as as;
};

static struct nfx fx;

static int setup(void **state)
{
	struct vfx *f = &fx.v;

	vfx_host_init(f);
	assert_int_equal(iommu_domain_map_gmem(f->identity, &f->vm), 0);
	assert_int_equal(iommu_domain_attach(f->identity, SID_N, 0), 0);
	stage2_init_host(&f->s2, &f->mmu);
	vfx_guest_init(f, &f->s2, 0);
	gt_context(&f->t, SID_N, GDID, f->slpt, 4, VTD_TT_TRANSLATED);
	dma_as_init_nested(&fx.as, &f->gu, &f->mmu.unit, &f->a, SID_N);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct nfx *n = *state;

	vfx_fini(&n->v);
	return 0;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + seed);
}

static struct vtd_xlate xl(struct vfx *f, uint16_t sid, uint64_t iova, unsigned req, int want)
{
	struct vtd_xlate x;

	assert_int_equal(vtd_translate(&f->gu, sid, iova, req, &x), want);
	return x;
}

static void test_page_sizes(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	static uint8_t out[300], in[300];
	struct vtd_xlate x;

	/* host: GPA [0, 1G) is one 1G page at HPA 1G, [1G, 1.5G) 2M pages */
	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA + 0x5000, 4096, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, 0x400000, 32 * MiB, 2 * MiB, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, GiB, 0, GiB, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, 0x8000000000ull, GiB + 4 * MiB, 2 * MiB, IOPT_READ);

	x = xl(f, SID_N, 0x10123, VTD_REQ_WRITE, 0);
	assert_int_equal(x.addr, vm_hpa(f, DATA_GPA + 0x5123));
	assert_int_equal(x.page_size, 4096);         /* the guest's 4K, not the host's 1G */
	assert_int_equal(x.did, GDID);
	x = xl(f, SID_N, 0x400000 + 0x1ff008, VTD_REQ_READ, 0);
	assert_int_equal(x.addr, vm_hpa(f, 32 * MiB + 0x1ff008));
	assert_int_equal(x.page_size, 2 * MiB);
	x = xl(f, SID_N, GiB + 0x3456789, VTD_REQ_WRITE, 0);
	assert_int_equal(x.addr, vm_hpa(f, 0x3456789));
	assert_int_equal(x.page_size, GiB);
	x = xl(f, SID_N, 0x8000000000ull + 0x1234, VTD_REQ_READ, 0);
	assert_int_equal(x.addr, vm_hpa(f, GiB + 4 * MiB + 0x1234));
	assert_int_equal(x.page_size, 2 * MiB);      /* host 2M there */
	assert_int_equal(x.perm, IOPT_READ);
	x = xl(f, SID_N, 0x8000000000ull, VTD_REQ_WRITE, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_WRITE);
	assert_false(x.stage2_fault);

	/* DMA through all three, data where the guest's GPA is */
	fill(out, sizeof(out), 1);
	assert_int_equal(dma_write(&n->as, 0x10100, out, sizeof(out)), sizeof(out));
	assert_memory_equal(vm_ptr(f, DATA_GPA + 0x5100, sizeof(out)), out, sizeof(out));
	fill(out, sizeof(out), 2);
	assert_int_equal(dma_write(&n->as, GiB + DATA_GPA + 0x777, out, sizeof(out)), sizeof(out));
	assert_memory_equal(vm_ptr(f, DATA_GPA + 0x777, sizeof(out)), out, sizeof(out));
	/* the end of the 2M page: the next IOVA is unmapped, the transfer stops there */
	fill(out, sizeof(out), 3);
	assert_int_equal(dma_write(&n->as, 0x600000 - 100, out, sizeof(out)), 100);
	assert_memory_equal(vm_ptr(f, 34 * MiB - 100, 100), out, 100);
	assert_int_equal(dma_read(&n->as, 0x600000 - 100, in, sizeof(in)), 100);
	assert_memory_equal(in, out, 100);
	assert_int_equal(guest_pop(f, NULL).iova, 0x600000);
	assert_int_equal(n->as.stats.stage2_faults, 0);
	/* a 3-level guest table for another device: same results */
	{
		uint64_t slpt3 = gt_alloc(&f->t);

		assert_int_equal(iommu_domain_attach(f->identity, SID_X, 0), 0);
		gt_context(&f->t, SID_X, 9, slpt3, 3, VTD_TT_TRANSLATED);
		gt_map(&f->t, slpt3, 3, 0x40000000, 64 * MiB, 2 * MiB, IOPT_RW);
		x = xl(f, SID_X, 0x40000000 + 0x12345, VTD_REQ_WRITE, 0);
		assert_int_equal(x.addr, vm_hpa(f, 64 * MiB + 0x12345));
		assert_int_equal(x.page_size, 2 * MiB);
		xl(f, SID_X, 1ull << 39, VTD_REQ_READ, -EFAULT);
	}
}

/* The host maps GPA [0, 2M) page by page in reverse, and [2M, 1G) with 2M
 * pages shifted by 2M (so never a 1G page): guest superpages over them may
 * only be cached at the size both stages share. */
static void test_guest_superpages_over_host_small_pages(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	const uint64_t ram = f->vm.ranges[0].hpa;
	static uint8_t out[3 * 4096];
	struct vtd_stats st0, st1;
	struct vtd_xlate x;

	assert_int_equal(iommu_domain_unmap(f->identity, 0, VM_RAM, NULL), 0);
	for (uint64_t i = 0; i < 512; i++)
		assert_int_equal(iommu_domain_map(f->identity, i << 12, ram + ((511 - i) << 12), 4096, IOPT_RW), 0);
	assert_int_equal(iommu_domain_map(f->identity, 2 * MiB, ram + 4 * MiB, GiB - 2 * MiB, IOPT_RW), 0);
	gt_map(&f->t, f->slpt, 4, 0x200000, 0, 2 * MiB, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, GiB, 0, GiB, IOPT_RW);

	/* guest 2M over reversed host 4K: 4K entries, each right */
	for (uint64_t i = 0; i < 512; i += 73) {
		x = xl(f, SID_N, 0x200000 + (i << 12) + 0x10, VTD_REQ_READ, 0);
		assert_int_equal(x.addr, ram + ((511 - i) << 12) + 0x10);
		assert_int_equal(x.page_size, 4096);
	}
	/* page 1 after page 0: a miss, not a hit of a wrongly widened entry */
	xl(f, SID_N, 0x200000, VTD_REQ_READ, 0);
	vtd_stats_get(&f->gu, &st0);
	x = xl(f, SID_N, 0x201000, VTD_REQ_READ, 0);
	vtd_stats_get(&f->gu, &st1);
	assert_false(x.iotlb_hit);
	assert_int_equal(st1.iotlb_misses, st0.iotlb_misses + 1);
	assert_int_equal(x.addr, ram + (510ull << 12));
	fill(out, sizeof(out), 5);
	assert_int_equal(dma_write(&n->as, 0x200000, out, sizeof(out)), sizeof(out));
	for (unsigned i = 0; i < 3; i++)
		assert_memory_equal(arena_hpa_to_ptr(&f->a, ram + ((511ull - i) << 12), 4096),
				    out + i * 4096, 4096);

	/* guest 1G over host 2M (shifted): 2M entries; over the reversed 4K: 4K */
	x = xl(f, SID_N, GiB + 4 * MiB + 0x123, VTD_REQ_WRITE, 0);
	assert_int_equal(x.addr, ram + 6 * MiB + 0x123);
	assert_int_equal(x.page_size, 2 * MiB);
	x = xl(f, SID_N, GiB + 4 * MiB + 2 * MiB - 8, VTD_REQ_WRITE, 0);
	assert_true(x.iotlb_hit);
	assert_int_equal(x.addr, ram + 8 * MiB - 8);
	x = xl(f, SID_N, GiB + 6 * MiB, VTD_REQ_WRITE, 0);   /* next 2M block: its own entry */
	assert_false(x.iotlb_hit);
	assert_int_equal(x.addr, ram + 8 * MiB);
	x = xl(f, SID_N, GiB + 0x5000, VTD_REQ_READ, 0);
	assert_int_equal(x.addr, ram + (506ull << 12));
	assert_int_equal(x.page_size, 4096);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
}

/* A second stage that counts its calls, over the host one. */
struct counting_s2 { struct vtd_stage2 inner; unsigned calls; };

static int counting_translate(void *opaque, uint16_t sid, uint64_t addr, unsigned req,
			      uint64_t *out, uint64_t *contig)
{
	struct counting_s2 *c = opaque;

	c->calls++;
	return c->inner.translate(c->inner.opaque, sid, addr, req, out, contig);
}

static void test_combined_iotlb_hit(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	struct counting_s2 c = { .inner = f->s2 };
	struct vtd_stage2 s2 = { .translate = counting_translate, .opaque = &c };
	struct vtd_stats st0, st1;
	struct vtd_xlate x;
	unsigned calls;

	vtd_unit_destroy(&f->gu);
	vfx_guest_init(f, &s2, 0);
	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA, 4096, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, 0x400000, 32 * MiB, 2 * MiB, IOPT_RW);

	x = xl(f, SID_N, 0x10010, VTD_REQ_READ, 0);
	assert_false(x.iotlb_hit);
	assert_true(c.calls >= 1);
	calls = c.calls;
	vtd_stats_get(&f->gu, &st0);
	x = xl(f, SID_N, 0x10ff0, VTD_REQ_WRITE, 0);
	vtd_stats_get(&f->gu, &st1);
	assert_true(x.iotlb_hit);
	assert_int_equal(x.addr, vm_hpa(f, DATA_GPA + 0xff0));
	assert_int_equal(c.calls, calls);             /* no second stage on a hit */
	assert_int_equal(st1.iotlb_hits, st0.iotlb_hits + 1);
	/* one combined 2M entry serves every page of the guest's 2M page */
	xl(f, SID_N, 0x400000, VTD_REQ_READ, 0);
	calls = c.calls;
	for (uint64_t off = 0x1000; off < 2 * MiB; off += 0x3f000) {
		x = xl(f, SID_N, 0x400000 + off, VTD_REQ_READ, 0);
		assert_true(x.iotlb_hit);
		assert_int_equal(x.addr, vm_hpa(f, 32 * MiB + off));
	}
	assert_int_equal(c.calls, calls);
	/* through the DMA API too */
	{
		uint8_t b[64] = { 1, 2, 3 };

		assert_int_equal(dma_write(&n->as, 0x10020, b, sizeof(b)), sizeof(b));
		assert_int_equal(c.calls, calls);
		assert_memory_equal(vm_ptr(f, DATA_GPA + 0x20, sizeof(b)), b, sizeof(b));
	}
}

static void test_guest_psi_then_fault(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	struct vtd_fault_record r;
	uint8_t b[16];
	size_t k;

	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA, 4096, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, 0x400000, 32 * MiB, 2 * MiB, IOPT_RW);
	memset(vm_ptr(f, DATA_GPA, 16), 0x5a, 16);
	assert_int_equal(dma_read(&n->as, 0x10000, b, sizeof(b)), sizeof(b));
	assert_int_equal(b[3], 0x5a);
	assert_int_equal(dma_read(&n->as, 0x400000, b, sizeof(b)), sizeof(b));
	/* the guest clears its PTEs: cached combined entries still serve (as
	 * the guest's own IOTLB would) until the guest invalidates */
	gt_unmap(&f->t, f->slpt, 4, 0x10000, 4096);
	gt_unmap(&f->t, f->slpt, 4, 0x400000, 2 * MiB);
	assert_int_equal(dma_read(&n->as, 0x10000, b, sizeof(b)), sizeof(b));
	assert_int_equal(dma_read(&n->as, 0x5ff000, b, sizeof(b)), sizeof(b));
	guest_inv(f, VIOMMU_SHADOW_INV_PAGE, GDID, 0x10000, 0);
	assert_int_equal(dma_read(&n->as, 0x10000, b, sizeof(b)), -EFAULT);
	r = guest_pop(f, &k);
	assert_int_equal(k, 1);
	assert_int_equal(r.sid, SID_N);
	assert_int_equal(r.iova, 0x10000);
	assert_int_equal(r.reason, VTD_FR_READ);
	assert_true(r.not_present);
	assert_int_equal(dma_write(&n->as, 0x10008, b, sizeof(b)), -EFAULT);
	assert_int_equal(guest_pop(f, NULL).reason, VTD_FR_WRITE);
	/* a 4K page-selective invalidation inside the 2M entry drops it all */
	assert_int_equal(dma_read(&n->as, 0x5ff000, b, sizeof(b)), sizeof(b));
	guest_inv(f, VIOMMU_SHADOW_INV_PAGE, GDID, 0x401000, 0);
	assert_int_equal(dma_read(&n->as, 0x5ff000, b, sizeof(b)), -EFAULT);
	assert_int_equal(guest_pop(f, NULL).iova, 0x5ff000);
	/* another domain's invalidation leaves this one's entries alone */
	gt_map(&f->t, f->slpt, 4, 0x10000, DATA_GPA, 4096, IOPT_READ);
	assert_int_equal(dma_read(&n->as, 0x10000, b, sizeof(b)), sizeof(b));
	gt_unmap(&f->t, f->slpt, 4, 0x10000, 4096);
	guest_inv(f, VIOMMU_SHADOW_INV_DOMAIN, GDID + 1, 0, 0);
	assert_int_equal(dma_read(&n->as, 0x10000, b, sizeof(b)), sizeof(b));
	guest_inv(f, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	assert_int_equal(dma_read(&n->as, 0x10000, b, sizeof(b)), -EFAULT);
	assert_int_equal(n->as.stats.stage2_faults, 0);
}

/* Sum of every page the private-region allocator has handed out. */
static uint64_t private_pages_hash(struct vfx *f)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t p = 0; p < f->a.private_pages; p++) {
		const uint64_t *q;

		if (!(f->a.page_bitmap[p / 64] & (1ull << (p % 64))))
			continue;
		q = arena_hpa_to_ptr(&f->a, p << 12, 4096);
		for (unsigned i = 0; i < 512; i++)
			h = (h ^ q[i]) * 0x100000001b3ull;
	}
	return h;
}

static void test_hostile_guest_tables(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	const uint64_t bad_gpas[] = { 0xb0000000ull, VM_RAM, 0xfec00000ull, 4 * GiB, 1ull << 45 };
	uint64_t priv = f->a.canary_hpa[4], h0 = private_pages_hash(f);
	struct vtd_fault_stats hs0, hs1;
	static uint8_t out[4096];
	struct vtd_xlate x;
	uint8_t before[64];

	vtd_fault_stats_get(&f->mmu.unit, &hs0);
	fill(out, sizeof(out), 9);
	for (unsigned i = 0; i < sizeof(bad_gpas) / sizeof(bad_gpas[0]); i++) {
		uint64_t iova = 0x100000 + i * 0x1000;

		gt_map(&f->t, f->slpt, 4, iova, bad_gpas[i], 4096, IOPT_RW);
		assert_int_equal(dma_write(&n->as, iova, out, sizeof(out)), -EFAULT);
		x = xl(f, SID_N, iova, VTD_REQ_READ, -EFAULT);
		assert_true(x.stage2_fault);
	}
	assert_int_equal(n->as.stats.stage2_faults, 5);
	/* the guest's log has nothing: the guest's tables allowed it */
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
	vtd_fault_stats_get(&f->mmu.unit, &hs1);
	assert_true(hs1.total >= hs0.total + 5);   /* the host's log has it */

	/* the numeric value of a private HPA is just a GPA: the guest's own RAM */
	assert_true(priv >= DATA_GPA && priv + 4096 <= VM_RAM);
	memcpy(before, arena_hpa_to_ptr(&f->a, priv, sizeof(before)), sizeof(before));
	gt_map(&f->t, f->slpt, 4, 0x200000, priv, 4096, IOPT_RW);
	assert_int_equal(dma_write(&n->as, 0x200000, out, sizeof(out)), sizeof(out));
	assert_memory_equal(vm_ptr(f, priv, sizeof(out)), out, sizeof(out));
	assert_memory_equal(arena_hpa_to_ptr(&f->a, priv, sizeof(before)), before, sizeof(before));

	/* a 1G guest page half over RAM: the RAM half works (2M entries, as
	 * the host maps it), the rest is refused, a transfer stops at the edge */
	gt_map(&f->t, f->slpt, 4, 2 * GiB, GiB, GiB, IOPT_RW);
	x = xl(f, SID_N, 2 * GiB + MiB, VTD_REQ_WRITE, 0);
	assert_int_equal(x.addr, vm_hpa(f, GiB + MiB));
	assert_int_equal(x.page_size, 2 * MiB);
	assert_int_equal(dma_write(&n->as, 2 * GiB + GiB / 2 - 0x800, out, 0x1000), 0x800);
	x = xl(f, SID_N, 2 * GiB + GiB / 2 + 0x1000, VTD_REQ_READ, -EFAULT);
	assert_true(x.stage2_fault);

	/* tables outside RAM: the guest's faults, recorded in its log */
	gt_context(&f->t, VTD_SID(0, 6, 0), 7, 0xb0000000ull, 4, VTD_TT_TRANSLATED);
	x = xl(f, VTD_SID(0, 6, 0), 0x1000, VTD_REQ_READ, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_PAGING_ENTRY_INV);
	assert_false(x.stage2_fault);
	*gt_entry(&f->t, f->slpt, 4, 0x300000000000ull, 4) = (3 * GiB) | VTD_SL_R | VTD_SL_W;
	x = xl(f, SID_N, 0x300000000000ull, VTD_REQ_READ, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_PAGING_ENTRY_INV);
	*gt_ptr(&f->t, f->t.root + 7 * 16) = vtd_root_entry_lo(0xfec00000ull);
	x = xl(f, VTD_SID(7, 0, 0), 0x1000, VTD_REQ_READ, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_CONTEXT_TABLE_INV);
	/* reserved bits in a guest PTE */
	gt_map(&f->t, f->slpt, 4, 0x300000, DATA_GPA, 4096, IOPT_RW);
	*gt_entry(&f->t, f->slpt, 4, 0x300000, 1) |= VTD_SL_SNP;
	x = xl(f, SID_N, 0x300000, VTD_REQ_READ, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_PAGING_ENTRY_RSVD);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 4);
	/* and a root table outside RAM */
	vtd_set_root_table(&f->gu, 0xb0000000ull);
	vtd_context_invalidate_global(&f->gu);
	vtd_iotlb_invalidate_global(&f->gu);
	x = xl(f, SID_N, 0x200000, VTD_REQ_READ, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_ROOT_TABLE_INV);

	assert_int_equal(private_pages_hash(f), h0);
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

static void test_translation_off_goes_through_stage2(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	static uint8_t out[8192];
	uint64_t priv = f->a.canary_hpa[4];
	struct vtd_xlate x;

	gt_map(&f->t, f->slpt, 4, DATA_GPA, 0xb0000000ull, 4096, IOPT_RW);   /* ignored with TE off */
	assert_int_equal(vtd_set_translation_enable(&f->gu, false), 0);
	fill(out, sizeof(out), 4);
	assert_int_equal(dma_write(&n->as, DATA_GPA + 0x800, out, sizeof(out)), sizeof(out));
	assert_memory_equal(vm_ptr(f, DATA_GPA + 0x800, sizeof(out)), out, sizeof(out));
	x = xl(f, SID_N, DATA_GPA + 0x10, VTD_REQ_WRITE, 0);
	assert_int_equal(x.addr, vm_hpa(f, DATA_GPA + 0x10));
	assert_int_equal(x.page_size, GiB);          /* the host's 1G page, from IOVA on */
	/* IOVA = GPA, so the private region's numbers are the guest's RAM */
	assert_int_equal(dma_write(&n->as, priv, out, 4096), 4096);
	assert_memory_equal(vm_ptr(f, priv, 4096), out, 4096);
	/* not RAM: refused by stage 2, the guest's log untouched */
	x = xl(f, SID_N, 0xb0000000ull, VTD_REQ_READ, -EFAULT);
	assert_true(x.stage2_fault);
	assert_int_equal(dma_write(&n->as, VM_RAM - 0x100, out, 0x200), 0x100);
	assert_int_equal(n->as.stats.stage2_faults, 1);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
	/* the interrupt window is the first stage's (the guest's) fault */
	x = xl(f, SID_N, 0xfee00000ull, VTD_REQ_WRITE, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_INTERRUPT_ADDR);
	assert_false(x.stage2_fault);
	assert_int_equal(vtd_set_translation_enable(&f->gu, true), 0);
	x = xl(f, SID_N, DATA_GPA, VTD_REQ_READ, -EFAULT);
	assert_true(x.stage2_fault);                 /* now through the guest's PTE */
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

static void test_interrupt_window(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	struct vtd_xlate x;

	gt_map(&f->t, f->slpt, 4, 0x800000, 0xfee00000ull, 4096, IOPT_RW);
	x = xl(f, SID_N, 0x800010, VTD_REQ_WRITE, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_INTERRUPT_ADDR);
	assert_false(x.stage2_fault);
	assert_int_equal(guest_pop(f, NULL).reason, VTD_FR_INTERRUPT_ADDR);
	/* a guest 1G page over the window: the window faults for the guest,
	 * the rest of it (not RAM) for the host */
	gt_map(&f->t, f->slpt, 4, 3 * GiB, 3 * GiB, GiB, IOPT_RW);
	x = xl(f, SID_N, 3 * GiB + 0x3ee00000ull, VTD_REQ_READ, -EFAULT);
	assert_int_equal(x.fault, VTD_FR_INTERRUPT_ADDR);
	x = xl(f, SID_N, 3 * GiB + 0x3ef00000ull, VTD_REQ_READ, -EFAULT);
	assert_true(x.stage2_fault);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 1);
}

static void test_gmem_stage2(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	struct stage2_gmem sg;
	struct vtd_stage2 s2;
	struct vtd_xlate x;

	stage2_init_gmem(&s2, &sg, &f->vm);
	vtd_unit_destroy(&f->gu);
	vfx_guest_init(f, &s2, 0);
	gt_map(&f->t, f->slpt, 4, GiB, 0, GiB, IOPT_RW);
	gt_map(&f->t, f->slpt, 4, 2 * GiB, GiB, GiB, IOPT_READ);
	x = xl(f, SID_N, GiB + 0x2345678, VTD_REQ_WRITE, 0);
	assert_int_equal(x.addr, vm_hpa(f, 0x2345678));
	assert_int_equal(x.page_size, GiB);
	/* [1G, 2G) is half RAM: not one 1G entry - 2M ones where RAM is */
	x = xl(f, SID_N, 2 * GiB + 0x100000, VTD_REQ_READ, 0);
	assert_int_equal(x.addr, vm_hpa(f, GiB + 0x100000));
	assert_int_equal(x.page_size, 2 * MiB);
	assert_int_equal(sg.refused, 0);             /* speculative probes are not refusals */
	x = xl(f, SID_N, 2 * GiB + GiB / 2, VTD_REQ_READ, -EFAULT);
	assert_true(x.stage2_fault);
	assert_int_equal(sg.refused, 1);
	assert_int_equal(vtd_fault_log_pending(&f->gu), 0);
	assert_int_equal(vtd_set_translation_enable(&f->gu, false), 0);
	x = xl(f, SID_N, 4 * GiB, VTD_REQ_READ, -EFAULT);
	assert_true(x.stage2_fault);
	assert_int_equal(sg.refused, 2);
}

/* Strict guest unmap against a device thread: once the guest's PTE is
 * cleared, invalidated and drained, no DMA that starts afterwards may
 * succeed and the page must not change any more. */
struct conc {
	struct nfx *n;
	unsigned phase;           /* odd: unmapped and drained */
	bool stop;
	uint64_t ok, faulted, violations;
};

#define CONC_IOVA 0x7000000ull

static void *device_thread(void *arg)
{
	struct conc *c = arg;
	uint8_t buf[128];
	uint64_t k = 0;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		unsigned before = __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE);
		ssize_t r;

		memset(buf, (int)(++k & 0xff), sizeof(buf));
		r = dma_write(&c->n->as, CONC_IOVA + (k % 32) * 128, buf, sizeof(buf));
		if (r > 0) {
			__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
			if ((before & 1) && before == __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE))
				__atomic_add_fetch(&c->violations, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&c->faulted, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void test_strict_guest_unmap_under_dma(void **state)
{
	struct nfx *n = *state;
	struct vfx *f = &n->v;
	struct conc c = { .n = n };
	static uint8_t snap[4096];
	uint64_t late = 0;
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, device_thread, &c), 0);
	for (unsigned round = 0; round < 400; round++) {
		uint64_t gpa = DATA_GPA + ((uint64_t)(round % 32) << 12), seen = __atomic_load_n(&c.ok, __ATOMIC_RELAXED);
		uint8_t *page = vm_ptr(f, gpa, 4096);

		__atomic_store_n(&c.phase, 2 * round + 2, __ATOMIC_RELEASE);
		gt_map(&f->t, f->slpt, 4, CONC_IOVA, gpa, 4096, IOPT_RW);
		for (unsigned spin = 0; spin < 2000 && __atomic_load_n(&c.ok, __ATOMIC_RELAXED) < seen + 2; spin++)
			sched_yield();
		gt_unmap(&f->t, f->slpt, 4, CONC_IOVA, 4096);
		guest_inv(f, VIOMMU_SHADOW_INV_PAGE, GDID, CONC_IOVA, 0);
		__atomic_store_n(&c.phase, 2 * round + 3, __ATOMIC_RELEASE);
		memcpy(snap, page, sizeof(snap));
		sched_yield();
		if (memcmp(snap, page, sizeof(snap)))
			late++;
		guest_pop(f, NULL);
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	print_message("nested concurrent: %llu DMAs landed, %llu faulted, %llu violations, %llu late\n",
		      (unsigned long long)c.ok, (unsigned long long)c.faulted,
		      (unsigned long long)c.violations, (unsigned long long)late);
	assert_int_equal(c.violations, 0);
	assert_int_equal(late, 0);
	assert_true(c.ok > 0);
	assert_true(c.faulted > 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_page_sizes),
		T(test_guest_superpages_over_host_small_pages),
		T(test_combined_iotlb_hit),
		T(test_guest_psi_then_fault),
		T(test_hostile_guest_tables),
		T(test_translation_off_goes_through_stage2),
		T(test_interrupt_window),
		T(test_gmem_stage2),
		T(test_strict_guest_unmap_under_dma),
	};

	return cmocka_run_group_tests_name("nested", tests, NULL, NULL);
}
