/* PCI device core: config space with write/write-1-to-clear masks, BARs
 * (sizing, decode, placement on the PIO/MMIO bus, exit-free windows and
 * ioeventfd windows),
 * capabilities, INTx, and the Bus Master Enable gate on the device's DMA.
 * PCI Local Bus 3.0 chapter 6 and PCIe 4.0 chapter 7; behaviour where the
 * specs leave room follows QEMU's hw/pci/pci.c, which guests are tuned
 * against. MSI-X lives in pci_msix.c, the host bridge in pci_host.c. */
#include "pci/pci_internal.h"
#include "base/log.h"
#include "iommu/dma.h"

#include <errno.h>
#include <string.h>

/* ---- Register definitions ---- */
#define PCI_CACHE_LINE_SIZE     0x0c
#define PCI_HEADER_TYPE_NORMAL  0x00
#define PCI_COMMAND_WMASK       (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
				 PCI_COMMAND_INTX_DISABLE)
/* STATUS: master data parity error, signaled/received target abort,
 * received master abort, signaled system error, detected parity error. */
#define PCI_STATUS_W1C          0xf900
#define PCI_BAR_IO_MASK         (~0x3u)
#define PCI_BAR_MEM_MASK        (~0xfu)
#define PCI_CAP_FIRST           0x40       /* standard caps live in 0x40-0xff */
#define PCI_CAP_END             0x100
#define PCI_IO_MAX_BAR          256        /* PCI 3.0 6.2.5.1 */
#define PCI_IO_LIMIT            0xffffull  /* x86 port space */
/* A 64-bit BAR above this is not decoded: no x86 CPU has a wider
 * physical address (MAXPHYADDR <= 52). */
#define PCI_MEM64_LIMIT         (1ull << 52)
#define PCI_PAGE_SIZE           4096ull

/* PCI Express capability, version 2 (PCIe 4.0 7.5.3). Offsets within it. */
#define PCI_EXP_FLAGS           0x02
#define  PCI_EXP_FLAGS_VERS     0x0002
#define  PCI_EXP_TYPE_RC_END    0x9        /* Root Complex Integrated Endpoint */
#define  PCI_EXP_FLAGS_TYPE_SHIFT 4
#define PCI_EXP_DEVCAP          0x04
#define  PCI_EXP_DEVCAP_RBER    0x00008000 /* role-based error reporting, 1.1+ */
#define PCI_EXP_DEVCTL          0x08
#define  PCI_EXP_DEVCTL_ERR_EN  0x000f     /* correctable..unsupported request */
#define  PCI_EXP_DEVCTL_RELAX_EN 0x0010
#define  PCI_EXP_DEVCTL_PAYLOAD 0x00e0
#define  PCI_EXP_DEVCTL_NOSNOOP_EN 0x0800
#define  PCI_EXP_DEVCTL_READRQ  0x7000
#define  PCI_EXP_DEVCTL_READRQ_512B 0x2000
#define PCI_EXP_DEVSTA          0x0a
#define  PCI_EXP_DEVSTA_W1C     0x000f     /* CED, NFED, FED, URD */
#define PCI_EXP_CAP_SIZE        0x3c       /* through Slot Status 2 */
/* The spec's defaults: relaxed ordering and no-snoop enabled, 512-byte
 * read requests, 128-byte payload (all DevCap supports). */
#define PCI_EXP_DEVCTL_DEFAULT  (PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | \
				 PCI_EXP_DEVCTL_READRQ_512B)
#define PCI_EXP_DEVCTL_WMASK    (PCI_EXP_DEVCTL_ERR_EN | PCI_EXP_DEVCTL_RELAX_EN | \
				 PCI_EXP_DEVCTL_PAYLOAD | PCI_EXP_DEVCTL_NOSNOOP_EN | \
				 PCI_EXP_DEVCTL_READRQ)

/* ---- Helpers ---- */

static void pci_set_mask16(uint8_t *mask, uint32_t off, uint16_t v)
{
	pci_put16(mask + off, v);
}

