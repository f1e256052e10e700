/* Host domain API: create/destroy, attach/detach, every policy refusal,
 * map_gmem with IOVA = GPA, strict unmap vs the lazy stale window, the
 * per-domain trace, a seeded randomized differential test against a
 * reference map, and a concurrency test of strict invalidation with drain. */
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

#include "iommu/iommu.h"
#include "iommu/dma.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define SID_NIC  VTD_SID(3, 0, 0)
#define SID_DISK VTD_SID(3, 1, 0)
#define SID_GPU  VTD_SID(5, 0, 0)

struct ifx {
	struct arena a;
	struct iommu mmu;
	struct gmem vm1, vm2;          /* VM 1: 2 GiB at HPA 1G (1G aligned); VM 2: 64 MiB */
};

static struct ifx fx;

static int setup_cfg(void **state, unsigned iotlb_sets)
{
	struct iommu_cfg cfg = { .iotlb_sets = iotlb_sets };

	memset(&fx, 0, sizeof(fx));
	log_threshold = LOG_ERROR;        /* faults are expected here: keep guest errors quiet */
	assert_int_equal(arena_init(&fx.a, 3 * GiB + 128 * MiB, GiB), 0);
	assert_int_equal(gmem_init(&fx.vm1, &fx.a, 1, 2 * GiB), 0);
	assert_int_equal(gmem_init(&fx.vm2, &fx.a, 2, 64 * MiB), 0);
	assert_int_equal(fx.vm1.ranges[0].hpa, GiB);
	assert_int_equal(iommu_init(&fx.mmu, &fx.a, &cfg), 0);
	*state = &fx;
	return 0;
}

static int setup(void **state)       { return setup_cfg(state, 0); }
static int setup_small(void **state) { return setup_cfg(state, 64); }

static int teardown(void **state)
{
	struct ifx *f = *state;
	uint64_t free_before_destroy;

	iommu_destroy(&f->mmu);
	free_before_destroy = f->a.pages_free;
	assert_int_equal(arena_check_canaries(&f->a), 0);
	gmem_destroy(&f->vm2);
	gmem_destroy(&f->vm1);
	/* every table page went back: only the canaries are still taken */
	assert_int_equal(free_before_destroy, f->a.private_pages - ARENA_CANARY_PAGES);
	arena_destroy(&f->a);
	log_threshold = LOG_WARN;
	return 0;
}

static uint64_t vm1_hpa(uint64_t off) { return fx.vm1.ranges[0].hpa + off; }

static int xlate(struct ifx *f, uint16_t sid, uint64_t iova, unsigned req, uint64_t *addr)
{
	struct vtd_xlate x;
	int ret = vtd_translate(&f->mmu.unit, sid, iova, req, &x);

	if (ret)
		return -(int)x.fault;
	*addr = x.addr;
	return 0;
}

static void test_domain_lifecycle(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d1, *d2, *bad;
	uint64_t free0 = f->a.pages_free;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d1), 0);
	assert_int_equal(iommu_domain_create(&f->mmu, 2, 39, &d2), 0);
	assert_int_equal(d1->did, 1);
	assert_int_equal(d2->did, 2);
	assert_int_equal(d1->pt.levels, 4);
	assert_int_equal(d2->pt.levels, 3);
	assert_int_equal(iommu_domain_create(&f->mmu, 1, 40, &bad), -EINVAL);
	assert_int_equal(iommu_domain_create(&f->mmu, 1, 57, &bad), -EINVAL);
	assert_int_equal(iommu_domain_create(&f->mmu, -1, 48, &bad), -EINVAL);
	assert_int_equal(iommu_domain_map_gmem(d1, &f->vm1), 0);
	iommu_domain_destroy(d1);
	/* the id is reused and the tables went back */
	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d1), 0);
	assert_int_equal(d1->did, 1);
	iommu_domain_destroy(d1);
	iommu_domain_destroy(d2);
	assert_int_equal(f->a.pages_free, free0);
}

