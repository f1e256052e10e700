/* What the PCI core's files share and nobody else sees: config-space
 * accessors, the BAR and INTx plumbing pci.c owns, and the MSI-X hooks
 * pci.c calls into pci_msix.c with. Functions named *_locked expect
 * d->lock held. */
#ifndef WARDEN_PCI_PCI_INTERNAL_H
#define WARDEN_PCI_PCI_INTERNAL_H

#include "pci/pci.h"

#include <stddef.h>
#include <string.h>

#define PCI_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Config space is little-endian, as on the bus. */
static inline uint16_t pci_cfg16(const struct pci_device *d, uint32_t off)
{
	return (uint16_t)(d->config[off] | d->config[off + 1] << 8);
}

static inline uint32_t pci_cfg32(const struct pci_device *d, uint32_t off)
{
	return (uint32_t)pci_cfg16(d, off) | (uint32_t)pci_cfg16(d, off + 2) << 16;
}

static inline void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void pci_put32(uint8_t *p, uint32_t v)
{
	pci_put16(p, (uint16_t)v);
	pci_put16(p + 2, (uint16_t)(v >> 16));
}

/* [a, a + alen) and [b, b + blen) share a byte. */
static inline bool pci_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static inline uint64_t pci_all_ones(unsigned len)
{
	return len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
}

/* ---- pci.c ---- */
/* Re-evaluates the wired INTx level after anything that feeds it changed
 * (status, INTX_DISABLE, MSI-X enable); was = the level before. */
bool pci_intx_level_locked(const struct pci_device *d);
void pci_intx_update_locked(struct pci_device *d, bool was);

/* Plugging: the host sets where the device sits and how its pin is wired,
 * and BARs are placed if config space already asks for it; detach takes
 * back every bus range, exit-free window and asserted line. */
void pci_device_attach(struct pci_device *d, struct pci_host *h, uint8_t devfn,
		       const struct irq_line *intx);
void pci_device_detach(struct pci_device *d);

/* ---- pci_host.c ---- */
/* Forgets d in the host's slot table (pci_device_destroy). */
void pci_host_unplug(struct pci_host *h, struct pci_device *d);

/* ---- pci_msix.c ---- */
/* Bytes of the table and the PBA inside the BAR. */
uint64_t pci_msix_table_size(const struct pci_msix *m);
uint64_t pci_msix_pba_size(const struct pci_msix *m);
/* The BAR that holds the table is registered with these ops and
 * pci_msix_bar_opaque(d): table and PBA accesses are served here, the rest
 * go to the BAR's own ops. */
extern const struct bus_ops pci_msix_bar_ops;
void *pci_msix_bar_opaque(struct pci_device *d);
/* Message Control was written: take enable/function mask from config
 * space, deliver what became deliverable. True if either changed (the
 * caller then reports every vector with pci_msix_report_changed). */
bool pci_msix_control_written_locked(struct pci_device *d);
/* Back to power-on state: disabled, unmasked function, vectors masked, no
 * pending bits. */
void pci_msix_reset_locked(struct pci_device *d);
/* host->ops->msix_vector_changed for vectors [first, first + count).
 * Called without d->lock: the host reads the vector back. */
void pci_msix_report_changed(struct pci_device *d, unsigned first, unsigned count);
void pci_msix_destroy(struct pci_device *d);

#endif
