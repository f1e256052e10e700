/* edu driver self-test against the first 1234:11e8 function on bus 0, on
 * QEMU (-device edu) and on Warden: PCI identity, identification and
 * liveness registers, factorials 0..12, a 4 KiB DMA round trip RAM ->
 * device -> RAM (and the spec's 100-byte example), interrupt raise and
 * acknowledge polled, then by interrupt - MSI-X on Warden, MSI on QEMU
 * (irq=0 skips) and INTx on both (intx=0 skips) - with the factorial and
 * DMA-completion interrupts. Where the Warden extension registers exist,
 * the DMA error cases too: a count over 4 KiB, a buffer window overrun,
 * Bus Master Enable off, and a transfer running off the top of RAM.
 * With msi-dma on the command line (Warden only), a DMA write of a vector
 * to this CPU's MSI address must arrive as that interrupt.
 * Everything after the interrupt set-up runs in ring 3. Prints
 * "edu-selftest: PASS" and exits 0 only if all passed. */
#include "rt.h"
#include "edu.h"

#define VEC_MSG   0x61
#define VEC_INTX  0x62
#define GUARD     64
#define PAGE      4096u

static struct edu_dev dev;
static unsigned failures, checks;
static uint64_t src, dst;               /* 4 KiB each; dst has GUARD bytes each side */
static uint32_t seed = 0x2545f491;

#define CHECK(cond, ...) do {                                   \
	checks++;                                               \
	if (!(cond)) {                                          \
		failures++;                                     \
		printf("edu-selftest: FAIL: " __VA_ARGS__);     \
		printf("\n");                                   \
	}                                                       \
} while (0)

static uint32_t next_rand(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 17;
	seed ^= seed << 5;
	return seed;
}

static void fill_random(uint64_t buf, uint32_t len)
{
	uint32_t *w = (uint32_t *)buf;

	for (uint32_t i = 0; i < len / 4; i++)
		w[i] = next_rand();
}

static bool guards_intact(void)
{
	const uint8_t *p = (const uint8_t *)dst;

	for (unsigned i = 1; i <= GUARD; i++)
		if (p[-(long)i] != 0xa5 || p[PAGE - 1 + i] != 0xa5)
			return false;
	return true;
}

static void reset_dst(uint8_t v)
{
	memset((void *)(dst - GUARD), 0xa5, GUARD);
	memset((void *)dst, v, PAGE);
	memset((void *)(dst + PAGE), 0xa5, GUARD);
}

/* ---- polled: identity, liveness, factorial, DMA, raise/ack ---- */

static void test_identity(void)
{
	uint32_t class = pci_read32(dev.bdf, 0x08);

	CHECK(pci_read16(dev.bdf, 0) == EDU_PCI_VENDOR && pci_read16(dev.bdf, 2) == EDU_PCI_DEVICE,
	      "PCI id %04x:%04x", pci_read16(dev.bdf, 0), pci_read16(dev.bdf, 2));
	CHECK((class & 0xff) == 0x10, "revision 0x%x, expected 0x10", class & 0xff);
	CHECK(class >> 8 == 0x00ff00, "class 0x%06x, expected 0x00ff00", class >> 8);
	CHECK(pci_read8(dev.bdf, 0x3d) == 1, "interrupt pin %u, expected 1 (INTA)",
	      pci_read8(dev.bdf, 0x3d));
	CHECK(dev.id == 0x010000ed, "identification 0x%08x, expected 0x010000ed", dev.id);
	CHECK(dev.bar_size == 0x100000, "BAR0 size 0x%lx, expected 1 MiB", dev.bar_size);
	printf("edu-selftest: ok: ids\n");
}

static void test_liveness(void)
{
	static const uint32_t vals[] = { 0, 1, 0x12345678, 0xffffffff, 0xa5a55a5a };
	unsigned bad = 0;

	for (unsigned i = 0; i < RT_ARRAY_SIZE(vals); i++)
		if (!edu_liveness(&dev, vals[i]))
			bad++;
	CHECK(!bad, "liveness: %u of %u values did not read back inverted", bad,
	      (unsigned)RT_ARRAY_SIZE(vals));
	printf("edu-selftest: ok: liveness\n");
}

