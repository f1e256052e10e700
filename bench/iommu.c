/* IOMMU benchmark: translation cost on an IOTLB hit and on a miss (full
 * walk) for 3- and 4-level tables, strict map+unmap rate for 4 KiB and
 * 2 MiB pages, and dma_write bandwidth of 4 KiB transfers against memcpy of
 * the same bytes. Runs in a few seconds; every line says its unit. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iommu/iommu.h"
#include "iommu/dma.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define SID_HIT  VTD_SID(1, 0, 0)
#define SID_MISS VTD_SID(2, 0, 0)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench/iommu: %s failed: %d\n", what, ret);
	exit(1);
}

#define CHECK(call) do { int r__ = (call); if (r__) die(#call, r__); } while (0)

static volatile uint64_t sink;

/* ns per translation for `iters` translations cycling through `pages`
 * consecutive pages from iova. */
static double bench_translate(struct vtd_unit *u, uint16_t sid, uint64_t iova, uint64_t pages,
			      uint64_t iters)
{
	struct vtd_xlate x;
	uint64_t acc = 0, p = 0;
	double t0 = now_s(), t1;

	for (uint64_t i = 0; i < iters; i++) {
		if (vtd_translate(u, sid, iova + (p << 12) + (i & 0xff8), VTD_REQ_READ, &x))
			die("vtd_translate", -EFAULT);
		acc += x.addr;
		if (++p == pages)
			p = 0;
	}
	t1 = now_s();
	sink = acc;
	return (t1 - t0) * 1e9 / (double)iters;
}

static double bench_walk(struct iopt *pt, uint64_t iova, uint64_t pages, uint64_t iters)
{
	struct iopt_walk_result r;
	uint64_t acc = 0, p = 0;
	double t0 = now_s(), t1;

	for (uint64_t i = 0; i < iters; i++) {
		if (iopt_vtd_walk(&pt->mem, pt->root, pt->levels, 46, iova + (p << 12), IOPT_READ, &r))
			die("iopt_vtd_walk", -EFAULT);
		acc += r.pa;
		if (++p == pages)
			p = 0;
	}
	t1 = now_s();
	sink = acc;
	return (t1 - t0) * 1e9 / (double)iters;
}

struct hit_thread { struct vtd_unit *u; uint16_t sid; uint64_t iova; double ns; };

static void *hit_thread_fn(void *arg)
{
	struct hit_thread *h = arg;

	h->ns = bench_translate(h->u, h->sid, h->iova, 16, 20000000);
	return NULL;
}

