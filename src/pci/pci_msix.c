/* MSI-X (PCI Local Bus 3.0 6.8.2), once for every device: the capability,
 * the vector table and the Pending Bit Array inside one of the device's
 * memory BARs, and delivery through the host's msi_sink or a per-vector
 * eventfd (irqfd).
 *
 * The BAR that holds the table is registered with pci_msix_bar_ops: table
 * and PBA accesses are served here, everything else goes on to the BAR's
 * own ops untouched. Notify comes from device engine threads while vCPUs
 * write the table, so vector state is under d->lock; delivery happens
 * under it too, so a mask or unmask cannot slip in between deciding and
 * delivering (an interrupt is either pended or sent, never lost). The
 * device's own bus ops are always called without it. */
#include "pci/pci_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- Register definitions ---- */
#define PCI_MSIX_MAX_VECTORS    2048       /* Table Size is 11 bits, N - 1 */
#define PCI_MSIX_BIR_MASK       0x7
#define PCI_MSIX_OFFSET_ALIGN   8          /* offsets are QWORD aligned */
#define PCI_MSIX_CAP_BODY       10         /* control, table and PBA words */
#define PCI_MSIX_FLAGS_WMASK    (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)
/* Vector table entry (PCI 3.0 figure 6-11), in dwords. */
#define PCI_MSIX_ENTRY_ADDR_LO  0
#define PCI_MSIX_ENTRY_ADDR_HI  1
#define PCI_MSIX_ENTRY_DATA     2
#define PCI_MSIX_ENTRY_CTRL     3

/* ---- Helpers ---- */

uint64_t pci_msix_table_size(const struct pci_msix *m)
{
	return (uint64_t)m->nvec * PCI_MSIX_ENTRY_SIZE;
}

uint64_t pci_msix_pba_size(const struct pci_msix *m)
{
	return ((uint64_t)m->nvec + 63) / 64 * 8;
}

void *pci_msix_bar_opaque(struct pci_device *d)
{
	return &d->msix;
}

static struct pci_device *pci_msix_dev(void *opaque)
{
	return PCI_CONTAINER_OF(opaque, struct pci_device, msix);
}

static bool pci_msix_deliverable_locked(const struct pci_device *d, unsigned v)
{
	return d->msix.enabled && !d->msix.function_masked && !d->msix.vec[v].masked;
}

/* Sends vector v now. The pending bit goes even if the sink refuses the
 * message (an interrupt remapper blocking it): on hardware the write went
 * out, and what became of it is the remapper's business. */
