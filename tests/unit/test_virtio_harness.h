/* Shared by the virtio unit tests: a VM's worth of "guest RAM" (arena +
 * gmem) reached through a direct DMA address space, a PCI host on real PIO
 * and MMIO buses with an MSI sink, an INTx line and a host ioeventfd op that
 * records the windows, a virtio-blk PCI function over a RAM backend or a
 * scriptable fake one (asynchronous completion in any order, a slow poll),
 * and a small guest driver: initialization as 3.1.1 has it, split rings in
 * guest RAM, chains (direct or indirect), notifications through the BAR,
 * used-ring consumption keeping used_event up to date as Linux does.
 * Without the I/O thread the device runs synchronously in poll_dev(). */
#ifndef WARDEN_TESTS_VIRTIO_HARNESS_H
#define WARDEN_TESTS_VIRTIO_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/virtio_blk.h"
#include "base/log.h"

#define VFX_FN static __attribute__((unused))

#define MiB (1ull << 20)
#define V_RAM       (64 * MiB)
#define V_DISK      (8 * MiB)
#define V_ECAM      0xb0000000ull
#define V_DEVFN     PCI_DEVFN(4, 0)
#define V_QSIZE     64
#define V_SERIAL    "VBLK-SERIAL-0001"

/* Guest-physical layout. */
#define G_DESC(q)   (0x100000ull + (uint64_t)(q) * 0x40000)
#define G_AVAIL(q)  (G_DESC(q) + 0x10000)
#define G_USED(q)   (G_DESC(q) + 0x20000)
#define G_IND       0x800000ull         /* indirect tables, 4 KiB per slot */
#define G_HDR       0x900000ull         /* headers, 16 bytes per slot */
#define G_STATUS    0x980000ull         /* status bytes, one per slot */
#define G_DATA      0x1000000ull        /* 16 MiB */
#define G_DATA2     0x2000000ull
#define G_OUTSIDE   0x8000000ull        /* beyond RAM */

#define ALL_FEATURES (~0ull)

/* ---- A scriptable block backend ---- */

struct fake_blk {
	struct blk_backend b;
	uint8_t *mem;
	bool async;                     /* complete only in poll (or by the test) */
	bool lifo;                      /* poll completes the newest first */
	unsigned delay_ms;              /* poll sleeps first: a slow disk */
	struct blk_req *q[2048];
	unsigned nq, max_nq;
};

VFX_FN void fake_do(struct fake_blk *f, struct blk_req *r)
{
	uint64_t done = 0;

	if (r->op == BLK_READ || r->op == BLK_WRITE) {
		for (unsigned i = 0; i < r->iovcnt; i++) {
			if (r->op == BLK_READ)
				memcpy(r->iov[i].iov_base, f->mem + r->offset + done, r->iov[i].iov_len);
			else
				memcpy(f->mem + r->offset + done, r->iov[i].iov_base, r->iov[i].iov_len);
			done += r->iov[i].iov_len;
		}
	} else if (r->op == BLK_WRITE_ZEROES || r->op == BLK_DISCARD) {
		memset(f->mem + r->offset, 0, r->len);
	}
	f->b.inflight--;
	r->result = 0;
	r->done(r);
}

VFX_FN int fake_submit(struct blk_backend *b, struct blk_req *r)
{
	struct fake_blk *f = (struct fake_blk *)b;

	if (!f->async) {
		fake_do(f, r);
		return 0;
	}
	assert_true(f->nq < 2048);
	f->q[f->nq] = r;
	/* Atomic: the test watches it while the I/O thread submits. */
	__atomic_store_n(&f->nq, f->nq + 1, __ATOMIC_RELEASE);
	if (f->nq > f->max_nq)
		f->max_nq = f->nq;
	return 0;
}

/* Completes queued request i (in submission order). */
VFX_FN void fake_complete(struct fake_blk *f, unsigned i)
{
	struct blk_req *r = f->q[i];

	memmove(f->q + i, f->q + i + 1, (f->nq - 1 - i) * sizeof(f->q[0]));
	__atomic_store_n(&f->nq, f->nq - 1, __ATOMIC_RELEASE);
	fake_do(f, r);
}

