/* Driver for the edu device (QEMU's and Warden's); see edu.h. */
#include "edu.h"

#define EDU_DEFAULT_TIMEOUT_US 2000000ull

/* PCI MSI capability (PCI 3.0 6.8.1). */
#define PCI_CAP_ID_MSI         0x05
#define PCI_MSI_FLAGS          2
#define  PCI_MSI_FLAGS_ENABLE  0x0001
#define  PCI_MSI_FLAGS_QSIZE   0x0070      /* Multiple Message Enable */
#define  PCI_MSI_FLAGS_64BIT   0x0080
#define PCI_MSI_ADDRESS_LO     4
#define PCI_MSI_ADDRESS_HI     8
#define PCI_MSI_DATA_32        8
#define PCI_MSI_DATA_64        12
#define PCI_MSIX_CTRL          2
#define  PCI_MSIX_CTRL_ENABLE  0x8000

/* INTx discovery: GSIs PCI interrupts can land on (q35, Warden), the
 * status bit used to raise a probe, and how long to wait for it. */
#define EDU_INTX_GSI_FIRST     16
#define EDU_INTX_GSI_LAST      23
#define EDU_INTX_PROBE_BIT     0x80000000u
#define EDU_INTX_PROBE_US      20000ull

static struct edu_dev *irq_dev;         /* the one device interrupts are set up for */

/* ---- registers ---- */

uint32_t edu_r32(const struct edu_dev *d, uint32_t off)  { return mmio_read32(d->bar + off); }
uint64_t edu_r64(const struct edu_dev *d, uint32_t off)  { return mmio_read64(d->bar + off); }
void edu_w32(const struct edu_dev *d, uint32_t off, uint32_t v) { mmio_write32(d->bar + off, v); }
void edu_w64(const struct edu_dev *d, uint32_t off, uint64_t v) { mmio_write64(d->bar + off, v); }

static uint64_t deadline_after(uint64_t us)
{
	return rdtsc() + us * (tsc_hz() / 1000000);
}

static bool expired(uint64_t dl)
{
	return (int64_t)(rdtsc() - dl) > 0;
}

/* Spins until (reg & mask) == 0. */
static int wait_clear(const struct edu_dev *d, uint32_t reg, uint32_t mask)
{
	uint64_t dl = deadline_after(d->timeout_us);

	while (edu_r32(d, reg) & mask) {
		if (expired(dl))
			return (edu_r32(d, reg) & mask) ? EDU_E_TIMEOUT : 0;
		cpu_relax();
	}
	return 0;
}

/* ---- open ---- */

int edu_open(struct edu_dev *d, int bdf)
{
	struct rt_pci_bar bar;

	memset(d, 0, sizeof(*d));
	d->timeout_us = EDU_DEFAULT_TIMEOUT_US;
	if (bdf < 0)
		bdf = pci_find(EDU_PCI_VENDOR, EDU_PCI_DEVICE, 0);
	if (bdf < 0 || pci_read16((uint16_t)bdf, 0) != EDU_PCI_VENDOR ||
	    pci_read16((uint16_t)bdf, 2) != EDU_PCI_DEVICE)
		return EDU_E_NODEV;
	d->bdf = (uint16_t)bdf;
	if (pci_bar_map(d->bdf, 0, &bar) || bar.io || bar.size < EDU_BAR0_MIN_SIZE)
		return EDU_E_NODEV;
	d->bar = bar.addr;
	d->bar_size = bar.size;
	pci_command(d->bdf, RT_PCI_CMD_MEMORY | RT_PCI_CMD_MASTER, 0);
	d->id = edu_r32(d, EDU_REG_ID);
	if ((d->id & 0xff) != 0xed)
		return EDU_E_NODEV;
	/* QEMU answers unused offsets with all ones; Warden's error register
	 * holds a small bit set. */
	d->ext = edu_r32(d, EDU_REG_DMA_ERROR) != 0xffffffffu;
	d->buf_usable = d->ext ? EDU_DMA_BUF_SIZE : EDU_DMA_BUF_SIZE - 1;
	d->msix_cap = pci_find_cap(d->bdf, RT_PCI_CAP_MSIX);
	d->msi_cap = pci_find_cap(d->bdf, PCI_CAP_ID_MSI);
	return 0;
}

/* ---- liveness, factorial ---- */

