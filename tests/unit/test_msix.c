/* MSI-X in the PCI core: the capability, vector table accesses (32/64-bit)
 * through the device's BAR, masks, the PBA with delivery on unmask, the
 * function mask and enable bit, irqfd delivery, msix_vector_changed
 * callbacks, the requester id handed to the msi_sink, bad vectors, reset,
 * and notify racing table writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cmocka.h>

#include "pci/pci.h"
#include "base/log.h"

#define ECAM_BASE 0xb0000000ull
#define BAR_BASE  0xc0000000ull
#define BAR_SIZE  0x4000
#define TABLE_OFF 0x2000
#define PBA_OFF   0x3000
#define NVEC      70           /* two PBA qwords */
#define DEVFN     PCI_DEVFN(4, 0)

/* ---- Fakes ---- */

struct sink {
	uint64_t count;
	uint64_t addr;
	uint32_t data;
	uint16_t rid;
	int ret;
};

static int sink_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct sink *s = opaque;

	__atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
	s->addr = addr;
	s->data = data;
	s->rid = rid;
	return s->ret;
}

struct changes {
	unsigned calls;
	unsigned per_vec[NVEC];
	bool last_masked;
	uint64_t last_addr;
};

static struct changes ch;

static void vector_changed(void *opaque, struct pci_device *d, unsigned v)
{
	uint64_t addr;
	uint32_t data;
	bool masked;

	ch.calls++;
	if (v < NVEC)
		ch.per_vec[v]++;
	/* The host reads the vector back from here: the core must not hold
	 * the device lock while calling. */
	assert_true(pci_msix_vector(d, v, &addr, &data, &masked));
	ch.last_masked = masked;
	ch.last_addr = addr;
}

static const struct pci_host_ops host_ops = { .msix_vector_changed = vector_changed };

struct bar_dev {
	uint64_t last_off, last_data;
	unsigned reads, writes;
};

static void bar_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct bar_dev *b = opaque;

	b->reads++;
	b->last_off = off;
	*data = 0x5500 + off;
}

static void bar_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct bar_dev *b = opaque;

	b->writes++;
	b->last_off = off;
	b->last_data = data;
}

static const struct bus_ops bar_ops = { bar_read, bar_write };

static int intx_level;

static void intx_set(void *opaque, unsigned pin, int level)
{
	intx_level = level;
}

/* ---- Fixture ---- */

struct fx {
	struct bus pio, mmio;
	struct pci_host host;
	struct pci_device dev;
	struct bar_dev bar;
	struct sink sink;
	struct msi_sink msi;
};

static struct fx *F;