VFX_FN int fake_poll(struct blk_backend *b, unsigned min_complete)
{
	struct fake_blk *f = (struct fake_blk *)b;
	unsigned delay = __atomic_load_n(&f->delay_ms, __ATOMIC_RELAXED);
	int n = 0;

	if (!min_complete)
		return 0;
	if (delay)
		nanosleep(&(struct timespec){ .tv_nsec = delay * 1000000l }, NULL);
	while (f->nq) {
		fake_complete(f, f->lifo ? f->nq - 1 : 0);
		n++;
	}
	return n;
}

VFX_FN void fake_destroy(struct blk_backend *b)
{
	struct fake_blk *f = (struct fake_blk *)b;

	free(f->mem);
	free(f);
}

static const struct blk_backend_ops fake_blk_ops = {
	.submit = fake_submit, .poll = fake_poll, .destroy = fake_destroy,
};

VFX_FN struct fake_blk *fake_blk_new(uint64_t size)
{
	struct fake_blk *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem = calloc(1, size);
	assert_non_null(f->mem);
	f->b.ops = &fake_blk_ops;
	f->b.size = size;
	f->b.block_size = 512;
	snprintf(f->b.desc, sizeof(f->b.desc), "fake");
	return f;
}

/* ---- Fixture: RAM, buses, host bridge, the device ---- */

struct dq {                             /* a queue as the driver keeps it */
	uint16_t size, avail, used, next;
};

struct ioev {
	uint64_t gpa;
	unsigned len;
	int fd;
};

struct vfx {
	struct arena a;
	struct gmem g;
	struct dma_as as;
	struct blk_backend *blk;
	struct fake_blk *fake;
	struct bus pio, mmio;
	struct pci_host host;
	struct msi_sink msi;
	unsigned msis[256];             /* by MSI data, atomically */
	int intx;
	struct ioev ioev[32];           /* live ioeventfd windows */
	unsigned nioev, ioev_calls;
	struct virtio_blk_pci v;
	unsigned nq;
	uint64_t bar1, bar4;
	uint64_t features;
	struct dq q[4];
	bool manual_used_event;         /* the test sets used_event itself */
};

static struct vfx *F;

struct vopts {
	unsigned nq, qsize;
	uint64_t disk;                  /* 0: V_DISK */
	bool fake, async, read_only, no_msix;
};

VFX_FN int v_msi_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct vfx *f = opaque;

	assert_int_equal(addr, 0xfee00000ull);
	assert_int_equal(rid, PCI_BDF(0, V_DEVFN));
	__atomic_add_fetch(&f->msis[data & 0xff], 1, __ATOMIC_RELAXED);
	return 0;
}

VFX_FN unsigned msis(unsigned vector)
{
	return __atomic_load_n(&F->msis[0x40 + vector], __ATOMIC_RELAXED);
}

VFX_FN void v_intx_set(void *opaque, unsigned pin, int level)
{
	((struct vfx *)opaque)->intx = level;
}

VFX_FN int v_ioeventfd(void *opaque, struct pci_device *d, uint64_t gpa, unsigned len, int fd,
		       bool assign)
{
	struct vfx *f = opaque;

	f->ioev_calls++;
	if (assign) {
		assert_true(f->nioev < 32);
		f->ioev[f->nioev++] = (struct ioev){ gpa, len, fd };
		return 0;
	}
	for (unsigned i = 0; i < f->nioev; i++) {
		if (f->ioev[i].gpa == gpa && f->ioev[i].fd == fd) {
			f->ioev[i] = f->ioev[--f->nioev];
			return 0;
		}
	}
	fail_msg("deassigning an ioeventfd that is not assigned (gpa 0x%llx)",
		 (unsigned long long)gpa);
	return -ENOENT;
}

static const struct pci_host_ops v_host_ops = { .ioeventfd = v_ioeventfd };

VFX_FN struct pci_device *dev(void)
{
	return virtio_blk_pci_dev(&F->v);
}

VFX_FN void *gp(uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(&F->g, gpa, len);

	assert_non_null(p);
	return p;
}

VFX_FN void put16(uint64_t gpa, uint16_t v) { memcpy(gp(gpa, 2), &v, 2); }
VFX_FN uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, gp(gpa, 2), 2); return v; }
VFX_FN uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, gp(gpa, 4), 4); return v; }