int main(void)
{
	struct arena a;
	struct gmem vm;
	struct iommu hit_mmu, miss_mmu;
	struct iommu_cfg one_set = { .iotlb_sets = 1 };   /* 4 entries: every page misses */
	struct iommu_domain *hit48, *hit39, *miss48, *miss39;
	struct vtd_stats st0, st1;
	const uint64_t walk_pages = 65536;                 /* 256 MiB of 4K mappings */
	double hit4, hit3, miss4, miss3, walk4, walk3;
	uint64_t ram;

	log_threshold = LOG_ERROR;
	CHECK(arena_init(&a, 2 * GiB + 64 * MiB, 64 * MiB));
	CHECK(gmem_init(&vm, &a, 1, 2 * GiB));
	ram = vm.ranges[0].hpa;
	CHECK(iommu_init(&hit_mmu, &a, NULL));
	CHECK(iommu_init(&miss_mmu, &a, &one_set));
	printf("Warden IOMMU benchmark (VT-d model, %s)\n",
#ifdef __OPTIMIZE__
	       "optimised build"
#else
	       "UNOPTIMISED build"
#endif
	       );

	/* --- translation: hit and miss, 4- and 3-level --- */
	CHECK(iommu_domain_create(&hit_mmu, 1, 48, &hit48));
	CHECK(iommu_domain_create(&hit_mmu, 1, 39, &hit39));
	CHECK(iommu_domain_create(&miss_mmu, 1, 48, &miss48));
	CHECK(iommu_domain_create(&miss_mmu, 1, 39, &miss39));
	for (uint64_t p = 0; p < walk_pages; p++) {
		/* page by page: 4K leaves, the full depth of the table */
		CHECK(iommu_domain_map(hit48, 0x10000000 + (p << 12), ram + (p << 12), 4096, IOPT_RW));
		CHECK(iommu_domain_map(hit39, 0x10000000 + (p << 12), ram + (p << 12), 4096, IOPT_RW));
		CHECK(iommu_domain_map(miss48, 0x10000000 + (p << 12), ram + (p << 12), 4096, IOPT_RW));
		CHECK(iommu_domain_map(miss39, 0x10000000 + (p << 12), ram + (p << 12), 4096, IOPT_RW));
	}
	CHECK(iommu_domain_attach(hit48, SID_HIT, 0));
	CHECK(iommu_domain_attach(hit39, VTD_SID(1, 1, 0), 0));
	CHECK(iommu_domain_attach(miss48, SID_MISS, 0));
	CHECK(iommu_domain_attach(miss39, VTD_SID(2, 1, 0), 0));

	bench_translate(&hit_mmu.unit, SID_HIT, 0x10000000, 16, 1000000);        /* warm */
	vtd_stats_get(&hit_mmu.unit, &st0);
	hit4 = bench_translate(&hit_mmu.unit, SID_HIT, 0x10000000, 16, 30000000);
	hit3 = bench_translate(&hit_mmu.unit, VTD_SID(1, 1, 0), 0x10000000, 16, 30000000);
	vtd_stats_get(&hit_mmu.unit, &st1);
	printf("translate, IOTLB hit,  4-level (48-bit): %6.1f ns/translation  (%.1f M/s, hit rate %.1f%%)\n",
	       hit4, 1e3 / hit4, 100.0 * (double)(st1.iotlb_hits - st0.iotlb_hits) /
	       (double)(st1.iotlb_hits - st0.iotlb_hits + st1.iotlb_misses - st0.iotlb_misses));
	printf("translate, IOTLB hit,  3-level (39-bit): %6.1f ns/translation  (%.1f M/s)\n", hit3, 1e3 / hit3);

	vtd_stats_get(&miss_mmu.unit, &st0);
	miss4 = bench_translate(&miss_mmu.unit, SID_MISS, 0x10000000, walk_pages, 4000000);
	miss3 = bench_translate(&miss_mmu.unit, VTD_SID(2, 1, 0), 0x10000000, walk_pages, 4000000);
	vtd_stats_get(&miss_mmu.unit, &st1);
	printf("translate, IOTLB miss, 4-level walk:     %6.1f ns/translation  (%.1f M/s, hit rate %.1f%%, "
	       "%" PRIu64 " pages of tables' reach)\n", miss4, 1e3 / miss4,
	       100.0 * (double)(st1.iotlb_hits - st0.iotlb_hits) /
	       (double)(st1.iotlb_hits - st0.iotlb_hits + st1.iotlb_misses - st0.iotlb_misses), walk_pages);
	printf("translate, IOTLB miss, 3-level walk:     %6.1f ns/translation  (%.1f M/s)\n", miss3, 1e3 / miss3);
	walk4 = bench_walk(&miss48->pt, 0x10000000, walk_pages, 4000000);
	walk3 = bench_walk(&miss39->pt, 0x10000000, walk_pages, 4000000);
	printf("table walk alone (iopt_vtd_walk):        %6.1f ns 4-level, %.1f ns 3-level\n", walk4, walk3);

	{
		struct hit_thread h[2] = {
			{ &hit_mmu.unit, SID_HIT, 0x10000000, 0 },
			{ &hit_mmu.unit, VTD_SID(1, 1, 0), 0x10100000, 0 },
		};
		pthread_t th[2];

		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, hit_thread_fn, &h[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		printf("translate, IOTLB hit, 2 threads at once: %6.1f / %.1f ns/translation per thread\n",
		       h[0].ns, h[1].ns);
	}

	/* --- map + unmap (strict: PSI + drain per unmap) --- */
	{
		struct iommu_domain *d;
		const unsigned n4k = 300000, n2m = 100000;
		double t0, t4k, t2m;

		CHECK(iommu_domain_create(&hit_mmu, 1, 48, &d));
		CHECK(iommu_domain_attach(d, VTD_SID(3, 0, 0), 0));
		t0 = now_s();
		for (unsigned i = 0; i < n4k; i++) {
			uint64_t iova = 0x40000000 + ((uint64_t)(i % 512) << 12);

			CHECK(iommu_domain_map(d, iova, ram + ((uint64_t)(i % 4096) << 12), 4096, IOPT_RW));
			CHECK(iommu_domain_unmap(d, iova, 4096, NULL));
		}
		t4k = now_s() - t0;
		t0 = now_s();
		for (unsigned i = 0; i < n2m; i++) {
			uint64_t iova = 0x80000000 + ((uint64_t)(i % 64) << 21);

			CHECK(iommu_domain_map(d, iova, ram + ((uint64_t)(i % 512) << 21), 2 * MiB, IOPT_RW));
			CHECK(iommu_domain_unmap(d, iova, 2 * MiB, NULL));
		}
		t2m = now_s() - t0;
		printf("map+unmap 4 KiB page (strict):           %8.0f pairs/s  (%.2f us per map+unmap)\n",
		       n4k / t4k, t4k * 1e6 / n4k);
		printf("map+unmap 2 MiB superpage (strict):      %8.0f pairs/s  (%.2f us per map+unmap)\n",
		       n2m / t2m, t2m * 1e6 / n2m);
		iommu_domain_destroy(d);
	}

	/* --- dma_write of 4 KiB pages vs memcpy --- */
	{
		struct iommu_domain *d;
		struct dma_as as;
		const uint64_t pages = 256;                 /* 1 MiB target, 4K mappings */
		const uint64_t iters = 2000000;
		static uint8_t src[4096];
		uint8_t *dst = arena_hpa_to_ptr(&a, ram + GiB, pages << 12);
		double t0, t_dma, t_cpy, gbs_dma, gbs_cpy;

		memset(src, 0x5a, sizeof(src));
		CHECK(iommu_domain_create(&hit_mmu, 1, 48, &d));
		CHECK(iommu_domain_attach(d, VTD_SID(4, 0, 0), 0));
		for (uint64_t p = 0; p < pages; p++)
			CHECK(iommu_domain_map(d, 0x20000000 + (p << 12), ram + GiB + (p << 12), 4096, IOPT_RW));
		dma_as_init_vtd(&as, &hit_mmu.unit, &a, VTD_SID(4, 0, 0));
		for (int rep = 0; rep < 2; rep++) {          /* first round warms both */
			t0 = now_s();
			for (uint64_t i = 0; i < iters; i++) {
				memcpy(dst + ((i % pages) << 12), src, 4096);
				__asm__ volatile("" ::: "memory");
			}
			t_cpy = now_s() - t0;
			t0 = now_s();
			for (uint64_t i = 0; i < iters; i++)
				if (dma_write(&as, 0x20000000 + ((i % pages) << 12), src, 4096) != 4096)
					die("dma_write", -EFAULT);
			t_dma = now_s() - t0;
		}
		gbs_dma = (double)iters * 4096 / t_dma / 1e9;
		gbs_cpy = (double)iters * 4096 / t_cpy / 1e9;
		printf("dma_write 4 KiB transfers (4K mappings): %6.2f GB/s (%.0f ns per transfer)\n",
		       gbs_dma, t_dma * 1e9 / iters);
		printf("memcpy of the same 4 KiB blocks:         %6.2f GB/s (%.0f ns per copy)\n",
		       gbs_cpy, t_cpy * 1e9 / iters);
		printf("dma_write / memcpy ratio:                %6.2f\n", gbs_dma / gbs_cpy);
		printf("targets: IOTLB hit < 20 ns: %s; 4-level miss+walk < 100 ns: %s; dma_write >= 0.5 x memcpy: %s\n",
		       hit4 < 20 ? "met" : "NOT met", miss4 < 100 ? "met" : "NOT met",
		       gbs_dma / gbs_cpy >= 0.5 ? "met" : "NOT met");
		iommu_domain_destroy(d);
	}

	iommu_destroy(&miss_mmu);
	iommu_destroy(&hit_mmu);
	gmem_destroy(&vm);
	if (arena_check_canaries(&a))
		die("canary check", -EIO);
	arena_destroy(&a);
	return 0;
}
