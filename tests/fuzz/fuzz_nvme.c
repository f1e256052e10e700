/* libFuzzer harness: the NVMe controller model as a hostile guest driver
 * sees it - register writes of every width, doorbells (trapped, or through
 * the polled doorbell page that nvme_ctrl_poll() scans), and guest RAM
 * holding whatever the input puts there: submission entries, PRP lists and
 * data - over a direct DMA address space into 2 MiB of guest RAM fenced by
 * canary regions, and a RAM backend or (configuration bit 5) one that
 * completes when the input says (fuzz_blk.h): requests then stay in flight
 * across doorbells, resets, queue deletion, shutdown, BME off and save, and
 * complete in either order, failing, with the backend refusing submissions
 * (-EAGAIN as a full io_uring ring does, or an error) or failing a poll.
 *
 * Two attachments: the controller alone (registers and doorbells called
 * directly), or - configuration bit 7 - the whole PCI function on a host
 * bridge and real buses, as a guest reaches it: BAR0 accesses through the
 * MMIO bus, doorbells in BAR0 (trapped, or stored to the passthrough
 * doorbell page the polled path scans), MSI-X through the PCI core, Bus
 * Master Enable through the command register, function reset, and config
 * space and MSI-X table accesses of the input's choosing.
 *
 * Input: one configuration byte (bit 0 polled doorbells, bits 2:1 queue
 * count, bits 4:3 MQES, bit 5 deferred backend, bit 7 PCI function); with
 * the deferred backend a second byte (bit 0 newest completes first, bit 1
 * read-only disk, bits 7:2 submissions the backend takes at once, 0: no
 * limit); then operations (see the switch below) until the input ends.
 * Guest-physical layout the seeds use (the input may put anything
 * anywhere): admin SQ 0x10000, admin CQ 0x20000, I/O SQ q at 0x40000 +
 * q * 0x10000, I/O CQ q at 0xc0000 + q * 0x4000, PRP lists at 0x100000,
 * data from 0x110000.
 *
 * Findings (trap) beyond sanitizer reports and canary damage:
 *  - queue state the controller keeps that breaks its own rules: a head or
 *    tail beyond the queue, completions promised beyond a CQ's free slots
 *    (used + reserved > size - 1: an unconsumed entry would be
 *    overwritten), an SQ bound to a CQ that does not exist;
 *  - requests still on the backend after a doorbell write returned in the
 *    emulated attachment (it must finish everything it started, unless the
 *    backend failed and the controller says so with CSTS.CFS), or more
 *    requests than NVME_MAX_INFLIGHT; the controller's count of backend
 *    operations differing from the backend's; anything still on the
 *    backend when the controller has been destroyed;
 *  - an interrupt for a vector the controller cannot have assigned;
 *  - a polled controller that never goes idle (the round is bounded);
 *  - save/load: a record that loads must describe a controller that obeys
 *    the rules above.
 * The DMA gate (Bus Master Enable) can be closed under the controller, as a
 * guest clearing BME does: DMA then fails and the controller must cope. */
#include <errno.h>

#include "fuzz_common.h"
#include "fuzz_blk.h"
#include "devices/nvme.h"
#include "devices/nvme_internal.h"

#define FZ_MAX_OPS      96
#define RAM_SIZE        (2 * FZ_MiB)
#define DISK_SIZE       (256 * 1024)
#define G_ASQ           0x10000ull
#define G_ACQ           0x20000ull
#define G_SQ(q)         (0x40000ull + (uint64_t)(q) * 0x10000)
#define G_CQ(q)         (0xc0000ull + (uint64_t)(q) * 0x4000)
#define G_PRPL          0x100000ull
#define G_DATA          0x110000ull
/* A round fetches at most 64 entries per SQ (nvme_queue.c's
 * NVME_FETCH_BUDGET), so a full admin queue (4096 entries, the largest
 * queue here) takes 64 rounds with work, then one idle round. The bound was
 * 64 until fuzz_nvme found a 4059-entry admin queue that needed 65. */
#define POLL_ROUNDS     (NVME_ADMIN_QUEUE_MAX / 64 + 4)

#define ECAM_BASE       0xb0000000ull
#define NVME_DEVFN      PCI_DEVFN(3, 0)
#define MSIX_CAP        0x7c            /* after the PCIe capability at 0x40 */

