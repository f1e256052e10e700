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
