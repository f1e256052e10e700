/* What the NVMe controller's files share among themselves (not for other
 * layers: they use nvme.h). Every function here runs with the controller
 * lock held unless it says otherwise. */
#ifndef WARDEN_DEVICES_NVME_INTERNAL_H
#define WARDEN_DEVICES_NVME_INTERNAL_H

#include <sys/uio.h>

#include "devices/nvme.h"

/* One command between fetch and completion. Its bounce buffer (allocated
 * on first use, NVME_MAX_XFER bytes) is what the backend reads and writes;
 * guest memory is touched only through the DMA API, before submission
 * (writes) or in the completion (reads). */
struct nvme_req {
	struct nvme_ctrl *ctrl;
	struct nvme_req *next;          /* free list */
	struct nvme_sqe cmd;
	uint16_t sqid;
	bool fua;                       /* a write that needs a flush after it */
	struct blk_req blk;
	struct iovec iov;
	uint8_t *buf;
	uint32_t len;                   /* bytes moved to or from the guest */
	unsigned nsg;
	struct dma_sg sg[NVME_MAX_PRP_SEGS];
	/* Dataset Management: one backend request per range. */
	struct blk_req *subs;
	unsigned subs_pending;
	int subs_result;
};

/* ---- nvme_ctrl.c ---- */
void nvme_admin_execute(struct nvme_ctrl *c, struct nvme_req *r);
/* Sets CSTS.CFS; the controller stops processing until it is reset. */
void nvme_fatal(struct nvme_ctrl *c, const char *why);
void nvme_error_log_add(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status,
			uint64_t lba, uint32_t nsid);
/* A doorbell write the spec calls invalid: an asynchronous event if an
 * Asynchronous Event Request is outstanding, CSTS.CFS otherwise. */
void nvme_invalid_doorbell(struct nvme_ctrl *c, uint8_t info);
static inline bool nvme_ready(const struct nvme_ctrl *c)
{
	return (c->csts & NVME_CSTS_RDY) && !c->fatal;
}

/* ---- nvme_queue.c ---- */
struct nvme_req *nvme_req_get(struct nvme_ctrl *c);
void nvme_req_put(struct nvme_ctrl *c, struct nvme_req *r);
void nvme_req_pool_free(struct nvme_ctrl *c);
/* Walks PRP1/PRP2 (and PRP lists) for len bytes into r->sg and makes sure
 * r->buf exists. A status (0 on success). */
uint16_t nvme_req_map(struct nvme_ctrl *c, struct nvme_req *r, uint32_t len);
/* Moves r->len bytes between r->buf and the mapped guest pages. */
uint16_t nvme_req_to_guest(struct nvme_ctrl *c, struct nvme_req *r);
uint16_t nvme_req_from_guest(struct nvme_ctrl *c, struct nvme_req *r);
/* Posts r's completion on its SQ's CQ (a slot was reserved at fetch),
 * logs errors and returns r to the pool. */
void nvme_req_complete(struct nvme_ctrl *c, struct nvme_req *r, uint16_t status, uint32_t cdw0);
/* Posts a completion into a slot reserved on CQ cqid. */
void nvme_post_cqe(struct nvme_ctrl *c, uint16_t cqid, uint16_t sqid, uint16_t cid,
		   uint16_t status, uint32_t cdw0);
/* Hands a request to the backend; its done callback completes it. A status
 * when the backend refused it (done not called). */
uint16_t nvme_blk_submit(struct nvme_ctrl *c, struct nvme_req *r, struct blk_req *b);

void nvme_sq_create(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
		    uint16_t cqid, uint8_t prio);
void nvme_cq_create(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
		    uint16_t iv, bool ien);
/* Waits for the SQ's commands on the backend (they complete normally). */
void nvme_sq_delete(struct nvme_ctrl *c, uint16_t qid);
void nvme_cq_delete(struct nvme_ctrl *c, uint16_t qid);
/* Controller reset: discards what is in flight and deletes every queue. */
void nvme_queues_reset(struct nvme_ctrl *c);
/* Waits until the backend holds none of our requests (drop: discard their
 * completions). 0, or -errno when the backend failed (then CFS is set). */
int nvme_drain(struct nvme_ctrl *c, bool drop);

void nvme_doorbell_locked(struct nvme_ctrl *c, unsigned slot, uint32_t value);
/* Fetches and starts commands from every SQ with work, up to a per-queue
 * budget each. Returns the number started. */
unsigned nvme_process(struct nvme_ctrl *c);
/* Reaps backend completions; min_complete > 0 blocks. Returns how many. */
unsigned nvme_reap(struct nvme_ctrl *c, unsigned min_complete);
/* Marks vector iv to be raised when the lock is released (nvme_unlock). */
void nvme_irq_raise(struct nvme_ctrl *c, uint16_t iv);
/* Releases the lock, then raises the vectors marked while it was held. */
void nvme_unlock(struct nvme_ctrl *c);

/* ---- nvme_io.c ---- */
void nvme_io_execute(struct nvme_ctrl *c, struct nvme_req *r);

/* ---- little helpers ---- */
static inline void nvme_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void nvme_put32(uint8_t *p, uint32_t v) { nvme_put16(p, (uint16_t)v); nvme_put16(p + 2, (uint16_t)(v >> 16)); }
static inline void nvme_put64(uint8_t *p, uint64_t v) { nvme_put32(p, (uint32_t)v); nvme_put32(p + 4, (uint32_t)(v >> 32)); }

#endif
