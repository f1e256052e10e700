/* virtio-blk (Virtio 1.2, 5.2) over the modern virtio-pci transport.
 *
 * Requests are parsed from the chain's bytes, not its descriptors (2.6.4:
 * any framing): the first 16 device-readable bytes are the header, the
 * last device-writable byte is the status, what lies between is data. Data
 * moves through per-request bounce buffers and the DMA API; up to the queue
 * size per queue is in flight on the backend, completed in the order the
 * backend completes them. See docs/virtio.md for the error policy. */
#ifndef WARDEN_DEVICES_VIRTIO_BLK_H
#define WARDEN_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "backend/blk.h"
#include "devices/virtio_pci.h"

/* ---- Device (5.2.1 - 5.2.3) ---- */
#define VIRTIO_ID_BLOCK                 2
#define VIRTIO_BLK_PCI_DEVICE_ID        (VIRTIO_PCI_DEVICE_ID_MODERN + VIRTIO_ID_BLOCK)
#define VIRTIO_BLK_PCI_CLASS            0x018000        /* mass storage, other */

#define VIRTIO_BLK_F_SIZE_MAX           1
#define VIRTIO_BLK_F_SEG_MAX            2
#define VIRTIO_BLK_F_GEOMETRY           4
#define VIRTIO_BLK_F_RO                 5
#define VIRTIO_BLK_F_BLK_SIZE           6
#define VIRTIO_BLK_F_FLUSH              9
#define VIRTIO_BLK_F_TOPOLOGY           10
#define VIRTIO_BLK_F_CONFIG_WCE         11
#define VIRTIO_BLK_F_MQ                 12
#define VIRTIO_BLK_F_DISCARD            13
#define VIRTIO_BLK_F_WRITE_ZEROES       14

/* struct virtio_blk_config (5.2.4), little-endian */
#define VIRTIO_BLK_CFG_CAPACITY         0       /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX         8       /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX          12      /* le32 */
#define VIRTIO_BLK_CFG_GEOMETRY         16      /* le16 cylinders, u8 heads, u8 sectors */
#define VIRTIO_BLK_CFG_BLK_SIZE         20      /* le32 */
#define VIRTIO_BLK_CFG_TOPOLOGY         24      /* u8 exp, u8 align, le16 min_io, le32 opt_io */
#define VIRTIO_BLK_CFG_WRITEBACK        32      /* u8 */
#define VIRTIO_BLK_CFG_NUM_QUEUES       34      /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36   /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG  40      /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_ALIGN    44      /* le32 discard_sector_alignment */
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS   48      /* le32 max_write_zeroes_sectors */
#define VIRTIO_BLK_CFG_MAX_WZ_SEG       52      /* le32 max_write_zeroes_seg */
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP     56      /* u8 write_zeroes_may_unmap */
#define VIRTIO_BLK_CONFIG_SIZE          60

/* struct virtio_blk_req (5.2.6): le32 type, le32 reserved, le64 sector,
 * data, u8 status */
#define VIRTIO_BLK_HDR_SIZE             16
#define VIRTIO_BLK_T_IN                 0
#define VIRTIO_BLK_T_OUT                1
#define VIRTIO_BLK_T_FLUSH              4
#define VIRTIO_BLK_T_GET_ID             8
#define VIRTIO_BLK_T_DISCARD            11
#define VIRTIO_BLK_T_WRITE_ZEROES       13
#define VIRTIO_BLK_S_OK                 0
#define VIRTIO_BLK_S_IOERR              1
#define VIRTIO_BLK_S_UNSUPP             2
#define VIRTIO_BLK_ID_BYTES             20
/* struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors,
 * le32 flags (bit 0 unmap) */
#define VIRTIO_BLK_DWZ_SIZE             16
#define VIRTIO_BLK_WZ_FLAG_UNMAP        0x1
#define VIRTIO_BLK_SECTOR_SIZE          512

/* ---- This model's limits ---- */
#define VIRTIO_BLK_DEFAULT_QUEUE_SIZE   256
#define VIRTIO_BLK_DEFAULT_POLL_US      50      /* see virtio_blk_pci_config.poll_us */
#define VIRTIO_BLK_MAX_QUEUE_SIZE       1024
#define VIRTIO_BLK_MAX_SEGS             16      /* discard / write-zeroes ranges */
#define VIRTIO_BLK_MAX_DWZ_SECTORS      (1u << 22)      /* 2 GiB per range */
/* Data of one request, and of all in flight: a request past the first is
 * answered IOERR; one that would pass the second waits for completions. */
