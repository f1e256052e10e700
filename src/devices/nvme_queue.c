/* NVMe queues (NVMe 1.4, 4.1-4.6 and 7.2): submission and completion queues
 * with phase tags, doorbells (trapped or polled from a page), PRP walking,
 * and the request pool that bounds what one controller holds at once.
 *
 * Back-pressure: a command is fetched only when its CQ has a free slot not
 * already promised to another fetched command (cq->reserved), so posting a
 * completion never finds the CQ full and never overwrites an entry the host
 * has not consumed; an SQ whose CQ is full simply stops being consumed until
 * the host moves the CQ head. Every walk here is bounded: fetching by a
 * per-pass budget and the entries the host posted, PRP lists by MDTS. */
#include "devices/nvme_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Commands fetched from one SQ per pass: the round-robin arbitration burst. */
#define NVME_FETCH_BUDGET 64

/* ---- Request pool ---- */

struct nvme_req *nvme_req_get(struct nvme_ctrl *c)
{
	struct nvme_req *r = c->free_reqs;

	if (r) {
		c->free_reqs = r->next;
	} else {
		if (c->reqs_allocated >= NVME_MAX_INFLIGHT)
			return NULL;
		r = calloc(1, sizeof(*r));
		if (!r) {
			log_error("nvme %s: out of memory for a request", c->name);
			return NULL;
		}
		c->reqs_allocated++;
		r->ctrl = c;
	}
	r->next = NULL;
	r->fua = false;
	r->len = 0;
	r->nsg = 0;
	r->subs = NULL;
	r->subs_pending = 0;
	r->subs_result = 0;
	memset(&r->blk, 0, sizeof(r->blk));
	return r;
}

void nvme_req_put(struct nvme_ctrl *c, struct nvme_req *r)
{
	free(r->subs);
	r->subs = NULL;
	r->next = c->free_reqs;
	c->free_reqs = r;
}

void nvme_req_pool_free(struct nvme_ctrl *c)
{
	struct nvme_req *r;

	while ((r = c->free_reqs)) {
		c->free_reqs = r->next;
		free(r->buf);
		free(r);
		c->reqs_allocated--;
	}
	if (c->reqs_allocated)
		log_error("nvme %s: %u requests still held by the backend, leaked", c->name,
			  c->reqs_allocated);
}

/* ---- PRP walking (NVMe 1.4, 4.3) ---- */

/* Builds the segments for len bytes described by PRP1/PRP2. PRP1 may start
 * at a dword-aligned offset; every other entry must be page aligned (PRP
 * Offset Invalid). When the data needs more than two pages PRP2 points at a
 * PRP list (qword aligned), whose last slot chains to the next list page
 * when more entries follow than fit. Only the entries the transfer needs are
 * read, so at most NVME_MAX_PRP_SEGS entries and as many list pages. */
static uint16_t nvme_map_prp(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, uint32_t len,
			     struct dma_sg *sg, unsigned *nsg)
{
	const uint64_t pmask = NVME_PAGE_SIZE - 1;
	uint64_t ents[NVME_MAX_PRP_SEGS];
	uint32_t first, remaining;
	unsigned n = 0, needed, hops = 0;
	uint64_t list;

