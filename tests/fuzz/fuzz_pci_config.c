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
 *  - anything left on the buses after the devices and host are destroyed;
 *  - an ioeventfd window (registered in a memory BAR, by default A's BAR0
 *    and BAR2 and C's BAR1, more by the input) not assigned with the host
 *    exactly while its BAR is mapped with memory decode on, at BAR address
 *    + offset with its length and fd; assigned twice, unassigned where it
 *    was not assigned, or assigned for a destroyed function; a window the
 *    host refuses (it refuses every address in 0xdxxxxxxx, as KVM refuses
 *    one already taken) that is assigned anyway; pci_bar_add_ioeventfd()
 *    answering other than its rules say;
 *  - a function's DMA address space (A's from the start, B's and C's when
 *    the input attaches them) whose gate is not its Bus Master Enable bit
 *    after every operation, that the core touches once detached, or that
 *    moves bytes while gated; pci_device_bus_master() disagreeing with BME;
 *  - a read of CONFIG_ADDRESS (0xcf8-0xcfb) other than the latch for a
 *    dword at 0xcf8 and all ones for anything else (PCI 3.0 3.2.2.3.2: only
 *    a dword reference is the register; byte and word references pass
 *    through as I/O cycles nobody claims), or a latch that is not what the
 *    dword writes at 0xcf8 and host resets left;
 *  - a config_write hook that runs with the lock held, before the write
 *    is applied, or other than once per accepted config write with its
 *    offset, value and length (every path: CFC, ECAM and its 8-byte split,
 *    direct calls); a reset hook that runs other than once per function
 *    reset, in devfn order for a bus reset, with the lock held or before
 *    decode, BME, BAR addresses, MSI-X, windows and the DMA gate are off;
 *  - INTx of a function plugged with its interrupt asserted not raised.
 *
 * Input: a configuration byte, then operations, each an opcode byte taken
 * modulo 16 and its operands. The checked-in corpus must keep its meaning,
 * and neither has room: the configuration byte uses all eight bits (0:
 * exit-free windows refused, 1-6: A's vector count, 6: the 64-bit window,
 * 7: firmware assignment) and any new opcode would renumber the others. So
 * the operations added later live behind bit 1 of the reset operation's
 * selector byte, which that operation ignored (it reads bit 0 only, and no
 * checked-in input sets bit 1): with it set, bits 2-3 choose CF8 read, add
 * an ioeventfd window, DMA attach/detach/transfer, or unplug and plug a
 * function again, bits 4-7 are their flags. What the new checks need
 * besides (hooks, windows, A's DMA address space, a read of CONFIG_ADDRESS
 * after every operation and after each CF8 write) is installed at build or
 * has no side effect, so old inputs do what they did. */
#include <errno.h>

#include "fuzz_common.h"
#include "iommu/dma.h"
#include "pci/pci.h"

#define FZ_MAX_OPS      128
#define ECAM_BASE       0xb0000000ull
#define ECAM_SIZE       0x10000000ull
#define GSI_BASE        16
#define NDEV            3
#define RAM_SIZE        (2 * FZ_MiB)
#define CF8_PORT        0xcf8
#define CFC_PORT        0xcfc
#define A_DIRECT_OFF    0x1000
#define A_TABLE_OFF     0x2000
#define A_PBA_OFF       0x3000
#define MAX_WINDOWS     512             /* at most 2 added per operation */
#define MAX_CFG_WRITES  16              /* per operation, firmware assignment aside */
#define FD_BASE         100

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

/* An ioeventfd window as the harness registered it, and the host's record
 * of it (keyed by fd: every window gets its own). */
struct window {
	unsigned dev, bar;
	uint64_t offset;
	unsigned len;
	int fd;
	bool gone;                      /* refused, or its function destroyed */
	bool assigned;                  /* host side */
	uint64_t gpa;
};

struct cfg_write {
	unsigned dev;
	uint32_t off, val;
	unsigned len;
};

struct dev {
	struct pci_device d;
	uint8_t devfn;
	uint8_t pin;                    /* 1 = INTA */
	struct fake_bar bars[PCI_NUM_BARS];
	/* host side, as the vmm keeps it */
	bool direct[PCI_NUM_BARS];
	uint64_t direct_gpa[PCI_NUM_BARS];
	uint16_t vendor, device;
	struct dma_as as;
	bool dma_attached;
	bool dma_left;                  /* the gate as detached: the core must leave it */
	bool dead;                      /* destroyed: nothing may be assigned for it */
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
	unsigned nvec;                  /* A's MSI-X vectors */
	uint32_t latch;                 /* CONFIG_ADDRESS as the guest's writes left it */
	struct window win[MAX_WINDOWS];
	unsigned nwin;
	int next_fd;
	/* This operation: hook calls, and what the accesses made promise. */
	struct cfg_write got[MAX_CFG_WRITES], want[MAX_CFG_WRITES];
	unsigned ngot, nwant;
	bool cw_unmodelled;             /* firmware assignment: not modelled */
	unsigned reset_got[2 * NDEV], reset_want[NDEV];
	unsigned nreset_got, nreset_want;
} M;

