/* Virtio 1.1 over the modern virtio-pci transport (§4.1) with split
 * virtqueues (§2.6), for the test guests. Device drivers (virtio_blk.h) sit
 * on top: this file knows PCI capabilities, the common configuration, the
 * device status, feature negotiation, MSI-X vectors and the rings, nothing
 * about any device type.
 *
 * Everything except virtio_irq_init() works in ring 0 and in ring 3; the
 * hot paths (virtq_add, virtq_kick, virtq_get_used) are meant for ring 3.
 * Ring memory is plain memory from rt_alloc (identity-mapped: the CPU uses
 * its guest-physical address). The device is given bus addresses: the GPA
 * plus vd->dma_offset for the rings and indirect tables (0 unless an IOMMU
 * maps that memory at GPA + offset, rt/vtd.h), the segments of a chain as
 * the caller gives them. Every wait is bounded.
 *
 * The driver keeps its own shadow of the descriptor chains (free list,
 * chain links, per-head tag), so a device, or a hostile test writing the
 * descriptor table directly, cannot corrupt the driver's bookkeeping. */
#ifndef GUEST_RT_VIRTIO_H
#define GUEST_RT_VIRTIO_H

#include "rt.h"

#define VIRTIO_PCI_VENDOR          0x1af4
#define VIRTIO_PCI_MODERN_BASE     0x1040      /* + device type (§4.1.2.1) */
#define VIRTIO_ID_BLOCK            2

/* Device status (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE  0x01
#define VIRTIO_STATUS_DRIVER       0x02
#define VIRTIO_STATUS_DRIVER_OK    0x04
#define VIRTIO_STATUS_FEATURES_OK  0x08
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

/* Reserved feature bits (§6). */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32
#define VIRTIO_F_ACCESS_PLATFORM    33
#define VIRTIO_F_RING_PACKED        34
#define VIRTIO_F_IN_ORDER           35
#define VIRTIO_F_ORDER_PLATFORM     36
#define VIRTIO_F_SR_IOV             37
#define VIRTIO_F_NOTIFICATION_DATA  38
#define VIRTIO_F_RING_RESET         40          /* Virtio 1.2 */
#define VIRTIO_BIT(n)               (1ull << (n))

/* Vendor-specific PCI capability (§4.1.4). */
#define VIRTIO_PCI_CAP_ID          0x09
#define VIRTIO_PCI_CAP_COMMON_CFG  1
#define VIRTIO_PCI_CAP_NOTIFY_CFG  2
#define VIRTIO_PCI_CAP_ISR_CFG     3
#define VIRTIO_PCI_CAP_DEVICE_CFG  4
#define VIRTIO_PCI_CAP_PCI_CFG     5
#define VIRTIO_PCI_CAP_BAR         4           /* u8 bar */
#define VIRTIO_PCI_CAP_OFFSET      8           /* le32 offset */
#define VIRTIO_PCI_CAP_LENGTH      12          /* le32 length */
#define VIRTIO_PCI_CAP_NOTIFY_MULT 16          /* le32 notify_off_multiplier */

/* struct virtio_pci_common_cfg (§4.1.4.3). */
#define VIRTIO_COMMON_DFSELECT     0x00
#define VIRTIO_COMMON_DF           0x04
#define VIRTIO_COMMON_GFSELECT     0x08
#define VIRTIO_COMMON_GF           0x0c
#define VIRTIO_COMMON_MSIX         0x10
#define VIRTIO_COMMON_NUMQ         0x12
#define VIRTIO_COMMON_STATUS       0x14
#define VIRTIO_COMMON_CFGGEN       0x15
#define VIRTIO_COMMON_Q_SELECT     0x16
#define VIRTIO_COMMON_Q_SIZE       0x18
#define VIRTIO_COMMON_Q_MSIX       0x1a
#define VIRTIO_COMMON_Q_ENABLE     0x1c
#define VIRTIO_COMMON_Q_NOFF       0x1e
#define VIRTIO_COMMON_Q_DESCLO     0x20
#define VIRTIO_COMMON_Q_DESCHI     0x24
#define VIRTIO_COMMON_Q_AVAILLO    0x28
#define VIRTIO_COMMON_Q_AVAILHI    0x2c
#define VIRTIO_COMMON_Q_USEDLO     0x30
#define VIRTIO_COMMON_Q_USEDHI     0x34
#define VIRTIO_COMMON_MIN_LEN      0x38
#define VIRTIO_MSI_NO_VECTOR       0xffff

/* Split virtqueue (§2.6). */
#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2           /* device-writable */
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1
#define VIRTQ_MAX_SIZE             1024        /* the driver allocates at most this */

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];                /* [size], then le16 used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];  /* [size], then le16 avail_event */
};

