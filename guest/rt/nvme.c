/* NVMe driver for the test guests: controller bring-up, admin and one I/O
 * queue pair, PRP building, polled and MSI-X completion. See nvme.h.
 *
 * The controller may be hostile or dead: every loop that waits on it is
 * bounded by a TSC deadline, every completion is checked against the
 * command slots we own, and 64-bit registers are accessed as two dwords
 * (the spec allows it and it is all some VMMs implement). */
#include "nvme.h"

#define CAP_MQES(c)    ((uint32_t)((c) & 0xffff))
#define CAP_CQR(c)     (((c) >> 16) & 1)
#define CAP_TO(c)      (((c) >> 24) & 0xff)            /* 500 ms units */
#define CAP_DSTRD(c)   (((c) >> 32) & 0xf)
#define CAP_CSS_NVM(c) (((c) >> 37) & 1)
#define CAP_MPSMIN(c)  (((c) >> 48) & 0xf)

#define CC_EN          (1u << 0)
#define CC_CSS_NVM     (0u << 4)
#define CC_MPS_4K      (0u << 7)
#define CC_AMS_RR      (0u << 11)
#define CC_IOSQES      (6u << 16)                      /* 64-byte SQ entries */
#define CC_IOCQES      (4u << 20)                      /* 16-byte CQ entries */

#define ADMIN_QUEUE_SIZE 32
#define DEFAULT_IO_DEPTH 32
#define DEFAULT_TIMEOUT_US 5000000ull
#define MAX_RDY_TIMEOUT_US 20000000ull
#define CSTS_CHECK_US  1000                            /* poll CSTS this often */
#define DEFAULT_MAX_XFER (2u << 20)                    /* when MDTS says "no limit" */
#define PRP_PER_PAGE   (NVME_PAGE_SIZE / 8)

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_DONE, SLOT_ABANDONED };

static struct nvme_queue *irq_queue[256];
static unsigned irq_base;                  /* nvme_irq_init's vector, 0: none */

/* ---- registers ---- */

uint32_t nvme_reg32(struct nvme_ctrl *c, uint32_t off)
{
	return mmio_read32(c->bar + off);
}

static void wr32(struct nvme_ctrl *c, uint32_t off, uint32_t v)
{
	mmio_write32(c->bar + off, v);
}

static uint64_t rd64(struct nvme_ctrl *c, uint32_t off)
{
	uint32_t lo = nvme_reg32(c, off), hi = nvme_reg32(c, off + 4);

	return (uint64_t)hi << 32 | lo;
}

static void wr64(struct nvme_ctrl *c, uint32_t off, uint64_t v)
{
	wr32(c, off, (uint32_t)v);
	wr32(c, off + 4, (uint32_t)(v >> 32));
}

uint32_t nvme_csts(struct nvme_ctrl *c)
{
	return nvme_reg32(c, NVME_REG_CSTS);
}

static uint64_t db_addr(struct nvme_ctrl *c, unsigned qid, bool cq)
{
	return c->bar + NVME_REG_DBS + (uint64_t)(2 * qid + (cq ? 1 : 0)) * c->db_stride;
}

void nvme_doorbell_raw(struct nvme_ctrl *c, unsigned qid, bool cq, uint32_t value)
{
	barrier();
	mmio_write32(db_addr(c, qid, cq), value);
}

/* ---- time ---- */

static uint64_t deadline(uint64_t us)
{
	return rdtsc() + us * (tsc_hz() / 1000000);
}

static bool expired(uint64_t dl)
{
	return (int64_t)(rdtsc() - dl) >= 0;
}

const char *nvme_err_name(int r)
{
	switch (r) {
	case NVME_E_TIMEOUT: return "timeout";
	case NVME_E_CFS:     return "controller fatal status (CSTS.CFS)";
	case NVME_E_GONE:    return "controller gone (registers read all ones)";
	case NVME_E_FULL:    return "queue full";
	case NVME_E_INVAL:   return "invalid argument";
	case NVME_E_NODEV:   return "no NVMe controller";
	case NVME_E_NOMEM:   return "out of memory";
	case NVME_E_UNSUPP:  return "unsupported controller";
	default:             return r >= 0 ? "status" : "error";
	}
}

static int fail(struct nvme_ctrl *c, int r, const char *fmt, ...) RT_PRINTF(3, 4);
static int fail(struct nvme_ctrl *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return r;
}

