/* Two-stage translation benchmark: the cost of one I/O behind a guest-visible
 * VT-d unit - map, one 4 KiB DMA, unmap with a strict invalidation (page-
 * selective + wait/drain) - driven as a guest driver would drive it: PTEs
 * written in guest RAM, invalidations issued to the vIOMMU (and, in shadow
 * mode, the shadow hook called where the vIOMMU would call it).
 *
 *   direct   no IOMMU at all: the DMA alone
 *   host     a host domain only (the VMM maps/unmaps, strict)
 *   nested   guest tables + host stage 2; the guest does not invalidate on
 *            map (CM = 0), does PSI + wait on unmap
 *   shadow   Caching Mode: PSI after map and after unmap, each resyncing
 *            the shadow domain; DMA through the host unit
 *
 * Then the hit path: ns per 4 KiB dma_write over a long-lived mapping.
 * Each figure is the best of three runs. Seeded; --quick runs a tenth of
 * the iterations. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iommu/iommu.h"
#include "iommu/dma.h"
#include "iommu/stage2.h"
#include "iommu/viommu_shadow.h"
#include "base/log.h"

#define MiB (1ull << 20)

#define SID_N   VTD_SID(0, 3, 0)
#define SID_S   VTD_SID(0, 4, 0)
#define SID_H   VTD_SID(0, 5, 0)
#define GDID    5
#define IOVA0   0x10000000ull          /* the guest's IOVA window: 256 pages in one PT */
#define NIOVA   256
#define DATA    (16 * MiB)             /* DMA targets: 4096 pages from here */
#define NDATA   4096

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, long ret)
{
	fprintf(stderr, "bench/viommu: %s failed: %ld\n", what, ret);
	exit(1);
}

#define CHECK(call) do { long r__ = (call); if (r__) die(#call, r__); } while (0)
#define CHECK_IO(call) do { long r__ = (call); if (r__ != 4096) die(#call, r__); } while (0)

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int guest_read64(void *opaque, uint64_t gpa, uint64_t *val)
{
	if (gpa & 7)
		return -EFAULT;
	return gmem_read(opaque, gpa, val, 8);
}

struct bench {
	struct arena a;
	struct gmem vm;
	struct iommu mmu;
	struct iommu_domain *identity, *hostdom;
	struct vtd_stage2 s2;
	struct vtd_unit gn, gs;            /* guest units: nested, shadow */
	struct viommu_shadow sh;
	struct dma_as direct, host, nested, shadow;
	uint64_t *pt;                      /* the guest's PT covering the IOVA window */
	uint8_t buf[4096];
};

/* Guest tables at GPA 1 MiB: root, one context table, and a 4-level path
 * to one PT for the IOVA window, as a guest driver leaves them after its
 * first map there. */
static void guest_tables(struct bench *b)
{
	uint64_t *g = gmem_gpa_to_ptr(&b->vm, MiB, 8 * 4096);
	const uint64_t root = MiB, ctx = root + 0x1000, l4 = root + 0x2000, l3 = l4 + 0x1000,
		       l2 = l3 + 0x1000, l1 = l2 + 0x1000;

	memset(g, 0, 8 * 4096);
	g[0] = vtd_root_entry_lo(ctx);
	for (uint16_t sid = SID_N; sid <= SID_S; sid += 8) {
		g[512 + VTD_SID_DEVFN(sid) * 2 + 1] = vtd_ctx_entry_hi(GDID, VTD_AW_48BIT);
		g[512 + VTD_SID_DEVFN(sid) * 2] = vtd_ctx_entry_lo(l4, VTD_TT_TRANSLATED, false);
	}
	g[1024 + ((IOVA0 >> 39) & 511)] = l3 | VTD_SL_R | VTD_SL_W;
	g[1536 + ((IOVA0 >> 30) & 511)] = l2 | VTD_SL_R | VTD_SL_W;
	g[2048 + ((IOVA0 >> 21) & 511)] = l1 | VTD_SL_R | VTD_SL_W;
	b->pt = &g[2560];
}

static void guest_unit(struct bench *b, struct vtd_unit *u, const struct vtd_stage2 *s2)
{
	struct vtd_unit_cfg cfg = { .mem = { .read64 = guest_read64, .opaque = &b->vm }, .stage2 = s2 };

	vtd_caps_default(&cfg.caps);
	CHECK(vtd_unit_init(u, &cfg));
	vtd_set_root_table(u, MiB);
	vtd_context_invalidate_global(u);
	vtd_iotlb_invalidate_global(u);
	CHECK(vtd_set_translation_enable(u, true));
}

