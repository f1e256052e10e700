/* PCI core and host bridge: config-space masks and read-only fields, BAR
 * sizing (32/64-bit, IO), decode on/off and relocation on real buses,
 * overlap refusal, capability list, the Bus Master Enable gate on a real
 * direct DMA address space, CF8/CFC and ECAM reaching the same function,
 * absent functions, INTx swizzle, the Q35 host bridge, firmware-like
 * resource assignment, exit-free windows, ioeventfd windows following
 * decode and relocation, reset and teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "pci/pci.h"
#include "iommu/dma.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define ECAM_BASE 0xb0000000ull
#define ECAM_SIZE 0x10000000ull
#define GSI_BASE  16

/* ---- Fakes where hardware would be ---- */

struct fake_bar_dev {
	uint64_t last_off, last_data;
	unsigned last_len, reads, writes;
};

static void fake_bar_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct fake_bar_dev *f = opaque;

	f->reads++;
	f->last_off = off;
	f->last_len = len;
	*data = 0xab00 + off;
}

static void fake_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct fake_bar_dev *f = opaque;

	f->writes++;
	f->last_off = off;
	f->last_data = data;
	f->last_len = len;
}

static const struct bus_ops fake_bar_ops = { fake_bar_read, fake_bar_write };

#define MAX_EVENTS 32

struct host_log {
	unsigned maps, unmaps;
	uint64_t map_gpa, map_size;
	unsigned map_bar;
	void *map_host;
	int map_ret;
	int irq_level[64];
	unsigned irq_calls;
	unsigned cfg_writes;
	uint32_t cfg_last_off;
	unsigned resets;
};

static struct host_log hl;

static int fake_map_direct(void *opaque, struct pci_device *d, unsigned bar, uint64_t gpa,
			   uint64_t size, void *host)
{
	hl.maps++;
	hl.map_gpa = gpa;
	hl.map_size = size;
	hl.map_bar = bar;
	hl.map_host = host;
	return hl.map_ret;
}

static void fake_unmap_direct(void *opaque, struct pci_device *d, unsigned bar)
{
	hl.unmaps++;
}

struct ioeventfd_call {
	uint64_t gpa;
	unsigned len;
	int fd;
	bool assign;
};

#define MAX_IOEVENTFD_CALLS 64

static struct {
	struct ioeventfd_call calls[MAX_IOEVENTFD_CALLS];
	unsigned n;
	int ret;                        /* what the next assign returns */
	unsigned live;                  /* assigned minus deassigned */
} iel;

static int fake_ioeventfd(void *opaque, struct pci_device *d, uint64_t gpa, unsigned len, int fd,
			  bool assign)
{
	assert_true(iel.n < MAX_IOEVENTFD_CALLS);
	iel.calls[iel.n++] = (struct ioeventfd_call){ gpa, len, fd, assign };
	if (assign && iel.ret)
		return iel.ret;
	if (assign)
		iel.live++;
	else
		iel.live--;
	return 0;
}

static const struct pci_host_ops fake_host_ops = {
	.map_direct = fake_map_direct,
	.unmap_direct = fake_unmap_direct,
	.ioeventfd = fake_ioeventfd,
};

static void fake_irq_set(void *opaque, unsigned pin, int level)
{
	if (pin < 64)
		hl.irq_level[pin] = level;
	hl.irq_calls++;
}

static void dev_config_write(struct pci_device *d, uint32_t off, uint32_t val, unsigned len)
{
	hl.cfg_writes++;
	hl.cfg_last_off = off;
}

static void dev_reset(struct pci_device *d)
{
	hl.resets++;
}

static const struct pci_device_ops dev_ops = {
	.config_write = dev_config_write,
	.reset = dev_reset,
};

/* ---- Fixture: buses, host bridge, one test device ---- */

struct fx {
	struct bus pio, mmio;
	struct pci_host host;
	struct pci_device dev;
	struct fake_bar_dev bar0, bar2, bar4;
};

static struct fx *F;

static const struct pci_device_id test_id = {
	.vendor = PCI_VENDOR_ID_WARDEN, .device = 0x1234, .subsys_vendor = 0x5744,
	.subsys = 0x0042, .revision = 3, .class_code = 0x010802, .interrupt_pin = 1,
};

static int setup(void **state)
{
	struct irq_line intx = { .set = fake_irq_set, .pin = GSI_BASE };

	F = calloc(1, sizeof(*F));
	memset(&hl, 0, sizeof(hl));
	memset(&iel, 0, sizeof(iel));
	log_threshold = LOG_ERROR;
	assert_int_equal(bus_init(&F->pio, "pio"), 0);
	assert_int_equal(bus_init(&F->mmio, "mmio"), 0);
	assert_int_equal(pci_host_init(&F->host, &F->pio, &F->mmio, ECAM_BASE, ECAM_SIZE, NULL,
				       &intx, &fake_host_ops, NULL), 0);
	assert_int_equal(pci_device_init(&F->dev, "testdev", &test_id, &dev_ops, F), 0);
	/* BAR0: 16 KiB MEM32; BAR2-3: 64 KiB MEM64 prefetchable; BAR4: 32 bytes IO. */
	assert_int_equal(pci_device_add_bar(&F->dev, 0, PCI_BAR_MEM32, 0x4000, false,
					    &fake_bar_ops, &F->bar0), 0);
	assert_int_equal(pci_device_add_bar(&F->dev, 2, PCI_BAR_MEM64, 0x10000, true,
					    &fake_bar_ops, &F->bar2), 0);
	assert_int_equal(pci_device_add_bar(&F->dev, 4, PCI_BAR_IO, 32, false, &fake_bar_ops,
					    &F->bar4), 0);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	pci_device_destroy(&F->dev);
	pci_host_destroy(&F->host);
	/* Everything registered is gone again. */
	assert_int_equal(F->mmio.nr, 0);
	assert_int_equal(F->pio.nr, 0);
	bus_destroy(&F->mmio);
	bus_destroy(&F->pio);
	free(F);
	log_threshold = LOG_WARN;
	return 0;
}

static void plug(uint8_t devfn)
{
	assert_int_equal(pci_host_plug(&F->host, &F->dev, devfn), 0);
}

/* ---- Config access helpers through the two mechanisms ---- */

static uint32_t cf8_read(unsigned devfn, unsigned reg, unsigned len)
{
	uint64_t v;

	bus_write(&F->pio, 0xcf8, 0x80000000u | devfn << 8 | (reg & 0xfc), 4);
	bus_read(&F->pio, 0xcfc + (reg & 3), &v, len);
	return (uint32_t)v;
}

static void cf8_write(unsigned devfn, unsigned reg, uint32_t val, unsigned len)
{
	bus_write(&F->pio, 0xcf8, 0x80000000u | devfn << 8 | (reg & 0xfc), 4);
	bus_write(&F->pio, 0xcfc + (reg & 3), val, len);
}