static void test_attach_detach(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d1, *d2;
	uint64_t addr;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d1), 0);
	assert_int_equal(iommu_domain_create(&f->mmu, 2, 48, &d2), 0);
	/* unattached devices are blocked from the start */
	assert_int_equal(xlate(f, SID_NIC, 0, VTD_REQ_READ, &addr), -VTD_FR_ROOT_ENTRY_P);
	assert_int_equal(iommu_domain_map(d1, 0x10000, vm1_hpa(0x5000), 0x1000, IOPT_RW), 0);
	assert_int_equal(iommu_domain_attach(d1, SID_NIC, 0), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x10010, VTD_REQ_WRITE, &addr), 0);
	assert_int_equal(addr, vm1_hpa(0x5010));
	/* same bus, other device: context entry not present */
	assert_int_equal(xlate(f, SID_DISK, 0x10010, VTD_REQ_READ, &addr), -VTD_FR_CONTEXT_ENTRY_P);
	assert_int_equal(iommu_domain_attach(d2, SID_NIC, 0), -EBUSY);
	assert_int_equal(iommu_domain_attach(d1, SID_NIC, 0), -EBUSY);
	assert_int_equal(iommu_domain_detach(d2, SID_NIC), -ENOENT);
	assert_int_equal(iommu_domain_detach(d1, SID_NIC), 0);
	/* detach takes effect at once, cached context or not */
	assert_int_equal(xlate(f, SID_NIC, 0x10010, VTD_REQ_READ, &addr), -VTD_FR_CONTEXT_ENTRY_P);
	assert_int_equal(iommu_domain_attach(d2, SID_NIC, 0), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x10010, VTD_REQ_READ, &addr), -VTD_FR_READ);
	/* destroy detaches */
	iommu_domain_destroy(d2);
	assert_int_equal(xlate(f, SID_NIC, 0x10010, VTD_REQ_READ, &addr), -VTD_FR_CONTEXT_ENTRY_P);
	iommu_domain_destroy(d1);
}

static void test_policy_refuses_passthrough(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	uint64_t addr;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_GPU, IOMMU_ATTACH_PASSTHROUGH), -EPERM);
	assert_int_equal(d->stats.refused, 1);
	/* nothing was programmed */
	assert_int_equal(xlate(f, SID_GPU, 0x1000, VTD_REQ_READ, &addr), -VTD_FR_ROOT_ENTRY_P);
	/* the allowance alone does not ask for pass-through */
	assert_int_equal(iommu_domain_attach(d, SID_GPU, IOMMU_ALLOW_PASSTHROUGH), 0);
	assert_int_equal(xlate(f, SID_GPU, 0x1000, VTD_REQ_READ, &addr), -VTD_FR_READ);
	assert_int_equal(iommu_domain_detach(d, SID_GPU), 0);
	/* both: identity, which reaches even the private region - hence the rule */
	assert_int_equal(iommu_domain_attach(d, SID_GPU, IOMMU_ATTACH_PASSTHROUGH | IOMMU_ALLOW_PASSTHROUGH), 0);
	assert_int_equal(xlate(f, SID_GPU, f->mmu.root_hpa, VTD_REQ_WRITE, &addr), 0);
	assert_int_equal(addr, f->mmu.root_hpa);
	iommu_domain_destroy(d);
}

static void test_policy_refuses_private_region(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	uint64_t hpa;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	/* the IOMMU's own root table, a canary, the private region's last page,
	 * and a range straddling into VM 1's RAM */
	assert_int_equal(iommu_domain_map(d, 0, f->mmu.root_hpa, 4096, IOPT_READ), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, f->a.canary_hpa[3], 4096, IOPT_RW), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, GiB - 4096, 4096, IOPT_RW), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, GiB - 4096, 8192, IOPT_RW), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, 0, 2 * GiB, IOPT_RW), -EPERM);
	assert_int_equal(d->stats.refused, 5);
	assert_int_equal(iommu_domain_iova_to_phys(d, 0, &hpa, NULL), -ENOENT);
	/* the first byte of VM RAM is fine */
	assert_int_equal(iommu_domain_map(d, 0, GiB, 4096, IOPT_RW), 0);
	iommu_domain_destroy(d);
}

