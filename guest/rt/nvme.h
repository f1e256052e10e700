/* NVMe driver for the test guests (NVMe 1.4 subset: one namespace, the admin
 * queue pair and one I/O queue pair, PRP data pointers).
 *
 * Everything except nvme_irq_init() works in ring 0 and in ring 3; the hot
 * paths (submission, completion polling) are meant for ring 3 (see
 * docs/guest-runtime.md). Queue state lives in plain memory, so a queue set
 * up in one ring can be driven from the other. Every wait is bounded: a
 * dead or hostile controller yields NVME_E_TIMEOUT / NVME_E_CFS /
 * NVME_E_GONE, never a hang.
 *
 * Results: >= 0 is a completion status as (SCT << 8) | SC (0 = success; the
 * phase, More and DNR bits are dropped); < 0 is an NVME_E_* driver error.
 * Data buffers are bus addresses: guest-physical ones (the runtime
 * identity-maps RAM) unless an IOMMU translates (nvme_opts.dma_offset). */
#ifndef GUEST_RT_NVME_H
#define GUEST_RT_NVME_H

#include "rt.h"

#define NVME_PAGE_SIZE 4096u            /* CC.MPS = 0 */

/* PCI class code of an NVM Express I/O controller: mass storage, NVM, NVMe. */
#define NVME_PCI_CLASS 0x010802

/* Admin opcodes. */
#define NVME_ADM_DELETE_SQ    0x00
#define NVME_ADM_CREATE_SQ    0x01
#define NVME_ADM_GET_LOG_PAGE 0x02
#define NVME_ADM_DELETE_CQ    0x04
#define NVME_ADM_CREATE_CQ    0x05
#define NVME_ADM_IDENTIFY     0x06
#define NVME_ADM_SET_FEATURES 0x09
#define NVME_ADM_GET_FEATURES 0x0a
#define NVME_ADM_ASYNC_EVENT  0x0c
/* NVM command set opcodes. */
#define NVME_CMD_FLUSH        0x00
#define NVME_CMD_WRITE        0x01
#define NVME_CMD_READ         0x02
#define NVME_CMD_WRITE_ZEROES 0x08

#define NVME_FEAT_NUM_QUEUES  0x07
#define NVME_LOG_ERROR_INFO   0x01

/* Completion status as the API returns it: (SCT << 8) | SC. */
#define NVME_STATUS(sct, sc)        (((sct) << 8) | (sc))
#define NVME_SC_SUCCESS             0x000
#define NVME_SC_INVALID_OPCODE      0x001
#define NVME_SC_INVALID_FIELD       0x002
#define NVME_SC_DATA_XFER_ERROR     0x004
#define NVME_SC_INVALID_NS          0x00b
#define NVME_SC_LBA_RANGE           0x080
#define NVME_SC_CQ_INVALID          NVME_STATUS(1, 0x00)
#define NVME_SC_QID_INVALID         NVME_STATUS(1, 0x01)
#define NVME_SC_QSIZE_INVALID       NVME_STATUS(1, 0x02)

/* Driver errors (negative results). */
#define NVME_E_TIMEOUT  (-1)    /* no completion / state change in time */
#define NVME_E_CFS      (-2)    /* CSTS.CFS: controller fatal status */
#define NVME_E_GONE     (-3)    /* registers read all ones */
#define NVME_E_FULL     (-4)    /* no free command slot */
#define NVME_E_INVAL    (-5)    /* bad length, alignment or argument */
#define NVME_E_NODEV    (-6)    /* no NVMe function / unusable BAR */
#define NVME_E_NOMEM    (-7)    /* rt_alloc failed */
#define NVME_E_UNSUPP   (-8)    /* controller lacks something required */

/* Controller registers (BAR0). */
#define NVME_REG_CAP   0x00
#define NVME_REG_VS    0x08
#define NVME_REG_INTMS 0x0c
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC    0x14
#define NVME_REG_CSTS  0x1c
#define NVME_REG_AQA   0x24
#define NVME_REG_ASQ   0x28
#define NVME_REG_ACQ   0x30
#define NVME_REG_DBS   0x1000
#define NVME_CSTS_RDY  0x1
#define NVME_CSTS_CFS  0x2

struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;                  /* FUSE, PSDT (0: PRPs) */
	uint16_t cid;                   /* filled by the driver */
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct nvme_cqe {
	uint32_t dw0, dw1;
	uint16_t sq_head, sq_id;
	uint16_t cid;
	uint16_t status;                /* bit 0 phase, 8:1 SC, 11:9 SCT, 14 M, 15 DNR */
};

/* A completion handed back by nvme_reap(). */
struct nvme_done {
	uint64_t tag;                   /* what nvme_submit was given */
	uint16_t cid;
	int status;                     /* (SCT << 8) | SC */
	uint32_t dw0;
};

struct nvme_slot {
	uint8_t state;                  /* NVME_SLOT_* (nvme.c) */
	bool sync;                      /* waited for by nvme_cmd(): not reaped */
	uint64_t tag;
	uint64_t prp_list;              /* this slot's PRP list pages */
	struct nvme_cqe cqe;
};

struct nvme_ctrl;

struct nvme_queue {
	struct nvme_ctrl *ctrl;
	uint16_t qid;
	uint16_t size;                  /* entries in each ring */
	uint16_t nslots;                /* commands in flight at most (size - 1) */
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint64_t sq_db, cq_db;          /* doorbell addresses */
	uint16_t sq_tail, sq_rung;      /* next free entry; last tail written */
	uint16_t sq_head;               /* as the last completion reported it */
	uint16_t cq_head;
	uint8_t phase;
	uint16_t inflight;
	struct nvme_slot *slots;
	uint16_t *free_cids, nfree;
	uint16_t *done_fifo, done_head, done_count;  /* async completions */
	uint64_t prp_list_bytes;        /* per slot */
	uint64_t max_xfer;              /* PRP lists are sized for this */
	/* Interrupts (MSI-X). */
	bool irq;
	uint16_t msix_entry;
	unsigned vector;
	volatile uint64_t irqs;         /* taken for this queue's vector */
	uint64_t irqs_seen;             /* irqs when the CQ was last looked at */
	uint64_t bogus;                 /* completions with an unknown cid */
};

struct nvme_opts {
	int bdf;                        /* -1: first function of class 01:08:02, bus 0 */
	unsigned io_depth;              /* commands in flight on the I/O queue (default 32) */
	bool irq;                       /* complete I/O by MSI-X (nvme_irq_init first) */
	uint64_t cmd_timeout_us;        /* default 5 s */
	unsigned nr_io_queues;          /* asked of Set Features (default 4) */
	/* Added to the address of everything the driver allocates itself
	 * (queues, PRP lists, the Identify buffer) when it hands it to the
	 * controller: the bus address behind an IOMMU that maps that memory
	 * at GPA + dma_offset (rt/vtd.h). Data buffers passed in are bus
	 * addresses as given. 0: no IOMMU, or one mapping IOVA = GPA. */
	uint64_t dma_offset;
};

struct nvme_ctrl {
	struct nvme_opts opts;
	uint16_t bdf;
	uint64_t bar;                   /* BAR0, mapped below 4 GiB */
	uint64_t bar_size;
	uint64_t cap;
	uint32_t vs;
	uint32_t db_stride;             /* bytes, 4 << CAP.DSTRD */
	uint32_t mqes;                  /* max entries per queue (CAP.MQES + 1) */
	uint64_t rdy_timeout_us;        /* CAP.TO, bounded */
	/* Identify. */
	char sn[21], mn[41], fr[9];
	uint64_t mdts_bytes;            /* 0: no limit */
	uint32_t nn;                    /* number of namespaces */
	uint16_t oncs;
	uint8_t vwc;
	uint64_t nsze;                  /* namespace 1 size in blocks */
	uint32_t lba_size;
	unsigned lba_shift;
	uint16_t nsqa, ncqa;            /* I/O queues allocated (1-based) */
	/* Queues. */
	struct nvme_queue admin, io;
	uint64_t identify_buf;          /* one page, scratch */
	/* MSI-X. */
	struct rt_pci_msix msix;
	bool msix_ok;
	char err[160];                  /* last failure, for messages */
};