static uint64_t ecam_addr(unsigned bus, unsigned devfn, unsigned reg)
{
	return ECAM_BASE + ((uint64_t)bus << 20 | devfn << 12 | reg);
}

static uint32_t ecam_read(unsigned devfn, unsigned reg, unsigned len)
{
	uint64_t v;

	assert_true(bus_read(&F->mmio, ecam_addr(0, devfn, reg), &v, len));
	return (uint32_t)v;
}

static void ecam_write(unsigned devfn, unsigned reg, uint32_t val, unsigned len)
{
	assert_true(bus_write(&F->mmio, ecam_addr(0, devfn, reg), val, len));
}

static bool mmio_live(uint64_t addr, struct fake_bar_dev *f)
{
	unsigned before = f->reads;
	uint64_t v;

	return bus_read(&F->mmio, addr, &v, 4) && f->reads == before + 1;
}

/* ---- Tests ---- */

static void test_host_bridge_ids(void **state)
{
	assert_int_equal(cf8_read(0, PCI_VENDOR_ID, 2), 0x8086);
	assert_int_equal(cf8_read(0, PCI_DEVICE_ID, 2), 0x29c0);
	assert_int_equal(cf8_read(0, PCI_VENDOR_ID, 4), 0x29c08086);
	assert_int_equal(cf8_read(0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(cf8_read(0, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(ecam_read(0, PCI_VENDOR_ID, 4), 0x29c08086);
	/* The ID is read-only. */
	cf8_write(0, PCI_VENDOR_ID, 0x12345678, 4);
	assert_int_equal(ecam_read(0, PCI_VENDOR_ID, 4), 0x29c08086);
	/* Only the host bridge may sit at 00:00.0. */
	assert_int_equal(pci_host_plug(&F->host, &F->dev, 0), -EINVAL);
}

static void test_absent_functions(void **state)
{
	uint64_t v;

	assert_int_equal(cf8_read(PCI_DEVFN(5, 0), PCI_VENDOR_ID, 4), 0xffffffff);
	assert_int_equal(cf8_read(PCI_DEVFN(5, 0), PCI_VENDOR_ID, 2), 0xffff);
	assert_int_equal(ecam_read(PCI_DEVFN(31, 7), 0x40, 1), 0xff);
	/* Other buses are empty. */
	assert_true(bus_read(&F->mmio, ecam_addr(1, 0, 0), &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_true(bus_read(&F->mmio, ecam_addr(255, 0, 0), &v, 8));
	assert_int_equal(v, ~0ull);
	bus_write(&F->pio, 0xcf8, 0x80010000u, 4);
	bus_read(&F->pio, 0xcfc, &v, 4);
	assert_int_equal(v, 0xffffffff);
	/* Enable bit clear: no config cycle. */
	bus_write(&F->pio, 0xcf8, 0x00000000u, 4);
	bus_read(&F->pio, 0xcfc, &v, 4);
	assert_int_equal(v, 0xffffffff);
	/* Writes to absent functions are dropped without harm. */
	ecam_write(PCI_DEVFN(5, 0), PCI_COMMAND, 0xffff, 2);
	cf8_write(PCI_DEVFN(6, 1), PCI_COMMAND, 0xffff, 2);
	assert_int_equal(cf8_read(PCI_DEVFN(5, 0), PCI_COMMAND, 2), 0xffff);
}

static void test_cf8_latch(void **state)
{
	uint64_t v;

	bus_write(&F->pio, 0xcf8, 0x80001234u, 4);
	bus_read(&F->pio, 0xcf8, &v, 4);
	assert_int_equal(v, 0x80001234u);
	/* Byte accesses (Linux's type-1 probe writes 0xcfb) leave it. */
	bus_write(&F->pio, 0xcfb, 0x01, 1);
	bus_read(&F->pio, 0xcf8, &v, 4);
	assert_int_equal(v, 0x80001234u);
	bus_read(&F->pio, 0xcf9, &v, 1);
	assert_int_equal(v, 0xff);
}

static void test_config_masks(void **state)
{
	struct pci_device *d = &F->dev;

	plug(PCI_DEVFN(3, 0));
	/* Identity as declared, and read-only. */
	assert_int_equal(pci_config_read(d, PCI_VENDOR_ID, 2), PCI_VENDOR_ID_WARDEN);
	assert_int_equal(pci_config_read(d, PCI_DEVICE_ID, 2), 0x1234);
	assert_int_equal(pci_config_read(d, PCI_REVISION_ID, 1), 3);
	assert_int_equal(pci_config_read(d, PCI_CLASS_PROG, 1), 0x02);
	assert_int_equal(pci_config_read(d, PCI_CLASS_DEVICE, 2), 0x0108);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x5744);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_ID, 2), 0x0042);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_PIN, 1), 1);
	pci_config_write(d, PCI_VENDOR_ID, 0xffffffff, 4);
	pci_config_write(d, PCI_REVISION_ID, 0xffffffff, 4);
	pci_config_write(d, PCI_HEADER_TYPE, 0xff, 1);
	pci_config_write(d, PCI_SUBSYSTEM_VENDOR_ID, 0xffffffff, 4);
	pci_config_write(d, PCI_INTERRUPT_PIN, 0x7, 1);
	assert_int_equal(pci_config_read(d, PCI_VENDOR_ID, 4), 0x12345744);
	assert_int_equal(pci_config_read(d, PCI_REVISION_ID, 4), 0x01080203);
	assert_int_equal(pci_config_read(d, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00425744);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_PIN, 1), 1);

	/* COMMAND: only IO, MEMORY, MASTER, INTX_DISABLE stick. */
	pci_config_write(d, PCI_COMMAND, 0xffff, 2);
	assert_int_equal(pci_config_read(d, PCI_COMMAND, 2), 0x0407);
	pci_config_write(d, PCI_COMMAND, 0, 2);
	assert_int_equal(pci_config_read(d, PCI_COMMAND, 2), 0);

	/* STATUS: error bits are write-1-to-clear, the rest read-only; no
	 * capabilities yet, so no CAP_LIST. */
	d->config[PCI_STATUS + 1] = 0xf9;   /* as if the device had set them */
	assert_int_equal(pci_config_read(d, PCI_STATUS, 2), 0xf900);
	pci_config_write(d, PCI_STATUS, 0x0800, 2);
	assert_int_equal(pci_config_read(d, PCI_STATUS, 2), 0xf100);
	pci_config_write(d, PCI_STATUS, 0xffff, 2);
	assert_int_equal(pci_config_read(d, PCI_STATUS, 2), 0);
	/* A dword write to COMMAND with zeros for STATUS clears nothing. */
	d->config[PCI_STATUS + 1] = 0x80;
	pci_config_write(d, PCI_COMMAND, 0x00000002, 4);
	assert_int_equal(pci_config_read(d, PCI_STATUS, 2), 0x8000);
	pci_config_write(d, PCI_COMMAND, 0, 2);

	/* Interrupt line and cache line size are plain read/write. */
	pci_config_write(d, PCI_INTERRUPT_LINE, 0x5a, 1);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_LINE, 1), 0x5a);
	pci_config_write(d, 0x0c, 0x10, 1);
	assert_int_equal(pci_config_read(d, 0x0c, 1), 0x10);

	/* Reserved space reads zero and ignores writes; no extended caps. */
	pci_config_write(d, 0x100, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, 0x100, 4), 0);
	pci_config_write(d, 0xffc, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, 0xffc, 4), 0);
	/* Bad shapes read all ones. */
	assert_int_equal(pci_config_read(d, 0x02, 4), 0xffffffff);
	assert_int_equal(pci_config_read(d, 0x03, 2), 0xffff);
	assert_int_equal(pci_config_read(d, 0x00, 3), 0xffffff);
	assert_int_equal(pci_config_read(d, 0x1000, 1), 0xff);
	/* The device hears about the writes the core applied. */
	assert_true(hl.cfg_writes > 0);
}

