/* Block-device benchmark shared by nvme-bench and virtio-bench. See
 * blkbench.h. The loop keeps qd requests in flight, reaps completions in
 * batches (one kick per batch of resubmissions) and samples every
 * request's latency (reservoir sampling beyond MAX_SAMPLES). */
#include "blkbench.h"
#include "vtd.h"

#define MAX_SAMPLES 65536u
/* viommu=1: slot i's buffer is mapped at IOVA_BASE + i * MAX_BYTES, far
 * above any RAM the identity part of the domain maps (and inside a 39-bit
 * domain), so a device can reach the buffers only through the per-I/O
 * mappings. */
#define IOVA_BASE   (1ull << 36)
#define VIOMMU_DID  1

struct workload {
	const char *name;
	bool write;
	bool random;
	uint32_t bytes;
	unsigned qd;
};

static const struct workload workloads[] = {
	{ "rr4k", false, true, 4096, 1 },
	{ "rr4k", false, true, 4096, 32 },
	{ "rw4k", true, true, 4096, 1 },
	{ "rw4k", true, true, 4096, 32 },
	{ "sr64k", false, false, 65536, 8 },
};

static uint64_t bufs;                   /* BLKBENCH_MAX_QD buffers of BLKBENCH_MAX_BYTES */
static uint64_t *samples;               /* MAX_SAMPLES, rt_alloc'd: not in every image's .bss */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* viommu=1 state, rt_alloc'd for the same reason as samples. */
struct bb_iommu {
	struct vtd_dmar dmar;
	struct vtd_unit u;
	struct vtd_domain dom;
	unsigned ndev;
	uint64_t maps, unmaps;
};
static struct bb_iommu *mmu;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* "12.3": tenths of a microsecond, rounded. */
static void fmt_us(char *buf, size_t len, uint64_t ticks)
{
	uint64_t tenths = (tsc_to_ns(ticks) + 50) / 100;

	snprintf(buf, len, "%lu.%lu", tenths / 10, tenths % 10);
}

struct run_state {
	uint64_t next_lba, lba_span;    /* in units of the transfer */
	uint32_t nblocks;
	uint64_t submitted, completed, nsamples;
	uint64_t t_submit[BLKBENCH_MAX_QD];
};

/* The address the device is given for slot's buffer: its GPA, or with
 * viommu=1 a fresh mapping of it (the device reads the buffer of a write
 * and writes the buffer of a read, nothing else). */
static int map_slot(const struct blkbench_dev *b, const struct workload *w, unsigned slot, uint64_t *addr)
{
	uint64_t gpa = bufs + (uint64_t)slot * BLKBENCH_MAX_BYTES;

	if (!mmu) {
		*addr = gpa;
		return 0;
	}
	uint64_t iova = IOVA_BASE + (uint64_t)slot * BLKBENCH_MAX_BYTES;
	int r = vtd_map(&mmu->dom, iova, gpa, w->bytes, w->write ? VTD_R : VTD_W);
	if (r) {
		printf("%s: %s qd=%u: viommu map of slot %u: %s: %s\n", b->prog, w->name, w->qd, slot,
		       vtd_err_name(r), mmu->u.err);
		return -1;
	}
	mmu->maps++;
	*addr = iova;
	return 0;
}

static int unmap_slot(const struct blkbench_dev *b, const struct workload *w, unsigned slot)
{
	if (!mmu)
		return 0;
	int r = vtd_unmap(&mmu->dom, IOVA_BASE + (uint64_t)slot * BLKBENCH_MAX_BYTES, w->bytes, VTD_UNMAP_STRICT);
	if (r) {
		printf("%s: %s qd=%u: viommu unmap of slot %u: %s: %s\n", b->prog, w->name, w->qd, slot,
		       vtd_err_name(r), mmu->u.err);
		return -1;
	}
	mmu->unmaps++;
	return 0;
}

/* < 0: a driver error (b->err_name), -1000: a viommu map failure (reported). */
#define SUBMIT_MAP_FAILED (-1000)

static int submit_one(const struct blkbench_dev *b, const struct workload *w, struct run_state *s, unsigned slot)
{
	uint64_t unit = w->random ? xorshift() % s->lba_span : s->next_lba++ % s->lba_span, addr;

	/* The latency includes the map and (at completion) the unmap, as an
	 * application behind a strict IOMMU sees them. */
	s->t_submit[slot] = rdtsc();
	if (map_slot(b, w, slot, &addr))
		return SUBMIT_MAP_FAILED;
	int r = b->submit(b->dev, w->write, unit * s->nblocks, s->nblocks, addr, w->bytes, slot);
	if (r >= 0)
		s->submitted++;
	return r;
}