static struct fz_ram R;
static uint32_t *db_page;
static bool polled;                     /* this input's attachment */
static bool on_pci;
static struct blk_backend *blk;         /* this input's disk */
static struct fz_blk *deferred;         /* blk, when it is the deferred backend */
static struct nvme_ctrl C;              /* the controller alone */
static struct nvme_ctrl *c;             /* C, or the PCI function's */
static unsigned max_vector;
static struct {                         /* the PCI attachment */
	struct bus pio, mmio;
	struct pci_host host;
	struct nvme_pci n;
	uint64_t msis;
} P;
static bool trace;                      /* FUZZ_TRACE=1: state after every op */

static void irq(void *opaque, unsigned vector)
{
	FZ_CHECK(vector <= max_vector, "interrupt on vector %u (max_ioqs %u)", vector, max_vector);
}

static int msi_send_fake(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	FZ_CHECK(rid == P.n.dev.bdf, "MSI with requester id %04x", rid);
	P.msis++;
	return 0;
}

static const struct msi_sink msi = { .send = msi_send_fake };

/* ---- Invariants ---- */

static void check_ctrl(struct nvme_ctrl *c)
{
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		const struct nvme_sq *sq = &c->sq[q];
		const struct nvme_cq *cq = &c->cq[q];

		if (cq->valid) {
			unsigned used = (unsigned)(cq->tail + cq->size - cq->head) % cq->size;

			FZ_CHECK(cq->size >= 2 && cq->head < cq->size && cq->tail < cq->size,
				 "CQ %u size %u head %u tail %u", q, cq->size, cq->head, cq->tail);
			FZ_CHECK(used + cq->reserved <= cq->size - 1u,
				 "CQ %u: %u entries posted and %u promised in %u slots", q, used,
				 cq->reserved, cq->size);
			FZ_CHECK(!cq->ien || cq->iv <= c->max_ioqs, "CQ %u on vector %u", q, cq->iv);
		}
		if (sq->valid) {
			FZ_CHECK(sq->size >= 2 && sq->head < sq->size && sq->tail < sq->size,
				 "SQ %u size %u head %u tail %u", q, sq->size, sq->head, sq->tail);
			FZ_CHECK(sq->cqid < NVME_MAX_QUEUES && c->cq[sq->cqid].valid,
				 "SQ %u bound to CQ %u that does not exist", q, sq->cqid);
		}
	}
	/* Every CQ slot promised is promised to a command taken from an SQ on
	 * that CQ and not yet answered, or to an outstanding Asynchronous Event
	 * Request; a completion posted for anything else (a command from before
	 * a reset, or from a deleted queue) breaks it. A controller in fatal
	 * status may have given requests up and owes nothing until reset. */
	if (!c->fatal)
		for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
			unsigned owed = q ? 0 : c->aer_count;

			if (!c->cq[q].valid)
				continue;
			for (unsigned s = 0; s < NVME_MAX_QUEUES; s++)
				if (c->sq[s].valid && c->sq[s].cqid == q)
					owed += c->sq[s].inflight;
			FZ_CHECK(c->cq[q].reserved == owed, "CQ %u: %u slots promised, %u commands "
				 "and event requests outstanding", q, c->cq[q].reserved, owed);
		}
	FZ_CHECK(c->reqs_allocated <= NVME_MAX_INFLIGHT, "%u requests", c->reqs_allocated);
	/* After a failed poll the backend may also hold a flush that
	 * blk_rw_sync() gave up waiting for (it frees itself when it ends). */
	FZ_CHECK(c->blk_inflight == blk->inflight ||
		 (deferred && deferred->polls_failed && c->blk_inflight < blk->inflight),
		 "controller counts %u backend operations, the backend %u", c->blk_inflight,
		 blk->inflight);
}

/* ---- The guest's view: registers, doorbells, the DMA gate ---- */

static void ecam_write(uint32_t reg, uint32_t v, unsigned len)
{
	bus_write(&P.mmio, ECAM_BASE + ((uint64_t)NVME_DEVFN << 12 | reg), v, len);
}

static uint64_t bar0(void)
{
	return P.n.dev.bars[0].addr;
}

static void reg_write(uint64_t off, uint64_t v, unsigned len)
{
	if (on_pci)
		bus_write(&P.mmio, bar0() + off, v, len);
	else
		nvme_ctrl_reg_write(c, off, v, len);
}

static void reg_read(uint64_t off, uint64_t *v, unsigned len)
{
	if (on_pci)
		bus_read(&P.mmio, bar0() + off, v, len);
	else
		nvme_ctrl_reg_read(c, off, v, len);
}

