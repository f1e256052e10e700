/* NVMe 1.4 controller (NVM command set, one namespace) and its PCI function.
 *
 * Split by concern (STYLE.md):
 *   nvme_ctrl.c   registers, controller state machine, admin commands
 *   nvme_queue.c  submission/completion queues, doorbells, PRP walking,
 *                 the request pool and the fetch/complete engine
 *   nvme_io.c     NVM I/O commands over the block backend (the namespace)
 *   nvme_pci.c    the PCI function (header, BAR0, PCIe cap, MSI-X) and its two
 *                 attachments: "emulated" (commands run on the doorbell-write
 *                 exit, on the vCPU thread) and "passthrough" (an engine
 *                 thread polls a doorbell page the guest writes without exits)
 *
 * The controller reaches guest memory only through its struct dma_as and the
 * namespace's bytes only through its struct blk_backend (bounce buffers).
 * Guest mistakes are answered as the spec says (a completion status, an
 * asynchronous event, or CSTS.CFS) and logged with guest_error(); nothing a
 * guest writes makes the controller loop without bound or write outside the
 * DMA address space. Structures are little-endian as on the wire (x86 host). */
#ifndef WARDEN_DEVICES_NVME_H
#define WARDEN_DEVICES_NVME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/blk.h"
#include "iommu/dma.h"
#include "pci/pci.h"

/* ---- Controller registers (NVMe 1.4, 3.1) ---- */
#define NVME_REG_CAP     0x00      /* Controller Capabilities, 64-bit */
#define NVME_REG_VS      0x08      /* Version */
#define NVME_REG_INTMS   0x0c      /* Interrupt Mask Set */
#define NVME_REG_INTMC   0x10      /* Interrupt Mask Clear */
#define NVME_REG_CC      0x14      /* Controller Configuration */
#define NVME_REG_CSTS    0x1c      /* Controller Status */
#define NVME_REG_NSSR    0x20      /* NVM Subsystem Reset (not supported) */
#define NVME_REG_AQA     0x24      /* Admin Queue Attributes */
#define NVME_REG_ASQ     0x28      /* Admin SQ Base Address, 64-bit */
#define NVME_REG_ACQ     0x30      /* Admin CQ Base Address, 64-bit */
#define NVME_REG_DBS     0x1000    /* first doorbell: SQ0TDBL */
#define NVME_REG_SIZE    0x1000    /* the register page; doorbells follow */

#define NVME_CAP_MQES(cap)      ((cap) & 0xffff)
#define NVME_CAP_CQR            (1ull << 16)
#define NVME_CAP_AMS_SHIFT      17
#define NVME_CAP_TO_SHIFT       24           /* 500 ms units */
#define NVME_CAP_DSTRD_SHIFT    32
#define NVME_CAP_NSSRS          (1ull << 36)
#define NVME_CAP_CSS_NVM        (1ull << 37)
#define NVME_CAP_MPSMIN_SHIFT   48
#define NVME_CAP_MPSMAX_SHIFT   52

#define NVME_VS_1_4             0x00010400u

#define NVME_CC_EN              (1u << 0)
#define NVME_CC_CSS_SHIFT       4
#define NVME_CC_CSS_MASK        (7u << NVME_CC_CSS_SHIFT)
#define NVME_CC_MPS_SHIFT       7
#define NVME_CC_MPS_MASK        (0xfu << NVME_CC_MPS_SHIFT)
#define NVME_CC_AMS_SHIFT       11
#define NVME_CC_AMS_MASK        (7u << NVME_CC_AMS_SHIFT)
#define NVME_CC_SHN_SHIFT       14
#define NVME_CC_SHN_MASK        (3u << NVME_CC_SHN_SHIFT)
#define  NVME_CC_SHN_NONE       0
#define  NVME_CC_SHN_NORMAL     1
#define  NVME_CC_SHN_ABRUPT     2
#define NVME_CC_IOSQES_SHIFT    16
#define NVME_CC_IOSQES_MASK     (0xfu << NVME_CC_IOSQES_SHIFT)
#define NVME_CC_IOCQES_SHIFT    20
#define NVME_CC_IOCQES_MASK     (0xfu << NVME_CC_IOCQES_SHIFT)
#define NVME_CC_WRITABLE        (NVME_CC_EN | NVME_CC_CSS_MASK | NVME_CC_MPS_MASK | \
				 NVME_CC_AMS_MASK | NVME_CC_SHN_MASK | NVME_CC_IOSQES_MASK | \
				 NVME_CC_IOCQES_MASK)