static void test_policy_refuses_other_vms_ram(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	uint64_t vm2 = f->vm2.ranges[0].hpa, hpa;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	assert_int_equal(iommu_domain_map(d, 0, vm2, 4096, IOPT_RW), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, vm2 - 4096, 8192, IOPT_RW), -EPERM);   /* straddles */
	assert_int_equal(iommu_domain_map_gmem(d, &f->vm2), -EPERM);
	/* memory that is nobody's: past the last carve, past the arena */
	assert_int_equal(iommu_domain_map(d, 0, f->a.vm_next, 4096, IOPT_RW), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, f->a.size, 4096, IOPT_RW), -EPERM);
	assert_int_equal(iommu_domain_map(d, 0, 1ull << 50, 4096, IOPT_RW), -EPERM);
	assert_int_equal(d->stats.refused, 6);
	assert_int_equal(iommu_domain_iova_to_phys(d, 0, &hpa, NULL), -ENOENT);
	/* a released VM's RAM is nobody's either */
	gmem_destroy(&f->vm2);
	assert_int_equal(iommu_domain_map(d, 0, vm2, 4096, IOPT_RW), -EPERM);
	assert_int_equal(gmem_init(&f->vm2, &f->a, 2, 2 * MiB), 0);
	/* bad arguments are refused before the policy */
	assert_int_equal(iommu_domain_map(d, 0x1000, vm1_hpa(0x800), 4096, IOPT_RW), -EINVAL);
	assert_int_equal(iommu_domain_map(d, 0, vm1_hpa(0), 4096, 0), -EINVAL);
	assert_int_equal(iommu_domain_map(d, 1ull << 48, vm1_hpa(0), 4096, IOPT_RW), -ERANGE);
	iommu_domain_destroy(d);
}

struct leaf_count { unsigned n4k, n2m, n1g; };

static int count_leaf(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	struct leaf_count *c = arg;

	c->n4k += size == 4096;
	c->n2m += size == 2 * MiB;
	c->n1g += size == GiB;
	return 0;
}

