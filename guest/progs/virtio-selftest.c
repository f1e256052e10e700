/* virtio-blk driver self-test against the first virtio-blk function on bus
 * 0 (modern virtio-pci): feature negotiation, configuration, GET_ID,
 * write-read-verify over sectors spread across the disk (the last one
 * included) with transfers from 512 B to 128 KiB as direct multi-segment
 * chains, indirect tables (if negotiated) and single segments, queue depth
 * 32, flush, Write Zeroes and Discard (if offered), exact status of invalid
 * requests (IOERR beyond capacity, UNSUPP for an unknown type), and
 * completion by MSI-X (irq=0 skips it). serial=S on the command line also
 * checks the id string. Everything after the interrupt set-up runs in ring
 * 3. Prints "virtio-selftest: PASS" and exits 0 only if all passed. The
 * disk's contents are overwritten. */
#include "rt.h"
#include "virtio_blk.h"

#define VEC_VBLK   0x60
#define MAX_XFER   (128u * 1024)
#define BUF_BYTES  (MAX_XFER + 2 * 4096)
#define MAX_CASES  96
#define QD         32
#define SECT       VBLK_SECTOR

static struct vblk_dev dev;
static unsigned failures, checks;
static uint64_t wbuf, rbuf, qdbuf;
static uint64_t generation = 0x5eed0002;

#define CHECK(cond, ...) do {                                   \
	checks++;                                               \
	if (!(cond)) {                                          \
		failures++;                                     \
		printf("virtio-selftest: FAIL: " __VA_ARGS__);  \
		printf("\n");                                   \
	}                                                       \
} while (0)

/* The 32-bit word i of sector s: depends on the sector, so data written to
 * the wrong place is caught too. */
static uint32_t pattern(uint64_t s, uint64_t i)
{
	uint64_t x = (s * 0x9e3779b97f4a7c15ull) ^ (i * 0xbf58476d1ce4e5b9ull) ^ generation;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 29;
	return (uint32_t)x;
}

static void fill(uint64_t buf, uint64_t sector, uint32_t nsect)
{
	uint32_t *w = (uint32_t *)buf;

	for (uint32_t b = 0; b < nsect; b++)
		for (uint32_t i = 0; i < SECT / 4; i++)
			w[b * (SECT / 4) + i] = pattern(sector + b, i);
}

/* Index of the first wrong word, or -1. */
static long verify(uint64_t buf, uint64_t sector, uint32_t nsect)
{
	const uint32_t *w = (const uint32_t *)buf;

	for (uint32_t b = 0; b < nsect; b++)
		for (uint32_t i = 0; i < SECT / 4; i++)
			if (w[b * (SECT / 4) + i] != pattern(sector + b, i))
				return (long)(b * (SECT / 4) + i);
	return -1;
}

static const char *res(int r)
{
	return vblk_result_name(r);
}

/* ---- write-read-verify ---- */

struct rw_case {
	uint64_t sector;
	uint32_t nsect;
};
static struct rw_case cases[MAX_CASES];
static unsigned ncases;

struct mode {
	const char *name;
	uint8_t indirect;
	uint32_t seg_bytes;
};

static bool overlaps(uint64_t s, uint32_t n)
{
	for (unsigned k = 0; k < ncases; k++)
		if (s < cases[k].sector + cases[k].nsect && cases[k].sector < s + n)
			return true;
	return false;
}

/* Writes from wbuf+woff, reads back into rbuf+roff, compares. */
static bool rw_one(const struct mode *m, uint64_t sector, uint32_t nsect, uint64_t woff, uint64_t roff)
{
	uint32_t len = nsect * SECT;
	int r;

	fill(wbuf + woff, sector, nsect);
	memset((void *)(rbuf + roff), 0xa5, len);
	r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, sector, wbuf + woff, len);
	CHECK(r == 0, "%s: write sector %lu x%u (%u B, offset 0x%lx): %s 0x%x", m->name, sector, nsect, len, woff,
	      res(r), r);
	if (r)
		return false;
	r = vblk_rw(&dev, VIRTIO_BLK_T_IN, sector, rbuf + roff, len);
	CHECK(r == 0, "%s: read sector %lu x%u (%u B, offset 0x%lx): %s 0x%x", m->name, sector, nsect, len, roff,
	      res(r), r);
	if (r)
		return false;
	long bad = verify(rbuf + roff, sector, nsect);
	CHECK(bad < 0, "%s: data mismatch sector %lu x%u (%u B, write offset 0x%lx, read offset 0x%lx) at word %ld",
	      m->name, sector, nsect, len, woff, roff, bad);
	if (bad < 0 && ncases < MAX_CASES)
		cases[ncases++] = (struct rw_case){ sector, nsect };
	return bad < 0;
}