#define NVME_CSTS_RDY           (1u << 0)
#define NVME_CSTS_CFS           (1u << 1)
#define NVME_CSTS_SHST_SHIFT    2
#define NVME_CSTS_SHST_MASK     (3u << NVME_CSTS_SHST_SHIFT)
#define  NVME_CSTS_SHST_NORMAL  0
#define  NVME_CSTS_SHST_OCCUR   1
#define  NVME_CSTS_SHST_CMPLT   2

#define NVME_AQA_ASQS(aqa)      ((aqa) & 0xfff)          /* 0's based */
#define NVME_AQA_ACQS(aqa)      (((aqa) >> 16) & 0xfff)  /* 0's based */
#define NVME_AQA_WRITABLE       0x0fff0fffu

/* ---- Queue entries (NVMe 1.4, 4.2 and 4.6) ---- */
#define NVME_PAGE_SHIFT         12                       /* CC.MPS = 0 */
#define NVME_PAGE_SIZE          (1u << NVME_PAGE_SHIFT)
#define NVME_SQE_SIZE           64
#define NVME_CQE_SIZE           16
#define NVME_SQES               6                        /* log2 of 64 */
#define NVME_CQES               4                        /* log2 of 16 */
#define NVME_ADMIN_QUEUE_MAX    4096                     /* entries, AQA is 12 bits */
#define NVME_MDTS               5                        /* 2^5 pages: 128 KiB */
#define NVME_MAX_XFER           (NVME_PAGE_SIZE << NVME_MDTS)
/* A transfer of NVME_MAX_XFER whose first PRP has an offset spans one more page. */
#define NVME_MAX_PRP_SEGS       ((NVME_MAX_XFER / NVME_PAGE_SIZE) + 1)

struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags;          /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

#define NVME_SQE_FUSE_MASK      0x03
#define NVME_SQE_PSDT_MASK      0xc0

struct nvme_cqe {
	uint32_t cdw0;
	uint32_t cdw1;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status;        /* bit 0 phase tag, bits 15:1 the status field */
};

_Static_assert(sizeof(struct nvme_sqe) == NVME_SQE_SIZE, "SQ entries are 64 bytes");
_Static_assert(sizeof(struct nvme_cqe) == NVME_CQE_SIZE, "CQ entries are 16 bytes");

/* Status field (CQE DW3 31:17, here as bits 14:0): SC 7:0, SCT 10:8, CRD
 * 12:11, More 13, DNR 14 - the encoding Linux's nvme.h uses. */
#define NVME_STATUS_SCT_SHIFT   8
#define NVME_STATUS_SC(s)       ((s) & 0xff)
#define NVME_STATUS_SCT(s)      (((s) >> NVME_STATUS_SCT_SHIFT) & 7)
#define NVME_SC_DNR             0x4000
/* Generic command status (SCT 0). */
#define NVME_SC_SUCCESS             0x000
#define NVME_SC_INVALID_OPCODE      0x001
#define NVME_SC_INVALID_FIELD       0x002
#define NVME_SC_DATA_XFER_ERROR     0x004
#define NVME_SC_INTERNAL            0x006
#define NVME_SC_ABORT_REQ           0x007
#define NVME_SC_ABORT_QUEUE         0x008      /* aborted due to SQ deletion */
#define NVME_SC_INVALID_NS          0x00b      /* Invalid Namespace or Format */
#define NVME_SC_CMD_SEQ_ERROR       0x00c
#define NVME_SC_PRP_OFFSET_INVALID  0x013
#define NVME_SC_NS_WRITE_PROTECTED  0x020
#define NVME_SC_LBA_RANGE           0x080
/* Command specific status (SCT 1). */
#define NVME_SC_CQ_INVALID          0x100
#define NVME_SC_QID_INVALID         0x101
#define NVME_SC_QUEUE_SIZE          0x102
#define NVME_SC_ABORT_LIMIT         0x103
#define NVME_SC_ASYNC_LIMIT         0x105
#define NVME_SC_INVALID_VECTOR      0x108
#define NVME_SC_INVALID_LOG_PAGE    0x109
#define NVME_SC_INVALID_QUEUE_DELETION 0x10c
#define NVME_SC_FEATURE_NOT_SAVEABLE 0x10d
/* Media and data integrity errors (SCT 2). */
#define NVME_SC_WRITE_FAULT         0x280
#define NVME_SC_READ_ERROR          0x281

