/* libFuzzer harness: PCI configuration space and BAR placement, driven as a
 * guest drives them - CF8/CFC and ECAM accesses of every size at every
 * offset, BAR sizing and relocation, BAR and MSI-X table accesses, with
 * device-side notifies, INTx and resets in between - on a real host bridge
 * and real PIO/MMIO buses.
 *
 * The machine per input: the Q35 host bridge at 00:00.0; device A at
 * 00:03.0 (BAR0 MEM32 16 KiB holding the MSI-X table and PBA and an
 * exit-free window, BAR2-3 MEM64 64 KiB prefetchable, BAR4 IO 32 bytes, a
 * PCIe capability, MSI-X); device B at 00:04.0 and device C at 00:03.1 (a
 * second function, so the slot is multi-function) with small BARs that can
 * be moved on top of A's; and platform ranges (an IOAPIC page, COM1) that a
 * BAR can be moved over. Resources are assigned as firmware would, then
 * the input's operations run (see the switch below).
 *
 * Findings (trap) beyond sanitizer reports:
 *  - two ranges on a bus overlap, or a BAR marked mapped has no range;
 *  - an absent function or another bus reads other than all ones, or an
 *    access through ECAM and CF8 read different values;
 *  - read-only identity or the extended space (0x100-0xfff) changes, or a
 *    BAR reads back bits the sizing rules forbid;
 *  - exit-free windows mapped twice, unmapped when not mapped, or left
 *    mapped after destroy, or at the wrong address;
 *  - an MSI with another requester id than the function's, a vector
 *    change for a vector the device does not have, INTx levels that do
 *    not follow STATUS, INTX_DISABLE and MSI-X enable;
 *  - anything left on the buses after the devices and host are destroyed. */
#include <errno.h>

#include "fuzz_common.h"
#include "pci/pci.h"

#define FZ_MAX_OPS      128
#define ECAM_BASE       0xb0000000ull
#define ECAM_SIZE       0x10000000ull
#define GSI_BASE        16
#define NDEV            3

struct fake_bar {
	uint64_t reads, writes;
};

static void fake_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct fake_bar *b = opaque;

	b->reads++;
	*data = (0x1122334455667788ull + off) & (len >= 8 ? ~0ull : (1ull << (len * 8)) - 1);
}

static void fake_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct fake_bar *b = opaque;

	b->writes++;
}

static const struct bus_ops fake_ops = { fake_read, fake_write };

/* ---- The machine ---- */

struct dev {
	struct pci_device d;
	uint8_t devfn;
	uint8_t pin;                    /* 1 = INTA */
	struct fake_bar bars[PCI_NUM_BARS];
	/* host side, as the vmm keeps it */
	bool direct[PCI_NUM_BARS];
	uint64_t direct_gpa[PCI_NUM_BARS];
	uint16_t vendor, device;
};

static struct {
	struct bus pio, mmio;
	struct pci_host host;
	struct dev dev[NDEV];
	int irq_level[64];
	int map_result;                 /* what map_direct answers */
	uint64_t msis;
	struct fake_bar platform_mmio, platform_pio;
	void *window;                   /* exit-free window host page */
} M;

static bool trace;                      /* FUZZ_TRACE=1: state after every op */

static struct dev *dev_of(struct pci_device *d)
{
	for (unsigned i = 0; i < NDEV; i++)
		if (&M.dev[i].d == d)
			return &M.dev[i];
	FZ_CHECK(false, "host callback for an unknown device %p", (void *)d);
	return NULL;
}

static int host_map_direct(void *opaque, struct pci_device *d, unsigned bar, uint64_t gpa,
			   uint64_t size, void *host)
{
	struct dev *v = dev_of(d);

	FZ_CHECK(bar < PCI_NUM_BARS && !v->direct[bar], "BAR%u window mapped twice", bar);
	FZ_CHECK(host == M.window && size == 4096, "window of the wrong memory");
	if (M.map_result)
		return M.map_result;
	v->direct[bar] = true;
	v->direct_gpa[bar] = gpa;
	return 0;
}