static void test_rw(void)
{
	static const uint32_t sizes[] = { 512, 4096, 8192, 12288, 16384, 65536, 131072 };
	static const uint32_t offsets[] = { 0, 512, 0x104 };
	const struct mode modes[] = {
		{ "direct", VBLK_INDIRECT_OFF, 4096 },
		{ "indirect", VBLK_INDIRECT_ALWAYS, 4096 },
		{ "contiguous", VBLK_INDIRECT_AUTO, VBLK_SEG_CONTIG },
	};
	unsigned slots = RT_ARRAY_SIZE(modes) * RT_ARRAY_SIZE(sizes) * RT_ARRAY_SIZE(offsets) + 8;
	uint64_t stride = dev.capacity / slots, t0 = rdtsc(), rng = 0x2545f4914f6cdd1dull;
	unsigned n = 0, transfers = 0, maxsegs = 0;
	struct vblk_opts saved = dev.opts;
	uint64_t d0 = dev.vq.chains_direct, i0 = dev.vq.chains_indirect;

	for (unsigned md = 0; md < RT_ARRAY_SIZE(modes); md++) {
		const struct mode *m = &modes[md];
		if (m->indirect == VBLK_INDIRECT_ALWAYS && !dev.vq.indirect_ok) {
			printf("virtio-selftest: rw: indirect descriptors not negotiated, that pass skipped\n");
			continue;
		}
		dev.opts.indirect = m->indirect;
		dev.opts.seg_bytes = m->seg_bytes;
		for (unsigned s = 0; s < RT_ARRAY_SIZE(sizes); s++) {
			struct virtq_seg segs[VBLK_MAX_SEGS];
			for (unsigned o = 0; o < RT_ARRAY_SIZE(offsets); o++) {
				int ns = vblk_split(&dev, wbuf + offsets[o], sizes[s], false, segs, dev.max_segs);
				if (ns < 0) {
					printf("virtio-selftest: rw: %u B at offset 0x%x needs more than %u segments: skipped\n",
					       sizes[s], offsets[o], dev.max_segs);
					continue;
				}
				if ((unsigned)ns > maxsegs)
					maxsegs = (unsigned)ns;
				uint64_t sector = (++n) * stride;
				/* Read through a different in-page offset than written. */
				rw_one(m, sector, sizes[s] / SECT, offsets[o], offsets[(o + 1) % RT_ARRAY_SIZE(offsets)]);
				transfers++;
			}
		}
	}
	dev.opts = saved;
	/* First sector, the last 8 (the last one included), the last alone,
	 * and a few random places. */
	const struct mode def = { "default", saved.indirect, saved.seg_bytes };
	rw_one(&def, 0, 16, 0, 0);
	rw_one(&def, dev.capacity - 16, 8, 0, 512);
	rw_one(&def, dev.capacity - 1, 1, 0x104, 0);
	transfers += 3;
	for (unsigned i = 0; i < 4; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint64_t sector = (rng % ((dev.capacity - 17) / 8)) * 8;
		if (!overlaps(sector, 8)) {
			rw_one(&def, sector, 8, 0, 0);
			transfers++;
		}
	}
	unsigned first_pass = ncases, intact = 0;
	/* Everything written must still be there (nothing landed elsewhere). */
	for (unsigned k = 0; k < ncases; k++) {
		struct rw_case *c = &cases[k];
		memset((void *)rbuf, 0x5a, (uint64_t)c->nsect * SECT);
		dev.opts.seg_bytes = VBLK_SEG_CONTIG;   /* fits whatever seg_max is */
		int r = vblk_rw(&dev, VIRTIO_BLK_T_IN, c->sector, rbuf, c->nsect * SECT);
		dev.opts.seg_bytes = saved.seg_bytes;
		long bad = r ? 0 : verify(rbuf, c->sector, c->nsect);
		CHECK(r == 0 && bad < 0, "re-read sector %lu x%u: %s 0x%x, first bad word %ld", c->sector, c->nsect,
		      res(r), r, bad);
		intact += r == 0 && bad < 0;
	}
	printf("virtio-selftest: rw: %u transfers of 512 B..%u KiB verified at sectors 0..%lu (%lu direct chains, "
	       "%lu indirect, up to %u data segments), %u/%u regions intact on re-read, %lu ms\n",
	       transfers, MAX_XFER / 1024, dev.capacity - 1, dev.vq.chains_direct - d0, dev.vq.chains_indirect - i0,
	       maxsegs, intact, first_pass, tsc_to_ns(rdtsc() - t0) / 1000000);
	CHECK(first_pass == transfers, "%u of %u transfers verified", first_pass, transfers);
}

