/* Hostile-guest cases against the NVMe controller: DMA outside guest RAM,
 * PRP lists outside RAM, invalid doorbells, oversized queues, DMA with Bus
 * Master Enable off. Each case prints
 *   hostile: <case>: blocked (<what was observed>)   or
 *   hostile: <case>: NOT BLOCKED (<what was observed>)
 * and the program ends with "nvme-hostile: all blocked" (exit 0) or the
 * number of cases not blocked (exit 1). Without an IOMMU or a VMM that
 * checks DMA addresses (plain QEMU), the out-of-RAM reads complete
 * successfully: they are reported NOT BLOCKED.
 *
 * A DMA write that reaches the MSI window 0xfee00000 is a stream of MSIs
 * whose data are the words of the block read: the source blocks hold words
 * (random << 16) | 0xfe, i.e. fixed, edge, vector 0xfe, which a handler
 * counts ("stray MSIs"), so a leak is visible and harmless.
 * scan=0 on the command line skips the scan of all RAM for the DMA source
 * block (slow where first touches of guest pages are).
 * The disk's contents are overwritten. */
#include "rt.h"
#include "nvme.h"

#define VEC_STRAY    0xfe
#define XFER         4096u
#define CANARY       0xc3a55a3cu
#define WAIT_US      1000000ull
#define BME_WAIT_US  500000ull
#define MSI_WINDOW   0xfee00000ull
#define FOUR_GIB     0x100000000ull

static struct nvme_ctrl ctrl;
static volatile uint64_t stray_msis;
static unsigned not_blocked, cases;
static uint64_t guard;                  /* [canary page][buffer page][canary page] */
static uint64_t iobuf, listpage;
static uint64_t ram_top, ram_top_canary; /* canary page below the top, 0 if unmapped */
static uint64_t sig_lba, sig2_lba, ok_lba;
static uint64_t sig_seed = 0x1234567887654321ull;

static void stray_msi(unsigned vector)
{
	(void)vector;
	stray_msis++;
}

/* ---- patterns ---- */

static uint32_t sig_word(uint64_t seed, uint64_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ull);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	return (uint32_t)(x << 16) | VEC_STRAY;
}

static void fill_sig(uint64_t buf, uint64_t seed)
{
	for (uint64_t i = 0; i < XFER / 4; i++)
		((uint32_t *)buf)[i] = sig_word(seed, i);
}

static void fill_canary(uint64_t a, uint64_t len)
{
	for (uint64_t i = 0; i < len / 4; i++)
		((volatile uint32_t *)a)[i] = CANARY ^ (uint32_t)i;
}

/* Address of the first changed canary word, 0 if intact. */
static uint64_t check_canary(uint64_t a, uint64_t len)
{
	for (uint64_t i = 0; i < len / 4; i++)
		if (((volatile uint32_t *)a)[i] != (CANARY ^ (uint32_t)i))
			return a + 4 * i;
	return 0;
}

static void arm_canaries(void)
{
	fill_canary(guard, 3 * XFER);
	if (ram_top_canary)
		fill_canary(ram_top_canary, XFER);
}

/* "" when intact, else what changed. */
static const char *canaries_changed(char *buf, size_t len)
{
	uint64_t a = check_canary(guard, 3 * XFER);

	if (!a && ram_top_canary)
		a = check_canary(ram_top_canary, XFER);
	if (!a)
		return "";
	snprintf(buf, len, "; RAM at 0x%lx CHANGED", a);
	return buf;
}

/* ---- stats ---- */

struct counters {
	uint64_t iommu, guest_err;
};

static void counters_read(struct counters *c)
{
	c->iommu = wstats_present() ? wstats_query(WSTATS_IOMMU_FAULTS) : 0;
	c->guest_err = wstats_present() ? wstats_query(WSTATS_GUEST_ERRORS) : 0;
}

static const char *counters_delta(const struct counters *before, char *buf, size_t len)
{
	struct counters now;

	if (!wstats_present())
		return "";
	counters_read(&now);
	snprintf(buf, len, "; iommu faults +%lu, guest errors +%lu", now.iommu - before->iommu,
		 now.guest_err - before->guest_err);
	return buf;
}

/* ---- reporting ---- */

static void report(const char *name, bool blocked, const char *fmt, ...) RT_PRINTF(3, 4);
static void report(const char *name, bool blocked, const char *fmt, ...)
{
	char what[240];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cases++;
	if (!blocked)
		not_blocked++;
	printf("hostile: %s: %s (%s)\n", name, blocked ? "blocked" : "NOT BLOCKED", what);
}

