#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "devices/pvstats.h"

static uint64_t fake_counter(void *opaque, enum pvstats_counter id)
{
	(void)opaque;
	return id == PVSTATS_ID_EXITS ? 0x123456789abcull : (uint64_t)id * 10;
}

static uint64_t query(struct bus *b, uint32_t id)
{
	uint64_t lo, hi;

	bus_write(b, PVSTATS_BASE, id, 4);
	bus_read(b, PVSTATS_BASE + 4, &lo, 4);
	bus_read(b, PVSTATS_BASE + 8, &hi, 4);
	return lo | hi << 32;
}

static void test_counters(void **state)
{
	struct bus b;
	struct pvstats p;
	uint64_t v;

	(void)state;
	bus_init(&b, "pio");
	assert_int_equal(pvstats_init(&p, fake_counter, NULL), 0);
	assert_int_equal(pvstats_attach(&p, &b, PVSTATS_BASE), 0);
	assert_int_equal(query(&b, PVSTATS_ID_SIGNATURE), PVSTATS_SIGNATURE);
	assert_int_equal(query(&b, PVSTATS_ID_EXITS), 0x123456789abcull);
	assert_int_equal(query(&b, PVSTATS_ID_IOMMU_FAULTS), 50);
	assert_int_equal(query(&b, 999), ~0ull);
	/* Odd-sized accesses: ignored writes, all-ones reads; latch unchanged. */
	bus_write(&b, PVSTATS_BASE, PVSTATS_ID_MSIS, 2);
	bus_read(&b, PVSTATS_BASE + 4, &v, 2);
	assert_int_equal(v, 0xffff);
	bus_read(&b, PVSTATS_BASE + 4, &v, 4);
	assert_int_equal(v, 0xffffffffu);
	assert_int_equal(p.queries, 4);
	pvstats_destroy(&p);
	bus_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_counters) };

	return cmocka_run_group_tests_name("pvstats", tests, NULL, NULL);
}