static void host_unmap_direct(void *opaque, struct pci_device *d, unsigned bar)
{
	struct dev *v = dev_of(d);

	FZ_CHECK(bar < PCI_NUM_BARS && v->direct[bar], "BAR%u window unmapped but not mapped", bar);
	v->direct[bar] = false;
}

static void host_vector_changed(void *opaque, struct pci_device *d, unsigned vector)
{
	FZ_CHECK(d->has_msix && vector < d->msix.nvec, "change of vector %u of %u", vector,
		 d->msix.nvec);
}

static const struct pci_host_ops host_ops = {
	.map_direct = host_map_direct,
	.unmap_direct = host_unmap_direct,
	.msix_vector_changed = host_vector_changed,
};

static int msi_send_fake(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	bool known = false;

	for (unsigned i = 0; i < NDEV; i++)
		known |= M.dev[i].d.host && M.dev[i].d.bdf == rid && M.dev[i].d.has_msix;
	FZ_CHECK(known, "MSI with requester id %04x", rid);
	M.msis++;
	return 0;
}

static const struct msi_sink msi = { .send = msi_send_fake };

static void irq_set(void *opaque, unsigned pin, int level)
{
	FZ_CHECK(pin < 64, "INTx pin %u", pin);
	M.irq_level[pin] = level;
}

static unsigned dev_gsi(const struct dev *v)
{
	return GSI_BASE + (((v->devfn >> 3) + v->pin - 1) & 3);
}

static void build(struct fz *f)
{
	static const struct { uint8_t devfn, pin; uint16_t device; } layout[NDEV] = {
		{ PCI_DEVFN(3, 0), 1, 0xa000 }, { PCI_DEVFN(4, 0), 1, 0xb000 },
		{ PCI_DEVFN(3, 1), 3, 0xc000 },
	};
	struct irq_line intx = { .set = irq_set, .pin = GSI_BASE };
	uint8_t b = fz_u8(f);
	int ret;

	void *window = M.window;

	memset(&M, 0, sizeof(M));
	M.window = window;
	M.map_result = b & 1 ? -EEXIST : 0;
	FZ_CHECK(bus_init(&M.pio, "pio") == 0 && bus_init(&M.mmio, "mmio") == 0, "bus_init");
	ret = pci_host_init(&M.host, &M.pio, &M.mmio, ECAM_BASE, ECAM_SIZE, &msi, &intx,
			    &host_ops, NULL);
	FZ_CHECK(ret == 0, "pci_host_init: %d", ret);
	/* Platform ranges a BAR may be moved over. */
	FZ_CHECK(bus_register(&M.mmio, 0xfec00000, 0x1000, &fake_ops, &M.platform_mmio, "ioapic") == 0 &&
		 bus_register(&M.pio, 0x3f8, 8, &fake_ops, &M.platform_pio, "com1") == 0,
		 "platform ranges");
	for (unsigned i = 0; i < NDEV; i++) {
		struct dev *v = &M.dev[i];
		struct pci_device_id id = {
			.vendor = PCI_VENDOR_ID_WARDEN, .device = layout[i].device, .revision = 1,
			.class_code = 0x010802, .interrupt_pin = layout[i].pin,
		};

		v->devfn = layout[i].devfn;
		v->pin = layout[i].pin;
		v->vendor = id.vendor;
		v->device = id.device;
		ret = pci_device_init(&v->d, "fz", &id, NULL, v);
		FZ_CHECK(ret == 0, "pci_device_init: %d", ret);
		if (i == 0) {
			unsigned nvec = 1 + (b >> 1) % 64;

			ret = pci_device_add_bar(&v->d, 0, PCI_BAR_MEM32, 0x4000, false, &fake_ops,
						 &v->bars[0]) ||
			      pci_device_add_bar(&v->d, 2, PCI_BAR_MEM64, 0x10000, true, &fake_ops,
						 &v->bars[2]) ||
			      pci_device_add_bar(&v->d, 4, PCI_BAR_IO, 32, false, &fake_ops,
						 &v->bars[4]) ||
			      pci_device_add_pcie_cap(&v->d) ||
			      pci_device_add_msix(&v->d, nvec, 0, 0x2000, 0x3000) ||
			      pci_bar_set_direct(&v->d, 0, 0x1000, 0x1000, M.window);
		} else {
			ret = pci_device_add_bar(&v->d, 1, PCI_BAR_MEM32, 0x1000, false,
						 i == 1 ? &fake_ops : NULL, &v->bars[1]) ||
			      pci_device_add_bar(&v->d, 5, PCI_BAR_IO, 4, false, &fake_ops,
						 &v->bars[5]);
			if (i == 1 && !ret)
				ret = pci_device_add_pcie_cap(&v->d);
		}
		FZ_CHECK(ret == 0, "declaring device %u: %d", i, ret);
		ret = pci_host_plug(&M.host, &v->d, v->devfn);
		FZ_CHECK(ret == 0, "pci_host_plug: %d", ret);
	}
	if (b & 0x80) {
		ret = pci_host_assign_resources(&M.host, 0xc0000000, 0xfec00000,
						b & 0x40 ? 0x8000000000ull : 0,
						b & 0x40 ? 0x10000000000ull : 0, 0xc000, 0x10000);
		FZ_CHECK(ret == 0, "assign resources: %d", ret);
	}
}

