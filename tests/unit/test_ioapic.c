/* IOAPIC through a real MMIO bus, with a recording MSI sink standing in
 * for KVM (or the interrupt remapper). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/bus.h"
#include "devices/ioapic.h"

#define BASE     IOAPIC_DEFAULT_BASE
#define REGSEL   (BASE + 0x00)
#define WIN      (BASE + 0x10)
#define EOIREG   (BASE + 0x40)
#define RID      0x00f8       /* a non-default requester id, 00:1f.0 */

struct msi {
	uint64_t addr;
	uint32_t data;
	uint16_t rid;
};

struct ctx {
	struct bus mmio;
	struct ioapic io;
	struct msi sent[64];
	unsigned nr_sent;
	int send_ret;
	unsigned routes_changed;
	unsigned sent_at_last_route;               /* nr_sent when routes last changed */
	uint64_t routed_addr[IOAPIC_NUM_PINS];     /* what the "vmm" mirrored */
	uint32_t routed_data[IOAPIC_NUM_PINS];
};

static struct ctx ctx;

static int record_msi(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct ctx *c = opaque;

	unsigned n = __atomic_fetch_add(&c->nr_sent, 1, __ATOMIC_RELAXED);

	if (n < 64)
		c->sent[n] = (struct msi){ addr, data, rid };
	return c->send_ret;
}

/* Like the vmm: read every pin back from inside the callback (the IOAPIC
 * lock is held, so this also proves it is recursive). */
static void on_routes_changed(void *opaque)
{
	struct ctx *c = opaque;
	unsigned pin;

	c->routes_changed++;
	c->sent_at_last_route = c->nr_sent;
	for (pin = 0; pin < IOAPIC_NUM_PINS; pin++)
		assert_true(ioapic_pin_msi(&c->io, pin, &c->routed_addr[pin],
					   &c->routed_data[pin]));
}

static int setup(void **state)
{
	struct msi_sink sink = { record_msi, &ctx };

	memset(&ctx, 0, sizeof(ctx));
	if (bus_init(&ctx.mmio, "mmio") ||
	    ioapic_init(&ctx.io, &sink, RID, on_routes_changed, &ctx) ||
	    ioapic_attach(&ctx.io, &ctx.mmio, BASE))
		return -1;
	*state = &ctx;
	return 0;
}

static int teardown(void **state)
{
	ioapic_destroy(&ctx.io);
	bus_destroy(&ctx.mmio);
	return 0;
}

static uint32_t ind_read(struct ctx *c, uint8_t reg)
{
	uint64_t v;

	assert_true(bus_write(&c->mmio, REGSEL, reg, 4));
	assert_true(bus_read(&c->mmio, WIN, &v, 4));
	return (uint32_t)v;
}

static void ind_write(struct ctx *c, uint8_t reg, uint32_t v)
{
	assert_true(bus_write(&c->mmio, REGSEL, reg, 4));
	assert_true(bus_write(&c->mmio, WIN, v, 4));
}

static uint64_t rte_read(struct ctx *c, unsigned pin)
{
	return ind_read(c, 0x10 + 2 * pin) | (uint64_t)ind_read(c, 0x11 + 2 * pin) << 32;
}

/* High dword first, as Linux does, so the entry is complete when the low
 * dword (with the mask bit) lands. */
static void rte_write(struct ctx *c, unsigned pin, uint64_t rte)
{
	ind_write(c, 0x11 + 2 * pin, (uint32_t)(rte >> 32));
	ind_write(c, 0x10 + 2 * pin, (uint32_t)rte);
}