static void poll_idle(void)
{
	unsigned i;

	for (i = 0; i < POLL_ROUNDS; i++)
		if (!nvme_ctrl_poll(c, true, NULL))
			break;
	/* Each round works through at most a budget per queue; a guest can
	 * keep it busy only by ringing again, which it cannot do here. */
	FZ_CHECK(i < POLL_ROUNDS, "polled controller never went idle");
}

static void ring(unsigned slot, uint32_t v)
{
	if (on_pci) {
		/* Emulated: runs the commands; passthrough: the write lands in
		 * the doorbell page the engine (here: poll_idle) scans. */
		bus_write(&P.mmio, bar0() + NVME_REG_DBS + (uint64_t)slot * 4, v, 4);
		if (polled)
			poll_idle();
	} else if (polled) {
		if (slot < NVME_DOORBELLS)
			__atomic_store_n(&db_page[slot], v, __ATOMIC_RELEASE);
		poll_idle();
	} else {
		nvme_ctrl_doorbell_write(c, slot, v);
	}
	if (!polled)
		FZ_CHECK(c->blk_inflight == 0 || (c->csts & NVME_CSTS_CFS),
			 "emulated doorbell returned with %u requests on the backend", c->blk_inflight);
}

/* Firmware and driver setup of the function: BAR0 placed, memory decode
 * and bus mastering on, MSI-X enabled with every vector unmasked. */
static void pci_setup(void)
{
	int ret = pci_host_assign_resources(&P.host, 0xc0000000ull, 0xfec00000ull, 0, 0, 0xc000,
					    0x10000);

	FZ_CHECK(ret == 0, "assign resources: %d", ret);
	ecam_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ecam_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	for (unsigned v = 0; v <= max_vector; v++) {
		uint64_t e = bar0() + NVME_BAR0_MSIX_TABLE + v * 16ull;

		bus_write(&P.mmio, e, 0xfee00000u, 4);
		bus_write(&P.mmio, e + 8, 0x40 + v, 4);
		bus_write(&P.mmio, e + 12, 0, 4);
	}
}

static void dma_gate(struct dma_as *as, bool on)
{
	if (on_pci)
		ecam_write(PCI_COMMAND, PCI_COMMAND_MEMORY | (on ? PCI_COMMAND_MASTER : 0), 2);
	else
		dma_as_set_enabled(as, on);
}

/* ---- Operands ---- */

static uint64_t pick_gpa(struct fz *f)
{
	uint8_t m = fz_u8(f);

	switch (m & 3) {
	case 0: return G_DATA + ((uint64_t)(m >> 2) << 12);            /* a data page */
	case 1: return G_DATA + ((uint64_t)(m >> 2) << 12) + (fz_u16(f) & 0xffc);
	case 2: return G_PRPL + ((uint64_t)(m >> 2 & 3) << 12) + (fz_u8(f) & 0x1f8);
	default: return fz_value64(f);
	}
}

static uint32_t pick_value(struct fz *f)
{
	uint8_t m = fz_u8(f);

	switch (m & 3) {
	case 0: return m >> 2;
	case 1: return fz_u16(f);
	default: return fz_u32(f);
	}
}

/* An SQ entry, field by field: opcodes the controller knows and the
 * fields each one reads, or raw bytes. */
static void build_sqe(struct fz *f, struct nvme_sqe *s, bool admin)
{
	static const uint8_t admin_ops[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a,
					     0x0c, 0x7f };
	static const uint8_t io_ops[] = { 0x00, 0x01, 0x02, 0x08, 0x09, 0x04 };
	uint8_t m = fz_u8(f);

	memset(s, 0, sizeof(*s));
	if ((m & 7) == 7) {
		fz_bytes(f, s, sizeof(*s));
		return;
	}
	s->opcode = admin ? admin_ops[fz_u8(f) % sizeof(admin_ops)] : io_ops[fz_u8(f) % sizeof(io_ops)];
	s->flags = m & 8 ? fz_u8(f) : 0;
	s->cid = fz_u16(f);
	s->nsid = m & 0x10 ? fz_u32(f) : 1;
	s->prp1 = pick_gpa(f);
	s->prp2 = m & 0x20 ? pick_gpa(f) : 0;
	s->cdw10 = pick_value(f);
	s->cdw11 = pick_value(f);
	if (m & 0x40) {
		s->cdw12 = pick_value(f);
		s->cdw13 = pick_value(f);
	}
	if (m & 0x80) {
		s->cdw14 = fz_u32(f);
		s->cdw15 = fz_u32(f);
		s->mptr = fz_u64(f);
	}
}