static const char *status_name(int s)
{
	switch (s) {
	case NVME_SC_SUCCESS:         return "Success";
	case NVME_SC_INVALID_FIELD:   return "Invalid Field";
	case NVME_SC_DATA_XFER_ERROR: return "Data Transfer Error";
	case 0x006:                   return "Internal Error";
	case 0x013:                   return "Invalid PRP Offset";
	case NVME_SC_QSIZE_INVALID:   return "Invalid Queue Size";
	case NVME_SC_QID_INVALID:     return "Invalid Queue Identifier";
	case NVME_SC_CQ_INVALID:      return "Completion Queue Invalid";
	default:                      return "error status";
	}
}

static void describe(char *buf, size_t len, int r)
{
	if (r >= 0)
		snprintf(buf, len, "status 0x%03x %s", r, status_name(r));
	else
		snprintf(buf, len, "%s, CSTS 0x%x", nvme_err_name(r), nvme_csts(&ctrl));
}

/* After a case that may have upset the controller: reset, then a
 * write-read-verify of one block. "" on success, else why not. */
static const char *recover(char *buf, size_t len, bool force)
{
	uint32_t csts = nvme_csts(&ctrl);
	int r = 0;

	if (force || (csts & NVME_CSTS_CFS) || !(csts & NVME_CSTS_RDY)) {
		r = nvme_reset(&ctrl);
		if (r) {
			snprintf(buf, len, "reset failed: %s: %s", nvme_err_name(r), ctrl.err);
			return buf;
		}
	}
	uint32_t nb = XFER >> ctrl.lba_shift;
	for (uint32_t i = 0; i < XFER / 4; i++)
		((uint32_t *)iobuf)[i] = 0x600d0000u + i;
	r = nvme_rw(&ctrl, NVME_CMD_WRITE, ok_lba, nb, iobuf);
	if (!r) {
		memset((void *)iobuf, 0, XFER);
		r = nvme_rw(&ctrl, NVME_CMD_READ, ok_lba, nb, iobuf);
	}
	if (r) {
		snprintf(buf, len, "I/O after recovery: %s 0x%x", nvme_err_name(r), r);
		return buf;
	}
	for (uint32_t i = 0; i < XFER / 4; i++)
		if (((uint32_t *)iobuf)[i] != 0x600d0000u + i) {
			snprintf(buf, len, "I/O after recovery read wrong data");
			return buf;
		}
	return "";
}

/* ---- case 1 and 2: DMA outside RAM ---- */

static void read_to(const char *name, uint64_t lba, uint64_t prp1, uint64_t prp2, uint32_t bytes)
{
	struct nvme_sqe cmd;
	struct counters before;
	char st[96], can[64], cnt[80], rec[120];

	arm_canaries();
	counters_read(&before);
	uint64_t msis = stray_msis;
	nvme_prep_rw(&cmd, NVME_CMD_READ, lba, bytes >> ctrl.lba_shift);
	cmd.prp1 = prp1;
	cmd.prp2 = prp2;
	int r = nvme_io_cmd(&ctrl, &cmd, 0, 0, NULL);
	describe(st, sizeof(st), r);
	udelay(10000);                  /* late DMA or MSIs would show up by now */
	const char *changed = canaries_changed(can, sizeof(can));
	uint64_t strays = stray_msis - msis;
	bool blocked = r != 0 && !changed[0] && !strays;
	char msi[48] = "";
	if (strays)
		snprintf(msi, sizeof(msi), "; %lu stray MSIs", strays);
	const char *rc = recover(rec, sizeof(rec), r < 0);
	report(name, blocked, "%s%s%s%s%s%s", st, changed[0] ? changed : "; canaries intact", msi,
	       counters_delta(&before, cnt, sizeof(cnt)), rc[0] ? "; " : "", rc);
}

/* The signature block must not be anywhere in guest RAM (below 4 GiB, the
 * part the runtime maps). */
