/* Hostile-guest cases against the virtio-blk device: malformed descriptor
 * chains and avail rings, buffers outside guest RAM, broken indirect
 * tables, DMA with Bus Master Enable off. Each case prints
 *   hostile: <case>: blocked (<what was observed>)   or
 *   hostile: <case>: NOT BLOCKED (<what was observed>)
 * and the program ends with "virtio-hostile: all blocked" (exit 0) or the
 * number of cases not blocked (exit 1).
 *
 * Blocked means: the device answered as Virtio 1.1 lets it (a ring or
 * chain that breaks the rules: DEVICE_NEEDS_RESET; data it cannot reach:
 * DEVICE_NEEDS_RESET or status VIRTIO_BLK_S_IOERR), nothing landed in guest
 * RAM outside the request's own buffers (canary pages around every buffer
 * and below the top of RAM), no stray MSI, and after a device reset a
 * write-read-verify works. Plain QEMU has no IOMMU and accepts some of
 * these (buffers outside RAM go to unassigned memory, an indirect table may
 * be longer than the ring): those lines say NOT BLOCKED, for information.
 *
 * A DMA write that reaches the MSI window 0xfee00000 is a stream of MSIs
 * whose data are the words written: the source blocks hold words
 * (random << 16) | 0xfe (fixed, edge, vector 0xfe), which a handler counts
 * ("stray MSIs"), so a leak is visible and harmless. scan=0 on the command
 * line skips the scan of all RAM for the source block.
 * The disk's contents are overwritten. */
#include "rt.h"
#include "virtio_blk.h"
#include "hostile.h"

#define XFER         HOSTILE_PAGE
#define SECT         VBLK_SECTOR
#define WAIT_US      1000000ull

/* What a case accepts as the device's answer. */
#define ACC_RESET    1      /* DEVICE_NEEDS_RESET */
#define ACC_IOERR    2      /* completed with VIRTIO_BLK_S_IOERR */
#define ACC_DONE     4      /* completed, whatever the status */

static struct vblk_dev dev;
static uint64_t guard;                  /* [canary page][buffer page][canary page] */
static uint64_t big, big_bytes;         /* [canary page][big buffer][canary page] */
static uint64_t hdrpage, tbl_a, tbl_b, tbl_big, iobuf;
static uint64_t ram_top;
static uint64_t sig_sector, sig2_sector, ok_sector, victim_sector;
static uint64_t sig_seed = 0x1234567887654321ull;

#define HDR     (hdrpage + 0)           /* request header */
#define STATUS  (hdrpage + 64)          /* status byte, preset 0xff */
#define STATUS2 (hdrpage + 96)
#define BUF     (guard + XFER)

/* Reset, then a write-read-verify of one block. "" on success. */
static const char *recover(char *buf, size_t len)
{
	int r = vblk_reset(&dev);

	if (r) {
		snprintf(buf, len, "reset failed: %s: %s", vblk_result_name(r), dev.err);
		return buf;
	}
	hostile_fill_good(iobuf, XFER);
	r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, ok_sector, iobuf, XFER);
	if (!r) {
		memset((void *)iobuf, 0, XFER);
		r = vblk_rw(&dev, VIRTIO_BLK_T_IN, ok_sector, iobuf, XFER);
	}
	if (r) {
		snprintf(buf, len, "I/O after reset: %s 0x%x", vblk_result_name(r), r);
		return buf;
	}
	if (!hostile_good_ok(iobuf, XFER)) {
		snprintf(buf, len, "I/O after reset read wrong data");
		return buf;
	}
	return "";
}

/* A case's run: the device's answer r (status byte >= 0, or VIRTIO_E_*:
 * NEEDS_RESET, TIMEOUT, ...) after us microseconds. */
struct outcome {
	int r;
	uint32_t len;
	uint64_t us;
	uint8_t dstat;
};