static int setup(void **state)
{
	struct pci_device_id id = {
		.vendor = PCI_VENDOR_ID_WARDEN, .device = 0x0011, .class_code = 0x010802,
		.interrupt_pin = 1,
	};
	struct irq_line intx = { .set = intx_set, .pin = 16 };

	F = calloc(1, sizeof(*F));
	memset(&ch, 0, sizeof(ch));
	intx_level = 0;
	log_threshold = LOG_ERROR;
	F->msi = (struct msi_sink){ .send = sink_send, .opaque = &F->sink };
	assert_int_equal(bus_init(&F->pio, "pio"), 0);
	assert_int_equal(bus_init(&F->mmio, "mmio"), 0);
	assert_int_equal(pci_host_init(&F->host, &F->pio, &F->mmio, ECAM_BASE, 1 << 28, &F->msi,
				       &intx, &host_ops, NULL), 0);
	assert_int_equal(pci_device_init(&F->dev, "msixdev", &id, NULL, NULL), 0);
	assert_int_equal(pci_device_add_bar(&F->dev, 0, PCI_BAR_MEM32, BAR_SIZE, false, &bar_ops,
					    &F->bar), 0);
	assert_int_equal(pci_device_add_pcie_cap(&F->dev), 0);
	assert_int_equal(pci_device_add_msix(&F->dev, NVEC, 0, TABLE_OFF, PBA_OFF), 0);
	assert_int_equal(pci_host_plug(&F->host, &F->dev, DEVFN), 0);
	pci_config_write(&F->dev, PCI_BASE_ADDRESS_0, (uint32_t)BAR_BASE, 4);
	pci_config_write(&F->dev, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(F->dev.bars[0].mapped);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	pci_device_destroy(&F->dev);
	pci_host_destroy(&F->host);
	assert_int_equal(F->mmio.nr, 0);
	bus_destroy(&F->mmio);
	bus_destroy(&F->pio);
	free(F);
	log_threshold = LOG_WARN;
	return 0;
}

/* ---- Helpers: the guest's view ---- */

static uint64_t entry_addr(unsigned v, unsigned off)
{
	return BAR_BASE + TABLE_OFF + v * PCI_MSIX_ENTRY_SIZE + off;
}

static uint64_t mmio_rd(uint64_t addr, unsigned len)
{
	uint64_t v;

	assert_true(bus_read(&F->mmio, addr, &v, len));
	return v;
}

static void mmio_wr(uint64_t addr, uint64_t val, unsigned len)
{
	assert_true(bus_write(&F->mmio, addr, val, len));
}

static void program(unsigned v, uint64_t addr, uint32_t data, bool masked)
{
	mmio_wr(entry_addr(v, 0), addr, 8);
	mmio_wr(entry_addr(v, 8), data | (uint64_t)(masked ? 1 : 0) << 32, 8);
}

static void set_mask(unsigned v, bool masked)
{
	mmio_wr(entry_addr(v, 12), masked, 4);
}

static uint8_t cap(void)
{
	return F->dev.msix.cap_off;
}

/* Message Control, upper byte, through ECAM as a driver would. */
static void msix_control(bool enable, bool fmask)
{
	uint64_t ecam = ECAM_BASE + ((uint64_t)DEVFN << 12) + cap() + PCI_MSIX_FLAGS;

	mmio_wr(ecam, (enable ? PCI_MSIX_FLAGS_ENABLE : 0) | (fmask ? PCI_MSIX_FLAGS_MASKALL : 0), 2);
}

static uint64_t pba(unsigned qword)
{
	return mmio_rd(BAR_BASE + PBA_OFF + 8 * qword, 8);
}

/* ---- Tests ---- */

static void test_capability(void **state)
{
	struct pci_device *d = &F->dev;
	uint8_t off = cap();

	assert_int_equal(pci_config_read(d, off, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(pci_config_read(d, off + 1, 1), 0);            /* last in the list */
	assert_int_equal(pci_config_read(d, off + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_int_equal(pci_config_read(d, off + PCI_MSIX_TABLE, 4), TABLE_OFF | 0);
	assert_int_equal(pci_config_read(d, off + PCI_MSIX_PBA, 4), PBA_OFF | 0);
	/* Only enable and function mask are writable. */
	pci_config_write(d, off + PCI_MSIX_FLAGS, 0xffff, 2);
	assert_int_equal(pci_config_read(d, off + PCI_MSIX_FLAGS, 2), 0xc000 | (NVEC - 1));
	assert_true(pci_msix_enabled(d));
	pci_config_write(d, off + PCI_MSIX_TABLE, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, off + PCI_MSIX_TABLE, 4), TABLE_OFF);
	pci_config_write(d, off + PCI_MSIX_FLAGS + 1, 0, 1);
	assert_false(pci_msix_enabled(d));
	assert_int_equal(pci_config_read(d, off + PCI_MSIX_FLAGS, 2), NVEC - 1);
}

static void test_table_access(void **state)
{
	uint64_t errors;

	/* Out of reset every entry is zero and masked. */
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(mmio_rd(entry_addr(v, 0), 8), 0);
		assert_int_equal(mmio_rd(entry_addr(v, 8), 4), 0);
		assert_int_equal(mmio_rd(entry_addr(v, 12), 4), PCI_MSIX_ENTRY_CTRL_MASKBIT);
	}
	/* 32-bit accesses, field by field. */
	mmio_wr(entry_addr(5, 0), 0xfee01000, 4);
	mmio_wr(entry_addr(5, 4), 0x00000001, 4);
	mmio_wr(entry_addr(5, 8), 0x4041, 4);
	mmio_wr(entry_addr(5, 12), 0xfffffffe, 4);   /* unmask; reserved bits stay 0 */
	assert_int_equal(mmio_rd(entry_addr(5, 0), 4), 0xfee01000);
	assert_int_equal(mmio_rd(entry_addr(5, 4), 4), 1);
	assert_int_equal(mmio_rd(entry_addr(5, 8), 4), 0x4041);
	assert_int_equal(mmio_rd(entry_addr(5, 12), 4), 0);
	/* 64-bit accesses, both halves of the entry. */
	assert_int_equal(mmio_rd(entry_addr(5, 0), 8), 0x1fee01000ull);
	assert_int_equal(mmio_rd(entry_addr(5, 8), 8), 0x4041);
	mmio_wr(entry_addr(6, 0), 0x00000000fee00000ull, 8);
	mmio_wr(entry_addr(6, 8), 0x0000000100000031ull, 8);
	assert_int_equal(mmio_rd(entry_addr(6, 0), 8), 0xfee00000);
	assert_int_equal(mmio_rd(entry_addr(6, 8), 8), 0x100000031ull);
	assert_int_equal(mmio_rd(entry_addr(NVEC - 1, 8), 8), 0x100000000ull);
	{
		uint64_t addr;
		uint32_t data;
		bool masked;

		assert_true(pci_msix_vector(&F->dev, 6, &addr, &data, &masked));
		assert_int_equal(addr, 0xfee00000);
		assert_int_equal(data, 0x31);
		assert_true(masked);
		assert_false(pci_msix_vector(&F->dev, NVEC, &addr, &data, &masked));
	}
	/* Odd shapes are ignored: reads float, writes change nothing. */
	errors = guest_error_count;
	assert_int_equal(mmio_rd(entry_addr(5, 0), 2), 0xffff);
	assert_int_equal(mmio_rd(entry_addr(5, 2), 4), 0xffffffff);
	assert_int_equal(mmio_rd(entry_addr(5, 4), 8), ~0ull);
	mmio_wr(entry_addr(5, 8), 0x99, 1);
	mmio_wr(entry_addr(5, 6), 0x99, 4);
	assert_int_equal(mmio_rd(entry_addr(5, 8), 4), 0x4041);
	assert_true(guest_error_count >= errors + 5);
	/* An access straddling the table's start is not the device's either. */
	assert_int_equal(mmio_rd(BAR_BASE + TABLE_OFF - 4, 8), ~0ull);
	assert_int_equal(F->bar.reads, 0);
}

static void test_other_bar_accesses_reach_device(void **state)
{
	assert_int_equal(mmio_rd(BAR_BASE + 0x100, 4), 0x5600);
	assert_int_equal(F->bar.last_off, 0x100);
	mmio_wr(BAR_BASE + TABLE_OFF + NVEC * 16, 0x77, 4);   /* just past the table */
	assert_int_equal(F->bar.last_off, TABLE_OFF + NVEC * 16);
	assert_int_equal(F->bar.last_data, 0x77);
	mmio_wr(BAR_BASE + PBA_OFF + 16, 0x88, 4);             /* just past the PBA */
	assert_int_equal(F->bar.last_off, PBA_OFF + 16);
	assert_int_equal(mmio_rd(BAR_BASE + BAR_SIZE - 4, 4), 0x5500 + BAR_SIZE - 4);
	/* Table and PBA accesses never reach it. */
	F->bar.reads = F->bar.writes = 0;
	mmio_rd(entry_addr(0, 0), 4);
	mmio_wr(entry_addr(0, 0), 0, 4);
	pba(0);
	pba(1);
	mmio_wr(BAR_BASE + PBA_OFF, ~0ull, 8);
	assert_int_equal(F->bar.reads + F->bar.writes, 0);
	assert_int_equal(pba(0), 0);     /* the PBA is read-only */
}

static void test_enable_and_bad_vector(void **state)
{
	struct pci_device plain;
	struct pci_device_id id = { .vendor = PCI_VENDOR_ID_WARDEN, .device = 1 };

	program(0, 0xfee00000, 0x30, false);
	/* MSI-X off: nothing is sent and nothing pends. */
	assert_int_equal(pci_msix_notify(&F->dev, 0), -ENODEV);
	assert_int_equal(pba(0), 0);
	assert_int_equal(F->sink.count, 0);
	assert_false(pci_msix_enabled(&F->dev));
	msix_control(true, false);
	assert_true(pci_msix_enabled(&F->dev));
	assert_int_equal(pci_msix_notify(&F->dev, 0), 0);
	assert_int_equal(F->sink.count, 1);
	assert_int_equal(F->sink.addr, 0xfee00000);
	assert_int_equal(F->sink.data, 0x30);
	assert_int_equal(F->dev.msix.delivered, 1);
	/* Bad vectors. */
	assert_int_equal(pci_msix_notify(&F->dev, NVEC), -EINVAL);
	assert_int_equal(pci_msix_notify(&F->dev, ~0u), -EINVAL);
	assert_int_equal(pci_msix_set_irqfd(&F->dev, NVEC, 3), -EINVAL);
	assert_int_equal(F->sink.count, 1);
	/* A device without MSI-X. */
	assert_int_equal(pci_device_init(&plain, "plain", &id, NULL, NULL), 0);
	assert_int_equal(pci_msix_notify(&plain, 0), -ENODEV);
	assert_false(pci_msix_enabled(&plain));
	assert_false(pci_msix_vector(&plain, 0, NULL, NULL, NULL));
	pci_device_destroy(&plain);
	/* The sink's refusal (an interrupt remapper blocking) is returned. */
	F->sink.ret = -EPERM;
	assert_int_equal(pci_msix_notify(&F->dev, 0), -EPERM);
	assert_int_equal(pba(0), 0);
}

static void test_vector_mask_pends_and_unmask_delivers(void **state)
{
	msix_control(true, false);
	program(3, 0xfee02000, 0x41, true);
	program(65, 0xfee03000, 0x42, true);
	/* Masked: pending, counted, nothing sent. */
	assert_int_equal(pci_msix_notify(&F->dev, 3), 0);
	assert_int_equal(pci_msix_notify(&F->dev, 3), 0);    /* coalesces */
	assert_int_equal(pci_msix_notify(&F->dev, 65), 0);
	assert_int_equal(F->sink.count, 0);
	assert_int_equal(F->dev.msix.pended, 3);
	assert_int_equal(pba(0), 1ull << 3);
	assert_int_equal(pba(1), 1ull << 1);
	assert_int_equal(mmio_rd(BAR_BASE + PBA_OFF + 8, 4), 2);
	assert_int_equal(mmio_rd(BAR_BASE + PBA_OFF + 12, 4), 0);
	/* Unmasking delivers once and clears the bit. */
	set_mask(3, false);
	assert_int_equal(F->sink.count, 1);
	assert_int_equal(F->sink.addr, 0xfee02000);
	assert_int_equal(F->sink.data, 0x41);
	assert_int_equal(pba(0), 0);
	assert_int_equal(pba(1), 2);
	/* Unmasked now: straight through. */
	assert_int_equal(pci_msix_notify(&F->dev, 3), 0);
	assert_int_equal(F->sink.count, 2);
	/* The other one, through a 64-bit write of data + control. */
	mmio_wr(entry_addr(65, 8), 0x43, 8);
	assert_int_equal(F->sink.count, 3);
	assert_int_equal(F->sink.data, 0x43);     /* the message as it is now */
	assert_int_equal(pba(1), 0);
	assert_int_equal(F->dev.msix.delivered, 3);
}

static void test_function_mask(void **state)
{
	bool masked;

	program(1, 0xfee04000, 0x51, false);
	program(2, 0xfee05000, 0x52, true);
	msix_control(true, true);
	assert_true(pci_msix_vector(&F->dev, 1, NULL, NULL, &masked));
	assert_true(masked);                  /* effective mask */
	assert_int_equal(pci_msix_notify(&F->dev, 1), 0);
	assert_int_equal(pci_msix_notify(&F->dev, 2), 0);
	assert_int_equal(F->sink.count, 0);
	assert_int_equal(pba(0), 0x6);
	/* Unmasking a vector under the function mask sends nothing. */
	set_mask(2, false);
	assert_int_equal(F->sink.count, 0);
	set_mask(2, true);
	/* Clearing the function mask sends what is deliverable. */
	msix_control(true, false);
	assert_int_equal(F->sink.count, 1);
	assert_int_equal(F->sink.data, 0x51);
	assert_int_equal(pba(0), 0x4);
	assert_true(pci_msix_vector(&F->dev, 1, NULL, NULL, &masked));
	assert_false(masked);
	/* Disabling keeps pending bits; re-enabling with vector 2 unmasked
	 * sends it. */
	msix_control(false, false);
	set_mask(2, false);
	assert_int_equal(F->sink.count, 1);
	assert_int_equal(pba(0), 0x4);
	msix_control(true, false);
	assert_int_equal(F->sink.count, 2);
	assert_int_equal(F->sink.data, 0x52);
	assert_int_equal(pba(0), 0);
}

static void test_irqfd_delivery(void **state)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t cnt = 0;

	assert_true(fd >= 0);
	msix_control(true, false);
	program(7, 0xfee06000, 0x61, false);
	assert_int_equal(pci_msix_set_irqfd(&F->dev, 7, fd), 0);
	assert_int_equal(pci_msix_notify(&F->dev, 7), 0);
	assert_int_equal(pci_msix_notify(&F->dev, 7), 0);
	assert_int_equal(F->sink.count, 0);
	assert_int_equal(read(fd, &cnt, sizeof(cnt)), sizeof(cnt));
	assert_int_equal(cnt, 2);
	/* Masked: pended, not signalled; unmask signals. */
	set_mask(7, true);
	assert_int_equal(pci_msix_notify(&F->dev, 7), 0);
	assert_int_equal(read(fd, &cnt, sizeof(cnt)), -1);
	set_mask(7, false);
	assert_int_equal(read(fd, &cnt, sizeof(cnt)), sizeof(cnt));
	assert_int_equal(cnt, 1);
	/* Back to the sink. */
	assert_int_equal(pci_msix_set_irqfd(&F->dev, 7, -1), 0);
	assert_int_equal(pci_msix_notify(&F->dev, 7), 0);
	assert_int_equal(F->sink.count, 1);
	assert_int_equal(F->sink.data, 0x61);
	close(fd);
}

static void test_vector_changed_callbacks(void **state)
{
	/* A field that changes: one callback for that vector. */
	mmio_wr(entry_addr(9, 0), 0xfee07000, 4);
	assert_int_equal(ch.calls, 1);
	assert_int_equal(ch.per_vec[9], 1);
	assert_int_equal(ch.last_addr, 0xfee07000);
	mmio_wr(entry_addr(9, 8), 0x71, 4);
	assert_int_equal(ch.per_vec[9], 2);
	/* Rewriting the same value is no change. */
	mmio_wr(entry_addr(9, 8), 0x71, 4);
	mmio_wr(entry_addr(9, 12), 1, 4);
	assert_int_equal(ch.per_vec[9], 2);
	/* A qword write is one change. */
	mmio_wr(entry_addr(9, 0), 0x00000000fee08000ull, 8);
	assert_int_equal(ch.per_vec[9], 3);
	/* Mask bit. */
	set_mask(9, false);
	assert_int_equal(ch.per_vec[9], 4);
	assert_true(ch.last_masked);            /* MSI-X itself is still off */
	/* Enable and function mask: every vector. */
	ch.calls = 0;
	msix_control(true, false);
	assert_int_equal(ch.calls, NVEC);
	assert_int_equal(ch.per_vec[9], 5);
	{
		bool masked;

		assert_true(pci_msix_vector(&F->dev, 9, NULL, NULL, &masked));
		assert_false(masked);
	}
	msix_control(true, true);
	assert_int_equal(ch.calls, 2 * NVEC);
	/* Writing Message Control without a change: nothing. */
	msix_control(true, true);
	pci_config_write(&F->dev, cap() + PCI_MSIX_FLAGS, 0xc000, 2);
	assert_int_equal(ch.calls, 2 * NVEC);
	/* Notify itself changes no route. */
	pci_msix_notify(&F->dev, 9);
	assert_int_equal(ch.calls, 2 * NVEC);
	/* Device reset reports every vector (all masked again). */
	pci_device_reset(&F->dev);
	assert_int_equal(ch.calls, 3 * NVEC);
	assert_true(ch.last_masked);
}

static void test_requester_id(void **state)
{
	struct pci_device d2;
	struct pci_device_id id = { .vendor = PCI_VENDOR_ID_WARDEN, .device = 2 };
	struct bar_dev b2 = { 0 };

	msix_control(true, false);
	program(0, 0xfee00000, 0x20, false);
	pci_msix_notify(&F->dev, 0);
	assert_int_equal(F->sink.rid, PCI_BDF(0, DEVFN));
	assert_int_equal(F->sink.rid, 0x0020);
	/* A second device at 00:1f.7 sends with its own id. */
	assert_int_equal(pci_device_init(&d2, "d2", &id, NULL, NULL), 0);
	assert_int_equal(pci_device_add_bar(&d2, 2, PCI_BAR_MEM64, 0x1000, false, &bar_ops, &b2), 0);
	assert_int_equal(pci_device_add_msix(&d2, 1, 2, 0x800, 0x900), 0);
	assert_int_equal(pci_host_plug(&F->host, &d2, PCI_DEVFN(31, 7)), 0);
	pci_config_write(&d2, PCI_BASE_ADDRESS_0 + 8, 0xc0100000, 4);
	pci_config_write(&d2, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	mmio_wr(0xc0100800, 0xfee0f000, 4);
	mmio_wr(0xc0100808, 0x99, 8);
	pci_config_write(&d2, d2.msix.cap_off + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(pci_msix_notify(&d2, 0), 0);
	assert_int_equal(F->sink.rid, 0x00ff);
	assert_int_equal(F->sink.addr, 0xfee0f000);
	assert_int_equal(F->sink.data, 0x99);
	pci_device_destroy(&d2);
}

static void test_declaration_errors(void **state)
{
	struct pci_device d;
	struct pci_device_id id = { .vendor = PCI_VENDOR_ID_WARDEN, .device = 3 };
	struct bar_dev b = { 0 };
	void *page = aligned_alloc(4096, 4096);

	assert_int_equal(pci_device_init(&d, "d", &id, NULL, NULL), 0);
	assert_int_equal(pci_device_add_bar(&d, 0, PCI_BAR_MEM32, 0x4000, false, &bar_ops, &b), 0);
	assert_int_equal(pci_device_add_bar(&d, 1, PCI_BAR_IO, 0x100, false, &bar_ops, &b), 0);
	assert_int_equal(pci_device_add_msix(&d, 0, 0, 0, 0x1000), -EINVAL);
	assert_int_equal(pci_device_add_msix(&d, 2049, 0, 0, 0x1000), -EINVAL);
	assert_int_equal(pci_device_add_msix(&d, 4, 1, 0, 0x80), -EINVAL);      /* IO BAR */
	assert_int_equal(pci_device_add_msix(&d, 4, 2, 0, 0x1000), -EINVAL);    /* no BAR */
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 4, 0x1000), -EINVAL);    /* unaligned */
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0, 0x1004), -EINVAL);
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0, 0x20), -EINVAL);      /* overlap */
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0x3fc8, 0x1000), -EINVAL); /* past the end */
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0, 0x4000), -EINVAL);
	assert_int_equal(pci_bar_set_direct(&d, 0, 0x1000, 0x1000, page), 0);
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0x1000, 0x2000), -EINVAL); /* window */
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0x2000, 0x3000), 0);
	assert_int_equal(pci_device_add_msix(&d, 4, 0, 0x2000, 0x3000), -EEXIST);
	/* And the other way round: no window over the table. */
	assert_int_equal(pci_bar_set_direct(&d, 0, 0x2000, 0x1000, page), -EINVAL);
	assert_int_equal(pci_bar_set_direct(&d, 0, 0x3000, 0x1000, page), -EINVAL);
	assert_int_equal(pci_bar_set_direct(&d, 0, 0x1000, 0x1000, page), 0);
	pci_device_destroy(&d);
	free(page);
}