/* Why a wait ended without its completion: CFS, all-ones, or a timeout. */
static int ctrl_health(struct nvme_ctrl *c)
{
	uint32_t csts = nvme_csts(c);

	if (csts == 0xffffffff)
		return NVME_E_GONE;
	if (csts & NVME_CSTS_CFS)
		return NVME_E_CFS;
	return 0;
}

/* ---- PRPs ---- */

/* list is where the CPU writes the PRP list; the controller finds it at
 * list + list_bus_off (nvme_opts.dma_offset). */
static int prp_build(uint64_t buf, uint64_t len, uint64_t list, uint64_t list_bytes,
		     uint64_t list_bus_off, uint64_t *prp1, uint64_t *prp2)
{
	const uint64_t pg = NVME_PAGE_SIZE;

	if ((buf & 3) || !len)
		return NVME_E_INVAL;
	*prp1 = buf;
	*prp2 = 0;
	uint64_t first = pg - (buf & (pg - 1));
	if (len <= first)
		return 0;                       /* PRP1 only */
	uint64_t next = (buf & ~(pg - 1)) + pg;
	uint64_t rest = len - first;
	if (rest <= pg) {
		*prp2 = next;                   /* PRP1 + PRP2 */
		return 0;
	}
	uint64_t npages = (rest + pg - 1) / pg;
	if (!list || (list & (pg - 1)) || list_bytes < pg)
		return NVME_E_INVAL;
	/* A list page holds PRP_PER_PAGE entries; when more follow, its last
	 * entry points to the next list page instead. */
	uint64_t *e = (uint64_t *)list, cur = list;
	unsigned idx = 0;
	for (uint64_t i = 0; i < npages; i++) {
		if (idx == PRP_PER_PAGE - 1 && npages - i > 1) {
			uint64_t nl = cur + pg;
			if (nl + pg > list + list_bytes)
				return NVME_E_INVAL;
			e[idx] = nl + list_bus_off;
			cur = nl;
			e = (uint64_t *)cur;
			idx = 0;
		}
		e[idx++] = next + i * pg;
	}
	*prp2 = list + list_bus_off;
	return 0;
}

int nvme_prp_build(uint64_t buf, uint64_t len, uint64_t list, uint64_t list_bytes,
		   uint64_t *prp1, uint64_t *prp2)
{
	return prp_build(buf, len, list, list_bytes, 0, prp1, prp2);
}

/* ---- queues ---- */

static uint64_t prp_list_bytes_for(uint64_t max_xfer)
{
	uint64_t entries = max_xfer / NVME_PAGE_SIZE + 2;
	uint64_t pages = (entries + PRP_PER_PAGE - 2) / (PRP_PER_PAGE - 1);

	return (pages ? pages : 1) * NVME_PAGE_SIZE;
}

/* Allocates a queue pair's memory once; queue_reset makes it fresh. */
static int queue_alloc(struct nvme_ctrl *c, struct nvme_queue *q, uint16_t qid, uint16_t size,
		       uint64_t max_xfer)
{
	q->ctrl = c;
	q->qid = qid;
	q->size = size;
	q->nslots = size - 1;
	q->max_xfer = max_xfer;
	q->prp_list_bytes = prp_list_bytes_for(max_xfer);
	uint64_t sq = rt_alloc((uint64_t)size * sizeof(struct nvme_sqe), NVME_PAGE_SIZE);
	uint64_t cq = rt_alloc((uint64_t)size * sizeof(struct nvme_cqe), NVME_PAGE_SIZE);
	uint64_t slots = rt_alloc(q->nslots * sizeof(struct nvme_slot), 64);
	uint64_t free_cids = rt_alloc(q->nslots * sizeof(uint16_t), 16);
	uint64_t fifo = rt_alloc(q->nslots * sizeof(uint16_t), 16);
	uint64_t prps = rt_alloc(q->nslots * q->prp_list_bytes, NVME_PAGE_SIZE);
	if (!sq || !cq || !slots || !free_cids || !fifo || !prps)
		return fail(c, NVME_E_NOMEM, "queue %u: out of memory", qid);
	q->sq = (struct nvme_sqe *)sq;
	q->cq = (volatile struct nvme_cqe *)cq;
	q->slots = (struct nvme_slot *)slots;
	q->free_cids = (uint16_t *)free_cids;
	q->done_fifo = (uint16_t *)fifo;
	for (uint16_t i = 0; i < q->nslots; i++)
		q->slots[i].prp_list = prps + (uint64_t)i * q->prp_list_bytes;
	return 0;
}