static void describe(char *buf, size_t len, const struct outcome *o)
{
	if (o->r == VIRTIO_E_NEEDS_RESET)
		snprintf(buf, len, "DEVICE_NEEDS_RESET after %lu us (status 0x%x)", o->us, o->dstat);
	else if (o->r >= 0)
		snprintf(buf, len, "completed after %lu us: status byte 0x%02x %s, used len %u", o->us, o->r,
			 vblk_result_name(o->r), o->len);
	else if (o->r == VIRTIO_E_TIMEOUT)
		snprintf(buf, len, "no completion and no DEVICE_NEEDS_RESET in %llu ms (status 0x%x)", WAIT_US / 1000,
			 o->dstat);
	else
		snprintf(buf, len, "%s (status 0x%x)", vblk_result_name(o->r), o->dstat);
}

static bool accepted(const struct outcome *o, unsigned acc)
{
	return (o->r == VIRTIO_E_NEEDS_RESET && (acc & ACC_RESET)) ||
	       (o->r == VIRTIO_BLK_S_IOERR && (acc & ACC_IOERR)) || (o->r >= 0 && (acc & ACC_DONE));
}

/* Canaries, stray MSIs, stats, recovery; then the line. extra_bad (may be
 * NULL) is a case-specific failure found before recovery. */
static void finish(const char *name, unsigned acc, const struct outcome *o, const struct hostile_snap *before,
		   const char *extra_bad)
{
	char st[120], can[64], cnt[80], rec[120], msi[48] = "";

	udelay(10000);                  /* late DMA or MSIs would show up by now */
	describe(st, sizeof(st), o);
	const char *changed = hostile_canaries_changed(can, sizeof(can));
	uint64_t strays = hostile_strays(before);
	if (strays)
		snprintf(msi, sizeof(msi), "; %lu stray MSIs", strays);
	const char *rc = recover(rec, sizeof(rec));
	bool ok = accepted(o, acc) && !changed[0] && !strays && !rc[0] && !(extra_bad && extra_bad[0]);
	hostile_report(name, ok, "%s%s%s%s%s%s%s%s%s", st, changed[0] ? changed : "; canaries intact", msi,
		       extra_bad && extra_bad[0] ? "; " : "", extra_bad ? extra_bad : "",
		       hostile_delta(before, cnt, sizeof(cnt)), rc[0] ? "; " : "", rc[0] ? rc : "; reset, I/O ok",
		       accepted(o, acc) ? "" : (acc & ACC_IOERR ? " [expected DEVICE_NEEDS_RESET or IOERR]"
								 : " [expected DEVICE_NEEDS_RESET]"));
}

/* ---- requests through the driver, with bad buffers ---- */

/* A request of the driver's own making (header and status in its slot)
 * whose data segments are as given. */
static void driver_case(const char *name, unsigned acc, uint32_t type, uint64_t sector, const struct virtq_seg *segs,
			unsigned n, uint64_t ex_lo, uint64_t ex_hi, const char *(*after)(char *, size_t))
{
	struct hostile_snap before;
	struct outcome o;

	hostile_begin(&before);
	hostile_canary_exclude(ex_lo, ex_hi);
	uint64_t t0 = rdtsc();
	o.r = vblk_cmd(&dev, type, sector, segs, n, &o.len);
	o.us = tsc_to_ns(rdtsc() - t0) / 1000;
	o.dstat = vblk_status(&dev);
	char extra[96];
	const char *bad = after ? after(extra, sizeof(extra)) : NULL;
	finish(name, acc, &o, &before, bad);
}

static void read_to(const char *name, uint64_t sector, uint64_t addr, uint32_t len)
{
	struct virtq_seg s = { addr, len, true };

	driver_case(name, ACC_RESET | ACC_IOERR, VIRTIO_BLK_T_IN, sector, &s, 1, 0, 0, NULL);
}

/* The victim sector must still hold what was written before the case. */
static const char *victim_unchanged(char *buf, size_t len)
{
	uint8_t *p = (uint8_t *)iobuf;

	memset(p, 0, XFER);
	vblk_reset(&dev);
	int r = vblk_rw(&dev, VIRTIO_BLK_T_IN, victim_sector, iobuf, XFER);
	if (r) {
		snprintf(buf, len, "reading the target back: %s", vblk_result_name(r));
		return buf;
	}
	for (uint32_t i = 0; i < XFER; i++)
		if (p[i] != (uint8_t)(0x5a ^ i)) {
			snprintf(buf, len, "target sectors OVERWRITTEN (byte %u = 0x%02x)", i, p[i]);
			return buf;
		}
	return "";
}

