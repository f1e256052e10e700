/* NVMe driver self-test against the first NVMe controller on bus 0:
 * identify, write-read-verify over LBAs spread across the disk (the last
 * one included) with transfers from one block to 128 KiB (PRP1 only,
 * PRP1+PRP2, PRP lists, offsets within a page), queue depth 32, flush,
 * Write Zeroes, exact status codes for invalid commands, and completion by
 * MSI-X (skipped with irq=0). Everything after the interrupt set-up runs in
 * ring 3. Prints "nvme-selftest: PASS" and exits 0 only if all passed.
 * The disk's contents are overwritten. */
#include "rt.h"
#include "nvme.h"

#define VEC_NVME   0x60
#define MAX_XFER   (128u * 1024)
#define BUF_BYTES  (MAX_XFER + 2 * NVME_PAGE_SIZE)
#define MAX_CASES  48
#define QD         32

static struct nvme_ctrl ctrl;
static unsigned failures, checks;
static uint64_t wbuf, rbuf, qdbuf;
static uint64_t generation = 0x5eed0001;

#define CHECK(cond, ...) do {                                   \
	checks++;                                               \
	if (!(cond)) {                                          \
		failures++;                                     \
		printf("nvme-selftest: FAIL: " __VA_ARGS__);    \
		printf("\n");                                   \
	}                                                       \
} while (0)

/* The 32-bit word i of block lba: depends on the LBA, so data written to
 * the wrong place is caught too. */
static uint32_t pattern(uint64_t lba, uint64_t i)
{
	uint64_t x = (lba * 0x9e3779b97f4a7c15ull) ^ (i * 0xbf58476d1ce4e5b9ull) ^ generation;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 29;
	return (uint32_t)x;
}

static void fill(uint64_t buf, uint64_t lba, uint32_t nblocks)
{
	uint32_t *w = (uint32_t *)buf;
	uint32_t per = ctrl.lba_size / 4;

	for (uint32_t b = 0; b < nblocks; b++)
		for (uint32_t i = 0; i < per; i++)
			w[b * per + i] = pattern(lba + b, i);
}

/* Index of the first wrong word, or -1. */
static long verify(uint64_t buf, uint64_t lba, uint32_t nblocks)
{
	const uint32_t *w = (const uint32_t *)buf;
	uint32_t per = ctrl.lba_size / 4;

	for (uint32_t b = 0; b < nblocks; b++)
		for (uint32_t i = 0; i < per; i++)
			if (w[b * per + i] != pattern(lba + b, i))
				return (long)(b * per + i);
	return -1;
}

static const char *prp_kind(uint64_t off, uint64_t len)
{
	uint64_t first = NVME_PAGE_SIZE - (off & (NVME_PAGE_SIZE - 1));

	if (len <= first)
		return "prp1";
	return len - first <= NVME_PAGE_SIZE ? "prp1+prp2" : "prp-list";
}

struct rw_case {
	uint64_t lba;
	uint32_t nblocks;
};
static struct rw_case cases[MAX_CASES];
static unsigned ncases;
static unsigned kinds[3];

