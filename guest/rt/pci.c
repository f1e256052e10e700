/* PCI configuration mechanism #1 (CF8 address, CFC data): offsets < 256. */
#include "priv.h"

#define PCI_CONFIG_ADDR 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_ENABLE      0x80000000u

static rt_spinlock_t pci_lock;         /* CF8/CFC is a two-step access */

static void select(uint16_t bdf, uint16_t off)
{
	outl(PCI_CONFIG_ADDR, PCI_ENABLE | (uint32_t)bdf << 8 | (off & 0xfc));
}

uint32_t pci_read32(uint16_t bdf, uint16_t off)
{
	rt_spin_lock(&pci_lock);
	select(bdf, off);
	uint32_t v = inl(PCI_CONFIG_DATA);
	rt_spin_unlock(&pci_lock);
	return v;
}

uint16_t pci_read16(uint16_t bdf, uint16_t off)
{
	rt_spin_lock(&pci_lock);
	select(bdf, off);
	uint16_t v = inw(PCI_CONFIG_DATA + (off & 2));
	rt_spin_unlock(&pci_lock);
	return v;
}

uint8_t pci_read8(uint16_t bdf, uint16_t off)
{
	rt_spin_lock(&pci_lock);
	select(bdf, off);
	uint8_t v = inb(PCI_CONFIG_DATA + (off & 3));
	rt_spin_unlock(&pci_lock);
	return v;
}

void pci_write32(uint16_t bdf, uint16_t off, uint32_t v)
{
	rt_spin_lock(&pci_lock);
	select(bdf, off);
	outl(PCI_CONFIG_DATA, v);
	rt_spin_unlock(&pci_lock);
}

void pci_write16(uint16_t bdf, uint16_t off, uint16_t v)
{
	rt_spin_lock(&pci_lock);
	select(bdf, off);
	outw(PCI_CONFIG_DATA + (off & 2), v);
	rt_spin_unlock(&pci_lock);
}

void pci_write8(uint16_t bdf, uint16_t off, uint8_t v)
{
	rt_spin_lock(&pci_lock);
	select(bdf, off);
	outb(PCI_CONFIG_DATA + (off & 3), v);
	rt_spin_unlock(&pci_lock);
}

int pci_find(uint16_t vendor, uint16_t device, unsigned max_bus)
{
	for (unsigned bus = 0; bus <= max_bus && bus < 256; bus++) {
		for (unsigned dev = 0; dev < 32; dev++) {
			for (unsigned fn = 0; fn < 8; fn++) {
				uint16_t bdf = RT_PCI_BDF(bus, dev, fn);
				uint32_t id = pci_read32(bdf, 0);
				if ((id & 0xffff) == 0xffff) {
					if (fn == 0)
						break;
					continue;
				}
				if ((id & 0xffff) == vendor && (id >> 16) == device)
					return bdf;
				if (fn == 0 && !(pci_read8(bdf, 0x0e) & 0x80))
					break;          /* single-function device */
			}
		}
	}
	return -1;
}

/* ---- enumeration, BARs, capabilities, MSI-X ---- */

#define PCI_CLASS_REV        0x08
#define PCI_HEADER_TYPE      0x0e
#define PCI_BAR0             0x10
#define PCI_STATUS           0x06
#define PCI_STATUS_CAP_LIST  0x10
#define PCI_CAP_PTR          0x34
#define PCI_MSIX_CTRL        2
#define PCI_MSIX_TABLE       4
#define PCI_MSIX_PBA         8
#define PCI_MSIX_CTRL_ENABLE 0x8000
#define PCI_MSIX_CTRL_FMASK  0x4000
#define PCI_MSIX_ENTRY_SIZE  16
#define MMIO32_FREE_START    0xc0000000ull  /* above the ECAM at 0xb0000000 */
#define MMIO32_FREE_END      0xfec00000ull  /* IOAPIC, HPET, LAPIC, BIOS above */
#define FOUR_GIB             0x100000000ull

int pci_find_class(uint32_t class_code, unsigned nth, unsigned max_bus)
{
	for (unsigned bus = 0; bus <= max_bus && bus < 256; bus++) {
		for (unsigned dev = 0; dev < 32; dev++) {
			bool single = false;
			for (unsigned fn = 0; fn < 8 && !single; fn++) {
				uint16_t bdf = RT_PCI_BDF(bus, dev, fn);
				if ((pci_read32(bdf, 0) & 0xffff) == 0xffff)
					continue;
				/* A present function 0 without the multi-function
				 * bit: functions 1-7 would be ghosts. */
				if (fn == 0 && !(pci_read8(bdf, PCI_HEADER_TYPE) & 0x80))
					single = true;
				if (pci_read32(bdf, PCI_CLASS_REV) >> 8 == class_code && nth-- == 0)
					return bdf;
			}
		}
	}
	return -1;
}