static void setup(struct bench *b)
{
	struct viommu_shadow_cfg scfg;

	memset(b, 0, sizeof(*b));
	CHECK(arena_init(&b->a, 640 * MiB, 64 * MiB));
	CHECK(gmem_init(&b->vm, &b->a, 1, 512 * MiB));
	CHECK(iommu_init(&b->mmu, &b->a, NULL));
	CHECK(iommu_domain_create(&b->mmu, 1, 48, &b->identity));
	CHECK(iommu_domain_map_gmem(b->identity, &b->vm));
	CHECK(iommu_domain_attach(b->identity, SID_N, 0));
	CHECK(iommu_domain_create(&b->mmu, 1, 48, &b->hostdom));
	CHECK(iommu_domain_attach(b->hostdom, SID_H, 0));
	guest_tables(b);
	stage2_init_host(&b->s2, &b->mmu);
	guest_unit(b, &b->gn, &b->s2);
	guest_unit(b, &b->gs, NULL);
	scfg = (struct viommu_shadow_cfg){
		.guest = &b->gs, .host = &b->mmu, .gmem = &b->vm, .vm_id = 1, .identity = b->identity,
	};
	CHECK(viommu_shadow_init(&b->sh, &scfg));
	CHECK(viommu_shadow_add_device(&b->sh, SID_S, SID_S));
	dma_as_init_direct(&b->direct, &b->vm, 0);
	dma_as_init_vtd(&b->host, &b->mmu.unit, &b->a, SID_H);
	dma_as_init_nested(&b->nested, &b->gn, &b->mmu.unit, &b->a, SID_N);
	dma_as_init_shadow(&b->shadow, &b->mmu.unit, SID_S, &b->gs, SID_S, &b->a);
	memset(b->buf, 0x5a, sizeof(b->buf));
}

static void teardown(struct bench *b)
{
	viommu_shadow_destroy(&b->sh);
	vtd_unit_destroy(&b->gn);
	vtd_unit_destroy(&b->gs);
	iommu_destroy(&b->mmu);
	if (arena_check_canaries(&b->a))
		die("arena_check_canaries", -1);
	gmem_destroy(&b->vm);
	arena_destroy(&b->a);
}

enum mode { DIRECT, HOST, NESTED, SHADOW };

/* One I/O: map IOVA -> a data page, 4 KiB DMA, strict unmap. */
static void io_cycle(struct bench *b, enum mode m, unsigned slot, uint64_t gpa)
{
	uint64_t iova = IOVA0 + ((uint64_t)slot << 12), hpa;
	uint64_t *pte = &b->pt[slot];

	switch (m) {
	case DIRECT:
		CHECK_IO(dma_write(&b->direct, gpa, b->buf, 4096));
		break;
	case HOST:
		CHECK(gmem_gpa_to_hpa(&b->vm, gpa, &hpa));
		CHECK(iommu_domain_map(b->hostdom, iova, hpa, 4096, IOPT_RW));
		CHECK_IO(dma_write(&b->host, iova, b->buf, 4096));
		CHECK(iommu_domain_unmap(b->hostdom, iova, 4096, NULL));
		break;
	case NESTED:
		__atomic_store_n(pte, gpa | VTD_SL_R | VTD_SL_W, __ATOMIC_RELEASE);
		CHECK_IO(dma_write(&b->nested, iova, b->buf, 4096));
		__atomic_store_n(pte, 0, __ATOMIC_RELEASE);
		CHECK(vtd_iotlb_invalidate_page(&b->gn, GDID, iova, 0, false));
		vtd_drain(&b->gn);
		break;
	case SHADOW:
		__atomic_store_n(pte, gpa | VTD_SL_R | VTD_SL_W, __ATOMIC_RELEASE);
		CHECK(vtd_iotlb_invalidate_page(&b->gs, GDID, iova, 0, false));
		viommu_shadow_iotlb_invalidated(&b->sh, VIOMMU_SHADOW_INV_PAGE, GDID, iova, 4096);
		vtd_drain(&b->gs);
		CHECK_IO(dma_write(&b->shadow, iova, b->buf, 4096));
		__atomic_store_n(pte, 0, __ATOMIC_RELEASE);
		CHECK(vtd_iotlb_invalidate_page(&b->gs, GDID, iova, 0, false));
		viommu_shadow_iotlb_invalidated(&b->sh, VIOMMU_SHADOW_INV_PAGE, GDID, iova, 4096);
		vtd_drain(&b->gs);
		break;
	}
}

static double bench_cycle(struct bench *b, enum mode m, unsigned iters)
{
	double t0;

	for (unsigned i = 0; i < iters / 10; i++)          /* warm */
		io_cycle(b, m, (unsigned)(rnd() % NIOVA), DATA + ((rnd() % NDATA) << 12));
	t0 = now_s();
	for (unsigned i = 0; i < iters; i++)
		io_cycle(b, m, (unsigned)(rnd() % NIOVA), DATA + ((rnd() % NDATA) << 12));
	return (now_s() - t0) * 1e9 / iters;
}