static void queue_reset(struct nvme_queue *q)
{
	struct nvme_ctrl *c = q->ctrl;

	memset((void *)q->cq, 0, (uint64_t)q->size * sizeof(struct nvme_cqe));
	q->sq_db = db_addr(c, q->qid, false);
	q->cq_db = db_addr(c, q->qid, true);
	q->sq_tail = q->sq_rung = q->sq_head = q->cq_head = 0;
	q->phase = 1;
	q->inflight = 0;
	q->done_head = q->done_count = 0;
	q->bogus = 0;
	q->irqs_seen = q->irqs;
	for (uint16_t i = 0; i < q->nslots; i++) {
		q->slots[i].state = SLOT_FREE;
		q->free_cids[i] = q->nslots - 1 - i;    /* cid 0 first */
	}
	q->nfree = q->nslots;
}

int nvme_submit(struct nvme_queue *q, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
		uint64_t tag)
{
	if (!q->nfree || q->inflight >= q->nslots)
		return NVME_E_FULL;
	uint16_t cid = q->free_cids[q->nfree - 1];
	struct nvme_slot *s = &q->slots[cid];

	if (len) {
		if (len > q->max_xfer)
			return NVME_E_INVAL;
		int r = prp_build(buf, len, s->prp_list, q->prp_list_bytes, q->ctrl->opts.dma_offset,
				  &cmd->prp1, &cmd->prp2);
		if (r)
			return r;
	}
	q->nfree--;
	s->state = SLOT_BUSY;
	s->sync = false;
	s->tag = tag;
	cmd->cid = cid;
	q->sq[q->sq_tail] = *cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->size);
	q->inflight++;
	return cid;
}

void nvme_ring(struct nvme_queue *q)
{
	if (q->sq_tail == q->sq_rung)
		return;
	barrier();                      /* SQ entries before the doorbell */
	mmio_write32(q->sq_db, q->sq_tail);
	q->sq_rung = q->sq_tail;
}

static void free_slot(struct nvme_queue *q, uint16_t cid)
{
	q->slots[cid].state = SLOT_FREE;
	q->free_cids[q->nfree++] = cid;
	q->inflight--;
}

/* Moves new CQ entries into their slots; rings the CQ head doorbell. At
 * most one ring's worth per call, so a controller that keeps posting
 * cannot hold the caller here. */
static unsigned process_cq(struct nvme_queue *q)
{
	unsigned n = 0;

	while (n < q->size) {
		volatile struct nvme_cqe *e = &q->cq[q->cq_head];
		uint16_t status = e->status;
		if ((status & 1) != q->phase)
			break;
		barrier();
		struct nvme_cqe cqe = { e->dw0, e->dw1, e->sq_head, e->sq_id, e->cid, status };
		if (++q->cq_head == q->size) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
		n++;
		if (cqe.sq_head < q->size)
			q->sq_head = cqe.sq_head;
		struct nvme_slot *s = cqe.cid < q->nslots ? &q->slots[cqe.cid] : NULL;
		if (!s || cqe.sq_id != q->qid || (s->state != SLOT_BUSY && s->state != SLOT_ABANDONED)) {
			q->bogus++;
			continue;
		}
		if (s->state == SLOT_ABANDONED) {       /* its waiter timed out */
			free_slot(q, cqe.cid);
			continue;
		}
		s->cqe = cqe;
		s->state = SLOT_DONE;
		if (!s->sync) {
			uint16_t at = (uint16_t)((q->done_head + q->done_count) % q->nslots);
			q->done_fifo[at] = cqe.cid;
			q->done_count++;
		}
	}
	if (n) {
		barrier();
		mmio_write32(q->cq_db, q->cq_head);
	}
	return n;
}

static int nvme_reap_done(struct nvme_queue *q, struct nvme_done *out, unsigned max)
{
	unsigned n = 0;

	while (n < max && q->done_count) {
		uint16_t cid = q->done_fifo[q->done_head];
		struct nvme_slot *s = &q->slots[cid];
		q->done_head = (uint16_t)((q->done_head + 1) % q->nslots);
		q->done_count--;
		out[n++] = (struct nvme_done){ s->tag, cid, nvme_cqe_status(s->cqe.status), s->cqe.dw0 };
		free_slot(q, cid);
	}
	return (int)n;
}