static void write_from(const char *name, uint64_t addr)
{
	struct virtq_seg s = { addr, XFER, false };

	for (uint32_t i = 0; i < XFER; i++)
		((uint8_t *)iobuf)[i] = (uint8_t)(0x5a ^ i);
	int r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, victim_sector, iobuf, XFER);
	if (r) {
		hostile_report(name, false, "preparing the target: %s", vblk_result_name(r));
		return;
	}
	driver_case(name, ACC_RESET | ACC_IOERR, VIRTIO_BLK_T_OUT, victim_sector, &s, 1, 0, 0, victim_unchanged);
}

/* ---- raw descriptor chains ---- */

struct rawd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define R VIRTQ_DESC_F_NEXT
#define W VIRTQ_DESC_F_WRITE
#define I VIRTQ_DESC_F_INDIRECT

static void write_descs(uint64_t table, const struct rawd *d, unsigned n)
{
	volatile struct virtq_desc *t = (volatile struct virtq_desc *)table;

	for (unsigned i = 0; i < n; i++) {
		t[i].addr = d[i].addr;
		t[i].len = d[i].len;
		t[i].flags = d[i].flags;
		t[i].next = d[i].next;
	}
}

static void set_header(uint32_t type, uint64_t sector)
{
	*(struct vblk_req_hdr *)HDR = (struct vblk_req_hdr){ type, 0, sector };
	*(volatile uint8_t *)STATUS = VBLK_S_NONE;
	*(volatile uint8_t *)STATUS2 = VBLK_S_NONE;
}

/* Waits for DEVICE_NEEDS_RESET or a used entry (status byte at status). */
static void observe(struct outcome *o, uint16_t used_before, uint64_t status)
{
	struct virtq *vq = &dev.vq;
	uint64_t t0 = rdtsc(), hz_us = tsc_hz() / 1000000, check = 0;

	o->r = VIRTIO_E_TIMEOUT;
	o->len = 0;
	for (;;) {
		uint64_t now = rdtsc();
		if (vq->used->idx != used_before) {
			barrier();
			o->len = vq->used->ring[used_before & (vq->size - 1)].len;
			o->r = *(volatile uint8_t *)status;
			break;
		}
		if (now >= check) {
			uint8_t s = vblk_status(&dev);
			if (s == 0xff) {
				o->r = VIRTIO_E_GONE;
				break;
			}
			if (s & VIRTIO_STATUS_NEEDS_RESET) {
				o->r = VIRTIO_E_NEEDS_RESET;
				break;
			}
			check = now + 200 * hz_us;
		}
		if (now - t0 > WAIT_US * hz_us)
			break;
		cpu_relax();
	}
	o->us = tsc_to_ns(rdtsc() - t0) / 1000;
	o->dstat = vblk_status(&dev);
}

/* Ring descriptors 0.. as given, head `head` in the avail ring, the avail
 * index moved `ahead` entries (1: just this one), notified. */
static void raw_run(const char *name, unsigned acc, const struct rawd *d, unsigned n, uint16_t head, uint16_t ahead,
		    uint64_t status)
{
	struct virtq *vq = &dev.vq;
	struct hostile_snap before;
	struct outcome o;

	hostile_begin(&before);
	hostile_canary_exclude(BUF, BUF + XFER);
	uint16_t used_before = vq->used->idx;
	write_descs((uint64_t)vq->desc, d, n);
	virtq_post_raw(vq, head);
	virtq_set_avail_idx_raw(vq, (uint16_t)(vq->avail_idx - 1 + ahead));
	virtq_notify(vq);
	observe(&o, used_before, status);
	finish(name, acc, &o, &before, NULL);
}

static void raw_case(const char *name, unsigned acc, const struct rawd *d, unsigned n, uint16_t head,
		     uint64_t status)
{
	raw_run(name, acc, d, n, head, 1, status);
}

