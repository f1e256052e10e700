/* DMA API: transfers through the remapping unit and the direct (no-IOMMU)
 * backend, partial transfers that stop at the faulting page, permissions,
 * superpage boundaries, scatter-gather, the enable gate, the dirty hook, the
 * map-for-access fast path, and a hostile-DMA run that must leave the
 * hypervisor-private region untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "iommu/iommu.h"
#include "iommu/dma.h"
#include "base/log.h"

#define MiB (1ull << 20)

#define SID_DEV VTD_SID(1, 0, 0)

struct dfx {
	struct arena a;
	struct iommu mmu;
	struct gmem vm1, vm2;
	struct iommu_domain *dom;
	struct dma_as as;
};

static struct dfx fx;

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&fx.a, 512 * MiB, 64 * MiB), 0);
	assert_int_equal(gmem_init(&fx.vm1, &fx.a, 1, 128 * MiB), 0);
	assert_int_equal(gmem_init(&fx.vm2, &fx.a, 2, 64 * MiB), 0);
	assert_int_equal(iommu_init(&fx.mmu, &fx.a, NULL), 0);
	assert_int_equal(iommu_domain_create(&fx.mmu, 1, 48, &fx.dom), 0);
	assert_int_equal(iommu_domain_attach(fx.dom, SID_DEV, 0), 0);
	dma_as_init_vtd(&fx.as, &fx.mmu.unit, &fx.a, SID_DEV);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct dfx *f = *state;

	iommu_destroy(&f->mmu);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	gmem_destroy(&f->vm2);
	gmem_destroy(&f->vm1);
	arena_destroy(&f->a);
	log_threshold = LOG_WARN;
	return 0;
}

static uint8_t *gpa_ptr(struct gmem *g, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem_gpa_to_ptr(g, gpa, len);

	assert_non_null(p);
	return p;
}

static uint64_t hpa_of(struct gmem *g, uint64_t gpa)
{
	uint64_t hpa;

	assert_int_equal(gmem_gpa_to_hpa(g, gpa, &hpa), 0);
	return hpa;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seed);
}

static struct vtd_fault_record pop_fault(struct dfx *f)
{
	struct vtd_fault_record r[256];
	size_t n = vtd_fault_log_read(&f->mmu.unit, r, 256);

	assert_true(n > 0);
	return r[n - 1];
}

static void test_roundtrip_across_scattered_pages(void **state)
{
	struct dfx *f = *state;
	static uint8_t out[13000], in[13000];
	/* IOVA-contiguous, HPA-scattered (reverse order) */
	const uint64_t gpas[4] = { 0x300000, 0x200000, 0x100000, 0x5000 };

	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(iommu_domain_map(f->dom, 0x10000 + i * 0x1000, hpa_of(&f->vm1, gpas[i]),
						  0x1000, IOPT_RW), 0);
	fill(out, sizeof(out), 7);
	assert_int_equal(dma_write(&f->as, 0x10100, out, sizeof(out)), sizeof(out));
	/* first page from offset 0x100, then whole pages, then the tail */
	assert_memory_equal(gpa_ptr(&f->vm1, gpas[0] + 0x100, 0xf00), out, 0xf00);
	assert_memory_equal(gpa_ptr(&f->vm1, gpas[1], 0x1000), out + 0xf00, 0x1000);
	assert_memory_equal(gpa_ptr(&f->vm1, gpas[2], 0x1000), out + 0x1f00, 0x1000);
	assert_memory_equal(gpa_ptr(&f->vm1, gpas[3], 13000 - 0x2f00), out + 0x2f00, 13000 - 0x2f00);
	assert_int_equal(dma_read(&f->as, 0x10100, in, sizeof(in)), sizeof(in));
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(f->as.stats.bytes_written, sizeof(out));
	assert_int_equal(f->as.stats.bytes_read, sizeof(in));
	assert_int_equal(dma_write(&f->as, 0x10000, out, 0), 0);
	assert_int_equal(vtd_fault_log_pending(&f->mmu.unit), 0);
}