int nvme_reap(struct nvme_queue *q, struct nvme_done *out, unsigned max)
{
	process_cq(q);
	return nvme_reap_done(q, out, max);
}

int nvme_wait(struct nvme_queue *q, struct nvme_done *out, unsigned max, uint64_t timeout_us)
{
	struct nvme_ctrl *c = q->ctrl;
	uint64_t dl = deadline(timeout_us), check = deadline(CSTS_CHECK_US);

	for (;;) {
		/* Interrupt mode: look at the CQ only after the vector fired, so
		 * a completion that arrives without its interrupt times out. */
		if (q->done_count)
			return nvme_reap_done(q, out, max);
		if (!q->irq || q->irqs != q->irqs_seen) {
			q->irqs_seen = q->irqs;
			int n = nvme_reap(q, out, max);
			if (n)
				return n;
		}
		if (expired(check)) {
			int h = ctrl_health(c);
			if (h)
				return h;
			check = deadline(CSTS_CHECK_US);
		}
		if (expired(dl)) {
			int h = ctrl_health(c);
			return h ? h : NVME_E_TIMEOUT;
		}
		cpu_relax();
	}
}

/* Submits one command and waits for exactly its completion. */
static int cmd_sync(struct nvme_queue *q, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
		    struct nvme_cqe *out)
{
	struct nvme_ctrl *c = q->ctrl;
	int cid = nvme_submit(q, cmd, buf, len, 0);

	if (cid < 0)
		return cid;
	struct nvme_slot *s = &q->slots[cid];
	s->sync = true;
	nvme_ring(q);

	uint64_t dl = deadline(c->opts.cmd_timeout_us), check = deadline(CSTS_CHECK_US);
	int r = 0;
	for (;;) {
		if (s->state == SLOT_DONE)
			break;
		if (!q->irq || q->irqs != q->irqs_seen) {
			q->irqs_seen = q->irqs;
			process_cq(q);
			if (s->state == SLOT_DONE)
				break;
		}
		if (expired(check)) {
			if ((r = ctrl_health(c)))
				break;
			check = deadline(CSTS_CHECK_US);
		}
		if (expired(dl)) {
			r = ctrl_health(c);
			if (!r)
				r = NVME_E_TIMEOUT;
			break;
		}
		cpu_relax();
	}
	if (r) {
		s->state = SLOT_ABANDONED;      /* freed if it ever completes, or by reset */
		return r;
	}
	if (out)
		*out = s->cqe;
	r = nvme_cqe_status(s->cqe.status);
	free_slot(q, (uint16_t)cid);
	return r;
}

int nvme_admin(struct nvme_ctrl *c, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
	       struct nvme_cqe *cqe)
{
	return cmd_sync(&c->admin, cmd, buf, len, cqe);
}

int nvme_io_cmd(struct nvme_ctrl *c, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
		struct nvme_cqe *cqe)
{
	return cmd_sync(&c->io, cmd, buf, len, cqe);
}

void nvme_prep_rw(struct nvme_sqe *cmd, uint8_t opc, uint64_t lba, uint32_t nblocks)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->nsid = 1;
	cmd->cdw10 = (uint32_t)lba;
	cmd->cdw11 = (uint32_t)(lba >> 32);
	cmd->cdw12 = (nblocks - 1) & 0xffff;
}

int nvme_rw(struct nvme_ctrl *c, uint8_t opc, uint64_t lba, uint32_t nblocks, uint64_t buf)
{
	struct nvme_sqe cmd;

	if (!nblocks || nblocks > 0x10000)
		return NVME_E_INVAL;
	nvme_prep_rw(&cmd, opc, lba, nblocks);
	return nvme_io_cmd(c, &cmd, buf, (uint64_t)nblocks << c->lba_shift, NULL);
}

int nvme_flush(struct nvme_ctrl *c)
{
	struct nvme_sqe cmd = { .opc = NVME_CMD_FLUSH, .nsid = 1 };

	return nvme_io_cmd(c, &cmd, 0, 0, NULL);
}

int nvme_write_zeroes(struct nvme_ctrl *c, uint64_t lba, uint32_t nblocks)
{
	struct nvme_sqe cmd;

	if (!nblocks || nblocks > 0x10000)
		return NVME_E_INVAL;
	nvme_prep_rw(&cmd, NVME_CMD_WRITE_ZEROES, lba, nblocks);
	return nvme_io_cmd(c, &cmd, 0, 0, NULL);
}

