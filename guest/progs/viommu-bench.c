/* What a map/unmap-per-I/O driver pays behind a guest-visible VT-d unit
 * (Warden's --viommu mode=nested|shadow, or QEMU's intel-iommu), with the
 * edu device as the DMA engine. In ring 3, per I/O: map a 4 KiB buffer at
 * an IOVA (vtd_map: under Caching Mode it invalidates the new range,
 * page-selective + wait, as a strict driver must), one edu DMA of 4 KiB
 * from its buffer to RAM through that IOVA (polled), strict unmap (clear,
 * page-selective invalidation + wait). Baselines: the same DMA through one
 * long-lived mapping (no map/unmap), and with translation off (TE = 0:
 * bus addresses are GPAs). Every DMA is checked to have landed.
 *
 * One line per row, then the unit's Caching Mode:
 *   viommu-bench: mode=map-unmap ios=N us_per_io=X.Y p50_us=X.Y p99_us=X.Y exits_per_io=X.YY
 *   viommu-bench: mode=long-lived ...
 *   viommu-bench: mode=te-off ...
 *   viommu-bench: caching-mode=0|1
 * (exits_per_io=n/a without Warden's stats port); "viommu-bench info:"
 * lines add MMIO / port exits and invalidations per I/O; the last line is
 * "viommu-bench done: N rows". Failures: "viommu-bench: FAIL: ...", exit 1.
 *
 * Command line: ios=N (I/Os per row) or secs=S (per row, decimals
 * allowed; default 0.4, so a run takes about 1.5 s under Warden);
 * inv=queued (default) or inv=register (register-based invalidation);
 * QEMU's edu takes ~100 ms per DMA (a timer): give it a small ios=. */
#include "rt.h"
#include "edu.h"
#include "vtd.h"

#define PAGE         4096ul
#define DID          1
/* Below 256 MiB: QEMU's edu masks DMA addresses to 28 bits. */
#define IOVA_BASE    0x2000000ul        /* per-I/O mappings, rotating over IOVA_SLOTS pages */
#define IOVA_SLOTS   64
#define IOVA_LONG    0x3000000ul        /* the long-lived mapping */
#define IOVA_SRC     0x3100000ul        /* loads edu's buffer once */
#define WARMUP       16
#define WARMUP_MS    20
#define MAX_SAMPLES  65536
#define DEFAULT_MS   400
#define PATTERN      0x5eed0000u

enum row_kind { ROW_MAP_UNMAP, ROW_LONG_LIVED, ROW_TE_OFF };
static const char *const row_name[] = { "map-unmap", "long-lived", "te-off" };

static struct vtd_dmar dmar;
static struct vtd_unit unit;
static struct vtd_domain dom;
static struct edu_dev dev;
static uint64_t dst, src, *samples, opt_ios, opt_ms = DEFAULT_MS;
static uint32_t len, rng = 0x9e3779b9;
static uint64_t t_map, t_dma, t_unmap;  /* map-unmap: TSC ticks in each step */
static bool opt_reg;