static void pci_set_mask32(uint8_t *mask, uint32_t off, uint32_t v)
{
	pci_put32(mask + off, v);
}

static uint32_t pci_mask32(const uint8_t *mask, uint32_t off)
{
	return (uint32_t)mask[off] | (uint32_t)mask[off + 1] << 8 | (uint32_t)mask[off + 2] << 16 |
	       (uint32_t)mask[off + 3] << 24;
}

/* Accesses of 1, 2 or 4 bytes that stay inside one dword (as the host
 * bridge can produce them). */
static bool pci_config_access_ok(uint32_t off, unsigned len)
{
	return (len == 1 || len == 2 || len == 4) && off < PCI_CONFIG_SPACE_SIZE &&
	       (off & 3) + len <= 4;
}

static uint8_t pci_find_cap_locked(const struct pci_device *d, uint8_t id)
{
	uint8_t off = d->config[PCI_CAPABILITY_LIST];

	/* The list is ours, but bound the walk as a guest would. */
	for (unsigned n = 0; off >= PCI_CAP_FIRST && n < 48; n++) {
		if (d->config[off] == id)
			return off;
		off = d->config[off + 1];
	}
	return 0;
}

/* ---- BAR placement ---- */

static struct bus *pci_bar_bus(const struct pci_device *d, const struct pci_bar *bar)
{
	if (!d->host)
		return NULL;
	return bar->kind == PCI_BAR_IO ? d->host->pio : d->host->mmio;
}

static bool pci_bar_decodes(const struct pci_device *d, const struct pci_bar *bar)
{
	uint16_t cmd = pci_cfg16(d, PCI_COMMAND);

	return bar->kind == PCI_BAR_IO ? cmd & PCI_COMMAND_IO : cmd & PCI_COMMAND_MEMORY;
}

/* The address in the BAR register(s), type bits stripped. */
static uint64_t pci_bar_programmed(const struct pci_device *d, unsigned i)
{
	uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * i;
	uint32_t lo = pci_cfg32(d, reg);

	switch (d->bars[i].kind) {
	case PCI_BAR_IO:
		return lo & PCI_BAR_IO_MASK;
	case PCI_BAR_MEM32:
		return lo & PCI_BAR_MEM_MASK;
	case PCI_BAR_MEM64:
		return (lo & PCI_BAR_MEM_MASK) | (uint64_t)pci_cfg32(d, reg + 4) << 32;
	default:
		return 0;
	}
}

/* Where a BAR may decode: not at 0 (unassigned), not wrapping, inside its
 * address space. The last byte of the 32-bit (or 64-bit) space is out too:
 * that is where a BAR that was just sized with all ones points, and a BAR
 * must not decode there between the sizing write and the restore (as
 * QEMU's pci_bar_address). */
static bool pci_bar_addr_valid(const struct pci_bar *bar, uint64_t addr)
{
	uint64_t last = addr + bar->size - 1;

	if (addr == 0 || last < addr)
		return false;
	switch (bar->kind) {
	case PCI_BAR_IO:
		return last <= PCI_IO_LIMIT;
	case PCI_BAR_MEM32:
		return last < 0xffffffffull;
	case PCI_BAR_MEM64:
		return last < PCI_MEM64_LIMIT;
	default:
		return false;
	}
}

static void pci_null_bar_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	*data = pci_all_ones(len);
}

static void pci_null_bar_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
}

/* A BAR with no trapped handler (all of it exit-free) still claims its
 * range on the bus, so placement and overlap rules are the same for all. */
static const struct bus_ops pci_null_bar_ops = {
	.read = pci_null_bar_read,
	.write = pci_null_bar_write,
};

/* What the bus dispatches the BAR to. The (base, opaque) pair is also the
 * key for bus_move/bus_unregister, so it must not change while mapped. */
static void pci_bar_handler(struct pci_device *d, unsigned i, const struct bus_ops **ops,
			    void **opaque)
{
	struct pci_bar *bar = &d->bars[i];

	if (d->has_msix && d->msix.bar == i) {
		*ops = &pci_msix_bar_ops;
		*opaque = pci_msix_bar_opaque(d);
	} else if (bar->ops) {
		*ops = bar->ops;
		*opaque = bar->opaque;
	} else {
		*ops = &pci_null_bar_ops;
		*opaque = bar;
	}
}