static void scan_ram(void)
{
	uint64_t v;

	if (rt_cmdline_u64("scan", &v) && v == 0) {
		printf("hostile: dma-landing-scan: skipped (scan=0)\n");
		return;
	}
	const struct rt_mem_region *m;
	unsigned n = rt_memmap(&m);
	uint64_t w0 = (uint64_t)sig_word(sig_seed, 1) << 32 | sig_word(sig_seed, 0);
	uint64_t w1 = (uint64_t)sig_word(sig_seed, 3) << 32 | sig_word(sig_seed, 2);
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
		for (; a + 16 <= end; a += 8) {
			if (*(volatile uint64_t *)a == w0 && *(volatile uint64_t *)(a + 8) == w1) {
				if (!found++)
					where = a;
			}
		}
	}
	report("dma-landing-scan", !found, "%s in %lu MiB of RAM, %lu ms",
	       found ? "signature block FOUND" : "signature block found nowhere", bytes >> 20,
	       tsc_to_ns(rdtsc() - t0) / 1000000);
	if (found)
		printf("hostile: signature found %lu times, first at 0x%lx\n", found, where);
}

/* ---- case 3: bad doorbells ---- */

static int aer_submit(void)
{
	struct nvme_sqe cmd = { .opc = NVME_ADM_ASYNC_EVENT };
	int cid = nvme_submit(&ctrl.admin, &cmd, 0, 0, 0xae);

	nvme_ring(&ctrl.admin);
	return cid;
}

/* With an AER outstanding the controller may answer with the async event
 * or CSTS.CFS; without one, only CSTS.CFS can signal it. */
