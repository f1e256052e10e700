/* Hostile-guest attack programs' common parts; see hostile.h. */
#include "hostile.h"

#define FOUR_GIB 0x100000000ull

volatile uint64_t hostile_stray_msis;
unsigned hostile_cases, hostile_not_blocked;

static struct {
	uint64_t addr, len;
} canaries[HOSTILE_MAX_CANARIES];
static unsigned ncanaries;
static uint64_t excl_lo, excl_hi;       /* RAM the current case's request may write */

static void stray_msi(unsigned vector)
{
	(void)vector;
	hostile_stray_msis++;
}

long hostile_run(const char *prog, long (*body)(void *), void *arg)
{
	/* Stray MSIs (a DMA write reaching 0xfee00000) land on a counter. */
	RT_ASSERT(irq_register(HOSTILE_VEC_STRAY, stray_msi) == 0);
	lapic_enable();
	irq_enable();
	uint64_t t0 = rdtsc();
	long r = run_in_ring3(body, arg);
	printf("%s: %lu ms\n", prog, tsc_to_ns(rdtsc() - t0) / 1000000);
	return r;
}

int hostile_summary(const char *prog)
{
	if (hostile_not_blocked) {
		printf("%s: %u of %u cases NOT BLOCKED\n", prog, hostile_not_blocked, hostile_cases);
		return 1;
	}
	printf("%s: all blocked\n", prog);
	return 0;
}

/* ---- patterns ---- */

uint32_t hostile_sig_word(uint64_t seed, uint64_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ull);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	return (uint32_t)(x << 16) | HOSTILE_VEC_STRAY;
}

void hostile_fill_sig(uint64_t buf, uint64_t seed, uint64_t len)
{
	for (uint64_t i = 0; i < len / 4; i++)
		((uint32_t *)buf)[i] = hostile_sig_word(seed, i);
}

void hostile_fill_good(uint64_t buf, uint64_t len)
{
	for (uint32_t i = 0; i < len / 4; i++)
		((uint32_t *)buf)[i] = 0x600d0000u + i;
}

bool hostile_good_ok(uint64_t buf, uint64_t len)
{
	for (uint32_t i = 0; i < len / 4; i++)
		if (((uint32_t *)buf)[i] != 0x600d0000u + i)
			return false;
	return true;
}

/* ---- canaries ---- */

void hostile_canary_add(uint64_t addr, uint64_t len)
{
	RT_ASSERT(ncanaries < HOSTILE_MAX_CANARIES);
	canaries[ncanaries].addr = addr;
	canaries[ncanaries].len = len;
	ncanaries++;
}

static void fill_canary(uint64_t a, uint64_t len)
{
	for (uint64_t i = 0; i < len / 4; i++)
		((volatile uint32_t *)a)[i] = HOSTILE_CANARY ^ (uint32_t)(a / 4 + i);
}

/* Address of the first changed canary word outside [excl_lo, excl_hi), 0
 * if intact. */
static uint64_t check_canary(uint64_t a, uint64_t len)
{
	for (uint64_t i = 0; i < len / 4; i++) {
		uint64_t at = a + 4 * i;
		if (at >= excl_lo && at < excl_hi)
			continue;
		if (((volatile uint32_t *)a)[i] != (HOSTILE_CANARY ^ (uint32_t)(a / 4 + i)))
			return at;
	}
	return 0;
}

void hostile_canaries_arm(void)
{
	for (unsigned i = 0; i < ncanaries; i++)
		fill_canary(canaries[i].addr, canaries[i].len);
	excl_lo = excl_hi = 0;
}

void hostile_canary_exclude(uint64_t lo, uint64_t hi)
{
	excl_lo = lo;
	excl_hi = hi;
}

const char *hostile_canaries_changed(char *buf, size_t len)
{
	uint64_t a = 0;

	for (unsigned i = 0; i < ncanaries && !a; i++)
		a = check_canary(canaries[i].addr, canaries[i].len);
	if (!a)
		return "";
	snprintf(buf, len, "; RAM at 0x%lx CHANGED", a);
	return buf;
}

uint64_t hostile_ram_top(void)
{
	const struct rt_mem_region *m;
	unsigned nr = rt_memmap(&m);
	uint64_t top = 0;

	for (unsigned i = 0; i < nr; i++)
		if (m[i].type == RT_MEM_RAM && m[i].addr + m[i].size > top)
			top = m[i].addr + m[i].size;
	top &= ~(uint64_t)(HOSTILE_PAGE - 1);
	if (top <= RT_MMIO_START && top >= HOSTILE_PAGE)
		hostile_canary_add(top - HOSTILE_PAGE, HOSTILE_PAGE);
	return top;
}

