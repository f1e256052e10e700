/* PCI host bridge: bus 0 of segment 0 behind the two config mechanisms a
 * q35 guest expects - configuration mechanism #1 (CF8 address latch, CFC-CFF
 * data; PCI 3.0 3.2.2.3.2) and ECAM (PCIe 4.0 7.2.2) - with an Intel Q35
 * MCH identity at 00:00.0, the INTx swizzle onto IOAPIC pins, and the
 * firmware-like BAR assignment SeaBIOS would do before an OS runs. */
#include "pci/pci_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>

/* ---- Register definitions ---- */
#define PCI_HOST_CONFIG_ADDRESS 0xcf8
#define PCI_HOST_CONFIG_DATA    0xcfc
#define PCI_HOST_PORT_LEN       4
#define PCI_CF8_ENABLE          0x80000000u
#define PCI_CF8_BUS_SHIFT       16
#define PCI_CF8_DEVFN_SHIFT     8
#define PCI_CF8_REG_MASK        0xfcu      /* 27:24 (AMD extended) ignored */
#define PCI_ECAM_BUS_SHIFT      20
#define PCI_ECAM_DEVFN_SHIFT    12
#define PCI_ECAM_REG_MASK       0xfffu
#define PCI_HEADER_MULTI_FUNCTION 0x80

/* Intel Q35 MCH (82Q35 DRAM controller), as QEMU's q35 host bridge. */
#define PCI_VENDOR_ID_INTEL     0x8086
#define PCI_DEVICE_ID_Q35_MCH   0x29c0
#define PCI_CLASS_BRIDGE_HOST   0x060000

/* ---- Config dispatch ---- */

static struct pci_device *pci_host_find(struct pci_host *h, unsigned bus, unsigned devfn)
{
	if (bus != 0 || devfn >= PCI_MAX_DEVFN)
		return NULL;
	return __atomic_load_n(&h->devs[devfn], __ATOMIC_ACQUIRE);
}

/* Absent functions read all ones: the vendor id 0xffff is how software
 * learns nothing is there (the bridge's master abort). */
static uint64_t pci_host_config_read(struct pci_host *h, unsigned bus, unsigned devfn,
				     uint32_t reg, unsigned len)
{
	struct pci_device *d = pci_host_find(h, bus, devfn);

	return d ? pci_config_read(d, reg, len) : pci_all_ones(len);
}

static void pci_host_config_write(struct pci_host *h, unsigned bus, unsigned devfn, uint32_t reg,
				  uint32_t val, unsigned len)
{
	struct pci_device *d = pci_host_find(h, bus, devfn);

	if (d)
		pci_config_write(d, reg, val, len);
}

/* ---- Configuration mechanism #1 ---- */

/* The address latch is one register shared by every vCPU, as on hardware:
 * guests serialise the two-step access themselves. Only full dword
 * accesses reach it; Linux's type-1 probe writes a byte to 0xcfb, which is
 * no guest error. */
static void pci_cf8_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct pci_host *h = opaque;

	*data = offset == 0 && len == 4 ? __atomic_load_n(&h->config_address, __ATOMIC_RELAXED)
					: pci_all_ones(len);
}

static void pci_cf8_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct pci_host *h = opaque;

	if (offset == 0 && len == 4)
		__atomic_store_n(&h->config_address, (uint32_t)data, __ATOMIC_RELAXED);
}

static const struct bus_ops pci_cf8_ops = {
	.read = pci_cf8_read,
	.write = pci_cf8_write,
};

/* Decodes the latch for a data-port access at CFC + offset; false when
 * config cycles are off or the access would leave the dword. */
static bool pci_cfc_target(struct pci_host *h, uint64_t offset, unsigned len, unsigned *bus,
			   unsigned *devfn, uint32_t *reg)
{
	uint32_t addr = __atomic_load_n(&h->config_address, __ATOMIC_RELAXED);

	if (!(addr & PCI_CF8_ENABLE) || len > 4 || offset + len > 4)
		return false;
	*bus = (addr >> PCI_CF8_BUS_SHIFT) & 0xff;
	*devfn = (addr >> PCI_CF8_DEVFN_SHIFT) & 0xff;
	*reg = (addr & PCI_CF8_REG_MASK) + (uint32_t)offset;
	return true;
}

static void pci_cfc_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct pci_host *h = opaque;
	unsigned bus, devfn;
	uint32_t reg;

	if (!pci_cfc_target(h, offset, len, &bus, &devfn, &reg)) {
		*data = pci_all_ones(len);
		return;
	}
	*data = pci_host_config_read(h, bus, devfn, reg, len);
}