static void bad_doorbell(const char *name, unsigned qid, uint32_t value, bool with_aer)
{
	struct counters before;
	char cnt[80], rec[120], seen[120] = "";
	struct nvme_done d;

	counters_read(&before);
	int cid = with_aer ? aer_submit() : 0;
	if (cid < 0) {
		report(name, false, "cannot submit Asynchronous Event Request: %s", nvme_err_name(cid));
		return;
	}
	/* A command behind it on the same SQ completing means the controller
	 * has fetched the AER (in-order fetch): it is outstanding now. */
	struct nvme_sqe gf = { .opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	int g = nvme_admin(&ctrl, &gf, 0, 0, NULL);
	if (g) {
		char st[96], rec[120];
		describe(st, sizeof(st), g);
		const char *rc = recover(rec, sizeof(rec), true);
		report(name, false, "Get Features behind the AER failed: %s%s%s", st, rc[0] ? "; " : "", rc);
		return;
	}
	nvme_doorbell_raw(&ctrl, qid, false, value);
	uint64_t t0 = rdtsc(), limit = WAIT_US * (tsc_hz() / 1000000);
	bool signalled = false;
	while (rdtsc() - t0 < limit) {
		uint32_t csts = nvme_csts(&ctrl);
		if (csts == 0xffffffff) {
			snprintf(seen, sizeof(seen), "controller gone (CSTS all ones)");
			break;
		}
		if (csts & NVME_CSTS_CFS) {
			snprintf(seen, sizeof(seen), "CSTS.CFS after %lu us", tsc_to_ns(rdtsc() - t0) / 1000);
			signalled = true;
			break;
		}
		if (nvme_reap(&ctrl.admin, &d, 1) == 1 && d.tag == 0xae) {
			unsigned type = d.dw0 & 7, info = (d.dw0 >> 8) & 0xff, log = (d.dw0 >> 16) & 0xff;
			snprintf(seen, sizeof(seen), "async event after %lu us: status 0x%x, type %u info 0x%02x log 0x%02x%s",
				 tsc_to_ns(rdtsc() - t0) / 1000, d.status, type, info, log,
				 type == 0 ? (info == 0 ? " (invalid doorbell register)" :
					      info == 1 ? " (invalid doorbell write value)" : "") : "");
			signalled = d.status == 0 && type == 0;
			break;
		}
		udelay(1000);
	}
	if (!seen[0])
		snprintf(seen, sizeof(seen), "no CSTS.CFS%s in %llu ms (CSTS 0x%x)",
			 with_aer ? " and no async event" : " (no AER outstanding)", WAIT_US / 1000, nvme_csts(&ctrl));
	const char *rc = recover(rec, sizeof(rec), true);
	report(name, signalled && !rc[0], "%s%s; %s", seen, counters_delta(&before, cnt, sizeof(cnt)),
	       rc[0] ? rc : "recovered by controller reset, I/O ok");
}

/* ---- case 4: oversized queues ---- */

static void oversized_queues(void)
{
	if (ctrl.mqes >= 0x10000) {
		report("create-queue-oversize", true, "n/a: MQES+1 = 65536, no larger size can be encoded");
		return;
	}
	uint64_t page = listpage;
	struct counters before;
	counters_read(&before);
	struct nvme_sqe cq = { .opc = NVME_ADM_CREATE_CQ, .prp1 = page };
	cq.cdw10 = ctrl.mqes << 16 | 2;
	cq.cdw11 = 1;
	int rc = nvme_admin(&ctrl, &cq, 0, 0, NULL);
	struct nvme_sqe sq = { .opc = NVME_ADM_CREATE_SQ, .prp1 = page };
	sq.cdw10 = ctrl.mqes << 16 | 2;
	sq.cdw11 = 1 | 1u << 16;
	int rs = nvme_admin(&ctrl, &sq, 0, 0, NULL);
	char a[64], b[64], rec[120], cnt[80];
	describe(a, sizeof(a), rc);
	describe(b, sizeof(b), rs);
	bool exact = rc == NVME_SC_QSIZE_INVALID && rs == NVME_SC_QSIZE_INVALID;
	const char *r = recover(rec, sizeof(rec), rc == 0 || rs == 0 || rc < 0 || rs < 0);
	report("create-queue-oversize", rc > 0 && rs > 0 && !r[0],
	       "%u entries > MQES+1 %u: CQ %s, SQ %s%s%s%s%s", ctrl.mqes + 1, ctrl.mqes, a, b,
	       exact ? "" : " (expected 0x102 Invalid Queue Size)", counters_delta(&before, cnt, sizeof(cnt)),
	       r[0] ? "; " : "", r);
}

/* ---- case 5: Bus Master Enable off ---- */

static void bme_off(void)
{
	struct nvme_queue *q = &ctrl.io;
	struct counters before;
	struct nvme_done d;
	struct nvme_sqe cmd;
	char cnt[80], rec[120], can[64];

	arm_canaries();
	counters_read(&before);
	uint64_t buf = guard + XFER, msis = stray_msis;
	pci_command(ctrl.bdf, 0, RT_PCI_CMD_MASTER);
	nvme_prep_rw(&cmd, NVME_CMD_READ, sig2_lba, XFER >> ctrl.lba_shift);
	int cid = nvme_submit(q, &cmd, buf, XFER, 0xb3e);
	nvme_ring(q);
	uint64_t t0 = rdtsc(), limit = BME_WAIT_US * (tsc_hz() / 1000000);
	int n = 0;
	while (rdtsc() - t0 < limit && (n = nvme_reap(q, &d, 1)) == 0)
		cpu_relax();
	uint32_t csts = nvme_csts(&ctrl);
	const char *changed = canaries_changed(can, sizeof(can));
	uint64_t strays = stray_msis - msis;
	pci_command(ctrl.bdf, RT_PCI_CMD_MASTER, 0);
	const char *rc = recover(rec, sizeof(rec), true);

	char seen[120];
	if (cid < 0)
		snprintf(seen, sizeof(seen), "submit failed: %s", nvme_err_name(cid));
	else if (n > 0)
		snprintf(seen, sizeof(seen), "command COMPLETED with status 0x%x", d.status);
	else
		snprintf(seen, sizeof(seen), "no completion in %llu ms", BME_WAIT_US / 1000);
	bool blocked = cid >= 0 && n == 0 && !changed[0] && !strays;
	report("bus-master-disabled", blocked && !rc[0], "%s, CSTS 0x%x%s%s%s; %s", seen, csts,
	       changed[0] ? changed : ", buffer unchanged", strays ? ", stray MSIs" : "",
	       counters_delta(&before, cnt, sizeof(cnt)),
	       rc[0] ? rc : "BME back on, reset, I/O ok");
}

static long body(void *arg)
{
	(void)arg;
	struct nvme_opts o = { .bdf = -1, .io_depth = 8, .cmd_timeout_us = 2000000 };
	int r = nvme_open(&ctrl, &o);

	if (r) {
		printf("nvme-hostile: FAIL: open: %s: %s\n", nvme_err_name(r), ctrl.err);
		return 2;
	}
	uint32_t nb = XFER >> ctrl.lba_shift;
	if (!nb || ctrl.nsze < 64 * nb) {
		printf("nvme-hostile: FAIL: namespace too small or blocks too large\n");
		return 2;
	}
	sig_lba = 8 * nb;
	sig2_lba = 16 * nb;
	ok_lba = 24 * nb;

	/* The memory map's top of RAM; the page below it is a canary if mapped. */
	const struct rt_mem_region *m;
	unsigned nr = rt_memmap(&m);
	for (unsigned i = 0; i < nr; i++)
		if (m[i].type == RT_MEM_RAM && m[i].addr + m[i].size > ram_top)
			ram_top = m[i].addr + m[i].size;
	ram_top &= ~(uint64_t)(XFER - 1);
	if (ram_top <= RT_MMIO_START && ram_top >= XFER)
		ram_top_canary = ram_top - XFER;
	uint64_t hole = pci_mmio_free(XFER, -1, -1);
	printf("nvme-hostile: controller '%s' at %02x:%02x.%x; RAM top 0x%lx, free MMIO hole page 0x%lx, stats port %s\n",
	       ctrl.mn, ctrl.bdf >> 8, (ctrl.bdf >> 3) & 31, ctrl.bdf & 7, ram_top, hole,
	       wstats_present() ? "present" : "absent");

	/* Source blocks: the signature (MSI-safe words) at sig_lba, another at
	 * sig2_lba; then no copy of them stays in RAM. */
	fill_sig(iobuf, sig_seed);
	r = nvme_rw(&ctrl, NVME_CMD_WRITE, sig_lba, nb, iobuf);
	fill_sig(iobuf, sig_seed ^ 0xffff);
	if (!r)
		r = nvme_rw(&ctrl, NVME_CMD_WRITE, sig2_lba, nb, iobuf);
	memset((void *)iobuf, 0, XFER);
	if (r) {
		printf("nvme-hostile: FAIL: writing the source blocks: %s 0x%x\n", nvme_err_name(r), r);
		return 2;
	}

	/* (1) PRP1 outside RAM. */
	read_to("prp1-above-ram-top", sig_lba, ram_top, 0, XFER);
	if (hole)
		read_to("prp1-mmio-hole", sig_lba, hole, 0, XFER);
	else
		report("prp1-mmio-hole", false, "no free page in the MMIO hole to aim at");
	read_to("prp1-msi-window", sig_lba, MSI_WINDOW, 0, XFER);
	/* (2) PRP list pointer outside RAM (16 KiB read: PRP2 is a list), and
	 * a list in RAM whose entries point outside it. PRP1 is a legitimate
	 * buffer (iobuf) and the source is the second signature, which the
	 * RAM scan does not look for. */
	read_to("prp-list-above-ram-top", sig2_lba, iobuf, ram_top, 4 * XFER);
	if (hole)
		read_to("prp-list-mmio-hole", sig2_lba, iobuf, hole, 4 * XFER);
	uint64_t *list = (uint64_t *)listpage;
	for (unsigned i = 0; i < 3; i++)
		list[i] = ram_top + i * XFER;
	read_to("prp-list-entries-above-ram-top", sig2_lba, iobuf, listpage, 4 * XFER);
	scan_ram();

	/* (3) Doorbells: SQ tail >= queue size; a queue that does not exist;
	 * the first again with no AER outstanding. */
	bad_doorbell("sq-tail-beyond-queue-size", ctrl.io.qid, ctrl.io.size, true);
	bad_doorbell("doorbell-nonexistent-queue", 2, 1, true);
	bad_doorbell("sq-tail-beyond-queue-size-no-aer", ctrl.io.qid, ctrl.io.size + 7, false);
	/* (4) Queues larger than CAP.MQES+1. */
	oversized_queues();
	/* (5) DMA with Bus Master Enable off. */
	bme_off();

	if (not_blocked) {
		printf("nvme-hostile: %u of %u cases NOT BLOCKED\n", not_blocked, cases);
		return 1;
	}
	printf("nvme-hostile: all blocked\n");
	return 0;
}

int main(void)
{
	guard = rt_alloc(3 * XFER, XFER);
	iobuf = rt_alloc(XFER, XFER);
	listpage = rt_alloc(XFER, XFER);
	RT_ASSERT(guard && iobuf && listpage);
	memset((void *)listpage, 0, XFER);
	/* Stray MSIs (a DMA write reaching 0xfee00000) land on a counter. */
	RT_ASSERT(irq_register(VEC_STRAY, stray_msi) == 0);
	lapic_enable();
	irq_enable();
	uint64_t t0 = rdtsc();
	long r = run_in_ring3(body, NULL);
	printf("nvme-hostile: %lu ms\n", tsc_to_ns(rdtsc() - t0) / 1000000);
	return (int)r;
}
