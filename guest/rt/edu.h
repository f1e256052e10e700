/* Driver for QEMU's educational PCI device ("edu", 1234:11e8) and Warden's
 * compatible model (docs/edu.md): identification, liveness, factorial, DMA
 * between guest RAM and the device's 4 KiB buffer, and interrupts - MSI-X
 * (Warden), MSI (QEMU) or INTx (both).
 *
 * Everything except edu_irq_setup() works in ring 0 and in ring 3; the
 * polling paths are meant for ring 3 (docs/guest-runtime.md). Bus addresses
 * are what the device puts on the bus: guest-physical addresses without a
 * vIOMMU (the runtime identity-maps RAM), IOVAs behind one (rt/vtd.h).
 * QEMU's edu masks DMA addresses to 28 bits by default, so buffers for it
 * must lie below 256 MiB (rt_alloc memory does). Every wait is bounded. */
#ifndef GUEST_RT_EDU_H
#define GUEST_RT_EDU_H

#include "rt.h"

#define EDU_PCI_VENDOR          0x1234
#define EDU_PCI_DEVICE          0x11e8
#define EDU_BAR0_MIN_SIZE       0x100000

/* Registers (BAR0); below 0x80 4-byte accesses only, 4 or 8 from there. */
#define EDU_REG_ID              0x00       /* 0xRRrr00ed */
#define EDU_REG_LIVENESS        0x04
#define EDU_REG_FACTORIAL       0x08
#define EDU_REG_STATUS          0x20
#define  EDU_STATUS_COMPUTING   0x01
#define  EDU_STATUS_DMA_ERROR   0x04       /* Warden only (reads 0 on QEMU) */
#define  EDU_STATUS_IRQFACT     0x80
#define EDU_REG_IRQ_STATUS      0x24
#define  EDU_IRQ_FACT           0x00000001
#define  EDU_IRQ_DMA            0x00000100
#define EDU_REG_IRQ_RAISE       0x60
#define EDU_REG_IRQ_ACK         0x64
#define EDU_REG_DMA_SRC         0x80
#define EDU_REG_DMA_DST         0x88
#define EDU_REG_DMA_CNT         0x90
#define EDU_REG_DMA_CMD         0x98
#define  EDU_DMA_RUN            0x1
#define  EDU_DMA_TO_RAM         0x2
#define  EDU_DMA_IRQ            0x4
/* Warden extensions (all ones on QEMU: that is how they are detected). */
#define EDU_REG_DMA_ERROR       0xa0
#define  EDU_DMA_ERR_RANGE      0x1
#define  EDU_DMA_ERR_FAULT      0x2
#define  EDU_DMA_ERR_BLOCKED    0x4
#define  EDU_DMA_ERR_MSI        0x8
#define EDU_REG_DMA_DONE        0xa8

#define EDU_DMA_BUF             0x40000    /* device address of the buffer */
#define EDU_DMA_BUF_SIZE        4096

/* Driver errors (negative results). */
#define EDU_E_NODEV     (-1)    /* no edu function / unusable BAR / bad id */
#define EDU_E_TIMEOUT   (-2)    /* busy bit never cleared, no interrupt */
#define EDU_E_BUSY      (-3)    /* a DMA is still running */
#define EDU_E_INVAL     (-4)    /* bad argument */
#define EDU_E_DMA       (-5)    /* the device reported a DMA error (Warden) */
#define EDU_E_NOIRQ     (-6)    /* interrupt mode not available */

enum edu_irq_mode {
	EDU_IRQ_NONE = 0,       /* polling only */
	EDU_IRQ_AUTO,           /* edu_irq_setup: MSI-X, else MSI, else INTx */
	EDU_IRQ_MSIX,
	EDU_IRQ_MSI,
	EDU_IRQ_INTX,
};