static void pci_cfc_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct pci_host *h = opaque;
	unsigned bus, devfn;
	uint32_t reg;

	if (pci_cfc_target(h, offset, len, &bus, &devfn, &reg))
		pci_host_config_write(h, bus, devfn, reg, (uint32_t)data, len);
}

static const struct bus_ops pci_cfc_ops = {
	.read = pci_cfc_read,
	.write = pci_cfc_write,
};

/* ---- ECAM ---- */

/* An 8-byte access is two dword config accesses, low first (what a CPU's
 * split MMIO would produce); it must be dword aligned. */
static void pci_ecam_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct pci_host *h = opaque;
	unsigned bus = (unsigned)(offset >> PCI_ECAM_BUS_SHIFT);
	unsigned devfn = (unsigned)(offset >> PCI_ECAM_DEVFN_SHIFT) & 0xff;
	uint32_t reg = (uint32_t)offset & PCI_ECAM_REG_MASK;

	if (len == 8) {
		if (reg & 3) {
			*data = ~0ull;
			return;
		}
		*data = pci_host_config_read(h, bus, devfn, reg, 4) |
			pci_host_config_read(h, bus, devfn, reg + 4, 4) << 32;
		return;
	}
	*data = pci_host_config_read(h, bus, devfn, reg, len);
}

static void pci_ecam_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct pci_host *h = opaque;
	unsigned bus = (unsigned)(offset >> PCI_ECAM_BUS_SHIFT);
	unsigned devfn = (unsigned)(offset >> PCI_ECAM_DEVFN_SHIFT) & 0xff;
	uint32_t reg = (uint32_t)offset & PCI_ECAM_REG_MASK;

	if (len == 8) {
		if (reg & 3)
			return;
		pci_host_config_write(h, bus, devfn, reg, (uint32_t)data, 4);
		pci_host_config_write(h, bus, devfn, reg + 4, (uint32_t)(data >> 32), 4);
		return;
	}
	pci_host_config_write(h, bus, devfn, reg, (uint32_t)data, len);
}

static const struct bus_ops pci_ecam_ops = {
	.read = pci_ecam_read,
	.write = pci_ecam_write,
};

/* ---- Plugging ---- */

/* Function 0 of a slot with more than one function says so in its header
 * type (PCI 3.0 6.2.1), or software scanning the slot stops at it. */
static void pci_host_update_multifunction(struct pci_host *h, unsigned slot)
{
	unsigned present = 0;

	for (unsigned fn = 0; fn < 8; fn++)
		present += h->devs[PCI_DEVFN(slot, fn)] != NULL;
	for (unsigned fn = 0; fn < 8; fn++) {
		struct pci_device *d = h->devs[PCI_DEVFN(slot, fn)];

		if (!d)
			continue;
		pthread_mutex_lock(&d->lock);
		if (present > 1)
			d->config[PCI_HEADER_TYPE] |= PCI_HEADER_MULTI_FUNCTION;
		else
			d->config[PCI_HEADER_TYPE] &= (uint8_t)~PCI_HEADER_MULTI_FUNCTION;
		pthread_mutex_unlock(&d->lock);
	}
}

/* Slot s pin p (1 = INTA) -> controller pin base + ((s + p - 1) & 3): the
 * standard swizzle, which the DSDT's _PRT declares the same way. */
static unsigned pci_host_intx_pin(const struct pci_host *h, uint8_t devfn, uint8_t pin)
{
	return h->intx_gsi_base.pin + (((unsigned)(devfn >> 3) + pin - 1) & 3);
}