/* ---- interrupts ---- */

static void nvme_irq_handler(unsigned vector)
{
	struct nvme_queue *q = irq_queue[vector & 0xff];

	if (q)
		q->irqs++;
}

int nvme_irq_init(unsigned vector)
{
	if (current_ring() != 0 || vector < 32 || vector + 1 >= RT_VEC_SPURIOUS)
		return NVME_E_INVAL;
	if (irq_register(vector, nvme_irq_handler) || irq_register(vector + 1, nvme_irq_handler))
		return NVME_E_INVAL;
	irq_base = vector;
	lapic_enable();
	irq_enable();
	return 0;
}

/* MSI-X entry 0 -> admin queue's vector, entry 1 (or 0 if there is only
 * one) -> the I/O queue's. The handler registration (nvme_irq_init) is done
 * in ring 0 beforehand; this part runs in any ring. */
static int setup_msix(struct nvme_ctrl *c)
{
	if (!irq_base)
		return fail(c, NVME_E_INVAL, "interrupt mode without nvme_irq_init()");
	if (!c->msix_ok) {
		if (pci_msix_init(c->bdf, &c->msix))
			return fail(c, NVME_E_UNSUPP, "%02x:%02x.%x: no usable MSI-X capability",
				    c->bdf >> 8, (c->bdf >> 3) & 31, c->bdf & 7);
		c->msix_ok = true;
	}
	unsigned vec = irq_base;
	uint32_t apic = lapic_id();
	c->admin.msix_entry = 0;
	c->io.msix_entry = c->msix.nvec > 1 ? 1 : 0;
	pci_msix_set(&c->msix, 0, apic, vec, false);
	if (c->msix.nvec > 1)
		pci_msix_set(&c->msix, 1, apic, vec + 1, false);
	c->admin.vector = vec;
	c->io.vector = c->msix.nvec > 1 ? vec + 1 : vec;
	irq_queue[c->admin.vector] = &c->admin;
	irq_queue[c->io.vector] = &c->io;
	pci_msix_enable(&c->msix, true);
	return 0;
}

/* ---- controller ---- */

static int wait_ready(struct nvme_ctrl *c, bool want)
{
	uint64_t dl = deadline(c->rdy_timeout_us);

	for (;;) {
		uint32_t csts = nvme_csts(c);
		if (csts == 0xffffffff)
			return fail(c, NVME_E_GONE, "CSTS reads all ones");
		if (!!(csts & NVME_CSTS_RDY) == want)
			return 0;
		if (want && (csts & NVME_CSTS_CFS))
			return fail(c, NVME_E_CFS, "CSTS.CFS set while enabling (CSTS 0x%x)", csts);
		if (expired(dl))
			return fail(c, NVME_E_TIMEOUT, "CSTS.RDY did not become %d in %lu ms (CSTS 0x%x)",
				    want, c->rdy_timeout_us / 1000, csts);
		cpu_relax();
	}
}

int nvme_disable(struct nvme_ctrl *c)
{
	uint32_t cc = nvme_reg32(c, NVME_REG_CC);

	if (cc == 0xffffffff)
		return fail(c, NVME_E_GONE, "CC reads all ones");
	wr32(c, NVME_REG_CC, cc & ~CC_EN);
	return wait_ready(c, false);
}