static void test_id_version_arb(void **state)
{
	struct ctx *c = *state;
	uint64_t v;

	assert_int_equal(ind_read(c, 0x01), 0x00170020);    /* version 0x20, 24 entries */
	assert_int_equal(ind_read(c, 0x00), 0);
	ind_write(c, 0x00, 0x0a000000);
	assert_int_equal(ind_read(c, 0x00), 0x0a000000);
	assert_int_equal(ind_read(c, 0x02), 0x0a000000);
	ind_write(c, 0x00, 0xff000000);                     /* 4-bit ID */
	assert_int_equal(ind_read(c, 0x00), 0x0f000000);
	/* Read-only and undefined registers ignore writes. */
	ind_write(c, 0x01, 0);
	assert_int_equal(ind_read(c, 0x01), 0x00170020);
	ind_write(c, 0x40, 0x1234);
	assert_int_equal(ind_read(c, 0x40), 0);
	assert_int_equal(ind_read(c, 0x03), 0);
	/* IOREGSEL reads back (8 bits). */
	assert_true(bus_write(&c->mmio, REGSEL, 0x1ff, 4));
	assert_true(bus_read(&c->mmio, REGSEL, &v, 4));
	assert_int_equal(v, 0xff);
	/* Only dword IOWIN accesses are defined. */
	assert_true(bus_write(&c->mmio, REGSEL, 0x01, 4));
	assert_true(bus_read(&c->mmio, WIN, &v, 1));
	assert_int_equal(v, 0);
	assert_true(bus_read(&c->mmio, BASE + 0x20, &v, 4));
	assert_int_equal(v, 0);
	assert_int_equal(c->routes_changed, 0);
}

static void test_rte_read_write(void **state)
{
	struct ctx *c = *state;
	unsigned pin;

	for (pin = 0; pin < IOAPIC_NUM_PINS; pin++)
		assert_int_equal(rte_read(c, pin), IOAPIC_RTE_MASKED);
	rte_write(c, 23, 0xff0000000001a9b1ull);     /* masked, level, lowpri... */
	assert_int_equal(rte_read(c, 23), 0xff0000000001a9b1ull);
	assert_int_equal(ioapic_read_rte(&c->io, 23), 0xff0000000001a9b1ull);
	assert_int_equal(c->routes_changed, 2);      /* one per dword that changed */
	/* Remote IRR and delivery status are read-only. */
	rte_write(c, 5, IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_DELIVS |
		  IOAPIC_RTE_TRIGGER_LEVEL | 0x33);
	assert_int_equal(rte_read(c, 5), IOAPIC_RTE_MASKED | IOAPIC_RTE_TRIGGER_LEVEL | 0x33);
	/* Rewriting the same value is not a route change. */
	c->routes_changed = 0;
	rte_write(c, 5, IOAPIC_RTE_MASKED | IOAPIC_RTE_TRIGGER_LEVEL | 0x33);
	assert_int_equal(c->routes_changed, 0);
	/* Entries past the last pin do not exist. */
	ind_write(c, 0x40, 0xffffffff);
	assert_int_equal(rte_read(c, 23), 0xff0000000001a9b1ull);
	assert_int_equal(c->nr_sent, 0);
}

static void test_masked_pin(void **state)
{
	struct ctx *c = *state;
	struct ioapic_pin_stats st;

	ioapic_set_irq(&c->io, 3, 1);
	ioapic_set_irq(&c->io, 3, 0);
	assert_int_equal(c->nr_sent, 0);
	assert_int_equal(ioapic_pin_stats(&c->io, 3, &st), 0);
	assert_int_equal(st.asserts, 1);
	assert_int_equal(st.masked, 1);
	assert_int_equal(st.delivered, 0);
	/* A masked edge is lost, not held pending (82093AA). */
	ioapic_set_irq(&c->io, 3, 1);
	rte_write(c, 3, 0x30);
	assert_int_equal(c->nr_sent, 0);
	/* Bad pins are a host bug: logged, no crash. */
	ioapic_set_irq(&c->io, IOAPIC_NUM_PINS, 1);
	assert_int_equal(ioapic_pin_stats(&c->io, IOAPIC_NUM_PINS, &st), -EINVAL);
}