static void test_factorials(void)
{
	static const uint32_t expect[13] = { 1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880,
					     3628800, 39916800, 479001600 };
	unsigned good = 0;

	for (uint32_t n = 0; n <= 12; n++) {
		uint32_t v = 0;
		int r = edu_factorial(&dev, n, &v);

		CHECK(r == 0 && v == expect[n], "factorial %u: %s, got %u, expected %u", n,
		      edu_err_name(r), v, expect[n]);
		good += r == 0 && v == expect[n];
	}
	printf("edu-selftest: ok: factorials 0..12 (%u/13 right)\n", good);
}

/* RAM src -> device buffer -> RAM dst, PAGE bytes, polled or by the
 * completion interrupt, in transfers the device takes whole: one each way
 * on Warden, two halves on QEMU (see edu_dev.buf_usable). */
static unsigned chunk_bytes(void)
{
	return dev.buf_usable >= PAGE ? PAGE : PAGE / 2;
}

static int roundtrip(bool irq)
{
	uint32_t chunk = chunk_bytes();
	int r;

	for (uint32_t off = 0; off < PAGE; off += chunk) {
		r = irq ? edu_dma_irq(&dev, src + off, EDU_DMA_BUF, chunk, 0)
			: edu_dma_to_device(&dev, src + off, 0, chunk);
		if (r)
			return r;
		r = irq ? edu_dma_irq(&dev, EDU_DMA_BUF, dst + off, chunk, EDU_DMA_TO_RAM)
			: edu_dma_to_ram(&dev, 0, dst + off, chunk);
		if (r)
			return r;
		if (dev.dma_done != chunk)
			return EDU_E_DMA;
	}
	return 0;
}

static void test_dma_roundtrip(void)
{
	uint64_t t0;
	int r;

	fill_random(src, PAGE);
	reset_dst(0);
	t0 = now_ns();
	r = roundtrip(false);
	CHECK(r == 0, "DMA round trip: %s (error 0x%x, %lu done)", edu_err_name(r), dev.dma_error,
	      dev.dma_done);
	CHECK(!memcmp((void *)src, (void *)dst, PAGE), "DMA round trip: data differs");
	CHECK(guards_intact(), "DMA round trip: bytes around the destination changed");
	printf("edu-selftest: ok: dma 4096-byte round trip RAM -> device -> RAM verified "
	       "(%u x %u bytes each way, %lu us)\n", PAGE / chunk_bytes(), chunk_bytes(),
	       (now_ns() - t0) / 1000);

	/* The spec's example: 100 bytes in at the buffer's start, out from
	 * buffer+100 to addr+100 (which were the next 100 bytes in). */
	fill_random(src, 200);
	reset_dst(0);
	r = edu_dma(&dev, src, EDU_DMA_BUF, 100, 0);
	CHECK(r == 0, "DMA 100 bytes in: %s", edu_err_name(r));
	r = edu_dma(&dev, src + 100, EDU_DMA_BUF + 100, 100, 0);
	CHECK(r == 0, "DMA 100 bytes in at +100: %s", edu_err_name(r));
	r = edu_dma(&dev, EDU_DMA_BUF + 100, dst + 100, 100, EDU_DMA_TO_RAM);
	CHECK(r == 0, "DMA 100 bytes out: %s", edu_err_name(r));
	CHECK(!memcmp((void *)(src + 100), (void *)(dst + 100), 100), "DMA 100 bytes: data differs");
	CHECK(((uint8_t *)dst)[99] == 0 && ((uint8_t *)dst)[200] == 0,
	      "DMA 100 bytes: bytes outside the 100 changed");
	printf("edu-selftest: ok: dma 100-byte transfers at buffer offsets 0 and 100\n");
}