/* 4 KiB DMAs over a long-lived mapping of 64 pages: the IOTLB hit path. */
static double bench_hit(struct bench *b, enum mode m, unsigned iters)
{
	struct dma_as *as = m == DIRECT ? &b->direct : m == HOST ? &b->host : m == NESTED ? &b->nested : &b->shadow;
	uint64_t base = m == DIRECT ? DATA : IOVA0, hpa;
	double t0;

	for (unsigned p = 0; p < 64 && m != DIRECT; p++) {
		uint64_t gpa = DATA + ((uint64_t)p << 12);

		if (m == HOST) {
			CHECK(gmem_gpa_to_hpa(&b->vm, gpa, &hpa));
			CHECK(iommu_domain_map(b->hostdom, IOVA0 + ((uint64_t)p << 12), hpa, 4096, IOPT_RW));
		} else {
			b->pt[p] = gpa | VTD_SL_R | VTD_SL_W;
		}
	}
	if (m == SHADOW)
		viommu_shadow_iotlb_invalidated(&b->sh, VIOMMU_SHADOW_INV_PAGE, GDID, IOVA0, 64 * 4096);
	for (unsigned i = 0; i < 1000; i++)
		CHECK_IO(dma_write(as, base + ((uint64_t)(i % 64) << 12), b->buf, 4096));
	t0 = now_s();
	for (unsigned i = 0; i < iters; i++)
		CHECK_IO(dma_write(as, base + ((rnd() % 64) << 12), b->buf, 4096));
	t0 = (now_s() - t0) * 1e9 / iters;
	if (m == HOST) {
		CHECK(iommu_domain_unmap(b->hostdom, IOVA0, 64 * 4096, NULL));
	} else if (m != DIRECT) {
		memset(b->pt, 0, 64 * sizeof(*b->pt));
		vtd_iotlb_invalidate_domain(m == NESTED ? &b->gn : &b->gs, GDID);
		if (m == SHADOW)
			viommu_shadow_iotlb_invalidated(&b->sh, VIOMMU_SHADOW_INV_DOMAIN, GDID, 0, 0);
	}
	return t0;
}

int main(int argc, char **argv)
{
	static struct bench b;
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	unsigned cycles = quick ? 20000 : 200000, hits = quick ? 200000 : 1000000;
	const char *names[] = { "direct (no IOMMU)", "host domain only", "nested", "shadow" };
	double cyc[4], hit[4];
	struct viommu_shadow_stats st;
	struct vtd_stats vs;

	log_threshold = LOG_ERROR;
	setup(&b);
	printf("Warden vIOMMU two-stage benchmark (%s build%s, seed 0x%016" PRIx64 ")\n",
#ifdef __OPTIMIZE__
	       "optimised",
#else
	       "UNOPTIMISED",
#endif
	       quick ? ", --quick" : "", rng);
	/* Best of three, the modes interleaved within each round: the
	 * machine is shared, and others' noise only ever adds time. */
	for (int m = DIRECT; m <= SHADOW; m++)
		cyc[m] = hit[m] = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		for (int m = DIRECT; m <= SHADOW; m++) {
			double t = bench_cycle(&b, (enum mode)m, cycles);

			cyc[m] = t < cyc[m] ? t : cyc[m];
		}
		for (int m = DIRECT; m <= SHADOW; m++) {
			double t = bench_hit(&b, (enum mode)m, hits);

			hit[m] = t < hit[m] ? t : hit[m];
		}
	}
	printf("map -> 4 KiB dma_write -> strict unmap, per I/O (best of 3 x %u I/Os):\n", cycles);
	for (int m = DIRECT; m <= SHADOW; m++)
		printf("  %-20s %8.0f ns/I/O\n", names[m], cyc[m]);
	printf("  nested / shadow:     %8.2f\n", cyc[NESTED] / cyc[SHADOW]);
	printf("4 KiB dma_write over a long-lived mapping (IOTLB hit path, best of 3 x %u DMAs):\n", hits);
	for (int m = DIRECT; m <= SHADOW; m++)
		printf("  %-20s %8.1f ns/DMA\n", names[m], hit[m]);
	printf("  nested / shadow:     %8.2f\n", hit[NESTED] / hit[SHADOW]);
	viommu_shadow_stats_get(&b.sh, &st);
	vtd_stats_get(&b.gn, &vs);
	printf("shadow: %" PRIu64 " syncs, %" PRIu64 " pages mapped, %" PRIu64 " unmapped, %.0f ns/sync; "
	       "nested guest IOTLB: %" PRIu64 " hits, %" PRIu64 " misses\n",
	       st.syncs, st.pages_mapped, st.pages_unmapped, st.syncs ? (double)st.ns / (double)st.syncs : 0.0,
	       vs.iotlb_hits, vs.iotlb_misses);
	if (b.nested.stats.faults || b.shadow.stats.faults || b.host.stats.faults)
		die("faults during the benchmark", (long)(b.nested.stats.faults + b.shadow.stats.faults));
	teardown(&b);
	return 0;
}