static void test_bar_sizing(void **state)
{
	struct pci_device *d = &F->dev;

	plug(PCI_DEVFN(3, 0));
	/* MEM32 16 KiB, non-prefetchable. */
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4), 0x0);
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4), 0xffffc000);
	/* Unused BAR1 reads 0 and stays 0. */
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 4, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 4, 4), 0);
	/* MEM64 64 KiB prefetchable: type bits 0xc, the high half is all
	 * address. */
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 8, 4), 0xc);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 8, 0xffffffff, 4);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 12, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 8, 4), 0xffff000c);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 12, 4), 0xffffffff);
	/* IO 32 bytes: bit 0 set. */
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 16, 4), 0x1);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 16, 4), 0xffffffe1);
	/* Restoring an address keeps the type bits. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0004000, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4), 0xc0004000);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0xc020, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 16, 4), 0xc021);
	/* Sized BARs with decode on are not placed at the all-ones address. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0xffffffff, 4);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_false(d->bars[0].mapped);
	assert_false(d->bars[2].mapped);
	assert_false(d->bars[4].mapped);
	assert_int_equal(F->mmio.nr, 1);   /* only ECAM */
}

static void test_bar_declaration_errors(void **state)
{
	struct pci_device d;
	struct fake_bar_dev f;

	assert_int_equal(pci_device_init(&d, "bad", &test_id, NULL, NULL), 0);
	assert_int_equal(pci_device_add_bar(&d, 6, PCI_BAR_MEM32, 4096, false, &fake_bar_ops, &f), -EINVAL);
	assert_int_equal(pci_device_add_bar(&d, 5, PCI_BAR_MEM64, 4096, false, &fake_bar_ops, &f), -EINVAL);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_MEM32, 3000, false, &fake_bar_ops, &f), -EINVAL);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_MEM32, 2048, false, &fake_bar_ops, &f), -EINVAL);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_IO, 512, false, &fake_bar_ops, &f), -EINVAL);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_IO, 16, true, &fake_bar_ops, &f), -EINVAL);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_MEM64, 8192, false, &fake_bar_ops, &f), 0);
	/* BAR1 is the upper half of BAR0. */
	assert_int_equal(pci_device_add_bar(&d, 1, PCI_BAR_MEM32, 4096, false, &fake_bar_ops, &f), -EEXIST);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_MEM32, 4096, false, &fake_bar_ops, &f), -EEXIST);
	assert_int_equal(pci_device_add_bar(&d, 2, PCI_BAR_MEM32, 4096, false, &fake_bar_ops, &f), 0);
	assert_int_equal(pci_device_add_bar(&d, 1, PCI_BAR_MEM64, 4096, false, &fake_bar_ops, &f), -EEXIST);
	/* Exit-free windows: page aligned, inside a memory BAR. */
	assert_int_equal(pci_bar_set_direct(&d, 0, 0, 4096, (void *)1), -EINVAL);
	assert_int_equal(pci_bar_set_direct(&d, 0, 4096, 8192, (void *)4096), -EINVAL);
	assert_int_equal(pci_bar_set_direct(&d, 0, 100, 4096, (void *)4096), -EINVAL);
	assert_int_equal(pci_bar_set_direct(&d, 3, 0, 4096, (void *)4096), -EINVAL);
	pci_device_destroy(&d);
}

static void test_bar_decode_registers(void **state)
{
	struct pci_device *d = &F->dev;
	struct bus_range r;
	uint64_t v;

	plug(PCI_DEVFN(3, 0));
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0, 0xc0010000, 4);
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0 + 8, 0x00000000, 4);
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0 + 12, 0x00000010, 4);
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0 + 16, 0xc040, 4);
	/* Decode off: nothing on the buses. */
	assert_false(bus_find(&F->mmio, 0xc0010000, &r));
	assert_false(bus_find(&F->mmio, 0x1000000000ull, &r));
	assert_false(bus_find(&F->pio, 0xc040, &r));

	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(bus_find(&F->mmio, 0xc0013fff, &r));
	assert_int_equal(r.base, 0xc0010000);
	assert_int_equal(r.len, 0x4000);
	assert_ptr_equal(r.opaque, &F->bar0);
	assert_true(d->bars[0].mapped);
	assert_int_equal(d->bars[0].addr, 0xc0010000);
	assert_true(bus_find(&F->mmio, 0x1000000000ull, &r));
	assert_int_equal(r.len, 0x10000);
	assert_false(bus_find(&F->pio, 0xc040, &r));   /* IO decode still off */

	/* Accesses arrive relative to the BAR. */
	assert_true(bus_write(&F->mmio, 0xc0010123, 0x77, 1));
	assert_int_equal(F->bar0.last_off, 0x123);
	assert_int_equal(F->bar0.last_data, 0x77);
	assert_true(bus_read(&F->mmio, 0x1000000008ull, &v, 8));
	assert_int_equal(F->bar2.last_off, 8);
	assert_int_equal(v, 0xab08);

	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_true(bus_find(&F->pio, 0xc05f, &r));
	assert_int_equal(r.base, 0xc040);
	assert_true(bus_read(&F->pio, 0xc044, &v, 2));
	assert_int_equal(F->bar4.last_off, 4);

	/* Memory decode off: the memory BARs leave, IO stays. */
	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_IO, 2);
	assert_false(bus_find(&F->mmio, 0xc0010000, &r));
	assert_false(bus_find(&F->mmio, 0x1000000000ull, &r));
	assert_false(d->bars[0].mapped);
	assert_true(bus_find(&F->pio, 0xc040, &r));
	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, 0, 2);
	assert_false(bus_find(&F->pio, 0xc040, &r));
	assert_int_equal(F->mmio.nr, 1);
	assert_int_equal(F->pio.nr, 2);     /* CF8 and CFC */
}