bool edu_liveness(const struct edu_dev *d, uint32_t v)
{
	edu_w32(d, EDU_REG_LIVENESS, v);
	return edu_r32(d, EDU_REG_LIVENESS) == ~v;
}

int edu_factorial(struct edu_dev *d, uint32_t n, uint32_t *out)
{
	int r;

	edu_w32(d, EDU_REG_FACTORIAL, n);
	r = wait_clear(d, EDU_REG_STATUS, EDU_STATUS_COMPUTING);
	if (r)
		return r;
	*out = edu_r32(d, EDU_REG_FACTORIAL);
	return 0;
}

int edu_factorial_irq(struct edu_dev *d, uint32_t n, uint32_t *out)
{
	uint32_t before = d->irq_acked;
	int r;

	if (d->mode == EDU_IRQ_NONE)
		return EDU_E_NOIRQ;
	edu_w32(d, EDU_REG_STATUS, EDU_STATUS_IRQFACT);
	edu_w32(d, EDU_REG_FACTORIAL, n);
	r = edu_irq_wait(d, before);
	edu_w32(d, EDU_REG_STATUS, 0);
	if (r)
		return r;
	/* The interrupt comes after the busy bit cleared, on both VMMs. */
	if (edu_r32(d, EDU_REG_STATUS) & EDU_STATUS_COMPUTING)
		return EDU_E_TIMEOUT;
	*out = edu_r32(d, EDU_REG_FACTORIAL);
	return 0;
}

/* ---- DMA ---- */

int edu_dma_start(struct edu_dev *d, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	if (cmd & ~(uint32_t)(EDU_DMA_TO_RAM | EDU_DMA_IRQ))
		return EDU_E_INVAL;
	if (edu_r32(d, EDU_REG_DMA_CMD) & EDU_DMA_RUN)
		return EDU_E_BUSY;
	edu_w64(d, EDU_REG_DMA_SRC, src);
	edu_w64(d, EDU_REG_DMA_DST, dst);
	edu_w64(d, EDU_REG_DMA_CNT, cnt);
	d->dma_error = 0;
	d->dma_done = 0;
	edu_w32(d, EDU_REG_DMA_CMD, EDU_DMA_RUN | cmd);
	return 0;
}

/* The transfer has finished: what the device says about it. */
static int dma_result(struct edu_dev *d)
{
	if (!d->ext) {
		d->dma_done = edu_r64(d, EDU_REG_DMA_CNT);
		return 0;
	}
	d->dma_error = edu_r32(d, EDU_REG_DMA_ERROR);
	d->dma_done = edu_r64(d, EDU_REG_DMA_DONE);
	return d->dma_error ? EDU_E_DMA : 0;
}

int edu_dma_wait(struct edu_dev *d)
{
	int r = wait_clear(d, EDU_REG_DMA_CMD, EDU_DMA_RUN);

	return r ? r : dma_result(d);
}

int edu_dma(struct edu_dev *d, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	int r = edu_dma_start(d, src, dst, cnt, cmd & ~(uint32_t)EDU_DMA_IRQ);

	return r ? r : edu_dma_wait(d);
}

static bool buf_range_ok(const struct edu_dev *d, uint32_t off, uint32_t len)
{
	return off <= d->buf_usable && len <= d->buf_usable - off;
}

int edu_dma_to_device(struct edu_dev *d, uint64_t ram, uint32_t off, uint32_t len)
{
	if (!buf_range_ok(d, off, len))
		return EDU_E_INVAL;
	return edu_dma(d, ram, EDU_DMA_BUF + (uint64_t)off, len, 0);
}

int edu_dma_to_ram(struct edu_dev *d, uint32_t off, uint64_t ram, uint32_t len)
{
	if (!buf_range_ok(d, off, len))
		return EDU_E_INVAL;
	return edu_dma(d, EDU_DMA_BUF + (uint64_t)off, ram, len, EDU_DMA_TO_RAM);
}

int edu_dma_irq(struct edu_dev *d, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	uint32_t before = d->irq_acked;
	int r;

	if (d->mode == EDU_IRQ_NONE)
		return EDU_E_NOIRQ;
	r = edu_dma_start(d, src, dst, cnt, cmd | EDU_DMA_IRQ);
	if (r)
		return r;
	r = edu_irq_wait(d, before);
	if (r)
		return r;
	/* Both VMMs clear the run bit before raising the interrupt. */
	if (edu_r32(d, EDU_REG_DMA_CMD) & EDU_DMA_RUN)
		return EDU_E_TIMEOUT;
	return dma_result(d);
}