/* ---- queue depth ---- */

/* QD requests in flight at once: writes, then reads, all verified.
 * bytes/offset decide the chain (one page: 3 descriptors; misaligned
 * pages: more, indirect under AUTO). */
static void qd_round(const char *name, uint8_t indirect, uint32_t bytes, uint32_t off, uint64_t base)
{
	unsigned qd = dev.depth < QD ? dev.depth : QD;
	uint32_t nsect = bytes / SECT, stride = 2 * bytes;
	/* Without indirect tables every chain takes header + pages + status
	 * ring descriptors: as many requests as the ring holds. */
	unsigned segs = (unsigned)(((off + bytes + 4095) & ~4095u) - (off & ~4095u)) / 4096;
	bool ind = dev.vq.indirect_ok && indirect != VBLK_INDIRECT_OFF && (indirect == VBLK_INDIRECT_ALWAYS || segs > 1);
	if (!ind && qd > dev.vq.size / (segs + 2))
		qd = dev.vq.size / (segs + 2);
	struct vblk_done done[QD];
	unsigned max_inflight = 0, lens_ok = 0;
	uint8_t saved = dev.opts.indirect;
	uint64_t i0 = dev.vq.chains_indirect;

	dev.opts.indirect = indirect;
	for (int pass = 0; pass < 2; pass++) {
		uint32_t type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		unsigned completed = 0, bad = 0, submitted = 0;
		for (unsigned i = 0; i < qd; i++) {
			uint64_t buf = qdbuf + i * stride + off;
			uint64_t sector = base + (uint64_t)i * nsect * 3;
			if (pass)
				memset((void *)buf, 0, bytes);
			else
				fill(buf, sector, nsect);
			int slot = vblk_submit(&dev, type, sector, buf, bytes, i);
			CHECK(slot >= 0, "%s QD%u: submit %u: %s", name, qd, i, res(slot));
			submitted += slot >= 0;
		}
		if (dev.inflight > max_inflight)
			max_inflight = dev.inflight;
		vblk_kick(&dev);
		while (completed < submitted) {
			int n = vblk_wait(&dev, done, QD, 5000000);
			if (n < 0) {
				CHECK(0, "%s QD%u %s: waiting: %s (%u/%u done, device status 0x%x)", name, qd,
				      pass ? "read" : "write", res(n), completed, qd, vblk_status(&dev));
				dev.opts.indirect = saved;
				return;
			}
			for (int k = 0; k < n; k++) {
				unsigned i = (unsigned)done[k].tag;
				completed++;
				lens_ok += done[k].len == (pass ? bytes + 1 : 1);
				if (done[k].status) {
					bad++;
					continue;
				}
				if (pass && verify(qdbuf + i * stride + off, base + (uint64_t)i * nsect * 3, nsect) >= 0)
					bad++;
			}
		}
		CHECK(bad == 0, "%s QD%u %s: %u of %u requests failed or read wrong data", name, qd,
		      pass ? "read" : "write", bad, qd);
	}
	dev.opts.indirect = saved;
	CHECK(dev.inflight == 0 && dev.bogus == 0 && dev.vq.bogus == 0 && dev.vq.nfree == dev.vq.size,
	      "%s QD%u: %u still in flight, %lu+%lu bogus completions, %u/%u descriptors free", name, qd, dev.inflight,
	      dev.bogus, dev.vq.bogus, dev.vq.nfree, dev.vq.size);
	CHECK(max_inflight == qd, "%s: only %u of %u requests were in flight at once", name, max_inflight, qd);
	printf("virtio-selftest: queue depth: %s: %u writes then %u reads of %u B in flight at once (%u), verified; "
	       "%lu indirect; used len exact for %u/%u%s\n",
	       name, qd, qd, bytes, max_inflight, dev.vq.chains_indirect - i0, lens_ok, 2 * qd,
	       qd < QD && qd < dev.depth ? " (depth limited by the ring: no indirect descriptors)" : "");
}