static struct fz_ram R;                 /* what DMA reaches */
static bool trace;                      /* FUZZ_TRACE=1: state after every op */
static int ext = -1;                    /* which later operation ran, for the trace */

static const struct { uint8_t devfn, pin; uint16_t device; } layout[NDEV] = {
	{ PCI_DEVFN(3, 0), 1, 0xa000 }, { PCI_DEVFN(4, 0), 1, 0xb000 },
	{ PCI_DEVFN(3, 1), 3, 0xc000 },
};

static struct dev *dev_of(struct pci_device *d)
{
	for (unsigned i = 0; i < NDEV; i++)
		if (&M.dev[i].d == d)
			return &M.dev[i];
	FZ_CHECK(false, "host callback for an unknown device %p", (void *)d);
	return NULL;
}

static unsigned dev_index(const struct dev *v)
{
	return (unsigned)(v - M.dev);
}

static uint32_t cfg_raw32(const struct pci_device *d, uint32_t off)
{
	uint32_t v;

	memcpy(&v, d->config + off, 4);
	return v;
}

static unsigned dev_gsi(const struct dev *v)
{
	return GSI_BASE + (((v->devfn >> 3) + v->pin - 1) & 3);
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

/* The host refuses ioeventfds in 0xd0000000-0xdfffffff, as KVM refuses one
 * where another device's notification already is: a pure function of the
 * address, so a window refused stays refused until its BAR moves. */
static bool host_refuses(uint64_t gpa)
{
	return gpa >> 28 == 0xd;
}

static struct window *window_of_fd(int fd)
{
	for (unsigned k = 0; k < M.nwin; k++)
		if (M.win[k].fd == fd && !M.win[k].gone)
			return &M.win[k];
	return NULL;
}

static int host_ioeventfd(void *opaque, struct pci_device *d, uint64_t gpa, unsigned len, int fd,
			  bool assign)
{
	struct dev *v = dev_of(d);
	struct window *w = window_of_fd(fd);

	FZ_CHECK(w && &M.dev[w->dev] == v && w->len == len,
		 "ioeventfd fd %d (%u bytes) is no window of %02x.%x", fd, len, v->devfn >> 3,
		 v->devfn & 7);
	if (!assign) {
		FZ_CHECK(w->assigned && w->gpa == gpa,
			 "window fd %d unassigned at 0x%llx, but assigned %d at 0x%llx", fd,
			 (unsigned long long)gpa, w->assigned, (unsigned long long)w->gpa);
		w->assigned = false;
		return 0;
	}
	FZ_CHECK(!v->dead, "window fd %d assigned for a destroyed function", fd);
	FZ_CHECK(!w->assigned, "window fd %d assigned twice (0x%llx, then 0x%llx)", fd,
		 (unsigned long long)w->gpa, (unsigned long long)gpa);
	if (host_refuses(gpa))
		return -EEXIST;
	w->assigned = true;
	w->gpa = gpa;
	return 0;
}

static void host_vector_changed(void *opaque, struct pci_device *d, unsigned vector)
{
	FZ_CHECK(d->has_msix && vector < d->msix.nvec, "change of vector %u of %u", vector,
		 d->msix.nvec);
}

static const struct pci_host_ops host_ops = {
	.map_direct = host_map_direct,
	.unmap_direct = host_unmap_direct,
	.ioeventfd = host_ioeventfd,
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

/* ---- Device hooks ---- */

/* The hooks run "without the lock" so they may call back into the core. */
static bool lock_free(struct pci_device *d)
{
	if (pthread_mutex_trylock(&d->lock))
		return false;
	pthread_mutex_unlock(&d->lock);
	return true;
}

static bool config_access_ok(uint32_t off, unsigned len)
{
	return (len == 1 || len == 2 || len == 4) && off < PCI_CONFIG_SPACE_SIZE &&
	       (off & 3) + len <= 4;
}

/* pci.h: runs after the core applied the write, so every writable bit
 * holds what was written and every write-1-to-clear bit written as 1 is
 * clear. */
static void dev_config_write(struct pci_device *d, uint32_t off, uint32_t val, unsigned len)
{
	struct dev *v = dev_of(d);

	FZ_CHECK(lock_free(d), "config_write hook with the lock held");
	FZ_CHECK(config_access_ok(off, len), "config_write hook for %u bytes at 0x%x", len, off);
	for (unsigned i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i)), keep = (uint8_t)(d->wmask[o] & ~d->w1cmask[o]);

		FZ_CHECK((d->config[o] & keep) == (b & keep) && !(d->config[o] & b & d->w1cmask[o]),
			 "config_write hook of 0x%x at 0x%x before it was applied (0x%x reads 0x%x)",
			 val, off, o, d->config[o]);
	}
	if (M.ngot < MAX_CFG_WRITES)
		M.got[M.ngot] = (struct cfg_write){ dev_index(v), off, val, len };
	M.ngot++;
}