static void record(struct run_state *s, uint64_t lat)
{
	if (s->nsamples < MAX_SAMPLES) {
		samples[s->nsamples++] = lat;
		return;
	}
	/* Reservoir sampling keeps the array a uniform sample of all I/Os. */
	uint64_t j = xorshift() % (s->completed + 1);
	if (j < MAX_SAMPLES)
		samples[j] = lat;
	s->nsamples++;
}

static int run(const struct blkbench_dev *b, const struct blkbench_opts *o, const struct workload *w)
{
	struct run_state s;
	unsigned qd = w->qd < b->max_qd ? w->qd : b->max_qd;
	struct blkbench_done done[BLKBENCH_MAX_QD];
	struct wstats_span span;
	char st[48];

	memset(&s, 0, sizeof(s));
	s.nblocks = w->bytes / b->block_size;
	s.lba_span = b->nblocks / s.nblocks;
	s.next_lba = 0;

	uint64_t hz = tsc_hz();
	if (o->marks)
		printf("%s mark: begin %s qd=%u\n", b->prog, w->name, qd);
	bool stats = wstats_begin(&span, WSTATS_EXITS);
	uint64_t t0 = rdtsc(), end = o->ios ? ~0ull : t0 + o->ms * (hz / 1000), last_progress = t0;
	bool stop = false;

	/* The line names the workload's depth; with fewer I/Os than that, only
	 * that many are ever in flight. */
	unsigned prime = o->ios && o->ios < qd ? (unsigned)o->ios : qd;
	for (unsigned i = 0; i < prime; i++) {
		int r = submit_one(b, w, &s, i);
		if (r == SUBMIT_MAP_FAILED)
			return -1;
		if (r < 0) {
			printf("%s: %s qd=%u: submit failed: %s\n", b->prog, w->name, w->qd, b->err_name(r));
			return -1;
		}
	}
	b->kick(b->dev);
	while (b->inflight(b->dev)) {
		int n = o->irq ? b->wait(b->dev, done, BLKBENCH_MAX_QD, BLKBENCH_STALL_US)
			       : b->reap(b->dev, done, BLKBENCH_MAX_QD);
		uint64_t now = rdtsc();
		if (n < 0) {
			b->state(b->dev, st, sizeof(st));
			printf("%s: %s qd=%u: %s after %lu I/Os (%s)\n", b->prog, w->name, w->qd, b->err_name(n),
			       s.completed, st);
			return -1;
		}
		if (!n) {
			if (now - last_progress > BLKBENCH_STALL_US * (hz / 1000000)) {
				b->state(b->dev, st, sizeof(st));
				printf("%s: %s qd=%u: no completion for %llu ms after %lu I/Os (%s)\n", b->prog, w->name,
				       w->qd, BLKBENCH_STALL_US / 1000, s.completed, st);
				return -1;
			}
			cpu_relax();
			continue;
		}
		last_progress = now;
		if (now >= end)
			stop = true;
		for (int k = 0; k < n; k++) {
			unsigned slot = (unsigned)done[k].tag;
			if (done[k].status) {
				printf("%s: %s qd=%u: I/O failed with status 0x%x\n", b->prog, w->name, w->qd,
				       done[k].status);
				return -1;
			}
			if (unmap_slot(b, w, slot))
				return -1;
			record(&s, (mmu ? rdtsc() : now) - s.t_submit[slot]);
			s.completed++;
			if (o->ios && s.submitted >= o->ios)
				stop = true;
			if (!stop) {
				int r = submit_one(b, w, &s, slot);
				if (r == SUBMIT_MAP_FAILED)
					return -1;
				if (r < 0) {
					printf("%s: %s: resubmit failed: %s\n", b->prog, w->name, b->err_name(r));
					return -1;
				}
			}
		}
		b->kick(b->dev);
	}
	uint64_t elapsed = tsc_to_ns(rdtsc() - t0);
	uint64_t exits = 0;
	if (stats)
		wstats_end(&span, &exits);
	if (o->marks) {
		printf("~\n");
		udelay(2000);
	}

	uint64_t n = s.nsamples < MAX_SAMPLES ? s.nsamples : MAX_SAMPLES;
	sort_u64(samples, n);
	char p50[24] = "0.0", p99[24] = "0.0", ex[32] = "n/a", epi[32] = "n/a";
	if (n) {
		fmt_us(p50, sizeof(p50), samples[(n - 1) * 50 / 100]);
		fmt_us(p99, sizeof(p99), samples[(n - 1) * 99 / 100]);
	}
	if (stats) {
		uint64_t hundredths = s.completed ? (exits * 100 + s.completed / 2) / s.completed : 0;
		snprintf(ex, sizeof(ex), "%lu", exits);
		snprintf(epi, sizeof(epi), "%lu.%02lu", hundredths / 100, hundredths % 100);
	}
	uint64_t iops = elapsed ? s.completed * 1000000000ull / elapsed : 0;
	printf("%s: %s qd=%u ios=%lu iops=%lu p50_us=%s p99_us=%s exits=%s exits_per_io=%s\n", b->prog, w->name, qd,
	       s.completed, iops, p50, p99, ex, epi);
	return 0;
}