static void test_map_gmem_iova_equals_gpa(void **state)
{
	struct leaf_count c = { 0, 0, 0 };
	struct iommu_domain *d;
	struct vtd_xlate x;
	struct iommu mmu;
	struct arena a;
	struct gmem big;

	(void)state;
	log_threshold = LOG_ERROR;
	/* a VM with RAM above 4G: 2.75G low + 32M high, at HPA 1G (1G aligned) */
	assert_int_equal(arena_init(&a, 4 * GiB, GiB), 0);
	assert_int_equal(gmem_init(&big, &a, 7, GMEM_LOWMEM_LIMIT + 32 * MiB), 0);
	assert_int_equal(big.nr_ranges, 2);
	assert_int_equal(iommu_init(&mmu, &a, NULL), 0);
	assert_int_equal(iommu_domain_create(&mmu, 7, 48, &d), 0);
	assert_int_equal(iommu_domain_map_gmem(d, &big), 0);
	assert_int_equal(iommu_domain_attach(d, SID_NIC, 0), 0);
	assert_int_equal(iopt_walk(&d->pt, 0, 1ull << 48, count_leaf, &c), 0);
	/* [0,1G) and [1G,2G) as 1G pages, [2G,2.75G) and the high 32M as 2M */
	assert_int_equal(c.n1g, 2);
	assert_int_equal(c.n2m, (GMEM_LOWMEM_LIMIT - 2 * GiB) / (2 * MiB) + 16);
	assert_int_equal(c.n4k, 0);
	assert_int_equal(vtd_translate(&mmu.unit, SID_NIC, 0, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.addr, big.ranges[0].hpa);
	assert_int_equal(vtd_translate(&mmu.unit, SID_NIC, GMEM_LOWMEM_LIMIT - 1, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, big.ranges[0].hpa + GMEM_LOWMEM_LIMIT - 1);
	assert_int_equal(vtd_translate(&mmu.unit, SID_NIC, GMEM_HIGHMEM_BASE + 5, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, big.ranges[1].hpa + 5);
	/* the PCI hole and the top of RAM fault */
	assert_int_equal(vtd_translate(&mmu.unit, SID_NIC, GMEM_LOWMEM_LIMIT, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(vtd_translate(&mmu.unit, SID_NIC, GMEM_HIGHMEM_BASE + 32 * MiB, VTD_REQ_READ, &x),
			 -EFAULT);
	iommu_destroy(&mmu);
	gmem_destroy(&big);
	assert_int_equal(arena_check_canaries(&a), 0);
	arena_destroy(&a);
	log_threshold = LOG_WARN;
}

static void test_strict_unmap_leaves_no_stale_translation(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	uint64_t addr, unmapped;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_NIC, 0), 0);
	assert_int_equal(iommu_domain_map(d, 0x100000, vm1_hpa(0x200000), 2 * MiB, IOPT_RW), 0);
	assert_int_equal(iommu_domain_map(d, 0x40000, vm1_hpa(0x1000), 0x3000, IOPT_RW), 0);
	/* warm the IOTLB */
	for (uint64_t off = 0; off < 2 * MiB; off += 0x40000)
		assert_int_equal(xlate(f, SID_NIC, 0x100000 + off, VTD_REQ_WRITE, &addr), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x41000, VTD_REQ_WRITE, &addr), 0);
	assert_int_equal(iommu_domain_unmap(d, 0x41000, 0x1000, &unmapped), 0);
	assert_int_equal(unmapped, 0x1000);
	assert_int_equal(xlate(f, SID_NIC, 0x41000, VTD_REQ_WRITE, &addr), -VTD_FR_WRITE);
	assert_int_equal(xlate(f, SID_NIC, 0x40000, VTD_REQ_WRITE, &addr), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x42000, VTD_REQ_WRITE, &addr), 0);
	/* cutting a hole in the middle of a 2M page */
	assert_int_equal(iommu_domain_unmap(d, 0x180000, 0x1000, &unmapped), 0);
	assert_int_equal(unmapped, 0x1000);
	assert_int_equal(xlate(f, SID_NIC, 0x180000, VTD_REQ_READ, &addr), -VTD_FR_READ);
	assert_int_equal(xlate(f, SID_NIC, 0x17f000, VTD_REQ_READ, &addr), 0);
	assert_int_equal(addr, vm1_hpa(0x27f000));
	assert_int_equal(iommu_domain_unmap(d, 0, 1ull << 40, &unmapped), 0);
	assert_int_equal(unmapped, 2 * MiB - 0x1000 + 0x2000);
	assert_int_equal(d->stats.bytes_mapped, 0);
	for (uint64_t off = 0; off < 2 * MiB; off += 0x40000)
		assert_int_equal(xlate(f, SID_NIC, 0x100000 + off, VTD_REQ_WRITE, &addr), -VTD_FR_WRITE);
	iommu_domain_destroy(d);
}

static void test_lazy_mode_shows_stale_window(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	uint64_t addr;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_NIC, 0), 0);
	assert_false(d->lazy);                                 /* strict by default */
	iommu_domain_set_lazy(d, true);
	assert_int_equal(iommu_domain_map(d, 0x10000, vm1_hpa(0x7000), 0x1000, IOPT_RW), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x10000, VTD_REQ_WRITE, &addr), 0);   /* cached now */
	assert_int_equal(iommu_domain_unmap(d, 0x10000, 0x1000, NULL), 0);
	/* the table says unmapped... */
	assert_int_equal(iommu_domain_iova_to_phys(d, 0x10000, &addr, NULL), -ENOENT);
	/* ...but the device still reaches the page: the stale window */
	assert_int_equal(xlate(f, SID_NIC, 0x10000, VTD_REQ_WRITE, &addr), 0);
	assert_int_equal(addr, vm1_hpa(0x7000));
	/* a never-cached page faults right away: no caching of not-present */
	assert_int_equal(iommu_domain_map(d, 0x20000, vm1_hpa(0x8000), 0x1000, IOPT_RW), 0);
	assert_int_equal(iommu_domain_unmap(d, 0x20000, 0x1000, NULL), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x20000, VTD_REQ_WRITE, &addr), -VTD_FR_WRITE);
	iommu_domain_flush(d);
	assert_int_equal(xlate(f, SID_NIC, 0x10000, VTD_REQ_WRITE, &addr), -VTD_FR_WRITE);

	/* re-mapping an IOVA with a pending lazy unmap flushes first, so the
	 * new mapping is what the device sees */
	assert_int_equal(iommu_domain_map(d, 0x30000, vm1_hpa(0x9000), 0x1000, IOPT_RW), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x30000, VTD_REQ_READ, &addr), 0);
	assert_int_equal(iommu_domain_unmap(d, 0x30000, 0x1000, NULL), 0);
	assert_int_equal(iommu_domain_map(d, 0x30000, vm1_hpa(0xa000), 0x1000, IOPT_RW), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x30000, VTD_REQ_READ, &addr), 0);
	assert_int_equal(addr, vm1_hpa(0xa000));

	/* the batch limit flushes by itself */
	assert_int_equal(xlate(f, SID_NIC, 0x30000, VTD_REQ_READ, &addr), 0);
	assert_int_equal(iommu_domain_unmap(d, 0x30000, 0x1000, NULL), 0);
	for (unsigned i = 1; i < IOMMU_LAZY_BATCH; i++)
		assert_int_equal(iommu_domain_unmap(d, 0x80000000ull + i * 0x1000, 0x1000, NULL), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x30000, VTD_REQ_READ, &addr), -VTD_FR_READ);

	/* back to strict: flushes what is pending */
	assert_int_equal(iommu_domain_map(d, 0x50000, vm1_hpa(0xb000), 0x1000, IOPT_RW), 0);
	assert_int_equal(xlate(f, SID_NIC, 0x50000, VTD_REQ_READ, &addr), 0);
	assert_int_equal(iommu_domain_unmap(d, 0x50000, 0x1000, NULL), 0);
	iommu_domain_set_lazy(d, false);
	assert_int_equal(xlate(f, SID_NIC, 0x50000, VTD_REQ_READ, &addr), -VTD_FR_READ);
	iommu_domain_destroy(d);
}