/* ---- Admin command set (NVMe 1.4, 5) ---- */
#define NVME_ADM_DELETE_SQ      0x00
#define NVME_ADM_CREATE_SQ      0x01
#define NVME_ADM_GET_LOG_PAGE   0x02
#define NVME_ADM_DELETE_CQ      0x04
#define NVME_ADM_CREATE_CQ      0x05
#define NVME_ADM_IDENTIFY       0x06
#define NVME_ADM_ABORT          0x08
#define NVME_ADM_SET_FEATURES   0x09
#define NVME_ADM_GET_FEATURES   0x0a
#define NVME_ADM_ASYNC_EVENT    0x0c

/* Create I/O queue CDW11 fields. */
#define NVME_QUEUE_PHYS_CONTIG  (1u << 0)
#define NVME_CQ_IRQ_ENABLED     (1u << 1)

/* Identify CNS values. */
#define NVME_ID_CNS_NS          0x00
#define NVME_ID_CNS_CTRL        0x01
#define NVME_ID_CNS_NS_ACTIVE_LIST 0x02
#define NVME_ID_CNS_NS_DESC_LIST 0x03
#define NVME_IDENTIFY_SIZE      4096

/* Identify Controller byte offsets used here (NVMe 1.4, figure 247). */
#define NVME_IDCTRL_VID         0
#define NVME_IDCTRL_SSVID       2
#define NVME_IDCTRL_SN          4          /* 20 ASCII bytes */
#define NVME_IDCTRL_MN          24         /* 40 ASCII bytes */
#define NVME_IDCTRL_FR          64         /* 8 ASCII bytes */
#define NVME_IDCTRL_RAB         72
#define NVME_IDCTRL_IEEE        73
#define NVME_IDCTRL_MDTS        77
#define NVME_IDCTRL_CNTLID      78
#define NVME_IDCTRL_VER         80
#define NVME_IDCTRL_OAES        92
#define NVME_IDCTRL_CNTRLTYPE   111
#define NVME_IDCTRL_OACS        256
#define NVME_IDCTRL_ACL         258
#define NVME_IDCTRL_AERL        259
#define NVME_IDCTRL_FRMW        260
#define NVME_IDCTRL_LPA         261
#define NVME_IDCTRL_ELPE        262
#define NVME_IDCTRL_NPSS        263
#define NVME_IDCTRL_WCTEMP      266
#define NVME_IDCTRL_CCTEMP      268
#define NVME_IDCTRL_SQES        512
#define NVME_IDCTRL_CQES        513
#define NVME_IDCTRL_MAXCMD      514
#define NVME_IDCTRL_NN          516
#define NVME_IDCTRL_ONCS        520
#define NVME_IDCTRL_VWC         525
#define NVME_IDCTRL_SGLS        536
#define NVME_IDCTRL_SUBNQN      768        /* 256 bytes */
#define NVME_IDCTRL_PSD0        2048       /* 32 bytes */

#define NVME_ONCS_DSM           (1u << 2)
#define NVME_ONCS_WRITE_ZEROES  (1u << 3)
#define NVME_VWC_PRESENT        (1u << 0)
#define NVME_VWC_NSID_ALL       (3u << 1)  /* Flush with NSID FFFFFFFFh supported */

/* Identify Namespace byte offsets (figure 245). */
#define NVME_IDNS_NSZE          0
#define NVME_IDNS_NCAP          8
#define NVME_IDNS_NUSE          16
#define NVME_IDNS_NSFEAT        24
#define NVME_IDNS_NLBAF         25
#define NVME_IDNS_FLBAS         26
#define NVME_IDNS_NSATTR        99
#define NVME_IDNS_NGUID         104
#define NVME_IDNS_LBAF0         128        /* MS 15:0, LBADS 23:16, RP 25:24 */

