/* ACPI PM block (and the i8042 reset line, the other way a guest asks to
 * stop) through a real PIO bus with a recording power_ctl and SCI line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/bus.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"

#define PM1_STS (ACPI_PM_BASE + ACPI_PM1_STS)
#define PM1_EN  (ACPI_PM_BASE + ACPI_PM1_EN)
#define PM1_CNT (ACPI_PM_BASE + ACPI_PM1_CNT)
#define PM_TMR  (ACPI_PM_BASE + ACPI_PM_TMR)
#define GPE0_STS (ACPI_PM_BASE + ACPI_GPE0_STS)
#define GPE0_EN (ACPI_PM_BASE + ACPI_GPE0_EN)

struct fake_power {
	unsigned calls;
	int status;
	const char *reason;
};

static void fake_request_exit(void *opaque, int status, const char *reason)
{
	struct fake_power *p = opaque;

	p->calls++;
	p->status = status;
	p->reason = reason;
}

struct fake_irq {
	int level;
	unsigned calls;
};

static void fake_irq_set(void *opaque, unsigned pin, int level)
{
	struct fake_irq *f = opaque;

	assert_int_equal(pin, ACPI_PM_SCI_IRQ);
	f->calls++;
	f->level = level;
}

struct ctx {
	struct bus pio;
	struct acpi_pm pm;
	struct i8042 kbd;
	struct fake_power power;
	struct fake_irq sci;
};

static struct ctx ctx;

static int setup(void **state)
{
	struct power_ctl pc = { fake_request_exit, &ctx.power };
	struct irq_line sci = { fake_irq_set, &ctx.sci, ACPI_PM_SCI_IRQ };

	memset(&ctx, 0, sizeof(ctx));
	if (bus_init(&ctx.pio, "pio") || acpi_pm_init(&ctx.pm, &pc) ||
	    acpi_pm_attach(&ctx.pm, &ctx.pio, ACPI_PM_BASE) || i8042_init(&ctx.kbd, &pc) ||
	    i8042_attach(&ctx.kbd, &ctx.pio, I8042_CMD_PORT))
		return -1;
	acpi_pm_set_sci(&ctx.pm, &sci);
	*state = &ctx;
	return 0;
}

static int teardown(void **state)
{
	acpi_pm_destroy(&ctx.pm);
	i8042_destroy(&ctx.kbd);
	bus_destroy(&ctx.pio);
	return 0;
}

static uint64_t in(struct ctx *c, uint16_t port, unsigned len)
{
	uint64_t v;

	assert_true(bus_read(&c->pio, port, &v, len));
	return v;
}

static void out(struct ctx *c, uint16_t port, uint64_t v, unsigned len)
{
	assert_true(bus_write(&c->pio, port, v, len));
}

static void test_reset_state(void **state)
{
	struct ctx *c = *state;

	/* Always in ACPI mode: SCI_EN reads set, nothing pending. */
	assert_int_equal(in(c, PM1_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(in(c, PM1_STS, 2), 0);
	assert_int_equal(in(c, PM1_EN, 2), 0);
	assert_int_equal(in(c, GPE0_STS, 4), 0);
	assert_int_equal(c->sci.level, 0);
	assert_int_equal(c->sci.calls, 0);
}

static void test_s5_power_off(void **state)
{
	struct ctx *c = *state;

	/* ACPICA writes SLP_TYP first, then SLP_TYP | SLP_EN. */
	out(c, PM1_CNT, ACPI_PM1_CNT_SCI_EN | (ACPI_SLP_TYP_S5 << 10), 2);
	assert_int_equal(c->power.calls, 0);
	out(c, PM1_CNT, ACPI_PM1_CNT_SCI_EN | (ACPI_SLP_TYP_S5 << 10) | ACPI_PM1_CNT_SLP_EN, 2);
	assert_int_equal(c->power.calls, 1);
	assert_int_equal(c->power.status, 0);
	assert_string_equal(c->power.reason, "acpi-s5");
	/* SLP_EN is write-only. */
	assert_int_equal(in(c, PM1_CNT, 2), ACPI_PM1_CNT_SCI_EN);
}

static void test_s5_byte_write(void **state)
{
	struct ctx *c = *state;

	/* SLP_TYP and SLP_EN share the high byte: one byte write suffices. */
	out(c, PM1_CNT + 1, ACPI_PM1_CNT_SLP_EN >> 8, 1);
	assert_int_equal(c->power.calls, 1);
	assert_string_equal(c->power.reason, "acpi-s5");
	/* A 32-bit write to the block works too. */
	out(c, PM1_CNT, ACPI_PM1_CNT_SLP_EN | ACPI_PM1_CNT_SCI_EN, 4);
	assert_int_equal(c->power.calls, 2);
}

static void test_other_sleep_types_ignored(void **state)
{
	struct ctx *c = *state;
	unsigned typ;

	for (typ = 1; typ < 8; typ++) {
		out(c, PM1_CNT, (typ << 10) | ACPI_PM1_CNT_SLP_EN | ACPI_PM1_CNT_SCI_EN, 2);
		assert_int_equal(in(c, PM1_CNT, 2), (typ << 10) | ACPI_PM1_CNT_SCI_EN);
	}
	assert_int_equal(c->power.calls, 0);
	assert_int_equal(c->pm.sleep_requests, 7);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_pm_timer(void **state)
{
	struct ctx *c = *state;
	uint32_t a, b, prev;
	uint64_t t0, t1, ticks, expect;
	unsigned i;

	/* Freshly powered on: near 0, 24 bits. */
	a = (uint32_t)in(c, PM_TMR, 4);
	assert_true(a < ACPI_PM_TIMER_HZ);
	/* Monotonic across many reads (no wrap: 4.69 s period). */
	prev = a;
	for (i = 0; i < 10000; i++) {
		b = (uint32_t)in(c, PM_TMR, 4);
		assert_true(b >= prev);
		assert_int_equal(b & ~ACPI_PM_TIMER_MASK, 0);
		prev = b;
	}
	/* Runs at 3.579545 MHz. */
	t0 = now_ns();
	a = (uint32_t)in(c, PM_TMR, 4);
	usleep(50000);
	b = (uint32_t)in(c, PM_TMR, 4);
	t1 = now_ns();
	ticks = (b - a) & ACPI_PM_TIMER_MASK;
	expect = (t1 - t0) * ACPI_PM_TIMER_HZ / 1000000000ull;
	assert_true(ticks <= expect + 1);
	assert_true(ticks + expect / 100 + 10 >= expect * 99 / 100);
	assert_true(ticks > 150000);        /* at least ~42 ms */
	/* Byte reads of the timer see bytes of one value. */
	a = (uint32_t)in(c, PM_TMR + 3, 1);
	assert_int_equal(a, 0);
	/* Writes are ignored. */
	out(c, PM_TMR, 0, 4);
	assert_true((uint32_t)in(c, PM_TMR, 4) >= b);
}

static void test_power_button_sci(void **state)
{
	struct ctx *c = *state;

	/* Nobody listening: the vmm must stop the machine itself. */
	assert_int_equal(acpi_pm_power_button(&c->pm), -ENODEV);
	assert_int_equal(c->sci.level, 0);
	assert_int_equal(in(c, PM1_STS, 2) & ACPI_PM1_PWRBTN, ACPI_PM1_PWRBTN);
	out(c, PM1_STS, ACPI_PM1_PWRBTN, 2);                 /* W1C */
	assert_int_equal(in(c, PM1_STS, 2), 0);

	out(c, PM1_EN, ACPI_PM1_PWRBTN | 0x0002, 2);         /* bit 1 does not exist */
	assert_int_equal(in(c, PM1_EN, 2), ACPI_PM1_PWRBTN);
	assert_int_equal(acpi_pm_power_button(&c->pm), 0);
	assert_int_equal(c->sci.level, 1);
	/* Writing 0 clears nothing; writing 1 clears and drops SCI. */
	out(c, PM1_STS, 0, 2);
	assert_int_equal(c->sci.level, 1);
	out(c, PM1_STS + 1, ACPI_PM1_PWRBTN >> 8, 1);
	assert_int_equal(c->sci.level, 0);
	/* SCI_EN gates the line. */
	out(c, PM1_CNT, 0, 2);
	assert_int_equal(acpi_pm_power_button(&c->pm), -ENODEV);
	assert_int_equal(c->sci.level, 0);
	out(c, PM1_CNT, ACPI_PM1_CNT_SCI_EN, 2);
	assert_int_equal(c->sci.level, 1);
}

static void test_gpe(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(acpi_pm_raise_gpe(&c->pm, 64), -EINVAL);
	assert_int_equal(acpi_pm_raise_gpe(&c->pm, 9), 0);
	assert_int_equal(c->sci.level, 0);
	assert_int_equal(in(c, GPE0_STS, 4), 1u << 9);
	out(c, GPE0_EN + 1, 0x02, 1);
	assert_int_equal(c->sci.level, 1);
	assert_int_equal(in(c, GPE0_EN, 2), 1u << 9);
	out(c, GPE0_STS, 1u << 9, 4);
	assert_int_equal(c->sci.level, 0);
	assert_int_equal(in(c, GPE0_STS, 4), 0);
}

static void test_save_load(void **state)
{
	struct ctx *c = *state;
	struct acpi_pm copy;
	uint8_t buf[128];
	uint32_t before, after;
	int n;

	out(c, PM1_EN, ACPI_PM1_PWRBTN, 2);
	out(c, GPE0_EN, 0x0f, 1);
	usleep(20000);
	n = acpi_pm_save(&c->pm, NULL, 0);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	assert_int_equal(acpi_pm_save(&c->pm, buf, 3), -ENOSPC);
	before = acpi_pm_timer(&c->pm);
	assert_int_equal(acpi_pm_save(&c->pm, buf, sizeof(buf)), n);

	assert_int_equal(acpi_pm_init(&copy, NULL), 0);
	assert_int_equal(acpi_pm_load(&copy, buf, (size_t)n), 0);
	after = acpi_pm_timer(&copy);
	/* The timer carries on from the saved count (not from 0). */
	assert_true(after >= before);
	assert_true(after - before < ACPI_PM_TIMER_HZ / 10);
	assert_int_equal(copy.pm1_en, ACPI_PM1_PWRBTN);
	assert_int_equal(copy.gpe0_en[0], 0x0f);
	assert_int_equal(copy.pm1_cnt, ACPI_PM1_CNT_SCI_EN);
	buf[8] = 0xff;                      /* PM1_STS with undefined bits */
	buf[9] = 0xff;
	assert_int_equal(acpi_pm_load(&copy, buf, (size_t)n), -EINVAL);
	acpi_pm_destroy(&copy);
}

static void test_i8042_reset(void **state)
{
	struct ctx *c = *state;

	/* Linux waits for "input buffer empty" before each command. */
	assert_int_equal(in(c, I8042_CMD_PORT, 1), 0);
	out(c, I8042_CMD_PORT, 0xaa, 1);    /* self-test: ignored */
	out(c, I8042_CMD_PORT, 0x20, 1);    /* read CTR: ignored */
	assert_int_equal(c->power.calls, 0);
	out(c, I8042_CMD_PORT, I8042_CMD_RESET, 1);
	assert_int_equal(c->power.calls, 1);
	assert_int_equal(c->power.status, 0);
	assert_string_equal(c->power.reason, "reset");
	assert_int_equal(c->kbd.resets, 1);
	assert_int_equal(c->kbd.other_cmds, 2);
	/* Only the command port is claimed. */
	assert_false(bus_write(&c->pio, 0x60, 0xfe, 1));
}

static void test_i8042_save_load(void **state)
{
	struct ctx *c = *state;
	struct i8042 copy;
	uint8_t buf[64];
	int n;

	out(c, I8042_CMD_PORT, 0xad, 1);
	n = i8042_save(&c->kbd, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(i8042_save(&c->kbd, buf, 1), -ENOSPC);
	assert_int_equal(i8042_init(&copy, NULL), 0);
	assert_int_equal(i8042_load(&copy, buf, (size_t)n), 0);
	assert_int_equal(copy.other_cmds, 1);
	buf[4] = 7;
	assert_int_equal(i8042_load(&copy, buf, (size_t)n), -EINVAL);
	i8042_destroy(&copy);
}

static void test_destroy_uninitialized(void **state)
{
	struct acpi_pm pm;
	struct i8042 kbd;

	(void)state;
	memset(&pm, 0, sizeof(pm));
	memset(&kbd, 0, sizeof(kbd));
	acpi_pm_destroy(&pm);
	i8042_destroy(&kbd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_power_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_byte_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sleep_types_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button_sci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_i8042_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_i8042_save_load, setup, teardown),
		cmocka_unit_test(test_destroy_uninitialized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