static void test_queue_depth(void)
{
	uint64_t n0 = dev.vq.notifies, s0 = dev.vq.notifies_skipped;

	qd_round("direct", VBLK_INDIRECT_OFF, 4096, 0, dev.capacity / 2 + 1024);
	qd_round("multi-segment", VBLK_INDIRECT_AUTO, 8192, 0x200, dev.capacity / 2 + 4096);
	printf("virtio-selftest: notifications: %lu sent, %lu suppressed by the device (%s)\n", dev.vq.notifies - n0,
	       dev.vq.notifies_skipped - s0, dev.vq.event_idx ? "avail_event" : "NO_NOTIFY flag");
}

/* ---- flush, write zeroes, discard ---- */

static void test_flush_zeroes_discard(void)
{
	int r;

	if (vblk_has(&dev, VIRTIO_BLK_F_FLUSH)) {
		r = vblk_flush(&dev);
		CHECK(r == 0, "flush: %s 0x%x", res(r), r);
		if (!r)
			printf("virtio-selftest: flush ok\n");
	} else {
		printf("virtio-selftest: flush: not offered (no VIRTIO_BLK_F_FLUSH)\n");
	}

	if (vblk_has(&dev, VIRTIO_BLK_F_WRITE_ZEROES)) {
		/* 16 sectors zeroed between two written neighbours, with and
		 * without the unmap flag. */
		for (int unmap = 0; unmap < 2; unmap++) {
			uint64_t s = dev.capacity / 3 + 77 + (uint64_t)unmap * 64;
			uint32_t nb = 16;
			if (dev.max_wz_sectors && nb > dev.max_wz_sectors)
				nb = dev.max_wz_sectors;
			fill(wbuf, s - 1, nb + 2);
			r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, s - 1, wbuf, (nb + 2) * SECT);
			CHECK(r == 0, "write zeroes: preparing write: %s 0x%x", res(r), r);
			r = vblk_write_zeroes(&dev, s, nb, unmap);
			CHECK(r == 0, "write zeroes sector %lu x%u%s: %s 0x%x", s, nb, unmap ? " (unmap)" : "", res(r), r);
			memset((void *)rbuf, 0xa5, (uint64_t)(nb + 2) * SECT);
			r = vblk_rw(&dev, VIRTIO_BLK_T_IN, s - 1, rbuf, (nb + 2) * SECT);
			CHECK(r == 0, "write zeroes: read back: %s 0x%x", res(r), r);
			const uint8_t *p = (const uint8_t *)(rbuf + SECT);
			uint64_t nonzero = 0;
			for (uint64_t i = 0; i < (uint64_t)nb * SECT; i++)
				nonzero += p[i] != 0;
			CHECK(nonzero == 0, "write zeroes%s: %lu non-zero bytes read back", unmap ? " (unmap)" : "", nonzero);
			CHECK(verify(rbuf, s - 1, 1) < 0 && verify(rbuf + (uint64_t)(nb + 1) * SECT, s + nb, 1) < 0,
			      "write zeroes%s: a neighbouring sector changed", unmap ? " (unmap)" : "");
			if (!nonzero && !r)
				printf("virtio-selftest: write zeroes%s of %u sectors reads back zero, neighbours intact "
				       "(max %u sectors, %u segments, may_unmap %u)\n", unmap ? " (unmap)" : "", nb,
				       dev.max_wz_sectors, dev.max_wz_seg, dev.wz_may_unmap);
		}
	} else {
		printf("virtio-selftest: write zeroes: not offered\n");
	}

	if (vblk_has(&dev, VIRTIO_BLK_F_DISCARD)) {
		uint32_t align = dev.discard_align ? dev.discard_align : 8;
		uint64_t s = (dev.capacity / 5 / align) * align;
		uint32_t nb = 8 * align;
		if (dev.max_discard_sectors && nb > dev.max_discard_sectors)
			nb = dev.max_discard_sectors;
		r = vblk_discard(&dev, s, nb);
		CHECK(r == 0, "discard sector %lu x%u: %s 0x%x", s, nb, res(r), r);
		/* After a discard the contents are undefined; reading must work. */
		int rr = vblk_rw(&dev, VIRTIO_BLK_T_IN, s, rbuf, nb * SECT);
		CHECK(rr == 0, "read after discard: %s 0x%x", res(rr), rr);
		if (!r && !rr)
			printf("virtio-selftest: discard of %u sectors ok (max %u sectors, %u segments, alignment %u)\n",
			       nb, dev.max_discard_sectors, dev.max_discard_seg, dev.discard_align);
	} else {
		printf("virtio-selftest: discard: not offered\n");
	}
}