/* Namespace identification descriptor types (figure 249). */
#define NVME_NIDT_NGUID         0x02

/* Feature identifiers (figure 271). */
#define NVME_FEAT_ARBITRATION   0x01
#define NVME_FEAT_POWER_MGMT    0x02
#define NVME_FEAT_TEMP_THRESH   0x04
#define NVME_FEAT_VOLATILE_WC   0x06
#define NVME_FEAT_NUM_QUEUES    0x07
#define NVME_FEAT_IRQ_COALESCE  0x08
#define NVME_FEAT_IRQ_CONFIG    0x09
#define NVME_FEAT_WRITE_ATOMIC  0x0a
#define NVME_FEAT_ASYNC_EVENT   0x0b
#define NVME_FEAT_SEL_SHIFT     8          /* Get Features CDW10 10:8 */
#define  NVME_FEAT_SEL_CURRENT  0
#define  NVME_FEAT_SEL_DEFAULT  1
#define  NVME_FEAT_SEL_SAVED    2
#define  NVME_FEAT_SEL_SUPPORTED 3
#define NVME_FEAT_CAP_CHANGEABLE (1u << 2)
#define NVME_SET_FEAT_SAVE      (1u << 31)

/* Log pages (figure 191). */
#define NVME_LOG_ERROR          0x01
#define NVME_LOG_SMART          0x02
#define NVME_LOG_FW_SLOT        0x03
#define NVME_LOG_PAGE_SIZE      512        /* SMART and firmware slot */
#define NVME_ERROR_LOG_ENTRY_SIZE 64
#define NVME_ERROR_LOG_ENTRIES  16         /* ELPE + 1 */

/* SMART / Health log byte offsets (figure 194). */
#define NVME_SMART_CRIT_WARN    0
#define  NVME_SMART_CRIT_TEMPERATURE (1u << 1)
#define NVME_SMART_TEMPERATURE  1          /* 2 bytes, Kelvin */
#define NVME_SMART_AVAIL_SPARE  3
#define NVME_SMART_SPARE_THRESH 4
#define NVME_SMART_PCT_USED     5
#define NVME_SMART_DATA_UNITS_READ 32      /* 16 bytes each from here */
#define NVME_SMART_DATA_UNITS_WRITTEN 48
#define NVME_SMART_HOST_READS   64
#define NVME_SMART_HOST_WRITES  80
#define NVME_SMART_BUSY_TIME    96
#define NVME_SMART_POWER_CYCLES 112
#define NVME_SMART_POWER_ON_HOURS 128
#define NVME_SMART_UNSAFE_SHUTDOWNS 144
#define NVME_SMART_MEDIA_ERRORS 160
#define NVME_SMART_NUM_ERR_LOG  176

/* Asynchronous events (figure 146-147): CDW0 type 2:0, info 15:8, LID 23:16. */
#define NVME_AER_TYPE_ERROR     0
#define NVME_AER_TYPE_SMART     1
#define NVME_AER_ERR_INVALID_DB     0x00   /* Write to Invalid Doorbell Register */
#define NVME_AER_ERR_INVALID_DB_VAL 0x01   /* Invalid Doorbell Write Value */
#define NVME_AERL               3          /* 0's based: four outstanding */
#define NVME_ACL                3          /* 0's based abort limit */

/* ---- NVM command set (NVMe 1.4, 6) ---- */
#define NVME_CMD_FLUSH          0x00
#define NVME_CMD_WRITE          0x01
#define NVME_CMD_READ           0x02
#define NVME_CMD_WRITE_ZEROES   0x08
#define NVME_CMD_DSM            0x09

#define NVME_RW_NLB_MASK        0xffff     /* CDW12 15:0, 0's based */
#define NVME_RW_FUA             (1u << 30)
#define NVME_DSM_AD             (1u << 2)  /* CDW11: deallocate */
#define NVME_DSM_RANGE_SIZE     16
#define NVME_NSID_ALL           0xffffffffu
#define NVME_NSID               1          /* the one namespace */

