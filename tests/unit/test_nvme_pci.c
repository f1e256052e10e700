/* The NVMe PCI function on a real PCI host and MMIO bus: identity, BAR0 and
 * capabilities; the emulated attachment (doorbell writes trap and run the
 * commands); the passthrough attachment with its engine thread polling a
 * heap page as the doorbell page, MSI-X through the PCI core, register
 * accesses racing the engine; function reset and bus-master gating; and a
 * measurement of the engine's idle cost and its latency when spinning and
 * when woken from its sleep steps (printed as "nvme-engine:" lines). */
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include "test_nvme_harness.h"
#include "pci/pci.h"

#define P_ECAM      0xb0000000ull
#define P_DEVFN     PCI_DEVFN(3, 0)
#define P_IOQS      4
#define P_QDEPTH    64

struct pfx {
	struct arena a;
	struct gmem g;
	struct dma_as as;
	struct blk_backend *blk;
	struct bus pio, mmio;
	struct pci_host host;
	struct msi_sink msi;
	unsigned msis[256];             /* by MSI data, atomically */
	struct nvme_pci n;
	uint32_t *page;
	bool passthrough;
	uint64_t bar0;
	struct nfx_q q[2];
	uint16_t cid;
};

static struct pfx pf;

static int p_msi_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct pfx *f = opaque;

	assert_int_equal(addr, 0xfee00000ull);
	assert_int_equal(rid, PCI_BDF(0, P_DEVFN));
	__atomic_add_fetch(&f->msis[data & 0xff], 1, __ATOMIC_RELAXED);
	return 0;
}

static uint32_t p_r32(struct pfx *f, uint64_t off)
{
	uint64_t v;

	assert_true(bus_read(&f->mmio, f->bar0 + off, &v, 4));
	return (uint32_t)v;
}

static void p_w32(struct pfx *f, uint64_t off, uint32_t v)
{
	assert_true(bus_write(&f->mmio, f->bar0 + off, v, 4));
}

static void p_w64(struct pfx *f, uint64_t off, uint64_t v)
{
	assert_true(bus_write(&f->mmio, f->bar0 + off, v, 8));
}

static void *p_gp(struct pfx *f, uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(&f->g, gpa, len);

	assert_non_null(p);
	return p;
}

/* Firmware's part: addresses, decode, bus mastering, MSI-X vectors
 * 0..n with data 0x40 + v. */
static void p_configure(struct pfx *f)
{
	struct pci_device *d = nvme_pci_dev(&f->n);

	assert_int_equal(pci_host_assign_resources(&f->host, 0xc0000000ull, 0xfec00000ull, 0, 0,
						   0x1000, 0x10000), 0);
	f->bar0 = d->bars[0].addr;
	assert_int_not_equal(f->bar0, 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	for (unsigned v = 0; v <= P_IOQS; v++) {
		uint64_t e = NVME_BAR0_MSIX_TABLE + v * 16;

		p_w32(f, e, 0xfee00000);
		p_w32(f, e + 4, 0);
		p_w32(f, e + 8, 0x40 + v);
		p_w32(f, e + 12, 0);
	}
	pci_config_write(d, d->msix.cap_off + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
}

static void p_init(struct pfx *f, bool passthrough)
{
	struct nvme_pci_config cfg = { .name = "nvme0", .max_ioqs = P_IOQS, .serial = "PCI-SERIAL",
				       .passthrough = passthrough };

	memset(f, 0, sizeof(*f));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&f->a, 128 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&f->g, &f->a, 1, NFX_RAM), 0);
	dma_as_init_direct(&f->as, &f->g, PCI_BDF(0, P_DEVFN));
	assert_int_equal(blk_open_ram(&f->blk, NFX_DISK), 0);
	assert_int_equal(bus_init(&f->pio, "pio"), 0);
	assert_int_equal(bus_init(&f->mmio, "mmio"), 0);
	f->msi = (struct msi_sink){ .send = p_msi_send, .opaque = f };
	assert_int_equal(pci_host_init(&f->host, &f->pio, &f->mmio, P_ECAM, 1 * MiB, &f->msi, NULL,
				       NULL, NULL), 0);
	f->passthrough = passthrough;
	if (passthrough) {
		f->page = aligned_alloc(4096, 4096);
		assert_non_null(f->page);
		memset(f->page, 0, 4096);
	}
	cfg.backend = f->blk;
	cfg.dma = &f->as;
	cfg.doorbell_page = f->page;
	assert_int_equal(nvme_pci_init(&f->n, &cfg), 0);
	assert_int_equal(pci_host_plug(&f->host, nvme_pci_dev(&f->n), P_DEVFN), 0);
	p_configure(f);
	f->cid = 1;
}