static void pci_bar_map_direct_locked(struct pci_device *d, unsigned i)
{
	struct pci_bar *bar = &d->bars[i];
	struct pci_host *h = d->host;
	uint64_t gpa = bar->addr + bar->direct_offset;
	int ret;

	if (!bar->direct_host || !bar->mapped || bar->direct_mapped || !h || !h->ops ||
	    !h->ops->map_direct)
		return;
	ret = h->ops->map_direct(h->opaque, d, i, gpa, bar->direct_size, bar->direct_host);
	if (ret < 0) {
		/* The guest chose the place (over RAM, say): the window traps
		 * instead, which is slower but still correct. */
		guest_error("%s " PCI_BDF_FMT " BAR%u: exit-free window at 0x%llx (+0x%llx) "
			    "refused (%s); it traps instead", d->name, PCI_BDF_ARGS(d->bdf), i,
			    (unsigned long long)gpa, (unsigned long long)bar->direct_size,
			    strerror(-ret));
		return;
	}
	bar->direct_mapped = true;
}

static void pci_bar_unmap_direct_locked(struct pci_device *d, unsigned i)
{
	struct pci_bar *bar = &d->bars[i];
	struct pci_host *h = d->host;

	if (!bar->direct_mapped)
		return;
	if (h && h->ops && h->ops->unmap_direct)
		h->ops->unmap_direct(h->opaque, d, i);
	bar->direct_mapped = false;
}

/* ioeventfd windows follow the BAR like the exit-free window: assigned at
 * BAR address + offset while the BAR is on the bus, deassigned (at the
 * address they were assigned at) before it moves or stops decoding. A
 * window the host refuses keeps trapping: the BAR's ops signal the fd. */
static void pci_bar_assign_ioeventfds_locked(struct pci_device *d, unsigned i)
{
	struct pci_bar *bar = &d->bars[i];
	struct pci_host *h = d->host;
	int ret;

	if (!bar->mapped || !h || !h->ops || !h->ops->ioeventfd)
		return;
	for (unsigned n = 0; n < bar->nr_ioeventfds; n++) {
		struct pci_bar_ioeventfd *e = &bar->ioeventfds[n];
		uint64_t gpa = bar->addr + e->offset;

		if (e->assigned)
			continue;
		ret = h->ops->ioeventfd(h->opaque, d, gpa, e->len, e->fd, true);
		if (ret < 0) {
			guest_error("%s " PCI_BDF_FMT " BAR%u: ioeventfd at 0x%llx (%u bytes) refused "
				    "(%s); the write traps instead", d->name, PCI_BDF_ARGS(d->bdf), i,
				    (unsigned long long)gpa, e->len, strerror(-ret));
			continue;
		}
		e->assigned = true;
		e->gpa = gpa;
	}
}

static void pci_bar_deassign_ioeventfds_locked(struct pci_device *d, unsigned i)
{
	struct pci_bar *bar = &d->bars[i];
	struct pci_host *h = d->host;

	for (unsigned n = 0; n < bar->nr_ioeventfds; n++) {
		struct pci_bar_ioeventfd *e = &bar->ioeventfds[n];

		if (!e->assigned)
			continue;
		if (h && h->ops && h->ops->ioeventfd)
			h->ops->ioeventfd(h->opaque, d, e->gpa, e->len, e->fd, false);
		e->assigned = false;
	}
}

static void pci_bar_refused(struct pci_device *d, unsigned i, uint64_t addr, int err)
{
	struct pci_bar *bar = &d->bars[i];

	if (err == -EEXIST)
		guest_error("%s " PCI_BDF_FMT " BAR%u at 0x%llx (+0x%llx) overlaps another range: "
			    "left unmapped", d->name, PCI_BDF_ARGS(d->bdf), i,
			    (unsigned long long)addr, (unsigned long long)bar->size);
	else
		log_error("%s " PCI_BDF_FMT " BAR%u at 0x%llx (+0x%llx): mapping failed: %s",
			  d->name, PCI_BDF_ARGS(d->bdf), i, (unsigned long long)addr,
			  (unsigned long long)bar->size, strerror(-err));
}