static void test_bar_invalid_addresses(void **state)
{
	struct pci_device *d = &F->dev;

	plug(PCI_DEVFN(3, 0));
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	/* Address 0 means unassigned. */
	assert_false(d->bars[0].mapped);
	assert_false(d->bars[4].mapped);
	/* IO above 64 KiB does not decode. */
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0x10000, 4);
	assert_false(d->bars[4].mapped);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0xffe0, 4);
	assert_true(d->bars[4].mapped);
	/* A MEM32 BAR ending at the last byte below 4 GiB is the sizing value. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffc000, 4);
	assert_false(d->bars[0].mapped);
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffff8000, 4);
	assert_true(d->bars[0].mapped);
	/* A 64-bit BAR beyond any physical address width. */
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 12, 0xfff00000, 4);
	assert_false(d->bars[2].mapped);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 8, 0x00010000, 4);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 12, 0x1, 4);
	assert_true(d->bars[2].mapped);
	assert_int_equal(d->bars[2].addr, 0x100010000ull);
}

static void test_bar_relocation(void **state)
{
	struct pci_device *d = &F->dev;
	struct bus_range r;
	uint64_t v;

	plug(PCI_DEVFN(3, 0));
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0, 0xc0010000, 4);
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0 + 16, 0xc040, 4);
	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_true(mmio_live(0xc0010000, &F->bar0));

	/* Moved while decoding, from inside the ECAM handler. */
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0, 0xd0000000, 4);
	assert_false(mmio_live(0xc0010000, &F->bar0));
	assert_false(bus_find(&F->mmio, 0xc0010000, &r));
	assert_true(mmio_live(0xd0000000, &F->bar0));
	assert_int_equal(F->bar0.last_off, 0);
	assert_int_equal(d->bars[0].addr, 0xd0000000);
	assert_true(d->bars[0].mapped);
	/* And through CF8/CFC, the IO BAR. */
	cf8_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0 + 16, 0xe000, 4);
	assert_false(bus_find(&F->pio, 0xc040, &r));
	assert_true(bus_read(&F->pio, 0xe01f, &v, 1));
	assert_int_equal(F->bar4.last_off, 0x1f);
	/* Byte writes move it too (high byte of the MEM32 BAR). */
	ecam_write(PCI_DEVFN(3, 0), PCI_BASE_ADDRESS_0 + 3, 0xe0, 1);
	assert_true(mmio_live(0xe0000000, &F->bar0));
	assert_false(mmio_live(0xd0000000, &F->bar0));
	assert_int_equal(F->mmio.nr, 2);
}

static void test_bar_overlap_refused(void **state)
{
	struct pci_device *d = &F->dev;
	struct fake_bar_dev other = { 0 };
	uint64_t errors;

	plug(PCI_DEVFN(3, 0));
	assert_int_equal(bus_register(&F->mmio, 0xc0020000, 0x1000, &fake_bar_ops, &other, "other"), 0);
	/* Programmed over another range, then decode on: left unmapped. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0020000, 4);
	errors = guest_error_count;
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_false(d->bars[0].mapped);
	assert_true(guest_error_count > errors);
	assert_true(mmio_live(0xc0020000, &other));     /* the other is untouched */
	/* Moved to free space: mapped. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0040000, 4);
	assert_true(d->bars[0].mapped);
	assert_true(mmio_live(0xc0040000, &F->bar0));
	/* Moved onto the other while mapped: nothing decodes at either place. */
	errors = guest_error_count;
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0020000, 4);
	assert_true(guest_error_count > errors);
	assert_false(d->bars[0].mapped);
	assert_false(mmio_live(0xc0040000, &F->bar0));
	assert_true(mmio_live(0xc0020000, &other));
	assert_int_equal(d->bars[0].addr, 0xc0020000);
	/* The other goes away; a decode toggle maps the BAR there. */
	assert_int_equal(bus_unregister(&F->mmio, 0xc0020000, &other), 0);
	pci_config_write(d, PCI_COMMAND, 0, 2);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(d->bars[0].mapped);
	assert_true(mmio_live(0xc0020000, &F->bar0));
	/* Two BARs of one device on top of each other: the second loses. */
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 8, 0xc0020000, 4);
	assert_false(d->bars[2].mapped);
	assert_true(mmio_live(0xc0020000, &F->bar0));
}

static void test_cap_list(void **state)
{
	struct pci_device *d = &F->dev;
	uint8_t body[6] = { 1, 2, 3, 4, 5, 6 }, vs, off, ids[8];
	unsigned n = 0;

	assert_int_equal(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	assert_int_equal(pci_device_add_pcie_cap(d), 0);
	assert_int_equal(pci_device_add_cap(d, 0x09, body, sizeof(body), &vs), 0);
	assert_int_equal(pci_device_add_msix(d, 4, 0, 0x1000, 0x2000), 0);
	plug(PCI_DEVFN(3, 0));
	assert_true(cf8_read(PCI_DEVFN(3, 0), PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);

	/* Walk it as a guest does: through the config mechanism. */
	off = (uint8_t)cf8_read(PCI_DEVFN(3, 0), PCI_CAPABILITY_LIST, 1);
	while (off && n < 8) {
		assert_true(off >= 0x40 && off % 4 == 0);
		ids[n++] = (uint8_t)ecam_read(PCI_DEVFN(3, 0), off, 1);
		off = (uint8_t)ecam_read(PCI_DEVFN(3, 0), off + 1, 1);
	}
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], PCI_CAP_ID_EXP);
	assert_int_equal(ids[1], 0x09);
	assert_int_equal(ids[2], PCI_CAP_ID_MSIX);
	assert_int_equal(vs, 0x7c);
	assert_int_equal(pci_config_read(d, vs + 2, 2), 0x0201);
	assert_int_equal(pci_config_read(d, vs + 4, 4), 0x06050403);
	/* Capability bodies start read-only. */
	pci_config_write(d, vs + 4, 0, 4);
	pci_config_write(d, vs, 0, 4);
	assert_int_equal(pci_config_read(d, vs + 4, 4), 0x06050403);
	assert_int_equal(pci_config_read(d, vs, 2), 0x8409);

	/* PCIe capability: version 2, Root Complex Integrated Endpoint. */
	off = (uint8_t)pci_config_read(d, PCI_CAPABILITY_LIST, 1);
	assert_int_equal(off, 0x40);
	assert_int_equal(pci_config_read(d, off + 2, 2), 0x0092);
	assert_true(pci_config_read(d, off + 4, 4) & 0x8000);          /* RBER */
	assert_int_equal(pci_config_read(d, off + 8, 2), 0x2810);      /* DevCtl defaults */
	pci_config_write(d, off + 8, 0xffff, 2);
	assert_int_equal(pci_config_read(d, off + 8, 2), 0x78ff);
	pci_config_write(d, off + 0x0c, 0xffffffff, 4);                /* no link */
	assert_int_equal(pci_config_read(d, off + 0x0c, 4), 0);
	d->config[off + 0x0a] = 0x0f;                                  /* errors seen */
	pci_config_write(d, off + 0x0a, 0x0005, 2);
	assert_int_equal(pci_config_read(d, off + 0x0a, 2), 0x000a);
	/* Nothing in extended space. */
	assert_int_equal(ecam_read(PCI_DEVFN(3, 0), 0x100, 4), 0);

	/* The list fills up at 0x100. */
	{
		uint8_t big[200] = { 0 };

		assert_int_equal(pci_device_add_cap(d, 0x09, big, sizeof(big), NULL), -ENOSPC);
	}
}