static void test_reset(void **state)
{
	msix_control(true, false);
	program(4, 0xfee09000, 0x91, true);
	pci_msix_notify(&F->dev, 4);
	assert_int_equal(pba(0), 1 << 4);
	pci_device_reset(&F->dev);
	assert_false(pci_msix_enabled(&F->dev));
	assert_int_equal(pci_config_read(&F->dev, cap() + PCI_MSIX_FLAGS, 2), NVEC - 1);
	/* Reset turned memory decode off: look at the state directly. */
	assert_false(F->dev.bars[0].mapped);
	assert_true(F->dev.msix.vec[4].masked);
	assert_false(F->dev.msix.vec[4].pending);
	assert_int_equal(F->dev.msix.vec[4].addr, 0);
	pci_config_write(&F->dev, PCI_BASE_ADDRESS_0, (uint32_t)BAR_BASE, 4);
	pci_config_write(&F->dev, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(pba(0), 0);
	assert_int_equal(mmio_rd(entry_addr(4, 12), 4), 1);
}

static void test_intx_off_while_msix_enabled(void **state)
{
	pci_set_intx(&F->dev, 1);
	assert_int_equal(intx_level, 1);
	msix_control(true, false);
	assert_int_equal(intx_level, 0);
	assert_true(pci_config_read(&F->dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	msix_control(false, false);
	assert_int_equal(intx_level, 1);
	pci_set_intx(&F->dev, 0);
	assert_int_equal(intx_level, 0);
}

/* Device engine threads notify while vCPUs mask and unmask: every notify
 * either goes out or pends, and the last unmask leaves nothing behind. */
struct race {
	unsigned vector;
	unsigned n;
	int errors;
};

static void *notifier(void *arg)
{
	struct race *r = arg;

	for (unsigned i = 0; i < r->n; i++)
		if (pci_msix_notify(&F->dev, r->vector) != 0)
			r->errors++;
	return NULL;
}

static void test_notify_races_table_writes(void **state)
{
	struct race r[2] = { { .vector = 10, .n = 20000 }, { .vector = 11, .n = 20000 } };
	pthread_t t[2];

	msix_control(true, false);
	program(10, 0xfee0a000, 0xa0, false);
	program(11, 0xfee0b000, 0xb0, false);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, notifier, &r[i]), 0);
	for (unsigned i = 0; i < 2000; i++) {
		set_mask(10 + (i & 1), true);
		mmio_wr(entry_addr(10 + (i & 1), 8), 0xa0 + 0x10 * (i & 1), 4);
		set_mask(10 + (i & 1), false);
		if (i % 100 == 0) {
			msix_control(true, true);
			msix_control(true, false);
		}
	}
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(r[0].errors + r[1].errors, 0);
	/* Everything unmasked at the end: nothing may be left pending. */
	assert_int_equal(pba(0), 0);
	assert_int_equal(F->dev.msix.delivered, F->sink.count);
	/* Each notify was sent, or pended and coalesced into a later send. */
	assert_true(F->dev.msix.delivered + F->dev.msix.pended >= 40000);
	assert_true(F->dev.msix.delivered >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_bar_accesses_reach_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_and_bad_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_mask_pends_and_unmask_delivers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_function_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_changed_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requester_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declaration_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_off_while_msix_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_races_table_writes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