/* ---- stats ---- */

void hostile_snap(struct hostile_snap *s)
{
	s->iommu = wstats_present() ? wstats_query(WSTATS_IOMMU_FAULTS) : 0;
	s->guest_err = wstats_present() ? wstats_query(WSTATS_GUEST_ERRORS) : 0;
	s->msis = hostile_stray_msis;
}

void hostile_begin(struct hostile_snap *s)
{
	hostile_canaries_arm();
	hostile_snap(s);
}

const char *hostile_delta(const struct hostile_snap *s, char *buf, size_t len)
{
	struct hostile_snap now;

	if (!wstats_present())
		return "";
	hostile_snap(&now);
	snprintf(buf, len, "; iommu faults +%lu, guest errors +%lu", now.iommu - s->iommu,
		 now.guest_err - s->guest_err);
	return buf;
}

uint64_t hostile_strays(const struct hostile_snap *s)
{
	return hostile_stray_msis - s->msis;
}

/* ---- reporting ---- */

void hostile_report(const char *name, bool blocked, const char *fmt, ...)
{
	char what[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	hostile_cases++;
	if (!blocked)
		hostile_not_blocked++;
	printf("hostile: %s: %s (%s)\n", name, blocked ? "blocked" : "NOT BLOCKED", what);
}

void hostile_report_bme(const struct hostile_snap *s, bool submitted, const char *err, bool completed,
			unsigned cstatus, const char *what, const char *state, unsigned st, const char *changed,
			uint64_t strays, const char *rc)
{
	char seen[120], cnt[80];

	if (!submitted)
		snprintf(seen, sizeof(seen), "submit failed: %s", err);
	else if (completed)
		snprintf(seen, sizeof(seen), "%s COMPLETED with status 0x%x", what, cstatus);
	else
		snprintf(seen, sizeof(seen), "no completion in %llu ms", HOSTILE_BME_WAIT_US / 1000);
	bool blocked = submitted && !completed && !changed[0] && !strays;
	hostile_report("bus-master-disabled", blocked && !rc[0], "%s, %s 0x%x%s%s%s; %s", seen, state, st,
		       changed[0] ? changed : ", buffer unchanged", strays ? ", stray MSIs" : "",
		       hostile_delta(s, cnt, sizeof(cnt)), rc[0] ? rc : "BME back on, reset, I/O ok");
}

/* ---- RAM scan ---- */

/* The signature block must not be anywhere in guest RAM (below 4 GiB, the
 * part the runtime maps). */
void hostile_scan_ram(uint64_t seed)
{
	uint64_t v;

	if (rt_cmdline_u64("scan", &v) && v == 0) {
		printf("hostile: dma-landing-scan: skipped (scan=0)\n");
		return;
	}
	const struct rt_mem_region *m;
	unsigned n = rt_memmap(&m);
	uint64_t w0 = (uint64_t)hostile_sig_word(seed, 1) << 32 | hostile_sig_word(seed, 0);
	uint64_t w1 = (uint64_t)hostile_sig_word(seed, 3) << 32 | hostile_sig_word(seed, 2);
	uint64_t bytes = 0, found = 0, where = 0, t0 = rdtsc();

	for (unsigned i = 0; i < n; i++) {
		if (m[i].type != RT_MEM_RAM)
			continue;
		uint64_t a = (m[i].addr + 7) & ~7ull, end = m[i].addr + m[i].size;
		if (end > FOUR_GIB)
			end = FOUR_GIB;
		if (a < 0x1000)
			a = 0x1000;             /* keep clear of address 0 */
		if (end > a)
			bytes += end - a;
		for (; a + 16 <= end; a += 8)
			if (*(volatile uint64_t *)a == w0 && *(volatile uint64_t *)(a + 8) == w1 && !found++)
				where = a;
	}
	hostile_report("dma-landing-scan", !found, "%s in %lu MiB of RAM, %lu ms",
		       found ? "signature block FOUND" : "signature block found nowhere", bytes >> 20,
		       tsc_to_ns(rdtsc() - t0) / 1000000);
	if (found)
		printf("hostile: signature found %lu times, first at 0x%lx\n", found, where);
}