static void test_bus_master_gates_dma(void **state)
{
	struct pci_device *d = &F->dev;
	struct arena a;
	struct gmem g;
	struct dma_as as;
	uint8_t buf[64] = { 0x5a }, back[64];

	assert_int_equal(arena_init(&a, 128 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&g, &a, 1, 16 * MiB), 0);
	dma_as_init_direct(&as, &g, PCI_BDF(0, PCI_DEVFN(3, 0)));
	assert_int_equal(dma_write(&as, 0x1000, buf, sizeof(buf)), sizeof(buf));   /* gate open */

	plug(PCI_DEVFN(3, 0));
	pci_device_set_dma(d, &as);
	/* Power-on: BME off, DMA refused. */
	assert_false(pci_device_bus_master(d));
	assert_int_equal(dma_write(&as, 0x1000, buf, sizeof(buf)), -EPERM);
	assert_int_equal(dma_read(&as, 0x1000, back, sizeof(back)), -EPERM);
	/* Decode alone does not open it. */
	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(dma_write(&as, 0x1000, buf, sizeof(buf)), -EPERM);
	/* The guest sets BME. */
	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_true(pci_device_bus_master(d));
	assert_int_equal(dma_write(&as, 0x2000, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(dma_read(&as, 0x2000, back, sizeof(back)), sizeof(back));
	assert_memory_equal(buf, back, sizeof(buf));
	/* And clears it: closed again at once. */
	cf8_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_false(pci_device_bus_master(d));
	assert_int_equal(dma_write(&as, 0x2000, buf, sizeof(buf)), -EPERM);
	assert_true(as.stats.blocked >= 4);
	/* Reset closes it too. */
	ecam_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(dma_write(&as, 0x2000, buf, sizeof(buf)), sizeof(buf));
	pci_device_reset(d);
	assert_int_equal(dma_write(&as, 0x2000, buf, sizeof(buf)), -EPERM);

	pci_device_set_dma(d, NULL);
	gmem_destroy(&g);
	arena_destroy(&a);
}

static void test_ecam_and_cf8_same_device(void **state)
{
	uint64_t v;
	unsigned devfn = PCI_DEVFN(7, 0);

	plug(devfn);
	assert_int_equal(cf8_read(devfn, PCI_VENDOR_ID, 4), ecam_read(devfn, PCI_VENDOR_ID, 4));
	assert_int_equal(ecam_read(devfn, PCI_VENDOR_ID, 4), 0x12345744);
	/* Written one way, read the other, at every width and byte lane. */
	cf8_write(devfn, PCI_INTERRUPT_LINE, 0x21, 1);
	assert_int_equal(ecam_read(devfn, PCI_INTERRUPT_LINE, 1), 0x21);
	ecam_write(devfn, PCI_INTERRUPT_LINE, 0x42, 1);
	assert_int_equal(cf8_read(devfn, PCI_INTERRUPT_LINE, 1), 0x42);
	assert_int_equal(cf8_read(devfn, PCI_INTERRUPT_LINE, 2), 0x0142);
	assert_int_equal(cf8_read(devfn, PCI_DEVICE_ID, 2), 0x1234);     /* CFE */
	assert_int_equal(cf8_read(devfn, PCI_DEVICE_ID + 1, 1), 0x12);   /* CFF */
	ecam_write(devfn, PCI_BASE_ADDRESS_0, 0xc0100000, 4);
	assert_int_equal(cf8_read(devfn, PCI_BASE_ADDRESS_0, 4), 0xc0100000);
	/* A word that would leave the dword through CFF reads all ones. */
	bus_write(&F->pio, 0xcf8, 0x80000000u | devfn << 8, 4);
	bus_read(&F->pio, 0xcff, &v, 2);
	assert_int_equal(v, 0xffff);
	/* ECAM 8-byte access: two dwords. */
	assert_true(bus_read(&F->mmio, ecam_addr(0, devfn, 0), &v, 8));
	assert_int_equal(v, 0x0000000012345744ull | (uint64_t)ecam_read(devfn, 4, 4) << 32);
	assert_true(bus_write(&F->mmio, ecam_addr(0, devfn, PCI_BASE_ADDRESS_0 + 8),
			      0x00000001c0200000ull, 8));
	assert_int_equal(cf8_read(devfn, PCI_BASE_ADDRESS_0 + 8, 4), 0xc020000c);
	assert_int_equal(cf8_read(devfn, PCI_BASE_ADDRESS_0 + 12, 4), 0x1);
	/* Misaligned ECAM accesses read all ones. */
	assert_true(bus_read(&F->mmio, ecam_addr(0, devfn, 3), &v, 2));
	assert_int_equal(v, 0xffff);
	assert_true(bus_read(&F->mmio, ecam_addr(0, devfn, 2), &v, 8));
	assert_int_equal(v, ~0ull);
	/* CF8's extended register bits 27:24 are ignored. */
	bus_write(&F->pio, 0xcf8, 0x8f000000u | devfn << 8, 4);
	bus_read(&F->pio, 0xcfc, &v, 4);
	assert_int_equal(v, 0x12345744);
}

static void test_intx_routing(void **state)
{
	struct pci_device *d = &F->dev;
	struct pci_device d2;
	struct pci_device_id id2 = test_id;

	plug(PCI_DEVFN(3, 0));
	/* Slot 3, INTA: GSI 16 + ((3 + 1 - 1) & 3) = 19. */
	assert_int_equal(d->intx.pin, 19);
	pci_set_intx(d, 1);
	assert_int_equal(hl.irq_level[19], 1);
	assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* INTX_DISABLE drops the line but keeps the status. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	assert_int_equal(hl.irq_level[19], 0);
	assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_intx(d, 0);
	assert_false(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_intx(d, 1);
	assert_int_equal(hl.irq_level[19], 0);
	pci_config_write(d, PCI_COMMAND, 0, 2);
	assert_int_equal(hl.irq_level[19], 1);
	/* The status bit is read-only to the guest. */
	pci_config_write(d, PCI_STATUS, 0xffff, 2);
	assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_intx(d, 0);
	assert_int_equal(hl.irq_level[19], 0);

	/* Slot 5, INTB: 16 + ((5 + 2 - 1) & 3) = 18. */
	id2.interrupt_pin = 2;
	assert_int_equal(pci_device_init(&d2, "d2", &id2, NULL, NULL), 0);
	assert_int_equal(pci_host_plug(&F->host, &d2, PCI_DEVFN(5, 0)), 0);
	assert_int_equal(d2.intx.pin, 18);
	/* Resource assignment writes the GSI into INTERRUPT_LINE. */
	assert_int_equal(pci_host_assign_resources(&F->host, 0xc0000000, 0xfec00000, 0, 0, 0xc000,
						   0x10000), 0);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_LINE, 1), 19);
	assert_int_equal(pci_config_read(&d2, PCI_INTERRUPT_LINE, 1), 18);
	pci_set_intx(&d2, 1);
	assert_int_equal(hl.irq_level[18], 1);
	/* A device going away takes its asserted line down. */
	pci_device_destroy(&d2);
	assert_int_equal(hl.irq_level[18], 0);
	assert_int_equal(cf8_read(PCI_DEVFN(5, 0), 0, 4), 0xffffffff);
	/* Invalid pin numbers are refused at init. */
	id2.interrupt_pin = 5;
	assert_int_equal(pci_device_init(&d2, "d2", &id2, NULL, NULL), -EINVAL);
}

static void test_plug_rules(void **state)
{
	struct pci_device f1;

	plug(PCI_DEVFN(4, 0));
	assert_int_equal(pci_host_plug(&F->host, &F->dev, PCI_DEVFN(9, 0)), -EEXIST);
	assert_int_equal(F->dev.bdf, PCI_BDF(0, PCI_DEVFN(4, 0)));
	assert_int_equal(pci_config_read(&F->dev, PCI_HEADER_TYPE, 1), 0);
	/* A second function makes the slot multi-function. */
	assert_int_equal(pci_device_init(&f1, "fn1", &test_id, NULL, NULL), 0);
	assert_int_equal(pci_host_plug(&F->host, &f1, PCI_DEVFN(4, 0)), -EEXIST);
	assert_int_equal(pci_host_plug(&F->host, &f1, PCI_DEVFN(4, 1)), 0);
	assert_int_equal(cf8_read(PCI_DEVFN(4, 0), PCI_HEADER_TYPE, 1), 0x80);
	assert_int_equal(cf8_read(PCI_DEVFN(4, 1), PCI_HEADER_TYPE, 1), 0x80);
	assert_int_equal(f1.bdf, 0x21);
	pci_device_destroy(&f1);
	assert_int_equal(cf8_read(PCI_DEVFN(4, 0), PCI_HEADER_TYPE, 1), 0);
}

struct assign_dev {
	struct pci_device d;
	struct fake_bar_dev f;
};

static void check_aligned_in(struct pci_bar *b, uint64_t lo, uint64_t hi)
{
	assert_int_equal(b->addr % b->size, 0);
	assert_true(b->addr >= lo && b->addr + b->size <= hi);
	assert_true(b->mapped);
}

static void test_assign_resources(void **state)
{
	struct assign_dev *a = calloc(3, sizeof(*a));
	struct pci_device *d = &F->dev;

	/* The fixture device plus three more with mixed sizes. */
	plug(PCI_DEVFN(2, 0));
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(pci_device_init(&a[i].d, "assign", &test_id, NULL, NULL), 0);
		assert_int_equal(pci_device_add_bar(&a[i].d, 0, PCI_BAR_MEM32, 0x1000 << (4 * i),
						    false, &fake_bar_ops, &a[i].f), 0);
		assert_int_equal(pci_device_add_bar(&a[i].d, 1, PCI_BAR_IO, 4 << i, false,
						    &fake_bar_ops, &a[i].f), 0);
		assert_int_equal(pci_device_add_bar(&a[i].d, 2, PCI_BAR_MEM64, 0x100000, false,
						    &fake_bar_ops, &a[i].f), 0);
		assert_int_equal(pci_host_plug(&F->host, &a[i].d, PCI_DEVFN(10 + i, 0)), 0);
	}
	/* No 64-bit window: 64-bit BARs go below 4 GiB. */
	assert_int_equal(pci_host_assign_resources(&F->host, 0xc0000000, 0xfec00000, 0, 0, 0xc000,
						   0x10000), 0);
	check_aligned_in(&d->bars[0], 0xc0000000, 0xfec00000);
	check_aligned_in(&d->bars[2], 0xc0000000, 0xfec00000);
	check_aligned_in(&d->bars[4], 0xc000, 0x10000);
	for (unsigned i = 0; i < 3; i++) {
		uint16_t cmd = (uint16_t)pci_config_read(&a[i].d, PCI_COMMAND, 2);

		check_aligned_in(&a[i].d.bars[0], 0xc0000000, 0xfec00000);
		check_aligned_in(&a[i].d.bars[1], 0xc000, 0x10000);
		check_aligned_in(&a[i].d.bars[2], 0xc0000000, 0xfec00000);
		/* Decode on; bus mastering left to the driver. */
		assert_int_equal(cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_IO),
				 PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
		assert_int_equal(cmd & PCI_COMMAND_MASTER, 0);
	}
	/* Largest first (ties in devfn, then BAR order): the four 1 MiB
	 * BARs, then 64 KiB, 16 KiB, 4 KiB - packed with no gaps. */
	assert_int_equal(a[0].d.bars[2].addr, 0xc0000000);
	assert_int_equal(a[2].d.bars[0].addr, 0xc0200000);
	assert_int_equal(d->bars[2].addr, 0xc0400000);
	assert_int_equal(a[1].d.bars[0].addr, 0xc0410000);
	assert_int_equal(d->bars[0].addr, 0xc0420000);
	assert_int_equal(a[0].d.bars[0].addr, 0xc0424000);
	assert_false(pci_device_bus_master(d));
	/* Every BAR answers where it was put. */
	assert_true(mmio_live(a[2].d.bars[0].addr, &a[2].f));

	/* With a 64-bit window the 64-bit BARs go there, and again
	 * naturally aligned. */
	assert_int_equal(pci_host_assign_resources(&F->host, 0xc0000000, 0xfec00000,
						   0x8000000000ull, 0x10000000000ull, 0xc000,
						   0x10000), 0);
	check_aligned_in(&d->bars[2], 0x8000000000ull, 0x10000000000ull);
	for (unsigned i = 0; i < 3; i++)
		check_aligned_in(&a[i].d.bars[2], 0x8000000000ull, 0x10000000000ull);
	check_aligned_in(&a[2].d.bars[0], 0xc0000000, 0xfec00000);
	assert_int_equal(a[2].d.bars[0].addr, 0xc0000000);

	/* No room: -ENOSPC. */
	assert_int_equal(pci_host_assign_resources(&F->host, 0xc0000000, 0xc0010000, 0, 0, 0xc000,
						   0x10000), -ENOSPC);
	for (unsigned i = 0; i < 3; i++)
		pci_device_destroy(&a[i].d);
	free(a);
}