struct trace_count { unsigned ok, faults; uint64_t last_iova; };

static void count_trace(void *opaque, const struct vtd_trace_event *ev)
{
	struct trace_count *t = opaque;

	if (ev->fault)
		t->faults++;
	else
		t->ok++;
	t->last_iova = ev->iova;
}

static void test_domain_trace(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	struct trace_count t = { 0, 0, 0 };
	uint64_t addr;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 39, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_DISK, 0), 0);
	assert_int_equal(iommu_domain_map(d, 0, vm1_hpa(0), 0x1000, IOPT_READ), 0);
	assert_int_equal(iommu_domain_set_trace(d, count_trace, &t), 0);
	assert_int_equal(xlate(f, SID_DISK, 0x10, VTD_REQ_READ, &addr), 0);
	assert_int_equal(xlate(f, SID_DISK, 0x20, VTD_REQ_WRITE, &addr), -VTD_FR_WRITE);
	assert_int_equal(xlate(f, SID_DISK, 1ull << 39, VTD_REQ_READ, &addr), -VTD_FR_ADDR_BEYOND_MGAW);
	assert_int_equal(t.ok, 1);
	assert_int_equal(t.faults, 2);
	assert_int_equal(iommu_domain_set_trace(d, NULL, NULL), 0);
	assert_int_equal(xlate(f, SID_DISK, 0x10, VTD_REQ_READ, &addr), 0);
	assert_int_equal(t.ok, 1);
	iommu_domain_destroy(d);
}

/* ---- randomized differential test ---- */

#define WIN_PAGES   (1u << 20)            /* IOVA window: 4 GiB */
#define VM_PAGES    (2u * 262144u)        /* VM 1: 2 GiB */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

/* Reference: one word per IOVA page, HPA | prot, 0 when unmapped. */
static uint64_t *ref;

static void pick_range(uint64_t *first, uint64_t *npages, bool for_map)
{
	unsigned cls = (unsigned)rnd_below(1000);
	uint64_t align = 1, n;

	if (cls < 700) {
		n = 1 + rnd_below(16);
	} else if (cls < 900) {
		align = 512;
		n = 512 * (1 + rnd_below(3));
		if (!for_map && rnd_below(2))
			align = 1;        /* unmaps cutting superpages */
	} else if (cls < 997) {
		n = 17 + rnd_below(1200);
	} else {
		align = 262144;
		n = 262144;
	}
	*npages = n;
	*first = rnd_below(WIN_PAGES - n + 1) / align * align;
}

static void check_page(struct ifx *f, uint64_t page)
{
	uint64_t iova = (page << 12) | rnd_below(4096), addr;
	unsigned req = rnd_below(2) ? VTD_REQ_READ : VTD_REQ_WRITE;
	uint64_t r = ref[page];
	int ret;

	if (page >= WIN_PAGES)
		return;
	ret = xlate(f, SID_NIC, iova, req, &addr);
	if (r && (r & req)) {
		assert_int_equal(ret, 0);
		assert_int_equal(addr, (r & ~0xfffull) + (iova & 0xfff));
	} else {
		assert_int_equal(ret, -(int)(req == VTD_REQ_READ ? VTD_FR_READ : VTD_FR_WRITE));
	}
}

static void check_range(struct ifx *f, uint64_t first, uint64_t n)
{
	if (first)
		check_page(f, first - 1);
	check_page(f, first);
	check_page(f, first + rnd_below(n));
	check_page(f, first + n - 1);
	check_page(f, first + n);
}