/* ---- The controller model ---- */
#define NVME_MAX_IOQS           64         /* I/O queue pairs at most */
#define NVME_DEFAULT_IOQS       8
#define NVME_DEFAULT_MQES       1023       /* 0's based */
#define NVME_MAX_QUEUES         (NVME_MAX_IOQS + 1)
#define NVME_MAX_INFLIGHT       256        /* requests (and bounce buffers) at once */
#define NVME_DOORBELLS          (NVME_REG_SIZE / 4)   /* doorbell slots in a 4 KiB page */
#define NVME_SERIAL_LEN         20

/* A completion for a CQ with interrupts enabled raises vector iv. Called
 * without the controller lock held, from the thread that posted it. */
typedef void nvme_irq_fn(void *opaque, unsigned vector);

struct nvme_ctrl_config {
	const char *name;               /* for messages */
	struct blk_backend *backend;    /* the namespace's bytes */
	struct dma_as *dma;             /* the only road to guest memory */
	uint16_t max_ioqs;              /* 0: NVME_DEFAULT_IOQS; at most NVME_MAX_IOQS */
	uint16_t mqes;                  /* CAP.MQES, 0's based; 0: NVME_DEFAULT_MQES */
	const char *serial;             /* Identify SN; NULL: "WARDEN-<name>" */
	uint16_t vid, ssvid;            /* Identify VID/SSVID */
	uint16_t cntlid;
	/* NULL: doorbells come through nvme_ctrl_doorbell_write() and are
	 * processed at once (emulated). Otherwise a 4 KiB page the guest writes
	 * directly (32-bit slots, CAP.DSTRD = 0) that nvme_ctrl_poll() scans. */
	uint32_t *doorbell_page;
	nvme_irq_fn *irq;
	void *irq_opaque;
};

struct nvme_stats {
	uint64_t admin_cmds[256];       /* by opcode */
	uint64_t io_cmds[256];          /* by opcode */
	uint64_t errors;                /* completions with a non-zero status */
	uint64_t bytes_read, bytes_written;     /* to / from the namespace */
	uint64_t interrupts;            /* vector notifications asked for */
	uint64_t doorbell_writes;
	uint64_t invalid_doorbells;
	uint64_t cq_full_stalls;        /* an SQ stopped for want of CQ space */
	uint64_t async_events;
	uint64_t fatal;                 /* times CSTS.CFS was set */
	uint64_t backend_errors;
};

struct nvme_sq {
	uint64_t base;                  /* IOVA of entry 0 */
	uint16_t size;                  /* entries */
	uint16_t head, tail;
	uint16_t cqid;
	uint16_t inflight;              /* fetched, not yet completed */
	uint8_t prio;
	bool valid;
	bool stalled;                   /* waiting for CQ space */
};

struct nvme_cq {
	uint64_t base;
	uint16_t size;
	uint16_t head;                  /* the host's (doorbell) */
	uint16_t tail;                  /* where the next entry goes */
	uint16_t reserved;              /* slots promised to fetched commands */
	uint16_t iv;
	uint16_t nsqs;                  /* SQs bound to it */
	bool valid, ien, phase;
};

struct nvme_features {
	uint32_t arbitration;
	uint32_t power_mgmt;
	uint16_t temp_over, temp_under; /* composite sensor, Kelvin */
	uint32_t volatile_wc;
	uint32_t irq_coalesce;
	uint32_t write_atomic;
	uint32_t async_event_cfg;
	uint64_t irq_cd[(NVME_MAX_QUEUES + 63) / 64];   /* coalescing disable per vector */
};

struct nvme_req;

struct nvme_ctrl {
	pthread_mutex_t lock;
	bool inited;
	char name[32];
	struct blk_backend *blk;
	struct dma_as *dma;
	nvme_irq_fn *irq;
	void *irq_opaque;
	uint32_t *db_page;              /* polled doorbells, or NULL */
	uint32_t db_shadow[NVME_DOORBELLS];     /* last value seen in each slot */

	/* Registers. */
	uint64_t cap;
	uint32_t intms, cc, csts, aqa;
	uint64_t asq, acq;