/* Driver errors (negative results). */
#define VIRTIO_E_TIMEOUT     (-1)   /* no completion / state change in time */
#define VIRTIO_E_NEEDS_RESET (-2)   /* device status has DEVICE_NEEDS_RESET */
#define VIRTIO_E_GONE        (-3)   /* registers read all ones */
#define VIRTIO_E_FULL        (-4)   /* no free descriptor / request slot */
#define VIRTIO_E_INVAL       (-5)   /* bad length, segment count or argument */
#define VIRTIO_E_NODEV       (-6)   /* no such function / unusable capabilities */
#define VIRTIO_E_NOMEM       (-7)   /* rt_alloc failed */
#define VIRTIO_E_UNSUPP      (-8)   /* device lacks something required */
#define VIRTIO_E_FEATURES    (-9)   /* FEATURES_OK not accepted */
#define VIRTIO_E_NOT_READY   (-10)  /* DRIVER_OK went away (device reset itself) */
const char *virtio_err_name(int r);

/* One configuration structure a capability points at, mapped. */
struct virtio_region {
	uint64_t addr;                  /* 0: absent */
	uint32_t len;
	uint8_t bar;
	uint32_t offset;                /* within the BAR */
};

struct virtio_dev {
	uint16_t bdf;
	uint16_t pci_device;            /* PCI device id */
	struct virtio_region common, notify, isr, device;
	uint32_t notify_mult;           /* notify_off_multiplier */
	uint64_t bar_addr[6], bar_size[6];
	uint64_t offered;               /* device features */
	uint64_t features;              /* negotiated */
	uint16_t num_queues;
	/* MSI-X. */
	struct rt_pci_msix msix;
	bool msix_ok;
	unsigned config_vector;         /* 0: config changes not signalled */
	volatile uint64_t config_irqs;
	uint64_t reset_timeout_us;
	char err[160];                  /* last failure, for messages */
	/* Added to the address of the rings and indirect tables when they
	 * are handed to the device: the bus address behind an IOMMU that
	 * maps that memory at GPA + dma_offset. virtio_pci_open clears it;
	 * set it before virtq_setup. virtq_seg addresses are not touched. */
	uint64_t dma_offset;
};

/* The bus address of driver-owned memory at gpa. */
static inline uint64_t virtio_bus_addr(const struct virtio_dev *vd, uint64_t gpa)
{
	return gpa + vd->dma_offset;
}

/* A buffer of a descriptor chain. */
struct virtq_seg {
	uint64_t addr;                  /* bus address, as the device is given it */
	uint32_t len;
	bool write;                     /* device-writable */
};

struct virtq_head {
	uint64_t tag;
	uint16_t ndesc;                 /* ring descriptors the chain holds */
	uint8_t busy;
};

struct virtq {
	struct virtio_dev *vd;
	uint16_t index;
	uint16_t size;                  /* entries, as programmed */
	uint16_t alloc_size;            /* memory is sized for this */
	volatile struct virtq_desc *desc;
	volatile struct virtq_avail *avail;
	volatile struct virtq_used *used;
	volatile uint16_t *used_event;  /* in the avail ring, after ring[size] */
	volatile uint16_t *avail_event; /* in the used ring, after ring[size] */
	uint64_t notify_addr;
	uint16_t notify_off;
	bool event_idx;                 /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect_ok;               /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	uint16_t avail_idx;             /* next avail ring slot (published by kick) */
	uint16_t kicked_idx;            /* avail idx published by the last kick */
	uint16_t last_used;             /* next used ring entry to look at */
	uint16_t free_head, nfree;
	uint16_t *next;                 /* shadow links: free list and chains */
	struct virtq_head *heads;
	uint64_t ind_tables;            /* per head: ind_max descriptors */
	uint16_t ind_max;
	uint16_t inflight;              /* chains handed to the device */
	/* Interrupts: MSI-X entry and vector when irq. */
	bool irq;
	uint16_t msix_entry;
	unsigned vector;
	volatile uint64_t irqs;
	uint64_t irqs_seen;             /* irqs when the used ring was last looked at */
	/* Counters (since the last virtq_setup). */
	uint64_t notifies, notifies_skipped, chains_direct, chains_indirect;
	uint64_t bogus;                 /* used entries naming no chain of ours */
};

/* ---- time (TSC deadlines), shared with the device drivers ---- */
static inline uint64_t virtio_deadline(uint64_t us)
{
	return rdtsc() + us * (tsc_hz() / 1000000);
}

static inline bool virtio_expired(uint64_t dl)
{
	return (int64_t)(rdtsc() - dl) >= 0;
}

/* Full fence: a store (avail idx, used_event) before a load the device may
 * have changed (used flags, avail_event, used idx). */
static inline void virtio_mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

/* ---- device ---- */

/* First function on bus 0 with the modern id 0x1040 + type, else the
 * transitional id (0 to skip), as a BDF; -1 if none. */