static void teardown(void)
{
	for (unsigned i = 0; i < NDEV; i++)
		pci_device_destroy(&M.dev[i].d);
	pci_host_destroy(&M.host);
	bus_unregister(&M.mmio, 0xfec00000, &M.platform_mmio);
	bus_unregister(&M.pio, 0x3f8, &M.platform_pio);
	FZ_CHECK(M.mmio.nr == 0 && M.pio.nr == 0, "%u MMIO and %u PIO ranges left after destroy",
		 M.mmio.nr, M.pio.nr);
	for (unsigned i = 0; i < NDEV; i++)
		for (unsigned bar = 0; bar < PCI_NUM_BARS; bar++)
			FZ_CHECK(!M.dev[i].direct[bar], "window of device %u BAR%u left mapped", i, bar);
	bus_destroy(&M.mmio);
	bus_destroy(&M.pio);
}

/* ---- Invariants ---- */

static void check_bus(const struct bus *b)
{
	for (unsigned i = 0; i < b->nr; i++) {
		const struct bus_range *r = &b->ranges[i];

		FZ_CHECK(r->len && r->base + r->len - 1 >= r->base, "%s range %u empty or wraps",
			 b->name, i);
		if (i)
			FZ_CHECK(b->ranges[i - 1].base + b->ranges[i - 1].len - 1 < r->base,
				 "%s ranges [0x%llx +0x%llx] and [0x%llx +0x%llx] overlap", b->name,
				 (unsigned long long)b->ranges[i - 1].base,
				 (unsigned long long)b->ranges[i - 1].len,
				 (unsigned long long)r->base, (unsigned long long)r->len);
	}
}

static uint32_t cfg_raw32(const struct pci_device *d, uint32_t off)
{
	uint32_t v;

	memcpy(&v, d->config + off, 4);
	return v;
}