static void test_direct_window(void **state)
{
	struct pci_device *d = &F->dev;
	void *page = aligned_alloc(4096, 4096);
	struct pci_device_id id = test_id;
	struct pci_device d2;

	assert_int_equal(pci_bar_set_direct(d, 0, 0x1000, 0x1000, page), 0);
	plug(PCI_DEVFN(3, 0));
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0010000, 4);
	assert_int_equal(hl.maps, 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(hl.maps, 1);
	assert_int_equal(hl.map_gpa, 0xc0011000);
	assert_int_equal(hl.map_size, 0x1000);
	assert_int_equal(hl.map_bar, 0);
	assert_ptr_equal(hl.map_host, page);
	assert_true(d->bars[0].direct_mapped);
	/* Relocation: unmapped, then mapped at the new place. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0020000, 4);
	assert_int_equal(hl.unmaps, 1);
	assert_int_equal(hl.maps, 2);
	assert_int_equal(hl.map_gpa, 0xc0021000);
	/* Rewriting the same address changes nothing. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0020000, 4);
	assert_int_equal(hl.maps, 2);
	/* IO decode toggles do not touch a memory BAR. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(hl.maps, 2);
	assert_int_equal(hl.unmaps, 1);
	/* Decode off: unmapped. */
	pci_config_write(d, PCI_COMMAND, 0, 2);
	assert_int_equal(hl.unmaps, 2);
	assert_false(d->bars[0].direct_mapped);
	/* The host refusing the window (guest put it over RAM): it traps. */
	hl.map_ret = -EEXIST;
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(hl.maps, 3);
	assert_false(d->bars[0].direct_mapped);
	assert_true(d->bars[0].mapped);
	pci_config_write(d, PCI_COMMAND, 0, 2);
	assert_int_equal(hl.unmaps, 2);      /* nothing owed */
	hl.map_ret = 0;
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(hl.maps, 4);
	/* Destroy gives it back. */
	pci_device_destroy(d);
	assert_int_equal(hl.unmaps, 3);
	assert_int_equal(F->mmio.nr, 1);
	assert_int_equal(pci_device_init(d, "testdev", &test_id, NULL, NULL), 0);  /* for teardown */

	/* A whole BAR as a window, without trapped ops, still claims its
	 * range and reads all ones elsewhere. */
	id.device = 0x9999;
	assert_int_equal(pci_device_init(&d2, "direct", &id, NULL, NULL), 0);
	assert_int_equal(pci_device_add_bar(&d2, 0, PCI_BAR_MEM32, 0x2000, false, NULL, NULL), 0);
	assert_int_equal(pci_bar_set_direct(&d2, 0, 0, 0x1000, page), 0);
	assert_int_equal(pci_host_plug(&F->host, &d2, PCI_DEVFN(6, 0)), 0);
	pci_config_write(&d2, PCI_BASE_ADDRESS_0, 0xc0100000, 4);
	pci_config_write(&d2, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	{
		uint64_t v;

		assert_true(bus_read(&F->mmio, 0xc0101000, &v, 4));
		assert_int_equal(v, 0xffffffff);
	}
	assert_int_equal(hl.map_gpa, 0xc0100000);
	pci_device_destroy(&d2);
	free(page);
}

/* Finds the call at position i and checks it. */
static void expect_ioeventfd(unsigned i, uint64_t gpa, unsigned len, int fd, bool assign)
{
	assert_true(i < iel.n);
	assert_int_equal(iel.calls[i].gpa, gpa);
	assert_int_equal(iel.calls[i].len, len);
	assert_int_equal(iel.calls[i].fd, fd);
	assert_int_equal(iel.calls[i].assign, assign);
}

static void test_ioeventfd_declaration(void **state)
{
	struct pci_device *d = &F->dev;
	void *page = aligned_alloc(4096, 4096);

	assert_int_equal(pci_bar_add_ioeventfd(d, 6, 0, 0, 5), -EINVAL);
	assert_int_equal(pci_bar_add_ioeventfd(d, 1, 0, 0, 5), -EINVAL);      /* unused */
	assert_int_equal(pci_bar_add_ioeventfd(d, 3, 0, 0, 5), -EINVAL);      /* MEM64 high half */
	assert_int_equal(pci_bar_add_ioeventfd(d, 4, 0, 0, 5), -EINVAL);      /* IO BAR */
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0, 0, -1), -EINVAL);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0, 3, 5), -EINVAL);      /* odd size */
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 2, 4, 5), -EINVAL);      /* misaligned */
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x4000, 0, 5), -EINVAL); /* past the end */
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3ffc, 8, 5), -EINVAL);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3ff8, 8, 5), 0);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3ffc, 2, 6), -EEXIST);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3ff8, 0, 6), -EEXIST);
	/* Not over an exit-free window, and a window not over them. */
	assert_int_equal(pci_bar_set_direct(d, 0, 0x1000, 0x1000, page), 0);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x1800, 4, 6), -EINVAL);
	assert_int_equal(pci_bar_set_direct(d, 0, 0x3000, 0x1000, page), -EINVAL);
	/* Sixteen per BAR. */
	for (unsigned i = 1; i < PCI_BAR_MAX_IOEVENTFDS; i++)
		assert_int_equal(pci_bar_add_ioeventfd(d, 0, 4 * i, 0, 10 + (int)i), 0);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x200, 0, 40), -ENOSPC);
	assert_int_equal(d->bars[0].nr_ioeventfds, PCI_BAR_MAX_IOEVENTFDS);
	/* Nothing is assigned before the BAR decodes. */
	assert_int_equal(iel.n, 0);
	free(page);
}