struct walk_check { uint64_t pages; };

static int walk_against_ref(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	struct walk_check *w = arg;

	for (uint64_t off = 0; off < size; off += 4096) {
		uint64_t page = (iova + off) >> 12;

		if (page >= WIN_PAGES || ref[page] != ((pa + off) | prot))
			return -1;
		w->pages++;
	}
	return 0;
}

static void full_check(struct iommu_domain *d)
{
	struct walk_check w = { 0 };
	uint64_t mapped = 0;

	for (uint64_t p = 0; p < WIN_PAGES; p++)
		mapped += ref[p] != 0;
	assert_int_equal(iopt_walk(&d->pt, 0, 1ull << d->aw_bits, walk_against_ref, &w), 0);
	assert_int_equal(w.pages, mapped);
	assert_int_equal(d->stats.bytes_mapped, mapped << 12);
}

static void run_differential(struct ifx *f, unsigned aw_bits, uint64_t seed, unsigned ops)
{
	struct iommu_domain *d;
	unsigned maps = 0, unmaps = 0, exists = 0, exists_tried = 0;

	rng_state = seed;
	ref = calloc(WIN_PAGES, sizeof(*ref));
	assert_non_null(ref);
	assert_int_equal(iommu_domain_create(&f->mmu, 1, aw_bits, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_NIC, 0), 0);
	for (unsigned op = 0; op < ops; op++) {
		unsigned kind = (unsigned)rnd_below(10);
		uint64_t first, n;

		pick_range(&first, &n, kind < 4);
		if (kind < 4) {
			/* HPA: same alignment class as the IOVA, so superpages
			 * happen whenever the request allows them */
			uint64_t align = first % 262144 == 0 && n >= 262144 ? 262144 :
					 first % 512 == 0 && n >= 512 ? 512 : 1;
			uint64_t hpage = rnd_below(VM_PAGES - n + 1) / align * align;
			unsigned prot = 1 + (unsigned)rnd_below(3);
			bool busy = false;
			int ret;

			for (uint64_t p = first; p < first + n && !busy; p++)
				busy = ref[p] != 0;
			/* overlaps are refused with a log line: try a few */
			if (busy && rnd_below(16)) {
				exists++;
				continue;
			}
			ret = iommu_domain_map(d, first << 12, vm1_hpa(hpage << 12), n << 12, prot);
			if (busy) {
				assert_int_equal(ret, -EEXIST);
				exists_tried++;
			} else {
				assert_int_equal(ret, 0);
				for (uint64_t p = 0; p < n; p++)
					ref[first + p] = vm1_hpa((hpage + p) << 12) | prot;
				maps++;
			}
		} else if (kind < 7) {
			uint64_t expect = 0, got;

			for (uint64_t p = first; p < first + n; p++) {
				expect += ref[p] != 0;
				ref[p] = 0;
			}
			assert_int_equal(iommu_domain_unmap(d, first << 12, n << 12, &got), 0);
			assert_int_equal(got, expect << 12);
			unmaps++;
		} else {
			for (unsigned i = 0; i < 8; i++)
				check_page(f, rnd_below(WIN_PAGES));
		}
		if (kind < 7)
			check_range(f, first, n);
		if (op % 25000 == 24999)
			full_check(d);
	}
	full_check(d);
	print_message("differential %u-bit seed 0x%llx: %u ops: %u maps, %u overlapping (%u tried, refused), "
		      "%u unmaps, rest translation checks\n", aw_bits, (unsigned long long)seed, ops, maps,
		      exists + exists_tried, exists_tried, unmaps);
	iommu_domain_destroy(d);
	free(ref);
}

static void test_differential_48bit(void **state)
{
	run_differential(*state, 48, 0x5eed0001, 100000);
}

static void test_differential_39bit(void **state)
{
	run_differential(*state, 39, 0x5eed0002, 40000);
}

/* ---- strict invalidation under concurrent DMA ---- */

struct conc {
	struct ifx *f;
	struct dma_as as;
	/* 2r + 1: round r's unmap has returned and no new map has begun;
	 * 2r + 2: round r + 1 is mapping or mapped */
	unsigned phase;
	bool stop;
	uint64_t violations, writes_ok, writes_faulted;
};

#define CONC_IOVA 0x7000000ull

/* Let the hypervisor thread run between a walk and its validation now and
 * then, so walks really do straddle unmaps and table frees. */