static void test_transfer_stops_at_faulting_page(void **state)
{
	struct dfx *f = *state;
	static uint8_t out[3 * 4096], in[3 * 4096];
	struct vtd_fault_record r;
	uint8_t *p;

	assert_int_equal(iommu_domain_map(f->dom, 0x10000, hpa_of(&f->vm1, 0x40000), 0x2000, IOPT_RW), 0);
	p = gpa_ptr(&f->vm1, 0x40000, 0x3000);
	memset(p, 0xee, 0x3000);
	fill(out, sizeof(out), 3);
	/* 0x10800 + 12K runs into unmapped 0x12000: 0x1800 bytes move */
	assert_int_equal(dma_write(&f->as, 0x10800, out, sizeof(out)), 0x1800);
	assert_memory_equal(p + 0x800, out, 0x1800);
	assert_int_equal(p[0x7ff], 0xee);
	assert_int_equal(p[0x2000], 0xee);          /* the page after was not touched */
	r = pop_fault(f);
	assert_int_equal(r.sid, SID_DEV);
	assert_int_equal(r.iova, 0x12000);
	assert_true(r.is_write);
	assert_int_equal(r.reason, VTD_FR_WRITE);
	assert_true(r.not_present);
	/* same for reads */
	memset(in, 0, sizeof(in));
	assert_int_equal(dma_read(&f->as, 0x11000, in, sizeof(in)), 0x1000);
	assert_memory_equal(in, p + 0x1000, 0x1000);
	assert_int_equal(pop_fault(f).reason, VTD_FR_READ);
	/* a transfer whose first page faults moves nothing */
	assert_int_equal(dma_read(&f->as, 0x12000, in, 16), -EFAULT);
	assert_int_equal(dma_write(&f->as, 0xf000, out, 0x2000), -EFAULT);
	assert_int_equal(f->as.stats.faults, 4);
}

