/* NVMe benchmark in ring 3 on the first NVMe controller of bus 0: 4 KiB
 * random reads and writes at QD1 and QD32, 64 KiB sequential reads at QD8.
 * One line per workload:
 *   nvme-bench: rr4k qd=1 ios=N iops=N p50_us=X.Y p99_us=X.Y exits=N exits_per_io=X.YY
 * (exits=n/a exits_per_io=n/a without Warden's stats port). Only these
 * lines and failures ("nvme-bench: FAIL ...", "nvme-bench: NAME qd=N: ...")
 * start with "nvme-bench: "; the set-up line is "nvme-bench info: ...", the
 * last "nvme-bench done: N workloads".
 * Command line: secs=S (decimals allowed: secs=0.2) or ms=M (per workload,
 * default 1 s) or ios=N (per workload),
 * irq=1 (complete by MSI-X instead of polling), seed=N (random LBAs),
 * only=NAME (one workload name). Random writes overwrite the disk. */
#include "rt.h"
#include "nvme.h"

#define VEC_NVME     0x60
#define MAX_QD       32
#define MAX_BYTES    (64u * 1024)
#define MAX_SAMPLES  65536u
#define STALL_US     5000000ull

struct workload {
	const char *name;
	uint8_t opc;
	bool random;
	uint32_t bytes;
	unsigned qd;
};

static const struct workload workloads[] = {
	{ "rr4k", NVME_CMD_READ, true, 4096, 1 },
	{ "rr4k", NVME_CMD_READ, true, 4096, 32 },
	{ "rw4k", NVME_CMD_WRITE, true, 4096, 1 },
	{ "rw4k", NVME_CMD_WRITE, true, 4096, 32 },
	{ "sr64k", NVME_CMD_READ, false, 65536, 8 },
};