static void copy_id_string(char *dst, const uint8_t *src, unsigned n)
{
	unsigned len = n;

	while (len && (src[len - 1] == ' ' || src[len - 1] == 0))
		len--;
	for (unsigned i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = '\0';
}

static int identify(struct nvme_ctrl *c)
{
	const uint8_t *id = (const uint8_t *)c->identify_buf;
	struct nvme_sqe cmd = { .opc = NVME_ADM_IDENTIFY, .cdw10 = 1 };    /* CNS 1: controller */
	int r = nvme_admin(c, &cmd, c->identify_buf + c->opts.dma_offset, NVME_PAGE_SIZE, NULL);

	if (r)
		return fail(c, r < 0 ? r : NVME_E_UNSUPP, "Identify Controller: %s 0x%x", nvme_err_name(r), r);
	copy_id_string(c->sn, id + 4, 20);
	copy_id_string(c->mn, id + 24, 40);
	copy_id_string(c->fr, id + 64, 8);
	uint8_t mdts = id[77];
	c->mdts_bytes = mdts ? ((uint64_t)NVME_PAGE_SIZE << CAP_MPSMIN(c->cap)) << mdts : 0;
	c->oncs = (uint16_t)(id[520] | id[521] << 8);
	c->vwc = id[525];
	c->nn = *(const uint32_t *)(id + 516);

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_IDENTIFY;
	cmd.nsid = 1;                                   /* CNS 0: namespace */
	r = nvme_admin(c, &cmd, c->identify_buf + c->opts.dma_offset, NVME_PAGE_SIZE, NULL);
	if (r)
		return fail(c, r < 0 ? r : NVME_E_UNSUPP, "Identify Namespace 1: %s 0x%x", nvme_err_name(r), r);
	c->nsze = *(const uint64_t *)id;
	unsigned fmt = id[26] & 0xf;
	uint32_t lbaf = *(const uint32_t *)(id + 128 + 4 * fmt);
	c->lba_shift = (lbaf >> 16) & 0xff;
	if (c->lba_shift < 9 || c->lba_shift > 12 || !c->nsze)
		return fail(c, NVME_E_UNSUPP, "namespace 1: NSZE %lu, LBA data size 2^%u unsupported",
			    c->nsze, c->lba_shift);
	c->lba_size = 1u << c->lba_shift;
	return 0;
}

static int create_io_queues(struct nvme_ctrl *c)
{
	struct nvme_queue *q = &c->io;
	struct nvme_sqe cmd = { .opc = NVME_ADM_CREATE_CQ };
	int r;

	cmd.prp1 = (uint64_t)q->cq + c->opts.dma_offset;
	cmd.cdw10 = (uint32_t)(q->size - 1) << 16 | q->qid;
	cmd.cdw11 = 1 | (q->irq ? 2u | (uint32_t)q->msix_entry << 16 : 0);   /* PC, IEN, IV */
	if ((r = nvme_admin(c, &cmd, 0, 0, NULL)))
		return fail(c, r < 0 ? r : NVME_E_UNSUPP, "Create I/O CQ %u: %s 0x%x", q->qid,
			    nvme_err_name(r), r);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_CREATE_SQ;
	cmd.prp1 = (uint64_t)q->sq + c->opts.dma_offset;
	cmd.cdw10 = (uint32_t)(q->size - 1) << 16 | q->qid;
	cmd.cdw11 = 1 | (uint32_t)q->qid << 16;        /* PC, CQID */
	if ((r = nvme_admin(c, &cmd, 0, 0, NULL)))
		return fail(c, r < 0 ? r : NVME_E_UNSUPP, "Create I/O SQ %u: %s 0x%x", q->qid,
			    nvme_err_name(r), r);
	return 0;
}

/* CC.EN 1 -> 0 -> 1 with a fresh admin queue pair: the controller is ready
 * for admin commands (polled, MSI-X off). */
static int enable_admin(struct nvme_ctrl *c)
{
	int r;

	if ((r = nvme_disable(c)))
		return r;
	c->admin.irq = c->io.irq = false;
	if (c->msix_ok)
		pci_msix_enable(&c->msix, false);
	queue_reset(&c->admin);
	wr32(c, NVME_REG_AQA, (uint32_t)(c->admin.size - 1) << 16 | (c->admin.size - 1));
	wr64(c, NVME_REG_ASQ, (uint64_t)c->admin.sq + c->opts.dma_offset);
	wr64(c, NVME_REG_ACQ, (uint64_t)c->admin.cq + c->opts.dma_offset);
	wr32(c, NVME_REG_CC, CC_IOCQES | CC_IOSQES | CC_AMS_RR | CC_MPS_4K | CC_CSS_NVM | CC_EN);
	return wait_ready(c, true);
}

/* From any state, with the queue memory allocated, to ready I/O queues. */
static int bring_up(struct nvme_ctrl *c)
{
	int r;

	if ((r = enable_admin(c)))
		return r;
	queue_reset(&c->io);
	if (c->opts.irq) {
		if ((r = setup_msix(c)))
			return r;
		c->admin.irq = false;           /* admin commands are polled; their interrupts are counted */
		c->io.irq = true;
	}
	if (!c->nsze && (r = identify(c)))
		return r;

	struct nvme_sqe cmd = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	struct nvme_cqe cqe;
	unsigned nq = c->opts.nr_io_queues;
	cmd.cdw11 = (nq - 1) | (nq - 1) << 16;
	r = nvme_admin(c, &cmd, 0, 0, &cqe);
	if (r)
		return fail(c, r < 0 ? r : NVME_E_UNSUPP, "Set Features Number of Queues: %s 0x%x",
			    nvme_err_name(r), r);
	c->nsqa = (uint16_t)((cqe.dw0 & 0xffff) + 1);
	c->ncqa = (uint16_t)((cqe.dw0 >> 16) + 1);
	return create_io_queues(c);
}

int nvme_reset(struct nvme_ctrl *c)
{
	return bring_up(c);
}

int nvme_open(struct nvme_ctrl *c, const struct nvme_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->opts = *o;
	if (!c->opts.io_depth)
		c->opts.io_depth = DEFAULT_IO_DEPTH;
	if (!c->opts.cmd_timeout_us)
		c->opts.cmd_timeout_us = DEFAULT_TIMEOUT_US;
	if (!c->opts.nr_io_queues)
		c->opts.nr_io_queues = 4;

	int bdf = o->bdf >= 0 ? o->bdf : pci_find_class(NVME_PCI_CLASS, 0, 0);
	if (bdf < 0)
		return fail(c, NVME_E_NODEV, "no PCI function of class 01:08:02 on bus 0");
	c->bdf = (uint16_t)bdf;
	struct rt_pci_bar bar;
	if (pci_bar_map(c->bdf, 0, &bar) || bar.io || bar.size < 0x2000)
		return fail(c, NVME_E_NODEV, "%02x:%02x.%x: BAR0 unusable (size 0x%lx%s)", bdf >> 8,
			    (bdf >> 3) & 31, bdf & 7, bar.size, bar.io ? ", I/O" : "");
	c->bar = bar.addr;
	c->bar_size = bar.size;
	pci_command(c->bdf, RT_PCI_CMD_MEMORY | RT_PCI_CMD_MASTER, 0);

	c->cap = rd64(c, NVME_REG_CAP);
	c->vs = nvme_reg32(c, NVME_REG_VS);
	if (c->cap == ~0ull)
		return fail(c, NVME_E_GONE, "CAP reads all ones");
	c->db_stride = 4u << CAP_DSTRD(c->cap);
	c->mqes = CAP_MQES(c->cap) + 1;
	c->rdy_timeout_us = (CAP_TO(c->cap) ? CAP_TO(c->cap) : 1) * 500000ull;
	if (c->rdy_timeout_us > MAX_RDY_TIMEOUT_US)
		c->rdy_timeout_us = MAX_RDY_TIMEOUT_US;
	if (!CAP_CSS_NVM(c->cap) || CAP_MPSMIN(c->cap) != 0 || c->mqes < 2)
		return fail(c, NVME_E_UNSUPP, "CAP 0x%lx: need the NVM command set, 4 KiB pages, MQES >= 1",
			    c->cap);
	if (NVME_REG_DBS + 4ull * c->db_stride > c->bar_size)
		return fail(c, NVME_E_UNSUPP, "BAR0 (0x%lx bytes) too small for doorbells", c->bar_size);

	c->identify_buf = rt_alloc(NVME_PAGE_SIZE, NVME_PAGE_SIZE);
	if (!c->identify_buf)
		return fail(c, NVME_E_NOMEM, "out of memory");
	uint16_t asize = c->mqes < ADMIN_QUEUE_SIZE ? (uint16_t)c->mqes : ADMIN_QUEUE_SIZE;
	int r = queue_alloc(c, &c->admin, 0, asize, 64 * NVME_PAGE_SIZE);
	if (r)
		return r;
	/* Identify first, to learn MDTS, then size the I/O queue's PRP lists
	 * for it. */
	uint32_t depth = c->opts.io_depth + 1;
	if (depth > c->mqes)
		depth = c->mqes;
	if (depth > 4096)
		depth = 4096;
	if ((r = enable_admin(c)) || (r = identify(c)))
		return r;

	/* PRP lists cover twice MDTS (tests send oversized commands on
	 * purpose), bounded. */
	uint64_t max_xfer = c->mdts_bytes ? 2 * c->mdts_bytes : DEFAULT_MAX_XFER;
	if (max_xfer > 8 * DEFAULT_MAX_XFER)
		max_xfer = 8 * DEFAULT_MAX_XFER;
	if ((r = queue_alloc(c, &c->io, 1, (uint16_t)depth, max_xfer)))
		return r;
	return bring_up(c);
}