VFX_FN void fill(uint64_t gpa, uint64_t len, unsigned seed)
{
	uint8_t *p = gp(gpa, len);

	for (uint64_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
}

/* BAR4 register access, as the driver's MMIO. */
VFX_FN uint64_t rd(uint64_t off, unsigned len)
{
	uint64_t v;

	assert_true(bus_read(&F->mmio, F->bar4 + off, &v, len));
	return v;
}

VFX_FN void wr(uint64_t off, uint64_t v, unsigned len)
{
	assert_true(bus_write(&F->mmio, F->bar4 + off, v, len));
}

VFX_FN uint8_t status(void)
{
	return (uint8_t)rd(VIRTIO_PCI_COMMON_STATUS, 1);
}

VFX_FN void set_status(uint8_t s)
{
	wr(VIRTIO_PCI_COMMON_STATUS, s, 1);
}

VFX_FN uint64_t device_features(void)
{
	uint64_t lo;

	wr(VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	lo = rd(VIRTIO_PCI_COMMON_DF, 4);
	wr(VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	return lo | rd(VIRTIO_PCI_COMMON_DF, 4) << 32;
}

VFX_FN void driver_features(uint64_t f)
{
	wr(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	wr(VIRTIO_PCI_COMMON_GF, (uint32_t)f, 4);
	wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	wr(VIRTIO_PCI_COMMON_GF, f >> 32, 4);
}

/* Firmware's part: addresses, decode, bus mastering, MSI-X vector v with
 * data 0x40 + v. */
VFX_FN void v_configure(bool msix)
{
	struct pci_device *d = dev();

	assert_int_equal(pci_host_assign_resources(&F->host, 0xc0000000ull, 0xfec00000ull, 0, 0,
						   0x1000, 0x10000), 0);
	F->bar1 = d->bars[VIRTIO_PCI_MSIX_BAR].addr;
	F->bar4 = d->bars[VIRTIO_PCI_BAR].addr;
	assert_int_not_equal(F->bar4, 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	if (!msix)
		return;
	for (unsigned v = 0; v <= F->nq; v++) {
		uint64_t e = F->bar1 + VIRTIO_PCI_MSIX_TABLE + v * 16;

		assert_true(bus_write(&F->mmio, e, 0xfee00000, 4));
		assert_true(bus_write(&F->mmio, e + 4, 0, 4));
		assert_true(bus_write(&F->mmio, e + 8, 0x40 + v, 4));
		assert_true(bus_write(&F->mmio, e + 12, 0, 4));
	}
	pci_config_write(d, d->msix.cap_off + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
}

VFX_FN void v_init(const struct vopts *o)
{
	struct virtio_blk_pci_config cfg = { .name = "vblk0", .serial = V_SERIAL };
	struct irq_line intx = { .set = v_intx_set, .pin = 16 };

	F = calloc(1, sizeof(*F));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&F->a, 128 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&F->g, &F->a, 1, V_RAM), 0);
	dma_as_init_direct(&F->as, &F->g, PCI_BDF(0, V_DEVFN));
	if (o->fake) {
		F->fake = fake_blk_new(o->disk ? o->disk : V_DISK);
		F->fake->async = o->async;
		F->blk = &F->fake->b;
	} else {
		assert_int_equal(blk_open_ram(&F->blk, V_DISK), 0);
	}
	assert_int_equal(bus_init(&F->pio, "pio"), 0);
	assert_int_equal(bus_init(&F->mmio, "mmio"), 0);
	F->msi = (struct msi_sink){ .send = v_msi_send, .opaque = F };
	intx.opaque = F;
	assert_int_equal(pci_host_init(&F->host, &F->pio, &F->mmio, V_ECAM, 1 * MiB, &F->msi, &intx,
				       &v_host_ops, F), 0);
	F->nq = o->nq ? o->nq : 1;
	cfg.backend = F->blk;
	cfg.dma = &F->as;
	cfg.num_queues = F->nq;
	cfg.queue_size = o->qsize ? o->qsize : V_QSIZE;
	cfg.read_only = o->read_only;
	assert_int_equal(virtio_blk_pci_init(&F->v, &cfg), 0);
	assert_int_equal(pci_host_plug(&F->host, dev(), V_DEVFN), 0);
	v_configure(!o->no_msix);
}

VFX_FN int teardown(void **state)
{
	virtio_blk_pci_destroy(&F->v);
	assert_int_equal(F->nioev, 0);          /* every window given back */
	pci_host_destroy(&F->host);
	bus_destroy(&F->mmio);
	bus_destroy(&F->pio);
	blk_close(F->blk);
	assert_int_equal(arena_check_canaries(&F->a), 0);
	gmem_destroy(&F->g);
	arena_destroy(&F->a);
	free(F);
	log_threshold = LOG_WARN;
	return 0;
}

VFX_FN int setup(void **state)
{
	v_init(&(struct vopts){ 0 });
	return 0;
}

VFX_FN int setup_fake_async(void **state)
{
	v_init(&(struct vopts){ .fake = true, .async = true });
	return 0;
}

VFX_FN int setup_ro(void **state)
{
	v_init(&(struct vopts){ .read_only = true });
	return 0;
}

VFX_FN int setup_mq(void **state)
{
	v_init(&(struct vopts){ .nq = 3 });
	return 0;
}

VFX_FN int setup_intx(void **state)
{
	v_init(&(struct vopts){ .no_msix = true });
	return 0;
}

/* ---- The driver ---- */

VFX_FN void drv_queue(unsigned q, uint16_t size)
{
	wr(VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), V_QSIZE);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, size, 2);
	wr(VIRTIO_PCI_COMMON_Q_MSIX, q + 1, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), q + 1);
	memset(gp(G_DESC(q), 0x30000), 0, 0x30000);
	/* 64-bit fields both ways: halves (as Linux) and whole. */
	wr(VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)G_DESC(q), 4);
	wr(VIRTIO_PCI_COMMON_Q_DESCHI, G_DESC(q) >> 32, 4);
	wr(VIRTIO_PCI_COMMON_Q_AVAILLO, G_AVAIL(q), 8);
	wr(VIRTIO_PCI_COMMON_Q_USEDLO, G_USED(q), 8);
	wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	F->q[q] = (struct dq){ .size = size };
}

