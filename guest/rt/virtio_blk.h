/* virtio-blk driver for the test guests (Virtio 1.1 §5.2) on the modern
 * virtio-pci transport (virtio.h): one request queue (queue 0), requests as
 * header + data + status descriptor chains, direct or indirect.
 *
 * Everything except vblk_irq_init() works in ring 0 and in ring 3; the hot
 * paths (submission, used-ring polling) are meant for ring 3 (see
 * docs/guest-runtime.md). Every wait is bounded: a dead or hostile device
 * yields VIRTIO_E_TIMEOUT / _NEEDS_RESET / _GONE / _NOT_READY, never a
 * hang.
 *
 * Results: >= 0 is the status byte the device wrote (VIRTIO_BLK_S_OK 0,
 * _IOERR 1, _UNSUPP 2; VBLK_S_NONE 0xff if it wrote none); < 0 is a
 * VIRTIO_E_* driver error. Sectors are 512 bytes whatever blk_size says;
 * data buffers are bus addresses: guest-physical ones (the runtime
 * identity-maps RAM) unless an IOMMU translates (vblk_opts.dma_offset). */
#ifndef GUEST_RT_VIRTIO_BLK_H
#define GUEST_RT_VIRTIO_BLK_H

#include "virtio.h"

#define VBLK_PCI_DEVICE              (VIRTIO_PCI_MODERN_BASE + VIRTIO_ID_BLOCK)   /* 0x1042 */
#define VBLK_PCI_DEVICE_TRANSITIONAL 0x1001

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_CONFIG_WCE   11
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
extern const char *const vblk_feature_names[24];

/* struct virtio_blk_config offsets (§5.2.4). */
#define VBLK_CFG_CAPACITY         0x00    /* le64, 512-byte sectors */
#define VBLK_CFG_SIZE_MAX         0x08
#define VBLK_CFG_SEG_MAX          0x0c
#define VBLK_CFG_BLK_SIZE         0x14
#define VBLK_CFG_PHYS_BLOCK_EXP   0x18
#define VBLK_CFG_MIN_IO_SIZE      0x1a
#define VBLK_CFG_OPT_IO_SIZE      0x1c
#define VBLK_CFG_WRITEBACK        0x20
#define VBLK_CFG_NUM_QUEUES       0x22
#define VBLK_CFG_MAX_DISCARD_SECT 0x24
#define VBLK_CFG_MAX_DISCARD_SEG  0x28
#define VBLK_CFG_DISCARD_ALIGN    0x2c
#define VBLK_CFG_MAX_WZ_SECT      0x30
#define VBLK_CFG_MAX_WZ_SEG       0x34
#define VBLK_CFG_WZ_MAY_UNMAP     0x38

/* Request types and status (§5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VBLK_S_NONE               0xff    /* the driver's preset: nothing written */
#define VIRTIO_BLK_ID_BYTES       20
#define VIRTIO_BLK_WZ_UNMAP       1

#define VBLK_SECTOR               512u
#define VBLK_MAX_SEGS             64      /* data segments per request, driver limit */
#define VBLK_SLOT_BYTES           64      /* per request: header, payload, status */
#define VBLK_SEG_CONTIG           0xffffffffu

struct vblk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Discard / Write Zeroes segment. */
struct vblk_dwz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* A completion handed back by vblk_reap(). */
struct vblk_done {
	uint64_t tag;                   /* what vblk_submit was given */
	uint16_t slot;
	int status;                     /* the status byte */
	uint32_t len;                   /* used length (bytes the device wrote) */
};

enum { VBLK_INDIRECT_AUTO = 0, VBLK_INDIRECT_OFF, VBLK_INDIRECT_ALWAYS };

struct vblk_opts {
	int bdf;                        /* -1: first 1af4:1042 (or 1af4:1001) on bus 0 */
	unsigned depth;                 /* requests in flight (default 32, at most the queue size) */
	unsigned queue_size;            /* 0: the device's maximum (power of two, <= 1024) */
	bool irq;                       /* complete by MSI-X (vblk_irq_init first) */
	uint64_t timeout_us;            /* per synchronous request, default 5 s */
	uint64_t features_off;          /* feature bits not to accept */
	/* Indirect descriptors (if negotiated): AUTO for chains of more than
	 * one data segment, for every request when the ring cannot hold depth
	 * direct single-segment chains, and when ring descriptors run short;
	 * OFF; ALWAYS. */
	uint8_t indirect;
	/* Data split at multiples of seg_bytes (default 4096: one descriptor
	 * per page, like an OS scatterlist); VBLK_SEG_CONTIG: one per
	 * contiguous range, within size_max. */
	uint32_t seg_bytes;
	/* Added to the address of everything the driver allocates itself
	 * (rings, indirect tables, request headers, Discard/Write Zeroes
	 * payloads, status bytes, the GET_ID buffer) when it hands it to the
	 * device: the bus address behind an IOMMU that maps that memory at
	 * GPA + dma_offset (rt/vtd.h). Data buffers passed in are bus
	 * addresses as given. 0: no IOMMU, or one mapping IOVA = GPA. */
	uint64_t dma_offset;
};