static int failf(const char *fmt, ...) RT_PRINTF(1, 2);
static int failf(const char *fmt, ...)
{
	va_list ap;

	printf("viommu-bench: FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return -1;
}

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* ---- statistics ---- */

/* "12.3": tenths of a microsecond, rounded. */
static void fmt_tenths(char *buf, size_t n, uint64_t ns)
{
	uint64_t tenths = (ns + 50) / 100;

	snprintf(buf, n, "%lu.%lu", tenths / 10, tenths % 10);
}

/* x / ios with two decimals. */
static void fmt_per_io(char *buf, size_t n, uint64_t x, uint64_t ios)
{
	uint64_t h = ios ? (x * 100 + ios / 2) / ios : 0;

	snprintf(buf, n, "%lu.%02lu", h / 100, h % 100);
}

/* "secs=1", "secs=0.2", "secs=.05" -> milliseconds; false if malformed. */
static bool parse_secs_ms(const char *s, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0, scale = 1000;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++)
		whole = whole * 10 + (uint64_t)(*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
	if (*p || p == s)
		return false;
	*ms = whole * 1000 + frac;
	return true;
}

/* ---- one I/O ---- */

static volatile uint32_t *first_word(void) { return (volatile uint32_t *)dst; }
static volatile uint32_t *last_word(void) { return (volatile uint32_t *)(dst + (len & ~3u) - 4); }

/* The DMA to bus address ba, and whether it landed: both ends of the
 * buffer are overwritten first, edu's buffer holds the pattern. */
static int dma_checked(uint64_t ba)
{
	*first_word() = 0;
	*last_word() = 0;
	int r = edu_dma(&dev, EDU_DMA_BUF, ba, len, EDU_DMA_TO_RAM);
	if (r)
		return failf("edu DMA to bus address 0x%lx: %s (error 0x%x)", ba, edu_err_name(r), dev.dma_error);
	if (*first_word() != PATTERN || *last_word() != PATTERN + ((len & ~3u) - 4) / 4)
		return failf("edu DMA to bus address 0x%lx did not land (words 0x%x, 0x%x)", ba, *first_word(),
			     *last_word());
	return 0;
}

static int one_io(enum row_kind k, uint64_t n)
{
	uint64_t iova = IOVA_BASE + (n % IOVA_SLOTS) * PAGE;
	int r;

	switch (k) {
	case ROW_MAP_UNMAP:
	{
		/* DMA_FROM_DEVICE: the device may only write the buffer. */
		uint64_t t0 = rdtsc();
		if ((r = vtd_map(&dom, iova, dst, PAGE, VTD_W)))
			return failf("map IOVA 0x%lx: %s: %s", iova, vtd_err_name(r), unit.err);
		uint64_t t1 = rdtsc();
		r = dma_checked(iova);
		uint64_t t2 = rdtsc();
		int u = vtd_unmap(&dom, iova, PAGE, VTD_UNMAP_STRICT);
		if (u)
			return failf("strict unmap IOVA 0x%lx: %s: %s", iova, vtd_err_name(u), unit.err);
		t_map += t1 - t0;
		t_dma += t2 - t1;
		t_unmap += rdtsc() - t2;
		return r;
	}
	case ROW_LONG_LIVED:
		return dma_checked(IOVA_LONG);
	case ROW_TE_OFF:
		return dma_checked(dst);
	}
	return -1;
}

/* ---- a row ---- */

static int run_row(enum row_kind k)
{
	struct wstats_span s_exits, s_mmio, s_pio;
	struct vtd_inv_stats st0;
	uint64_t hz = tsc_hz(), n = 0, nsamples = 0, end;
	uint64_t exits = 0, mmio = 0, pio = 0;

	/* Warm-up: WARMUP I/Os or WARMUP_MS, whichever ends first (QEMU's edu
	 * takes 100 ms per DMA). */
	uint64_t wend = rdtsc() + WARMUP_MS * (hz / 1000);
	for (unsigned i = 0; i < WARMUP && (i == 0 || rdtsc() < wend); i++)
		if (one_io(k, i))
			return -1;
	st0 = unit.stats;
	t_map = t_dma = t_unmap = 0;
	wstats_begin(&s_pio, WSTATS_PIO_EXITS);
	wstats_begin(&s_mmio, WSTATS_MMIO_EXITS);
	bool have = wstats_begin(&s_exits, WSTATS_EXITS);
	uint64_t t0 = rdtsc();
	end = opt_ios ? ~0ull : t0 + opt_ms * (hz / 1000);
	for (;;) {
		uint64_t a = rdtsc();
		if (opt_ios ? n >= opt_ios : a >= end)
			break;
		if (one_io(k, n))
			return -1;
		uint64_t lat = rdtsc() - a;
		/* Reservoir sampling: a uniform sample of every I/O. */
		if (nsamples < MAX_SAMPLES) {
			samples[nsamples] = lat;
		} else {
			uint64_t j = ((uint64_t)next_rand() << 32 | next_rand()) % (nsamples + 1);
			if (j < MAX_SAMPLES)
				samples[j] = lat;
		}
		nsamples++;
		n++;
	}
	uint64_t elapsed = tsc_to_ns(rdtsc() - t0);
	wstats_end(&s_exits, &exits);
	wstats_end(&s_mmio, &mmio);
	wstats_end(&s_pio, &pio);
	if (!n)
		return failf("mode=%s: no I/O completed", row_name[k]);

	uint64_t m = nsamples < MAX_SAMPLES ? nsamples : MAX_SAMPLES;
	sort_u64(samples, m);
	char us[24], p50[24], p99[24], epi[24] = "n/a", mpi[24] = "n/a", ppi[24] = "n/a", inv[24], waits[24];
	fmt_tenths(us, sizeof(us), elapsed / n);
	fmt_tenths(p50, sizeof(p50), tsc_to_ns(samples[(m - 1) * 50 / 100]));
	fmt_tenths(p99, sizeof(p99), tsc_to_ns(samples[(m - 1) * 99 / 100]));
	if (have) {
		fmt_per_io(epi, sizeof(epi), exits, n);
		fmt_per_io(mpi, sizeof(mpi), mmio, n);
		fmt_per_io(ppi, sizeof(ppi), pio, n);
	}
	fmt_per_io(inv, sizeof(inv), (unit.stats.qi_iotlb - st0.qi_iotlb) + (unit.stats.reg_iotlb - st0.reg_iotlb), n);
	fmt_per_io(waits, sizeof(waits), unit.stats.qi_wait - st0.qi_wait, n);
	printf("viommu-bench: mode=%s ios=%lu us_per_io=%s p50_us=%s p99_us=%s exits_per_io=%s\n", row_name[k], n, us,
	       p50, p99, epi);
	char steps[96] = "";
	if (k == ROW_MAP_UNMAP) {
		char a[24], d[24], u[24];
		fmt_tenths(a, sizeof(a), tsc_to_ns(t_map) / n);
		fmt_tenths(d, sizeof(d), tsc_to_ns(t_dma) / n);
		fmt_tenths(u, sizeof(u), tsc_to_ns(t_unmap) / n);
		snprintf(steps, sizeof(steps), " map_us=%s dma_us=%s unmap_us=%s", a, d, u);
	}
	printf("viommu-bench info: mode=%s mmio_exits_per_io=%s pio_exits_per_io=%s iotlb_inv_per_io=%s "
	       "wait_descriptors_per_io=%s%s ms=%lu\n", row_name[k], mpi, ppi, inv, waits, steps, elapsed / 1000000);
	return 0;
}

/* ---- set-up ---- */

static long bench(void *arg)
{
	char b[8];
	int r;

	(void)arg;
	if (vtd_dmar_parse(&dmar))
		return failf("no DMAR table: no guest-visible VT-d unit (warden run --viommu, or QEMU -device "
			     "intel-iommu)");
	if ((r = vtd_open(&unit, &dmar)))
		return failf("vtd_open: %s: %s", vtd_err_name(r), unit.err);
	if (!vtd_dmar_covers(&dmar, dev.bdf))
		return failf("the DRHD does not cover edu");
	if (opt_reg == false && !unit.qi_cap)
		return failf("inv=queued: the unit has no queued invalidation (ECAP.QI = 0)");
	r = vtd_domain_init(&unit, &dom, DID, 0);
	r = r ? r : vtd_context_set(&unit, dev.bdf, &dom, VTD_TT_TRANSLATE);
	r = r ? r : vtd_set_root_table(&unit);
	if (!r && !opt_reg)
		r = vtd_qi_enable(&unit);
	/* edu's buffer holds the pattern every DMA copies out. */
	r = r ? r : vtd_map(&dom, IOVA_SRC, src, PAGE, VTD_R);
	r = r ? r : vtd_map(&dom, IOVA_LONG, dst, PAGE, VTD_W);
	r = r ? r : vtd_set_translation(&unit, true);
	if (r)
		return failf("set-up: %s: %s", vtd_err_name(r), unit.err);
	for (uint32_t i = 0; i < PAGE / 4; i++)
		((uint32_t *)src)[i] = PATTERN + i;
	if ((r = edu_dma_to_device(&dev, IOVA_SRC, 0, len)))
		return failf("loading edu's buffer through IOVA 0x%lx: %s", IOVA_SRC, edu_err_name(r));

	snprintf(b, sizeof(b), "%02x:%02x.%x", dev.bdf >> 8, dev.bdf >> 3 & 31, dev.bdf & 7);
	printf("viommu-bench info: unit at 0x%lx (VER %u.%u), CM %u, %s invalidation, PSI %s, %u-level domain; edu %s "
	       "(%s), %u bytes per DMA to RAM, GPA 0x%lx; tsc %lu kHz (%s); %s per row\n",
	       unit.base, unit.ver >> 4 & 0xf, unit.ver & 0xf, unit.cm, unit.qi ? "queued" : "register-based",
	       unit.psi ? "yes" : "no", dom.levels, b, dev.ext ? "Warden's" : "QEMU's", len, dst, tsc_hz() / 1000,
	       tsc_hz_source(), opt_ios ? "fixed I/O count" : "fixed time");
	printf("viommu-bench: caching-mode=%u\n", unit.cm);

	unsigned rows = 0;
	if (run_row(ROW_MAP_UNMAP) || run_row(ROW_LONG_LIVED))
		return -1;
	rows += 2;
	if ((r = vtd_set_translation(&unit, false))) {
		printf("viommu-bench info: mode=te-off skipped: translation could not be turned off: %s: %s\n",
		       vtd_err_name(r), unit.err);
	} else {
		if (run_row(ROW_TE_OFF))
			return -1;
		rows++;
	}
	if ((r = vtd_close(&unit)))
		return failf("teardown: %s: %s", vtd_err_name(r), unit.err);
	printf("viommu-bench done: %u rows\n", rows);
	return 0;
}

int main(void)
{
	char arg[32];
	int r;

	if (rt_cmdline_get("secs", arg, sizeof(arg)) >= 0 && (!parse_secs_ms(arg, &opt_ms) || !opt_ms)) {
		failf("secs=%s: not a positive number of seconds", arg);
		return 1;
	}
	if (rt_cmdline_u64("ios", &opt_ios) && !opt_ios) {
		failf("ios=0");
		return 1;
	}
	if (rt_cmdline_get("inv", arg, sizeof(arg)) >= 0) {
		if (!strcmp(arg, "register"))
			opt_reg = true;
		else if (strcmp(arg, "queued")) {
			failf("inv=%s: not queued or register", arg);
			return 1;
		}
	}
	if ((r = edu_open(&dev, -1))) {
		failf("no usable edu device (1234:11e8): %s", edu_err_name(r));
		return 1;
	}
	len = dev.buf_usable < PAGE ? dev.buf_usable : (uint32_t)PAGE;
	dst = rt_alloc(PAGE, PAGE);
	src = rt_alloc(PAGE, PAGE);
	samples = (uint64_t *)rt_alloc(MAX_SAMPLES * sizeof(uint64_t), PAGE);
	if (!dst || !src || !samples || src + PAGE > (1ul << 28)) {
		failf("no buffers below 256 MiB");
		return 1;
	}
	return run_in_ring3(bench, NULL) ? 1 : 0;
}
