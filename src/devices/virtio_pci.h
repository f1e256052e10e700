/* Virtio over PCI, modern (Virtio 1.2, 4.1): the transport half of a virtio
 * device. It owns the PCI function, the virtio structures in a memory BAR,
 * feature negotiation, the device status machine, the queues' registers and
 * split rings, notifications (one eventfd per queue, assigned as a KVM
 * ioeventfd through the PCI core) and interrupts (MSI-X through the PCI
 * core, INTx as a fallback), and the device's I/O thread. What a device
 * type does with its requests sits behind struct virtio_device_ops
 * (virtio_blk.c implements it).
 *
 * BAR1 (32-bit memory, 4 KiB): MSI-X table at 0x000, PBA at 0x800.
 * BAR4 (64-bit memory, 16 KiB, not prefetchable: reading ISR clears it):
 *   0x0000  common configuration   struct virtio_pci_common_cfg
 *   0x1000  ISR status             1 byte, read clears
 *   0x2000  device configuration   the device type's config_size bytes
 *   0x3000  notifications          queue q at 0x3000 + 4 q (multiplier 4,
 *                                  queue_notify_off = q); an ioeventfd each
 *                                  for the first 16 queues
 *
 * Threads: register accesses come from vCPU threads; the queues are
 * processed on the device's I/O thread (woken by the notification eventfds)
 * or, before it is started, by virtio_pci_poll() on the caller's thread.
 * t->lock serializes both. The lock order is t->lock, then the PCI core's
 * d->lock (MSI-X notify); the core calls the device's hooks without its
 * lock held. */
#ifndef WARDEN_DEVICES_VIRTIO_PCI_H
#define WARDEN_DEVICES_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtqueue.h"
#include "iommu/dma.h"
#include "pci/pci.h"

/* ---- Device status (2.1) ---- */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE     0x01
#define VIRTIO_CONFIG_S_DRIVER          0x02
#define VIRTIO_CONFIG_S_DRIVER_OK       0x04
#define VIRTIO_CONFIG_S_FEATURES_OK     0x08
#define VIRTIO_CONFIG_S_NEEDS_RESET     0x40
#define VIRTIO_CONFIG_S_FAILED          0x80

/* ---- Reserved feature bits (6) ---- */
#define VIRTIO_F_RING_INDIRECT_DESC     28
#define VIRTIO_F_RING_EVENT_IDX         29
#define VIRTIO_F_VERSION_1              32
#define VIRTIO_F_ACCESS_PLATFORM        33
#define VIRTIO_TRANSPORT_F_FIRST        24      /* bits 24-40: transport and rings */
#define VIRTIO_BIT(b)                   (1ull << (b))

/* ---- PCI identity (4.1.2) ---- */
#define VIRTIO_PCI_VENDOR_ID            0x1af4
#define VIRTIO_PCI_DEVICE_ID_MODERN     0x1040  /* + virtio device id */
#define VIRTIO_PCI_REVISION             1
#define VIRTIO_PCI_SUBSYS_ID            0x1100  /* as QEMU */

/* ---- Virtio structure capabilities (4.1.4), vendor-specific id 0x09 ---- */
#define PCI_CAP_ID_VNDR                 0x09
#define VIRTIO_PCI_CAP_COMMON_CFG       1
#define VIRTIO_PCI_CAP_NOTIFY_CFG       2
#define VIRTIO_PCI_CAP_ISR_CFG          3
#define VIRTIO_PCI_CAP_DEVICE_CFG       4
#define VIRTIO_PCI_CAP_PCI_CFG          5
/* struct virtio_pci_cap, offsets from the capability's start */
#define VIRTIO_PCI_CAP_LEN              2       /* u8 cap_len */
#define VIRTIO_PCI_CAP_CFG_TYPE         3       /* u8 */
#define VIRTIO_PCI_CAP_BAR              4       /* u8 */
#define VIRTIO_PCI_CAP_ID               5       /* u8 */
#define VIRTIO_PCI_CAP_OFFSET           8       /* le32 */
#define VIRTIO_PCI_CAP_LENGTH           12      /* le32 */
#define VIRTIO_PCI_CAP_SIZE             16
#define VIRTIO_PCI_NOTIFY_CAP_MULT      16      /* le32 notify_off_multiplier */
#define VIRTIO_PCI_NOTIFY_CAP_SIZE      20
#define VIRTIO_PCI_CFG_CAP_DATA         16      /* u8 pci_cfg_data[4] */
#define VIRTIO_PCI_CFG_CAP_SIZE         20

