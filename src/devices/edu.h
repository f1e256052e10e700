/* QEMU's educational PCI device ("edu", docs/specs/edu.rst in QEMU), made
 * register-compatible so one guest driver runs on both VMMs, with Warden's
 * differences written down in docs/edu.md:
 *
 *  - interrupts: MSI-X with one vector (table and PBA in BAR0) plus INTx
 *    pin A; QEMU's edu has plain MSI plus INTx;
 *  - DMA goes through the DMA API (Bus Master Enable gated, faults stop at
 *    the faulting page), addresses are not masked to 28 bits, and a
 *    transfer that is out of range or faults is reported in Warden-only
 *    registers (0xa0 error, 0xa8 bytes moved; status bit 2) instead of
 *    crashing or corrupting the VMM;
 *  - device-to-RAM writes that land in the interrupt range 0xFEExxxxx are
 *    handed, dword by dword, to an optional raw msi_sink with the
 *    function's requester id (how "MSI spoofing" by DMA is modelled).
 *
 * Factorials and DMA run on the device's own thread (edu_start), as on
 * silicon: the vCPU's register write only kicks it, and completion updates
 * the status and raises the interrupt. */
#ifndef WARDEN_DEVICES_EDU_H
#define WARDEN_DEVICES_EDU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/irq.h"
#include "pci/pci.h"

struct dma_as;

/* PCI identity (QEMU's). */
#define EDU_VENDOR_ID           0x1234
#define EDU_DEVICE_ID           0x11e8
#define EDU_REVISION            0x10
#define EDU_CLASS               0x00ff00   /* unclassified: "other" */
#define EDU_SUBSYS_VENDOR_ID    0x1af4     /* QEMU's default subsystem ids */
#define EDU_SUBSYS_ID           0x1100

/* BAR0: 1 MiB, 32-bit memory, non-prefetchable. */
#define EDU_BAR0_SIZE           0x100000
#define EDU_BAR0_MSIX_TABLE     0x80000    /* Warden: one vector */
#define EDU_BAR0_MSIX_PBA       0x81000
#define EDU_MSIX_VECTORS        1

/* Registers (offsets in BAR0). Below 0x80 only 4-byte accesses are valid,
 * from 0x80 up 4- or 8-byte ones (a 4-byte write of a 64-bit register sets
 * it to the zero-extended value, as QEMU). */
#define EDU_REG_ID              0x00       /* RO 0xRRrr00ed */
#define  EDU_ID_VALUE           0x010000edu /* version 1.0 */
#define EDU_REG_LIVENESS        0x04       /* RW reads ~(last write) */
#define EDU_REG_FACTORIAL       0x08       /* RW n in, n! (mod 2^32) out */
#define EDU_REG_STATUS          0x20       /* RW */
#define  EDU_STATUS_COMPUTING   0x01       /* RO: a factorial is running */
#define  EDU_STATUS_DMA_ERROR   0x04       /* RO, Warden: the last DMA failed (see 0xa0) */
#define  EDU_STATUS_IRQFACT     0x80       /* RW: raise 0x1 when a factorial ends */
#define EDU_REG_IRQ_STATUS      0x24       /* RO */
#define  EDU_IRQ_FACT           0x00000001
#define  EDU_IRQ_DMA            0x00000100
#define EDU_REG_IRQ_RAISE       0x60       /* WO: OR into the interrupt status */
#define EDU_REG_IRQ_ACK         0x64       /* WO: clear these bits */
#define EDU_REG_DMA_SRC         0x80       /* RW 64-bit */
#define EDU_REG_DMA_DST         0x88       /* RW 64-bit */
#define EDU_REG_DMA_CNT         0x90       /* RW 64-bit */
#define EDU_REG_DMA_CMD         0x98       /* RW */
#define  EDU_DMA_CMD_RUN        0x1        /* start; reads 1 until done */
#define  EDU_DMA_CMD_TO_RAM     0x2        /* 0: RAM -> buffer, 1: buffer -> RAM */
#define  EDU_DMA_CMD_IRQ        0x4        /* raise EDU_IRQ_DMA when done */
#define  EDU_DMA_CMD_MASK       0x7
/* Warden extensions: unused offsets on QEMU, which read all ones there. */
#define EDU_REG_DMA_ERROR       0xa0       /* RO: why the last DMA stopped; 0 = ok */
#define  EDU_DMA_ERR_RANGE      0x1        /* count > 4 KiB or buffer side off the window */
#define  EDU_DMA_ERR_FAULT      0x2        /* bus address faulted: stopped at that page */
#define  EDU_DMA_ERR_BLOCKED    0x4        /* Bus Master Enable off: nothing more moved */
#define  EDU_DMA_ERR_MSI        0x8        /* interrupt-range write not whole aligned dwords,
                                              or the raw MSI sink refused it */