/* An indirect table at table, referenced by ring descriptor 0. */
static void indirect_case(const char *name, uint64_t table, const struct rawd *t, unsigned n, uint32_t table_len,
			  uint16_t head_flags, const struct rawd *more, unsigned nmore)
{
	struct rawd d[4] = { { table, table_len, head_flags, 1 } };

	write_descs(table, t, n);
	for (unsigned i = 0; i < nmore && i < 3; i++)
		d[1 + i] = more[i];
	raw_case(name, ACC_RESET, d, 1 + nmore, 0, STATUS);
}

static void avail_idx_jump(const char *name, uint16_t ahead)
{
	/* Ring slot 0 holds a valid request; the index claims many more. Some
	 * entries may legitimately complete before the device notices. */
	struct rawd d[3] = {
		{ HDR, 16, R, 1 }, { BUF, XFER, R | W, 2 }, { STATUS, 1, W, 0 },
	};
	raw_run(name, ACC_RESET, d, 3, 0, ahead, STATUS);
}

/* ---- Bus Master Enable off ---- */

static void bme_off(void)
{
	struct hostile_snap before;
	struct vblk_done d;
	char rec[120], can[64];

	hostile_begin(&before);
	pci_command(dev.vd.bdf, 0, RT_PCI_CMD_MASTER);
	int slot = vblk_submit(&dev, VIRTIO_BLK_T_IN, sig2_sector, BUF, XFER, 0xb3e);
	vblk_kick(&dev);
	uint64_t t0 = rdtsc(), limit = HOSTILE_BME_WAIT_US * (tsc_hz() / 1000000);
	int n = 0;
	while (rdtsc() - t0 < limit && (n = vblk_reap(&dev, &d, 1)) == 0)
		cpu_relax();
	uint8_t st = vblk_status(&dev);
	const char *changed = hostile_canaries_changed(can, sizeof(can));
	uint64_t strays = hostile_strays(&before);
	pci_command(dev.vd.bdf, RT_PCI_CMD_MASTER, 0);
	const char *rc = recover(rec, sizeof(rec));

	hostile_report_bme(&before, slot >= 0, slot < 0 ? vblk_result_name(slot) : "", n > 0, n > 0 ? d.status : 0,
			   "request", "device status", st, changed, strays, rc);
}

/* ---- the cases ---- */