static void test_ioeventfd_follow_bar(void **state)
{
	struct pci_device *d = &F->dev;

	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3000, 0, 7), 0);
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3004, 2, 8), 0);
	plug(PCI_DEVFN(3, 0));
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0010000, 4);
	assert_int_equal(iel.n, 0);                     /* decode still off */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(iel.n, 2);
	expect_ioeventfd(0, 0xc0013000, 0, 7, true);
	expect_ioeventfd(1, 0xc0013004, 2, 8, true);
	assert_true(d->bars[0].ioeventfds[0].assigned);
	assert_int_equal(d->bars[0].ioeventfds[0].gpa, 0xc0013000);
	/* A window added while the BAR decodes is assigned at once. */
	assert_int_equal(pci_bar_add_ioeventfd(d, 0, 0x3008, 4, 9), 0);
	assert_int_equal(iel.n, 3);
	expect_ioeventfd(2, 0xc0013008, 4, 9, true);
	/* Relocation: each leaves the old address, then takes the new one. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0020000, 4);
	assert_int_equal(iel.n, 9);
	expect_ioeventfd(3, 0xc0013000, 0, 7, false);
	expect_ioeventfd(4, 0xc0013004, 2, 8, false);
	expect_ioeventfd(5, 0xc0013008, 4, 9, false);
	expect_ioeventfd(6, 0xc0023000, 0, 7, true);
	expect_ioeventfd(7, 0xc0023004, 2, 8, true);
	expect_ioeventfd(8, 0xc0023008, 4, 9, true);
	assert_int_equal(iel.live, 3);
	/* The same address again, or an IO decode toggle: nothing. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0020000, 4);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(iel.n, 9);
	/* Decode off: all deassigned. A write still reaches the BAR's ops
	 * (here the fake's, which records it) once decode is back. */
	pci_config_write(d, PCI_COMMAND, 0, 2);
	assert_int_equal(iel.n, 12);
	expect_ioeventfd(9, 0xc0023000, 0, 7, false);
	assert_int_equal(iel.live, 0);
	assert_false(d->bars[0].ioeventfds[1].assigned);
	/* An invalid address (a sizing write) takes them away too. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(iel.live, 3);
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(iel.live, 0);
	assert_false(d->bars[0].mapped);
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0030000, 4);
	assert_int_equal(iel.live, 3);
	expect_ioeventfd(iel.n - 1, 0xc0033008, 4, 9, true);
	/* Reset: decode off, everything deassigned. */
	pci_device_reset(d);
	assert_int_equal(iel.live, 0);
	for (unsigned i = 0; i < 3; i++)
		assert_false(d->bars[0].ioeventfds[i].assigned);
}