	*nsg = 0;
	if (!len)
		return NVME_SC_SUCCESS;
	if (len > NVME_MAX_XFER)
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	if (prp1 & 3) {
		guest_error("nvme %s: PRP1 0x%llx is not dword aligned", c->name,
			    (unsigned long long)prp1);
		return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
	}
	first = NVME_PAGE_SIZE - (uint32_t)(prp1 & pmask);
	if (first > len)
		first = len;
	sg[n++] = (struct dma_sg){ .iova = prp1, .len = first };
	remaining = len - first;
	if (!remaining)
		goto out;
	if (remaining <= NVME_PAGE_SIZE) {
		if (prp2 & pmask) {
			guest_error("nvme %s: PRP2 0x%llx (second data page) has an offset", c->name,
				    (unsigned long long)prp2);
			return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
		}
		sg[n++] = (struct dma_sg){ .iova = prp2, .len = remaining };
		goto out;
	}
	if (prp2 & 7) {
		guest_error("nvme %s: PRP list pointer 0x%llx is not qword aligned", c->name,
			    (unsigned long long)prp2);
		return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
	}
	list = prp2;
	needed = (remaining + NVME_PAGE_SIZE - 1) / NVME_PAGE_SIZE;
	while (needed) {
		unsigned slots = (unsigned)((NVME_PAGE_SIZE - (list & pmask)) / sizeof(uint64_t));
		bool chain = needed > slots;
		unsigned take = chain ? slots : needed, data = chain ? take - 1 : take, i;
		ssize_t got;

		/* Each hop lands on a page-aligned list (512 slots > needed),
		 * so a second hop is impossible; the bound is belt and braces. */
		if (++hops > 2 || take > NVME_MAX_PRP_SEGS)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		got = dma_read(c->dma, list, ents, take * sizeof(uint64_t));
		if (got != (ssize_t)(take * sizeof(uint64_t))) {
			guest_error("nvme %s: PRP list at IOVA 0x%llx unreadable", c->name,
				    (unsigned long long)list);
			return NVME_SC_DATA_XFER_ERROR;
		}
		for (i = 0; i < data; i++) {
			uint32_t l = remaining < NVME_PAGE_SIZE ? remaining : NVME_PAGE_SIZE;

			if (ents[i] & pmask) {
				guest_error("nvme %s: PRP list entry 0x%llx has an offset", c->name,
					    (unsigned long long)ents[i]);
				return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
			}
			sg[n++] = (struct dma_sg){ .iova = ents[i], .len = l };
			remaining -= l;
			needed--;
		}
		if (chain) {
			list = ents[take - 1];
			if (list & pmask) {
				guest_error("nvme %s: chained PRP list pointer 0x%llx has an offset",
					    c->name, (unsigned long long)list);
				return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
			}
		}
	}
out:
	*nsg = n;
	return NVME_SC_SUCCESS;
}