static int pci_msix_deliver_locked(struct pci_device *d, unsigned v)
{
	struct pci_msix_vector *e = &d->msix.vec[v];
	int ret;

	e->pending = false;
	if (e->irqfd >= 0) {
		uint64_t one = 1;

		ret = write(e->irqfd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
	} else {
		ret = msi_send(d->host ? d->host->msi : NULL, e->addr, e->data, d->bdf);
	}
	if (ret == 0)
		d->msix.delivered++;
	return ret;
}

/* Sends what was pended and is deliverable now (PCI 3.0 6.8.2.9: on
 * unmasking, a function with its pending bit set sends the message). */
static void pci_msix_flush_pending_locked(struct pci_device *d, unsigned first, unsigned count)
{
	for (unsigned v = first; v < first + count; v++)
		if (d->msix.vec[v].pending && pci_msix_deliverable_locked(d, v))
			pci_msix_deliver_locked(d, v);
}

void pci_msix_report_changed(struct pci_device *d, unsigned first, unsigned count)
{
	struct pci_host *h = d->host;

	if (!h || !h->ops || !h->ops->msix_vector_changed)
		return;
	for (unsigned v = first; v < first + count; v++)
		h->ops->msix_vector_changed(h->opaque, d, v);
}

/* ---- Vector table and PBA ---- */

static uint32_t pci_msix_entry_read(const struct pci_msix_vector *e, unsigned dw)
{
	switch (dw) {
	case PCI_MSIX_ENTRY_ADDR_LO:
		return (uint32_t)e->addr;
	case PCI_MSIX_ENTRY_ADDR_HI:
		return (uint32_t)(e->addr >> 32);
	case PCI_MSIX_ENTRY_DATA:
		return e->data;
	default:
		return e->masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
	}
}

/* Returns true if the entry changed. Reserved vector-control bits read as
 * zero. */
static bool pci_msix_entry_write(struct pci_msix_vector *e, unsigned dw, uint32_t val)
{
	uint64_t addr = e->addr;
	uint32_t data = e->data;
	bool masked = e->masked;

	switch (dw) {
	case PCI_MSIX_ENTRY_ADDR_LO:
		e->addr = (e->addr & ~0xffffffffull) | val;
		break;
	case PCI_MSIX_ENTRY_ADDR_HI:
		e->addr = (e->addr & 0xffffffffull) | (uint64_t)val << 32;
		break;
	case PCI_MSIX_ENTRY_DATA:
		e->data = val;
		break;
	default:
		e->masked = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		break;
	}
	return e->addr != addr || e->data != data || e->masked != masked;
}

/* DWORD or aligned QWORD accesses only (6.8.2: other sizes are undefined;
 * we read all ones and drop the write). rel is relative to the structure,
 * whose start is QWORD aligned. */
static bool pci_msix_access_ok(struct pci_device *d, const char *what, uint64_t off,
			       uint64_t start, uint64_t size, unsigned len)
{
	if ((len == 4 || len == 8) && off >= start && off - start + len <= size && off % len == 0)
		return true;
	guest_error("%s " PCI_BDF_FMT ": MSI-X %s access of %u bytes at BAR offset 0x%llx ignored",
		    d->name, PCI_BDF_ARGS(d->bdf), what, len, (unsigned long long)off);
	return false;
}

static uint64_t pci_msix_table_read(struct pci_device *d, uint64_t off, unsigned len)
{
	struct pci_msix *m = &d->msix;
	uint64_t rel = off - m->table_off, v = 0;
	unsigned dw = (unsigned)(rel % PCI_MSIX_ENTRY_SIZE) / 4;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < len / 4; i++)
		v |= (uint64_t)pci_msix_entry_read(&m->vec[rel / PCI_MSIX_ENTRY_SIZE], dw + i) << (32 * i);
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void pci_msix_table_write(struct pci_device *d, uint64_t off, uint64_t val, unsigned len)
{
	struct pci_msix *m = &d->msix;
	uint64_t rel = off - m->table_off;
	unsigned v = (unsigned)(rel / PCI_MSIX_ENTRY_SIZE);
	unsigned dw = (unsigned)(rel % PCI_MSIX_ENTRY_SIZE) / 4;
	bool changed = false;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < len / 4; i++)
		changed |= pci_msix_entry_write(&m->vec[v], dw + i, (uint32_t)(val >> (32 * i)));
	pci_msix_flush_pending_locked(d, v, 1);
	pthread_mutex_unlock(&d->lock);
	if (changed)
		pci_msix_report_changed(d, v, 1);
}

static uint64_t pci_msix_pba_read(struct pci_device *d, uint64_t off, unsigned len)
{
	struct pci_msix *m = &d->msix;
	uint64_t rel = off - m->pba_off, bits = 0;
	unsigned first = (unsigned)(rel / 8) * 64;

	pthread_mutex_lock(&d->lock);
	for (unsigned b = 0; b < 64 && first + b < m->nvec; b++)
		if (m->vec[first + b].pending)
			bits |= 1ull << b;
	pthread_mutex_unlock(&d->lock);
	bits >>= 8 * (rel % 8);
	return len == 8 ? bits : bits & 0xffffffffull;
}

