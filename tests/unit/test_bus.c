#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>

#include "base/bus.h"

struct fake_dev {
	uint64_t last_off, last_data;
	unsigned last_len, reads, writes;
};

static void fake_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct fake_dev *d = opaque;

	d->reads++;
	d->last_off = off;
	d->last_len = len;
	*data = 0x1000 + off;
}

static void fake_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct fake_dev *d = opaque;

	d->writes++;
	d->last_off = off;
	d->last_data = data;
	d->last_len = len;
}

static const struct bus_ops fake_ops = { fake_read, fake_write };

static void test_register_and_dispatch(void **state)
{
	struct bus b;
	struct fake_dev d1 = { 0 }, d2 = { 0 };
	uint64_t v;

	(void)state;
	assert_int_equal(bus_init(&b, "pio"), 0);
	assert_int_equal(bus_register(&b, 0x3f8, 8, &fake_ops, &d1, "com1"), 0);
	assert_int_equal(bus_register(&b, 0xf4, 4, &fake_ops, &d2, "exit"), 0);
	assert_true(bus_write(&b, 0x3fb, 0x83, 1));
	assert_int_equal(d1.writes, 1);
	assert_int_equal(d1.last_off, 3);
	assert_int_equal(d1.last_data, 0x83);
	assert_true(bus_read(&b, 0xf6, &v, 2));
	assert_int_equal(v, 0x1002);
	assert_int_equal(d2.last_len, 2);
	/* Between and after ranges: unhandled, reads float high. */
	assert_false(bus_read(&b, 0x100, &v, 1));
	assert_int_equal(v, 0xff);
	assert_false(bus_read(&b, 0x400, &v, 4));
	assert_int_equal(v, 0xffffffffull);
	assert_false(bus_read(&b, 0x3f7, &v, 8));
	assert_int_equal(v, ~0ull);
	assert_false(bus_write(&b, 0x400, 1, 1));
	assert_int_equal(b.unhandled, 4);
	bus_destroy(&b);
}

static void test_overlaps_refused(void **state)
{
	struct bus b;
	struct fake_dev d = { 0 };

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(bus_register(&b, 0x1000, 0x1000, &fake_ops, &d, "a"), 0);
	assert_int_equal(bus_register(&b, 0x1000, 0x1000, &fake_ops, &d, "same"), -EEXIST);
	assert_int_equal(bus_register(&b, 0xfff, 2, &fake_ops, &d, "low edge"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x1fff, 1, &fake_ops, &d, "high edge"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x800, 0x2000, &fake_ops, &d, "covering"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x1800, 0x10, &fake_ops, &d, "inside"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x2000, 0x10, &fake_ops, &d, "adjacent"), 0);
	assert_int_equal(bus_register(&b, 0x0, 0x1000, &fake_ops, &d, "below"), 0);
	assert_int_equal(bus_register(&b, 0x5000, 0, &fake_ops, &d, "empty"), -EINVAL);
	assert_int_equal(bus_register(&b, ~0ull - 1, 4, &fake_ops, &d, "wraps"), -EINVAL);
	assert_int_equal(bus_register(&b, ~0ull, 1, &fake_ops, &d, "top byte"), 0);
	assert_int_equal(b.nr, 4);
	bus_destroy(&b);
}

static void test_lookup_many(void **state)
{
	struct bus b;
	struct fake_dev devs[100];
	struct bus_range r;

	(void)state;
	bus_init(&b, "mmio");
	/* Register in a scrambled order; lookups must still find each one. */
	for (unsigned i = 0; i < 100; i++) {
		unsigned k = (i * 37) % 100;

		assert_int_equal(bus_register(&b, 0x10000 + k * 0x100, 0x80, &fake_ops, &devs[k], "d"), 0);
	}
	for (unsigned k = 0; k < 100; k++) {
		assert_true(bus_find(&b, 0x10000 + k * 0x100 + 0x7f, &r));
		assert_ptr_equal(r.opaque, &devs[k]);
		assert_false(bus_find(&b, 0x10000 + k * 0x100 + 0x80, &r));
	}
	for (unsigned i = 1; i < b.nr; i++)
		assert_true(b.ranges[i - 1].base < b.ranges[i].base);
	bus_destroy(&b);
}