static void test_permissions(void **state)
{
	struct dfx *f = *state;
	uint8_t buf[64] = { 1, 2, 3 };

	assert_int_equal(iommu_domain_map(f->dom, 0x20000, hpa_of(&f->vm1, 0x8000), 0x1000, IOPT_READ), 0);
	assert_int_equal(iommu_domain_map(f->dom, 0x21000, hpa_of(&f->vm1, 0x9000), 0x1000, IOPT_WRITE), 0);
	assert_int_equal(dma_read(&f->as, 0x20000, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(dma_write(&f->as, 0x20000, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(pop_fault(f).reason, VTD_FR_WRITE);
	assert_int_equal(dma_write(&f->as, 0x21000, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(dma_read(&f->as, 0x21000, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(pop_fault(f).reason, VTD_FR_READ);
	/* a read spanning the read-only and the write-only page stops between */
	assert_int_equal(dma_read(&f->as, 0x20ff0, buf, 32), 16);
}

static void test_superpages_and_end_of_ram(void **state)
{
	struct dfx *f = *state;
	static uint8_t out[8192], in[8192];
	const uint64_t top = f->vm1.ram_size;
	struct vtd_xlate x;

	assert_int_equal(iommu_domain_map_gmem(f->dom, &f->vm1), 0);
	assert_int_equal(vtd_translate(&f->mmu.unit, SID_DEV, 4 * MiB, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.page_size, 2 * MiB);
	fill(out, sizeof(out), 9);
	/* across a 2M boundary */
	assert_int_equal(dma_write(&f->as, 4 * MiB - 4096, out, sizeof(out)), sizeof(out));
	assert_memory_equal(gpa_ptr(&f->vm1, 4 * MiB - 4096, 8192), out, sizeof(out));
	assert_int_equal(dma_read(&f->as, 4 * MiB - 4096, in, sizeof(in)), sizeof(in));
	assert_memory_equal(in, out, sizeof(out));
	/* across the end of RAM: only what is RAM moves */
	assert_int_equal(dma_write(&f->as, top - 100, out, 200), 100);
	assert_memory_equal(gpa_ptr(&f->vm1, top - 100, 100), out, 100);
}

static void test_scatter_gather(void **state)
{
	struct dfx *f = *state;
	static uint8_t out[6000], in[6000];
	const struct dma_sg sg[3] = {
		{ .iova = 0x1000f00, .len = 0x200 },        /* crosses a page */
		{ .iova = 0x0000010, .len = 3000 },
		{ .iova = 0x2000000, .len = 10000 },        /* longer than the rest of buf */
	};
	const struct dma_sg bad[3] = {
		{ .iova = 0x1000, .len = 100 },
		{ .iova = 0x7fff000 + 0xf00, .len = 0x200 },   /* runs off the end of RAM */
		{ .iova = 0x2000, .len = 100 },
	};

	assert_int_equal(iommu_domain_map_gmem(f->dom, &f->vm1), 0);
	fill(out, sizeof(out), 11);
	assert_int_equal(dma_sg_write(&f->as, sg, 3, out, sizeof(out)), sizeof(out));
	assert_memory_equal(gpa_ptr(&f->vm1, 0x1000f00, 0x200), out, 0x200);
	assert_memory_equal(gpa_ptr(&f->vm1, 0x10, 3000), out + 0x200, 3000);
	assert_memory_equal(gpa_ptr(&f->vm1, 0x2000000, sizeof(out) - 0x200 - 3000),
			    out + 0x200 + 3000, sizeof(out) - 0x200 - 3000);
	assert_int_equal(dma_sg_read(&f->as, sg, 3, in, sizeof(in)), sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	/* stops at the fault in the second segment; the third is not done */
	assert_int_equal(dma_sg_read(&f->as, bad, 3, in, sizeof(in)), 100 + 0x100);
	assert_int_equal(pop_fault(f).iova, 0x8000000);
	assert_int_equal(dma_sg_read(&f->as, bad + 1, 0, in, sizeof(in)), 0);
}

static void test_direct_backend(void **state)
{
	struct dfx *f = *state;
	struct dma_as direct;
	uint8_t buf[256];

	dma_as_init_direct(&direct, &f->vm2, VTD_SID(0, 2, 0));
	fill(buf, sizeof(buf), 5);
	assert_int_equal(dma_write(&direct, 0x1000, buf, sizeof(buf)), sizeof(buf));
	assert_memory_equal(gpa_ptr(&f->vm2, 0x1000, sizeof(buf)), buf, sizeof(buf));
	/* only this VM's RAM: the end of it, and nothing beyond */
	assert_int_equal(dma_write(&direct, f->vm2.ram_size - 16, buf, sizeof(buf)), 16);
	assert_int_equal(dma_read(&direct, f->vm2.ram_size, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(dma_read(&direct, GMEM_LOWMEM_LIMIT, buf, 4), -EFAULT);
	assert_int_equal(direct.stats.faults, 3);
	/* no IOMMU involved: nothing recorded there */
	assert_int_equal(vtd_fault_log_pending(&f->mmu.unit), 0);
	/* the gate works the same way */
	dma_as_set_enabled(&direct, false);
	assert_int_equal(dma_write(&direct, 0x1000, buf, 4), -EPERM);
	dma_as_set_enabled(&direct, true);
	assert_int_equal(dma_write(&direct, 0x1000, buf, 4), 4);
}

static void test_enable_gate(void **state)
{
	struct dfx *f = *state;
	struct dma_access acc;
	uint8_t buf[16] = { 0 };
	const struct dma_sg sg = { .iova = 0, .len = 16 };

	assert_int_equal(iommu_domain_map_gmem(f->dom, &f->vm1), 0);
	dma_as_set_enabled(&f->as, false);
	assert_int_equal(dma_write(&f->as, 0, buf, sizeof(buf)), -EPERM);
	assert_int_equal(dma_read(&f->as, 0, buf, sizeof(buf)), -EPERM);
	assert_int_equal(dma_sg_read(&f->as, &sg, 1, buf, sizeof(buf)), -EPERM);
	assert_int_equal(dma_access_begin(&f->as, 0, 16, false, &acc), -EPERM);
	assert_int_equal(f->as.stats.blocked, 4);
	/* blocked is not a translation fault */
	assert_int_equal(vtd_fault_log_pending(&f->mmu.unit), 0);
	dma_as_set_enabled(&f->as, true);
	assert_int_equal(dma_read(&f->as, 0, buf, sizeof(buf)), sizeof(buf));
}

struct dirty_log { uint64_t iova[8], hpa[8], len[8]; unsigned n; };

static void dirty_fn(void *opaque, uint64_t iova, uint64_t hpa, uint64_t len)
{
	struct dirty_log *d = opaque;

	if (d->n < 8) {
		d->iova[d->n] = iova;
		d->hpa[d->n] = hpa;
		d->len[d->n] = len;
	}
	d->n++;
}

static void test_dirty_hook(void **state)
{
	struct dfx *f = *state;
	struct dirty_log d = { .n = 0 };
	uint8_t buf[0x1800];
	struct dma_access acc;

	assert_int_equal(iommu_domain_map(f->dom, 0x10000, hpa_of(&f->vm1, 0x50000), 0x1000, IOPT_RW), 0);
	assert_int_equal(iommu_domain_map(f->dom, 0x11000, hpa_of(&f->vm1, 0x70000), 0x1000, IOPT_RW), 0);
	dma_as_set_dirty_hook(&f->as, dirty_fn, &d);
	assert_int_equal(dma_read(&f->as, 0x10000, buf, 100), 100);
	assert_int_equal(d.n, 0);                                 /* reads do not dirty */
	memset(buf, 1, sizeof(buf));
	assert_int_equal(dma_write(&f->as, 0x10800, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(d.n, 2);
	assert_int_equal(d.iova[0], 0x10800);
	assert_int_equal(d.hpa[0], hpa_of(&f->vm1, 0x50800));
	assert_int_equal(d.len[0], 0x800);
	assert_int_equal(d.iova[1], 0x11000);
	assert_int_equal(d.hpa[1], hpa_of(&f->vm1, 0x70000));
	assert_int_equal(d.len[1], 0x1000);
	assert_int_equal(dma_access_begin(&f->as, 0x11f00, 0x1000, true, &acc), 0);
	dma_access_end(&acc);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.len[2], 0x100);
	dma_as_set_dirty_hook(&f->as, NULL, NULL);
	assert_int_equal(dma_write(&f->as, 0x10800, buf, 16), 16);
	assert_int_equal(d.n, 3);
}

static void test_access_fast_path(void **state)
{
	struct dfx *f = *state;
	struct dma_access acc;

	assert_int_equal(iommu_domain_map(f->dom, 0x10000, hpa_of(&f->vm1, 0x60000), 0x1000, IOPT_RW), 0);
	assert_int_equal(iommu_domain_map(f->dom, 0x20000, hpa_of(&f->vm1, 0x61000), 0x1000, IOPT_READ), 0);
	assert_int_equal(dma_access_begin(&f->as, 0x10ff0, 64, true, &acc), 0);
	assert_int_equal(acc.len, 16);                  /* clipped at the page end */
	memset(acc.ptr, 0xab, acc.len);
	dma_access_end(&acc);
	assert_int_equal(gpa_ptr(&f->vm1, 0x60ff0, 16)[15], 0xab);
	assert_int_equal(dma_access_begin(&f->as, 0x20000, 64, true, &acc), -EFAULT);
	assert_int_equal(pop_fault(f).reason, VTD_FR_WRITE);
	assert_int_equal(dma_access_begin(&f->as, 0x20000, 64, false, &acc), 0);
	assert_int_equal(acc.len, 64);
	dma_access_end(&acc);
	dma_access_end(&acc);                            /* second end is harmless */
	assert_int_equal(dma_access_begin(&f->as, 0x20000, 0, false, &acc), -EINVAL);
}

static void test_passthrough_reaches_everything(void **state)
{
	struct dfx *f = *state;
	struct dma_as pt;
	uint64_t canary = f->a.canary_hpa[0], v;

	/* what the policy exists to prevent, shown once with explicit consent */
	assert_int_equal(iommu_domain_attach(f->dom, VTD_SID(1, 1, 0),
					     IOMMU_ATTACH_PASSTHROUGH | IOMMU_ALLOW_PASSTHROUGH), 0);
	dma_as_init_vtd(&pt, &f->mmu.unit, &f->a, VTD_SID(1, 1, 0));
	assert_int_equal(dma_read(&pt, canary + 8, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, *(uint64_t *)arena_hpa_to_ptr(&f->a, canary + 8, 8));
	/* and beyond host memory it stops */
	assert_int_equal(dma_read(&pt, f->a.size - 4, &v, 8), 4);
	assert_int_equal(dma_read(&pt, f->a.size, &v, 8), -EFAULT);
	assert_int_equal(iommu_domain_detach(f->dom, VTD_SID(1, 1, 0)), 0);
}

static void test_wrap_and_width(void **state)
{
	struct dfx *f = *state;
	uint8_t buf[32] = { 0 };

	assert_int_equal(dma_write(&f->as, ~0ull - 7, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(pop_fault(f).reason, VTD_FR_ADDR_BEYOND_MGAW);
}

/* A hostile device sprays DMA at random addresses: the hypervisor-private
 * region (canaries, the IOMMU's own tables) and VM 2 must stay untouched,
 * and the translations must still be right afterwards. */
static void test_hostile_dma_contained(void **state)
{
	struct dfx *f = *state;
	static uint8_t junk[3 * 4096];
	uint8_t *vm2 = gpa_ptr(&f->vm2, 0, 4096);
	uint64_t x = 0x9e3779b97f4a7c15ull, addr;
	struct vtd_xlate xl;

	memset(vm2, 0x5a, 4096);
	memset(junk, 0xcc, sizeof(junk));
	assert_int_equal(iommu_domain_map_gmem(f->dom, &f->vm1), 0);
	for (unsigned i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 4) {
		case 0: addr = x; break;                                   /* anywhere */
		case 1: addr = x % f->a.size; break;                       /* host memory as IOVA */
		case 2: addr = x % (1ull << 48); break;                    /* within the width */
		default: addr = f->vm1.ram_size - (x % 8192); break;       /* around the end of RAM */
		}
		(void)dma_write(&f->as, addr, junk, 1 + x % sizeof(junk));
	}
	assert_int_equal(arena_check_canaries(&f->a), 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(vm2[i], 0x5a);
	assert_int_equal(vtd_translate(&f->mmu.unit, SID_DEV, 0x1234, VTD_REQ_READ, &xl), 0);
	assert_int_equal(xl.addr, hpa_of(&f->vm1, 0x1234));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_roundtrip_across_scattered_pages),
		T(test_transfer_stops_at_faulting_page),
		T(test_permissions),
		T(test_superpages_and_end_of_ram),
		T(test_scatter_gather),
		T(test_direct_backend),
		T(test_enable_gate),
		T(test_dirty_hook),
		T(test_access_fast_path),
		T(test_passthrough_reaches_everything),
		T(test_wrap_and_width),
		T(test_hostile_dma_contained),
	};

	return cmocka_run_group_tests_name("dma", tests, NULL, NULL);
}