	/* Identity and configuration. */
	uint16_t max_ioqs, vid, ssvid, cntlid;
	char serial[NVME_SERIAL_LEN + 1];

	/* Namespace 1. */
	uint32_t lba_shift;
	uint64_t nsze;                  /* in logical blocks */

	/* Queues; index = queue id. */
	struct nvme_sq sq[NVME_MAX_QUEUES];
	struct nvme_cq cq[NVME_MAX_QUEUES];
	uint16_t nsqa, ncqa;            /* I/O queues allocated (1's based) */
	bool ioq_created;               /* since the last reset (Number of Queues is then fixed) */

	struct nvme_features feat;
	uint16_t aer_cid[NVME_AERL + 1];
	unsigned aer_count;

	/* Error information log: a ring, newest at errlog_next - 1. */
	uint8_t errlog[NVME_ERROR_LOG_ENTRIES][NVME_ERROR_LOG_ENTRY_SIZE];
	unsigned errlog_next;
	uint64_t error_count;

	/* SMART counters. */
	uint64_t host_reads, host_writes, media_errors, power_on_ns0;

	/* Requests: a pool of at most NVME_MAX_INFLIGHT, grown on demand. */
	struct nvme_req *free_reqs;
	unsigned reqs_allocated;
	unsigned blk_inflight;          /* handed to the backend, not done */
	bool dropping;                  /* reset: completions are discarded */
	bool fatal;                     /* CSTS.CFS: nothing runs until reset */

	uint64_t irq_pending[(NVME_MAX_QUEUES + 63) / 64];
	struct nvme_stats stats;
};

/* Validates cfg (backend block size a power of two from 512 to 4096, a
 * disk of at least one block), takes the lock into use and leaves the
 * controller disabled (CC = 0). 0 or -errno. */
int nvme_ctrl_init(struct nvme_ctrl *c, const struct nvme_ctrl_config *cfg);
/* Completes (and discards) what the backend still holds. Safe on a zeroed
 * or failed-to-init controller. */
void nvme_ctrl_destroy(struct nvme_ctrl *c);
/* The register page (offset < NVME_REG_SIZE); len 1, 2, 4 or 8. */
void nvme_ctrl_reg_read(struct nvme_ctrl *c, uint64_t off, uint64_t *data, unsigned len);
void nvme_ctrl_reg_write(struct nvme_ctrl *c, uint64_t off, uint64_t data, unsigned len);
/* A trapped doorbell write; slot = (offset - NVME_REG_DBS) / 4. Processes the
 * queues at once, waiting for the backend, and returns when every fetched
 * command has completed (the emulated attachment). */
void nvme_ctrl_doorbell_write(struct nvme_ctrl *c, unsigned slot, uint32_t value);
/* Polled attachment: one round of scanning the doorbell page (every slot
 * when full_scan, else the slots of queue ids up to max_ioqs), fetching, and
 * reaping backend completions without blocking. Returns how much happened
 * (doorbell changes, commands started, completions); 0 means idle.
 * *inflight (if not NULL): requests still on the backend afterwards. */
unsigned nvme_ctrl_poll(struct nvme_ctrl *c, bool full_scan, unsigned *inflight);
/* Function-level reset (PCI reset/FLR): a controller reset, then every
 * register back to its power-on value. */
void nvme_ctrl_reset(struct nvme_ctrl *c);
/* Completes every request still on the backend, posting its completion
 * (and interrupt) as it would have been: afterwards nothing is in flight, so
 * the controller can be saved. A backend that fails meanwhile makes the
 * controller fatal (CSTS.CFS) and leaves what it holds in flight. */
void nvme_ctrl_quiesce(struct nvme_ctrl *c);
/* Register state, features and queue definitions; returns the size, or
 * -ENOSPC, or -EBUSY while commands are in flight on the backend (those are
 * not migratable: quiesce first - nvme_pci_stop() or nvme_ctrl_quiesce();
 * the emulated attachment has none between exits). buf == NULL: the size. */