#define  EDU_DMA_ERR_MASK       0xf
#define EDU_REG_DMA_DONE        0xa8       /* RO: bytes the last DMA moved */

/* The DMA buffer, as device addresses on the buffer side of a transfer. */
#define EDU_DMA_BUF_ADDR        0x40000
#define EDU_DMA_BUF_SIZE        4096

/* The interrupt-message window of x86 (Intel SDM 10.11.1): a device write
 * there is an interrupt request, not memory. */
#define EDU_MSI_WINDOW_BASE     0xfee00000ull
#define EDU_MSI_WINDOW_SIZE     0x100000ull

struct edu_config {
	const char *name;               /* for messages; "edu" when NULL; must outlive the device */
	struct dma_as *dma;             /* required; the PCI core gates it with BME */
	/* Optional: where device->RAM writes into the interrupt window go,
	 * one message per dword (address, value, requester id = the
	 * function's BDF). NULL: such writes go to dma_write like any other
	 * (and fault, as nothing is memory there). */
	const struct msi_sink *raw_msi;
};

struct edu_stats {
	uint64_t factorials;            /* computed */
	uint64_t dma_to_device;         /* transfers RAM -> buffer */
	uint64_t dma_to_ram;            /* transfers buffer -> RAM */
	uint64_t dma_bytes;             /* moved either way (messages included) */
	uint64_t dma_errors;            /* transfers that ended with 0xa0 != 0 */
	uint64_t raw_msis;              /* dwords handed to raw_msi */
	uint64_t irqs;                  /* interrupt raises with a non-zero status */
	uint64_t msix_sent;             /* of those, accepted by MSI-X (sent or pended) */
	uint64_t guest_errors;          /* this device's */
};

struct edu {
	struct pci_device dev;
	const char *name;
	struct dma_as *dma;
	const struct msi_sink *raw_msi;

	/* Registers, the DMA buffer, stats; held by the device thread for a
	 * whole job, so a register access waits at most one job (<= 4 KiB of
	 * DMA). Lock order: edu.lock, then the PCI core's dev.lock. */
	pthread_mutex_t lock;
	pthread_cond_t kick;            /* a job is pending, or stop */
	pthread_t thread;
	bool running, stopping;
	bool inited;

	uint32_t liveness;              /* stored inverted */
	uint32_t fact;
	uint32_t status;
	uint32_t irq_status;
	uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
	uint32_t dma_error;
	uint64_t dma_done;
	uint8_t buf[EDU_DMA_BUF_SIZE];

	struct edu_stats stats;         /* guest_errors aside, under lock */
	uint64_t guest_errors;          /* atomic: counted before the lock is taken */
};

/* Builds the PCI function (not plugged: the vmm calls pci_host_plug on
 * edu_pci_dev). 0 or -errno. */
int edu_init(struct edu *e, const struct edu_config *cfg);
struct pci_device *edu_pci_dev(struct edu *e);
/* Starts the device thread; jobs written before it runs wait for it.
 * 0 when already running, or -errno. */
int edu_start(struct edu *e);
/* Lets the job in progress finish and joins the thread; pending jobs stay
 * pending (and are saved as such). 0; a no-op when not running. */
int edu_stop(struct edu *e);
void edu_destroy(struct edu *e);
void edu_stats(struct edu *e, struct edu_stats *out);
/* Register state and buffer; -EBUSY while the thread runs (stop first).
 * save with buf NULL returns the record size. The PCI function's config
 * space is not part of the record. */
int edu_save(struct edu *e, void *buf, size_t len);
int edu_load(struct edu *e, const void *buf, size_t len);

#endif