static void test_ioeventfd_mem64_refused_destroy(void **state)
{
	struct pci_device *d = &F->dev;
	unsigned n;

	assert_int_equal(pci_bar_add_ioeventfd(d, 2, 0x100, 4, 11), 0);
	plug(PCI_DEVFN(3, 0));
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 8, 0x00000000, 4);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 12, 0x1, 4);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(iel.n, 1);
	expect_ioeventfd(0, 0x100000100ull, 4, 11, true);
	/* Moving the high dword moves the window. */
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 12, 0x2, 4);
	expect_ioeventfd(1, 0x100000100ull, 4, 11, false);
	expect_ioeventfd(2, 0x200000100ull, 4, 11, true);
	/* The host refuses (no room for another ioeventfd): it traps, and
	 * nothing is owed when decode goes off. */
	pci_config_write(d, PCI_COMMAND, 0, 2);
	iel.ret = -ENOSPC;
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(d->bars[2].mapped);
	assert_false(d->bars[2].ioeventfds[0].assigned);
	n = iel.n;
	pci_config_write(d, PCI_COMMAND, 0, 2);
	assert_int_equal(iel.n, n);
	/* The next time decode comes on, it is tried again. */
	iel.ret = 0;
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(d->bars[2].ioeventfds[0].assigned);
	assert_int_equal(iel.live, 1);
	/* Destroy deassigns. */
	pci_device_destroy(d);
	assert_int_equal(iel.live, 0);
	expect_ioeventfd(iel.n - 1, 0x200000100ull, 4, 11, false);
	assert_int_equal(pci_device_init(d, "testdev", &test_id, NULL, NULL), 0);  /* for teardown */
}

static void test_reset(void **state)
{
	struct pci_device *d = &F->dev;

	plug(PCI_DEVFN(3, 0));
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0010000, 4);
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0xc041, 4);
	pci_config_write(d, PCI_INTERRUPT_LINE, 19, 1);
	pci_config_write(d, PCI_COMMAND, 0x0407, 2);
	pci_set_intx(d, 1);
	pci_config_write(d, PCI_COMMAND, 0x0007, 2);
	assert_int_equal(hl.irq_level[19], 1);
	assert_true(d->bars[0].mapped);
	pci_host_reset(&F->host);
	assert_int_equal(hl.resets, 1);
	assert_int_equal(pci_config_read(d, PCI_COMMAND, 2), 0);
	assert_int_equal(pci_config_read(d, PCI_STATUS, 2), 0);
	assert_int_equal(hl.irq_level[19], 0);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4), 0);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 8, 4), 0xc);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 16, 4), 0x1);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_LINE, 1), 0);
	assert_false(d->bars[0].mapped);
	assert_false(d->bars[4].mapped);
	assert_int_equal(F->mmio.nr, 1);
	/* The identity survives. */
	assert_int_equal(cf8_read(PCI_DEVFN(3, 0), 0, 4), 0x12345744);
	assert_int_equal(cf8_read(0, 0, 4), 0x29c08086);
}

static void test_host_init_errors(void **state)
{
	struct pci_host h2;
	struct bus pio, mmio;

	assert_int_equal(bus_init(&pio, "pio2"), 0);
	assert_int_equal(bus_init(&mmio, "mmio2"), 0);
	assert_int_equal(pci_host_init(&h2, &pio, &mmio, ECAM_BASE, 12345, NULL, NULL, NULL, NULL),
			 -EINVAL);
	assert_int_equal(pci_host_init(&h2, &pio, &mmio, ECAM_BASE + 4096, MiB, NULL, NULL, NULL,
				       NULL), -EINVAL);
	/* The ports already taken: refused, nothing left behind. */
	assert_int_equal(pci_host_init(&h2, &F->pio, &mmio, ECAM_BASE, ECAM_SIZE, NULL, NULL, NULL,
				       NULL), -EEXIST);
	assert_int_equal(mmio.nr, 0);
	/* A small ECAM (16 buses) is fine; bus 16 is outside it. */
	assert_int_equal(pci_host_init(&h2, &pio, &mmio, ECAM_BASE, 16 * MiB, NULL, NULL, NULL,
				       NULL), 0);
	{
		uint64_t v;

		assert_true(bus_read(&mmio, ECAM_BASE, &v, 4));
		assert_int_equal(v, 0x29c08086);
		assert_false(bus_read(&mmio, ECAM_BASE + 16 * MiB, &v, 4));
	}
	pci_host_destroy(&h2);
	assert_int_equal(pio.nr, 0);
	assert_int_equal(mmio.nr, 0);
	pci_host_destroy(&h2);   /* twice is harmless */
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static void test_host_destroy_detaches(void **state)
{
	struct pci_device *d = &F->dev;

	plug(PCI_DEVFN(3, 0));
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xc0010000, 4);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(F->mmio.nr, 2);
	/* Host first: the device's BAR leaves with it, and destroying the
	 * device later touches nothing freed. */
	pci_host_destroy(&F->host);
	assert_int_equal(F->mmio.nr, 0);
	assert_int_equal(F->pio.nr, 0);
	assert_null(d->host);
	{
		struct irq_line intx = { .set = fake_irq_set, .pin = GSI_BASE };

		assert_int_equal(pci_host_init(&F->host, &F->pio, &F->mmio, ECAM_BASE, ECAM_SIZE,
					       NULL, &intx, &fake_host_ops, NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_bridge_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_functions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cf8_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_declaration_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_decode_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_invalid_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_relocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_gates_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecam_and_cf8_same_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plug_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assign_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfd_declaration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfd_follow_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfd_mem64_refused_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_init_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_destroy_detaches, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
