/* libFuzzer harness: a virtio-blk PCI function (virtio_pci.c, virtqueue.c,
 * virtio_blk.c) as a hostile guest driver sees it, on a host bridge with
 * real PIO and MMIO buses: common/ISR/device configuration and
 * notifications through BAR4 with accesses of every width at every
 * offset, feature negotiation, queue setup, device status (reset and
 * FAILED included), the MSI-X table in BAR1, config space through ECAM
 * (Bus Master Enable, INTx disable, MSI-X control, the PCI_CFG window),
 * function resets; and guest RAM holding whatever the input puts there:
 * descriptor tables (direct, chained, indirect, loops, bad lengths and
 * addresses), available rings and indices, request headers and data.
 *
 * The device runs without its I/O thread: virtio_blk_pci_poll() is the
 * thread's round, called synchronously (one round, or drain: until nothing
 * is in flight), so every input replays the same way. The disk is a RAM
 * backend (completes inside submit) or - configuration bit 4 - a harness
 * backend over the same kind of memory that completes only when polled or
 * when the input says so, in order or newest first, with I/O errors of the
 * input's choosing: requests stay in flight across register writes, resets
 * and Bus Master Enable changes.
 *
 * Input: one configuration byte (bits 1:0 queues - 1, bits 3:2 maximum
 * queue size 4/16/64/256, bit 4 deferred backend, bit 5 read-only disk,
 * bit 6 no MSI-X (INTx), bit 7 deferred completions newest first), then
 * operations (see the switch below) until the input ends. The disk is
 * 256 KiB: the 64 MiB budget of data in flight is left to the unit tests
 * (test_inflight_limits), filling it costs ~0.2 s per input here.
 * Guest-physical layout the seeds use (the input may point anything
 * anywhere): queue q's descriptor table at 0x10000 + q * 0x10000, its
 * driver area 0x4000 and device area 0x8000 above; indirect tables at
 * 0x50000 (4 KiB each), request headers at 0x60000 (16 bytes each),
 * status bytes at 0x61000, data from 0x80000.
 *
 * Findings (trap) beyond sanitizer reports and canary damage:
 *  - process_queue called (requests taken from a ring) while the status
 *    lacks DRIVER_OK or has NEEDS_RESET or FAILED;
 *  - a queue's used index ahead of the entries it took from the available
 *    ring, more entries outstanding than the queue holds, or requests in
 *    flight that no ring entry accounts for (without NEEDS_RESET, every
 *    entry taken is either in flight or answered) - the device's indices:
 *    the word in guest RAM may hold data the guest pointed there;
 *  - requests (or backend operations) left in flight after a drain, or on
 *    the RAM backend after any call; in-flight bytes held with nothing in
 *    flight;
 *  - an MSI whose address/data is no unmasked vector the device assigned
 *    (config or queue vector) or left pending; an MSI-X notify refused
 *    (vector out of range); INTx asserted with an empty ISR, with INTx
 *    disabled or with MSI-X on;
 *  - DRIVER_OK without FEATURES_OK; a queue enabled that is not ready or
 *    the reverse; state left after a reset. */
#include <errno.h>

#include "fuzz_common.h"
#include "fuzz_blk.h"
#include "backend/blk_internal.h"
#include "devices/virtio_blk.h"

#define FZ_MAX_OPS      128
#define RAM_SIZE        (2 * FZ_MiB)
#define DISK_SIZE       (256 * 1024)
#define ECAM_BASE       0xb0000000ull
#define VB_DEVFN        PCI_DEVFN(4, 0)
#define MAX_NQ          4

#define G_DESC(q)       (0x10000ull + (uint64_t)(q) * 0x10000)
#define G_AVAIL(q)      (G_DESC(q) + 0x4000)
#define G_USED(q)       (G_DESC(q) + 0x8000)
#define G_IND(k)        (0x50000ull + (uint64_t)(k) * 0x1000)
#define G_HDR(s)        (0x60000ull + (uint64_t)(s) * 16)
#define G_STATUS(s)     (0x61000ull + (uint64_t)(s))
#define G_DATA          0x80000ull
#define G_DATA_END      RAM_SIZE

#define ST_ALL          (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
			 VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)

static struct fz_ram R;
static bool trace;                      /* FUZZ_TRACE=1: state after every op */

/* ---- The function on its buses ---- */

struct dq {                             /* a queue as the driver keeps it */
	uint16_t size, avail, used, next;
};

static struct {
	struct bus pio, mmio;
	struct pci_host host;
	struct virtio_blk_pci v;
	struct blk_backend *blk;
	struct fz_blk *deferred;        /* blk, when it is the deferred backend */
	struct dma_as as;
	unsigned nq;
	uint16_t qmax;
	struct dq q[MAX_NQ];
	int intx;                       /* level of the INTx line */
	uint64_t msis;
	uint64_t pending;               /* PBA bits after the last operation */
	uint64_t processed;             /* process_queue calls */
} S;