/* Writes from wbuf+woff, reads back into rbuf+roff, compares. */
static bool rw_one(uint64_t lba, uint32_t nblocks, uint64_t woff, uint64_t roff)
{
	uint64_t len = (uint64_t)nblocks * ctrl.lba_size;
	const char *kw = prp_kind(woff, len), *kr = prp_kind(roff, len);
	int r;

	fill(wbuf + woff, lba, nblocks);
	memset((void *)(rbuf + roff), 0xa5, len);
	r = nvme_rw(&ctrl, NVME_CMD_WRITE, lba, nblocks, wbuf + woff);
	CHECK(r == 0, "write lba %lu x%u (%lu B, offset 0x%lx, %s): %s 0x%x", lba, nblocks, len, woff, kw,
	      nvme_err_name(r), r);
	if (r)
		return false;
	r = nvme_rw(&ctrl, NVME_CMD_READ, lba, nblocks, rbuf + roff);
	CHECK(r == 0, "read lba %lu x%u (%lu B, offset 0x%lx, %s): %s 0x%x", lba, nblocks, len, roff, kr,
	      nvme_err_name(r), r);
	if (r)
		return false;
	long bad = verify(rbuf + roff, lba, nblocks);
	CHECK(bad < 0, "data mismatch lba %lu x%u (%lu B, write offset 0x%lx %s, read offset 0x%lx %s) at word %ld",
	      lba, nblocks, len, woff, kw, roff, kr, bad);
	kinds[!strcmp(kw, "prp1") ? 0 : !strcmp(kw, "prp1+prp2") ? 1 : 2]++;
	kinds[!strcmp(kr, "prp1") ? 0 : !strcmp(kr, "prp1+prp2") ? 1 : 2]++;
	if (bad < 0 && ncases < MAX_CASES)
		cases[ncases++] = (struct rw_case){ lba, nblocks };
	return bad < 0;
}

static void test_rw(void)
{
	static const uint32_t sizes[] = { 512, 4096, 8192, 12288, 16384, 65536, 131072 };
	static const uint32_t offsets[] = { 0, 512, 0x104 };
	uint64_t max_xfer = ctrl.mdts_bytes && ctrl.mdts_bytes < MAX_XFER ? ctrl.mdts_bytes : MAX_XFER;
	unsigned n = 0, slots = RT_ARRAY_SIZE(sizes) * RT_ARRAY_SIZE(offsets) + 4;
	uint64_t stride = ctrl.nsze / slots;
	uint64_t t0 = rdtsc();
	uint64_t rng = 0x2545f4914f6cdd1dull;

	for (unsigned s = 0; s < RT_ARRAY_SIZE(sizes); s++) {
		if (sizes[s] % ctrl.lba_size || sizes[s] > max_xfer)
			continue;
		uint32_t nb = sizes[s] / ctrl.lba_size;
		for (unsigned o = 0; o < RT_ARRAY_SIZE(offsets); o++) {
			uint64_t lba = (++n) * stride;
			/* Read through a different in-page offset than written. */
			rw_one(lba, nb, offsets[o], offsets[(o + 1) % RT_ARRAY_SIZE(offsets)]);
		}
	}
	/* First LBA, the last 8 blocks of the disk (the last LBA included), a
	 * single last block, and a few random places. */
	rw_one(0, 8192 / ctrl.lba_size, 0, 0);
	rw_one(ctrl.nsze - 16, 8, 0, 512);
	rw_one(ctrl.nsze - 1, 1, 0x104, 0);
	for (unsigned i = 0; i < 4; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint32_t nb = 4096 / ctrl.lba_size ? 4096 / ctrl.lba_size : 1;
		uint64_t lba = (rng % ((ctrl.nsze - 17) / nb)) * nb;
		/* Keep clear of the regions above so the re-read stays exact. */
		bool clash = false;
		for (unsigned k = 0; k < ncases; k++)
			if (lba < cases[k].lba + cases[k].nblocks && cases[k].lba < lba + nb)
				clash = true;
		if (!clash)
			rw_one(lba, nb, 0, 0);
	}
	unsigned first_pass = ncases;
	/* Everything written must still be there (nothing landed elsewhere). */
	unsigned intact = 0;
	for (unsigned k = 0; k < ncases; k++) {
		struct rw_case *c = &cases[k];
		memset((void *)rbuf, 0x5a, (uint64_t)c->nblocks * ctrl.lba_size);
		int r = nvme_rw(&ctrl, NVME_CMD_READ, c->lba, c->nblocks, rbuf);
		long bad = r ? 0 : verify(rbuf, c->lba, c->nblocks);
		CHECK(r == 0 && bad < 0, "re-read lba %lu x%u: %s 0x%x, first bad word %ld", c->lba, c->nblocks,
		      nvme_err_name(r), r, bad);
		intact += r == 0 && bad < 0;
	}
	printf("nvme-selftest: rw: %u transfers of %u B..%lu KiB verified at LBAs 0..%lu (prp1 only %u, prp1+prp2 %u, "
	       "prp list %u), %u/%u regions intact on re-read, %lu ms\n",
	       first_pass, ctrl.lba_size, max_xfer / 1024, ctrl.nsze - 1, kinds[0], kinds[1], kinds[2], intact,
	       first_pass, tsc_to_ns(rdtsc() - t0) / 1000000);
}

