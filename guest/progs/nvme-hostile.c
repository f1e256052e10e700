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
#include "hostile.h"

#define XFER         HOSTILE_PAGE
#define WAIT_US      1000000ull

static struct nvme_ctrl ctrl;
static uint64_t guard;                  /* [canary page][buffer page][canary page] */
static uint64_t iobuf, listpage;
static uint64_t ram_top;
static uint64_t sig_lba, sig2_lba, ok_lba;
static uint64_t sig_seed = 0x1234567887654321ull;

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
	hostile_fill_good(iobuf, XFER);
	r = nvme_rw(&ctrl, NVME_CMD_WRITE, ok_lba, nb, iobuf);
	if (!r) {
		memset((void *)iobuf, 0, XFER);
		r = nvme_rw(&ctrl, NVME_CMD_READ, ok_lba, nb, iobuf);
	}
	if (r) {
		snprintf(buf, len, "I/O after recovery: %s 0x%x", nvme_err_name(r), r);
		return buf;
	}
	if (!hostile_good_ok(iobuf, XFER)) {
		snprintf(buf, len, "I/O after recovery read wrong data");
		return buf;
	}
	return "";
}

/* ---- case 1 and 2: DMA outside RAM ---- */

static void read_to(const char *name, uint64_t lba, uint64_t prp1, uint64_t prp2, uint32_t bytes)
{
	struct nvme_sqe cmd;
	struct hostile_snap before;
	char st[96], can[64], cnt[80], rec[120];

	hostile_begin(&before);
	nvme_prep_rw(&cmd, NVME_CMD_READ, lba, bytes >> ctrl.lba_shift);
	cmd.prp1 = prp1;
	cmd.prp2 = prp2;
	int r = nvme_io_cmd(&ctrl, &cmd, 0, 0, NULL);
	describe(st, sizeof(st), r);
	udelay(10000);                  /* late DMA or MSIs would show up by now */
	const char *changed = hostile_canaries_changed(can, sizeof(can));
	uint64_t strays = hostile_strays(&before);
	bool blocked = r != 0 && !changed[0] && !strays;
	char msi[48] = "";
	if (strays)
		snprintf(msi, sizeof(msi), "; %lu stray MSIs", strays);
	const char *rc = recover(rec, sizeof(rec), r < 0);
	hostile_report(name, blocked, "%s%s%s%s%s%s", st, changed[0] ? changed : "; canaries intact", msi,
		       hostile_delta(&before, cnt, sizeof(cnt)), rc[0] ? "; " : "", rc);
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
	struct hostile_snap before;
	char cnt[80], rec[120], seen[120] = "";
	struct nvme_done d;

	hostile_snap(&before);
	int cid = with_aer ? aer_submit() : 0;
	if (cid < 0) {
		hostile_report(name, false, "cannot submit Asynchronous Event Request: %s", nvme_err_name(cid));
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
		hostile_report(name, false, "Get Features behind the AER failed: %s%s%s", st, rc[0] ? "; " : "", rc);
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
	hostile_report(name, signalled && !rc[0], "%s%s; %s", seen, hostile_delta(&before, cnt, sizeof(cnt)),
	       rc[0] ? rc : "recovered by controller reset, I/O ok");
}

/* ---- case 4: oversized queues ---- */

static void oversized_queues(void)
{
	if (ctrl.mqes >= 0x10000) {
		hostile_report("create-queue-oversize", true, "n/a: MQES+1 = 65536, no larger size can be encoded");
		return;
	}
	uint64_t page = listpage;
	struct hostile_snap before;
	hostile_snap(&before);
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
	hostile_report("create-queue-oversize", rc > 0 && rs > 0 && !r[0],
	       "%u entries > MQES+1 %u: CQ %s, SQ %s%s%s%s%s", ctrl.mqes + 1, ctrl.mqes, a, b,
	       exact ? "" : " (expected 0x102 Invalid Queue Size)", hostile_delta(&before, cnt, sizeof(cnt)),
	       r[0] ? "; " : "", r);
}

/* ---- case 5: Bus Master Enable off ---- */

static void bme_off(void)
{
	struct nvme_queue *q = &ctrl.io;
	struct hostile_snap before;
	struct nvme_done d;
	struct nvme_sqe cmd;
	char rec[120], can[64];

	hostile_begin(&before);
	uint64_t buf = guard + XFER;
	pci_command(ctrl.bdf, 0, RT_PCI_CMD_MASTER);
	nvme_prep_rw(&cmd, NVME_CMD_READ, sig2_lba, XFER >> ctrl.lba_shift);
	int cid = nvme_submit(q, &cmd, buf, XFER, 0xb3e);
	nvme_ring(q);
	uint64_t t0 = rdtsc(), limit = HOSTILE_BME_WAIT_US * (tsc_hz() / 1000000);
	int n = 0;
	while (rdtsc() - t0 < limit && (n = nvme_reap(q, &d, 1)) == 0)
		cpu_relax();
	uint32_t csts = nvme_csts(&ctrl);
	const char *changed = hostile_canaries_changed(can, sizeof(can));
	uint64_t strays = hostile_strays(&before);
	pci_command(ctrl.bdf, RT_PCI_CMD_MASTER, 0);
	const char *rc = recover(rec, sizeof(rec), true);

	hostile_report_bme(&before, cid >= 0, cid < 0 ? nvme_err_name(cid) : "", n > 0, n > 0 ? d.status : 0,
			   "command", "CSTS", csts, changed, strays, rc);
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
	ram_top = hostile_ram_top();
	uint64_t hole = pci_mmio_free(XFER, -1, -1);
	printf("nvme-hostile: controller '%s' at %02x:%02x.%x; RAM top 0x%lx, free MMIO hole page 0x%lx, stats port %s\n",
	       ctrl.mn, ctrl.bdf >> 8, (ctrl.bdf >> 3) & 31, ctrl.bdf & 7, ram_top, hole,
	       wstats_present() ? "present" : "absent");

	/* Source blocks: the signature (MSI-safe words) at sig_lba, another at
	 * sig2_lba; then no copy of them stays in RAM. */
	hostile_fill_sig(iobuf, sig_seed, XFER);
	r = nvme_rw(&ctrl, NVME_CMD_WRITE, sig_lba, nb, iobuf);
	hostile_fill_sig(iobuf, sig_seed ^ 0xffff, XFER);
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
		hostile_report("prp1-mmio-hole", false, "no free page in the MMIO hole to aim at");
	read_to("prp1-msi-window", sig_lba, HOSTILE_MSI_WINDOW, 0, XFER);
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
	hostile_scan_ram(sig_seed);

	/* (3) Doorbells: SQ tail >= queue size; a queue that does not exist;
	 * the first again with no AER outstanding. */
	bad_doorbell("sq-tail-beyond-queue-size", ctrl.io.qid, ctrl.io.size, true);
	bad_doorbell("doorbell-nonexistent-queue", 2, 1, true);
	bad_doorbell("sq-tail-beyond-queue-size-no-aer", ctrl.io.qid, ctrl.io.size + 7, false);
	/* (4) Queues larger than CAP.MQES+1. */
	oversized_queues();
	/* (5) DMA with Bus Master Enable off. */
	bme_off();

	return hostile_summary("nvme-hostile");
}

int main(void)
{
	guard = rt_alloc(3 * XFER, XFER);
	iobuf = rt_alloc(XFER, XFER);
	listpage = rt_alloc(XFER, XFER);
	RT_ASSERT(guard && iobuf && listpage);
	memset((void *)listpage, 0, XFER);
	hostile_canary_add(guard, 3 * XFER);
	return (int)hostile_run("nvme-hostile", body, NULL);
}