static void p_fini(struct pfx *f)
{
	nvme_pci_destroy(&f->n);
	pci_host_destroy(&f->host);
	bus_destroy(&f->mmio);
	bus_destroy(&f->pio);
	blk_close(f->blk);
	free(f->page);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	gmem_destroy(&f->g);
	arena_destroy(&f->a);
	log_threshold = LOG_WARN;
}

static int setup_emulated(void **state)
{
	p_init(&pf, false);
	*state = &pf;
	return 0;
}

static int setup_passthrough(void **state)
{
	p_init(&pf, true);
	*state = &pf;
	return 0;
}

static int teardown(void **state)
{
	p_fini(*state);
	return 0;
}

/* ---- The guest driver, over MMIO (and the doorbell page) ---- */

static void p_ring(struct pfx *f, unsigned slot, uint32_t v)
{
	if (f->passthrough)
		/* What the guest's store through the exit-free window does. */
		__atomic_store_n(&f->page[slot], v, __ATOMIC_RELEASE);
	else
		p_w32(f, NVME_BAR0_DOORBELLS + slot * 4, v);
}

static void p_put(struct pfx *f, unsigned q, struct nvme_sqe *s)
{
	struct nfx_q *fq = &f->q[q];

	s->cid = f->cid++;
	memcpy(p_gp(f, sq_gpa(q) + fq->sq_tail * 64ull, 64), s, 64);
	fq->sq_tail = (uint16_t)((fq->sq_tail + 1) % fq->sq_size);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits (up to 2 s) for the next CQE of queue q and consumes it. */
static struct nvme_cqe p_wait(struct pfx *f, unsigned q)
{
	struct nfx_q *fq = &f->q[q];
	uint32_t *e = p_gp(f, cq_gpa(q) + fq->cq_head * 16ull, 16);
	uint64_t deadline = now_ns() + 2000000000ull;
	struct nvme_cqe out;

	while (((__atomic_load_n(&e[3], __ATOMIC_ACQUIRE) >> 16) & 1) != fq->phase) {
		if (now_ns() > deadline)
			fail_msg("no completion on CQ %u slot %u", q, fq->cq_head);
		/* A guest's vCPU would spin; here the engine may need this core. */
		sched_yield();
	}
	memcpy(&out, e, 16);
	if (++fq->cq_head == fq->cq_size) {
		fq->cq_head = 0;
		fq->phase = !fq->phase;
	}
	return out;
}

static uint16_t p_cmd(struct pfx *f, unsigned q, struct nvme_sqe s)
{
	struct nvme_cqe e;

	p_put(f, q, &s);
	p_ring(f, 2 * q, f->q[q].sq_tail);
	e = p_wait(f, q);
	assert_int_equal(e.cid, s.cid);
	p_ring(f, 2 * q + 1, f->q[q].cq_head);
	return e.status >> 1;
}

static void p_enable(struct pfx *f)
{
	p_w32(f, NVME_REG_AQA, (NFX_ADMIN_DEPTH - 1) * 0x10001u);
	p_w64(f, NVME_REG_ASQ, G_ASQ);
	p_w64(f, NVME_REG_ACQ, G_ACQ);
	memset(p_gp(f, G_ACQ, 4096), 0, 4096);
	p_w32(f, NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	assert_int_equal(p_r32(f, NVME_REG_CSTS), NVME_CSTS_RDY);
	f->q[0] = (struct nfx_q){ .sq_size = NFX_ADMIN_DEPTH, .cq_size = NFX_ADMIN_DEPTH,
				  .phase = true };
}

static void p_create_ioq(struct pfx *f, uint16_t size)
{
	struct nvme_sqe s;

	memset(p_gp(f, G_CQ(1), size * 16ull), 0, size * 16ull);
	memset(&s, 0, sizeof(s));
	s.opcode = NVME_ADM_CREATE_CQ;
	s.prp1 = G_CQ(1);
	s.cdw10 = 1 | (uint32_t)(size - 1) << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | NVME_CQ_IRQ_ENABLED | 1u << 16;
	assert_int_equal(p_cmd(f, 0, s), 0);
	memset(&s, 0, sizeof(s));
	s.opcode = NVME_ADM_CREATE_SQ;
	s.prp1 = G_SQ(1);
	s.cdw10 = 1 | (uint32_t)(size - 1) << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | 1u << 16;
	assert_int_equal(p_cmd(f, 0, s), 0);
	f->q[1] = (struct nfx_q){ .sq_size = size, .cq_size = size, .phase = true };
}

static struct nvme_sqe p_rw(uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2)
{
	struct nvme_sqe s;

	memset(&s, 0, sizeof(s));
	s.opcode = opc;
	s.nsid = 1;
	s.cdw10 = (uint32_t)slba;
	s.cdw11 = (uint32_t)(slba >> 32);
	s.cdw12 = nlb - 1;
	s.prp1 = prp1;
	s.prp2 = prp2;
	return s;
}

/* Identify, a queue pair, an 8 KiB write and read-back: what every test
 * of an attachment does first. */
static void p_bringup(struct pfx *f)
{
	struct nvme_sqe s;
	uint8_t *id;

	p_enable(f);
	memset(&s, 0, sizeof(s));
	s.opcode = NVME_ADM_IDENTIFY;
	s.cdw10 = NVME_ID_CNS_CTRL;
	s.prp1 = G_DATA;
	assert_int_equal(p_cmd(f, 0, s), 0);
	id = p_gp(f, G_DATA, 4096);
	assert_memory_equal(id + NVME_IDCTRL_SN, "PCI-SERIAL          ", 20);
	assert_int_equal(get_le16(id + NVME_IDCTRL_VID), PCI_VENDOR_ID_WARDEN);
	p_create_ioq(f, P_QDEPTH);
	fill(p_gp(f, G_DATA, 8192), 8192, 3);
	assert_int_equal(p_cmd(f, 1, p_rw(NVME_CMD_WRITE, 8, 16, G_DATA, G_DATA + 4096)), 0);
	memset(p_gp(f, G_DATA2, 8192), 0, 8192);
	assert_int_equal(p_cmd(f, 1, p_rw(NVME_CMD_READ, 8, 16, G_DATA2, G_DATA2 + 4096)), 0);
	assert_memory_equal(p_gp(f, G_DATA2, 8192), p_gp(f, G_DATA, 8192), 8192);
}

/* ---- Tests ---- */

static void test_pci_identity(void **state)
{
	struct pfx *f = *state;
	struct pci_device *d = nvme_pci_dev(&f->n);
	uint8_t cap;
	bool exp = false;

	assert_ptr_equal(d, &f->n.dev);
	assert_int_equal(pci_config_read(d, PCI_VENDOR_ID, 2), 0x5744);
	assert_int_equal(pci_config_read(d, PCI_DEVICE_ID, 2), NVME_PCI_DEVICE_ID);
	assert_int_equal(pci_config_read(d, PCI_CLASS_PROG, 1), 0x02);
	assert_int_equal(pci_config_read(d, PCI_CLASS_DEVICE, 2), 0x0108);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_PIN, 1), 0);
	assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* BAR0: 64-bit memory, 16 KiB. */
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4) & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(d->bars[0].size, NVME_BAR0_SIZE);
	assert_ptr_equal(d->bars[0].direct_host, NULL);
	/* Capabilities: PCIe, and MSI-X with max_ioqs + 1 vectors in BAR0. */
	for (cap = (uint8_t)pci_config_read(d, PCI_CAPABILITY_LIST, 1); cap;
	     cap = (uint8_t)pci_config_read(d, cap + 1, 1))
		if (pci_config_read(d, cap, 1) == PCI_CAP_ID_EXP)
			exp = true;
	assert_true(exp);
	cap = d->msix.cap_off;
	assert_int_equal(pci_config_read(d, cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(pci_config_read(d, cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, P_IOQS);
	assert_int_equal(pci_config_read(d, cap + PCI_MSIX_TABLE, 4), NVME_BAR0_MSIX_TABLE | 0);
	assert_int_equal(pci_config_read(d, cap + PCI_MSIX_PBA, 4), NVME_BAR0_MSIX_PBA | 0);
	/* Registers through the bus; doorbells read as 0, unused space too. */
	assert_int_equal(p_r32(f, NVME_REG_VS), 0x00010400);
	assert_int_equal(p_r32(f, NVME_BAR0_DOORBELLS), 0);
	p_w32(f, 0x1ffc, 5);                /* a doorbell of a disabled controller */
	assert_int_equal(p_r32(f, NVME_REG_CSTS), 0);
}

static void test_pci_init_errors(void **state)
{
	struct pfx *f = *state;
	struct nvme_pci n;
	struct nvme_pci_config cfg = { .name = "bad", .backend = f->blk, .dma = &f->as,
				       .passthrough = true };

	assert_int_equal(nvme_pci_init(&n, &cfg), -EINVAL);
	cfg.doorbell_page = (uint8_t *)f->page + 8;
	assert_int_equal(nvme_pci_init(&n, &cfg), -EINVAL);
	cfg.passthrough = false;
	cfg.max_ioqs = NVME_MAX_IOQS + 1;
	assert_int_equal(nvme_pci_init(&n, &cfg), -EINVAL);
	cfg.max_ioqs = 0;
	cfg.backend = NULL;
	assert_int_equal(nvme_pci_init(&n, &cfg), -EINVAL);
	nvme_pci_destroy(&n);                 /* safe after a failed init */
}

static void test_pci_emulated(void **state)
{
	struct pfx *f = *state;
	struct nvme_pci_stats st;

	assert_int_equal(nvme_pci_start(&f->n), 0);   /* nothing to start */
	p_bringup(f);
	nvme_pci_stats(&f->n, &st);
	assert_int_equal(st.ctrl.io_cmds[NVME_CMD_WRITE], 1);
	assert_int_equal(st.ctrl.io_cmds[NVME_CMD_READ], 1);
	assert_int_equal(st.ctrl.admin_cmds[NVME_ADM_IDENTIFY], 1);
	assert_int_equal(st.ctrl.bytes_read, 8192);
	assert_int_equal(st.engine.polls, 0);
	/* One MSI per completion here: admin on vector 0, I/O on vector 1. */
	assert_int_equal(f->msis[0x40], 3);
	assert_int_equal(f->msis[0x41], 2);
	assert_int_equal(st.irqs_delivered, 5);
	assert_int_equal(st.irqs_dropped, 0);
	/* A masked vector pends instead; MSI-X off drops. */
	p_w32(f, NVME_BAR0_MSIX_TABLE + 16 + 12, 1);
	assert_int_equal(p_cmd(f, 1, p_rw(NVME_CMD_READ, 0, 1, G_DATA, 0)), 0);
	assert_int_equal(f->msis[0x41], 2);
	p_w32(f, NVME_BAR0_MSIX_TABLE + 16 + 12, 0);
	assert_int_equal(f->msis[0x41], 3);
	pci_config_write(nvme_pci_dev(&f->n), f->n.dev.msix.cap_off + PCI_MSIX_FLAGS, 0, 2);
	assert_int_equal(p_cmd(f, 1, p_rw(NVME_CMD_READ, 0, 1, G_DATA, 0)), 0);
	nvme_pci_stats(&f->n, &st);
	assert_int_equal(st.irqs_dropped, 1);
	nvme_pci_stop(&f->n);
}

static void test_pci_reset_and_bus_master(void **state)
{
	struct pfx *f = *state;
	struct pci_device *d = nvme_pci_dev(&f->n);
	struct nvme_sqe s;
	uint32_t *cqe;

	p_bringup(f);
	/* Bus mastering off: the controller cannot fetch; nothing is written. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	s = p_rw(NVME_CMD_READ, 0, 1, G_DATA, 0);
	p_put(f, 1, &s);
	p_ring(f, 2, f->q[1].sq_tail);
	cqe = p_gp(f, G_CQ(1) + f->q[1].cq_head * 16ull, 16);
	assert_int_equal(cqe[3] >> 16 & 1, !f->q[1].phase);
	assert_true(p_r32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_true(f->as.stats.blocked > 0);
	/* A conventional reset resets the controller: registers to power-on. */
	pci_device_reset(d);
	assert_int_equal(f->n.ctrl.cc, 0);
	assert_int_equal(f->n.ctrl.csts, 0);
	assert_int_equal(f->n.ctrl.asq, 0);
	p_configure(f);
	assert_int_equal(p_r32(f, NVME_REG_CSTS), 0);
	p_bringup(f);
}

static void test_pci_passthrough_engine(void **state)
{
	struct pfx *f = *state;
	struct nvme_pci_stats st;
	struct nvme_cqe e;
	unsigned done = 0;

	assert_ptr_equal(f->n.dev.bars[0].direct_host, f->page);
	assert_int_equal(f->n.dev.bars[0].direct_offset, NVME_BAR0_DOORBELLS);
	assert_int_equal(nvme_pci_start(&f->n), 0);
	assert_int_equal(nvme_pci_start(&f->n), 0);   /* already running */
	p_bringup(f);
	/* A queue depth's worth at once: the engine keeps them in flight. */
	for (unsigned i = 0; i < P_QDEPTH - 1; i++) {
		struct nvme_sqe s = p_rw(i % 3 ? NVME_CMD_READ : NVME_CMD_WRITE, i * 8, 8,
					 G_DATA + i * 4096ull, 0);

		p_put(f, 1, &s);
	}
	p_ring(f, 2, f->q[1].sq_tail);
	/* Register reads race the engine (they take the controller lock). */
	for (unsigned i = 0; i < 1000; i++)
		assert_int_equal(p_r32(f, NVME_REG_CSTS), NVME_CSTS_RDY);
	while (done < P_QDEPTH - 1) {
		e = p_wait(f, 1);
		assert_int_equal(e.status >> 1, 0);
		done++;
	}
	p_ring(f, 3, f->q[1].cq_head);
	/* A trapped doorbell write (the window is not mapped without a host
	 * that maps it) lands in the page too. */
	{
		struct nvme_sqe s = p_rw(NVME_CMD_READ, 0, 8, G_DATA, 0);

		p_put(f, 1, &s);
		p_w32(f, NVME_BAR0_DOORBELLS + 2 * 4, f->q[1].sq_tail);
		assert_int_equal(f->page[2], f->q[1].sq_tail);
		assert_int_equal(p_r32(f, NVME_BAR0_DOORBELLS + 2 * 4), f->q[1].sq_tail);
		e = p_wait(f, 1);
		assert_int_equal(e.cid, s.cid);
		p_ring(f, 3, f->q[1].cq_head);
	}
	/* Hostile: an invalid doorbell with no event request outstanding. */
	p_ring(f, 2 * 3, 9);
	for (uint64_t t = now_ns() + 2000000000ull; !(p_r32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);)
		assert_true(now_ns() < t);
	/* Disable and re-enable while the engine runs. */
	p_w32(f, NVME_REG_CC, 0);
	assert_int_equal(p_r32(f, NVME_REG_CSTS), 0);
	p_bringup(f);
	assert_int_equal(nvme_pci_save(&f->n, NULL, 0), -EBUSY);
	nvme_pci_stop(&f->n);
	nvme_pci_stats(&f->n, &st);
	assert_true(st.engine.polls > 0);
	assert_true(st.engine.busy_polls > 0);
	assert_true(st.ctrl.io_cmds[NVME_CMD_READ] >= 43);
	assert_true(__atomic_load_n(&f->msis[0x41], __ATOMIC_RELAXED) >= 1);
	assert_true(st.irqs_delivered >= 2);
	assert_int_equal(st.ctrl.invalid_doorbells, 1);
	/* Stopped: save works; a second stop is a no-op. */
	assert_true(nvme_pci_save(&f->n, NULL, 0) > 0);
	nvme_pci_stop(&f->n);
}

/* Idle cost and latency of the engine. Printed, with loose bounds (CI
 * machines and sanitizers vary); the numbers in the report come from
 * plain builds on the 2-core development host. */
/* QD1 4 KiB reads, each after sleeping gap_ns (0: back to back); mean and
 * max latency in ns. */
static void p_qd1(struct pfx *f, unsigned n, long gap_ns, uint64_t *mean, uint64_t *max)
{
	uint64_t total = 0, t0, d;

	*max = 0;
	for (unsigned i = 0; i < n; i++) {
		if (gap_ns)
			nanosleep(&(struct timespec){ .tv_sec = gap_ns / 1000000000l,
						      .tv_nsec = gap_ns % 1000000000l }, NULL);
		t0 = now_ns();
		assert_int_equal(p_cmd(f, 1, p_rw(NVME_CMD_READ, i % 64, 8, G_DATA, 0)), 0);
		d = now_ns() - t0;
		total += d;
		if (d > *max)
			*max = d;
	}
	*mean = total / n;
}

/* Idle cost and latency of the engine. Printed, with loose bounds (shared
 * CI machines and sanitizers vary); the report's numbers come from plain
 * builds on the 2-core development host. */
static void test_pci_engine_measure(void **state)
{
	struct pfx *f = *state;
	struct nvme_pci_stats a, b;
	uint64_t spin, spin_max, w1, w1_max, w50, w50_max;
	double idle_pct;

	assert_int_equal(nvme_pci_start(&f->n), 0);
	p_bringup(f);
	/* Idle: the engine sleeps in growing steps. */
	nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	nvme_pci_stats(&f->n, &a);
	nanosleep(&(struct timespec){ .tv_nsec = 500000000 }, NULL);
	nvme_pci_stats(&f->n, &b);
	idle_pct = 100.0 * (double)(b.engine.cpu_ns - a.engine.cpu_ns) /
		   (double)(b.engine.wall_ns - a.engine.wall_ns);
	/* Back to back (the engine spins), after 1 ms and after 50 ms idle. */
	p_qd1(f, 2000, 0, &spin, &spin_max);
	p_qd1(f, 100, 1000000, &w1, &w1_max);
	p_qd1(f, 10, 50000000, &w50, &w50_max);
	nvme_pci_stop(&f->n);
	printf("nvme-engine: idle %.2f%% of a core (%llu sleeps in %.0f ms); 4 KiB read QD1: "
	       "back to back %.1f us (max %.0f), after 1 ms idle %.1f us (max %.0f), "
	       "after 50 ms idle %.1f us (max %.0f)\n", idle_pct,
	       (unsigned long long)(b.engine.idle_sleeps - a.engine.idle_sleeps),
	       (double)(b.engine.wall_ns - a.engine.wall_ns) / 1e6, spin / 1e3, spin_max / 1e3,
	       w1 / 1e3, w1_max / 1e3, w50 / 1e3, w50_max / 1e3);
	assert_true(b.engine.idle_sleeps > a.engine.idle_sleeps + 100);
	assert_true(idle_pct < 25.0);
}

/* The same QD1 loop through the emulated attachment, for comparison (no VM
 * exit here: this is the controller's own cost on the calling thread). */
static void test_pci_emulated_measure(void **state)
{
	struct pfx *f = *state;
	uint64_t mean, max;

	p_bringup(f);
	p_qd1(f, 2000, 0, &mean, &max);
	printf("nvme-emulated: 4 KiB read QD1 %.1f us (max %.0f): doorbell write to completion "
	       "on the calling thread, no VM exit\n", mean / 1e3, max / 1e3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_identity, setup_emulated, teardown),
		cmocka_unit_test_setup_teardown(test_pci_init_errors, setup_passthrough, teardown),
		cmocka_unit_test_setup_teardown(test_pci_emulated, setup_emulated, teardown),
		cmocka_unit_test_setup_teardown(test_pci_reset_and_bus_master, setup_emulated, teardown),
		cmocka_unit_test_setup_teardown(test_pci_passthrough_engine, setup_passthrough, teardown),
		cmocka_unit_test_setup_teardown(test_pci_engine_measure, setup_passthrough, teardown),
		cmocka_unit_test_setup_teardown(test_pci_emulated_measure, setup_emulated, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