static void chain_cases(void)
{
	uint16_t n = dev.vq.size;

	/* A chain whose data descriptor's NEXT is itself. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd self[2] = { { HDR, 16, R, 1 }, { BUF, SECT, R | W, 1 } };
	raw_case("chain-loop-self", ACC_RESET, self, 2, 0, STATUS);

	/* Every ring descriptor in one chain whose last links back to the
	 * second: longer than the queue size, and a loop. */
	static struct rawd ring[VIRTQ_MAX_SIZE];
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	ring[0] = (struct rawd){ HDR, 16, R, 1 };
	for (uint16_t i = 1; i < n; i++)
		ring[i] = (struct rawd){ big + (uint64_t)(i - 1) * SECT, SECT, R | W, (uint16_t)(i + 1 < n ? i + 1 : 1) };
	raw_case("chain-cycle-longer-than-queue", ACC_RESET, ring, n, 0, STATUS);

	/* Head index >= queue size in the avail ring. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd ok3[3] = { { HDR, 16, R, 1 }, { BUF, XFER, R | W, 2 }, { STATUS, 1, W, 0 } };
	raw_case("avail-head-out-of-range", ACC_RESET, ok3, 3, n, STATUS);
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	raw_case("avail-head-0xffff", ACC_RESET, ok3, 3, 0xffff, STATUS);

	/* avail->idx jumping more than the queue size ahead. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	avail_idx_jump("avail-idx-jump-size+1", (uint16_t)(n + 1));
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	avail_idx_jump("avail-idx-jump-0x8000", 0x8000);

	/* Header device-writable; status not device-writable; a readable
	 * descriptor after a writable one. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd hw[3] = { { HDR, 16, R | W, 1 }, { BUF, XFER, R | W, 2 }, { STATUS, 1, W, 0 } };
	raw_case("header-device-writable", ACC_RESET, hw, 3, 0, STATUS);
	set_header(VIRTIO_BLK_T_OUT, victim_sector);
	struct rawd sr[3] = { { HDR, 16, R, 1 }, { BUF, XFER, R, 2 }, { STATUS, 1, 0, 0 } };
	raw_case("status-not-device-writable", ACC_RESET, sr, 3, 0, STATUS);
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd order[4] = { { HDR, 16, R, 1 }, { BUF, SECT, R | W, 2 }, { BUF + SECT, SECT, R, 3 },
				 { STATUS, 1, W, 0 } };
	raw_case("readable-after-writable", ACC_RESET, order, 4, 0, STATUS);

	/* Header and status outside RAM. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd ho[3] = { { ram_top, 16, R, 1 }, { BUF, XFER, R | W, 2 }, { STATUS, 1, W, 0 } };
	raw_case("header-above-ram-top", ACC_RESET | ACC_IOERR, ho, 3, 0, STATUS);
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd so[3] = { { HDR, 16, R, 1 }, { BUF, XFER, R | W, 2 }, { ram_top, 1, W, 0 } };
	raw_case("status-above-ram-top", ACC_RESET | ACC_DONE, so, 3, 0, STATUS);
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd zl[3] = { { HDR, 16, R, 1 }, { BUF, 0, R | W, 2 }, { STATUS, 1, W, 0 } };
	raw_case("zero-length-data-descriptor", ACC_RESET | ACC_IOERR | ACC_DONE, zl, 3, 0, STATUS);
}

static void indirect_cases(void)
{
	uint16_t n = dev.vq.size;

	if (!dev.vq.indirect_ok) {
		printf("hostile: indirect-*: skipped (VIRTIO_F_RING_INDIRECT_DESC not negotiated)\n");
		return;
	}
	/* An indirect descriptor inside an indirect table. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd inner[2] = { { BUF, XFER, R | W, 1 }, { STATUS, 1, W, 0 } };
	write_descs(tbl_b, inner, 2);
	struct rawd nested[2] = { { HDR, 16, R, 1 }, { tbl_b, 32, I, 0 } };
	indirect_case("indirect-nested", tbl_a, nested, 2, 32, I, NULL, 0);

	/* INDIRECT together with NEXT. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd t3[3] = { { HDR, 16, R, 1 }, { BUF, XFER, R | W, 2 }, { STATUS, 1, W, 0 } };
	struct rawd tail[1] = { { STATUS2, 1, W, 0 } };
	indirect_case("indirect-with-next", tbl_a, t3, 3, 48, I | R, tail, 1);

	/* Table length not a multiple of 16; table outside RAM. */
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	indirect_case("indirect-table-len-40", tbl_a, t3, 3, 40, I, NULL, 0);
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	struct rawd out[1] = { { ram_top, 48, I, 0 } };
	raw_case("indirect-table-above-ram-top", ACC_RESET, out, 1, 0, STATUS);

	/* A table with more entries than the queue size (no loop). */
	static struct rawd t[VIRTQ_MAX_SIZE + 2];
	unsigned cnt = n + 2u;
	set_header(VIRTIO_BLK_T_IN, sig2_sector);
	t[0] = (struct rawd){ HDR, 16, R, 1 };
	for (unsigned i = 1; i <= n; i++)
		t[i] = (struct rawd){ big + (uint64_t)(i - 1) * SECT, SECT, R | W, (uint16_t)(i + 1) };
	t[n + 1] = (struct rawd){ STATUS, 1, W, 0 };
	indirect_case("indirect-chain-longer-than-queue", tbl_big, t, cnt, 16 * cnt, I, NULL, 0);
}