static void test_raise_ack_polled(void)
{
	uint16_t sta;

	edu_w32(&dev, EDU_REG_IRQ_RAISE, 0x1234);
	CHECK(edu_r32(&dev, EDU_REG_IRQ_STATUS) == 0x1234, "interrupt status 0x%x after raise 0x1234",
	      edu_r32(&dev, EDU_REG_IRQ_STATUS));
	/* INTx asserted (no MSI enabled): the function's Interrupt Status. */
	sta = pci_read16(dev.bdf, 0x06);
	CHECK(sta & 0x8, "PCI status 0x%x: Interrupt Status not set while raised", sta);
	edu_w32(&dev, EDU_REG_IRQ_RAISE, 0x10000);
	edu_w32(&dev, EDU_REG_IRQ_ACK, 0x1030);
	CHECK(edu_r32(&dev, EDU_REG_IRQ_STATUS) == 0x10204, "interrupt status 0x%x after partial ack",
	      edu_r32(&dev, EDU_REG_IRQ_STATUS));
	edu_w32(&dev, EDU_REG_IRQ_ACK, 0xffffffff);
	CHECK(edu_r32(&dev, EDU_REG_IRQ_STATUS) == 0, "interrupt status 0x%x after ack",
	      edu_r32(&dev, EDU_REG_IRQ_STATUS));
	sta = pci_read16(dev.bdf, 0x06);
	CHECK(!(sta & 0x8), "PCI status 0x%x: Interrupt Status still set after ack", sta);
	printf("edu-selftest: ok: interrupt raise/ack (polled)\n");
}

static long polled(void *arg)
{
	(void)arg;
	test_identity();
	test_liveness();
	test_factorials();
	test_dma_roundtrip();
	test_raise_ack_polled();
	return 0;
}

/* ---- Warden's DMA error reporting ---- */

/* End of the highest RAM region below 4 GiB. */
static uint64_t top_of_low_ram(void)
{
	const struct rt_mem_region *m;
	unsigned n = rt_memmap(&m);
	uint64_t top = 0;

	for (unsigned i = 0; i < n; i++)
		if (m[i].type == RT_MEM_RAM && m[i].addr + m[i].size <= (1ull << 32) &&
		    m[i].addr + m[i].size > top)
			top = m[i].addr + m[i].size;
	return top;
}

static long dma_errors(void *arg)
{
	uint64_t top = top_of_low_ram();
	int r;

	(void)arg;
	fill_random(src, PAGE);
	reset_dst(0x3c);

	r = edu_dma(&dev, src, EDU_DMA_BUF, PAGE + 1, 0);
	CHECK(r == EDU_E_DMA && dev.dma_error == EDU_DMA_ERR_RANGE && dev.dma_done == 0,
	      "count 4097: %s, error 0x%x, %lu done", edu_err_name(r), dev.dma_error, dev.dma_done);
	CHECK(edu_r32(&dev, EDU_REG_STATUS) & EDU_STATUS_DMA_ERROR, "status lacks the DMA error bit");
	r = edu_dma(&dev, EDU_DMA_BUF + PAGE - 16, dst, 32, EDU_DMA_TO_RAM);
	CHECK(r == EDU_E_DMA && dev.dma_error == EDU_DMA_ERR_RANGE,
	      "buffer window overrun: %s, error 0x%x", edu_err_name(r), dev.dma_error);
	CHECK(((uint8_t *)dst)[0] == 0x3c, "refused transfer wrote RAM");
	printf("edu-selftest: ok: dma count > 4 KiB and window overrun refused\n");

	pci_command(dev.bdf, 0, RT_PCI_CMD_MASTER);
	r = edu_dma(&dev, EDU_DMA_BUF, dst, PAGE, EDU_DMA_TO_RAM);
	CHECK(r == EDU_E_DMA && dev.dma_error == EDU_DMA_ERR_BLOCKED && dev.dma_done == 0,
	      "bus master off: %s, error 0x%x, %lu done", edu_err_name(r), dev.dma_error, dev.dma_done);
	CHECK(((uint8_t *)dst)[0] == 0x3c && ((uint8_t *)dst)[PAGE - 1] == 0x3c,
	      "bus master off: RAM written");
	pci_command(dev.bdf, RT_PCI_CMD_MASTER, 0);
	printf("edu-selftest: ok: dma blocked with bus mastering off\n");

	/* Device -> RAM running off the top of RAM: the bytes below land,
	 * the rest is stopped. */
	r = edu_dma_to_device(&dev, src, 0, PAGE);
	CHECK(r == 0, "reload buffer: %s", edu_err_name(r));
	if (top > PAGE) {
		r = edu_dma(&dev, EDU_DMA_BUF, top - PAGE / 2, PAGE, EDU_DMA_TO_RAM);
		CHECK(r == EDU_E_DMA && dev.dma_error == EDU_DMA_ERR_FAULT && dev.dma_done == PAGE / 2,
		      "past top of RAM 0x%lx: %s, error 0x%x, %lu done", top, edu_err_name(r),
		      dev.dma_error, dev.dma_done);
		CHECK(!memcmp((void *)(top - PAGE / 2), (void *)src, PAGE / 2),
		      "past top of RAM: the bytes below it did not land");
		printf("edu-selftest: ok: dma past top of RAM (0x%lx) stopped after %lu bytes\n", top,
		       dev.dma_done);
	}
	/* And the device still works. */
	reset_dst(0);
	r = edu_dma_to_ram(&dev, 0, dst, PAGE);
	CHECK(r == 0 && !memcmp((void *)src, (void *)dst, PAGE) && guards_intact(),
	      "transfer after the errors: %s", edu_err_name(r));
	CHECK(!(edu_r32(&dev, EDU_REG_STATUS) & EDU_STATUS_DMA_ERROR),
	      "DMA error bit still set after a good transfer");
	return 0;
}