uint16_t nvme_req_map(struct nvme_ctrl *c, struct nvme_req *r, uint32_t len)
{
	uint16_t status;

	status = nvme_map_prp(c, r->cmd.prp1, r->cmd.prp2, len, r->sg, &r->nsg);
	if (status)
		return status;
	if (!r->buf) {
		void *p;

		if (posix_memalign(&p, NVME_PAGE_SIZE, NVME_MAX_XFER)) {
			log_error("nvme %s: out of memory for a %u KiB bounce buffer", c->name,
				  NVME_MAX_XFER >> 10);
			return NVME_SC_INTERNAL;
		}
		r->buf = p;
	}
	r->len = len;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_req_xfer(struct nvme_ctrl *c, struct nvme_req *r, bool to_guest)
{
	ssize_t done;

	if (!r->len)
		return NVME_SC_SUCCESS;
	done = to_guest ? dma_sg_write(c->dma, r->sg, r->nsg, r->buf, r->len)
			: dma_sg_read(c->dma, r->sg, r->nsg, r->buf, r->len);
	if (done == (ssize_t)r->len)
		return NVME_SC_SUCCESS;
	guest_error("nvme %s: sq %u cid %u: %s guest memory (PRP1 0x%llx) stopped after %zd of %u bytes",
		    c->name, r->sqid, r->cmd.cid, to_guest ? "write to" : "read from",
		    (unsigned long long)r->cmd.prp1, done < 0 ? (ssize_t)0 : done, r->len);
	return NVME_SC_DATA_XFER_ERROR;
}

uint16_t nvme_req_to_guest(struct nvme_ctrl *c, struct nvme_req *r)
{
	return nvme_req_xfer(c, r, true);
}

uint16_t nvme_req_from_guest(struct nvme_ctrl *c, struct nvme_req *r)
{
	return nvme_req_xfer(c, r, false);
}

/* ---- Completion ---- */

static bool nvme_cq_has_room(const struct nvme_cq *cq)
{
	unsigned used = (unsigned)(cq->tail + cq->size - cq->head) % cq->size;

	return cq->size - 1u - used > cq->reserved;
}

void nvme_irq_raise(struct nvme_ctrl *c, uint16_t iv)
{
	if (iv < NVME_MAX_QUEUES)
		c->irq_pending[iv / 64] |= 1ull << (iv % 64);
}

void nvme_unlock(struct nvme_ctrl *c)
{
	uint64_t pend[sizeof(c->irq_pending) / sizeof(c->irq_pending[0])];
	unsigned w;

	memcpy(pend, c->irq_pending, sizeof(pend));
	memset(c->irq_pending, 0, sizeof(c->irq_pending));
	for (w = 0; w < sizeof(pend) / sizeof(pend[0]); w++)
		c->stats.interrupts += (unsigned)__builtin_popcountll(pend[w]);
	pthread_mutex_unlock(&c->lock);
	/* Interrupts leave without the controller lock, so the interrupt path
	 * (the PCI core's lock, an irqfd) never nests inside it. */
	if (!c->irq)
		return;
	for (w = 0; w < sizeof(pend) / sizeof(pend[0]); w++)
		while (pend[w]) {
			unsigned b = (unsigned)__builtin_ctzll(pend[w]);

			pend[w] &= pend[w] - 1;
			c->irq(c->irq_opaque, w * 64 + b);
		}
}

void nvme_post_cqe(struct nvme_ctrl *c, uint16_t cqid, uint16_t sqid, uint16_t cid,
		   uint16_t status, uint32_t cdw0)
{
	struct nvme_cq *cq = &c->cq[cqid];
	uint16_t sq_head = sqid < NVME_MAX_QUEUES ? c->sq[sqid].head : 0;
	struct dma_access acc;
	uint64_t addr;
	uint32_t *d;

	if (!cq->valid)
		return;
	if (cq->reserved)
		cq->reserved--;
	if (status)
		c->stats.errors++;
	if (c->fatal)
		return;
	addr = cq->base + (uint64_t)cq->tail * NVME_CQE_SIZE;
	if (dma_access_begin(c->dma, addr, NVME_CQE_SIZE, true, &acc) || acc.len < NVME_CQE_SIZE) {
		dma_access_end(&acc);
		guest_error("nvme %s: CQ %u entry %u at IOVA 0x%llx is not writable", c->name, cqid,
			    cq->tail, (unsigned long long)addr);
		nvme_fatal(c, "completion queue memory not writable");
		return;
	}
	/* The phase tag goes last: a host polling the entry must not see the
	 * new phase before the rest of it (a 16-byte write is one TLP on
	 * hardware; here it is the release store). */
	d = acc.ptr;
	__atomic_store_n(&d[0], cdw0, __ATOMIC_RELAXED);
	__atomic_store_n(&d[1], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d[2], (uint32_t)sq_head | (uint32_t)sqid << 16, __ATOMIC_RELAXED);
	__atomic_store_n(&d[3], (uint32_t)cid | (uint32_t)((status << 1) | cq->phase) << 16,
			 __ATOMIC_RELEASE);
	dma_access_end(&acc);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	if (cq->ien)
		nvme_irq_raise(c, cq->iv);
}

void nvme_req_complete(struct nvme_ctrl *c, struct nvme_req *r, uint16_t status, uint32_t cdw0)
{
	struct nvme_sq *sq = &c->sq[r->sqid];
	struct nvme_cq *cq = &c->cq[sq->cqid];

	if (sq->inflight)
		sq->inflight--;
	if (c->dropping) {
		/* A controller reset discards what was in flight. */
		if (cq->reserved)
			cq->reserved--;
		nvme_req_put(c, r);
		return;
	}
	if (status) {
		uint64_t lba = r->sqid ? (r->cmd.cdw10 | (uint64_t)r->cmd.cdw11 << 32) : 0;

		nvme_error_log_add(c, r->sqid, r->cmd.cid, status, lba, r->cmd.nsid);
	}
	nvme_post_cqe(c, sq->cqid, r->sqid, r->cmd.cid, status, cdw0);
	nvme_req_put(c, r);
}

/* ---- Backend ---- */

static uint16_t nvme_errno_status(int err)
{
	switch (err) {
	case -EROFS:
		return NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR;
	case -ENOSPC:
		return NVME_SC_LBA_RANGE | NVME_SC_DNR;
	default:
		return NVME_SC_INTERNAL;
	}
}

uint16_t nvme_blk_submit(struct nvme_ctrl *c, struct nvme_req *r, struct blk_req *b)
{
	int ret, tries;

	b->opaque = r;
	for (tries = 0; tries < 2; tries++) {
		/* Counted first: the backend may call done before returning. */
		c->blk_inflight++;
		ret = blk_submit(c->blk, b);
		if (!ret)
			return NVME_SC_SUCCESS;
		c->blk_inflight--;
		/* A full submission ring: make room by reaping one of ours. */
		if ((ret != -EAGAIN && ret != -EBUSY) || !c->blk_inflight || !nvme_reap(c, 1))
			break;
	}
	c->stats.backend_errors++;
	{
		static struct log_ratelimit rl;

		if (log_ratelimit_ok(&rl))
			log_error("nvme %s: backend refused a request (op %d, offset %llu, %llu bytes): %s",
				  c->name, (int)b->op, (unsigned long long)b->offset,
				  (unsigned long long)b->len, strerror(-ret));
	}
	return nvme_errno_status(ret);
}

unsigned nvme_reap(struct nvme_ctrl *c, unsigned min_complete)
{
	int ret;

	if (!c->blk_inflight)
		return 0;
	if (min_complete > c->blk_inflight)
		min_complete = c->blk_inflight;
	ret = blk_poll(c->blk, min_complete);
	if (ret < 0) {
		static struct log_ratelimit rl;

		c->stats.backend_errors++;
		if (log_ratelimit_ok(&rl))
			log_error("nvme %s: backend poll failed: %s", c->name, strerror(-ret));
		return 0;
	}
	return (unsigned)ret;
}

int nvme_drain(struct nvme_ctrl *c, bool drop)
{
	bool was = c->dropping;
	int ret = 0;

	c->dropping = was || drop;
	/* Each pass completes at least one request or fails; a completion may
	 * submit a follow-up (FUA flush) but never while dropping. */
	while (c->blk_inflight) {
		if (!nvme_reap(c, c->blk_inflight)) {
			nvme_fatal(c, "backend failed while draining");
			ret = -EIO;
			break;
		}
	}
	c->dropping = was;
	return ret;
}

/* ---- Queues ---- */

static void nvme_db_clear(struct nvme_ctrl *c, unsigned slot)
{
	c->db_shadow[slot] = 0;
	if (c->db_page)
		__atomic_store_n(&c->db_page[slot], 0, __ATOMIC_RELAXED);
}

void nvme_sq_create(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
		    uint16_t cqid, uint8_t prio)
{
	c->sq[qid] = (struct nvme_sq){ .base = base, .size = size, .cqid = cqid, .prio = prio,
				       .valid = true };
	c->cq[cqid].nsqs++;
	nvme_db_clear(c, 2u * qid);
}

void nvme_cq_create(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
		    uint16_t iv, bool ien)
{
	c->cq[qid] = (struct nvme_cq){ .base = base, .size = size, .iv = iv, .ien = ien,
				       .phase = true, .valid = true };
	nvme_db_clear(c, 2u * qid + 1);
}

void nvme_sq_delete(struct nvme_ctrl *c, uint16_t qid)
{
	struct nvme_sq *sq = &c->sq[qid];

	/* The spec lets the controller complete rather than abort what the
	 * queue has in flight; those completions still land on its CQ. */
	while (sq->inflight && c->blk_inflight)
		if (!nvme_reap(c, 1)) {
			nvme_fatal(c, "backend failed while deleting a queue");
			break;
		}
	if (c->cq[sq->cqid].nsqs)
		c->cq[sq->cqid].nsqs--;
	memset(sq, 0, sizeof(*sq));
	nvme_db_clear(c, 2u * qid);
}

void nvme_cq_delete(struct nvme_ctrl *c, uint16_t qid)
{
	memset(&c->cq[qid], 0, sizeof(c->cq[qid]));
	nvme_db_clear(c, 2u * qid + 1);
}

void nvme_queues_reset(struct nvme_ctrl *c)
{
	unsigned slot;

	nvme_drain(c, true);
	memset(c->sq, 0, sizeof(c->sq));
	memset(c->cq, 0, sizeof(c->cq));
	c->aer_count = 0;
	c->ioq_created = false;
	for (slot = 0; slot < NVME_DOORBELLS; slot++)
		nvme_db_clear(c, slot);
}

/* ---- Doorbells ---- */

static void nvme_doorbell_invalid(struct nvme_ctrl *c, unsigned slot, uint32_t value,
				  uint8_t info, const char *why)
{
	c->stats.invalid_doorbells++;
	guest_error("nvme %s: doorbell write 0x%x to %s%uxDBL (BAR0 0x%x): %s", c->name, value,
		    slot & 1 ? "CQ" : "SQ", slot / 2, NVME_REG_DBS + slot * 4, why);
	nvme_invalid_doorbell(c, info);
}

void nvme_doorbell_locked(struct nvme_ctrl *c, unsigned slot, uint32_t value)
{
	unsigned qid = slot / 2;

	c->stats.doorbell_writes++;
	if (!nvme_ready(c)) {
		guest_error("nvme %s: doorbell write while the controller is not ready, ignored",
			    c->name);
		return;
	}
	if (qid >= NVME_MAX_QUEUES ||
	    !(slot & 1 ? c->cq[qid].valid : c->sq[qid].valid)) {
		nvme_doorbell_invalid(c, slot, value, NVME_AER_ERR_INVALID_DB, "no such queue");
		return;
	}
	if (slot & 1) {
		struct nvme_cq *cq = &c->cq[qid];
		unsigned used, adv;

		if (value >= cq->size) {
			nvme_doorbell_invalid(c, slot, value, NVME_AER_ERR_INVALID_DB_VAL,
					      "head beyond the queue size");
			return;
		}
		/* The host may only hand back entries we posted. */
		used = (unsigned)(cq->tail + cq->size - cq->head) % cq->size;
		adv = (unsigned)(value + cq->size - cq->head) % cq->size;
		if (adv > used) {
			nvme_doorbell_invalid(c, slot, value, NVME_AER_ERR_INVALID_DB_VAL,
					      "head moved past entries not yet posted");
			return;
		}
		cq->head = (uint16_t)value;
	} else {
		struct nvme_sq *sq = &c->sq[qid];

		if (value >= sq->size) {
			nvme_doorbell_invalid(c, slot, value, NVME_AER_ERR_INVALID_DB_VAL,
					      "tail beyond the queue size");
			return;
		}
		sq->tail = (uint16_t)value;
	}
}

/* ---- Fetching ---- */

static unsigned nvme_sq_fetch(struct nvme_ctrl *c, uint16_t qid, unsigned budget)
{
	struct nvme_sq *sq = &c->sq[qid];
	unsigned n = 0;

	while (n < budget && sq->valid && sq->head != sq->tail && nvme_ready(c)) {
		struct nvme_cq *cq = &c->cq[sq->cqid];
		uint64_t addr = sq->base + (uint64_t)sq->head * NVME_SQE_SIZE;
		struct nvme_req *r;

		if (!nvme_cq_has_room(cq)) {
			if (!sq->stalled)
				c->stats.cq_full_stalls++;
			sq->stalled = true;
			break;
		}
		sq->stalled = false;
		r = nvme_req_get(c);
		if (!r)
			break;
		if (dma_read(c->dma, addr, &r->cmd, NVME_SQE_SIZE) != NVME_SQE_SIZE) {
			nvme_req_put(c, r);
			guest_error("nvme %s: SQ %u entry %u at IOVA 0x%llx is not readable", c->name,
				    qid, sq->head, (unsigned long long)addr);
			nvme_fatal(c, "submission queue memory not readable");
			break;
		}
		cq->reserved++;
		sq->head = sq->head + 1u == sq->size ? 0 : sq->head + 1;
		sq->inflight++;
		r->sqid = qid;
		n++;
		if (qid == 0)
			nvme_admin_execute(c, r);
		else
			nvme_io_execute(c, r);
	}
	return n;
}

unsigned nvme_process(struct nvme_ctrl *c)
{
	unsigned qid, started = 0;

	for (qid = 0; qid < NVME_MAX_QUEUES && nvme_ready(c); qid++)
		if (c->sq[qid].valid && c->sq[qid].head != c->sq[qid].tail)
			started += nvme_sq_fetch(c, (uint16_t)qid, NVME_FETCH_BUDGET);
	return started;
}

/* ---- The two ways doorbells arrive ---- */

void nvme_ctrl_doorbell_write(struct nvme_ctrl *c, unsigned slot, uint32_t value)
{
	if (slot >= NVME_DOORBELLS)
		return;
	pthread_mutex_lock(&c->lock);
	nvme_doorbell_locked(c, slot, value);
	/* Emulated: run everything the write made runnable, right here on the
	 * vCPU thread: start a batch, wait for all of it, fetch more while the
	 * request pool was the limit. Terminates: each pass consumes SQ
	 * entries the host posted before this write (no new ones can appear
	 * while we hold the lock) or waits for the backend. */
	for (;;) {
		unsigned started = nvme_process(c);

		if (c->blk_inflight) {
			if (!nvme_reap(c, c->blk_inflight)) {
				nvme_fatal(c, "backend failed");
				break;
			}
			continue;
		}
		if (!started)
			break;
	}
	nvme_unlock(c);
}

static unsigned nvme_scan_doorbells(struct nvme_ctrl *c, bool full_scan)
{
	unsigned slot, end, changed = 0;

	end = full_scan ? NVME_DOORBELLS : 2u * (c->max_ioqs + 1u);
	for (slot = 0; slot < end && nvme_ready(c); slot++) {
		/* Acquire pairs with the host's barrier between writing entries
		 * and ringing: entries are read after the doorbell (a plain load
		 * on x86). */
		uint32_t v = __atomic_load_n(&c->db_page[slot], __ATOMIC_ACQUIRE);

		if (v == c->db_shadow[slot])
			continue;
		c->db_shadow[slot] = v;
		changed++;
		nvme_doorbell_locked(c, slot, v);
	}
	return changed;
}

unsigned nvme_ctrl_poll(struct nvme_ctrl *c, bool full_scan, unsigned *inflight)
{
	unsigned work = 0;

	pthread_mutex_lock(&c->lock);
	if (c->db_page && nvme_ready(c))
		work += nvme_scan_doorbells(c, full_scan);
	work += nvme_process(c);
	if (c->blk_inflight)
		work += nvme_reap(c, 0);
	if (inflight)
		*inflight = c->blk_inflight;
	nvme_unlock(c);
	return work;
}