/* ---- error cases ---- */

static void expect(const char *what, int got, int want)
{
	CHECK(got == want, "%s: got %s 0x%x, want %s", what, res(got), got, res(want));
	if (got == want)
		printf("virtio-selftest: error case: %s -> %s ok\n", what, res(want));
}

static void test_errors(void)
{
	char what[96];
	uint8_t *s;
	struct virtq_seg seg;

	snprintf(what, sizeof(what), "read at sector %lu = capacity", dev.capacity);
	expect(what, vblk_rw(&dev, VIRTIO_BLK_T_IN, dev.capacity, rbuf, SECT), VIRTIO_BLK_S_IOERR);
	expect("read of 2 sectors from the last one", vblk_rw(&dev, VIRTIO_BLK_T_IN, dev.capacity - 1, rbuf, 2 * SECT),
	       VIRTIO_BLK_S_IOERR);
	snprintf(what, sizeof(what), "write at sector %lu = capacity", dev.capacity);
	fill(wbuf, dev.capacity, 1);
	expect(what, vblk_rw(&dev, VIRTIO_BLK_T_OUT, dev.capacity, wbuf, SECT), VIRTIO_BLK_S_IOERR);
	expect("read at sector 2^63", vblk_rw(&dev, VIRTIO_BLK_T_IN, 1ull << 63, rbuf, SECT), VIRTIO_BLK_S_IOERR);
	if (vblk_has(&dev, VIRTIO_BLK_F_WRITE_ZEROES)) {
		snprintf(what, sizeof(what), "write zeroes at sector %lu = capacity", dev.capacity);
		expect(what, vblk_write_zeroes(&dev, dev.capacity, 1, false), VIRTIO_BLK_S_IOERR);
	}
	/* An unknown request type, with a readable and a writable segment. */
	seg = (struct virtq_seg){ rbuf, SECT, true };
	expect("request type 0x7f", vblk_cmd(&dev, 0x7f, 0, &seg, 1, NULL), VIRTIO_BLK_S_UNSUPP);
	expect("request type 0x7f, no data", vblk_cmd(&dev, 0x7f, 0, NULL, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	if (!vblk_has(&dev, VIRTIO_BLK_F_DISCARD))
		expect("discard, not negotiated", vblk_discard(&dev, 0, 8), VIRTIO_BLK_S_UNSUPP);

	/* The device still works after all that, and the disk's last sector
	 * was not written by the refused write. */
	int h = virtio_health(&dev.vd);
	CHECK(h == 0, "after the error cases: %s (device status 0x%x)", res(h), vblk_status(&dev));
	s = (uint8_t *)rbuf;
	memset(s, 0, SECT);
	int r = vblk_rw(&dev, VIRTIO_BLK_T_IN, dev.capacity - 1, rbuf, SECT);
	CHECK(r == 0, "read after the error cases: %s 0x%x", res(r), r);
}

/* ---- interrupts ---- */

static void test_irq(void)
{
	struct virtq *vq = &dev.vq;
	uint64_t base = dev.capacity / 4 + 333;
	unsigned ios = 0, qd = dev.depth < 8 ? dev.depth : 8;

	if (!dev.vq.indirect_ok && qd > dev.vq.size / 3u)
		qd = dev.vq.size / 3u;          /* direct chains of 3 descriptors */

	dev.opts.irq = true;
	int r = vblk_reset(&dev);
	CHECK(r == 0, "irq: reset into interrupt mode: %s (%s)", res(r), dev.err);
	if (r)
		return;
	uint64_t irq0 = vq->irqs;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t before = vq->irqs, s = base + i * 8;
		fill(wbuf, s, 8);
		r = vblk_rw(&dev, VIRTIO_BLK_T_OUT, s, wbuf, 4096);
		CHECK(r == 0 && vq->irqs > before, "irq: write %u: %s 0x%x, interrupts %lu -> %lu", i, res(r), r, before,
		      vq->irqs);
		before = vq->irqs;
		memset((void *)rbuf, 0, 4096);
		r = vblk_rw(&dev, VIRTIO_BLK_T_IN, s, rbuf, 4096);
		CHECK(r == 0 && vq->irqs > before && verify(rbuf, s, 8) < 0, "irq: read %u: %s 0x%x, interrupts %lu -> %lu",
		      i, res(r), r, before, vq->irqs);
		ios += 2;
	}
	/* A batch: qd reads in flight, completions found after interrupts. */
	struct vblk_done done[8];
	for (unsigned i = 0; i < qd; i++)
		CHECK(vblk_submit(&dev, VIRTIO_BLK_T_IN, base + (i % 4) * 8, qdbuf + i * 8192, 4096, i) >= 0,
		      "irq: submit %u", i);
	vblk_kick(&dev);
	for (unsigned got = 0; got < qd;) {
		int n = vblk_wait(&dev, done, 8, 5000000);
		if (n < 0) {
			CHECK(0, "irq: batch: %s after %u/%u", res(n), got, qd);
			break;
		}
		for (int k = 0; k < n; k++) {
			unsigned i = (unsigned)done[k].tag;
			CHECK(done[k].status == 0 && verify(qdbuf + i * 8192, base + (i % 4) * 8, 8) < 0,
			      "irq: batch read %u: status 0x%x or data", i, done[k].status);
		}
		got += (unsigned)n;
		ios += (unsigned)n;
	}
	printf("virtio-selftest: irq: %u I/Os completed by MSI-X (queue: entry %u vector 0x%x, %lu interrupts; "
	       "config: vector 0x%x, %lu interrupts)\n",
	       ios, vq->msix_entry, vq->vector, vq->irqs - irq0, dev.vd.config_vector, dev.vd.config_irqs);
	/* Back to polling for whoever comes next. */
	dev.opts.irq = false;
	r = vblk_reset(&dev);
	CHECK(r == 0, "irq: reset back to polling: %s (%s)", res(r), dev.err);
	if (!r) {
		r = vblk_rw(&dev, VIRTIO_BLK_T_IN, base, rbuf, 4096);
		CHECK(r == 0 && verify(rbuf, base, 8) < 0, "irq: polled read after reset: %s 0x%x", res(r), r);
	}
}

/* ---- main ---- */

static void print_device(uint64_t open_us)
{
	struct virtio_dev *vd = &dev.vd;
	char offered[320], got[320];

	printf("virtio-selftest: device %02x:%02x.%x (1af4:%04x): common BAR%u+0x%x, notify BAR%u+0x%x (multiplier %u), "
	       "ISR BAR%u+0x%x, device BAR%u+0x%x (%u B); %u queues, queue 0: %u entries, notify offset %u; open %lu us\n",
	       vd->bdf >> 8, (vd->bdf >> 3) & 31, vd->bdf & 7, vd->pci_device, vd->common.bar, vd->common.offset,
	       vd->notify.bar, vd->notify.offset, vd->notify_mult, vd->isr.bar, vd->isr.offset, vd->device.bar,
	       vd->device.offset, vd->device.len, vd->num_queues, dev.vq.size, dev.vq.notify_off, open_us);
	virtio_feature_names(vd->offered, vblk_feature_names, offered, sizeof(offered));
	virtio_feature_names(vd->features, vblk_feature_names, got, sizeof(got));
	printf("virtio-selftest: features offered 0x%lx: %s\n", vd->offered, offered);
	printf("virtio-selftest: features negotiated 0x%lx: %s\n", vd->features, got);
	printf("virtio-selftest: capacity %lu sectors (%lu MiB), blk_size %u, seg_max %u, size_max %u, "
	       "physical block 2^%u, min_io %u, opt_io %u; %u data segments per request, depth %u\n",
	       dev.capacity, dev.capacity >> 11, dev.blk_size, dev.seg_max, dev.size_max, dev.phys_block_exp,
	       dev.min_io_size, dev.opt_io_size, dev.max_segs, dev.depth);
}

static long body(void *arg)
{
	bool irq = (bool)(uintptr_t)arg;
	struct vblk_opts o = { .bdf = -1, .depth = QD };
	uint64_t t0 = rdtsc();

	int r = vblk_open(&dev, &o);
	if (r) {
		printf("virtio-selftest: FAIL: open: %s: %s\n", res(r), dev.err);
		return 1;
	}
	print_device(tsc_to_ns(rdtsc() - t0) / 1000);
	CHECK(dev.vd.features & VIRTIO_BIT(VIRTIO_F_VERSION_1), "VERSION_1 not negotiated");
	CHECK(!(dev.vd.features & ~dev.vd.offered), "negotiated features 0x%lx not all offered (0x%lx)",
	      dev.vd.features, dev.vd.offered);
	CHECK(dev.capacity >= 2048, "disk too small (%lu sectors)", dev.capacity);
	CHECK(!vblk_has(&dev, VIRTIO_BLK_F_RO), "the disk is read-only");
	if (failures)
		return 1;

	char id[VIRTIO_BLK_ID_BYTES + 1], want[VIRTIO_BLK_ID_BYTES + 1];
	r = vblk_get_id(&dev, id);
	CHECK(r == 0, "GET_ID: %s 0x%x", res(r), r);
	if (rt_cmdline_get("serial", want, sizeof(want)) >= 0)
		CHECK(!strcmp(id, want), "GET_ID: serial '%s', expected '%s'", id, want);
	if (!r)
		printf("virtio-selftest: GET_ID: serial '%s'\n", id);

	test_rw();
	test_queue_depth();
	test_flush_zeroes_discard();
	test_errors();
	if (irq)
		test_irq();
	else
		printf("virtio-selftest: irq: skipped (irq=0)\n");
	CHECK(dev.bogus == 0 && dev.vq.bogus == 0, "%lu + %lu completions for no request of ours", dev.bogus,
	      dev.vq.bogus);
	printf("virtio-selftest: %u checks, %u failed, %lu ms\n", checks, failures, tsc_to_ns(rdtsc() - t0) / 1000000);
	return failures ? 1 : 0;
}

int main(void)
{
	uint64_t v = 1;
	bool irq = !(rt_cmdline_u64("irq", &v) && v == 0);

	wbuf = rt_alloc(BUF_BYTES, 4096);
	rbuf = rt_alloc(BUF_BYTES, 4096);
	qdbuf = rt_alloc(QD * 8192ull * 2, 4096);
	RT_ASSERT(wbuf && rbuf && qdbuf);
	if (irq && vblk_irq_init(VEC_VBLK)) {
		printf("virtio-selftest: FAIL: cannot register vectors 0x%x/0x%x\n", VEC_VBLK, VEC_VBLK + 1);
		return 1;
	}
	long r = run_in_ring3(body, (void *)(uintptr_t)irq);
	if (r) {
		if (checks)
			printf("virtio-selftest: FAIL (%u of %u checks failed)\n", failures, checks);
		else
			printf("virtio-selftest: FAIL\n");
		return 1;
	}
	printf("virtio-selftest: PASS\n");
	return 0;
}