int virtio_pci_find(unsigned type, uint16_t transitional_id);
/* Parses the virtio capabilities of bdf, maps the BARs they name (moving
 * any the runtime cannot reach below 4 GiB), enables memory decode and bus
 * mastering. 0 or VIRTIO_E_*; vd->err says why. */
int virtio_pci_open(struct virtio_dev *vd, uint16_t bdf);
uint8_t virtio_status(struct virtio_dev *vd);
void virtio_set_status(struct virtio_dev *vd, uint8_t status);
/* Writes 0 to device_status and waits for it to read 0. */
int virtio_reset(struct virtio_dev *vd);
/* reset, ACKNOWLEDGE, DRIVER, features: accepts offered & wanted (plus
 * ACCESS_PLATFORM whenever offered), fails without all of required, writes
 * FEATURES_OK and checks it stayed. vd->features holds the result. */
int virtio_negotiate(struct virtio_dev *vd, uint64_t wanted, uint64_t required);
void virtio_driver_ok(struct virtio_dev *vd);
/* 0 while the device is usable; else VIRTIO_E_GONE / _NEEDS_RESET /
 * _NOT_READY from device_status. */
int virtio_health(struct virtio_dev *vd);
/* Device-specific configuration, with the access width of the field
 * (§4.1.3.1: 64-bit fields as two 32-bit reads). */
uint8_t virtio_cfg8(struct virtio_dev *vd, uint32_t off);
uint16_t virtio_cfg16(struct virtio_dev *vd, uint32_t off);
uint32_t virtio_cfg32(struct virtio_dev *vd, uint32_t off);
uint64_t virtio_cfg64(struct virtio_dev *vd, uint32_t off);
uint8_t virtio_cfg_generation(struct virtio_dev *vd);
/* "VERSION_1 INDIRECT_DESC ..." for the reserved bits; device-type bits
 * named by names[bit] (bits 0..23, NULL entries printed as bitN). */
void virtio_feature_names(uint64_t f, const char *const *names, char *buf, size_t len);

/* ---- interrupts ---- */

/* Registers the counting handler for vectors vector .. vector+n-1, enables
 * the LAPIC and RFLAGS.IF. Ring 0 only; call it in main() before opening a
 * device in interrupt mode. */
int virtio_irq_init(unsigned vector, unsigned n);
/* MSI-X on, table entry `entry` -> vector (registered by virtio_irq_init),
 * config changes (DEVICE_NEEDS_RESET among them) on it; counted in
 * vd->config_irqs. 0 or VIRTIO_E_*. */
int virtio_msix_config(struct virtio_dev *vd, uint16_t entry, unsigned vector);
/* MSI-X off (polling), config vector unmapped. */
void virtio_msix_off(struct virtio_dev *vd);

/* ---- split virtqueue ---- */

/* Allocates the rings for queue index (at most max_size entries, the
 * device's maximum otherwise, a power of two) and indirect tables of
 * ind_max descriptors per head (0: none). Once per queue. */
int virtq_alloc(struct virtio_dev *vd, struct virtq *vq, uint16_t index, uint16_t max_size,
		uint16_t ind_max);
/* Fresh rings, programmed into the device (at their GPA + vd->dma_offset)
 * and enabled: after virtio_negotiate, before virtio_driver_ok. msix_entry
 * 0xffff: polled (NO_VECTOR, device interrupts suppressed), else that MSI-X
 * entry -> vector (registered by virtio_irq_init). 0 or VIRTIO_E_*. */
int virtq_setup(struct virtq *vq, uint16_t msix_entry, unsigned vector);
/* Puts a chain of n segments in the ring (not yet visible to the device:
 * virtq_kick). indirect: as one descriptor pointing to this head's
 * indirect table (at its GPA + vd->dma_offset; negotiated, n <= ind_max).
 * Returns the head, or VIRTIO_E_FULL (not enough free descriptors) /
 * VIRTIO_E_INVAL. */
int virtq_add(struct virtq *vq, const struct virtq_seg *segs, unsigned n, uint64_t tag, bool indirect);
/* Publishes the avail idx and notifies the device unless it asked not to be
 * (used flags NO_NOTIFY, or avail_event with EVENT_IDX). */
void virtq_kick(struct virtq *vq);
/* Writes the queue's notification register, unconditionally. */
void virtq_notify(struct virtq *vq);
/* Takes one used entry: 1 with its chain's tag and used length, 0 when
 * none. Entries naming no chain of ours are counted in vq->bogus and
 * skipped; at most one ring's worth is looked at per call. */
int virtq_get_used(struct virtq *vq, uint64_t *tag, uint32_t *len);
/* The device has published used entries not taken yet. */
bool virtq_used_pending(struct virtq *vq);
/* Hostile tests: put any value in the next avail ring slot (no
 * bookkeeping; virtq_kick publishes it), or write avail->idx directly. */
void virtq_post_raw(struct virtq *vq, uint16_t head);
void virtq_set_avail_idx_raw(struct virtq *vq, uint16_t idx);

#endif