static void check_dev(const struct dev *v)
{
	const struct pci_device *d = &v->d;
	uint16_t cmd = (uint16_t)cfg_raw32(d, PCI_COMMAND);
	uint16_t sta = (uint16_t)(cfg_raw32(d, PCI_COMMAND) >> 16);
	bool level;

	FZ_CHECK(cfg_raw32(d, 0) == ((uint32_t)v->device << 16 | v->vendor), "identity changed");
	for (uint32_t off = 0x100; off < PCI_CONFIG_SPACE_SIZE; off += 4)
		if (cfg_raw32(d, off)) {
			FZ_CHECK(false, "extended config space at 0x%x is 0x%x", off, cfg_raw32(d, off));
		}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bars[i];
		struct bus_range r;
		struct bus *bus = bar->kind == PCI_BAR_IO ? (struct bus *)&M.pio : (struct bus *)&M.mmio;
		uint32_t reg = cfg_raw32(d, PCI_BASE_ADDRESS_0 + 4 * i);

		if (bar->kind == PCI_BAR_UNUSED)
			continue;
		/* Type bits are read-only; bits below the size read zero. */
		if (bar->kind == PCI_BAR_IO)
			FZ_CHECK((reg & 3) == 1 && !(reg & (uint32_t)(bar->size - 1) & ~3u),
				 "IO BAR%u reads 0x%x", i, reg);
		else
			FZ_CHECK((reg & 0xf) == ((bar->kind == PCI_BAR_MEM64 ? 4u : 0) |
						 (bar->prefetchable ? 8u : 0)) &&
				 !(reg & (uint32_t)(bar->size - 1) & ~0xfu), "BAR%u reads 0x%x", i, reg);
		if (bar->mapped) {
			FZ_CHECK(bus_find(bus, bar->addr, &r) && r.base == bar->addr &&
				 r.len == bar->size, "BAR%u marked mapped at 0x%llx but not on the bus",
				 i, (unsigned long long)bar->addr);
			FZ_CHECK(cmd & (bar->kind == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY),
				 "BAR%u mapped with decode off", i);
		}
		FZ_CHECK(v->direct[i] == bar->direct_mapped, "BAR%u window state differs", i);
		if (v->direct[i])
			FZ_CHECK(bar->mapped && v->direct_gpa[i] == bar->addr + bar->direct_offset,
				 "BAR%u window at 0x%llx, BAR at 0x%llx", i,
				 (unsigned long long)v->direct_gpa[i], (unsigned long long)bar->addr);
	}
	level = (sta & PCI_STATUS_INTERRUPT) && !(cmd & PCI_COMMAND_INTX_DISABLE) &&
		!(d->has_msix && d->msix.enabled);
	FZ_CHECK(M.irq_level[dev_gsi(v)] == level, "INTx of %02x.%x is %d, expected %d",
		 v->devfn >> 3, v->devfn & 7, M.irq_level[dev_gsi(v)], level);
}

static void check_all(void)
{
	check_bus(&M.pio);
	check_bus(&M.mmio);
	for (unsigned i = 0; i < NDEV; i++)
		check_dev(&M.dev[i]);
}

/* ---- Operands ---- */

static uint64_t all_ones(unsigned len)
{
	return len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
}

static unsigned pick_len(struct fz *f)
{
	static const unsigned lens[8] = { 1, 2, 4, 8, 4, 4, 2, 3 };

	return lens[fz_u8(f) & 7];
}

/* A devfn: mostly one of ours, sometimes the bridge or nothing at all. */
static uint8_t pick_devfn(struct fz *f)
{
	uint8_t m = fz_u8(f);

	switch (m & 7) {
	case 0: case 1: return PCI_DEVFN(3, 0);
	case 2: return PCI_DEVFN(4, 0);
	case 3: return PCI_DEVFN(3, 1);
	case 4: return 0;
	case 5: return PCI_DEVFN(3, 2);            /* absent function of a present slot */
	default: return m;
	}
}

static uint32_t pick_reg(struct fz *f)
{
	uint8_t m = fz_u8(f);

	if (m & 1)
		return fz_u16(f) & 0xfff;
	return (m >> 1) & 0x7f;                    /* the header and first capabilities */
}

static const struct pci_device *present(unsigned bus, uint8_t devfn)
{
	if (bus != 0)
		return NULL;
	if (devfn == 0)
		return &M.host.bridge;
	for (unsigned i = 0; i < NDEV; i++)
		if (M.dev[i].devfn == devfn)
			return &M.dev[i].d;
	return NULL;
}

static void check_absent_read(unsigned bus, uint8_t devfn, uint64_t v, unsigned len)
{
	if (!present(bus, devfn))
		FZ_CHECK(v == all_ones(len), "absent %02x:%02x.%x read 0x%llx", bus, devfn >> 3,
			 devfn & 7, (unsigned long long)v);
}

static struct dev *pick_dev(struct fz *f)
{
	return &M.dev[fz_u8(f) % NDEV];
}