int nvme_ctrl_save(struct nvme_ctrl *c, void *buf, size_t len);
/* 0 or -EINVAL (a record that does not describe a consistent controller). */
int nvme_ctrl_load(struct nvme_ctrl *c, const void *buf, size_t len);
void nvme_ctrl_stats(struct nvme_ctrl *c, struct nvme_stats *out);
/* For messages and stats output: "read", "identify", or NULL. */
const char *nvme_opcode_name(bool admin, uint8_t opcode);

/* ---- The PCI function ---- */
#define NVME_PCI_DEVICE_ID      0x0001
#define NVME_PCI_CLASS          0x010802   /* mass storage, NVM, NVMe I/O controller */
#define NVME_BAR0_SIZE          0x4000
#define NVME_BAR0_DOORBELLS     0x1000     /* 4 KiB: the direct window in passthrough */
#define NVME_BAR0_MSIX_TABLE    0x2000
#define NVME_BAR0_MSIX_PBA      0x3000

/* Engine poll strategy (passthrough; see nvme_pci.c): spin while there is
 * activity and for a grace period after the last, then sleep in steps that
 * start short and double while the device stays idle, up to a ceiling. */
#define NVME_ENGINE_GRACE_NS        150000ull
#define NVME_ENGINE_SLEEP_NS        30000ull     /* first step */
#define NVME_ENGINE_SLEEP_MAX_NS    1000000ull   /* ceiling */
#define NVME_ENGINE_SLEEP_BUSY_NS   120000ull    /* ceiling while requests are on the backend */
#define NVME_ENGINE_BACKOFF         8            /* double once idle > 8 steps */

struct nvme_pci_config {
	const char *name;
	struct blk_backend *backend;
	uint16_t max_ioqs;              /* 0: NVME_DEFAULT_IOQS */
	uint16_t mqes;                  /* 0's based; 0: NVME_DEFAULT_MQES */
	bool passthrough;
	void *doorbell_page;            /* passthrough: 4 KiB, page aligned, owned by the caller */
	struct dma_as *dma;
	const char *serial;
};

struct nvme_engine_stats {
	uint64_t polls;                 /* rounds */
	uint64_t busy_polls;            /* rounds that found something to do */
	uint64_t idle_sleeps;
	uint64_t cpu_ns;                /* the engine thread's CPU time, all runs */
	uint64_t wall_ns;               /* how long it has run, all runs */
};

struct nvme_pci_stats {
	struct nvme_stats ctrl;
	struct nvme_engine_stats engine;
	uint64_t irqs_delivered;        /* pci_msix_notify accepted (sent or pended) */
	uint64_t irqs_dropped;          /* MSI-X off or vector refused */
};

struct nvme_pci {
	struct pci_device dev;
	struct nvme_ctrl ctrl;
	bool passthrough;
	pthread_mutex_t engine_lock;    /* start/stop against stats */
	bool engine_running;
	int engine_stop;                /* atomic */
	pthread_t engine;
	uint64_t engine_t0;             /* CLOCK_MONOTONIC at start */
	/* polls, busy_polls, idle_sleeps: written by the engine, read
	 * atomically; cpu_ns/wall_ns: earlier runs, added at stop. */
	struct nvme_engine_stats engine_stats;
	uint64_t irqs_delivered, irqs_dropped;  /* atomic */
};

int nvme_pci_init(struct nvme_pci *n, const struct nvme_pci_config *cfg);
struct pci_device *nvme_pci_dev(struct nvme_pci *n);
/* Passthrough: starts the engine thread (emulated: nothing to do). */
int nvme_pci_start(struct nvme_pci *n);
/* Stops and joins the engine (if it runs), then quiesces the controller
 * (nvme_ctrl_quiesce): nothing is left in flight for a save. Safe against
 * nvme_pci_stats from another thread. */
void nvme_pci_stop(struct nvme_pci *n);
void nvme_pci_destroy(struct nvme_pci *n);
void nvme_pci_stats(struct nvme_pci *n, struct nvme_pci_stats *out);
/* The controller's state (see nvme_ctrl_save); -EBUSY while the engine runs. */
int nvme_pci_save(struct nvme_pci *n, void *buf, size_t len);
int nvme_pci_load(struct nvme_pci *n, const void *buf, size_t len);

#endif