static const uint64_t regs[] = {
	NVME_REG_CC, NVME_REG_AQA, NVME_REG_ASQ, NVME_REG_ASQ + 4, NVME_REG_ACQ, NVME_REG_ACQ + 4,
	NVME_REG_INTMS, NVME_REG_INTMC, NVME_REG_NSSR, NVME_REG_CAP, NVME_REG_VS, NVME_REG_CSTS,
};

/* ---- The harness ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	fz_ram_init(&R, RAM_SIZE);
	db_page = aligned_alloc(4096, 4096);
	FZ_CHECK(db_page, "doorbell page");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t mqes[4] = { 1, 15, 63, 255 };
	static const uint16_t ioqs[4] = { 1, 2, 8, NVME_MAX_IOQS };
	struct nvme_ctrl_config cfg;
	struct dma_as as;
	struct fz f;
	uint8_t b;
	int ret;

	fz_init(&f, data, size);
	b = fz_u8(&f);
	polled = b & 1;
	memset(R.ram, 0, RAM_SIZE);
	memset(db_page, 0, 4096);
	deferred = NULL;
	if (b & 0x20) {
		uint8_t d = fz_u8(&f);

		/* A DSM command is up to 256 backend operations. */
		deferred = fz_blk_new(DISK_SIZE, NVME_MAX_INFLIGHT * 257, d & 1);
		deferred->b.read_only = d & 2;
		deferred->limit = d >> 2;
		blk = &deferred->b;
	} else {
		ret = blk_open_ram(&blk, DISK_SIZE);
		FZ_CHECK(ret == 0, "blk_open_ram: %d", ret);
	}
	dma_as_init_direct(&as, &R.gmem, 0x0018);
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "fz";
	cfg.backend = blk;
	cfg.dma = &as;
	cfg.max_ioqs = ioqs[(b >> 1) & 3];
	cfg.mqes = mqes[(b >> 3) & 3];
	cfg.serial = "FUZZ";
	cfg.doorbell_page = polled ? db_page : NULL;
	cfg.irq = irq;
	max_vector = cfg.max_ioqs;
	on_pci = b & 0x80;
	if (on_pci) {
		struct nvme_pci_config pcfg = {
			.name = "fz", .backend = blk, .max_ioqs = cfg.max_ioqs, .mqes = cfg.mqes,
			.passthrough = polled, .doorbell_page = db_page, .dma = &as, .serial = "FUZZ",
		};

		memset(&P, 0, sizeof(P));
		FZ_CHECK(bus_init(&P.pio, "pio") == 0 && bus_init(&P.mmio, "mmio") == 0, "buses");
		ret = pci_host_init(&P.host, &P.pio, &P.mmio, ECAM_BASE, 0x10000000ull, &msi, NULL,
				    NULL, NULL);
		FZ_CHECK(ret == 0, "pci_host_init: %d", ret);
		ret = nvme_pci_init(&P.n, &pcfg);
		FZ_CHECK(ret == 0, "nvme_pci_init: %d", ret);
		ret = pci_host_plug(&P.host, nvme_pci_dev(&P.n), NVME_DEVFN);
		FZ_CHECK(ret == 0, "plug: %d", ret);
		c = &P.n.ctrl;
		pci_setup();
	} else {
		ret = nvme_ctrl_init(&C, &cfg);
		FZ_CHECK(ret == 0, "nvme_ctrl_init: %d", ret);
		c = &C;
	}

	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		uint8_t o = fz_u8(&f);

		switch (o % (deferred ? 15 : 14)) {
		case 0: {                               /* register write */
			uint8_t m = fz_u8(&f);
			uint64_t off = m & 0x80 ? fz_u16(&f) & 0xfff : regs[m % (sizeof(regs) / 8)];
			unsigned len = m & 0x40 ? 8 : m & 0x20 ? 1u << (fz_u8(&f) & 3) : 4;
			uint64_t v = fz_value64(&f);

			reg_write(off, v, len);
			break;
		}
		case 1: {                               /* register read */
			uint64_t off = fz_u16(&f) & 0x1fff, v = 0;
			unsigned len = fz_u8(&f) % 9;

			reg_read(off, &v, len);
			if (off == NVME_REG_CAP && len == 8 && (!on_pci || P.n.dev.bars[0].mapped))
				FZ_CHECK(v == c->cap, "CAP reads 0x%llx", (unsigned long long)v);
			break;
		}
		case 2: {                               /* enable, as a driver does */
			uint8_t m = fz_u8(&f);
			uint32_t depth = 2 + (m & 0x3f);

			reg_write(NVME_REG_AQA, (depth - 1) | (depth - 1) << 16, 4);
			reg_write(NVME_REG_ASQ, m & 0x40 ? fz_value64(&f) : G_ASQ, 8);
			reg_write(NVME_REG_ACQ, m & 0x80 ? fz_value64(&f) : G_ACQ, 8);
			reg_write(NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT |
				  4u << NVME_CC_IOCQES_SHIFT, 4);
			break;
		}
		case 3: case 4: {                       /* an SQ entry in guest RAM */
			uint8_t m = fz_u8(&f);
			unsigned q = m % 9, slot = fz_u8(&f);
			uint64_t at = (q ? G_SQ(q) : G_ASQ) + (uint64_t)slot * NVME_SQE_SIZE;
			struct nvme_sqe s;

			build_sqe(&f, &s, q == 0);
			memcpy(R.ram + at, &s, sizeof(s));
			break;
		}
		case 5: {                               /* SQ tail doorbell */
			uint8_t m = fz_u8(&f);
			unsigned q = m & 0x80 ? fz_u16(&f) : m % 9;

			ring(2 * q, m & 0x40 ? fz_u16(&f) : fz_u8(&f));
			break;
		}
		case 6: {                               /* CQ: consume entries, ring head */
			uint8_t m = fz_u8(&f);
			unsigned q = m % 9;

			ring(2 * q + 1, m & 0x80 ? fz_u16(&f) : fz_u8(&f));
			break;
		}
		case 7: {                               /* a PRP list */
			uint64_t at = G_PRPL + ((uint64_t)(fz_u8(&f) & 3) << 12) + (fz_u8(&f) & 0x1f8);
			unsigned n = 1 + fz_u8(&f) % 40;
			uint8_t m = fz_u8(&f);

			for (unsigned i = 0; i < n && at + 8 <= RAM_SIZE; i++, at += 8) {
				uint64_t e = m & 1 ? pick_gpa(&f) : G_DATA + (uint64_t)(i + (m >> 1)) * 4096;

				memcpy(R.ram + at, &e, 8);
			}
			break;
		}
		case 8: {                               /* raw bytes anywhere in RAM */
			uint64_t at = ((uint64_t)fz_u16(&f) << 5) % RAM_SIZE;
			size_t len = fz_u8(&f);

			if (len > RAM_SIZE - at)
				len = RAM_SIZE - at;
			fz_bytes(&f, R.ram + at, len);
			break;
		}
		case 9:                                 /* a polling round, either attachment */
			poll_idle();
			break;
		case 10:                                /* function-level reset */
			if (on_pci)
				pci_device_reset(nvme_pci_dev(&P.n));
			else
				nvme_ctrl_reset(c);
			break;
		case 12:                                /* bus master enable off/on: the DMA gate */
			dma_gate(&as, fz_u8(&f) & 1);
			break;
		case 13: {                              /* the PCI function's config and MSI-X */
			uint8_t m = fz_u8(&f);
			uint32_t reg = m & 0x80 ? fz_u16(&f) & 0xfff : (uint32_t)(m & 0x7c);
			uint64_t v = 0;

			if (!on_pci)
				break;
			switch (m & 3) {
			case 0:
				ecam_write(reg, fz_u32(&f), 1u << (fz_u8(&f) % 3));
				break;
			case 1:
				bus_read(&P.mmio, ECAM_BASE + ((uint64_t)NVME_DEVFN << 12 | reg), &v, 4);
				break;
			case 2:                         /* an MSI-X table dword */
				bus_write(&P.mmio, bar0() + NVME_BAR0_MSIX_TABLE + (fz_u16(&f) & 0xffc),
					  fz_u32(&f), 4);
				break;
			default:                        /* firmware and driver set it up again */
				pci_setup();
				break;
			}
			break;
		}
		case 14: {                              /* the deferred backend */
			static const int errs[4] = { -EIO, -EAGAIN, -ENOMEM, -EBUSY };
			uint8_t m = fz_u8(&f);

			if (m & 0x10)
				deferred->fail = fz_u32(&f);
			if (m & 0x20)                   /* the next poll fails (for good, as */
				deferred->poll_error = -EIO;    /* the io_uring backend's do) */
			if (m & 0x40)                   /* the next submission is refused */
				deferred->submit_error = errs[fz_u8(&f) & 3];
			if (m & 0x80)
				deferred->limit = fz_u8(&f) & 0x3f;
			/* Completions the controller's next reap finds. */
			deferred->ready = m & 8 ? deferred->n : m & 7;
			break;
		}
		default: {                              /* migration: save, corrupt, load */
			static uint8_t buf[8192];
			static uint16_t live[8192];
			uint8_t m = fz_u8(&f);
			unsigned flips = m % 4, nlive = 0;
			int n;

			/* Quiesce first, as the VMM does (stopping the engine
			 * finishes what is on the backend); or not: the save
			 * must then refuse while anything is in flight. */
			if (m & 4) {
				if (on_pci)
					nvme_pci_stop(&P.n);
				else
					nvme_ctrl_quiesce(c);
				FZ_CHECK(c->blk_inflight == 0 || c->fatal, "%u requests in flight after a "
					 "quiesce", c->blk_inflight);
			}
			n = on_pci ? nvme_pci_save(&P.n, buf, sizeof(buf)) : nvme_ctrl_save(c, buf, sizeof(buf));
			if (n == -EBUSY) {
				FZ_CHECK(c->blk_inflight, "save refused with nothing in flight");
				break;
			}
			FZ_CHECK(n > 0 && (size_t)n <= sizeof(buf), "save: %d", n);
			/* Corrupt mostly the fields in use (non-zero bytes past the
			 * header: queue sizes, heads, tails, bases, counts). */
			for (int i = 8; i < n; i++)
				if (buf[i])
					live[nlive++] = (uint16_t)i;
			for (unsigned i = 0; i < flips; i++) {
				uint8_t m = fz_u8(&f);
				unsigned at = m & 1 || !nlive ? fz_u16(&f) % (unsigned)n
							      : live[fz_u16(&f) % nlive];

				buf[at] = m & 2 ? (uint8_t)(m >> 2) : buf[at] ^ fz_u8(&f);
			}
			if (on_pci)
				(void)nvme_pci_load(&P.n, buf, (size_t)n);
			else
				(void)nvme_ctrl_load(c, buf, (size_t)n);
			break;
		}
		}
		check_ctrl(c);
		if (trace)
			fprintf(fz_err(), "op %u (%u): CSTS 0x%x, %llu doorbells, %llu errors, "
				"SQ0 %u/%u CQ0 %u/%u SQ1 %u/%u CQ1 %u/%u, read %llu written %llu, "
				"%u on the backend\n",
				op, o % (deferred ? 15 : 14), c->csts, (unsigned long long)c->stats.doorbell_writes,
				(unsigned long long)c->stats.errors, c->sq[0].head, c->sq[0].tail,
				c->cq[0].head, c->cq[0].tail, c->sq[1].head, c->sq[1].tail, c->cq[1].head,
				c->cq[1].tail, (unsigned long long)c->stats.bytes_read,
				(unsigned long long)c->stats.bytes_written, blk->inflight);
	}
	/* A backend that fails when the controller is destroyed leaves its
	 * requests leaked on purpose (nvme_req_pool_free()); the failures
	 * worth fuzzing are the ones the controller lives on after. */
	if (deferred)
		deferred->poll_error = 0;
	if (on_pci) {
		nvme_pci_destroy(&P.n);
		pci_host_destroy(&P.host);
		FZ_CHECK(P.mmio.nr == 0 && P.pio.nr == 0, "ranges left on the buses");
		bus_destroy(&P.mmio);
		bus_destroy(&P.pio);
	} else {
		nvme_ctrl_destroy(&C);
	}
	if (deferred && deferred->n) {
		/* Only operations nobody waits for any more may be left: the
		 * controller drained its own. Completing them must free them. */
		FZ_CHECK(deferred->polls_failed, "%u backend operations left by the controller",
			 deferred->n);
		fz_blk_complete(deferred, ~0u);
	}
	blk_close(blk);
	/* Once per input: the canary pages cost more to compare than most
	 * operations, and a breach is reported against this input anyway. */
	fz_ram_check(&R);
	return 0;
}
