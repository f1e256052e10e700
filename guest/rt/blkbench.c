/* Block-device benchmark shared by nvme-bench and virtio-bench. See
 * blkbench.h. The loop keeps qd requests in flight, reaps completions in
 * batches (one kick per batch of resubmissions) and samples every
 * request's latency (reservoir sampling beyond MAX_SAMPLES). */
#include "blkbench.h"

#define MAX_SAMPLES 65536u

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
	uint64_t t_submit[BLKBENCH_MAX_QD];
};

static int submit_one(const struct blkbench_dev *b, const struct workload *w, struct run_state *s, unsigned slot)
{
	uint64_t unit = w->random ? xorshift() % s->lba_span : s->next_lba++ % s->lba_span;

	s->t_submit[slot] = rdtsc();
	int r = b->submit(b->dev, w->write, unit * s->nblocks, s->nblocks, bufs + (uint64_t)slot * BLKBENCH_MAX_BYTES,
			  w->bytes, slot);
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
	bool stats = wstats_begin(&span, WSTATS_EXITS);
	uint64_t t0 = rdtsc(), end = o->ios ? ~0ull : t0 + o->ms * (hz / 1000), last_progress = t0;
	bool stop = false;

	/* The line names the workload's depth; with fewer I/Os than that, only
	 * that many are ever in flight. */
	unsigned prime = o->ios && o->ios < qd ? (unsigned)o->ios : qd;
	for (unsigned i = 0; i < prime; i++) {
		int r = submit_one(b, w, &s, i);
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
			record(&s, now - s.t_submit[slot]);
			s.completed++;
			if (o->ios && s.submitted >= o->ios)
				stop = true;
			if (!stop && submit_one(b, w, &s, slot) < 0) {
				printf("%s: %s: resubmit failed\n", b->prog, w->name);
				return -1;
			}
		}
		b->kick(b->dev);
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
	printf("%s: %s qd=%u ios=%lu iops=%lu p50_us=%s p99_us=%s exits=%s exits_per_io=%s\n", b->prog, w->name, qd,
	       s.completed, iops, p50, p99, ex, epi);
	return 0;
}

int blkbench_run_all(const struct blkbench_dev *b, const struct blkbench_opts *o)
{
	unsigned ran = 0;

	if (!bufs || !samples) {
		printf("%s: FAIL: blkbench_alloc() not called or out of memory\n", b->prog);
		return 1;
	}
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
	if (rt_cmdline_get("only", o->only, sizeof(o->only)) < 0)
		o->only[0] = '\0';
	return 0;
}