/* QD commands in flight at once: writes, then reads, all verified. */
static void test_queue_depth(void)
{
	struct nvme_queue *q = &ctrl.io;
	unsigned qd = q->nslots < QD ? q->nslots : QD;
	uint32_t nb = 4096 / ctrl.lba_size ? 4096 / ctrl.lba_size : 1;
	uint64_t base = ctrl.nsze / 2 + 1024, bytes = (uint64_t)nb * ctrl.lba_size;
	struct nvme_done done[QD];
	unsigned max_inflight = 0;

	for (int pass = 0; pass < 2; pass++) {
		uint8_t opc = pass ? NVME_CMD_READ : NVME_CMD_WRITE;
		unsigned completed = 0, bad = 0;
		for (unsigned i = 0; i < qd; i++) {
			uint64_t buf = qdbuf + i * bytes;
			if (pass)
				memset((void *)buf, 0, bytes);
			else
				fill(buf, base + (uint64_t)i * nb * 3, nb);
			struct nvme_sqe cmd;
			nvme_prep_rw(&cmd, opc, base + (uint64_t)i * nb * 3, nb);
			int cid = nvme_submit(q, &cmd, buf, bytes, i);
			CHECK(cid >= 0, "QD%u: submit %u: %s", qd, i, nvme_err_name(cid));
		}
		if (q->inflight > max_inflight)
			max_inflight = q->inflight;
		nvme_ring(q);
		while (completed < qd) {
			int n = nvme_wait(q, done, QD, 5000000);
			if (n < 0) {
				CHECK(0, "QD%u %s: waiting: %s (%u/%u done)", qd, pass ? "read" : "write",
				      nvme_err_name(n), completed, qd);
				return;
			}
			for (int k = 0; k < n; k++) {
				unsigned i = (unsigned)done[k].tag;
				completed++;
				if (done[k].status) {
					bad++;
					continue;
				}
				if (pass && verify(qdbuf + i * bytes, base + (uint64_t)i * nb * 3, nb) >= 0)
					bad++;
			}
		}
		CHECK(bad == 0, "QD%u %s: %u of %u commands failed or read wrong data", qd, pass ? "read" : "write",
		      bad, qd);
	}
	CHECK(q->inflight == 0 && q->bogus == 0, "QD%u: %u still in flight, %lu bogus completions", qd, q->inflight,
	      q->bogus);
	printf("nvme-selftest: queue depth: %u writes then %u reads in flight at once (%u), verified\n", qd, qd,
	       max_inflight);
}