int pci_host_plug(struct pci_host *h, struct pci_device *d, uint8_t devfn)
{
	uint8_t pin = d->config[PCI_INTERRUPT_PIN];
	struct irq_line intx = h->intx_gsi_base;
	int ret = 0;

	if ((devfn == 0) != (d == &h->bridge))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (h->devs[devfn] || d->host) {
		ret = -EEXIST;
		goto out;
	}
	intx.pin = pci_host_intx_pin(h, devfn, pin);
	pci_device_attach(d, h, devfn, pin ? &intx : NULL);
	__atomic_store_n(&h->devs[devfn], d, __ATOMIC_RELEASE);
	pci_host_update_multifunction(h, devfn >> 3);
out:
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void pci_host_unplug(struct pci_host *h, struct pci_device *d)
{
	pthread_mutex_lock(&h->lock);
	if (h->devs[d->devfn] == d) {
		__atomic_store_n(&h->devs[d->devfn], NULL, __ATOMIC_RELEASE);
		pci_host_update_multifunction(h, d->devfn >> 3);
	}
	pthread_mutex_unlock(&h->lock);
}

/* ---- Lifecycle ---- */

int pci_host_init(struct pci_host *h, struct bus *pio, struct bus *mmio, uint64_t ecam_base,
		  uint64_t ecam_size, const struct msi_sink *msi, const struct irq_line *intx,
		  const struct pci_host_ops *ops, void *opaque)
{
	static const struct pci_device_id bridge_id = {
		.vendor = PCI_VENDOR_ID_INTEL, .device = PCI_DEVICE_ID_Q35_MCH,
		.subsys_vendor = PCI_VENDOR_ID_WARDEN, .class_code = PCI_CLASS_BRIDGE_HOST,
	};
	int ret;

	memset(h, 0, sizeof(*h));
	/* Whole buses of 1 MiB each, and no more than 256 of them. */
	if (!pio || !mmio || !ecam_size || ecam_size % (1ull << PCI_ECAM_BUS_SHIFT) ||
	    ecam_size > 256ull << PCI_ECAM_BUS_SHIFT || ecam_base % (1ull << PCI_ECAM_BUS_SHIFT))
		return -EINVAL;
	ret = -pthread_mutex_init(&h->lock, NULL);
	if (ret < 0)
		return ret;
	h->pio = pio;
	h->mmio = mmio;
	h->ecam_base = ecam_base;
	h->ecam_size = ecam_size;
	h->msi = msi;
	h->ops = ops;
	h->opaque = opaque;
	if (intx)
		h->intx_gsi_base = *intx;

	ret = bus_register(pio, PCI_HOST_CONFIG_ADDRESS, PCI_HOST_PORT_LEN, &pci_cf8_ops, h,
			   "pci-cf8");
	if (ret < 0)
		goto err_lock;
	ret = bus_register(pio, PCI_HOST_CONFIG_DATA, PCI_HOST_PORT_LEN, &pci_cfc_ops, h, "pci-cfc");
	if (ret < 0)
		goto err_cf8;
	ret = bus_register(mmio, ecam_base, ecam_size, &pci_ecam_ops, h, "pci-ecam");
	if (ret < 0)
		goto err_cfc;
	ret = pci_device_init(&h->bridge, "q35-host", &bridge_id, NULL, NULL);
	if (ret < 0)
		goto err_ecam;
	ret = pci_host_plug(h, &h->bridge, PCI_DEVFN(0, 0));
	if (ret < 0)
		goto err_bridge;
	return 0;

err_bridge:
	pci_device_destroy(&h->bridge);
err_ecam:
	bus_unregister(mmio, ecam_base, h);
err_cfc:
	bus_unregister(pio, PCI_HOST_CONFIG_DATA, h);
err_cf8:
	bus_unregister(pio, PCI_HOST_CONFIG_ADDRESS, h);
err_lock:
	pthread_mutex_destroy(&h->lock);
	log_error("pci: host bridge (ECAM 0x%llx +0x%llx): %s", (unsigned long long)ecam_base,
		  (unsigned long long)ecam_size, strerror(-ret));
	memset(h, 0, sizeof(*h));
	return ret;
}

void pci_host_reset(struct pci_host *h)
{
	__atomic_store_n(&h->config_address, 0, __ATOMIC_RELAXED);
	for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
		struct pci_device *d = pci_host_find(h, 0, devfn);

		if (d)
			pci_device_reset(d);
	}
}

/* Devices still plugged are detached (their BARs leave the buses), so
 * destroying them afterwards is safe; destroying them first is the
 * expected order. */
void pci_host_destroy(struct pci_host *h)
{
	if (!h->pio)
		return;
	pci_device_destroy(&h->bridge);
	for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
		struct pci_device *d = h->devs[devfn];

		if (!d)
			continue;
		__atomic_store_n(&h->devs[devfn], NULL, __ATOMIC_RELEASE);
		pci_device_detach(d);
	}
	bus_unregister(h->mmio, h->ecam_base, h);
	bus_unregister(h->pio, PCI_HOST_CONFIG_DATA, h);
	bus_unregister(h->pio, PCI_HOST_CONFIG_ADDRESS, h);
	pthread_mutex_destroy(&h->lock);
	memset(h, 0, sizeof(*h));
}

/* ---- Firmware-like resource assignment ---- */

