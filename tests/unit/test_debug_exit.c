/* isa-debug-exit through a real PIO bus with a recording power_ctl. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/bus.h"
#include "devices/debug_exit.h"

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

struct ctx {
	struct bus pio;
	struct debug_exit dev;
	struct fake_power power;
};

static struct ctx ctx;

static int setup(void **state)
{
	struct power_ctl pc = { fake_request_exit, &ctx.power };

	memset(&ctx, 0, sizeof(ctx));
	if (bus_init(&ctx.pio, "pio") ||
	    debug_exit_init(&ctx.dev, &pc) ||
	    debug_exit_attach(&ctx.dev, &ctx.pio, DEBUG_EXIT_BASE))
		return -1;
	*state = &ctx;
	return 0;
}

static int teardown(void **state)
{
	debug_exit_destroy(&ctx.dev);
	bus_destroy(&ctx.pio);
	return 0;
}

static void expect_exit(struct ctx *c, uint16_t port, uint64_t v, unsigned len, int status)
{
	unsigned before = c->power.calls;

	assert_true(bus_write(&c->pio, port, v, len));
	assert_int_equal(c->power.calls, before + 1);
	assert_int_equal(c->power.status, status);
	assert_string_equal(c->power.reason, "debug-exit");
}

static void test_status_mapping(void **state)
{
	struct ctx *c = *state;

	expect_exit(c, 0xf4, 0, 1, 1);                 /* v = 0 -> 1 */
	expect_exit(c, 0xf4, 1, 1, 3);
	expect_exit(c, 0xf4, 0x10, 1, 0x21);           /* the usual "success" */
	expect_exit(c, 0xf4, 0x7f, 1, 255);
	expect_exit(c, 0xf4, 0x80, 1, 1);              /* (0x101) & 0xff */
	expect_exit(c, 0xf4, 0xff, 1, 255);
	expect_exit(c, 0xf4, 0x1234, 2, 0x69);         /* 0x2469 & 0xff */
	expect_exit(c, 0xf4, 0x12345678, 4, 0xf1);     /* 0x2468acf1 & 0xff */
	expect_exit(c, 0xf4, 0xffffffff, 4, 255);
	assert_int_equal(c->dev.last_value, 0xffffffff);
}

static void test_width_and_range(void **state)
{
	struct ctx *c = *state;
	uint64_t v = 0xdead;

	/* Bits above the access width are not part of v. */
	expect_exit(c, 0xf4, 0xabcd01, 1, 3);
	assert_int_equal(c->dev.last_value, 1);
	expect_exit(c, 0xf4, 0xabcd0002, 2, 5);
	/* Any port of the 4-port range, as QEMU. */
	expect_exit(c, 0xf7, 2, 1, 5);
	assert_false(bus_write(&c->pio, 0xf8, 2, 1));
	assert_false(bus_write(&c->pio, 0xf3, 2, 1));
	/* Reads return 0 and request nothing. */
	assert_true(bus_read(&c->pio, 0xf4, &v, 4));
	assert_int_equal(v, 0);
	assert_int_equal(c->power.calls, 3);
	assert_int_equal(c->dev.writes, 3);
}

static void test_helper_matches_qemu(void **state)
{
	uint32_t v;

	(void)state;
	for (v = 0; v < 0x400; v++)
		assert_int_equal(debug_exit_status(v), (int)(((v << 1) | 1) & 0xff));
	assert_int_equal(debug_exit_status(UINT32_MAX), 255);
}

static void test_no_power_ctl(void **state)
{
	struct debug_exit d;
	struct bus pio;

	(void)state;
	/* Without a power_ctl the write is harmless (no crash, no exit). */
	assert_int_equal(bus_init(&pio, "pio"), 0);
	assert_int_equal(debug_exit_init(&d, NULL), 0);
	assert_int_equal(debug_exit_attach(&d, &pio, 0x501), 0);
	assert_true(bus_write(&pio, 0x504, 7, 1));
	assert_int_equal(d.writes, 1);
	assert_int_equal(debug_exit_attach(&d, &pio, 0xfffe), -EINVAL);
	/* Overlapping another range is refused by the bus. */
	assert_int_equal(debug_exit_attach(&d, &pio, 0x503), -EEXIST);
	debug_exit_destroy(&d);
	debug_exit_destroy(&d);             /* idempotent */
	bus_destroy(&pio);
}

static void test_destroy_uninitialized(void **state)
{
	struct debug_exit d;

	(void)state;
	memset(&d, 0, sizeof(d));
	debug_exit_destroy(&d);
}

static void test_save_load(void **state)
{
	struct ctx *c = *state;
	struct debug_exit copy;
	uint8_t buf[64];
	int n;

	expect_exit(c, 0xf4, 0x42, 1, 0x85);
	n = debug_exit_save(&c->dev, NULL, 0);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	assert_int_equal(debug_exit_save(&c->dev, buf, 4), -ENOSPC);
	assert_int_equal(debug_exit_save(&c->dev, buf, sizeof(buf)), n);
	assert_int_equal(debug_exit_init(&copy, NULL), 0);
	assert_int_equal(debug_exit_load(&copy, buf, (size_t)n), 0);
	assert_int_equal(copy.writes, 1);
	assert_int_equal(copy.last_value, 0x42);
	buf[0] ^= 0xff;
	assert_int_equal(debug_exit_load(&copy, buf, (size_t)n), -EINVAL);
	debug_exit_destroy(&copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_width_and_range, setup, teardown),
		cmocka_unit_test(test_helper_matches_qemu),
		cmocka_unit_test(test_no_power_ctl),
		cmocka_unit_test(test_destroy_uninitialized),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