static void test_edge(void **state)
{
	struct ctx *c = *state;
	struct ioapic_pin_stats st;

	rte_write(c, 4, (1ull << 56) | 0x31);        /* dest 1, physical, fixed, edge */
	ioapic_set_irq(&c->io, 4, 1);
	assert_int_equal(c->nr_sent, 1);
	assert_int_equal(c->sent[0].addr, 0xfee01000);
	assert_int_equal(c->sent[0].data, 0x31);
	assert_int_equal(c->sent[0].rid, RID);
	/* Staying high is no new edge. */
	ioapic_set_irq(&c->io, 4, 1);
	assert_int_equal(c->nr_sent, 1);
	ioapic_set_irq(&c->io, 4, 0);
	ioapic_set_irq(&c->io, 4, 1);
	assert_int_equal(c->nr_sent, 2);
	/* Edge entries never set remote IRR; EOIs for them do nothing. */
	assert_int_equal(rte_read(c, 4) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioapic_eoi(&c->io, 0x31);
	assert_int_equal(c->nr_sent, 2);
	assert_int_equal(ioapic_pin_stats(&c->io, 4, &st), 0);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.asserts, 2);
	/* Through the irq_line adapter, as devices use it. */
	struct irq_line l = ioapic_irq_line(&c->io, 4);

	irq_line_set(&l, 0);
	irq_line_set(&l, 1);
	assert_int_equal(c->nr_sent, 3);
}