/* Identity-maps [start, end) rounded inward to pages, except the data
 * buffers. */
static int map_identity(uint64_t start, uint64_t end)
{
	uint64_t hole = bufs, hole_end = bufs + (uint64_t)BLKBENCH_MAX_QD * BLKBENCH_MAX_BYTES;
	int r = 0;

	start = (start + VTD_PAGE_SIZE - 1) & ~(VTD_PAGE_SIZE - 1);
	end &= ~(VTD_PAGE_SIZE - 1);
	if (start < hole && end > start)
		r = vtd_map(&mmu->dom, start, start, (end < hole ? end : hole) - start, VTD_R | VTD_W);
	if (!r && end > hole_end && end > start) {
		uint64_t from = start > hole_end ? start : hole_end;
		r = vtd_map(&mmu->dom, from, from, end - from, VTD_R | VTD_W);
	}
	return r;
}

/* Puts every mass-storage function on bus 0 behind the guest IOMMU (see
 * blkbench.h). One domain for all: the benchmark drives one device, and
 * any other disk must keep reaching the driver memory it was given. */
static int viommu_setup(const char *prog, bool reg_inv)
{
	const struct rt_mem_region *m;
	int r;

	mmu = (struct bb_iommu *)rt_alloc(sizeof(*mmu), 4096);
	if (!mmu) {
		printf("%s: FAIL: viommu: out of memory\n", prog);
		return -1;
	}
	memset(mmu, 0, sizeof(*mmu));
	if (vtd_dmar_parse(&mmu->dmar)) {
		printf("%s: viommu unavailable: no ACPI DMAR table (the VMM offers no VT-d unit)\n", prog);
		mmu = NULL;
		return -1;
	}
	r = vtd_open(&mmu->u, &mmu->dmar);
	r = r ? r : vtd_domain_init(&mmu->u, &mmu->dom, VIOMMU_DID, 0);
	unsigned n = rt_memmap(&m);
	for (unsigned i = 0; !r && i < n; i++)
		if (m[i].type == RT_MEM_RAM)
			r = map_identity(m[i].addr, m[i].addr + m[i].size);
	for (unsigned dev = 0; !r && dev < 32; dev++)
		for (unsigned fn = 0; !r && fn < 8; fn++) {
			uint16_t bdf = RT_PCI_BDF(0, dev, fn);
			if (pci_read16(bdf, 0) == 0xffff || pci_read32(bdf, 8) >> 24 != 0x01)
				continue;
			if (!vtd_dmar_covers(&mmu->dmar, bdf)) {
				printf("%s: viommu unavailable: the DRHD does not cover %02x:%02x.%x\n", prog, 0, dev,
				       fn);
				mmu = NULL;
				return -1;
			}
			r = vtd_context_set(&mmu->u, bdf, &mmu->dom, VTD_TT_TRANSLATE);
			mmu->ndev++;
		}
	r = r ? r : vtd_set_root_table(&mmu->u);
	if (!r && !reg_inv && mmu->u.qi_cap)
		r = vtd_qi_enable(&mmu->u);
	r = r ? r : vtd_set_translation(&mmu->u, true);
	if (r) {
		printf("%s: FAIL: viommu setup: %s: %s\n", prog, vtd_err_name(r), mmu->u.err);
		mmu = NULL;
		return -1;
	}
	printf("%s info: viommu: unit at 0x%lx, CM %u, %s invalidation, %u-level domain over %u device%s, "
	       "driver memory at IOVA = GPA, buffers mapped per I/O at 0x%llx (strict unmap)\n",
	       prog, mmu->u.base, mmu->u.cm, mmu->u.qi ? "queued" : "register-based", mmu->dom.levels, mmu->ndev,
	       mmu->ndev == 1 ? "" : "s", IOVA_BASE);
	return 0;
}