/* Brings the bus registration (and the exit-free window) of BAR i in line
 * with config space: registered iff its decode bit is on and its address
 * is valid; moved when the address changed. Bus calls are safe here even
 * from inside an ECAM/CFC handler: handlers run without the bus lock. */
static void pci_bar_update_locked(struct pci_device *d, unsigned i)
{
	struct pci_bar *bar = &d->bars[i];
	struct bus *bus = pci_bar_bus(d, bar);
	uint64_t addr = pci_bar_programmed(d, i);
	bool want = bus && pci_bar_decodes(d, bar) && pci_bar_addr_valid(bar, addr);
	const struct bus_ops *ops;
	void *opaque;
	int ret;

	if (bar->kind == PCI_BAR_UNUSED)
		return;
	if (bar->mapped && want && bar->addr == addr)
		return;
	pci_bar_handler(d, i, &ops, &opaque);
	pci_bar_unmap_direct_locked(d, i);
	pci_bar_deassign_ioeventfds_locked(d, i);
	if (bar->mapped && bus) {
		if (want) {
			ret = bus_move(bus, bar->addr, opaque, addr);
			if (ret == 0) {
				bar->addr = addr;
				pci_bar_map_direct_locked(d, i);
				pci_bar_assign_ioeventfds_locked(d, i);
				return;
			}
			/* The old place is left too: the BAR moved away from
			 * it, and nothing decodes where it moved to. */
			pci_bar_refused(d, i, addr, ret);
			want = false;
		}
		bus_unregister(bus, bar->addr, opaque);
	}
	bar->mapped = false;
	bar->addr = addr;
	if (!want)
		return;
	ret = bus_register(bus, addr, bar->size, ops, opaque, d->name);
	if (ret < 0) {
		pci_bar_refused(d, i, addr, ret);
		return;
	}
	bar->mapped = true;
	pci_bar_map_direct_locked(d, i);
	pci_bar_assign_ioeventfds_locked(d, i);
}

static void pci_bars_update_locked(struct pci_device *d)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		pci_bar_update_locked(d, i);
}

/* The BAR whose register(s) cover config dword reg, or -1. */
static int pci_bar_of_register(const struct pci_device *d, unsigned r)
{
	if (d->bars[r].kind != PCI_BAR_UNUSED)
		return (int)r;
	if (r > 0 && d->bars[r - 1].kind == PCI_BAR_MEM64)
		return (int)r - 1;
	return -1;
}

/* ---- INTx ---- */

/* The wired level: the device's interrupt status, unless software disabled
 * INTx or the function uses MSI-X (PCI 3.0 6.8.2: "prohibited from using
 * its INTx# pin"). */
bool pci_intx_level_locked(const struct pci_device *d)
{
	return (pci_cfg16(d, PCI_STATUS) & PCI_STATUS_INTERRUPT) &&
	       !(pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) &&
	       !(d->has_msix && d->msix.enabled);
}

void pci_intx_update_locked(struct pci_device *d, bool was)
{
	bool now = pci_intx_level_locked(d);

	if (now != was)
		irq_line_set(&d->intx, now);
}

void pci_set_intx(struct pci_device *d, int level)
{
	uint16_t sta;
	bool was;

	pthread_mutex_lock(&d->lock);
	was = pci_intx_level_locked(d);
	sta = pci_cfg16(d, PCI_STATUS);
	sta = level ? sta | PCI_STATUS_INTERRUPT : sta & ~PCI_STATUS_INTERRUPT;
	pci_put16(d->config + PCI_STATUS, sta);
	pci_intx_update_locked(d, was);
	pthread_mutex_unlock(&d->lock);
}

/* ---- Config access ---- */