static void test_flush_zeroes(void)
{
	int r = nvme_flush(&ctrl);
	CHECK(r == 0, "flush: %s 0x%x", nvme_err_name(r), r);

	if (!(ctrl.oncs & (1u << 3))) {
		printf("nvme-selftest: write zeroes: not supported (ONCS 0x%x): FAIL\n", ctrl.oncs);
		failures++;
		return;
	}
	/* 16 blocks zeroed between two written neighbours. */
	uint64_t lba = ctrl.nsze / 3 + 77;
	uint32_t nb = 16;
	fill(wbuf, lba - 1, nb + 2);
	r = nvme_rw(&ctrl, NVME_CMD_WRITE, lba - 1, nb + 2, wbuf);
	CHECK(r == 0, "write zeroes: preparing write: %s 0x%x", nvme_err_name(r), r);
	r = nvme_write_zeroes(&ctrl, lba, nb);
	CHECK(r == 0, "write zeroes lba %lu x%u: %s 0x%x", lba, nb, nvme_err_name(r), r);
	memset((void *)rbuf, 0xa5, (uint64_t)(nb + 2) * ctrl.lba_size);
	r = nvme_rw(&ctrl, NVME_CMD_READ, lba - 1, nb + 2, rbuf);
	CHECK(r == 0, "write zeroes: read back: %s 0x%x", nvme_err_name(r), r);
	const uint8_t *p = (const uint8_t *)(rbuf + ctrl.lba_size);
	uint64_t nonzero = 0;
	for (uint64_t i = 0; i < (uint64_t)nb * ctrl.lba_size; i++)
		nonzero += p[i] != 0;
	CHECK(nonzero == 0, "write zeroes: %lu non-zero bytes read back", nonzero);
	CHECK(verify(rbuf, lba - 1, 1) < 0 && verify(rbuf + (uint64_t)(nb + 1) * ctrl.lba_size, lba + nb, 1) < 0,
	      "write zeroes: a neighbouring block changed");
	printf("nvme-selftest: flush ok; write zeroes of %u blocks reads back zero, neighbours intact\n", nb);
}

static void expect_status(const char *what, int got, int want)
{
	CHECK(got == want, "%s: got %s 0x%x, want status 0x%x", what, got < 0 ? nvme_err_name(got) : "status",
	      got, want);
	if (got == want)
		printf("nvme-selftest: error case: %s -> SCT %u SC 0x%02x ok\n", what, want >> 8, want & 0xff);
}

/* Create I/O CQ/SQ with the given fields; deletes what unexpectedly got
 * created. */
static int create_cq(uint16_t qid, uint32_t qsize0, uint64_t page)
{
	struct nvme_sqe cmd = { .opc = NVME_ADM_CREATE_CQ, .prp1 = page };
	cmd.cdw10 = qsize0 << 16 | qid;
	cmd.cdw11 = 1;
	int r = nvme_admin(&ctrl, &cmd, 0, 0, NULL);
	if (r == 0) {
		struct nvme_sqe del = { .opc = NVME_ADM_DELETE_CQ, .cdw10 = qid };
		nvme_admin(&ctrl, &del, 0, 0, NULL);
	}
	return r;
}

static int create_sq(uint16_t qid, uint16_t cqid, uint32_t qsize0, uint64_t page)
{
	struct nvme_sqe cmd = { .opc = NVME_ADM_CREATE_SQ, .prp1 = page };
	cmd.cdw10 = qsize0 << 16 | qid;
	cmd.cdw11 = 1 | (uint32_t)cqid << 16;
	int r = nvme_admin(&ctrl, &cmd, 0, 0, NULL);
	if (r == 0) {
		struct nvme_sqe del = { .opc = NVME_ADM_DELETE_SQ, .cdw10 = qid };
		nvme_admin(&ctrl, &del, 0, 0, NULL);
	}
	return r;
}