/* ---- Warden: a device write into the interrupt window ---- */

/* With msi-dma on the command line (Warden, whose vmm hands edu's writes
 * to 0xFEExxxxx to its MSI path): a DMA of one dword holding a vector to
 * this CPU's MSI address must arrive as that interrupt. This is the
 * primitive the attack gallery's MSI-spoofing cases build on. */
#define VEC_SPOOF 0x63
static volatile uint32_t spoofed;

static void spoof_handler(unsigned vector)
{
	(void)vector;
	spoofed++;
}

static long msi_dma(void *arg)
{
	uint64_t msg = *(uint64_t *)arg, dl;
	uint32_t word = VEC_SPOOF;
	int r;

	memcpy((void *)src, &word, 4);
	r = edu_dma_to_device(&dev, src, 0, 4);
	CHECK(r == 0, "msi-dma: loading the buffer: %s", edu_err_name(r));
	r = edu_dma(&dev, EDU_DMA_BUF, msg, 4, EDU_DMA_TO_RAM);
	CHECK(r == 0, "msi-dma: DMA to 0x%lx: %s (error 0x%x)", msg, edu_err_name(r), dev.dma_error);
	dl = now_ns() + 1000000000ull;
	while (!spoofed && now_ns() < dl)
		cpu_relax();
	CHECK(spoofed == 1, "msi-dma: %u interrupts on vector 0x%x from a DMA write to 0x%lx",
	      spoofed, VEC_SPOOF, msg);
	printf("edu-selftest: ok: dma write to 0x%lx arrived as interrupt vector 0x%x\n", msg,
	       VEC_SPOOF);
	return 0;
}

/* ---- interrupt-driven ---- */

static long irq_tests(void *arg)
{
	const char *mode = arg;
	uint32_t before, spurious, v = 0;
	int r;

	dev.irq_seen = 0;
	spurious = dev.irq_spurious;
	before = dev.irq_acked;
	edu_w32(&dev, EDU_REG_IRQ_RAISE, 0x5a5);
	r = edu_irq_wait(&dev, before);
	CHECK(r == 0, "%s: no interrupt after raise", mode);
	CHECK(dev.irq_seen == 0x5a5, "%s: handler saw status 0x%x, expected 0x5a5", mode,
	      dev.irq_seen);
	CHECK(edu_r32(&dev, EDU_REG_IRQ_STATUS) == 0, "%s: status 0x%x after the handler's ack", mode,
	      edu_r32(&dev, EDU_REG_IRQ_STATUS));
	/* Acknowledged: no second interrupt with a status follows (a level
	 * line dropped). */
	udelay(2000);
	CHECK(dev.irq_acked == before + 1, "%s: %u interrupts for one raise", mode,
	      dev.irq_acked - before);
	printf("edu-selftest: ok: %s interrupt raise/ack\n", mode);

	dev.irq_seen = 0;
	r = edu_factorial_irq(&dev, 10, &v);
	CHECK(r == 0 && v == 3628800, "%s: factorial 10 by interrupt: %s, got %u", mode,
	      edu_err_name(r), v);
	CHECK(dev.irq_seen == EDU_IRQ_FACT, "%s: factorial interrupt status 0x%x", mode,
	      dev.irq_seen);
	printf("edu-selftest: ok: %s factorial-completion interrupt\n", mode);

	fill_random(src, PAGE);
	reset_dst(0);
	dev.irq_seen = 0;
	r = roundtrip(true);
	CHECK(r == 0, "%s: DMA round trip by interrupt: %s (error 0x%x)", mode, edu_err_name(r),
	      dev.dma_error);
	CHECK(dev.irq_seen == EDU_IRQ_DMA, "%s: DMA interrupt status 0x%x", mode, dev.irq_seen);
	CHECK(!memcmp((void *)src, (void *)dst, PAGE) && guards_intact(),
	      "%s: DMA by interrupt: data differs", mode);
	/* Messages are never shared nor re-sent; a level line may be taken
	 * again after its EOI (KVM on the PVM hosts does), which a driver
	 * must shrug off. */
	spurious = dev.irq_spurious - spurious;
	CHECK(!spurious || dev.mode == EDU_IRQ_INTX, "%s: %u interrupts with a zero status", mode,
	      spurious);
	printf("edu-selftest: ok: %s dma-completion interrupts, 4096-byte round trip verified\n",
	       mode);
	if (spurious)
		printf("edu-selftest: note: %s: %u zero-status interrupts tolerated (level line "
		       "re-delivered after EOI)\n", mode, spurious);
	return 0;
}