static void test_remove_and_move(void **state)
{
	struct bus b;
	struct fake_dev d1 = { 0 }, d2 = { 0 };
	uint64_t v;

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(bus_register(&b, 0xe0000000, 0x4000, &fake_ops, &d1, "bar0"), 0);
	assert_int_equal(bus_register(&b, 0xe0010000, 0x1000, &fake_ops, &d2, "bar1"), 0);
	/* Wrong owner or base: nothing removed. */
	assert_int_equal(bus_unregister(&b, 0xe0000000, &d2), -ENOENT);
	assert_int_equal(bus_unregister(&b, 0xe0000100, &d1), -ENOENT);
	/* Moving onto another range is refused and leaves the range in place. */
	assert_int_equal(bus_move(&b, 0xe0000000, &d1, 0xe000e000), -EEXIST);
	assert_true(bus_read(&b, 0xe0000010, &v, 4));
	/* A move that overlaps only its own old place is fine. */
	assert_int_equal(bus_move(&b, 0xe0000000, &d1, 0xe0002000), 0);
	assert_false(bus_read(&b, 0xe0000010, &v, 4));
	assert_true(bus_read(&b, 0xe0002010, &v, 4));
	assert_int_equal(v, 0x1010);
	assert_int_equal(bus_move(&b, 0xe0002000, &d1, ~0ull - 0x100), -EINVAL);
	assert_int_equal(bus_unregister(&b, 0xe0002000, &d1), 0);
	assert_false(bus_read(&b, 0xe0002010, &v, 4));
	assert_true(bus_read(&b, 0xe0010000, &v, 4));
	assert_int_equal(b.nr, 1);
	bus_destroy(&b);
}

struct mover_arg {
	struct bus *b;
	struct fake_dev *d;
};

static void *mover(void *p)
{
	struct mover_arg *m = p;
	uint64_t base = 0x100000;

	for (int i = 0; i < 20000; i++) {
		uint64_t nb = base == 0x100000 ? 0x200000 : 0x100000;

		assert_int_equal(bus_move(m->b, base, m->d, nb), 0);
		base = nb;
	}
	return NULL;
}

/* Dispatch while another thread relocates the range (BAR moves while vCPUs
 * run): every access must land either in the range or nowhere, never crash. */
static void test_concurrent_move(void **state)
{
	struct bus b;
	struct fake_dev d = { 0 }, fixed = { 0 };
	struct mover_arg m = { &b, &d };
	pthread_t t;
	uint64_t v, hits = 0;

	(void)state;
	bus_init(&b, "mmio");
	bus_register(&b, 0x100000, 0x1000, &fake_ops, &d, "moving");
	bus_register(&b, 0x180000, 0x1000, &fake_ops, &fixed, "fixed");
	pthread_create(&t, NULL, mover, &m);
	for (int i = 0; i < 100000; i++) {
		hits += bus_read(&b, 0x100004, &v, 4);
		assert_true(bus_read(&b, 0x180004, &v, 4));
		assert_int_equal(v, 0x1004);
	}
	pthread_join(t, NULL);
	assert_true(hits <= 100000);
	bus_destroy(&b);
}

/* A handler that relocates its own range (a BAR write arriving through ECAM
 * on the same bus) must not deadlock. */
struct self_mover {
	struct bus *b;
	uint64_t base;
};

static void self_move_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct self_mover *sm = opaque;

	assert_int_equal(bus_move(sm->b, sm->base, sm, data), 0);
	sm->base = data;
}

static const struct bus_ops self_move_ops = { NULL, self_move_write };

static void test_handler_may_move_its_range(void **state)
{
	struct bus b;
	struct self_mover sm = { &b, 0x1000 };
	struct bus_range r;

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(bus_register(&b, 0x1000, 0x100, &self_move_ops, &sm, "bar"), 0);
	assert_true(bus_write(&b, 0x1004, 0x8000, 4));
	assert_false(bus_find(&b, 0x1004, &r));
	assert_true(bus_find(&b, 0x8004, &r));
	assert_true(bus_write(&b, 0x8000, 0x2000, 4));
	assert_true(bus_find(&b, 0x2000, &r));
	bus_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_dispatch),
		cmocka_unit_test(test_overlaps_refused),
		cmocka_unit_test(test_lookup_many),
		cmocka_unit_test(test_remove_and_move),
		cmocka_unit_test(test_concurrent_move),
		cmocka_unit_test(test_handler_may_move_its_range),
	};
	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