static void test_errors(void)
{
	struct nvme_sqe cmd;
	char what[96];
	int r;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = 0x7f;
	cmd.nsid = 1;
	expect_status("I/O opcode 0x7f (invalid opcode)", nvme_io_cmd(&ctrl, &cmd, 0, 0, NULL), NVME_SC_INVALID_OPCODE);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = 0x7f;
	expect_status("admin opcode 0x7f (invalid opcode)", nvme_admin(&ctrl, &cmd, 0, 0, NULL),
		      NVME_SC_INVALID_OPCODE);

	nvme_prep_rw(&cmd, NVME_CMD_READ, ctrl.nsze, 1);
	snprintf(what, sizeof(what), "read at LBA %lu = NSZE (LBA out of range)", ctrl.nsze);
	expect_status(what, nvme_io_cmd(&ctrl, &cmd, rbuf, ctrl.lba_size, NULL), NVME_SC_LBA_RANGE);
	nvme_prep_rw(&cmd, NVME_CMD_READ, ctrl.nsze - 1, 2);
	expect_status("read of 2 blocks from the last LBA (LBA out of range)",
		      nvme_io_cmd(&ctrl, &cmd, rbuf, 2ull * ctrl.lba_size, NULL), NVME_SC_LBA_RANGE);

	nvme_prep_rw(&cmd, NVME_CMD_READ, 0, 1);
	cmd.nsid = 0;
	expect_status("read with NSID 0 (invalid namespace)", nvme_io_cmd(&ctrl, &cmd, rbuf, ctrl.lba_size, NULL),
		      NVME_SC_INVALID_NS);
	if (ctrl.nn < 0xfffffffe) {
		nvme_prep_rw(&cmd, NVME_CMD_READ, 0, 1);
		cmd.nsid = ctrl.nn + 1;
		snprintf(what, sizeof(what), "read with NSID %u = NN+1 (invalid namespace)", ctrl.nn + 1);
		expect_status(what, nvme_io_cmd(&ctrl, &cmd, rbuf, ctrl.lba_size, NULL), NVME_SC_INVALID_NS);
	}

	if (ctrl.mdts_bytes && ctrl.mdts_bytes + ctrl.lba_size <= ctrl.io.max_xfer &&
	    (ctrl.mdts_bytes >> ctrl.lba_shift) < 0x10000) {
		uint64_t len = ctrl.mdts_bytes + ctrl.lba_size;
		uint64_t big = rt_alloc(len, NVME_PAGE_SIZE);
		RT_ASSERT(big);
		nvme_prep_rw(&cmd, NVME_CMD_READ, 0, (uint32_t)(len >> ctrl.lba_shift));
		snprintf(what, sizeof(what), "read of %lu B > MDTS %lu B (invalid field)", len, ctrl.mdts_bytes);
		expect_status(what, nvme_io_cmd(&ctrl, &cmd, big, len, NULL), NVME_SC_INVALID_FIELD);
	} else {
		printf("nvme-selftest: error case: transfer > MDTS: skipped (MDTS %lu B)\n", ctrl.mdts_bytes);
	}

	/* Queue management: qid 2 is free (only pair 1 exists). */
	uint64_t page = rt_alloc(NVME_PAGE_SIZE, NVME_PAGE_SIZE);
	RT_ASSERT(page);
	memset((void *)page, 0, NVME_PAGE_SIZE);
	if (ctrl.nsqa >= 2) {
		expect_status("Create I/O SQ 2 on CQ 2 that does not exist (completion queue invalid)",
			      create_sq(2, 2, 15, page), NVME_SC_CQ_INVALID);
	} else {
		printf("nvme-selftest: error case: bad CQ id: skipped (only %u SQ allocated)\n", ctrl.nsqa);
	}
	expect_status("Create I/O SQ 0 (invalid queue identifier)", create_sq(0, 1, 15, page), NVME_SC_QID_INVALID);
	snprintf(what, sizeof(what), "Create I/O SQ %u > allocated %u (invalid queue identifier)", ctrl.nsqa + 1,
		 ctrl.nsqa);
	expect_status(what, create_sq((uint16_t)(ctrl.nsqa + 1), 1, 15, page), NVME_SC_QID_INVALID);
	expect_status("Create I/O CQ 0 (invalid queue identifier)", create_cq(0, 15, page), NVME_SC_QID_INVALID);
	snprintf(what, sizeof(what), "Create I/O CQ %u > allocated %u (invalid queue identifier)", ctrl.ncqa + 1,
		 ctrl.ncqa);
	expect_status(what, create_cq((uint16_t)(ctrl.ncqa + 1), 15, page), NVME_SC_QID_INVALID);
	if (ctrl.mqes < 0x10000 && ctrl.nsqa >= 2 && ctrl.ncqa >= 2) {
		snprintf(what, sizeof(what), "Create I/O CQ 2 of %u entries > MQES+1 %u (invalid queue size)",
			 ctrl.mqes + 1, ctrl.mqes);
		expect_status(what, create_cq(2, ctrl.mqes, page), NVME_SC_QSIZE_INVALID);
		snprintf(what, sizeof(what), "Create I/O SQ 2 of %u entries > MQES+1 %u (invalid queue size)",
			 ctrl.mqes + 1, ctrl.mqes);
		expect_status(what, create_sq(2, 1, ctrl.mqes, page), NVME_SC_QSIZE_INVALID);
	} else {
		printf("nvme-selftest: error case: queue size > MQES+1: skipped (MQES+1 = %u)\n", ctrl.mqes);
	}

	/* The controller still works after all that. */
	r = nvme_rw(&ctrl, NVME_CMD_READ, 0, 1, rbuf);
	CHECK(r == 0, "read after the error cases: %s 0x%x", nvme_err_name(r), r);
}