/* ---- interrupts ---- */

/* Ring 0. Acknowledging here, before the runtime's EOI, lets a level INTx
 * line drop; the spec asks MSI drivers to acknowledge too. */
static void edu_irq_handler(unsigned vector)
{
	struct edu_dev *d = irq_dev;
	uint32_t st;

	(void)vector;
	if (!d)
		return;
	st = edu_r32(d, EDU_REG_IRQ_STATUS);
	if (st) {
		edu_w32(d, EDU_REG_IRQ_ACK, st);
		d->irq_seen |= st;
		d->irq_acked++;
	} else {
		d->irq_spurious++;
	}
	d->irqs++;
}

int edu_irq_wait(struct edu_dev *d, uint32_t before)
{
	uint64_t dl = deadline_after(d->timeout_us);

	while (d->irq_acked == before) {
		if (expired(dl))
			return d->irq_acked == before ? EDU_E_TIMEOUT : 0;
		cpu_relax();
	}
	return 0;
}

static void msi_enable(struct edu_dev *d, bool on, unsigned vector)
{
	uint8_t cap = d->msi_cap;
	uint16_t ctrl = pci_read16(d->bdf, cap + PCI_MSI_FLAGS);

	if (!on) {
		pci_write16(d->bdf, cap + PCI_MSI_FLAGS, ctrl & ~PCI_MSI_FLAGS_ENABLE);
		return;
	}
	pci_write32(d->bdf, cap + PCI_MSI_ADDRESS_LO, 0xfee00000u | (lapic_id() & 0xff) << 12);
	if (ctrl & PCI_MSI_FLAGS_64BIT) {
		pci_write32(d->bdf, cap + PCI_MSI_ADDRESS_HI, 0);
		pci_write16(d->bdf, cap + PCI_MSI_DATA_64, (uint16_t)vector);
	} else {
		pci_write16(d->bdf, cap + PCI_MSI_DATA_32, (uint16_t)vector);
	}
	pci_command(d->bdf, RT_PCI_CMD_INTX_OFF, 0);
	ctrl = (uint16_t)((ctrl & ~PCI_MSI_FLAGS_QSIZE) | PCI_MSI_FLAGS_ENABLE);   /* one vector */
	pci_write16(d->bdf, cap + PCI_MSI_FLAGS, ctrl);
}

int edu_irq_set_msg(struct edu_dev *d, uint64_t addr, uint32_t data)
{
	uint8_t cap = d->msi_cap;

	if (d->mode == EDU_IRQ_MSIX) {
		pci_msix_set_msg(&d->msix, 0, addr, data, false);
		return 0;
	}
	if (d->mode != EDU_IRQ_MSI)
		return EDU_E_NOIRQ;
	/* Off while address and data disagree, as for MSI-X's mask. */
	uint16_t ctrl = pci_read16(d->bdf, cap + PCI_MSI_FLAGS);
	pci_write16(d->bdf, cap + PCI_MSI_FLAGS, ctrl & ~PCI_MSI_FLAGS_ENABLE);
	pci_write32(d->bdf, cap + PCI_MSI_ADDRESS_LO, (uint32_t)addr);
	if (ctrl & PCI_MSI_FLAGS_64BIT) {
		pci_write32(d->bdf, cap + PCI_MSI_ADDRESS_HI, (uint32_t)(addr >> 32));
		pci_write16(d->bdf, cap + PCI_MSI_DATA_64, (uint16_t)data);
	} else {
		pci_write16(d->bdf, cap + PCI_MSI_DATA_32, (uint16_t)data);
	}
	pci_write16(d->bdf, cap + PCI_MSI_FLAGS, ctrl);
	return 0;
}

static void msix_off(struct edu_dev *d)
{
	uint16_t ctrl;

	if (!d->msix_cap)
		return;
	ctrl = pci_read16(d->bdf, d->msix_cap + PCI_MSIX_CTRL);
	pci_write16(d->bdf, d->msix_cap + PCI_MSIX_CTRL, ctrl & ~PCI_MSIX_CTRL_ENABLE);
}

/* Tries each candidate GSI with a probe interrupt raised; keeps the one
 * that delivered. Level-triggered, active high: QEMU's q35 DSDT declares
 * its PCI links so, and Warden's IOAPIC leaves polarity to the board. */