static void run_irq_mode(enum edu_irq_mode mode, unsigned vector)
{
	int r = edu_irq_setup(&dev, mode, vector);

	CHECK(r == 0, "interrupt set-up (%s): %s", edu_irq_mode_name(mode), edu_err_name(r));
	if (r)
		return;
	if (dev.mode == EDU_IRQ_INTX)
		printf("edu-selftest: interrupts: intx on GSI %u, vector 0x%x\n", dev.gsi, vector);
	else
		printf("edu-selftest: interrupts: %s, vector 0x%x\n", edu_irq_mode_name(dev.mode),
		       vector);
	run_in_ring3(irq_tests, (void *)edu_irq_mode_name(dev.mode));
}

int main(void)
{
	uint64_t v;
	int r;

	r = edu_open(&dev, -1);
	if (r) {
		printf("edu-selftest: FAIL: no usable edu device (1234:11e8): %s\n", edu_err_name(r));
		return 1;
	}
	printf("edu-selftest: edu at %02x:%02x.%x, BAR0 0x%lx (%lu KiB), id 0x%08x (v%u.%u), "
	       "msi-x %s, msi %s, warden extensions %s\n",
	       dev.bdf >> 8, (dev.bdf >> 3) & 31, dev.bdf & 7, dev.bar, dev.bar_size >> 10, dev.id,
	       dev.id >> 24, (dev.id >> 16) & 0xff, dev.msix_cap ? "yes" : "no",
	       dev.msi_cap ? "yes" : "no", dev.ext ? "yes" : "no");

	/* QEMU's edu masks DMA addresses to 28 bits: keep buffers low. */
	src = rt_alloc(PAGE, PAGE);
	dst = rt_alloc(3 * PAGE, PAGE);
	if (!src || !dst || dst + 3 * PAGE > (1ull << 28)) {
		printf("edu-selftest: FAIL: no DMA buffers below 256 MiB\n");
		return 1;
	}
	dst += PAGE;

	run_in_ring3(polled, NULL);
	if (dev.ext)
		run_in_ring3(dma_errors, NULL);
	else
		printf("edu-selftest: skip: dma error cases (no Warden error registers: QEMU)\n");

	if (rt_cmdline_has("msi-dma")) {
		uint64_t msg = 0xfee00000ull | (uint64_t)(lapic_id() & 0xff) << 12;

		CHECK(dev.ext, "msi-dma needs Warden's edu");
		if (dev.ext) {
			irq_register(VEC_SPOOF, spoof_handler);
			lapic_enable();
			irq_enable();
			run_in_ring3(msi_dma, &msg);
		}
	}

	if (!(rt_cmdline_u64("irq", &v) && v == 0)) {
		run_irq_mode(EDU_IRQ_AUTO, VEC_MSG);
		if (!(rt_cmdline_u64("intx", &v) && v == 0))
			run_irq_mode(EDU_IRQ_INTX, VEC_INTX);
		edu_irq_setup(&dev, EDU_IRQ_NONE, VEC_MSG);
	}

	if (failures) {
		printf("edu-selftest: FAIL (%u of %u checks failed)\n", failures, checks);
		return 1;
	}
	printf("edu-selftest: %u checks passed\n", checks);
	printf("edu-selftest: PASS\n");
	return 0;
}