static struct nvme_ctrl ctrl;
static uint64_t bufs;                   /* MAX_QD buffers of MAX_BYTES */
static uint64_t samples[MAX_SAMPLES];
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t opt_ms = 1000, opt_ios;
static bool opt_irq;
static char opt_only[16];

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void sift_down(uint64_t *a, size_t start, size_t n)
{
	size_t root = start;

	while (2 * root + 1 < n) {
		size_t child = 2 * root + 1;
		if (child + 1 < n && a[child] < a[child + 1])
			child++;
		if (a[root] >= a[child])
			return;
		uint64_t t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

static void heapsort(uint64_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (size_t end = n; end-- > 1;) {
		uint64_t t = a[0];
		a[0] = a[end];
		a[end] = t;
		sift_down(a, 0, end);
	}
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
	uint64_t t_submit[MAX_QD];
};

static int submit_one(const struct workload *w, struct run_state *s, unsigned slot)
{
	struct nvme_sqe cmd;
	uint64_t unit = w->random ? xorshift() % s->lba_span : s->next_lba++ % s->lba_span;

	nvme_prep_rw(&cmd, w->opc, unit * s->nblocks, s->nblocks);
	s->t_submit[slot] = rdtsc();
	int r = nvme_submit(&ctrl.io, &cmd, bufs + (uint64_t)slot * MAX_BYTES, w->bytes, slot);
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

static long run(void *arg)
{
	const struct workload *w = arg;
	struct nvme_queue *q = &ctrl.io;
	struct run_state s;
	unsigned qd = w->qd < q->nslots ? w->qd : q->nslots;
	struct nvme_done done[MAX_QD];
	struct wstats_span span;

	memset(&s, 0, sizeof(s));
	s.nblocks = w->bytes >> ctrl.lba_shift;
	s.lba_span = ctrl.nsze / s.nblocks;
	s.next_lba = 0;

	uint64_t hz = tsc_hz();
	bool stats = wstats_begin(&span, WSTATS_EXITS);
	uint64_t t0 = rdtsc(), end = opt_ios ? ~0ull : t0 + opt_ms * (hz / 1000), last_progress = t0;
	bool stop = false;

	/* The line names the workload's depth; with fewer I/Os than that, only
	 * that many are ever in flight. */
	unsigned prime = opt_ios && opt_ios < qd ? (unsigned)opt_ios : qd;
	for (unsigned i = 0; i < prime; i++) {
		int r = submit_one(w, &s, i);
		if (r < 0) {
			printf("nvme-bench: %s qd=%u: submit failed: %s\n", w->name, w->qd, nvme_err_name(r));
			return -1;
		}
	}
	nvme_ring(q);
	while (q->inflight) {
		int n = opt_irq ? nvme_wait(q, done, MAX_QD, STALL_US) : nvme_reap(q, done, MAX_QD);
		uint64_t now = rdtsc();
		if (n < 0) {
			printf("nvme-bench: %s qd=%u: %s after %lu I/Os (CSTS 0x%x)\n", w->name, w->qd, nvme_err_name(n),
			       s.completed, nvme_csts(&ctrl));
			return -1;
		}
		if (!n) {
			if (now - last_progress > STALL_US * (hz / 1000000)) {
				printf("nvme-bench: %s qd=%u: no completion for %llu ms after %lu I/Os (CSTS 0x%x)\n",
				       w->name, w->qd, STALL_US / 1000, s.completed, nvme_csts(&ctrl));
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
				printf("nvme-bench: %s qd=%u: I/O failed with status 0x%x\n", w->name, w->qd,
				       done[k].status);
				return -1;
			}
			record(&s, now - s.t_submit[slot]);
			s.completed++;
			if (opt_ios && s.submitted >= opt_ios)
				stop = true;
			if (!stop && submit_one(w, &s, slot) < 0) {
				printf("nvme-bench: %s: resubmit failed\n", w->name);
				return -1;
			}
		}
		nvme_ring(q);
	}
	uint64_t elapsed = tsc_to_ns(rdtsc() - t0);
	uint64_t exits = 0;
	if (stats)
		wstats_end(&span, &exits);

	uint64_t n = s.nsamples < MAX_SAMPLES ? s.nsamples : MAX_SAMPLES;
	heapsort(samples, n);
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
	printf("nvme-bench: %s qd=%u ios=%lu iops=%lu p50_us=%s p99_us=%s exits=%s exits_per_io=%s\n", w->name, qd,
	       s.completed, iops, p50, p99, ex, epi);
	return 0;
}

static long body(void *arg)
{
	(void)arg;
	struct nvme_opts o = { .bdf = -1, .io_depth = MAX_QD, .irq = opt_irq };
	int r = nvme_open(&ctrl, &o);

	if (r) {
		printf("nvme-bench: FAIL: open: %s: %s\n", nvme_err_name(r), ctrl.err);
		return 1;
	}
	char limit[40];
	if (opt_ios)
		snprintf(limit, sizeof(limit), "%lu I/Os", opt_ios);
	else
		snprintf(limit, sizeof(limit), "%lu ms", opt_ms);
	printf("nvme-bench info: '%s' %lu MiB, %u B blocks, I/O queue %u entries, %s, %s per workload, stats port %s\n",
	       ctrl.mn, (ctrl.nsze << ctrl.lba_shift) >> 20, ctrl.lba_size, ctrl.io.size,
	       opt_irq ? "MSI-X completion" : "polled completion", limit, wstats_present() ? "present" : "absent");
	unsigned ran = 0;
	for (unsigned i = 0; i < RT_ARRAY_SIZE(workloads); i++) {
		const struct workload *w = &workloads[i];
		if (opt_only[0] && strcmp(opt_only, w->name))
			continue;
		if (w->bytes < ctrl.lba_size || (ctrl.mdts_bytes && w->bytes > ctrl.mdts_bytes) ||
		    ctrl.nsze < 2ull * (w->bytes >> ctrl.lba_shift)) {
			printf("nvme-bench: %s qd=%u: skipped (disk or MDTS too small)\n", w->name, w->qd);
			continue;
		}
		if (run((void *)w))
			return 1;
		ran++;
	}
	if (!ran) {
		printf("nvme-bench: FAIL: no workload ran\n");
		return 1;
	}
	printf("nvme-bench done: %u workloads\n", ran);
	return 0;
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

int main(void)
{
	uint64_t v;
	char arg[32];

	if (rt_cmdline_get("secs", arg, sizeof(arg)) >= 0 && !parse_secs_ms(arg, &opt_ms)) {
		printf("nvme-bench: FAIL: secs=%s: not a number of seconds\n", arg);
		return 1;
	}
	if (rt_cmdline_u64("ms", &v))
		opt_ms = v;
	if (rt_cmdline_u64("ios", &v))
		opt_ios = v;
	if (rt_cmdline_u64("seed", &v) && v)
		rng = v;
	opt_irq = rt_cmdline_u64("irq", &v) && v;
	if (rt_cmdline_get("only", opt_only, sizeof(opt_only)) < 0)
		opt_only[0] = '\0';
	bufs = rt_alloc((uint64_t)MAX_QD * MAX_BYTES, NVME_PAGE_SIZE);
	RT_ASSERT(bufs);
	if (opt_irq && nvme_irq_init(VEC_NVME)) {
		printf("nvme-bench: FAIL: cannot register vector 0x%x\n", VEC_NVME);
		return 1;
	}
	return (int)run_in_ring3(body, NULL);
}
