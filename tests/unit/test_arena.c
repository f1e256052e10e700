#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/arena.h"
#include "base/gmem.h"

#define MiB (1ull << 20)

static void test_init_and_bounds(void **state)
{
	struct arena a;
	uint64_t hpa;
	uint8_t *p;

	(void)state;
	assert_int_equal(arena_init(&a, 64 * MiB, 8 * MiB), 0);
	assert_int_equal(a.size, 64 * MiB);
	assert_non_null(arena_hpa_to_ptr(&a, 0, 64 * MiB));
	assert_non_null(arena_hpa_to_ptr(&a, 64 * MiB - 1, 1));
	assert_null(arena_hpa_to_ptr(&a, 64 * MiB - 1, 2));
	assert_null(arena_hpa_to_ptr(&a, 64 * MiB, 1));
	assert_null(arena_hpa_to_ptr(&a, 0, 64 * MiB + 1));
	assert_null(arena_hpa_to_ptr(&a, ~0ull, 2));          /* wraps */
	assert_null(arena_hpa_to_ptr(&a, 4096, ~0ull));
	p = arena_hpa_to_ptr(&a, 0x1234, 1);
	assert_int_equal(arena_ptr_to_hpa(&a, p, &hpa), 0);
	assert_int_equal(hpa, 0x1234);
	assert_int_equal(arena_ptr_to_hpa(&a, &hpa, &hpa), -EFAULT);
	arena_destroy(&a);
	/* Private region must leave room for VMs. */
	assert_int_equal(arena_init(&a, 8 * MiB, 8 * MiB), -EINVAL);
}

static void test_page_allocator(void **state)
{
	struct arena a;
	uint64_t hpa[600], big;
	unsigned n = 0;

	(void)state;
	assert_int_equal(arena_init(&a, 16 * MiB, 2 * MiB), 0);
	/* 512 private pages, 8 of them canaries. */
	assert_int_equal(a.pages_free, 512 - ARENA_CANARY_PAGES);
	while (arena_alloc_pages(&a, 1, &hpa[n]) == 0) {
		uint8_t *p = arena_hpa_to_ptr(&a, hpa[n], ARENA_PAGE_SIZE);

		assert_true(arena_range_is_private(&a, hpa[n], ARENA_PAGE_SIZE));
		assert_int_equal(hpa[n] % ARENA_PAGE_SIZE, 0);
		for (unsigned i = 0; i < ARENA_PAGE_SIZE; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xa5, ARENA_PAGE_SIZE);    /* must never hit a canary */
		for (unsigned c = 0; c < ARENA_CANARY_PAGES; c++)
			assert_int_not_equal(hpa[n], a.canary_hpa[c]);
		n++;
		assert_true(n < 600);
	}
	assert_int_equal(n, 512 - ARENA_CANARY_PAGES);
	assert_int_equal(arena_check_canaries(&a), 0);
	/* Double free and freeing a canary are refused. */
	assert_int_equal(arena_free_pages(&a, hpa[10], 1), 0);
	assert_int_equal(arena_free_pages(&a, hpa[10], 1), -EINVAL);
	assert_int_equal(arena_free_pages(&a, a.canary_hpa[0], 1), -EINVAL);
	assert_int_equal(arena_free_pages(&a, 3 * MiB, 1), -EINVAL);   /* VM area */
	assert_int_equal(arena_free_pages(&a, 1, 1), -EINVAL);
	/* Freed pages come back zeroed. */
	assert_int_equal(arena_alloc_pages(&a, 1, &hpa[10]), 0);
	assert_int_equal(*(uint8_t *)arena_hpa_to_ptr(&a, hpa[10], 1), 0);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(arena_free_pages(&a, hpa[i], 1), 0);
	/* A contiguous run. */
	assert_int_equal(arena_alloc_pages(&a, 16, &big), 0);
	assert_int_equal(arena_free_pages(&a, big, 16), 0);
	assert_int_equal(arena_alloc_pages(&a, 0, &big), -EINVAL);
	assert_int_equal(arena_alloc_pages(&a, 100000, &big), -EINVAL);
	assert_int_equal(a.pages_free, 512 - ARENA_CANARY_PAGES);
	arena_destroy(&a);
}

static void test_canaries_detect_writes(void **state)
{
	struct arena a;
	uint8_t *p;

	(void)state;
	assert_int_equal(arena_init(&a, 16 * MiB, 4 * MiB), 0);
	assert_int_equal(arena_check_canaries(&a), 0);
	assert_int_equal(a.canary_hpa[0], 0);
	assert_int_equal(a.canary_hpa[ARENA_CANARY_PAGES - 1], 4 * MiB - ARENA_PAGE_SIZE);
	p = arena_hpa_to_ptr(&a, a.canary_hpa[3] + 100, 1);
	*p ^= 1;
	assert_int_equal(arena_check_canaries(&a), 1);
	*p ^= 1;
	assert_int_equal(arena_check_canaries(&a), 0);
	/* Copying one canary page over another is caught too. */
	memcpy(arena_hpa_to_ptr(&a, a.canary_hpa[1], ARENA_PAGE_SIZE),
	       arena_hpa_to_ptr(&a, a.canary_hpa[2], ARENA_PAGE_SIZE), ARENA_PAGE_SIZE);
	assert_int_equal(arena_check_canaries(&a), 1);
	arena_destroy(&a);
}