static const struct virtio_device_ops *real_ops;
static struct virtio_device_ops wrap_ops;

static struct pci_device *dev(void) { return virtio_blk_pci_dev(&S.v); }
static uint64_t bar4(void) { return dev()->bars[VIRTIO_PCI_BAR].addr; }
static uint64_t bar1(void) { return dev()->bars[VIRTIO_PCI_MSIX_BAR].addr; }

static bool processing_allowed(uint8_t st)
{
	return (st & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

/* The transport calls this with its lock held, i.e. at a point where it
 * decided the device may take requests from the rings. */
static int wrap_process_queue(void *d, struct virtq *vq)
{
	uint8_t st = S.v.t.status;

	FZ_CHECK(processing_allowed(st), "queue %u processed with device status 0x%02x",
		 vq->index, st);
	S.processed++;
	return real_ops->process_queue(d, vq);
}

static bool vector_assigned(unsigned v)
{
	if (v == S.v.t.config_vector)
		return true;
	for (unsigned i = 0; i < S.nq; i++)
		if (S.v.t.queues[i].msix_vector == v)
			return true;
	return false;
}

/* Runs inside pci_msix_notify (device and d->lock held by this thread):
 * the vector table is read directly, not through the locked accessors. */
static int msi_send_fake(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	const struct pci_msix *m = &dev()->msix;
	bool ok = false;

	FZ_CHECK(rid == dev()->bdf, "MSI with requester id %04x", rid);
	FZ_CHECK(m->enabled && !m->function_masked, "MSI while MSI-X is %s",
		 m->enabled ? "function-masked" : "off");
	for (unsigned v = 0; v < m->nvec && !ok; v++)
		ok = m->vec[v].addr == addr && m->vec[v].data == data && !m->vec[v].masked &&
		     (vector_assigned(v) || (S.pending >> v & 1));
	FZ_CHECK(ok, "MSI 0x%llx/0x%x is no unmasked vector assigned or pending",
		 (unsigned long long)addr, data);
	S.msis++;
	return 0;
}

static const struct msi_sink msi = { .send = msi_send_fake };

static void intx_set(void *opaque, unsigned pin, int level)
{
	S.intx = level;
}

/* ---- Guest's accesses ---- */

static void wr(uint64_t off, uint64_t v, unsigned len)
{
	bus_write(&S.mmio, bar4() + off, v, len);
}

static uint64_t rd(uint64_t off, unsigned len)
{
	uint64_t v = 0;

	bus_read(&S.mmio, bar4() + off, &v, len);
	return v;
}

static void ecam_write(uint32_t reg, uint32_t v, unsigned len)
{
	bus_write(&S.mmio, ECAM_BASE + ((uint64_t)VB_DEVFN << 12 | reg), v, len);
}

static uint32_t ecam_read(uint32_t reg, unsigned len)
{
	uint64_t v = 0;

	bus_read(&S.mmio, ECAM_BASE + ((uint64_t)VB_DEVFN << 12 | reg), &v, len);
	return (uint32_t)v;
}

static void *gp(uint64_t gpa, uint64_t len)
{
	return gpa < RAM_SIZE && len <= RAM_SIZE - gpa ? R.ram + gpa : NULL;
}

static void put16(uint64_t gpa, uint16_t v)
{
	void *p = gp(gpa, 2);

	if (p)
		memcpy(p, &v, 2);
}

/* Firmware and driver setup of the function: BARs placed, decode and bus
 * mastering on, and (msix) MSI-X enabled with vector v sending data
 * 0x40 + v. */
static void pci_setup(bool msix)
{
	const struct pci_device *d = dev();
	int ret = pci_host_assign_resources(&S.host, 0xc0000000ull, 0xfec00000ull, 0, 0, 0x1000,
					    0x10000);

	FZ_CHECK(ret == 0, "assign resources: %d", ret);
	ecam_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	if (!msix)
		return;
	for (unsigned v = 0; v <= S.nq; v++) {
		uint64_t e = bar1() + VIRTIO_PCI_MSIX_TABLE + v * 16ull;

		bus_write(&S.mmio, e, 0xfee00000u, 4);
		bus_write(&S.mmio, e + 4, 0, 4);
		bus_write(&S.mmio, e + 8, 0x40 + v, 4);
		bus_write(&S.mmio, e + 12, 0, 4);
	}
	ecam_write(d->msix.cap_off + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
}

/* The driver's ring size for q: what it wrote, if usable for indexing. */
static uint16_t dsize(unsigned q)
{
	uint16_t s = S.q[q].size;

	return s && !(s & (s - 1)) && s <= S.qmax ? s : S.qmax;
}

static void queue_setup(unsigned q, uint16_t size, uint16_t vector, uint64_t desc, uint64_t avail,
			uint64_t used, bool halves)
{
	bool was = q < S.nq && S.v.t.queues[q].enabled;

	wr(VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, size, 2);
	wr(VIRTIO_PCI_COMMON_Q_MSIX, vector, 2);
	if (halves) {                   /* as Linux: 32-bit halves */
		wr(VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)desc, 4);
		wr(VIRTIO_PCI_COMMON_Q_DESCHI, desc >> 32, 4);
		wr(VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)avail, 4);
		wr(VIRTIO_PCI_COMMON_Q_AVAILHI, avail >> 32, 4);
		wr(VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)used, 4);
		wr(VIRTIO_PCI_COMMON_Q_USEDHI, used >> 32, 4);
	} else {
		wr(VIRTIO_PCI_COMMON_Q_DESCLO, desc, 8);
		wr(VIRTIO_PCI_COMMON_Q_AVAILLO, avail, 8);
		wr(VIRTIO_PCI_COMMON_Q_USEDLO, used, 8);
	}
	wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	/* The driver's indices start over with a queue the device took. */
	if (q < S.nq && !was && S.v.t.queues[q].enabled)
		S.q[q] = (struct dq){ .size = size };
}