/* ---- The harness ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	M.window = aligned_alloc(4096, 4096);
	FZ_CHECK(M.window, "window page");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;

	fz_init(&f, data, size);
	build(&f);
	check_all();
	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		uint8_t o = fz_u8(&f);

		switch (o % 16) {
		case 0: {                               /* CF8 latch */
			uint8_t m = fz_u8(&f);
			uint32_t v;

			if (m & 1)
				v = fz_u32(&f);
			else
				v = 0x80000000u | (m & 2 ? (uint32_t)fz_u8(&f) << 16 : 0) |
				    (uint32_t)pick_devfn(&f) << 8 | (pick_reg(&f) & 0xfc);
			bus_write(&M.pio, 0xcf8 + (m & 4 ? fz_u8(&f) % 8 : 0), v,
				  m & 8 ? pick_len(&f) : 4);
			break;
		}
		case 1: case 2: {                       /* CFC-CFF */
			unsigned off = fz_u8(&f) % 4, len = pick_len(&f);
			uint32_t latch = M.host.config_address;
			uint64_t v = 0;

			if ((o % 16) == 1) {
				bus_read(&M.pio, 0xcfc + off, &v, len);
				if ((latch & 0x80000000u) && len <= 4 && off + len <= 4)
					check_absent_read((latch >> 16) & 0xff, (uint8_t)(latch >> 8),
							  v, len);
			} else {
				bus_write(&M.pio, 0xcfc + off, fz_u32(&f), len);
			}
			break;
		}
		case 3: case 4: {                       /* ECAM */
			uint8_t m = fz_u8(&f);
			unsigned bus = m & 1 ? fz_u8(&f) : 0, len = pick_len(&f);
			uint8_t devfn = pick_devfn(&f);
			uint32_t reg = pick_reg(&f);
			uint64_t addr = ECAM_BASE + ((uint64_t)bus << 20 | (uint64_t)devfn << 12 | reg);
			uint64_t v = 0;

			if ((o % 16) == 3) {
				bus_read(&M.mmio, addr, &v, len);
				if (len != 3 && (len != 8 || !(reg & 3)) && (reg & 3) + (len > 4 ? 4 : len) <= 4)
					check_absent_read(bus, devfn, v, len);
				/* The same register through CF8 reads the same. */
				if (bus == 0 && reg < 0x100 && len <= 4 && len != 3 && (reg & 3) + len <= 4) {
					uint32_t latch = M.host.config_address;
					uint64_t w = 0;

					bus_write(&M.pio, 0xcf8, 0x80000000u | (uint32_t)devfn << 8 |
						  (reg & 0xfc), 4);
					bus_read(&M.pio, 0xcfc + (reg & 3), &w, len);
					bus_write(&M.pio, 0xcf8, latch, 4);
					FZ_CHECK(v == w, "ECAM read 0x%llx, CF8 read 0x%llx at %02x.%x+0x%x",
						 (unsigned long long)v, (unsigned long long)w,
						 devfn >> 3, devfn & 7, reg);
				}
				if (bus == 0 && reg >= 0x100 && present(0, devfn) && len == 4 && !(reg & 3))
					FZ_CHECK(v == 0, "extended config reads 0x%llx", (unsigned long long)v);
			} else {
				bus_write(&M.mmio, addr, fz_value64(&f), len);
			}
			break;
		}
		case 5: case 6: case 7: {               /* a BAR access where it decodes now */
			struct dev *v = pick_dev(&f);
			struct pci_bar *bar = &v->d.bars[fz_u8(&f) % PCI_NUM_BARS];
			unsigned len = pick_len(&f);
			uint64_t off = fz_u16(&f) % (bar->size ? 2 * bar->size : 0x100), d = 0;
			struct bus *bus = bar->kind == PCI_BAR_IO ? &M.pio : &M.mmio;

			if (o & 1)
				bus_read(bus, bar->addr + off, &d, len);
			else
				bus_write(bus, bar->addr + off, fz_value64(&f), len);
			break;
		}
		case 8: {                               /* an MSI-X table entry, dword by dword */
			struct dev *v = &M.dev[0];
			unsigned vec = fz_u8(&f) % (v->d.msix.nvec + 1), dw = fz_u8(&f);
			uint64_t base = v->d.bars[0].addr + 0x2000 + vec * 16;

			if (dw & 0x80)
				bus_write(&M.mmio, base + (dw & 8), fz_u64(&f), 8);
			else
				bus_write(&M.mmio, base + (dw & 3) * 4, dw & 0x40 ? fz_u8(&f) & 1 :
					  (dw & 3) == 0 ? 0xfee00000u | fz_u16(&f) : fz_u32(&f), 4);
			break;
		}
		case 9: {                               /* device side: notify, INTx */
			struct dev *v = pick_dev(&f);
			uint8_t m = fz_u8(&f);

			if (m & 1) {
				pci_set_intx(&v->d, m & 2);
			} else {
				uint64_t before = M.msis;
				unsigned vec = m >> 1;
				int ret = pci_msix_notify(&v->d, vec);

				if (!v->d.has_msix || !v->d.msix.enabled)
					FZ_CHECK(ret == -ENODEV || ret == -EINVAL, "notify with MSI-X off: %d", ret);
				else if (vec >= v->d.msix.nvec)
					FZ_CHECK(ret == -EINVAL, "notify of vector %u: %d", vec, ret);
				else
					FZ_CHECK(ret == 0 && (M.msis == before + 1 ||
							      (M.msis == before && v->d.msix.vec[vec].pending)),
						 "notify of vector %u: ret %d, neither sent nor pending", vec, ret);
			}
			break;
		}
		case 10: {                              /* direct config access, any shape */
			struct dev *v = pick_dev(&f);
			uint32_t off = fz_u8(&f) & 1 ? fz_u32(&f) : pick_reg(&f);
			unsigned len = fz_u8(&f) % 9;

			if (fz_u8(&f) & 1)
				pci_config_write(&v->d, off, fz_u32(&f), len);
			else
				(void)pci_config_read(&v->d, off, len);
			break;
		}
		case 11: {                              /* BAR sizing, as firmware does it */
			struct dev *v = pick_dev(&f);
			unsigned i = fz_u8(&f) % PCI_NUM_BARS;
			uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * i, old, mask;
			const struct pci_bar *bar = &v->d.bars[i];

			old = pci_config_read(&v->d, reg, 4);
			pci_config_write(&v->d, reg, 0xffffffffu, 4);
			mask = pci_config_read(&v->d, reg, 4);
			if (bar->kind == PCI_BAR_IO)
				FZ_CHECK(mask == ((uint32_t)~(bar->size - 1) | 1), "IO BAR%u sizes as 0x%x", i, mask);
			else if (bar->kind != PCI_BAR_UNUSED)
				FZ_CHECK((mask & ~0xfu) == ((uint32_t)~(bar->size - 1) & ~0xfu),
					 "BAR%u sizes as 0x%x", i, mask);
			pci_config_write(&v->d, reg, old, 4);
			break;
		}
		case 12: {                              /* command register */
			struct dev *v = pick_dev(&f);
			uint8_t m = fz_u8(&f);

			pci_config_write(&v->d, PCI_COMMAND, (m & 0x7) | (uint32_t)(m & 8) << 7, 2);
			break;
		}
		case 13: {                              /* resets */
			uint8_t m = fz_u8(&f);

			if (m & 1)
				pci_host_reset(&M.host);
			else
				pci_device_reset(&pick_dev(&f)->d);
			break;
		}
		case 14: {                              /* firmware assigns again */
			uint8_t m = fz_u8(&f);
			uint64_t base = m & 1 ? 0xc0000000ull : 0xfebf0000ull;   /* room or none */

			(void)pci_host_assign_resources(&M.host, base, 0xfec00000, 0, 0,
							m & 2 ? 0xc000 : 0xfff0, 0x10000);
			break;
		}
		default:                                /* host refuses or accepts windows */
			M.map_result = fz_u8(&f) & 1 ? -EEXIST : 0;
			break;
		}
		check_all();
		if (trace) {
			const struct pci_device *a = &M.dev[0].d;

			fprintf(fz_err(), "op %u (%u): %u MMIO %u PIO ranges; A: BAR0 %d@0x%llx BAR2 %d@0x%llx "
				"BAR4 %d@0x%llx, MSI-X %d, %llu MSIs, window %d\n", op, o % 16, M.mmio.nr,
				M.pio.nr, a->bars[0].mapped, (unsigned long long)a->bars[0].addr,
				a->bars[2].mapped, (unsigned long long)a->bars[2].addr, a->bars[4].mapped,
				(unsigned long long)a->bars[4].addr, a->msix.enabled,
				(unsigned long long)M.msis, M.dev[0].direct[0]);
		}
	}
	teardown();
	return 0;
}