static void test_vm_regions_and_owners(void **state)
{
	struct arena a;
	uint64_t h0, h1, h2;

	(void)state;
	assert_int_equal(arena_init(&a, 64 * MiB, 8 * MiB), 0);
	assert_int_equal(arena_carve_vm(&a, 0, 20 * MiB, &h0), 0);
	assert_int_equal(h0, 8 * MiB);
	assert_int_equal(arena_carve_vm(&a, 1, 3 * MiB, &h1), 0);   /* rounds to 4 MiB */
	assert_int_equal(h1, 28 * MiB);
	assert_int_equal(arena_carve_vm(&a, 2, 64 * MiB, &h2), -ENOMEM);
	assert_int_equal(arena_carve_vm(&a, -1, MiB, &h2), -EINVAL);
	assert_int_equal(arena_range_owner(&a, h0, 20 * MiB), 0);
	assert_int_equal(arena_range_owner(&a, h1 + 4096, 4096), 1);
	assert_int_equal(arena_range_owner(&a, h1 - 4096, 8192), ARENA_OWNER_NONE); /* spans two VMs */
	assert_int_equal(arena_range_owner(&a, 4096, 4096), ARENA_OWNER_PRIVATE);
	assert_int_equal(arena_range_owner(&a, 8 * MiB - 1, 2), ARENA_OWNER_PRIVATE);
	assert_int_equal(arena_range_owner(&a, 40 * MiB, 4096), ARENA_OWNER_NONE); /* unassigned */
	assert_int_equal(arena_range_owner(&a, ~0ull - 10, 100), ARENA_OWNER_NONE);
	assert_false(arena_range_is_private(&a, h0, 4096));
	/* Released RAM reads back zero and is not handed out again. */
	*(uint8_t *)arena_hpa_to_ptr(&a, h1, 1) = 0x5a;
	assert_int_equal(arena_release_vm(&a, h1), 0);
	assert_int_equal(*(uint8_t *)arena_hpa_to_ptr(&a, h1, 1), 0);
	assert_int_equal(arena_range_owner(&a, h1, 4096), ARENA_OWNER_NONE);
	assert_int_equal(arena_release_vm(&a, h1), -ENOENT);
	assert_int_equal(arena_carve_vm(&a, 3, 4 * MiB, &h2), 0);
	assert_int_equal(h2, 32 * MiB);
	arena_destroy(&a);
}

static void test_gmem_layout(void **state)
{
	struct arena a;
	struct gmem g, big;
	uint64_t hpa;
	uint32_t v = 0xdeadbeef, r = 0;

	(void)state;
	assert_int_equal(arena_init(&a, 4096 * MiB, 8 * MiB), 0);
	assert_int_equal(gmem_init(&g, &a, 0, 256 * MiB), 0);
	assert_int_equal(g.nr_ranges, 1);
	assert_int_equal(gmem_gpa_to_hpa(&g, 0x1000, &hpa), 0);
	assert_int_equal(hpa, g.ranges[0].hpa + 0x1000);
	assert_non_null(gmem_gpa_to_ptr(&g, 256 * MiB - 4, 4));
	assert_null(gmem_gpa_to_ptr(&g, 256 * MiB - 4, 8));
	assert_null(gmem_gpa_to_ptr(&g, 256 * MiB, 1));
	assert_int_equal(gmem_write(&g, 0x2000, &v, 4), 0);
	assert_int_equal(gmem_read(&g, 0x2000, &r, 4), 0);
	assert_int_equal(r, v);
	assert_int_equal(gmem_write(&g, 256 * MiB - 2, &v, 4), -EFAULT);
	/* RAM above the PCI hole is placed at 4 GiB, q35 style. */
	assert_int_equal(gmem_init(&big, &a, 1, 3072 * MiB), 0);
	assert_int_equal(big.nr_ranges, 2);
	assert_int_equal(big.ranges[0].size, GMEM_LOWMEM_LIMIT);
	assert_int_equal(big.ranges[1].gpa, GMEM_HIGHMEM_BASE);
	assert_int_equal(big.ranges[1].size, 3072 * MiB - GMEM_LOWMEM_LIMIT);
	assert_null(gmem_gpa_to_ptr(&big, GMEM_LOWMEM_LIMIT, 1));
	assert_null(gmem_gpa_to_ptr(&big, GMEM_LOWMEM_LIMIT - 2, 4));  /* spans the hole */
	assert_non_null(gmem_gpa_to_ptr(&big, GMEM_HIGHMEM_BASE, 4096));
	assert_int_equal(gmem_gpa_to_hpa(&big, GMEM_HIGHMEM_BASE, &hpa), 0);
	assert_int_equal(hpa, big.ranges[0].hpa + GMEM_LOWMEM_LIMIT);
	assert_int_equal(gmem_gpa_to_hpa(&big, 0xc0000000, &hpa), -EFAULT);
	assert_int_equal(arena_range_owner(&a, hpa, 4096), 1);
	gmem_destroy(&big);
	gmem_destroy(&g);
	assert_int_equal(gmem_init(&g, &a, 2, 100), -EINVAL);
	arena_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_bounds),
		cmocka_unit_test(test_page_allocator),
		cmocka_unit_test(test_canaries_detect_writes),
		cmocka_unit_test(test_vm_regions_and_owners),
		cmocka_unit_test(test_gmem_layout),
	};
	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