struct vblk_slot {
	uint8_t state;                  /* VBLK_SLOT_* (virtio_blk.c) */
	bool sync;                      /* waited for by a synchronous call: not reaped */
	uint64_t tag;
	uint32_t len;
};

struct vblk_dev {
	struct vblk_opts opts;
	struct virtio_dev vd;
	struct virtq vq;
	/* Configuration. */
	uint64_t capacity;              /* sectors */
	uint32_t blk_size;              /* 512 without BLK_SIZE */
	uint32_t size_max, seg_max;     /* 0: not negotiated */
	uint8_t phys_block_exp, writeback;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint32_t max_discard_sectors, max_discard_seg, discard_align;
	uint32_t max_wz_sectors, max_wz_seg;
	uint8_t wz_may_unmap;
	unsigned max_segs;              /* data segments per request */
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	/* Requests. */
	uint16_t depth;
	struct vblk_slot *slots;
	uint64_t reqmem;                /* depth x VBLK_SLOT_BYTES */
	uint16_t *free_slots, nfree;
	uint16_t *done_fifo, done_head, done_count;
	uint16_t inflight;
	uint64_t bogus;                 /* completions for no request of ours */
	uint64_t scratch;               /* one page: GET_ID, sync payloads */
	char err[160];
};

static inline bool vblk_has(const struct vblk_dev *d, unsigned bit)
{
	return d->vd.features & VIRTIO_BIT(bit);
}

/* Registers the interrupt handlers for vector (configuration changes) and
 * vector+1 (the request queue), enables the LAPIC and RFLAGS.IF. Ring 0
 * only; call it in main() before vblk_open with opts.irq. */
int vblk_irq_init(unsigned vector);

/* Finds the device, negotiates features (VERSION_1 required), reads the
 * configuration, sets up queue 0 and DRIVER_OK. 0 or VIRTIO_E_*; d->err
 * says why. */
int vblk_open(struct vblk_dev *d, const struct vblk_opts *o);
/* Device reset and the same set-up again on the same memory (honours
 * d->opts as they are now); abandons whatever was in flight. */
int vblk_reset(struct vblk_dev *d);
uint8_t vblk_status(struct vblk_dev *d);

/* Synchronous requests. */
int vblk_rw(struct vblk_dev *d, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len);
int vblk_flush(struct vblk_dev *d);
/* The 20-byte id string (serial), NUL-terminated into out[21]. */
int vblk_get_id(struct vblk_dev *d, char *out);
int vblk_write_zeroes(struct vblk_dev *d, uint64_t sector, uint32_t nsect, bool unmap);
int vblk_discard(struct vblk_dev *d, uint64_t sector, uint32_t nsect);
/* Any request: header (type, sector), the data segments as given (their
 * write flags included), status. used_len (optional) gets the used length. */
int vblk_cmd(struct vblk_dev *d, uint32_t type, uint64_t sector, const struct virtq_seg *data, unsigned n,
	     uint32_t *used_len);

/* Asynchronous use (queue depth > 1): vblk_submit puts one request in the
 * ring (data device-writable for IN and GET_ID) and returns its slot, or
 * VIRTIO_E_FULL; vblk_kick makes everything submitted visible and notifies
 * (unless the device suppressed notifications); vblk_reap hands back up to
 * max completions, 0 if none; vblk_wait is vblk_reap that waits (polling,
 * or for the queue's MSI-X interrupt in interrupt mode) up to timeout_us
 * for at least one. */
int vblk_submit(struct vblk_dev *d, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len, uint64_t tag);
int vblk_submit_segs(struct vblk_dev *d, uint32_t type, uint64_t sector, const struct virtq_seg *data,
		     unsigned n, uint64_t tag);
void vblk_kick(struct vblk_dev *d);
int vblk_reap(struct vblk_dev *d, struct vblk_done *out, unsigned max);
int vblk_wait(struct vblk_dev *d, struct vblk_done *out, unsigned max, uint64_t timeout_us);

/* Splits [buf, buf+len) into data segments as opts.seg_bytes and size_max
 * say; returns the count, or VIRTIO_E_INVAL if more than max. */
int vblk_split(const struct vblk_dev *d, uint64_t buf, uint32_t len, bool write, struct virtq_seg *segs,
	       unsigned max);

/* "OK", "IOERR", "UNSUPP", "no status written", or a driver error's name. */
const char *vblk_result_name(int r);

#endif