static long body(void *arg)
{
	(void)arg;
	struct vblk_opts o = { .bdf = -1, .depth = 8, .timeout_us = WAIT_US };
	int r = vblk_open(&dev, &o);

	if (r) {
		printf("virtio-hostile: FAIL: open: %s: %s\n", vblk_result_name(r), dev.err);
		return 2;
	}
	if (dev.capacity < 1024) {
		printf("virtio-hostile: FAIL: disk too small\n");
		return 2;
	}
	sig_sector = 64;
	sig2_sector = 128;
	ok_sector = 192;
	victim_sector = 256;
	big_bytes = ((uint64_t)dev.vq.size * SECT + XFER - 1) & ~(uint64_t)(XFER - 1);
	uint64_t bigguard = rt_alloc(big_bytes + 2 * XFER, XFER);
	tbl_big = rt_alloc(16ull * (dev.vq.size + 2), XFER);
	if (!bigguard || !tbl_big) {
		printf("virtio-hostile: FAIL: out of memory\n");
		return 2;
	}
	big = bigguard + XFER;
	hostile_canary_add(big - XFER, XFER);
	hostile_canary_add(big + big_bytes, XFER);

	ram_top = hostile_ram_top();
	uint64_t hole = pci_mmio_free(XFER, -1, -1);
	char feat[200];
	virtio_feature_names(dev.vd.features, vblk_feature_names, feat, sizeof(feat));
	printf("virtio-hostile: device %02x:%02x.%x, queue %u entries, features %s; RAM top 0x%lx, free MMIO hole page "
	       "0x%lx, stats port %s\n",
	       dev.vd.bdf >> 8, (dev.vd.bdf >> 3) & 31, dev.vd.bdf & 7, dev.vq.size, feat, ram_top, hole,
	       wstats_present() ? "present" : "absent");

	/* Source blocks: the signature (MSI-safe words) at sig_sector, another
	 * at sig2_sector; then no copy of the first stays in RAM. */
	hostile_fill_sig(iobuf, sig_seed, XFER);
	r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, sig_sector, iobuf, XFER);
	hostile_fill_sig(iobuf, sig_seed ^ 0xffff, XFER);
	if (!r)
		r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, sig2_sector, iobuf, XFER);
	memset((void *)iobuf, 0, XFER);
	if (r) {
		printf("virtio-hostile: FAIL: writing the source blocks: %s 0x%x\n", vblk_result_name(r), r);
		return 2;
	}

	/* (1) Data outside RAM: the device writes there (reads) or reads from
	 * there (writes); and a buffer that starts in RAM and ends beyond. */
	read_to("read-to-above-ram-top", sig_sector, ram_top, XFER);
	if (hole)
		read_to("read-to-mmio-hole", sig_sector, hole, XFER);
	else
		hostile_report("read-to-mmio-hole", false, "no free page in the MMIO hole to aim at");
	read_to("read-to-msi-window", sig_sector, HOSTILE_MSI_WINDOW, XFER);
	struct virtq_seg straddle = { ram_top - SECT, XFER, true };
	driver_case("read-straddling-ram-top", ACC_RESET | ACC_IOERR, VIRTIO_BLK_T_IN, sig2_sector, &straddle, 1,
		    ram_top - SECT, ram_top, NULL);
	struct virtq_seg two[2] = { { BUF, SECT, true }, { ram_top, XFER - SECT, true } };
	driver_case("read-second-segment-above-ram-top", ACC_RESET | ACC_IOERR, VIRTIO_BLK_T_IN, sig2_sector, two, 2,
		    BUF, BUF + SECT, NULL);
	write_from("write-from-above-ram-top", ram_top);
	if (hole)
		write_from("write-from-mmio-hole", hole);
	/* (2) Data length not a multiple of 512. */
	struct virtq_seg odd = { BUF, 700, true };
	driver_case("data-len-700", ACC_RESET | ACC_IOERR, VIRTIO_BLK_T_IN, sig2_sector, &odd, 1, BUF, BUF + 700, NULL);
	hostile_scan_ram(sig_seed);

	/* (3) Rings and chains that break the rules. */
	chain_cases();
	/* (4) Indirect tables. */
	indirect_cases();
	/* (5) DMA with Bus Master Enable off. */
	bme_off();

	return hostile_summary("virtio-hostile");
}

int main(void)
{
	guard = rt_alloc(3 * XFER, XFER);
	iobuf = rt_alloc(XFER, XFER);
	hdrpage = rt_alloc(XFER, XFER);
	tbl_a = rt_alloc(XFER, XFER);
	tbl_b = rt_alloc(XFER, XFER);
	RT_ASSERT(guard && iobuf && hdrpage && tbl_a && tbl_b);
	hostile_canary_add(guard, 3 * XFER);
	return (int)hostile_run("virtio-hostile", body, NULL);
}