struct pci_alloc_req {
	struct pci_device *d;
	unsigned bar;
	uint64_t size;
	bool io, below4g;
};

/* Largest first; among equals, devfn then BAR order, so the layout is the
 * same on every run. */
static int pci_alloc_req_cmp(const void *a, const void *b)
{
	const struct pci_alloc_req *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	if (x->d->devfn != y->d->devfn)
		return x->d->devfn < y->d->devfn ? -1 : 1;
	return x->bar < y->bar ? -1 : x->bar > y->bar;
}

/* Natural alignment from a bump pointer; 0 and *addr, or -ENOSPC. */
static int pci_window_take(uint64_t *next, uint64_t end, uint64_t size, uint64_t *addr)
{
	uint64_t a = (*next + size - 1) & ~(size - 1);

	if (a < *next || a > end || end - a < size)
		return -ENOSPC;
	*addr = a;
	*next = a + size;
	return 0;
}

static void pci_write_bar(struct pci_device *d, unsigned i, uint64_t addr)
{
	uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * i;

	pci_config_write(d, reg, (uint32_t)addr, 4);
	if (d->bars[i].kind == PCI_BAR_MEM64)
		pci_config_write(d, reg + 4, (uint32_t)(addr >> 32), 4);
}

int pci_host_assign_resources(struct pci_host *h, uint64_t mmio32_base, uint64_t mmio32_end,
			      uint64_t mmio64_base, uint64_t mmio64_end, uint32_t io_base,
			      uint32_t io_end)
{
	bool have64 = mmio64_end > mmio64_base;
	struct pci_alloc_req *reqs;
	unsigned n = 0;
	int ret = 0;

	reqs = calloc(PCI_MAX_DEVFN * PCI_NUM_BARS, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	h->mmio32_next = mmio32_base;
	h->mmio32_end = mmio32_end;
	h->mmio64_next = mmio64_base;
	h->mmio64_end = mmio64_end;
	h->io_next = io_base;
	h->io_end = io_end;
	for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
		struct pci_device *d = h->devs[devfn];
		uint16_t cmd;

		if (!d)
			continue;
		/* As firmware: decode off while BARs are programmed, so no
		 * half-written address ever decodes. */
		cmd = (uint16_t)pci_config_read(d, PCI_COMMAND, 2);
		pci_config_write(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY), 2);
		for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
			struct pci_bar *bar = &d->bars[i];

			if (bar->kind == PCI_BAR_UNUSED)
				continue;
			reqs[n++] = (struct pci_alloc_req){
				.d = d, .bar = i, .size = bar->size, .io = bar->kind == PCI_BAR_IO,
				.below4g = bar->kind != PCI_BAR_MEM64 || !have64,
			};
		}
	}
	qsort(reqs, n, sizeof(*reqs), pci_alloc_req_cmp);
	for (unsigned r = 0; r < n; r++) {
		struct pci_alloc_req *q = &reqs[r];
		uint64_t addr, io_next = h->io_next;

		if (q->io) {
			ret = pci_window_take(&io_next, io_end, q->size, &addr);
			h->io_next = (uint32_t)io_next;
		} else if (q->below4g) {
			ret = pci_window_take(&h->mmio32_next, mmio32_end, q->size, &addr);
		} else {
			ret = pci_window_take(&h->mmio64_next, mmio64_end, q->size, &addr);
		}
		if (ret < 0) {
			log_error("pci: no room for %s " PCI_BDF_FMT " BAR%u (%s, 0x%llx bytes)",
				  q->d->name, PCI_BDF_ARGS(q->d->bdf), q->bar,
				  q->io ? "io" : q->below4g ? "mem32" : "mem64",
				  (unsigned long long)q->size);
			goto out;
		}
		pci_write_bar(q->d, q->bar, addr);
	}
	for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
		struct pci_device *d = h->devs[devfn];
		uint8_t pin;
		uint16_t cmd;

		if (!d)
			continue;
		pin = (uint8_t)pci_config_read(d, PCI_INTERRUPT_PIN, 1);
		if (pin)
			pci_config_write(d, PCI_INTERRUPT_LINE, pci_host_intx_pin(h, d->devfn, pin), 1);
		/* Decode on; bus mastering is the OS driver's to enable. */
		cmd = (uint16_t)pci_config_read(d, PCI_COMMAND, 2);
		pci_config_write(d, PCI_COMMAND, cmd | PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	}
out:
	pthread_mutex_unlock(&h->lock);
	free(reqs);
	return ret;
}