/* The virtio driver initialization (3.1.1), accepting want & offer. */
VFX_FN void drv_init_size(uint64_t want, uint16_t qsize)
{
	set_status(0);
	assert_int_equal(status(), 0);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	F->features = device_features() & want;
	driver_features(F->features);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(status(), 0x0b);
	for (unsigned q = 0; q < F->nq; q++)
		drv_queue(q, qsize);
	wr(VIRTIO_PCI_COMMON_MSIX, 0, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_MSIX, 2), 0);
	set_status(0x0f);
	assert_int_equal(status(), 0x0f);
}

VFX_FN void drv_init(uint64_t want)
{
	drv_init_size(want, V_QSIZE);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;                         /* device-writable */
};

VFX_FN void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(gp(table + 16ull * i, 16), &d, 16);
}

/* A direct chain on consecutive descriptors (modulo the size). */
VFX_FN uint16_t chain(unsigned q, const struct seg *s, unsigned n)
{
	struct dq *dq = &F->q[q];
	uint16_t head = dq->next;

	for (unsigned k = 0; k < n; k++) {
		uint16_t i = (uint16_t)((head + k) % dq->size), nx = (uint16_t)((i + 1) % dq->size);

		put_desc(G_DESC(q), i, s[k].gpa, s[k].len,
			 (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (s[k].w ? VIRTQ_DESC_F_WRITE : 0), nx);
	}
	dq->next = (uint16_t)((head + n) % dq->size);
	return head;
}

/* One descriptor pointing at an indirect table at `table`. */
VFX_FN uint16_t chain_indirect(unsigned q, uint64_t table, const struct seg *s, unsigned n)
{
	struct dq *dq = &F->q[q];
	uint16_t head = dq->next;

	for (unsigned k = 0; k < n; k++)
		put_desc(table, k, s[k].gpa, s[k].len,
			 (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (s[k].w ? VIRTQ_DESC_F_WRITE : 0),
			 (uint16_t)(k + 1));
	put_desc(G_DESC(q), head, table, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
	dq->next = (uint16_t)((head + 1) % dq->size);
	return head;
}

VFX_FN void post(unsigned q, uint16_t head)
{
	struct dq *dq = &F->q[q];

	put16(G_AVAIL(q) + VIRTQ_AVAIL_RING + 2ull * (dq->avail % dq->size), head);
	dq->avail++;
	__atomic_store_n((uint16_t *)gp(G_AVAIL(q) + VIRTQ_AVAIL_IDX, 2), dq->avail,
			 __ATOMIC_RELEASE);
}

VFX_FN void kick(unsigned q)
{
	wr(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, q, 2);
}

VFX_FN uint16_t used_idx(unsigned q)
{
	return __atomic_load_n((uint16_t *)gp(G_USED(q) + VIRTQ_USED_IDX, 2), __ATOMIC_ACQUIRE);
}

/* The next used element, if the device published one. */
VFX_FN bool take_used(unsigned q, uint32_t *id, uint32_t *len)
{
	struct dq *dq = &F->q[q];
	uint64_t e;

	if (used_idx(q) == dq->used)
		return false;
	e = G_USED(q) + VIRTQ_USED_RING + 8ull * (dq->used % dq->size);
	*id = get32(e);
	*len = get32(e + 4);
	dq->used++;
	/* As Linux: interrupt me when the next entry is used (EVENT_IDX). */
	if (!F->manual_used_event)
		put16(G_AVAIL(q) + VIRTQ_AVAIL_RING + 2ull * dq->size, dq->used);
	return true;
}

VFX_FN void poll_dev(void)
{
	assert_int_equal(virtio_blk_pci_poll(&F->v, true), 0);
}

VFX_FN void header(unsigned slot, uint32_t type, uint64_t sector)
{
	uint8_t *h = gp(G_HDR + 16 * slot, 16);

	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)gp(G_STATUS + slot, 1) = 0xee;
}

/* Header, data as nseg equal pieces (writable for IN/GET_ID), status. */
VFX_FN uint16_t req_chain(unsigned q, unsigned slot, uint32_t type, uint64_t sector,
			  uint64_t data, uint32_t len, unsigned nseg, bool indirect)
{
	struct seg s[40];
	unsigned n = 0;
	bool w = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

	header(slot, type, sector);
	s[n++] = (struct seg){ G_HDR + 16 * slot, 16, false };
	for (unsigned k = 0; len && k < nseg; k++) {
		uint32_t piece = k + 1 < nseg ? len / nseg : len - (nseg - 1) * (len / nseg);

		s[n++] = (struct seg){ data + (uint64_t)k * (len / nseg), piece, w };
	}
	s[n++] = (struct seg){ G_STATUS + slot, 1, true };
	return indirect ? chain_indirect(q, G_IND + 0x1000ull * slot, s, n) : chain(q, s, n);
}

/* Posts, notifies, runs the device; the status byte, with the used
 * element checked (id, and *used_len if asked). */
VFX_FN uint8_t submit(unsigned q, unsigned slot, uint16_t head, uint32_t *used_len)
{
	uint32_t id, len;

	post(q, head);
	kick(q);
	poll_dev();
	assert_true(take_used(q, &id, &len));
	assert_int_equal(id, head);
	if (used_len)
		*used_len = len;
	return *(uint8_t *)gp(G_STATUS + slot, 1);
}

VFX_FN uint8_t do_req(unsigned q, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		      unsigned nseg, bool indirect)
{
	uint32_t used_len;
	uint8_t st = submit(q, 0, req_chain(q, 0, type, sector, data, len, nseg, indirect),
			    &used_len);

	if (st == VIRTIO_BLK_S_OK && type == VIRTIO_BLK_T_IN)
		assert_int_equal(used_len, len + 1);
	return st;
}

VFX_FN void disk_read(uint64_t off, void *buf, uint64_t len)
{
	assert_int_equal(blk_rw_sync(F->blk, BLK_READ, off, buf, len), 0);
}

VFX_FN uint8_t cfg8(uint32_t off) { return (uint8_t)rd(VIRTIO_PCI_DEVICE_OFF + off, 1); }
VFX_FN uint32_t cfg32(uint32_t off) { return (uint32_t)rd(VIRTIO_PCI_DEVICE_OFF + off, 4); }

VFX_FN struct virtio_blk_stats stats(void)
{
	struct virtio_blk_stats st;

	virtio_blk_pci_stats(&F->v, &st);
	return st;
}

#endif