static void check_windows_off(const struct dev *v, const char *when)
{
	for (unsigned k = 0; k < M.nwin; k++)
		FZ_CHECK(M.win[k].gone || M.win[k].dev != dev_index(v) || !M.win[k].assigned,
			 "window fd %d still assigned %s", M.win[k].fd, when);
}

/* pci.h: the core's part of a reset is done when the device's runs -
 * decode and bus mastering off, BAR addresses and INTx cleared, MSI-X
 * disabled. */
static void dev_reset(struct pci_device *d)
{
	struct dev *v = dev_of(d);

	FZ_CHECK(lock_free(d), "reset hook with the lock held");
	FZ_CHECK(!(cfg_raw32(d, PCI_COMMAND) & (0xffffu | PCI_STATUS_INTERRUPT << 16)),
		 "reset hook with COMMAND/STATUS 0x%08x", cfg_raw32(d, PCI_COMMAND));
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bars[i];
		uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * i;
		uint32_t lo = cfg_raw32(d, reg) & (bar->kind == PCI_BAR_IO ? ~3u : ~0xfu);

		if (bar->kind == PCI_BAR_UNUSED)
			continue;
		FZ_CHECK(!bar->mapped && !bar->direct_mapped && !lo &&
			 (bar->kind != PCI_BAR_MEM64 || !cfg_raw32(d, reg + 4)),
			 "reset hook with BAR%u mapped %d, window %d, at 0x%x", i, bar->mapped,
			 bar->direct_mapped, lo);
	}
	check_windows_off(v, "when the reset hook runs");
	FZ_CHECK(!d->has_msix || !d->msix.enabled, "reset hook with MSI-X enabled");
	FZ_CHECK(!v->dma_attached || !v->as.enabled, "reset hook with DMA not gated");
	FZ_CHECK(!M.irq_level[dev_gsi(v)], "reset hook with INTx asserted");
	if (M.nreset_got < 2 * NDEV)
		M.reset_got[M.nreset_got] = dev_index(v);
	M.nreset_got++;
}

static const struct pci_device_ops dev_ops = {
	.config_write = dev_config_write,
	.reset = dev_reset,
};

/* ---- Windows and DMA, as a device sets them up ---- */