static void viommu_report(const char *prog)
{
	const struct vtd_inv_stats *st = &mmu->u.stats;

	printf("%s info: viommu: %lu maps, %lu strict unmaps; invalidations: %u IOTLB + %u context by register, "
	       "%u IOTLB + %u context + %u waits queued\n",
	       prog, mmu->maps, mmu->unmaps, st->reg_iotlb, st->reg_context, st->qi_iotlb, st->qi_context,
	       st->qi_wait);
}

int blkbench_run_all(const struct blkbench_dev *b, const struct blkbench_opts *o)
{
	unsigned ran = 0;

	if (!bufs || !samples) {
		printf("%s: FAIL: blkbench_alloc() not called or out of memory\n", b->prog);
		return 1;
	}
	if (o->viommu && !mmu && viommu_setup(b->prog, o->viommu_reg))
		return 1;
	for (unsigned i = 0; i < RT_ARRAY_SIZE(workloads); i++) {
		const struct workload *w = &workloads[i];
		if (o->only[0] && strcmp(o->only, w->name))
			continue;
		if (w->bytes < b->block_size || (b->max_xfer && w->bytes > b->max_xfer) ||
		    b->nblocks < 2ull * (w->bytes / b->block_size)) {
			printf("%s: %s qd=%u: skipped (disk or %s too small)\n", b->prog, w->name, w->qd, b->limit_name);
			continue;
		}
		if (run(b, o, w))
			return 1;
		ran++;
	}
	if (!ran) {
		printf("%s: FAIL: no workload ran\n", b->prog);
		return 1;
	}
	if (mmu)
		viommu_report(b->prog);
	printf("%s done: %u workloads\n", b->prog, ran);
	return 0;
}

void blkbench_limit(const struct blkbench_opts *o, char *buf, size_t len)
{
	if (o->ios)
		snprintf(buf, len, "%lu I/Os", o->ios);
	else
		snprintf(buf, len, "%lu ms", o->ms);
}

int blkbench_alloc(void)
{
	if (!bufs)
		bufs = rt_alloc((uint64_t)BLKBENCH_MAX_QD * BLKBENCH_MAX_BYTES, 4096);
	if (!samples)
		samples = (uint64_t *)rt_alloc(MAX_SAMPLES * sizeof(uint64_t), 4096);
	return bufs && samples ? 0 : -1;
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

int blkbench_parse(const char *prog, struct blkbench_opts *o)
{
	uint64_t v;
	char arg[32];

	memset(o, 0, sizeof(*o));
	o->ms = 1000;
	if (rt_cmdline_get("secs", arg, sizeof(arg)) >= 0 && !parse_secs_ms(arg, &o->ms)) {
		printf("%s: FAIL: secs=%s: not a number of seconds\n", prog, arg);
		return -1;
	}
	if (rt_cmdline_u64("ms", &v))
		o->ms = v;
	if (rt_cmdline_u64("ios", &v))
		o->ios = v;
	if (rt_cmdline_u64("seed", &v) && v)
		rng = v;
	o->irq = rt_cmdline_u64("irq", &v) && v;
	o->marks = rt_cmdline_u64("marks", &v) && v;
	o->viommu = rt_cmdline_u64("viommu", &v) && v;
	if (rt_cmdline_get("viommu_inv", arg, sizeof(arg)) >= 0) {
		if (!strcmp(arg, "reg"))
			o->viommu_reg = true;
		else if (strcmp(arg, "qi")) {
			printf("%s: FAIL: viommu_inv=%s: not qi or reg\n", prog, arg);
			return -1;
		}
	}
	if (rt_cmdline_get("only", o->only, sizeof(o->only)) < 0)
		o->only[0] = '\0';
	return 0;
}