#define VIRTIO_BLK_MAX_REQ_BYTES        (32u << 20)
#define VIRTIO_BLK_INFLIGHT_BYTES       (64u << 20)

enum virtio_blk_stat_type {
	VBLK_STAT_IN, VBLK_STAT_OUT, VBLK_STAT_FLUSH, VBLK_STAT_GET_ID, VBLK_STAT_DISCARD,
	VBLK_STAT_WRITE_ZEROES, VBLK_STAT_OTHER, VBLK_STAT_TYPES
};

struct virtio_blk_stats {
	uint64_t requests[VBLK_STAT_TYPES];     /* by type, as taken from the rings */
	uint64_t ioerr, unsupp;                 /* requests answered with those */
	uint64_t bytes_read, bytes_written;
	uint64_t max_inflight;
	uint64_t deferred;                      /* in-flight byte budget full: waited */
	struct virtio_pci_stats transport;      /* interrupts, notifies, resets, I/O thread */
};

struct virtio_blk;

struct vblk_req {
	struct virtio_blk *b;
	struct virtq *vq;
	struct virtq_elem elem;
	uint32_t type;
	uint64_t sector;
	uint64_t data_len;
	uint64_t status_iova;
	uint32_t used_len;              /* bytes written into the chain */
	uint8_t status;
	uint8_t *buf;                   /* bounce buffer */
	size_t buf_cap;
	uint64_t budget;                /* bytes held against VIRTIO_BLK_INFLIGHT_BYTES */
	unsigned seg, nseg;             /* discard / write-zeroes: next range, ranges */
	struct blk_req breq;
	struct iovec iov;
	struct vblk_req *next;          /* free list or done list */
};

struct vblk_queue {
	struct vblk_req *reqs;          /* queue_size of them */
	struct vblk_req *free;
};

struct virtio_blk {
	struct virtio_pci *t;
	const char *name;
	struct blk_backend *backend;
	struct dma_as *dma;
	unsigned num_queues;
	uint16_t queue_size;
	bool read_only;
	char serial[VIRTIO_BLK_ID_BYTES];
	uint64_t capacity;              /* sectors */
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	struct vblk_queue *queues;
	struct vblk_req *done_head, *done_tail;
	unsigned inflight;              /* taken from rings, not finished */
	uint64_t inflight_bytes;
	struct virtio_blk_stats stats;  /* under the transport lock */
};

struct virtio_blk_pci_config {
	const char *name;
	struct blk_backend *backend;
	struct dma_as *dma;             /* gated by Bus Master Enable */
	unsigned num_queues;            /* 0: 1; up to VIRTIO_PCI_MAX_QUEUES */
	unsigned queue_size;            /* 0: 256; power of two up to 1024 */
	const char *serial;             /* GET_ID, up to 20 bytes used */
	bool read_only;                 /* or the backend's */
	/* After a round of work with nothing on the backend, the I/O thread
	 * watches the rings this long before sleeping: back-to-back requests
	 * then cost no notification exit and no wakeup, at the price of a
	 * busy core while they come. 0: VIRTIO_BLK_DEFAULT_POLL_US; < 0: never. */
	int poll_us;
};

struct virtio_blk_pci {
	struct virtio_pci t;
	struct virtio_blk blk;
};

int virtio_blk_pci_init(struct virtio_blk_pci *v, const struct virtio_blk_pci_config *cfg);
struct pci_device *virtio_blk_pci_dev(struct virtio_blk_pci *v);
/* The I/O thread (notifications -> requests -> backend -> interrupts). */
int virtio_blk_pci_start(struct virtio_blk_pci *v);
/* Drains what is in flight, then joins the I/O thread. */
void virtio_blk_pci_stop(struct virtio_blk_pci *v);
void virtio_blk_pci_destroy(struct virtio_blk_pci *v);
/* Without the I/O thread (tests): process notified queues and reap; drain:
 * until nothing is in flight. */
int virtio_blk_pci_poll(struct virtio_blk_pci *v, bool drain);
void virtio_blk_pci_stats(struct virtio_blk_pci *v, struct virtio_blk_stats *out);
/* The stats as indented lines for --stats. */
void virtio_blk_pci_print_stats(struct virtio_blk_pci *v, FILE *out);

#endif