/* ---- struct virtio_pci_common_cfg (4.1.4.3) ---- */
#define VIRTIO_PCI_COMMON_DFSELECT      0x00    /* le32 device_feature_select */
#define VIRTIO_PCI_COMMON_DF            0x04    /* le32 device_feature, RO */
#define VIRTIO_PCI_COMMON_GFSELECT      0x08    /* le32 driver_feature_select */
#define VIRTIO_PCI_COMMON_GF            0x0c    /* le32 driver_feature */
#define VIRTIO_PCI_COMMON_MSIX          0x10    /* le16 config_msix_vector */
#define VIRTIO_PCI_COMMON_NUMQ          0x12    /* le16 num_queues, RO */
#define VIRTIO_PCI_COMMON_STATUS        0x14    /* u8 device_status */
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15    /* u8 config_generation, RO */
#define VIRTIO_PCI_COMMON_Q_SELECT      0x16    /* le16 queue_select */
#define VIRTIO_PCI_COMMON_Q_SIZE        0x18    /* le16 queue_size */
#define VIRTIO_PCI_COMMON_Q_MSIX        0x1a    /* le16 queue_msix_vector */
#define VIRTIO_PCI_COMMON_Q_ENABLE      0x1c    /* le16 queue_enable */
#define VIRTIO_PCI_COMMON_Q_NOFF        0x1e    /* le16 queue_notify_off, RO */
#define VIRTIO_PCI_COMMON_Q_DESCLO      0x20    /* le64 queue_desc */
#define VIRTIO_PCI_COMMON_Q_DESCHI      0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO     0x28    /* le64 queue_driver */
#define VIRTIO_PCI_COMMON_Q_AVAILHI     0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO      0x30    /* le64 queue_device */
#define VIRTIO_PCI_COMMON_Q_USEDHI      0x34
#define VIRTIO_PCI_COMMON_Q_NDATA       0x38    /* le16 queue_notify_data, RO (1.2) */
#define VIRTIO_PCI_COMMON_Q_RESET       0x3a    /* le16 queue_reset (1.2; RING_RESET not offered) */
#define VIRTIO_PCI_COMMON_SIZE          0x3c

#define VIRTIO_PCI_ISR_QUEUE            0x1
#define VIRTIO_PCI_ISR_CONFIG           0x2
#define VIRTIO_MSI_NO_VECTOR            0xffff

/* ---- BAR layout ---- */
#define VIRTIO_PCI_MSIX_BAR             1
#define VIRTIO_PCI_MSIX_BAR_SIZE        0x1000
#define VIRTIO_PCI_MSIX_TABLE           0x000
#define VIRTIO_PCI_MSIX_PBA             0x800
#define VIRTIO_PCI_BAR                  4
#define VIRTIO_PCI_BAR_SIZE             0x4000
#define VIRTIO_PCI_REGION_SIZE          0x1000
#define VIRTIO_PCI_COMMON_OFF           0x0000
#define VIRTIO_PCI_ISR_OFF              0x1000
#define VIRTIO_PCI_DEVICE_OFF           0x2000
#define VIRTIO_PCI_NOTIFY_OFF           0x3000
#define VIRTIO_PCI_NOTIFY_MULT          4

/* Queues per device: 64 (MSI-X vectors 65, within the table's half of
 * BAR1). The first PCI_BAR_MAX_IOEVENTFDS get a KVM ioeventfd; notify
 * writes for the others exit to the BAR handler, which signals the same
 * eventfd. */
#define VIRTIO_PCI_MAX_QUEUES           64
#define VIRTIO_PCI_MAX_CONFIG_SIZE      VIRTIO_PCI_REGION_SIZE

struct virtio_pci;

/* What a device type implements. `dev` is the config's dev pointer. All but
 * wait run with t->lock held. */
struct virtio_device_ops {
	/* Device-type feature bits (0-23); the transport adds its own. */
	uint64_t (*features)(void *dev);
	/* FEATURES_OK: the driver's choice, a subset of the offer with
	 * VERSION_1. 0 accepts; < 0 refuses (FEATURES_OK stays clear).
	 * Optional. */
	int (*set_features)(void *dev, uint64_t features);
	/* Device configuration; off + len <= config_size. config_write is
	 * optional (writes are then ignored). */
	void (*config_read)(void *dev, uint32_t off, void *buf, unsigned len);
	void (*config_write)(void *dev, uint32_t off, const void *buf, unsigned len);
	/* Take available requests from vq and start them:
	 *   0        the ring is empty
	 *   -EAGAIN  stopped for want of resources; call again once requests
	 *            completed (only returned with requests in flight)
	 *   -EPERM   DMA refused (Bus Master Enable off)
	 *   -EPROTO  bad input: the transport sets DEVICE_NEEDS_RESET */
	int (*process_queue)(void *dev, struct virtq *vq);
	/* Finish requests whose backend work completed: status, used ring,
	 * virtio_pci_queue_done. Returns how many. */
	unsigned (*complete)(void *dev);
	/* Requests taken from a ring and not yet finished. */
	unsigned (*inflight)(void *dev);
	/* Blocks until the backend has completed at least one request (0) or
	 * fails (-errno). Called by the I/O thread WITHOUT t->lock - the I/O
	 * thread is then the only user of the backend - or, when no I/O thread
	 * runs, with it. */
	int (*wait)(void *dev);
	/* Back to the initial state; nothing is in flight. */
	void (*reset)(void *dev);
};