static void pci_msix_bar_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct pci_device *d = pci_msix_dev(opaque);
	struct pci_msix *m = &d->msix;
	struct pci_bar *bar = &d->bars[m->bar];
	uint64_t tsize = pci_msix_table_size(m), psize = pci_msix_pba_size(m);

	if (pci_ranges_overlap(off, len, m->table_off, tsize)) {
		*data = pci_msix_access_ok(d, "table", off, m->table_off, tsize, len) ?
			pci_msix_table_read(d, off, len) : pci_all_ones(len);
	} else if (pci_ranges_overlap(off, len, m->pba_off, psize)) {
		*data = pci_msix_access_ok(d, "PBA", off, m->pba_off, psize, len) ?
			pci_msix_pba_read(d, off, len) : pci_all_ones(len);
	} else if (bar->ops && bar->ops->read) {
		bar->ops->read(bar->opaque, off, data, len);
	} else {
		*data = pci_all_ones(len);
	}
}

static void pci_msix_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct pci_device *d = pci_msix_dev(opaque);
	struct pci_msix *m = &d->msix;
	struct pci_bar *bar = &d->bars[m->bar];
	uint64_t tsize = pci_msix_table_size(m), psize = pci_msix_pba_size(m);

	if (pci_ranges_overlap(off, len, m->table_off, tsize)) {
		if (pci_msix_access_ok(d, "table", off, m->table_off, tsize, len))
			pci_msix_table_write(d, off, data, len);
	} else if (pci_ranges_overlap(off, len, m->pba_off, psize)) {
		/* Read-only (6.8.2.10: software should never write it). */
		guest_error("%s " PCI_BDF_FMT ": write to the MSI-X PBA at BAR offset 0x%llx ignored",
			    d->name, PCI_BDF_ARGS(d->bdf), (unsigned long long)off);
	} else if (bar->ops && bar->ops->write) {
		bar->ops->write(bar->opaque, off, data, len);
	}
}

const struct bus_ops pci_msix_bar_ops = {
	.read = pci_msix_bar_read,
	.write = pci_msix_bar_write,
};

/* ---- Capability ---- */

bool pci_msix_control_written_locked(struct pci_device *d)
{
	struct pci_msix *m = &d->msix;
	uint16_t ctrl = pci_cfg16(d, m->cap_off + PCI_MSIX_FLAGS);
	bool enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
	bool fmask = ctrl & PCI_MSIX_FLAGS_MASKALL;

	if (enabled == m->enabled && fmask == m->function_masked)
		return false;
	m->enabled = enabled;
	m->function_masked = fmask;
	pci_msix_flush_pending_locked(d, 0, m->nvec);
	return true;
}

void pci_msix_reset_locked(struct pci_device *d)
{
	struct pci_msix *m = &d->msix;
	uint32_t flags = m->cap_off + PCI_MSIX_FLAGS;

	pci_put16(d->config + flags, pci_cfg16(d, flags) & ~PCI_MSIX_FLAGS_WMASK);
	m->enabled = false;
	m->function_masked = false;
	/* Entries come out of reset masked (6.8.2.9); irqfds are the host's
	 * wiring, not guest state, and stay. */
	for (unsigned v = 0; v < m->nvec; v++) {
		m->vec[v].addr = 0;
		m->vec[v].data = 0;
		m->vec[v].masked = true;
		m->vec[v].pending = false;
	}
}