uint32_t pci_config_read(struct pci_device *d, uint32_t off, unsigned len)
{
	uint32_t v = 0;

	if (!pci_config_access_ok(off, len))
		return (uint32_t)pci_all_ones(len > 4 ? 4 : len);
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)d->config[off + i] << (8 * i);
	pthread_mutex_unlock(&d->lock);
	return v;
}

/* Every COMMAND change reaches the DMA gate: disabling waits for transfers
 * in flight, so once the guest's write completes no DMA of this function
 * is running or will start (the "no DMA while BME is off" guarantee).
 * This runs under d->lock, so a device must not call into the PCI core for
 * itself from inside a dma_access window. */
static void pci_command_changed_locked(struct pci_device *d, uint16_t old, uint16_t cmd)
{
	if ((old ^ cmd) & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY))
		pci_bars_update_locked(d);
	if (d->dma)
		dma_as_set_enabled(d->dma, cmd & PCI_COMMAND_MASTER);
}

void pci_config_write(struct pci_device *d, uint32_t off, uint32_t val, unsigned len)
{
	uint16_t old_cmd, cmd;
	bool was_intx, msix_changed = false;

	if (!pci_config_access_ok(off, len)) {
		guest_error("%s " PCI_BDF_FMT ": config write of %u bytes at 0x%x dropped",
			    d->name, PCI_BDF_ARGS(d->bdf), len, off);
		return;
	}
	pthread_mutex_lock(&d->lock);
	old_cmd = pci_cfg16(d, PCI_COMMAND);
	was_intx = pci_intx_level_locked(d);
	for (unsigned i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		d->config[o] = (uint8_t)((d->config[o] & ~d->wmask[o]) | (b & d->wmask[o]));
		d->config[o] &= (uint8_t)~(b & d->w1cmask[o]);
	}
	cmd = pci_cfg16(d, PCI_COMMAND);
	if (cmd != old_cmd)
		pci_command_changed_locked(d, old_cmd, cmd);
	if (pci_ranges_overlap(off, len, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS)) {
		int bar = pci_bar_of_register(d, (off - PCI_BASE_ADDRESS_0) / 4);

		if (bar >= 0)
			pci_bar_update_locked(d, (unsigned)bar);
	}
	if (d->has_msix && pci_ranges_overlap(off, len, d->msix.cap_off + PCI_MSIX_FLAGS, 2))
		msix_changed = pci_msix_control_written_locked(d);
	pci_intx_update_locked(d, was_intx);
	pthread_mutex_unlock(&d->lock);

	if (msix_changed)
		pci_msix_report_changed(d, 0, d->msix.nvec);
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, off, val, len);
}

/* ---- Device declaration ---- */

int pci_device_init(struct pci_device *d, const char *name, const struct pci_device_id *id,
		    const struct pci_device_ops *ops, void *opaque)
{
	int ret;

	memset(d, 0, sizeof(*d));
	if (!id || id->interrupt_pin > 4 || id->vendor == 0xffff)
		return -EINVAL;
	ret = -pthread_mutex_init(&d->lock, NULL);
	if (ret < 0)
		return ret;
	d->name = name ? name : "pci";
	d->ops = ops;
	d->opaque = opaque;
	d->next_cap_off = PCI_CAP_FIRST;

	pci_put16(d->config + PCI_VENDOR_ID, id->vendor);
	pci_put16(d->config + PCI_DEVICE_ID, id->device);
	d->config[PCI_REVISION_ID] = id->revision;
	d->config[PCI_CLASS_PROG] = (uint8_t)id->class_code;
	pci_put16(d->config + PCI_CLASS_DEVICE, (uint16_t)(id->class_code >> 8));
	d->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	pci_put16(d->config + PCI_SUBSYSTEM_VENDOR_ID, id->subsys_vendor);
	pci_put16(d->config + PCI_SUBSYSTEM_ID, id->subsys);
	d->config[PCI_INTERRUPT_PIN] = id->interrupt_pin;

	pci_set_mask16(d->wmask, PCI_COMMAND, PCI_COMMAND_WMASK);
	pci_set_mask16(d->w1cmask, PCI_STATUS, PCI_STATUS_W1C);
	/* Cache line size: read/write with no effect on PCIe (7.5.1.1.7),
	 * and Linux writes it. */
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	return 0;
}