struct virtio_pci_config {
	const char *name;
	uint16_t device_id;             /* virtio device id (2 = block) */
	uint32_t class_code;
	unsigned num_queues;            /* 1..VIRTIO_PCI_MAX_QUEUES */
	uint16_t queue_size_max;        /* power of two, 2..VIRTQ_MAX_SIZE */
	uint32_t config_size;           /* device configuration bytes */
	uint64_t poll_ns;               /* I/O thread: watch the rings this long after work (0: never) */
	struct dma_as *dma;
	const struct virtio_device_ops *ops;
	void *dev;
};

struct virtio_pci_queue {
	struct virtq vq;
	uint16_t size;                  /* queue_size register */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc, driver, device;  /* as written; copied into vq at enable */
	int kick_fd;                    /* eventfd: notifications */
	bool ioeventfd;                 /* kick_fd is a BAR ioeventfd window */
	bool pending;                   /* process at the next round */
	bool polling;                   /* notifications off: processed every round */
};

struct virtio_pci_stats {
	uint64_t notifies;              /* kicks consumed (eventfd counts) */
	uint64_t notify_traps;          /* notify writes that exited to the BAR handler */
	uint64_t interrupts;            /* queue interrupts raised */
	uint64_t interrupts_suppressed; /* used entries published without one (EVENT_IDX/NO_INTERRUPT) */
	uint64_t config_interrupts;
	uint64_t irq_errors;            /* MSI-X refused (vector out of range, sink error) */
	uint64_t needs_reset;           /* DEVICE_NEEDS_RESET events (bad input) */
	uint64_t features_refused;      /* FEATURES_OK not granted */
	uint64_t resets;                /* device resets (status 0 or PCI reset) */
	uint64_t io_wakeups;            /* I/O thread wakeups */
	uint64_t io_poll_hits;          /* work found by watching the rings, without a wakeup */
	uint64_t io_poll_misses;        /* watches that found nothing */
	uint64_t io_cpu_ns;             /* I/O thread CPU time, all runs */
	uint64_t io_wall_ns;            /* how long it has run, all runs */
};

struct virtio_pci {
	struct pci_device pci;
	char name[32];
	const struct virtio_device_ops *ops;
	void *dev;
	struct dma_as *dma;
	unsigned num_queues;
	uint16_t queue_size_max;
	uint32_t config_size;
	uint64_t poll_ns;
	unsigned poll_misses;           /* I/O thread only */
	uint64_t poll_off_until;        /* CLOCK_MONOTONIC ns; I/O thread only */
	bool inited;
	pthread_mutex_t lock;
	pthread_cond_t idle;            /* broadcast when nothing is in flight */
	/* Common configuration */
	uint64_t device_features, driver_features;
	uint32_t dfselect, gfselect;
	uint16_t config_vector;
	uint16_t queue_select;
	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	bool resetting;                 /* a reset waits for requests in flight */
	struct virtio_pci_queue queues[VIRTIO_PCI_MAX_QUEUES];
	uint8_t cfg_cap;                /* offset of the PCI_CFG capability */
	/* I/O thread */
	pthread_t thread;
	bool io_running;                /* under lock */
	bool io_stop;                   /* under lock */
	int wake_fd;                    /* eventfd: stop, or work the transport found */
	int epoll_fd;
	uint64_t io_t0;
	struct virtio_pci_stats stats;  /* under lock, notify_traps atomic */
};

/* Builds the PCI function (identity, BARs, capabilities, MSI-X with
 * num_queues + 1 vectors, PCIe capability, INTA) and the notification
 * eventfds; the DMA space is gated by Bus Master Enable. */
int virtio_pci_init(struct virtio_pci *t, const struct virtio_pci_config *cfg);
/* Stops the I/O thread, unplugs and frees everything. */
void virtio_pci_destroy(struct virtio_pci *t);
struct pci_device *virtio_pci_dev(struct virtio_pci *t);
/* The I/O thread: processes queues on notifications and reaps the backend.
 * Stop drains what is in flight, then joins. */
int virtio_pci_start(struct virtio_pci *t);
void virtio_pci_stop(struct virtio_pci *t);
/* Without an I/O thread (tests, tools): one round on this thread - queues
 * that were notified are processed, completions reaped; drain: then wait
 * until nothing is in flight. -EBUSY while the I/O thread runs. */
int virtio_pci_poll(struct virtio_pci *t, bool drain);
void virtio_pci_stats(struct virtio_pci *t, struct virtio_pci_stats *out);

/* ---- For the device type (t->lock held) ---- */
bool virtio_pci_has_feature(const struct virtio_pci *t, unsigned bit);
/* Publishes vq's used entries and interrupts the driver if it wants one. */
void virtio_pci_queue_done(struct virtio_pci *t, struct virtq *vq);
/* The device met bad input: DEVICE_NEEDS_RESET, a configuration change
 * interrupt once DRIVER_OK, and no more requests until reset. */
void virtio_pci_device_error(struct virtio_pci *t);
/* Device configuration changed: generation bumped, interrupt. */
void virtio_pci_config_changed(struct virtio_pci *t);

#endif