static int intx_find_gsi(struct edu_dev *d, unsigned vector)
{
	uint32_t apic = lapic_id();

	for (unsigned gsi = EDU_INTX_GSI_FIRST; gsi <= EDU_INTX_GSI_LAST; gsi++) {
		uint32_t before = d->irq_acked;
		uint64_t dl;

		edu_w32(d, EDU_REG_IRQ_ACK, 0xffffffffu);
		d->irq_seen = 0;
		ioapic_route(gsi, vector, apic, true, false);
		edu_w32(d, EDU_REG_IRQ_RAISE, EDU_INTX_PROBE_BIT);
		dl = deadline_after(EDU_INTX_PROBE_US);
		while (d->irq_acked == before && !expired(dl))
			cpu_relax();
		if (d->irq_seen & EDU_INTX_PROBE_BIT) {
			d->gsi = gsi;
			edu_w32(d, EDU_REG_IRQ_ACK, 0xffffffffu);
			return 0;
		}
		ioapic_mask(gsi);
	}
	edu_w32(d, EDU_REG_IRQ_ACK, 0xffffffffu);
	return EDU_E_NOIRQ;
}

int edu_irq_setup(struct edu_dev *d, enum edu_irq_mode mode, unsigned vector)
{
	if (current_ring() != 0 || vector < 32 || vector >= RT_VEC_SPURIOUS)
		return EDU_E_INVAL;
	if (mode == EDU_IRQ_AUTO)
		mode = d->msix_cap ? EDU_IRQ_MSIX : d->msi_cap ? EDU_IRQ_MSI : EDU_IRQ_INTX;
	if ((mode == EDU_IRQ_MSIX && !d->msix_cap) || (mode == EDU_IRQ_MSI && !d->msi_cap))
		return EDU_E_NOIRQ;

	/* Quiet first: no mode active, nothing pending. */
	if (irq_dev == d && d->mode == EDU_IRQ_INTX)
		ioapic_mask(d->gsi);
	msix_off(d);
	if (d->msi_cap)
		msi_enable(d, false, 0);
	pci_command(d->bdf, RT_PCI_CMD_INTX_OFF, 0);
	edu_w32(d, EDU_REG_IRQ_ACK, 0xffffffffu);
	d->mode = EDU_IRQ_NONE;
	if (mode == EDU_IRQ_NONE)
		return 0;

	if (irq_register(vector, edu_irq_handler))
		return EDU_E_INVAL;
	irq_dev = d;
	d->vector = vector;
	lapic_enable();
	irq_enable();

	switch (mode) {
	case EDU_IRQ_MSIX:
		if (pci_msix_init(d->bdf, &d->msix))
			return EDU_E_NOIRQ;
		pci_msix_set(&d->msix, 0, lapic_id(), vector, false);
		pci_msix_enable(&d->msix, true);
		break;
	case EDU_IRQ_MSI:
		msi_enable(d, true, vector);
		break;
	case EDU_IRQ_INTX:
		pci_command(d->bdf, 0, RT_PCI_CMD_INTX_OFF);
		d->mode = EDU_IRQ_INTX;         /* for the handler's sake during the probe */
		if (intx_find_gsi(d, vector)) {
			d->mode = EDU_IRQ_NONE;
			pci_command(d->bdf, RT_PCI_CMD_INTX_OFF, 0);
			return EDU_E_NOIRQ;
		}
		break;
	default:
		return EDU_E_INVAL;
	}
	d->mode = mode;
	d->irq_seen = 0;
	return 0;
}

const char *edu_irq_mode_name(enum edu_irq_mode m)
{
	switch (m) {
	case EDU_IRQ_NONE: return "polling";
	case EDU_IRQ_AUTO: return "auto";
	case EDU_IRQ_MSIX: return "msi-x";
	case EDU_IRQ_MSI:  return "msi";
	case EDU_IRQ_INTX: return "intx";
	}
	return "?";
}

const char *edu_err_name(int r)
{
	switch (r) {
	case 0:              return "ok";
	case EDU_E_NODEV:    return "no device";
	case EDU_E_TIMEOUT:  return "timeout";
	case EDU_E_BUSY:     return "busy";
	case EDU_E_INVAL:    return "invalid argument";
	case EDU_E_DMA:      return "DMA error";
	case EDU_E_NOIRQ:    return "no interrupt";
	}
	return "?";
}