int pci_device_add_msix(struct pci_device *d, unsigned nvec, unsigned bar, uint32_t table_off,
			uint32_t pba_off)
{
	uint64_t tsize = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE, psize = ((uint64_t)nvec + 63) / 64 * 8;
	uint8_t body[PCI_MSIX_CAP_BODY];
	struct pci_msix_vector *vec;
	struct pci_bar *b;
	uint8_t cap_off;
	int ret;

	if (nvec == 0 || nvec > PCI_MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS ||
	    table_off % PCI_MSIX_OFFSET_ALIGN || pba_off % PCI_MSIX_OFFSET_ALIGN ||
	    pci_ranges_overlap(table_off, tsize, pba_off, psize))
		return -EINVAL;
	b = &d->bars[bar];
	if (b->kind != PCI_BAR_MEM32 && b->kind != PCI_BAR_MEM64)
		return -EINVAL;
	if (table_off + tsize > b->size || pba_off + psize > b->size)
		return -EINVAL;
	if (b->direct_host &&
	    (pci_ranges_overlap(b->direct_offset, b->direct_size, table_off, tsize) ||
	     pci_ranges_overlap(b->direct_offset, b->direct_size, pba_off, psize)))
		return -EINVAL;
	if (d->has_msix)
		return -EEXIST;
	/* The BAR's bus handler changes to ours: only before it is mapped. */
	if (b->mapped)
		return -EBUSY;
	vec = calloc(nvec, sizeof(*vec));
	if (!vec)
		return -ENOMEM;
	for (unsigned v = 0; v < nvec; v++) {
		vec[v].masked = true;
		vec[v].irqfd = -1;
	}
	pci_put16(body + PCI_MSIX_FLAGS - 2, (uint16_t)(nvec - 1));
	pci_put32(body + PCI_MSIX_TABLE - 2, table_off | bar);
	pci_put32(body + PCI_MSIX_PBA - 2, pba_off | bar);
	ret = pci_device_add_cap(d, PCI_CAP_ID_MSIX, body, sizeof(body), &cap_off);
	if (ret < 0)
		goto err_free;

	pthread_mutex_lock(&d->lock);
	d->wmask[cap_off + PCI_MSIX_FLAGS + 1] = PCI_MSIX_FLAGS_WMASK >> 8;
	d->msix = (struct pci_msix){
		.nvec = nvec, .bar = bar, .table_off = table_off, .pba_off = pba_off,
		.cap_off = cap_off, .vec = vec,
	};
	d->has_msix = true;
	pthread_mutex_unlock(&d->lock);
	return 0;

err_free:
	free(vec);
	return ret;
}

void pci_msix_destroy(struct pci_device *d)
{
	free(d->msix.vec);
	d->msix.vec = NULL;
	d->msix.nvec = 0;
	d->has_msix = false;
}

/* ---- Device and host side ---- */

int pci_msix_notify(struct pci_device *d, unsigned vector)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	if (!d->has_msix || !d->msix.enabled) {
		ret = d->has_msix && vector >= d->msix.nvec ? -EINVAL : -ENODEV;
	} else if (vector >= d->msix.nvec) {
		ret = -EINVAL;
	} else if (!pci_msix_deliverable_locked(d, vector)) {
		d->msix.vec[vector].pending = true;
		d->msix.pended++;
		ret = 0;
	} else {
		ret = pci_msix_deliver_locked(d, vector);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

bool pci_msix_enabled(struct pci_device *d)
{
	bool on;

	pthread_mutex_lock(&d->lock);
	on = d->has_msix && d->msix.enabled;
	pthread_mutex_unlock(&d->lock);
	return on;
}

int pci_msix_set_irqfd(struct pci_device *d, unsigned vector, int fd)
{
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	if (!d->has_msix || vector >= d->msix.nvec)
		ret = -EINVAL;
	else
		d->msix.vec[vector].irqfd = fd >= 0 ? fd : -1;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

bool pci_msix_vector(struct pci_device *d, unsigned vector, uint64_t *addr, uint32_t *data,
		     bool *masked)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = d->has_msix && vector < d->msix.nvec;
	if (ok) {
		if (addr)
			*addr = d->msix.vec[vector].addr;
		if (data)
			*data = d->msix.vec[vector].data;
		if (masked)
			*masked = !pci_msix_deliverable_locked(d, vector);
	}
	pthread_mutex_unlock(&d->lock);
	return ok;
}