static void test_irq(void)
{
	struct nvme_queue *q = &ctrl.io;
	uint32_t nb = 4096 / ctrl.lba_size ? 4096 / ctrl.lba_size : 1;
	uint64_t bytes = (uint64_t)nb * ctrl.lba_size, base = ctrl.nsze / 4 + 333;
	unsigned ios = 0, qd = q->nslots < 8 ? q->nslots : 8;

	ctrl.opts.irq = true;
	int r = nvme_reset(&ctrl);
	CHECK(r == 0, "irq: reset into interrupt mode: %s (%s)", nvme_err_name(r), ctrl.err);
	if (r)
		return;
	uint64_t irq0 = q->irqs, admin0 = ctrl.admin.irqs;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t before = q->irqs;
		fill(wbuf, base + i * nb, nb);
		r = nvme_rw(&ctrl, NVME_CMD_WRITE, base + i * nb, nb, wbuf);
		CHECK(r == 0 && q->irqs > before, "irq: write %u: %s 0x%x, interrupts %lu -> %lu", i,
		      nvme_err_name(r), r, before, q->irqs);
		before = q->irqs;
		memset((void *)rbuf, 0, bytes);
		r = nvme_rw(&ctrl, NVME_CMD_READ, base + i * nb, nb, rbuf);
		CHECK(r == 0 && q->irqs > before && verify(rbuf, base + i * nb, nb) < 0,
		      "irq: read %u: %s 0x%x, interrupts %lu -> %lu", i, nvme_err_name(r), r, before, q->irqs);
		ios += 2;
	}
	/* A batch: qd reads in flight, completions found after interrupts. */
	struct nvme_done done[8];
	for (unsigned i = 0; i < qd; i++) {
		struct nvme_sqe cmd;
		nvme_prep_rw(&cmd, NVME_CMD_READ, base + (i % 4) * nb, nb);
		CHECK(nvme_submit(q, &cmd, qdbuf + i * bytes, bytes, i) >= 0, "irq: submit %u", i);
	}
	nvme_ring(q);
	for (unsigned got = 0; got < qd;) {
		int n = nvme_wait(q, done, 8, 5000000);
		if (n < 0) {
			CHECK(0, "irq: batch: %s after %u/%u", nvme_err_name(n), got, qd);
			break;
		}
		for (int k = 0; k < n; k++) {
			unsigned i = (unsigned)done[k].tag;
			CHECK(done[k].status == 0 && verify(qdbuf + i * bytes, base + (i % 4) * nb, nb) < 0,
			      "irq: batch read %u: status 0x%x or data", i, done[k].status);
		}
		got += (unsigned)n;
		ios += (unsigned)n;
	}
	printf("nvme-selftest: irq: %u I/Os completed by MSI-X (vector 0x%x, %lu interrupts; admin vector 0x%x: %lu)\n",
	       ios, q->vector, q->irqs - irq0, ctrl.admin.vector, ctrl.admin.irqs - admin0);
	/* Back to polling for whoever comes next. */
	ctrl.opts.irq = false;
	r = nvme_reset(&ctrl);
	CHECK(r == 0, "irq: reset back to polling: %s (%s)", nvme_err_name(r), ctrl.err);
}