/* The memory BARs each function declares (0: none or not memory). */
static uint64_t mem_bar_size(unsigned i, unsigned bar)
{
	if (i == 0)
		return bar == 0 ? 0x4000 : bar == 2 ? 0x10000 : 0;
	return bar == 1 ? 0x1000 : 0;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* pci_bar_add_ioeventfd()'s rules: 0 (any), 1, 2, 4 or 8 bytes, naturally
 * aligned, inside a memory BAR, clear of the MSI-X table and PBA and of the
 * exit-free window, of the BAR's other windows (-EEXIST), at most
 * PCI_BAR_MAX_IOEVENTFDS a BAR (-ENOSPC). */
static int window_rule(unsigned i, unsigned bar, uint64_t off, unsigned len, int fd)
{
	uint64_t span = len ? len : 1, size = bar < PCI_NUM_BARS ? mem_bar_size(i, bar) : 0;
	unsigned n = 0;

	if (fd < 0 || len > 8 || (len & (len - 1)) || (len && off % len) || off >= size ||
	    span > size - off)
		return -EINVAL;
	if (i == 0 && bar == 0 &&
	    (overlap(off, span, A_TABLE_OFF, M.nvec * 16ull) ||
	     overlap(off, span, A_PBA_OFF, (M.nvec + 63) / 64 * 8ull) ||
	     overlap(off, span, A_DIRECT_OFF, 0x1000)))
		return -EINVAL;
	for (unsigned k = 0; k < M.nwin; k++) {
		const struct window *w = &M.win[k];

		if (w->gone || w->dev != i || w->bar != bar)
			continue;
		if (overlap(off, span, w->offset, w->len ? w->len : 1))
			return -EEXIST;
		n++;
	}
	return n == PCI_BAR_MAX_IOEVENTFDS ? -ENOSPC : 0;
}

/* The window is recorded before the call: the host hears of it from
 * inside pci_bar_add_ioeventfd() when the BAR is mapped. */
static void add_window(unsigned i, unsigned bar, uint64_t off, unsigned len, bool bad_fd)
{
	int fd = bad_fd ? -1 : M.next_fd++;
	int want = window_rule(i, bar, off, len, fd), ret;
	struct window *w = &M.win[M.nwin];

	FZ_CHECK(M.nwin < MAX_WINDOWS, "more windows than the harness keeps");
	*w = (struct window){ .dev = i, .bar = bar, .offset = off, .len = len, .fd = fd };
	M.nwin++;
	ret = pci_bar_add_ioeventfd(&M.dev[i].d, bar, off, len, fd);
	FZ_CHECK(ret == want, "ioeventfd window in BAR%u at +0x%llx (%u bytes, fd %d): %d, expected %d",
		 bar, (unsigned long long)off, len, fd, ret, want);
	w->gone = ret != 0;
}

static void attach_dma(struct dev *v, bool on)
{
	if (!on)
		v->dma_left = v->as.enabled;
	pci_device_set_dma(&v->d, on ? &v->as : NULL);
	v->dma_attached = on;
}

/* ---- Building and taking down ---- */

/* Function i as its device model declares it, not yet plugged; A comes
 * with its DMA address space and windows in BAR0 and BAR2, C with one in
 * BAR1 (a BAR without trapped handler). */
static void declare(unsigned i)
{
	struct dev *v = &M.dev[i];
	struct pci_device_id id = {
		.vendor = PCI_VENDOR_ID_WARDEN, .device = layout[i].device, .revision = 1,
		.class_code = 0x010802, .interrupt_pin = layout[i].pin,
	};
	int ret;

	v->devfn = layout[i].devfn;
	v->pin = layout[i].pin;
	v->vendor = id.vendor;
	v->device = id.device;
	v->dead = false;
	v->dma_attached = false;
	ret = pci_device_init(&v->d, "fz", &id, &dev_ops, v);
	FZ_CHECK(ret == 0, "pci_device_init: %d", ret);
	if (i == 0) {
		ret = pci_device_add_bar(&v->d, 0, PCI_BAR_MEM32, 0x4000, false, &fake_ops,
					 &v->bars[0]) ||
		      pci_device_add_bar(&v->d, 2, PCI_BAR_MEM64, 0x10000, true, &fake_ops,
					 &v->bars[2]) ||
		      pci_device_add_bar(&v->d, 4, PCI_BAR_IO, 32, false, &fake_ops, &v->bars[4]) ||
		      pci_device_add_pcie_cap(&v->d) ||
		      pci_device_add_msix(&v->d, M.nvec, 0, A_TABLE_OFF, A_PBA_OFF) ||
		      pci_bar_set_direct(&v->d, 0, A_DIRECT_OFF, 0x1000, M.window);
	} else {
		ret = pci_device_add_bar(&v->d, 1, PCI_BAR_MEM32, 0x1000, false,
					 i == 1 ? &fake_ops : NULL, &v->bars[1]) ||
		      pci_device_add_bar(&v->d, 5, PCI_BAR_IO, 4, false, &fake_ops, &v->bars[5]);
		if (i == 1 && !ret)
			ret = pci_device_add_pcie_cap(&v->d);
	}
	FZ_CHECK(ret == 0, "declaring device %u: %d", i, ret);
	dma_as_init_direct(&v->as, &R.gmem, PCI_BDF(0, v->devfn));
	v->dma_left = v->as.enabled;
	if (i == 0) {
		add_window(0, 0, 0x0, 4, false);
		add_window(0, 2, 0x100, 0, false);
		attach_dma(v, true);
	} else if (i == 2) {
		add_window(2, 1, 0x10, 2, false);
	}
}

static void build(struct fz *f)
{
	struct irq_line intx = { .set = irq_set, .pin = GSI_BASE };
	uint8_t b = fz_u8(f);
	int ret;

	void *window = M.window;

	memset(&M, 0, sizeof(M));
	M.window = window;
	M.next_fd = FD_BASE;
	M.cw_unmodelled = true;
	M.map_result = b & 1 ? -EEXIST : 0;
	M.nvec = 1 + (b >> 1) % 64;
	FZ_CHECK(bus_init(&M.pio, "pio") == 0 && bus_init(&M.mmio, "mmio") == 0, "bus_init");
	ret = pci_host_init(&M.host, &M.pio, &M.mmio, ECAM_BASE, ECAM_SIZE, &msi, &intx,
			    &host_ops, NULL);
	FZ_CHECK(ret == 0, "pci_host_init: %d", ret);
	/* Platform ranges a BAR may be moved over. */
	FZ_CHECK(bus_register(&M.mmio, 0xfec00000, 0x1000, &fake_ops, &M.platform_mmio, "ioapic") == 0 &&
		 bus_register(&M.pio, 0x3f8, 8, &fake_ops, &M.platform_pio, "com1") == 0,
		 "platform ranges");
	for (unsigned i = 0; i < NDEV; i++) {
		declare(i);
		ret = pci_host_plug(&M.host, &M.dev[i].d, M.dev[i].devfn);
		FZ_CHECK(ret == 0, "pci_host_plug: %d", ret);
	}
	if (b & 0x80) {
		ret = pci_host_assign_resources(&M.host, 0xc0000000, 0xfec00000,
						b & 0x40 ? 0x8000000000ull : 0,
						b & 0x40 ? 0x10000000000ull : 0, 0xc000, 0x10000);
		FZ_CHECK(ret == 0, "assign resources: %d", ret);
	}
}

/* Nothing of a destroyed function stays with the host: bus ranges,
 * exit-free windows, ioeventfds, its INTx level. Its windows are then
 * forgotten. */
static void check_gone(struct dev *v)
{
	const struct bus *buses[2] = { &M.pio, &M.mmio };

	for (unsigned b = 0; b < 2; b++)
		for (unsigned r = 0; r < buses[b]->nr; r++) {
			const uint8_t *o = buses[b]->ranges[r].opaque;

			FZ_CHECK(o < (const uint8_t *)v || o >= (const uint8_t *)(v + 1),
				 "%s range at 0x%llx of a destroyed function", buses[b]->name,
				 (unsigned long long)buses[b]->ranges[r].base);
		}
	for (unsigned bar = 0; bar < PCI_NUM_BARS; bar++)
		FZ_CHECK(!v->direct[bar], "window of device %u BAR%u left mapped", dev_index(v), bar);
	check_windows_off(v, "after destroy");
	FZ_CHECK(!M.irq_level[dev_gsi(v)], "INTx of a destroyed function asserted");
	for (unsigned k = 0; k < M.nwin; k++)
		if (M.win[k].dev == dev_index(v))
			M.win[k].gone = true;
}

static void teardown(void)
{
	for (unsigned i = 0; i < NDEV; i++) {
		M.dev[i].dead = true;
		pci_device_destroy(&M.dev[i].d);
		check_gone(&M.dev[i]);
	}
	pci_host_destroy(&M.host);
	bus_unregister(&M.mmio, 0xfec00000, &M.platform_mmio);
	bus_unregister(&M.pio, 0x3f8, &M.platform_pio);
	FZ_CHECK(M.mmio.nr == 0 && M.pio.nr == 0, "%u MMIO and %u PIO ranges left after destroy",
		 M.mmio.nr, M.pio.nr);
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

/* Every live window: assigned exactly while its BAR is on the bus with
 * memory decode on (and the host takes that address), where the BAR is
 * now; the core counts the same windows. */
static void check_windows(const struct dev *v, uint16_t cmd)
{
	unsigned count[PCI_NUM_BARS] = { 0 };

	for (unsigned k = 0; k < M.nwin; k++) {
		const struct window *w = &M.win[k];
		const struct pci_bar *bar;
		uint64_t gpa;
		bool want;

		if (w->gone || w->dev != dev_index(v))
			continue;
		bar = &v->d.bars[w->bar];
		gpa = bar->addr + w->offset;
		want = bar->mapped && (cmd & PCI_COMMAND_MEMORY) && !host_refuses(gpa);
		count[w->bar]++;
		FZ_CHECK(w->assigned == want,
			 "window fd %d (BAR%u+0x%llx) assigned %d; BAR mapped %d at 0x%llx, COMMAND 0x%x",
			 w->fd, w->bar, (unsigned long long)w->offset, w->assigned, bar->mapped,
			 (unsigned long long)bar->addr, cmd);
		FZ_CHECK(!w->assigned || w->gpa == gpa, "window fd %d at 0x%llx, BAR%u+0x%llx at 0x%llx",
			 w->fd, (unsigned long long)w->gpa, w->bar, (unsigned long long)w->offset,
			 (unsigned long long)gpa);
	}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		FZ_CHECK(v->d.bars[i].nr_ioeventfds == count[i], "BAR%u holds %u windows, %u added",
			 i, v->d.bars[i].nr_ioeventfds, count[i]);
}

/* The DMA gate is Bus Master Enable while attached; once detached the core
 * leaves the address space alone. */
static void check_dma(struct dev *v, uint16_t cmd)
{
	bool bme = cmd & PCI_COMMAND_MASTER;

	FZ_CHECK(pci_device_bus_master(&v->d) == bme, "pci_device_bus_master() differs from BME %d",
		 bme);
	FZ_CHECK(v->d.dma == (v->dma_attached ? &v->as : NULL), "DMA address space %p",
		 (void *)v->d.dma);
	if (v->dma_attached)
		FZ_CHECK(v->as.enabled == bme, "DMA gate %d with BME %d", v->as.enabled, bme);
	else
		FZ_CHECK(v->as.enabled == v->dma_left, "detached DMA address space gated %d, left %d",
			 v->as.enabled, v->dma_left);
}

static void check_dev(struct dev *v)
{
	const struct pci_device *d = &v->d;
	uint16_t cmd = (uint16_t)cfg_raw32(d, PCI_COMMAND);
	uint16_t sta = (uint16_t)(cfg_raw32(d, PCI_COMMAND) >> 16);
	bool level;

	FZ_CHECK(cfg_raw32(d, 0) == ((uint32_t)v->device << 16 | v->vendor), "identity changed");
	FZ_CHECK(!!(d->config[PCI_HEADER_TYPE] & 0x80) == (v->devfn >> 3 == 3),
		 "multi-function bit of %02x.%x", v->devfn >> 3, v->devfn & 7);
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
	check_windows(v, cmd);
	check_dma(v, cmd);
	level = (sta & PCI_STATUS_INTERRUPT) && !(cmd & PCI_COMMAND_INTX_DISABLE) &&
		!(d->has_msix && d->msix.enabled);
	FZ_CHECK(M.irq_level[dev_gsi(v)] == level, "INTx of %02x.%x is %d, expected %d",
		 v->devfn >> 3, v->devfn & 7, M.irq_level[dev_gsi(v)], level);
}

static uint64_t all_ones(unsigned len)
{
	return len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
}

/* PCI 3.0 3.2.2.3.2: CONFIG_ADDRESS is a dword register at 0xcf8; byte and
 * word references "pass through" as ordinary I/O cycles, which nothing
 * here claims, so they read all ones (QEMU returns the latch for any
 * width; the spec and Warden do not). */
static void check_cf8_read(unsigned off, unsigned len)
{
	uint64_t v = 0, want = off == 0 && len == 4 ? M.latch : all_ones(len);

	bus_read(&M.pio, CF8_PORT + off, &v, len);
	FZ_CHECK(v == want, "CONFIG_ADDRESS read of %u bytes at 0x%x: 0x%llx, expected 0x%llx", len,
		 CF8_PORT + off, (unsigned long long)v, (unsigned long long)want);
}

static void check_all(void)
{
	check_bus(&M.pio);
	check_bus(&M.mmio);
	for (unsigned i = 0; i < NDEV; i++)
		check_dev(&M.dev[i]);
	FZ_CHECK(M.host.config_address == M.latch, "CF8 latch 0x%x, the guest left 0x%x",
		 M.host.config_address, M.latch);
	check_cf8_read(0, 4);
}

/* pci.h: config_write once per accepted config write, with its offset,
 * value and length, in order; reset once per function reset. */
static void check_hooks(void)
{
	if (!M.cw_unmodelled) {
		FZ_CHECK(M.ngot == M.nwant, "%u config_write hooks for %u accepted config writes",
			 M.ngot, M.nwant);
		for (unsigned k = 0; k < M.ngot; k++) {
			const struct cfg_write *g = &M.got[k], *w = &M.want[k];

			FZ_CHECK(g->dev == w->dev && g->off == w->off && g->val == w->val &&
				 g->len == w->len, "config_write hook %u: device %u 0x%x=0x%x (%u), "
				 "written device %u 0x%x=0x%x (%u)", k, g->dev, g->off, g->val, g->len,
				 w->dev, w->off, w->val, w->len);
		}
	}
	FZ_CHECK(M.nreset_got == M.nreset_want, "%u reset hooks for %u function resets",
		 M.nreset_got, M.nreset_want);
	for (unsigned k = 0; k < M.nreset_got; k++)
		FZ_CHECK(M.reset_got[k] == M.reset_want[k], "reset hook %u for device %u, expected %u",
			 k, M.reset_got[k], M.reset_want[k]);
}

static void begin_op(void)
{
	M.ngot = M.nwant = M.nreset_got = M.nreset_want = 0;
	M.cw_unmodelled = false;
}

/* ---- What the guest's accesses promise ---- */

static struct dev *dev_at(unsigned bus, uint8_t devfn)
{
	for (unsigned i = 0; i < NDEV; i++)
		if (bus == 0 && M.dev[i].devfn == devfn)
			return &M.dev[i];
	return NULL;
}

static void expect_config(struct dev *v, uint32_t reg, uint32_t val, unsigned len)
{
	if (!v || !config_access_ok(reg, len))
		return;
	FZ_CHECK(M.nwant < MAX_CFG_WRITES, "more config writes than the harness keeps");
	M.want[M.nwant++] = (struct cfg_write){ dev_index(v), reg, val, len };
}

/* pci_host.c's decoding, as the spec has it: CFC-CFF through the latch when
 * its enable bit is set, inside the dword; ECAM's 8-byte access as two
 * dwords, low first. */
static void expect_cfc(uint64_t off, uint64_t data, unsigned len)
{
	uint32_t a = M.latch;

	if ((a & 0x80000000u) && len <= 4 && off + len <= 4)
		expect_config(dev_at((a >> 16) & 0xff, (uint8_t)(a >> 8)), (a & 0xfc) + (uint32_t)off,
			      (uint32_t)data, len);
}

static void expect_ecam(uint64_t off, uint64_t data, unsigned len)
{
	struct dev *v = dev_at((unsigned)(off >> 20), (uint8_t)(off >> 12));
	uint32_t reg = (uint32_t)off & 0xfff;

	if (len != 8) {
		expect_config(v, reg, (uint32_t)data, len);
	} else if (!(reg & 3)) {
		expect_config(v, reg, (uint32_t)data, 4);
		expect_config(v, reg + 4, (uint32_t)(data >> 32), 4);
	}
}

/* Every guest write goes through here, wherever it lands (a BAR access can
 * run past its BAR onto CF8, CFC or ECAM): what it promises is noted first. */
static void guest_write(struct bus *bus, uint64_t addr, uint64_t data, unsigned len)
{
	struct bus_range r;

	if (bus_find(bus, addr, &r) && r.opaque == &M.host) {
		if (bus == &M.pio && r.base == CF8_PORT && addr == CF8_PORT && len == 4)
			M.latch = (uint32_t)data;
		else if (bus == &M.pio && r.base == CFC_PORT)
			expect_cfc(addr - CFC_PORT, data, len);
		else if (bus == &M.mmio && r.base == ECAM_BASE)
			expect_ecam(addr - ECAM_BASE, data, len);
	}
	bus_write(bus, addr, data, len);
}

static void config_write(struct dev *v, uint32_t off, uint32_t val, unsigned len)
{
	expect_config(v, off, val, len);
	pci_config_write(&v->d, off, val, len);
}

static void expect_resets(struct dev *only)
{
	for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
		struct dev *v = dev_at(0, (uint8_t)devfn);

		if (v && (!only || v == only))
			M.reset_want[M.nreset_want++] = dev_index(v);
	}
}

/* ---- Operands ---- */

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

/* ---- Operations behind the reset selector's bit 1 ---- */

/* Flags: bits 0-2 the length (0, 1, 2, 4, 8, or invalid 3 and 16), bit 3
 * keeps the offset as it comes instead of aligning it. Then a byte: bits
 * 0-2 the BAR (6 and 7 invalid), bit 7 an invalid fd. */
static void op_add_window(struct fz *f, unsigned flags)
{
	static const unsigned lens[8] = { 0, 1, 2, 4, 8, 4, 3, 16 };
	unsigned i = fz_u8(f) % NDEV, sel = fz_u8(f), len = lens[flags & 7];
	uint64_t off = fz_u16(f);

	if (!(flags & 8) && len && !(len & (len - 1)))
		off &= ~(uint64_t)(len - 1);
	add_window(i, sel & 7, off, len, sel & 0x80);
}

/* Flags 0: attach the DMA address space, 1: detach it, 2-3: a DMA read,
 * which moves bytes exactly while the gate is open. */
static void op_dma(struct fz *f, unsigned flags)
{
	struct dev *v = pick_dev(f);
	uint64_t gpa = (uint64_t)fz_u16(f) << 5;
	uint8_t buf[8];
	ssize_t ret, want;

	if ((flags & 3) < 2) {
		attach_dma(v, !(flags & 1));
		return;
	}
	want = v->as.enabled ? (ssize_t)sizeof(buf) : -EPERM;
	ret = dma_read(&v->as, gpa, buf, sizeof(buf));
	FZ_CHECK(ret == want, "DMA read at 0x%llx with the gate %d: %zd",
		 (unsigned long long)gpa, v->as.enabled, ret);
}

/* Hot unplug and plug again. Flags: bit 0 the function raises INTx before
 * it is plugged, bit 1 its BARs and COMMAND are programmed again first (as
 * they were), bit 2 its DMA address space is attached after that. Plugged,
 * it must decode, assign its windows, follow BME and drive INTx at once. */
static void replug(struct dev *v, unsigned flags)
{
	unsigned i = dev_index(v);
	uint32_t bars[PCI_NUM_BARS], cmd = cfg_raw32(&v->d, PCI_COMMAND) & 0xffff;
	int ret;

	for (unsigned r = 0; r < PCI_NUM_BARS; r++)
		bars[r] = cfg_raw32(&v->d, PCI_BASE_ADDRESS_0 + 4 * r);
	v->dead = true;
	pci_device_destroy(&v->d);
	check_gone(v);
	if (v->devfn >> 3 == 3)
		FZ_CHECK(!(M.dev[i ^ 2].d.config[PCI_HEADER_TYPE] & 0x80),
			 "slot 3 still multi-function with one function");
	declare(i);
	if (flags & 1)
		pci_set_intx(&v->d, 1);
	if (flags & 2) {
		for (unsigned r = 0; r < PCI_NUM_BARS; r++)
			config_write(v, PCI_BASE_ADDRESS_0 + 4 * r, bars[r], 4);
		config_write(v, PCI_COMMAND, cmd, 2);
	}
	if (flags & 4)
		attach_dma(v, true);
	ret = pci_host_plug(&M.host, &v->d, v->devfn);
	FZ_CHECK(ret == 0, "pci_host_plug again: %d", ret);
}

static void op_ext(struct fz *f, uint8_t m)
{
	unsigned flags = m >> 4;

	ext = (m >> 2) & 3;
	switch ((m >> 2) & 3) {
	case 0:                                 /* CONFIG_ADDRESS read, any width */
		check_cf8_read(flags & 3, pick_len(f));
		break;
	case 1:
		op_add_window(f, flags);
		break;
	case 2:
		op_dma(f, flags);
		break;
	default:
		replug(pick_dev(f), flags);
		break;
	}
}

/* ---- The harness ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	fz_ram_init(&R, RAM_SIZE);
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
	check_hooks();
	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		uint8_t o = fz_u8(&f);

		begin_op();
		ext = -1;
		switch (o % 16) {
		case 0: {                               /* CF8 latch */
			uint8_t m = fz_u8(&f);
			unsigned port, len;
			uint32_t v;

			if (m & 1)
				v = fz_u32(&f);
			else
				v = 0x80000000u | (m & 2 ? (uint32_t)fz_u8(&f) << 16 : 0) |
				    (uint32_t)pick_devfn(&f) << 8 | (pick_reg(&f) & 0xfc);
			port = CF8_PORT + (m & 4 ? fz_u8(&f) % 8 : 0);
			len = m & 8 ? pick_len(&f) : 4;
			guest_write(&M.pio, port, v, len);
			if (port < CFC_PORT)
				check_cf8_read(port - CF8_PORT, len);
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
				guest_write(&M.pio, 0xcfc + off, fz_u32(&f), len);
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

					guest_write(&M.pio, 0xcf8, 0x80000000u | (uint32_t)devfn << 8 |
						    (reg & 0xfc), 4);
					bus_read(&M.pio, 0xcfc + (reg & 3), &w, len);
					guest_write(&M.pio, 0xcf8, latch, 4);
					FZ_CHECK(v == w, "ECAM read 0x%llx, CF8 read 0x%llx at %02x.%x+0x%x",
						 (unsigned long long)v, (unsigned long long)w,
						 devfn >> 3, devfn & 7, reg);
				}
				if (bus == 0 && reg >= 0x100 && present(0, devfn) && len == 4 && !(reg & 3))
					FZ_CHECK(v == 0, "extended config reads 0x%llx", (unsigned long long)v);
			} else {
				guest_write(&M.mmio, addr, fz_value64(&f), len);
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
				guest_write(bus, bar->addr + off, fz_value64(&f), len);
			break;
		}
		case 8: {                               /* an MSI-X table entry, dword by dword */
			struct dev *v = &M.dev[0];
			unsigned vec = fz_u8(&f) % (v->d.msix.nvec + 1), dw = fz_u8(&f);
			uint64_t base = v->d.bars[0].addr + 0x2000 + vec * 16;

			if (dw & 0x80)
				guest_write(&M.mmio, base + (dw & 8), fz_u64(&f), 8);
			else
				guest_write(&M.mmio, base + (dw & 3) * 4, dw & 0x40 ? fz_u8(&f) & 1 :
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
				config_write(v, off, fz_u32(&f), len);
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
			config_write(v, reg, 0xffffffffu, 4);
			mask = pci_config_read(&v->d, reg, 4);
			if (bar->kind == PCI_BAR_IO)
				FZ_CHECK(mask == ((uint32_t)~(bar->size - 1) | 1), "IO BAR%u sizes as 0x%x", i, mask);
			else if (bar->kind != PCI_BAR_UNUSED)
				FZ_CHECK((mask & ~0xfu) == ((uint32_t)~(bar->size - 1) & ~0xfu),
					 "BAR%u sizes as 0x%x", i, mask);
			config_write(v, reg, old, 4);
			break;
		}
		case 12: {                              /* command register */
			struct dev *v = pick_dev(&f);
			uint8_t m = fz_u8(&f);

			config_write(v, PCI_COMMAND, (m & 0x7) | (uint32_t)(m & 8) << 7, 2);
			break;
		}
		case 13: {                              /* resets; bit 1: the later operations */
			uint8_t m = fz_u8(&f);

			if (m & 2) {
				op_ext(&f, m);
			} else if (m & 1) {
				expect_resets(NULL);
				M.latch = 0;
				pci_host_reset(&M.host);
			} else {
				struct dev *v = pick_dev(&f);

				expect_resets(v);
				pci_device_reset(&v->d);
			}
			break;
		}
		case 14: {                              /* firmware assigns again */
			uint8_t m = fz_u8(&f);
			uint64_t base = m & 1 ? 0xc0000000ull : 0xfebf0000ull;   /* room or none */

			M.cw_unmodelled = true;
			(void)pci_host_assign_resources(&M.host, base, 0xfec00000, 0, 0,
							m & 2 ? 0xc000 : 0xfff0, 0x10000);
			break;
		}
		default:                                /* host refuses or accepts windows */
			M.map_result = fz_u8(&f) & 1 ? -EEXIST : 0;
			break;
		}
		check_all();
		check_hooks();
		if (trace) {
			const struct pci_device *a = &M.dev[0].d;

			if (ext >= 0)
				fprintf(fz_err(), "op %u: later operation %d; %u windows, DMA gates %d%d%d\n",
					op, ext, M.nwin, M.dev[0].as.enabled, M.dev[1].as.enabled,
					M.dev[2].as.enabled);
			fprintf(fz_err(), "op %u (%u): %u MMIO %u PIO ranges; A: BAR0 %d@0x%llx BAR2 %d@0x%llx "
				"BAR4 %d@0x%llx, MSI-X %d, %llu MSIs, window %d\n", op, o % 16, M.mmio.nr,
				M.pio.nr, a->bars[0].mapped, (unsigned long long)a->bars[0].addr,
				a->bars[2].mapped, (unsigned long long)a->bars[2].addr, a->bars[4].mapped,
				(unsigned long long)a->bars[4].addr, a->msix.enabled,
				(unsigned long long)M.msis, M.dev[0].direct[0]);
		}
	}
	begin_op();
	teardown();
	check_hooks();
	return 0;
}