uint8_t pci_find_cap(uint16_t bdf, uint8_t cap_id)
{
	if (!(pci_read16(bdf, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	uint8_t off = pci_read8(bdf, PCI_CAP_PTR) & 0xfc;
	for (unsigned n = 0; off >= 0x40 && n < 48; n++) {
		uint16_t hdr = pci_read16(bdf, off);
		if ((hdr & 0xff) == cap_id)
			return off;
		off = (hdr >> 8) & 0xfc;
	}
	return 0;
}

void pci_command(uint16_t bdf, uint16_t set, uint16_t clear)
{
	uint16_t cmd = pci_read16(bdf, RT_PCI_COMMAND);

	pci_write16(bdf, RT_PCI_COMMAND, (uint16_t)((cmd | set) & ~clear));
}

/* The BAR register idx is the upper half of a 64-bit memory BAR. */
static bool bar_is_upper_half(uint16_t bdf, unsigned idx)
{
	for (unsigned i = 0; i < idx; i++) {
		uint32_t v = pci_read32(bdf, PCI_BAR0 + 4 * i);
		if (!(v & 1) && ((v >> 1) & 3) == 2) {
			if (i + 1 == idx)
				return true;
			i++;
		}
	}
	return false;
}

int pci_bar_probe(uint16_t bdf, unsigned idx, struct rt_pci_bar *b)
{
	memset(b, 0, sizeof(*b));
	if (idx > 5 || (pci_read8(bdf, PCI_HEADER_TYPE) & 0x7f) != 0 || bar_is_upper_half(bdf, idx))
		return -1;
	uint16_t off = PCI_BAR0 + 4 * idx;
	uint32_t lo = pci_read32(bdf, off), hi = 0, plo, phi = 0xffffffff;

	b->io = lo & 1;
	b->mem64 = !b->io && ((lo >> 1) & 3) == 2;
	if (b->mem64 && idx == 5)
		return -1;
	b->prefetch = !b->io && (lo & 8);
	if (b->mem64)
		hi = pci_read32(bdf, off + 4);

	/* Size with decode off, so the all-ones address never decodes. */
	uint16_t cmd = pci_read16(bdf, RT_PCI_COMMAND);
	pci_write16(bdf, RT_PCI_COMMAND, cmd & ~(RT_PCI_CMD_IO | RT_PCI_CMD_MEMORY));
	pci_write32(bdf, off, 0xffffffff);
	plo = pci_read32(bdf, off);
	pci_write32(bdf, off, lo);
	if (b->mem64) {
		pci_write32(bdf, off + 4, 0xffffffff);
		phi = pci_read32(bdf, off + 4);
		pci_write32(bdf, off + 4, hi);
	}
	pci_write16(bdf, RT_PCI_COMMAND, cmd);

	if (b->io) {
		uint32_t mask = (plo & ~3u) | 0xffff0000u;
		b->addr = lo & ~3u;
		b->size = (plo & ~3u) ? (uint32_t)(~mask + 1) : 0;
	} else {
		uint64_t mask = ((uint64_t)phi << 32) | (plo & ~0xfu);
		b->addr = ((uint64_t)hi << 32) | (lo & ~0xfu);
		b->size = (plo & ~0xfu) ? ~mask + 1 : 0;
	}
	return 0;
}

#define MAX_BUSY 192
struct busy_range { uint64_t start, end; };

static unsigned collect_busy(struct busy_range *r, int skip_bdf, int skip_bar)
{
	unsigned n = 0;

	for (unsigned devfn = 0; devfn < 256; devfn++) {
		uint16_t bdf = (uint16_t)devfn;
		if ((pci_read32(bdf, 0) & 0xffff) == 0xffff)
			continue;
		if ((pci_read8(bdf, PCI_HEADER_TYPE) & 0x7f) != 0)
			continue;
		for (unsigned i = 0; i < 6; i++) {
			struct rt_pci_bar b;
			if ((int)bdf == skip_bdf && (int)i == skip_bar)
				continue;
			if (pci_bar_probe(bdf, i, &b) || b.io || !b.size || !b.addr)
				continue;
			if (n < MAX_BUSY)
				r[n++] = (struct busy_range){ b.addr, b.addr + b.size };
		}
	}
	return n;
}

uint64_t pci_mmio_free(uint64_t size, int bdf, int bar)
{
	static struct busy_range busy[MAX_BUSY];
	unsigned n = collect_busy(busy, bdf, bar);

	if (size < 4096)
		size = 4096;
	if (size & (size - 1))
		return 0;
	for (uint64_t a = MMIO32_FREE_START; a + size <= MMIO32_FREE_END;) {
		bool clash = false;
		for (unsigned i = 0; i < n; i++) {
			if (a < busy[i].end && busy[i].start < a + size) {
				a = (busy[i].end + size - 1) & ~(size - 1);
				clash = true;
				break;
			}
		}
		if (!clash)
			return a;
	}
	return 0;
}

int pci_bar_map(uint16_t bdf, unsigned idx, struct rt_pci_bar *b)
{
	if (pci_bar_probe(bdf, idx, b) || !b->size)
		return -1;
	if (b->io) {
		pci_command(bdf, RT_PCI_CMD_IO, 0);
		return 0;
	}
	if (!b->addr || b->addr < RT_MMIO_START || b->addr + b->size > FOUR_GIB) {
		uint64_t a = pci_mmio_free(b->size, bdf, (int)idx);
		uint16_t off = PCI_BAR0 + 4 * idx;
		if (!a)
			return -1;
		pci_command(bdf, 0, RT_PCI_CMD_MEMORY);
		pci_write32(bdf, off, (uint32_t)a | (pci_read32(bdf, off) & 0xf));
		if (b->mem64)
			pci_write32(bdf, off + 4, 0);
		b->addr = a;
	}
	pci_command(bdf, RT_PCI_CMD_MEMORY, 0);
	return 0;
}

int pci_msix_init(uint16_t bdf, struct rt_pci_msix *m)
{
	memset(m, 0, sizeof(*m));
	uint8_t cap = pci_find_cap(bdf, RT_PCI_CAP_MSIX);
	if (!cap)
		return -1;
	uint32_t tbl = pci_read32(bdf, cap + PCI_MSIX_TABLE);
	uint32_t pba = pci_read32(bdf, cap + PCI_MSIX_PBA);
	struct rt_pci_bar bt, bp;
	if (pci_bar_map(bdf, tbl & 7, &bt) || bt.io || pci_bar_map(bdf, pba & 7, &bp) || bp.io)
		return -1;
	m->bdf = bdf;
	m->cap = cap;
	m->nvec = (pci_read16(bdf, cap + PCI_MSIX_CTRL) & 0x7ff) + 1;
	m->table = bt.addr + (tbl & ~7u);
	m->pba = bp.addr + (pba & ~7u);
	if (m->table + m->nvec * PCI_MSIX_ENTRY_SIZE > bt.addr + bt.size)
		return -1;
	return 0;
}

void pci_msix_set_msg(const struct rt_pci_msix *m, unsigned entry, uint64_t addr, uint32_t data,
		      bool masked)
{
	uint64_t e = m->table + (uint64_t)entry * PCI_MSIX_ENTRY_SIZE;

	if (entry >= m->nvec)
		return;
	/* Mask while the address and data change, unmask last. */
	mmio_write32(e + 12, 1);
	mmio_write32(e + 0, (uint32_t)addr);
	mmio_write32(e + 4, (uint32_t)(addr >> 32));
	mmio_write32(e + 8, data);
	mmio_write32(e + 12, masked ? 1 : 0);
}

void pci_msix_set(const struct rt_pci_msix *m, unsigned entry, uint32_t apic_id, unsigned vector,
		  bool masked)
{
	pci_msix_set_msg(m, entry, 0xfee00000u | (apic_id & 0xff) << 12, vector & 0xff, masked);
}

void pci_msix_enable(const struct rt_pci_msix *m, bool on)
{
	uint16_t ctrl = pci_read16(m->bdf, m->cap + PCI_MSIX_CTRL);

	if (on) {
		pci_command(m->bdf, RT_PCI_CMD_INTX_OFF, 0);
		ctrl = (ctrl | PCI_MSIX_CTRL_ENABLE) & ~PCI_MSIX_CTRL_FMASK;
	} else {
		ctrl &= ~PCI_MSIX_CTRL_ENABLE;
	}
	pci_write16(m->bdf, m->cap + PCI_MSIX_CTRL, ctrl);
}