static long body(void *arg)
{
	bool irq = (bool)(uintptr_t)arg;
	struct nvme_opts o = { .bdf = -1, .io_depth = QD };
	uint64_t t0 = rdtsc();

	int r = nvme_open(&ctrl, &o);
	if (r) {
		printf("nvme-selftest: FAIL: open: %s: %s\n", nvme_err_name(r), ctrl.err);
		return 1;
	}
	printf("nvme-selftest: controller %02x:%02x.%x BAR0 0x%lx (%lu KiB) VS %u.%u.%u CAP 0x%lx: MQES+1 %u, "
	       "doorbell stride %u, timeout %lu ms; I/O queue %u entries; open %lu us\n",
	       ctrl.bdf >> 8, (ctrl.bdf >> 3) & 31, ctrl.bdf & 7, ctrl.bar, ctrl.bar_size / 1024, ctrl.vs >> 16,
	       (ctrl.vs >> 8) & 0xff, ctrl.vs & 0xff, ctrl.cap, ctrl.mqes, ctrl.db_stride, ctrl.rdy_timeout_us / 1000,
	       ctrl.io.size, tsc_to_ns(rdtsc() - t0) / 1000);
	printf("nvme-selftest: identify: model '%s' serial '%s' firmware '%s', namespace 1: %lu blocks of %u B "
	       "(%lu MiB), MDTS %lu KiB, NN %u, ONCS 0x%x, queues allocated %u SQ / %u CQ\n",
	       ctrl.mn, ctrl.sn, ctrl.fr, ctrl.nsze, ctrl.lba_size, (ctrl.nsze << ctrl.lba_shift) >> 20,
	       ctrl.mdts_bytes / 1024, ctrl.nn, ctrl.oncs, ctrl.nsqa, ctrl.ncqa);
	CHECK(ctrl.nsze > 64, "namespace too small (%lu blocks)", ctrl.nsze);
	if (failures)
		return 1;

	test_rw();
	test_queue_depth();
	test_flush_zeroes();
	test_errors();
	if (irq)
		test_irq();
	else
		printf("nvme-selftest: irq: skipped (irq=0)\n");
	printf("nvme-selftest: %u checks, %u failed, %lu ms\n", checks, failures, tsc_to_ns(rdtsc() - t0) / 1000000);
	return failures ? 1 : 0;
}

int main(void)
{
	uint64_t v = 1;
	bool irq = !(rt_cmdline_u64("irq", &v) && v == 0);

	wbuf = rt_alloc(BUF_BYTES, NVME_PAGE_SIZE);
	rbuf = rt_alloc(BUF_BYTES, NVME_PAGE_SIZE);
	qdbuf = rt_alloc(QD * 4096ull * 2, NVME_PAGE_SIZE);
	RT_ASSERT(wbuf && rbuf && qdbuf);
	if (irq && nvme_irq_init(VEC_NVME)) {
		printf("nvme-selftest: FAIL: cannot register vectors 0x%x/0x%x\n", VEC_NVME, VEC_NVME + 1);
		return 1;
	}
	long r = run_in_ring3(body, (void *)(uintptr_t)irq);
	if (r) {
		if (checks)
			printf("nvme-selftest: FAIL (%u of %u checks failed)\n", failures, checks);
		else
			printf("nvme-selftest: FAIL\n");
		return 1;
	}
	printf("nvme-selftest: PASS\n");
	return 0;
}