static uint64_t device_features(void)
{
	uint64_t lo;

	wr(VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	lo = rd(VIRTIO_PCI_COMMON_DF, 4);
	wr(VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	return lo | rd(VIRTIO_PCI_COMMON_DF, 4) << 32;
}

/* ---- Checks ---- */

static void check_dev(void)
{
	struct virtio_pci *t = &S.v.t;
	uint64_t outstanding = 0;
	uint8_t st = t->status;

	FZ_CHECK(!(st & ~ST_ALL), "status 0x%02x", st);
	FZ_CHECK(!(st & VIRTIO_CONFIG_S_DRIVER_OK) || (st & VIRTIO_CONFIG_S_FEATURES_OK),
		 "status 0x%02x: DRIVER_OK without FEATURES_OK", st);
	FZ_CHECK(!t->resetting, "reset left half done");
	for (unsigned i = 0; i < S.nq; i++) {
		const struct virtio_pci_queue *q = &t->queues[i];
		const struct virtq *vq = &q->vq;

		FZ_CHECK(q->enabled == vq->ready, "queue %u enabled %d, ring ready %d", i, q->enabled,
			 vq->ready);
		FZ_CHECK(vq->stats.pushed <= vq->stats.popped,
			 "queue %u: %llu used entries for %llu taken from the ring", i,
			 (unsigned long long)vq->stats.pushed, (unsigned long long)vq->stats.popped);
		FZ_CHECK(vq->stats.popped - vq->stats.pushed <= (vq->ready ? vq->size : 0),
			 "queue %u of size %u: %llu entries outstanding", i, vq->size,
			 (unsigned long long)(vq->stats.popped - vq->stats.pushed));
		FZ_CHECK(vq->used_idx == (uint16_t)vq->stats.pushed &&
			 vq->last_avail == (uint16_t)vq->stats.popped,
			 "queue %u: used idx %u for %llu pushed, last_avail %u for %llu popped", i,
			 vq->used_idx, (unsigned long long)vq->stats.pushed, vq->last_avail,
			 (unsigned long long)vq->stats.popped);
		FZ_CHECK((uint16_t)(vq->used_idx - vq->published) <= vq->size,
			 "queue %u: used idx %u, published %u", i, vq->used_idx, vq->published);
		FZ_CHECK(q->msix_vector == VIRTIO_MSI_NO_VECTOR || q->msix_vector <= S.nq,
			 "queue %u on vector %u", i, q->msix_vector);
		outstanding += vq->stats.popped - vq->stats.pushed;
	}
	FZ_CHECK(t->config_vector == VIRTIO_MSI_NO_VECTOR || t->config_vector <= S.nq,
		 "config vector %u", t->config_vector);
	/* Every entry taken is in flight or answered, unless the device gave
	 * up on one (bad input: it needs a reset to give buffers back). */
	if (st & VIRTIO_CONFIG_S_NEEDS_RESET)
		FZ_CHECK(outstanding >= S.v.blk.inflight, "%u in flight, %llu ring entries",
			 S.v.blk.inflight, (unsigned long long)outstanding);
	else
		FZ_CHECK(outstanding == S.v.blk.inflight, "%u requests in flight, %llu ring entries "
			 "outstanding", S.v.blk.inflight, (unsigned long long)outstanding);
	FZ_CHECK(S.blk->inflight <= S.v.blk.inflight, "%u backend operations for %u requests",
		 S.blk->inflight, S.v.blk.inflight);
	/* The in-flight byte budget comes back with the requests, or the
	 * device would wait for completions that never come. */
	FZ_CHECK(S.v.blk.inflight || !S.v.blk.inflight_bytes, "%llu bytes held with nothing in flight",
		 (unsigned long long)S.v.blk.inflight_bytes);
	if (!S.deferred)
		FZ_CHECK(S.blk->inflight == 0, "RAM backend with %u in flight", S.blk->inflight);
	FZ_CHECK(t->stats.irq_errors == 0, "%llu MSI-X notifies refused",
		 (unsigned long long)t->stats.irq_errors);
	if (S.intx) {
		uint16_t cmd = (uint16_t)pci_config_read(dev(), PCI_COMMAND, 2);

		FZ_CHECK(t->isr, "INTx asserted with ISR 0");
		FZ_CHECK(!(cmd & PCI_COMMAND_INTX_DISABLE) && !pci_msix_enabled(dev()),
			 "INTx asserted with command 0x%04x, MSI-X %d", cmd, pci_msix_enabled(dev()));
	}
	S.pending = 0;
	for (unsigned v = 0; v < dev()->msix.nvec && v < 64; v++)
		if (dev()->msix.vec[v].pending)
			S.pending |= 1ull << v;
}

static void check_reset_state(void)
{
	const struct virtio_pci *t = &S.v.t;

	FZ_CHECK(t->status == 0 && t->isr == 0 && t->driver_features == 0 &&
		 t->config_vector == VIRTIO_MSI_NO_VECTOR && S.v.blk.inflight == 0,
		 "after reset: status 0x%02x isr %u features 0x%llx, %u in flight", t->status,
		 t->isr, (unsigned long long)t->driver_features, S.v.blk.inflight);
	for (unsigned i = 0; i < S.nq; i++)
		FZ_CHECK(!t->queues[i].enabled && !t->queues[i].vq.ready &&
			 t->queues[i].vq.stats.popped == 0, "queue %u survived the reset", i);
}

static void poll_dev(bool drain)
{
	uint8_t st = S.v.t.status;
	uint64_t processed = S.processed;
	int ret = virtio_blk_pci_poll(&S.v, drain);

	FZ_CHECK(ret == 0, "poll: %d", ret);
	if (!processing_allowed(st))
		FZ_CHECK(S.processed == processed, "processed with status 0x%02x", st);
	if (drain)
		FZ_CHECK(S.v.blk.inflight == 0 && S.blk->inflight == 0,
			 "%u requests, %u backend operations in flight after a drain",
			 S.v.blk.inflight, S.blk->inflight);
}

/* ---- Operands ---- */

/* Guest addresses for buffers: data pages, odd offsets in them, the rings
 * and request structures themselves, or anything. */
static uint64_t pick_gpa(struct fz *f)
{
	uint8_t m = fz_u8(f);
	unsigned k = m >> 2;

	switch (m & 3) {
	case 0: return G_DATA + (uint64_t)k * 0x1000;
	case 1: return G_DATA + (uint64_t)k * 0x1000 + (fz_u16(f) & 0xfff);
	case 2: {
		static const uint64_t at[] = {
			G_DESC(0), G_AVAIL(0), G_USED(0), G_DESC(1), G_AVAIL(1), G_USED(1),
			G_IND(0), G_HDR(0), G_STATUS(0), G_DATA_END - 0x800, G_DATA_END - 1,
			G_USED(0) + 4, G_AVAIL(0) + 2, G_USED(0) + 2, 0, RAM_SIZE - 0x200,
		};

		return at[k % 16] + (fz_u8(f) & 0xf8);
	}
	default: return fz_value64(f);
	}
}

static uint32_t pick_len(struct fz *f)
{
	uint8_t m = fz_u8(f);

	switch (m & 3) {
	case 0: return 512u * (1 + (m >> 2 & 15));
	case 1: return m >> 2;
	case 2: return m & 4 ? 512u << (m >> 3 & 15) : fz_u16(f);     /* up to 16 MiB */
	default: return fz_u32(f);
	}
}

static uint64_t pick_value(struct fz *f)
{
	uint8_t m = fz_u8(f);

	switch (m & 3) {
	case 0: return m >> 2;
	case 1: return fz_u16(f);
	case 2: return fz_u32(f);
	default: return fz_value64(f);
	}
}

static const unsigned widths[4] = { 1, 2, 4, 8 };

/* ---- Driver side: descriptors and rings ---- */

static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
	void *p = gp(table + 16ull * i, 16);

	if (p)
		memcpy(p, &d, 16);
}

static void post(unsigned q, uint16_t head)
{
	struct dq *dq = &S.q[q];

	put16(G_AVAIL(q) + VIRTQ_AVAIL_RING + 2ull * (dq->avail % dsize(q)), head);
	dq->avail++;
	put16(G_AVAIL(q) + VIRTQ_AVAIL_IDX, dq->avail);
}

static void kick(unsigned q)
{
	wr(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, q, 2);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

/* A request as a driver would frame it, with the input choosing type,
 * sector, data segments (any address, length, direction), header split,
 * status placement, direct or indirect, and whether it is posted and
 * notified. Discard / write-zeroes data is filled with range records. */
static void op_request(struct fz *f)
{
	static const uint32_t types[] = {
		VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
		VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
	};
	uint8_t m = fz_u8(f);
	unsigned q = fz_u8(f) % S.nq, slot = fz_u8(f), nseg = fz_u8(f) % 9, n = 0;
	uint32_t type = m & 0x40 ? fz_u32(f) : types[fz_u8(f) % 8];
	uint64_t sector = m & 0x80 ? fz_value64(f) : fz_u8(f);
	bool dwz = type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES;
	bool w = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	struct dq *dq = &S.q[q];
	struct seg s[12];
	uint8_t hdr[16] = { 0 };
	uint16_t head, size = dsize(q);

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	memcpy(R.ram + G_HDR(slot), hdr, 16);
	R.ram[G_STATUS(slot)] = 0xee;
	if (m & 8) {                    /* header over two descriptors */
		s[n++] = (struct seg){ G_HDR(slot), 8, false };
		s[n++] = (struct seg){ G_HDR(slot) + 8, 8, false };
	} else {
		s[n++] = (struct seg){ G_HDR(slot), 16, false };
	}
	for (unsigned k = 0; k < nseg; k++) {
		struct seg d = { .w = w != !!(m & 0x20) };
		uint8_t *p;

		d.gpa = pick_gpa(f);
		d.len = pick_len(f);
		p = dwz ? gp(d.gpa, d.len) : NULL;

		/* Range records: sector, sectors, flags (16 bytes each). */
		for (unsigned r = 0; p && r < d.len / 16 && r < 4; r++) {
			uint64_t sec = fz_u8(f) & 1 ? fz_value64(f) : fz_u8(f);
			uint32_t num = fz_u8(f), flags = fz_u8(f) & 3;

			memcpy(p + 16 * r, &sec, 8);
			memcpy(p + 16 * r + 8, &num, 4);
			memcpy(p + 16 * r + 12, &flags, 4);
		}
		s[n++] = d;
	}
	if (m & 0x10) {
		s[n].gpa = pick_gpa(f);
		s[n].len = pick_len(f);
		s[n++].w = true;
	} else
		s[n++] = (struct seg){ G_STATUS(slot), 1, true };
	if (m & 1) {                    /* one descriptor naming an indirect table */
		uint64_t table = G_IND(slot % 16);

		for (unsigned k = 0; k < n; k++)
			put_desc(table, k, s[k].gpa, s[k].len,
				 (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (s[k].w ? VIRTQ_DESC_F_WRITE : 0),
				 (uint16_t)(k + 1));
		head = dq->next % size;
		put_desc(G_DESC(q), head, table, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
		dq->next = (uint16_t)((head + 1) % size);
	} else {                        /* consecutive descriptors, modulo the size */
		head = dq->next % size;
		for (unsigned k = 0; k < n; k++) {
			uint16_t i = (uint16_t)((head + k) % size), nx = (uint16_t)((i + 1) % size);

			put_desc(G_DESC(q), i, s[k].gpa, s[k].len,
				 (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (s[k].w ? VIRTQ_DESC_F_WRITE : 0), nx);
		}
		dq->next = (uint16_t)((head + n) % size);
	}
	if (m & 2)
		post(q, head);
	if (m & 4)
		kick(q);
}

/* The driver's part after an interrupt: take used entries, re-arm. */
static void op_consume(struct fz *f)
{
	uint8_t m = fz_u8(f);
	unsigned q = m % S.nq;
	struct dq *dq = &S.q[q];
	uint16_t idx, size = dsize(q);

	memcpy(&idx, R.ram + G_USED(q) + VIRTQ_USED_IDX, 2);
	if (m & 0x80)
		(void)rd(VIRTIO_PCI_ISR_OFF, 1);
	dq->used = (uint16_t)(idx - dq->used) <= size ? idx : dq->used;
	/* used_event (EVENT_IDX) and NO_INTERRUPT (otherwise) */
	put16(G_AVAIL(q) + VIRTQ_AVAIL_RING + 2ull * size, m & 0x40 ? fz_u16(f) : dq->used);
	put16(G_AVAIL(q) + VIRTQ_AVAIL_FLAGS, m & 0x20 ? VIRTQ_AVAIL_F_NO_INTERRUPT : 0);
}

static const uint32_t common_offs[] = {
	VIRTIO_PCI_COMMON_DFSELECT, VIRTIO_PCI_COMMON_DF, VIRTIO_PCI_COMMON_GFSELECT,
	VIRTIO_PCI_COMMON_GF, VIRTIO_PCI_COMMON_MSIX, VIRTIO_PCI_COMMON_NUMQ,
	VIRTIO_PCI_COMMON_STATUS, VIRTIO_PCI_COMMON_CFGGENERATION, VIRTIO_PCI_COMMON_Q_SELECT,
	VIRTIO_PCI_COMMON_Q_SIZE, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_PCI_COMMON_Q_ENABLE,
	VIRTIO_PCI_COMMON_Q_NOFF, VIRTIO_PCI_COMMON_Q_DESCLO, VIRTIO_PCI_COMMON_Q_DESCHI,
	VIRTIO_PCI_COMMON_Q_AVAILLO, VIRTIO_PCI_COMMON_Q_AVAILHI, VIRTIO_PCI_COMMON_Q_USEDLO,
	VIRTIO_PCI_COMMON_Q_USEDHI, VIRTIO_PCI_COMMON_Q_NDATA, VIRTIO_PCI_COMMON_Q_RESET,
};

static uint64_t pick_bar4_off(struct fz *f, uint8_t m)
{
	switch (m >> 6) {
	case 0: return common_offs[fz_u8(f) % (sizeof(common_offs) / 4)];
	case 1: return fz_u8(f) & 0x3f;
	case 2: return VIRTIO_PCI_DEVICE_OFF + (fz_u8(f) & 0x7f);
	default: return fz_u16(f) & (VIRTIO_PCI_BAR_SIZE - 1);
	}
}

/* The PCI function's config space, MSI-X table, resets. */
static void op_pci(struct fz *f)
{
	struct pci_device *d = dev();
	uint8_t m = fz_u8(f);

	switch (m % 8) {
	case 0:                         /* Bus Master Enable (and decode) */
		ecam_write(PCI_COMMAND, PCI_COMMAND_MEMORY | (m & 8 ? PCI_COMMAND_MASTER : 0) |
			   (m & 0x10 ? PCI_COMMAND_INTX_DISABLE : 0), 2);
		break;
	case 1: {                       /* any config write */
		uint32_t reg = m & 0x80 ? fz_u16(f) & 0xfff : fz_u8(f), v = fz_u32(f);

		ecam_write(reg, v, widths[fz_u8(f) % 3]);
		break;
	}
	case 2: {                       /* MSI-X control: enable, function mask */
		uint16_t v = (m & 8 ? PCI_MSIX_FLAGS_ENABLE : 0) | (m & 0x10 ? PCI_MSIX_FLAGS_MASKALL : 0);

		ecam_write(d->msix.cap_off + PCI_MSIX_FLAGS, v, 2);
		break;
	}
	case 3: {                       /* an MSI-X table or PBA dword */
		uint64_t off = m & 0x80 ? fz_u16(f) & 0xffc : (fz_u8(f) % 80) * 4ull;

		bus_write(&S.mmio, bar1() + off, m & 0x40 ? fz_u32(f) : fz_u8(f) & 1, 4);
		break;
	}
	case 4: {                       /* the PCI_CFG window (4.1.4.9) into BAR4 */
		uint8_t c = S.v.t.cfg_cap;
		uint32_t off = (uint32_t)(m & 0x80 ? fz_u16(f) & 0x3fff : pick_bar4_off(f, 0));
		unsigned len = widths[fz_u8(f) % 4];

		ecam_write(c + VIRTIO_PCI_CAP_BAR, m & 0x40 ? fz_u8(f) : VIRTIO_PCI_BAR, 1);
		ecam_write(c + VIRTIO_PCI_CAP_LENGTH, len, 4);
		ecam_write(c + VIRTIO_PCI_CAP_OFFSET, off, 4);
		if (m & 0x20)
			ecam_write(c + VIRTIO_PCI_CFG_CAP_DATA, (uint32_t)pick_value(f), len > 4 ? 4 : len);
		else
			(void)ecam_read(c + VIRTIO_PCI_CFG_CAP_DATA, 4);
		break;
	}
	case 5:                         /* function-level reset */
		pci_device_reset(d);
		check_reset_state();
		break;
	case 6:                         /* firmware and driver set it up again */
		pci_setup(!(m & 8));
		break;
	default: {                      /* config read */
		uint32_t reg = fz_u16(f) & 0xfff;

		(void)ecam_read(reg, widths[fz_u8(f) % 3]);
		break;
	}
	}
}

/* The driver's initialization (3.1.1), with the input's features and
 * queue sizes; may stop before DRIVER_OK. */
static void op_init(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t want = m & 1 ? fz_u64(f) : ~0ull, feat;

	wr(VIRTIO_PCI_COMMON_STATUS, 0, 1);
	if (dev()->bars[VIRTIO_PCI_BAR].mapped)
		check_reset_state();
	wr(VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	wr(VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	feat = (m & 2 ? ~0ull : device_features()) & want;
	wr(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	wr(VIRTIO_PCI_COMMON_GF, (uint32_t)feat, 4);
	wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	wr(VIRTIO_PCI_COMMON_GF, feat >> 32, 4);
	wr(VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK, 1);
	for (unsigned q = 0; q < S.nq; q++) {
		uint16_t size = m & 4 ? (uint16_t)(1u << (fz_u8(f) % 10)) : S.qmax;

		memset(R.ram + G_DESC(q), 0, 0x10000);
		S.q[q] = (struct dq){ .size = size };
		queue_setup(q, size, m & 8 ? VIRTIO_MSI_NO_VECTOR : (uint16_t)(q + 1), G_DESC(q),
			    G_AVAIL(q), G_USED(q), m & 0x10);
	}
	wr(VIRTIO_PCI_COMMON_MSIX, m & 8 ? VIRTIO_MSI_NO_VECTOR : 0, 2);
	if (!(m & 0x20))
		wr(VIRTIO_PCI_COMMON_STATUS, 0x0f, 1);
}

/* ---- The harness ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	fz_ram_init(&R, RAM_SIZE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t qmax[4] = { 4, 16, 64, 256 };
	struct irq_line intx = { .set = intx_set, .pin = 16 };
	struct virtio_blk_pci_config cfg;
	struct fz f;
	uint8_t b;
	int ret;

	fz_init(&f, data, size);
	b = fz_u8(&f);
	memset(R.ram, 0, RAM_SIZE);
	memset(&S, 0, sizeof(S));
	S.nq = 1 + (b & 3);
	S.qmax = qmax[(b >> 2) & 3];
	if (b & 0x10) {
		S.deferred = fz_blk_new(DISK_SIZE, MAX_NQ * VIRTIO_BLK_MAX_QUEUE_SIZE, b & 0x80);
		S.blk = &S.deferred->b;
	} else {
		ret = blk_open_ram(&S.blk, DISK_SIZE);
		FZ_CHECK(ret == 0, "blk_open_ram: %d", ret);
	}
	dma_as_init_direct(&S.as, &R.gmem, PCI_BDF(0, VB_DEVFN));
	FZ_CHECK(bus_init(&S.pio, "pio") == 0 && bus_init(&S.mmio, "mmio") == 0, "buses");
	ret = pci_host_init(&S.host, &S.pio, &S.mmio, ECAM_BASE, 0x10000000ull, &msi, &intx, NULL,
			    NULL);
	FZ_CHECK(ret == 0, "pci_host_init: %d", ret);
	cfg = (struct virtio_blk_pci_config){
		.name = "fz", .backend = S.blk, .dma = &S.as, .num_queues = S.nq,
		.queue_size = S.qmax, .serial = "FUZZ-SERIAL", .read_only = b & 0x20, .poll_us = -1,
	};
	ret = virtio_blk_pci_init(&S.v, &cfg);
	FZ_CHECK(ret == 0, "virtio_blk_pci_init: %d", ret);
	/* Every process_queue call passes the harness's check first. */
	real_ops = S.v.t.ops;
	wrap_ops = *real_ops;
	wrap_ops.process_queue = wrap_process_queue;
	S.v.t.ops = &wrap_ops;
	ret = pci_host_plug(&S.host, dev(), VB_DEVFN);
	FZ_CHECK(ret == 0, "plug: %d", ret);
	pci_setup(!(b & 0x40));

	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		uint8_t o = fz_u8(&f);

		switch (o % 16) {
		case 0: case 1:                 /* a request */
			op_request(&f);
			break;
		case 2: {                       /* BAR4 write, any field/offset/width */
			uint8_t m = fz_u8(&f);
			uint64_t off = pick_bar4_off(&f, m);

			wr(off, pick_value(&f), widths[m & 3]);
			break;
		}
		case 3: {                       /* BAR4 read (ISR read clears) */
			uint8_t m = fz_u8(&f);
			uint64_t off = m & 0x80 ? VIRTIO_PCI_ISR_OFF : pick_bar4_off(&f, m << 1);
			unsigned len = widths[m & 3];
			uint64_t v = rd(off, len);

			if (off == VIRTIO_PCI_COMMON_NUMQ && len == 2 &&
			    dev()->bars[VIRTIO_PCI_BAR].mapped)
				FZ_CHECK(v == S.nq, "num_queues reads %llu", (unsigned long long)v);
			break;
		}
		case 4: {                       /* device status */
			static const uint8_t st[] = { 0, 1, 3, 0xb, 0xf, 0x4, 0x80, 0x8f, 0x40, 0x7 };
			uint8_t m = fz_u8(&f);
			uint8_t v = m & 0x80 ? fz_u8(&f) : st[m % sizeof(st)];

			wr(VIRTIO_PCI_COMMON_STATUS, v, 1);
			if (!v && dev()->bars[VIRTIO_PCI_BAR].mapped)
				check_reset_state();
			break;
		}
		case 5:
			op_init(&f);
			break;
		case 6: {                       /* one queue's setup */
			uint8_t m = fz_u8(&f);
			unsigned q = m & 0x80 ? fz_u8(&f) : m % S.nq;
			uint16_t sz = m & 0x40 ? fz_u16(&f) : (uint16_t)(1u << (fz_u8(&f) % 10));
			uint16_t vec = m & 0x20 ? fz_u16(&f) : (uint16_t)(fz_u8(&f) % 6);
			uint64_t d = G_DESC(q % MAX_NQ), a = G_AVAIL(q % MAX_NQ), u = G_USED(q % MAX_NQ);

			if (m & 0x10) {
				d = pick_gpa(&f);
				a = pick_gpa(&f);
				u = pick_gpa(&f);
			}
			queue_setup(q, sz, vec, d, a, u, m & 8);
			break;
		}
		case 7: {                       /* a raw descriptor, direct or indirect table */
			uint8_t m = fz_u8(&f);
			unsigned q = m % S.nq;
			uint64_t table = m & 0x80 ? G_IND(fz_u8(&f) % 16) : G_DESC(q);
			unsigned idx = m & 0x40 ? fz_u16(&f) % 256 : fz_u8(&f) % dsize(q);
			uint64_t addr = pick_gpa(&f);
			uint32_t len = pick_len(&f);
			uint16_t flags = m & 0x20 ? fz_u16(&f) : fz_u8(&f) & 7;
			uint16_t next = m & 0x10 ? fz_u16(&f) : fz_u8(&f);

			put_desc(table, idx, addr, len, flags, next);
			break;
		}
		case 8: {                       /* available ring */
			uint8_t m = fz_u8(&f);
			unsigned q = (m >> 2) % S.nq;

			switch (m & 3) {
			case 0: post(q, m & 0x80 ? fz_u16(&f) : fz_u8(&f)); break;
			case 1:                 /* the index jumps anywhere */
				S.q[q].avail = fz_u16(&f);
				put16(G_AVAIL(q) + VIRTQ_AVAIL_IDX, S.q[q].avail);
				break;
			case 2: put16(G_AVAIL(q) + VIRTQ_AVAIL_FLAGS, fz_u16(&f)); break;
			default:                /* used_event */
				put16(G_AVAIL(q) + VIRTQ_AVAIL_RING + 2ull * dsize(q), fz_u16(&f));
				break;
			}
			break;
		}
		case 9: {                       /* notify: a queue, or any offset/width */
			uint8_t m = fz_u8(&f);

			if (m & 0x80) {
				uint64_t off = VIRTIO_PCI_NOTIFY_OFF + (fz_u16(&f) & 0xfff);

				wr(off, fz_u16(&f), widths[m & 3]);
			} else
				kick(m % (S.nq + 1));
			break;
		}
		case 10: case 11:               /* the device's round (or drain) */
			poll_dev(o & 0x10);
			break;
		case 12:
			op_consume(&f);
			break;
		case 13:
			op_pci(&f);
			break;
		case 14: {                      /* raw bytes anywhere in RAM */
			uint64_t at = ((uint64_t)fz_u16(&f) << 5) % RAM_SIZE;
			size_t len = fz_u8(&f);

			if (len > RAM_SIZE - at)
				len = RAM_SIZE - at;
			fz_bytes(&f, R.ram + at, len);
			break;
		}
		default: {                      /* the backend completes (deferred) */
			uint8_t m = fz_u8(&f);

			if (!S.deferred)
				break;
			if (m & 0x80)
				S.deferred->fail = fz_u32(&f);
			fz_blk_complete(S.deferred, m & 0x40 ? ~0u : m & 7);
			break;
		}
		}
		check_dev();
		if (trace)
			fprintf(fz_err(), "op %u (%u): status 0x%02x isr %u, %u in flight (%u on the "
				"backend), q0 popped %llu pushed %llu avail %u, %llu MSIs, intx %d\n",
				op, o % 16, S.v.t.status, S.v.t.isr, S.v.blk.inflight, S.blk->inflight,
				(unsigned long long)S.v.t.queues[0].vq.stats.popped,
				(unsigned long long)S.v.t.queues[0].vq.stats.pushed, S.q[0].avail,
				(unsigned long long)S.msis, S.intx);
	}
	/* The end of the input: everything started is finished. */
	poll_dev(true);
	check_dev();
	if (!(S.v.t.status & VIRTIO_CONFIG_S_NEEDS_RESET))
		for (unsigned i = 0; i < S.nq; i++)
			FZ_CHECK(S.v.t.queues[i].vq.stats.popped == S.v.t.queues[i].vq.stats.pushed,
				 "queue %u: %llu taken, %llu answered after the drain", i,
				 (unsigned long long)S.v.t.queues[i].vq.stats.popped,
				 (unsigned long long)S.v.t.queues[i].vq.stats.pushed);
	virtio_blk_pci_destroy(&S.v);
	pci_host_destroy(&S.host);
	FZ_CHECK(S.mmio.nr == 0 && S.pio.nr == 0, "ranges left on the buses");
	bus_destroy(&S.mmio);
	bus_destroy(&S.pio);
	blk_close(S.blk);
	fz_ram_check(&R);
	return 0;
}