/* Registers the interrupt handlers for vectors vector and vector+1 (admin
 * and I/O queue), enables the LAPIC and sets RFLAGS.IF. Ring 0 only; call
 * it in main() before nvme_open with opts.irq. */
int nvme_irq_init(unsigned vector);

/* Finds, resets and initialises the controller: admin queues, Identify
 * (controller and namespace 1), Set Features Number of Queues, I/O queue
 * pair 1. 0 or NVME_E_*; c->err says why. */
int nvme_open(struct nvme_ctrl *c, const struct nvme_opts *o);
/* Controller reset (CC.EN 1 -> 0 -> 1) and the same set-up again, reusing
 * the queue memory; honours c->opts.irq as it is now. 0 or NVME_E_*. */
int nvme_reset(struct nvme_ctrl *c);
/* CC.EN = 0 and wait for CSTS.RDY = 0. */
int nvme_disable(struct nvme_ctrl *c);
uint32_t nvme_csts(struct nvme_ctrl *c);
uint32_t nvme_reg32(struct nvme_ctrl *c, uint32_t off);
/* Writes a doorbell register directly: SQ (cq = false) tail or CQ head of
 * queue qid. For hostile tests; normal code never needs it. */
void nvme_doorbell_raw(struct nvme_ctrl *c, unsigned qid, bool cq, uint32_t value);

/* Synchronous command on the admin queue / the I/O queue; buf/len (may be
 * 0) become PRP1/PRP2 unless len is 0 (then cmd's PRPs are sent as given).
 * cqe (optional) receives the completion. */
int nvme_admin(struct nvme_ctrl *c, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
	       struct nvme_cqe *cqe);
int nvme_io_cmd(struct nvme_ctrl *c, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
		struct nvme_cqe *cqe);
/* Read/Write nblocks from lba of namespace 1 through buf (dword aligned). */
int nvme_rw(struct nvme_ctrl *c, uint8_t opc, uint64_t lba, uint32_t nblocks, uint64_t buf);
int nvme_flush(struct nvme_ctrl *c);
int nvme_write_zeroes(struct nvme_ctrl *c, uint64_t lba, uint32_t nblocks);
/* Fills a Read/Write/Write Zeroes command for namespace 1 (no PRPs). */
void nvme_prep_rw(struct nvme_sqe *cmd, uint8_t opc, uint64_t lba, uint32_t nblocks);

/* Asynchronous use of a queue (c->io or c->admin), queue depth > 1:
 * nvme_submit puts one command in the SQ (PRPs from buf/len when len > 0)
 * and returns its cid, or NVME_E_FULL; nvme_ring writes the SQ tail
 * doorbell for everything submitted since the last ring; nvme_reap hands
 * back up to max completions (ringing the CQ head doorbell), 0 if none;
 * nvme_wait is nvme_reap that waits (polling, or for the queue's MSI-X
 * interrupt in interrupt mode) up to timeout_us for at least one. */
int nvme_submit(struct nvme_queue *q, struct nvme_sqe *cmd, uint64_t buf, uint64_t len,
		uint64_t tag);
void nvme_ring(struct nvme_queue *q);
int nvme_reap(struct nvme_queue *q, struct nvme_done *out, unsigned max);
int nvme_wait(struct nvme_queue *q, struct nvme_done *out, unsigned max, uint64_t timeout_us);

/* Builds PRP1/PRP2 for [buf, buf+len) (buf dword aligned, len > 0),
 * writing a PRP list (chained across pages when long) into the
 * page-aligned area list/list_bytes. 0 or NVME_E_INVAL. */
int nvme_prp_build(uint64_t buf, uint64_t len, uint64_t list, uint64_t list_bytes,
		   uint64_t *prp1, uint64_t *prp2);

/* Status as the API returns it, from a CQE's status field. */
static inline int nvme_cqe_status(uint16_t status) { return (status >> 1) & 0x7ff; }
const char *nvme_err_name(int r);  /* "timeout", "CFS", ... or "status" */

#endif