static void yield_sometimes(void *opaque)
{
	static __thread unsigned n;

	(void)opaque;
	if (++n % 4 == 0)
		sched_yield();
}

static void *device_thread(void *arg)
{
	struct conc *c = arg;
	uint8_t buf[256];
	uint64_t n = 0;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		unsigned before = __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE), after;
		ssize_t r;

		memset(buf, (int)(++n & 0xff), sizeof(buf));
		memcpy(buf, &n, sizeof(n));
		r = dma_write(&c->as, CONC_IOVA + (n % 16) * 256, buf, sizeof(buf));
		after = __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE);
		if (r > 0) {
			__atomic_add_fetch(&c->writes_ok, 1, __ATOMIC_RELAXED);
			/* started after an unmap returned, ended before the next
			 * map began: must have faulted */
			if ((before & 1) && before == after)
				__atomic_add_fetch(&c->violations, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&c->writes_faulted, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void test_concurrent_strict_unmap(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d;
	struct conc c = { .f = f };
	pthread_t th[2];
	static uint8_t snap[4096];
	uint64_t late_writes = 0;

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_NIC, 0), 0);
	dma_as_init_vtd(&c.as, &f->mmu.unit, &f->a, SID_NIC);
	f->mmu.unit.walk_race_hook = yield_sometimes;
	c.phase = 1;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, device_thread, &c), 0);
	for (unsigned round = 0; round < 1500; round++) {
		uint64_t hpa = vm1_hpa((uint64_t)(round % 64) << 12);
		uint64_t seen = __atomic_load_n(&c.writes_ok, __ATOMIC_RELAXED);
		uint8_t *page = arena_hpa_to_ptr(&f->a, hpa, 4096);

		__atomic_store_n(&c.phase, 2 * round + 2, __ATOMIC_RELEASE);
		assert_int_equal(iommu_domain_map(d, CONC_IOVA, hpa, 4096, IOPT_RW), 0);
		for (unsigned spin = 0; spin < 2000 &&
		     __atomic_load_n(&c.writes_ok, __ATOMIC_RELAXED) < seen + 2; spin++)
			sched_yield();
		assert_int_equal(iommu_domain_unmap(d, CONC_IOVA, 4096, NULL), 0);
		__atomic_store_n(&c.phase, 2 * round + 3, __ATOMIC_RELEASE);
		/* drained: the page must not change any more */
		memcpy(snap, page, sizeof(snap));
		for (unsigned spin = 0; spin < 3; spin++)
			sched_yield();
		if (memcmp(snap, page, sizeof(snap)))
			late_writes++;
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	print_message("concurrent: %llu DMA writes landed, %llu faulted, %llu violations, %llu late writes\n",
		      (unsigned long long)c.writes_ok, (unsigned long long)c.writes_faulted,
		      (unsigned long long)c.violations, (unsigned long long)late_writes);
	assert_int_equal(c.violations, 0);
	assert_int_equal(late_writes, 0);
	assert_true(c.writes_ok > 0);
	assert_true(c.writes_faulted > 0);
	iommu_domain_destroy(d);
}


/* Walks racing table churn: device threads translate a stable range (4K
 * pages, small IOTLB: mostly misses and full walks) while the main thread
 * maps and unmaps whole table spans next to it (tables freed and reused),
 * creates and destroys other domains, and detaches/re-attaches a second
 * device. Stable translations must never be wrong or fault; the churned
 * device may only see its translation or "context not present". */
struct churn {
	struct ifx *f;
	bool stop;
	uint64_t checked, wrong, churn_ok, churn_np, churn_other;
};

#define STABLE_IOVA  0x10000000ull
#define STABLE_PAGES 1024u
#define SID_CHURN    VTD_SID(3, 2, 0)