struct edu_dev {
	uint16_t bdf;
	uint64_t bar;                   /* BAR0 address */
	uint64_t bar_size;
	uint32_t id;                    /* identification register */
	bool ext;                       /* Warden's 0xa0/0xa8 registers answer */
	/* Bytes of the buffer a transfer may touch from offset 0: 4096, but
	 * 4095 without the Warden registers - QEMU's edu (7.2 at least)
	 * checks the range off by one and aborts the whole VM (hw_error) on a
	 * transfer that reaches the buffer's last byte. */
	uint32_t buf_usable;
	uint8_t msix_cap, msi_cap;      /* capability offsets, 0: none */
	struct rt_pci_msix msix;
	enum edu_irq_mode mode;
	unsigned vector;
	unsigned gsi;                   /* INTx: the IOAPIC input found */
	/* Written by the interrupt handler: */
	volatile uint32_t irqs;         /* interrupts taken */
	volatile uint32_t irq_acked;    /* of those, with a non-zero status (acknowledged) */
	volatile uint32_t irq_seen;     /* OR of the status values it acknowledged */
	volatile uint32_t irq_spurious; /* taken with a zero status: harmless on a
	                                   level line (shared, or re-delivered after
	                                   the EOI as KVM does on the PVM hosts) */
	/* After each DMA: */
	uint32_t dma_error;             /* 0xa0 (0 without the extension) */
	uint64_t dma_done;              /* 0xa8 (the count without the extension) */
	uint64_t timeout_us;            /* every wait; default 2 s */
};

/* Finds the function (bdf < 0: the first 1234:11e8 on bus 0), maps BAR0,
 * enables memory decode and bus mastering, checks the identification
 * register. 0 or EDU_E_NODEV. */
int edu_open(struct edu_dev *d, int bdf);

uint32_t edu_r32(const struct edu_dev *d, uint32_t off);
uint64_t edu_r64(const struct edu_dev *d, uint32_t off);
void edu_w32(const struct edu_dev *d, uint32_t off, uint32_t v);
void edu_w64(const struct edu_dev *d, uint32_t off, uint64_t v);

/* Writes v to the liveness register; true if it reads back ~v. */
bool edu_liveness(const struct edu_dev *d, uint32_t v);
/* n! mod 2^32, by polling the busy bit. 0 or EDU_E_TIMEOUT. */
int edu_factorial(struct edu_dev *d, uint32_t n, uint32_t *out);
/* Factorial with the completion interrupt (after edu_irq_setup). */
int edu_factorial_irq(struct edu_dev *d, uint32_t n, uint32_t *out);

/* Programs source, destination and count and starts a transfer; cmd is
 * EDU_DMA_TO_RAM and/or EDU_DMA_IRQ. EDU_E_BUSY if one still runs. */
int edu_dma_start(struct edu_dev *d, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd);
/* Polls until the transfer finished; then reads the Warden error/done
 * registers. 0, EDU_E_DMA (see d->dma_error) or EDU_E_TIMEOUT. */
int edu_dma_wait(struct edu_dev *d);
/* Start + poll. Raw: no range check, so error cases can be provoked. */
int edu_dma(struct edu_dev *d, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd);
/* RAM -> buffer[off..] and buffer[off..] -> RAM, polled. EDU_E_INVAL when
 * [off, off + len) goes past d->buf_usable. */
int edu_dma_to_device(struct edu_dev *d, uint64_t ram, uint32_t off, uint32_t len);
int edu_dma_to_ram(struct edu_dev *d, uint32_t off, uint64_t ram, uint32_t len);
/* The same, completion by interrupt (EDU_IRQ_DMA) after edu_irq_setup:
 * waits for the interrupt count to move, then checks the busy bit. */
int edu_dma_irq(struct edu_dev *d, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd);

/* Ring 0. Registers vector, enables the LAPIC and RFLAGS.IF, and programs
 * the mode (AUTO picks MSI-X, then MSI, then INTx); turns off the other
 * modes. INTx finds its IOAPIC input by trying GSIs 16-23 (level, active
 * high, as QEMU's q35 and Warden's tables declare) with a raised interrupt.
 * The handler reads the interrupt status, acknowledges it (before the EOI,
 * so a level line drops) and counts. 0, EDU_E_NOIRQ or EDU_E_INVAL. */
int edu_irq_setup(struct edu_dev *d, enum edu_irq_mode mode, unsigned vector);
/* Waits until d->irq_acked differs from before (an interrupt that carried
 * a status; zero-status ones do not count). 0 or EDU_E_TIMEOUT. */
int edu_irq_wait(struct edu_dev *d, uint32_t before);
/* Replaces the message of the active MSI-X entry or MSI (after
 * edu_irq_setup) with addr/data as given - an interrupt-remapping handle,
 * say, where edu_irq_setup wrote a compatibility-format one. Any ring.
 * 0 or EDU_E_NOIRQ (mode is not MSI-X or MSI). */
int edu_irq_set_msg(struct edu_dev *d, uint64_t addr, uint32_t data);
const char *edu_irq_mode_name(enum edu_irq_mode m);
const char *edu_err_name(int r);

#endif