static void test_level_remote_irr_eoi(void **state)
{
	struct ctx *c = *state;
	struct ioapic_pin_stats st;
	const uint64_t rte = (2ull << 56) | IOAPIC_RTE_TRIGGER_LEVEL | IOAPIC_RTE_DESTMOD |
			     (IOAPIC_DELMOD_LOWPRI << 8) | 0x41;

	rte_write(c, 10, rte);
	assert_int_equal(c->nr_sent, 0);
	ioapic_set_irq(&c->io, 10, 1);
	assert_int_equal(c->nr_sent, 1);
	assert_int_equal(c->sent[0].addr, 0xfee02004);          /* dest 2, logical */
	assert_int_equal(c->sent[0].data, 0xc141);              /* level, assert, lowpri */
	assert_int_equal(rte_read(c, 10), rte | IOAPIC_RTE_REMOTE_IRR);
	/* Busy until EOI: more assertions send nothing. */
	ioapic_set_irq(&c->io, 10, 1);
	assert_int_equal(c->nr_sent, 1);
	/* An EOI for another vector changes nothing. */
	ioapic_eoi(&c->io, 0x42);
	assert_int_equal(c->nr_sent, 1);
	/* EOI with the line still high: redelivered at once. */
	ioapic_eoi(&c->io, 0x41);
	assert_int_equal(c->nr_sent, 2);
	assert_int_equal(rte_read(c, 10) & IOAPIC_RTE_REMOTE_IRR, IOAPIC_RTE_REMOTE_IRR);
	/* The device deasserts, then the EOI: idle. */
	ioapic_set_irq(&c->io, 10, 0);
	ioapic_eoi(&c->io, 0x41);
	assert_int_equal(c->nr_sent, 2);
	assert_int_equal(rte_read(c, 10) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* The EOI register of version 0x20 does the same as KVM's EOI exit. */
	ioapic_set_irq(&c->io, 10, 1);
	assert_int_equal(c->nr_sent, 3);
	assert_true(bus_write(&c->mmio, EOIREG, 0x41, 4));
	assert_int_equal(c->nr_sent, 4);
	assert_int_equal(ioapic_pin_stats(&c->io, 10, &st), 0);
	assert_int_equal(st.eois, 3);
	assert_int_equal(st.delivered, 4);
	/* Switching to edge clears a stuck remote IRR (Linux uses this). */
	rte_write(c, 10, rte & ~IOAPIC_RTE_TRIGGER_LEVEL);
	assert_int_equal(rte_read(c, 10) & IOAPIC_RTE_REMOTE_IRR, 0);
}

static void test_level_unmask_delivers(void **state)
{
	struct ctx *c = *state;
	const uint64_t rte = IOAPIC_RTE_TRIGGER_LEVEL | 0x50;

	rte_write(c, 11, rte | IOAPIC_RTE_MASKED);
	ioapic_set_irq(&c->io, 11, 1);
	assert_int_equal(c->nr_sent, 0);
	/* A level input still high when unmasked is delivered then. */
	rte_write(c, 11, rte);
	assert_int_equal(c->nr_sent, 1);
	assert_int_equal(c->sent[0].data, 0xc050);
	/* Masking does not drop remote IRR; the EOI still comes. */
	rte_write(c, 11, rte | IOAPIC_RTE_MASKED);
	ioapic_eoi(&c->io, 0x50);
	assert_int_equal(c->nr_sent, 1);
	assert_int_equal(rte_read(c, 11) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Two level pins sharing a vector are both redelivered. */
	rte_write(c, 12, rte);
	rte_write(c, 13, rte);
	ioapic_set_irq(&c->io, 12, 1);
	ioapic_set_irq(&c->io, 13, 1);
	assert_int_equal(c->nr_sent, 3);
	ioapic_eoi(&c->io, 0x50);
	assert_int_equal(c->nr_sent, 5);
}

static void test_msi_encoding(void **state)
{
	uint64_t addr;
	uint32_t data;

	(void)state;
	/* Compatibility: dest 0xff physical fixed edge. */
	ioapic_rte_to_msi(0xff00000000000020ull, &addr, &data);
	assert_int_equal(addr, 0xfeeff000);
	assert_int_equal(data, 0x20);
	/* Logical, NMI: the vector still goes along, trigger edge. */
	ioapic_rte_to_msi(0x0300000000000c00ull, &addr, &data);
	assert_int_equal(addr, 0xfee03004);
	assert_int_equal(data, 0x400);
	/* Extended destination id bits 55:49 land in address bits 11:5. */
	ioapic_rte_to_msi(0x01fe000000000021ull, &addr, &data);
	assert_int_equal(addr, 0xfee01fe0);
	/* The mask bit does not change the message. */
	ioapic_rte_to_msi(0x0100000000018021ull, &addr, &data);
	assert_int_equal(addr, 0xfee01000);
	assert_int_equal(data, 0xc021);
}

static void test_remappable_format(void **state)
{
	struct ctx *c = *state;
	const unsigned index = 0x9234;      /* index[15] set */
	const uint64_t rte = ((uint64_t)(index & 0x7fff) << IOAPIC_RTE_IR_INDEX_SHIFT) |
			     IOAPIC_RTE_IR_FORMAT | IOAPIC_RTE_IR_INDEX15 |
			     IOAPIC_RTE_TRIGGER_LEVEL | 0x61;
	const uint64_t want = 0xfee00000ull | ((uint64_t)(index & 0x7fff) << 5) |
			      (1u << 4) | (1u << 2);
	uint64_t addr;
	uint32_t data;

	rte_write(c, 9, rte);
	assert_int_equal(rte_read(c, 9), rte);
	assert_true(ioapic_pin_msi(&c->io, 9, &addr, &data));
	assert_int_equal(addr, want);
	assert_int_equal(addr & IOAPIC_MSI_ADDR_IR_SHV, 0);    /* no subhandle */
	/* Vector and trigger mode ride along so the remapper can check them
	 * against the IRTE (VT-d 5.1.5.1). */
	assert_int_equal(data, 0xc061);
	ioapic_set_irq(&c->io, 9, 1);
	assert_int_equal(c->nr_sent, 1);
	assert_int_equal(c->sent[0].addr, want);
	assert_int_equal(c->sent[0].rid, RID);
	/* EOI by the vector in bits 7:0 works in this format too. */
	ioapic_set_irq(&c->io, 9, 0);
	ioapic_eoi(&c->io, 0x61);
	assert_int_equal(rte_read(c, 9) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* index 0: only the format bit. */
	ioapic_rte_to_msi(IOAPIC_RTE_IR_FORMAT | 0x30, &addr, &data);
	assert_int_equal(addr, 0xfee00010);
	assert_int_equal(data, 0x30);
	/* Largest index without bit 15: 0x7fff in bits 19:5. */
	ioapic_rte_to_msi(IOAPIC_RTE_IR_FORMAT | (0x7fffull << 49), &addr, &data);
	assert_int_equal(addr, 0xfeeffff0);
}

static void test_routes_changed(void **state)
{
	struct ctx *c = *state;
	unsigned sent;

	rte_write(c, 2, (5ull << 56) | IOAPIC_RTE_TRIGGER_LEVEL | 0x72);
	assert_int_equal(c->routes_changed, 2);
	/* The callback saw the final entry, not a half-written one. */
	assert_int_equal(c->routed_addr[2], 0xfee05000);
	assert_int_equal(c->routed_data[2], 0xc072);
	/* Delivery and EOI are not route changes. */
	ioapic_set_irq(&c->io, 2, 1);
	ioapic_eoi(&c->io, 0x72);
	assert_int_equal(c->routes_changed, 2);
	/* IOREGSEL and ID writes are not either. */
	ind_write(c, 0x00, 0x01000000);
	assert_int_equal(c->routes_changed, 2);
	/* Unmasking a level pin whose line is high: the route is in place
	 * before the MSI goes out, so KVM will report its EOI. */
	rte_write(c, 3, IOAPIC_RTE_MASKED | IOAPIC_RTE_TRIGGER_LEVEL | 0x73);
	sent = c->nr_sent;
	ioapic_set_irq(&c->io, 3, 1);
	assert_int_equal(c->nr_sent, sent);
	rte_write(c, 3, IOAPIC_RTE_TRIGGER_LEVEL | 0x73);
	assert_int_equal(c->nr_sent, sent + 1);
	assert_int_equal(c->sent_at_last_route, sent);
	assert_int_equal(c->routed_data[3], 0xc073);
	assert_int_equal(c->routes_changed, 4);
	ioapic_reset(&c->io);
	assert_int_equal(c->routes_changed, 5);
	assert_int_equal(rte_read(c, 2), IOAPIC_RTE_MASKED);
	assert_int_equal(ind_read(c, 0x00), 0);
}

static void test_send_error_counted(void **state)
{
	struct ctx *c = *state;
	struct ioapic_pin_stats st;

	rte_write(c, 7, 0x27);
	c->send_ret = -ENODEV;
	ioapic_set_irq(&c->io, 7, 1);
	assert_int_equal(c->nr_sent, 1);
	assert_int_equal(ioapic_pin_stats(&c->io, 7, &st), 0);
	assert_int_equal(st.send_errors, 1);
}

static void test_no_sink(void **state)
{
	struct ioapic io;
	struct ioapic_pin_stats st;
	uint64_t addr;
	uint32_t data;

	(void)state;
	memset(&io, 0, sizeof(io));
	ioapic_destroy(&io);                /* never initialized: harmless */
	assert_int_equal(ioapic_init(&io, NULL, 0, NULL, NULL), 0);
	io.rte[0] = 0x30;
	ioapic_set_irq(&io, 0, 1);          /* -ENODEV from msi_send: counted */
	assert_int_equal(ioapic_pin_stats(&io, 0, &st), 0);
	assert_int_equal(st.send_errors, 1);
	ioapic_reset(&io);                  /* no callback: fine */
	assert_false(ioapic_pin_msi(&io, IOAPIC_NUM_PINS, &addr, &data));
	/* Masked pins are reported too, for their EOI routes. */
	assert_true(ioapic_pin_msi(&io, 0, &addr, &data));
	assert_int_equal(addr, 0xfee00000);
	ioapic_destroy(&io);
	ioapic_destroy(&io);
}

static void test_save_load(void **state)
{
	struct ctx *c = *state;
	struct ioapic copy;
	struct msi_sink sink = { record_msi, &ctx };
	uint8_t buf[512];
	int n;

	ind_write(c, 0x00, 0x03000000);
	rte_write(c, 6, (1ull << 56) | IOAPIC_RTE_TRIGGER_LEVEL | 0x66);
	rte_write(c, 8, 0x38);
	ioapic_set_irq(&c->io, 6, 1);       /* in flight: remote IRR set */
	assert_int_equal(c->nr_sent, 1);
	assert_true(bus_write(&c->mmio, REGSEL, 0x1d, 4));

	n = ioapic_save(&c->io, NULL, 0);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	assert_int_equal(ioapic_save(&c->io, buf, 8), -ENOSPC);
	assert_int_equal(ioapic_save(&c->io, buf, sizeof(buf)), n);

	assert_int_equal(ioapic_init(&copy, &sink, RID, NULL, NULL), 0);
	assert_int_equal(ioapic_load(&copy, buf, (size_t)n), 0);
	assert_int_equal(copy.id, 3);
	assert_int_equal(copy.ioregsel, 0x1d);
	assert_int_equal(ioapic_read_rte(&copy, 6),
			 (1ull << 56) | IOAPIC_RTE_TRIGGER_LEVEL | IOAPIC_RTE_REMOTE_IRR | 0x66);
	assert_int_equal(ioapic_read_rte(&copy, 8), 0x38);
	/* The in-flight interrupt's EOI arrives at the destination, the line
	 * is still high: redelivered from there. */
	ioapic_eoi(&copy, 0x66);
	assert_int_equal(c->nr_sent, 2);
	assert_int_equal(c->sent[1].addr, 0xfee01000);
	/* Inconsistent states are refused. */
	buf[0] ^= 1;
	assert_int_equal(ioapic_load(&copy, buf, (size_t)n), -EINVAL);
	buf[0] ^= 1;
	assert_int_equal(ioapic_load(&copy, buf, (size_t)n - 1), -EINVAL);
	ioapic_destroy(&copy);
}

static void *toggler(void *arg)
{
	unsigned pin = (unsigned)(uintptr_t)arg;
	unsigned i;

	for (i = 0; i < 20000; i++) {
		ioapic_set_irq(&ctx.io, pin, 1);
		ioapic_set_irq(&ctx.io, pin, 0);
	}
	return NULL;
}

/* Devices on their threads while a vCPU reprograms another entry (and the
 * routes callback reads the table back): no deadlock, no lost edges. */
static void test_concurrent_pins(void **state)
{
	struct ctx *c = *state;
	struct ioapic_pin_stats st;
	pthread_t t[4];
	unsigned pin, i;

	for (pin = 0; pin < 4; pin++)
		rte_write(c, pin, 0x40 + pin);
	for (pin = 0; pin < 4; pin++)
		assert_int_equal(pthread_create(&t[pin], NULL, toggler, (void *)(uintptr_t)pin), 0);
	for (i = 0; i < 2000; i++)
		rte_write(c, 20, IOAPIC_RTE_MASKED | (i & 0xff));
	for (pin = 0; pin < 4; pin++)
		pthread_join(t[pin], NULL);
	for (pin = 0; pin < 4; pin++) {
		assert_int_equal(ioapic_pin_stats(&c->io, pin, &st), 0);
		assert_int_equal(st.delivered, 20000);
	}
	assert_int_equal(c->nr_sent, 80000);
	assert_true(c->routes_changed >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_id_version_arb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rte_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masked_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_remote_irr_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_unmask_delivers, setup, teardown),
		cmocka_unit_test(test_msi_encoding),
		cmocka_unit_test_setup_teardown(test_remappable_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_error_counted, setup, teardown),
		cmocka_unit_test(test_no_sink),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_pins, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