static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	uint64_t x = (uint64_t)(uintptr_t)arg | 1;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct vtd_xlate xl;
		uint64_t page;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		page = x % STABLE_PAGES;
		if (vtd_translate(&c->f->mmu.unit, SID_NIC, STABLE_IOVA + (page << 12) + 8, VTD_REQ_READ, &xl) ||
		    xl.addr != vm1_hpa(((STABLE_PAGES - 1 - page) << 12) + 8))
			__atomic_add_fetch(&c->wrong, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->checked, 1, __ATOMIC_RELAXED);
		{
			/* the churned span: its mapping, or not present */
			static const uint64_t off[3] = { 0, 0x1000, MiB };
			static const uint64_t hpa_off[3] = { 64 * MiB, 64 * MiB + 0x1000, 72 * MiB };
			unsigned k = (unsigned)(x >> 20) % 3, o = (unsigned)(x >> 30) % 3;
			int r = vtd_translate(&c->f->mmu.unit, SID_NIC, GiB + k * 2 * MiB + off[o] + 8,
					      VTD_REQ_READ, &xl);

			if (r ? xl.fault != VTD_FR_READ : xl.addr != vm1_hpa(hpa_off[o] + 8))
				__atomic_add_fetch(&c->wrong, 1, __ATOMIC_RELAXED);
		}
		if (!(x & 7)) {
			int r = vtd_translate(&c->f->mmu.unit, SID_CHURN, STABLE_IOVA, VTD_REQ_READ, &xl);

			if (!r && xl.addr == vm1_hpa((STABLE_PAGES - 1) << 12))
				__atomic_add_fetch(&c->churn_ok, 1, __ATOMIC_RELAXED);
			else if (r && xl.fault == VTD_FR_CONTEXT_ENTRY_P)
				__atomic_add_fetch(&c->churn_np, 1, __ATOMIC_RELAXED);
			else
				__atomic_add_fetch(&c->churn_other, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void test_concurrent_walks_during_table_churn(void **state)
{
	struct ifx *f = *state;
	struct iommu_domain *d, *tmp;
	struct churn c = { .f = f };
	pthread_t th[2];

	assert_int_equal(iommu_domain_create(&f->mmu, 1, 48, &d), 0);
	assert_int_equal(iommu_domain_attach(d, SID_NIC, 0), 0);
	assert_int_equal(iommu_domain_attach(d, SID_CHURN, 0), 0);
	/* reversed, page by page: 4K leaves, no two neighbours contiguous */
	for (uint64_t p = 0; p < STABLE_PAGES; p++)
		assert_int_equal(iommu_domain_map(d, STABLE_IOVA + (p << 12),
						  vm1_hpa((STABLE_PAGES - 1 - p) << 12), 4096, IOPT_READ), 0);
	f->mmu.unit.walk_race_hook = yield_sometimes;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn_reader, &c), 0);
	for (unsigned it = 0; it < 3000; it++) {
		/* a neighbouring 1G span: its tables are created and freed */
		uint64_t base = GiB + (uint64_t)(it % 3) * 2 * MiB;

		assert_int_equal(iommu_domain_map(d, base, vm1_hpa(64 * MiB), 8192, IOPT_RW), 0);
		assert_int_equal(iommu_domain_map(d, base + MiB, vm1_hpa(72 * MiB), 4096, IOPT_RW), 0);
		assert_int_equal(iommu_domain_unmap(d, GiB, GiB, NULL), 0);
		if (it % 10 == 0) {
			assert_int_equal(iommu_domain_detach(d, SID_CHURN), 0);
			assert_int_equal(iommu_domain_attach(d, SID_CHURN, 0), 0);
		}
		if (it % 50 == 0) {
			assert_int_equal(iommu_domain_create(&f->mmu, 1, 39, &tmp), 0);
			assert_int_equal(iommu_domain_map(tmp, 0, vm1_hpa(0), 64 * 4096, IOPT_RW), 0);
			iommu_domain_destroy(tmp);
		}
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	print_message("churn: %llu stable translations checked, %llu wrong; churned device: %llu ok, "
		      "%llu context-not-present, %llu other\n", (unsigned long long)c.checked,
		      (unsigned long long)c.wrong, (unsigned long long)c.churn_ok,
		      (unsigned long long)c.churn_np, (unsigned long long)c.churn_other);
	assert_int_equal(c.wrong, 0);
	assert_int_equal(c.churn_other, 0);
	assert_true(c.checked > 0);
	iommu_domain_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domain_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_refuses_passthrough, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_refuses_private_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_refuses_other_vms_ram, setup, teardown),
		cmocka_unit_test(test_map_gmem_iova_equals_gpa),
		cmocka_unit_test_setup_teardown(test_strict_unmap_leaves_no_stale_translation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_mode_shows_stale_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_trace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_differential_48bit, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_differential_39bit, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_strict_unmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_walks_during_table_churn, setup_small, teardown),
	};

	return cmocka_run_group_tests_name("iommu", tests, NULL, NULL);
}