int pci_device_add_bar(struct pci_device *d, unsigned idx, enum pci_bar_kind kind, uint64_t size,
		       bool prefetchable, const struct bus_ops *ops, void *opaque)
{
	uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint64_t min = kind == PCI_BAR_IO ? 4 : PCI_PAGE_SIZE;
	uint64_t max = kind == PCI_BAR_IO ? PCI_IO_MAX_BAR :
		       kind == PCI_BAR_MEM32 ? 1ull << 31 : 1ull << 62;
	uint32_t type;
	struct pci_bar *bar;

	if (idx >= PCI_NUM_BARS || (kind == PCI_BAR_MEM64 && idx + 1 >= PCI_NUM_BARS))
		return -EINVAL;
	if (kind != PCI_BAR_IO && kind != PCI_BAR_MEM32 && kind != PCI_BAR_MEM64)
		return -EINVAL;
	if (size < min || size > max || (size & (size - 1)) || (prefetchable && kind == PCI_BAR_IO))
		return -EINVAL;
	if (d->bars[idx].kind != PCI_BAR_UNUSED || pci_bar_of_register(d, idx) >= 0 ||
	    (kind == PCI_BAR_MEM64 && d->bars[idx + 1].kind != PCI_BAR_UNUSED))
		return -EEXIST;

	pthread_mutex_lock(&d->lock);
	bar = &d->bars[idx];
	memset(bar, 0, sizeof(*bar));
	bar->kind = kind;
	bar->size = size;
	bar->prefetchable = prefetchable;
	bar->ops = ops;
	bar->opaque = opaque;
	/* Sizing (PCI 3.0 6.2.5.1): the bits below the size are read-only
	 * zero, so writing all ones reads back the size mask with the
	 * read-only type bits. IO BARs keep bits 31:16 writable as QEMU's, so
	 * the mask reads back as firmware expects; they decode only below
	 * 64 KiB. */
	if (kind == PCI_BAR_IO) {
		type = PCI_BASE_ADDRESS_SPACE_IO;
		pci_set_mask32(d->wmask, reg, (uint32_t)~(size - 1) & PCI_BAR_IO_MASK);
	} else {
		type = (kind == PCI_BAR_MEM64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
		       (prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
		pci_set_mask32(d->wmask, reg, (uint32_t)~(size - 1) & PCI_BAR_MEM_MASK);
		if (kind == PCI_BAR_MEM64)
			pci_set_mask32(d->wmask, reg + 4, (uint32_t)(~(size - 1) >> 32));
	}
	pci_put32(d->config + reg, type);
	if (kind == PCI_BAR_MEM64)
		pci_put32(d->config + reg + 4, 0);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int pci_bar_set_direct(struct pci_device *d, unsigned idx, uint64_t offset, uint64_t size,
		       void *host)
{
	struct pci_bar *bar;
	int ret = 0;

	if (idx >= PCI_NUM_BARS || !host || !size || (offset | size) % PCI_PAGE_SIZE ||
	    (uintptr_t)host % PCI_PAGE_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	bar = &d->bars[idx];
	if ((bar->kind != PCI_BAR_MEM32 && bar->kind != PCI_BAR_MEM64) || offset >= bar->size ||
	    size > bar->size - offset) {
		ret = -EINVAL;
		goto out;
	}
	/* A window is host memory the guest reaches without an exit: the
	 * MSI-X structures must stay trapped or the core never sees them. */
	if (d->has_msix && d->msix.bar == idx &&
	    (pci_ranges_overlap(offset, size, d->msix.table_off, pci_msix_table_size(&d->msix)) ||
	     pci_ranges_overlap(offset, size, d->msix.pba_off, pci_msix_pba_size(&d->msix)))) {
		ret = -EINVAL;
		goto out;
	}
	for (unsigned n = 0; n < bar->nr_ioeventfds; n++) {
		const struct pci_bar_ioeventfd *e = &bar->ioeventfds[n];

		if (pci_ranges_overlap(offset, size, e->offset, e->len ? e->len : 1)) {
			ret = -EINVAL;
			goto out;
		}
	}
	pci_bar_unmap_direct_locked(d, idx);
	bar->direct_host = host;
	bar->direct_offset = offset;
	bar->direct_size = size;
	pci_bar_map_direct_locked(d, idx);
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int pci_bar_add_ioeventfd(struct pci_device *d, unsigned idx, uint64_t offset, unsigned len,
			  int fd)
{
	/* A window of any size covers at least the byte at offset. */
	uint64_t span = len ? len : 1;
	struct pci_bar *bar;
	int ret = 0;

	if (idx >= PCI_NUM_BARS || fd < 0 || (len != 0 && len != 1 && len != 2 && len != 4 &&
					       len != 8) || (len && offset % len))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	bar = &d->bars[idx];
	if ((bar->kind != PCI_BAR_MEM32 && bar->kind != PCI_BAR_MEM64) || offset >= bar->size ||
	    span > bar->size - offset) {
		ret = -EINVAL;
		goto out;
	}
	/* A notification never lands on what the core must see, or on host
	 * memory the guest reaches without an exit. */
	if ((d->has_msix && d->msix.bar == idx &&
	     (pci_ranges_overlap(offset, span, d->msix.table_off, pci_msix_table_size(&d->msix)) ||
	      pci_ranges_overlap(offset, span, d->msix.pba_off, pci_msix_pba_size(&d->msix)))) ||
	    (bar->direct_host &&
	     pci_ranges_overlap(offset, span, bar->direct_offset, bar->direct_size))) {
		ret = -EINVAL;
		goto out;
	}
	for (unsigned n = 0; n < bar->nr_ioeventfds; n++) {
		const struct pci_bar_ioeventfd *e = &bar->ioeventfds[n];

		if (pci_ranges_overlap(offset, span, e->offset, e->len ? e->len : 1)) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (bar->nr_ioeventfds == PCI_BAR_MAX_IOEVENTFDS) {
		ret = -ENOSPC;
		goto out;
	}
	bar->ioeventfds[bar->nr_ioeventfds++] = (struct pci_bar_ioeventfd){
		.offset = offset, .len = len, .fd = fd,
	};
	pci_bar_assign_ioeventfds_locked(d, idx);
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int pci_device_add_cap(struct pci_device *d, uint8_t cap_id, const void *body, uint8_t body_len,
		       uint8_t *off)
{
	uint32_t at;
	int ret = 0;

	if (body_len && !body)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	at = d->next_cap_off;
	if (at + 2u + body_len > PCI_CAP_END) {
		ret = -ENOSPC;
		goto out;
	}
	d->config[at] = cap_id;
	d->config[at + 1] = 0;
	if (body_len)
		memcpy(d->config + at + 2, body, body_len);
	if (d->last_cap)
		d->config[d->last_cap + 1] = (uint8_t)at;
	else
		d->config[PCI_CAPABILITY_LIST] = (uint8_t)at;
	pci_put16(d->config + PCI_STATUS, pci_cfg16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	d->last_cap = (uint8_t)at;
	/* Capabilities are dword aligned (PCI 3.0 6.7). */
	d->next_cap_off = (uint16_t)((at + 2u + body_len + 3) & ~3u);
	if (off)
		*off = (uint8_t)at;
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int pci_device_add_pcie_cap(struct pci_device *d)
{
	uint8_t body[PCI_EXP_CAP_SIZE - 2] = { 0 };
	uint8_t at;
	int ret;

	/* body[] starts at capability offset 2. */
	pci_put16(body + PCI_EXP_FLAGS - 2,
		  PCI_EXP_FLAGS_VERS | PCI_EXP_TYPE_RC_END << PCI_EXP_FLAGS_TYPE_SHIFT);
	pci_put32(body + PCI_EXP_DEVCAP - 2, PCI_EXP_DEVCAP_RBER);
	pci_put16(body + PCI_EXP_DEVCTL - 2, PCI_EXP_DEVCTL_DEFAULT);
	ret = pci_device_add_cap(d, PCI_CAP_ID_EXP, body, sizeof(body), &at);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&d->lock);
	pci_set_mask16(d->wmask, at + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_WMASK);
	pci_set_mask16(d->w1cmask, at + PCI_EXP_DEVSTA, PCI_EXP_DEVSTA_W1C);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void pci_device_set_dma(struct pci_device *d, struct dma_as *as)
{
	pthread_mutex_lock(&d->lock);
	d->dma = as;
	/* The gate follows BME from the start: off at power-on. */
	if (as)
		dma_as_set_enabled(as, pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_MASTER);
	pthread_mutex_unlock(&d->lock);
}

bool pci_device_bus_master(struct pci_device *d)
{
	bool on;

	pthread_mutex_lock(&d->lock);
	on = pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_MASTER;
	pthread_mutex_unlock(&d->lock);
	return on;
}

/* ---- Plugging (called by pci_host.c) ---- */

void pci_device_attach(struct pci_device *d, struct pci_host *h, uint8_t devfn,
		       const struct irq_line *intx)
{
	pthread_mutex_lock(&d->lock);
	d->host = h;
	d->devfn = devfn;
	d->bdf = PCI_BDF(0, devfn);
	d->intx = intx ? *intx : (struct irq_line){ 0 };
	pci_bars_update_locked(d);
	if (pci_intx_level_locked(d))
		irq_line_set(&d->intx, 1);
	pthread_mutex_unlock(&d->lock);
}

/* Takes back everything the device holds on the host's buses and lines. */
void pci_device_detach(struct pci_device *d)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &d->bars[i];
		struct bus *bus = pci_bar_bus(d, bar);
		const struct bus_ops *ops;
		void *opaque;

		pci_bar_unmap_direct_locked(d, i);
		pci_bar_deassign_ioeventfds_locked(d, i);
		if (bar->mapped && bus) {
			pci_bar_handler(d, i, &ops, &opaque);
			bus_unregister(bus, bar->addr, opaque);
		}
		bar->mapped = false;
	}
	if (pci_intx_level_locked(d))
		irq_line_set(&d->intx, 0);
	d->intx = (struct irq_line){ 0 };
	d->host = NULL;
	pthread_mutex_unlock(&d->lock);
}

/* ---- Reset ---- */

void pci_device_reset(struct pci_device *d)
{
	uint8_t exp;
	bool was;

	pthread_mutex_lock(&d->lock);
	was = pci_intx_level_locked(d);
	pci_put16(d->config + PCI_COMMAND, 0);
	pci_put16(d->config + PCI_STATUS, pci_cfg16(d, PCI_STATUS) &
		  ~(PCI_STATUS_W1C | PCI_STATUS_INTERRUPT));
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * i;

		/* Address bits are exactly the writable ones; type bits stay. */
		pci_put32(d->config + reg, pci_cfg32(d, reg) & ~pci_mask32(d->wmask, reg));
	}
	d->config[PCI_CACHE_LINE_SIZE] = 0;
	d->config[PCI_INTERRUPT_LINE] = 0;
	exp = pci_find_cap_locked(d, PCI_CAP_ID_EXP);
	if (exp) {
		pci_put16(d->config + exp + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_DEFAULT);
		pci_put16(d->config + exp + PCI_EXP_DEVSTA, 0);
	}
	if (d->has_msix)
		pci_msix_reset_locked(d);
	pci_bars_update_locked(d);
	if (d->dma)
		dma_as_set_enabled(d->dma, false);
	pci_intx_update_locked(d, was);
	pthread_mutex_unlock(&d->lock);

	if (d->has_msix)
		pci_msix_report_changed(d, 0, d->msix.nvec);
	if (d->ops && d->ops->reset)
		d->ops->reset(d);
}

void pci_device_destroy(struct pci_device *d)
{
	if (d->host)
		pci_host_unplug(d->host, d);
	pci_device_detach(d);
	pci_msix_destroy(d);
	pthread_mutex_destroy(&d->lock);
}
