/* VT-d second-level page-table format: map/unmap/iova_to_phys/walk, superpage
 * choice and splitting, overlaps, 39- vs 48-bit, permissions, reserved bits,
 * the table-memory seam and the flush/gather contract. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "iommu/iopt.h"
#include "iommu/vtd_regs.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

struct fixture {
	struct arena arena;
	struct iopt pt;
	unsigned flushes;
	uint64_t flush_iova, flush_size;
};

static void count_flush(void *cookie, uint64_t iova, uint64_t size)
{
	struct fixture *f = cookie;

	f->flushes++;
	f->flush_iova = iova;
	f->flush_size = size;
}

static const struct iopt_flush_ops count_flush_ops = { .flush_range = count_flush };

static int setup_bits(void **state, unsigned ias)
{
	static struct fixture fx;
	struct iopt_cfg cfg;

	memset(&fx, 0, sizeof(fx));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&fx.arena, 64 * MiB, 16 * MiB), 0);
	cfg = (struct iopt_cfg){ .arena = &fx.arena, .ias = ias, .oas = 46,
				 .tlb = &count_flush_ops, .cookie = &fx };
	assert_int_equal(iopt_init(&fx.pt, IOPT_VTD_SL, &cfg), 0);
	*state = &fx;
	return 0;
}

static int setup48(void **state) { return setup_bits(state, 48); }
static int setup39(void **state) { return setup_bits(state, 39); }

static int teardown(void **state)
{
	struct fixture *f = *state;

	iopt_destroy(&f->pt);
	assert_int_equal(f->pt.nr_tables, 0);
	assert_int_equal(arena_check_canaries(&f->arena), 0);
	arena_destroy(&f->arena);
	return 0;
}

struct leaf { uint64_t iova, pa, size; unsigned prot; };
struct leaves { struct leaf l[4096]; unsigned n; };

static int collect(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	struct leaves *ls = arg;

	if (ls->n < 4096)
		ls->l[ls->n] = (struct leaf){ iova, pa, size, prot };
	ls->n++;
	return 0;
}

static struct leaves *leaves_of(struct iopt *pt, uint64_t iova, uint64_t size)
{
	static struct leaves ls;

	ls.n = 0;
	assert_int_equal(iopt_walk(pt, iova, size, collect, &ls), 0);
	return &ls;
}

static void expect_pa(struct iopt *pt, uint64_t iova, uint64_t pa)
{
	uint64_t got;

	assert_int_equal(iopt_iova_to_phys(pt, iova, &got, NULL), 0);
	assert_int_equal(got, pa);
}

static void expect_hole(struct iopt *pt, uint64_t iova)
{
	uint64_t got;

	assert_int_equal(iopt_iova_to_phys(pt, iova, &got, NULL), -ENOENT);
}

static void test_map_4k_both_widths(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(iopt_map(&f->pt, 0x1000, 0x40000000, 0x3000, IOPT_RW), 0);
	expect_pa(&f->pt, 0x1000, 0x40000000);
	expect_pa(&f->pt, 0x2abc, 0x40001abc);
	expect_pa(&f->pt, 0x3fff, 0x40002fff);
	expect_hole(&f->pt, 0x0);
	expect_hole(&f->pt, 0x4000);
	assert_int_equal(leaves_of(&f->pt, 0, 1ull << f->pt.cfg.ias)->n, 3);
	/* root + one table per lower level */
	assert_int_equal(f->pt.nr_tables, f->pt.levels);
}

static void test_superpage_only_where_asked(void **state)
{
	struct fixture *f = *state;
	struct leaves *ls;

	/* Whole aligned 2M: one leaf. */
	assert_int_equal(iopt_map(&f->pt, 2 * MiB, 8 * MiB, 2 * MiB, IOPT_RW), 0);
	ls = leaves_of(&f->pt, 2 * MiB, 2 * MiB);
	assert_int_equal(ls->n, 1);
	assert_int_equal(ls->l[0].size, 2 * MiB);
	/* 2M minus a page at an aligned address: never a superpage. */
	assert_int_equal(iopt_map(&f->pt, 4 * MiB, 16 * MiB, 2 * MiB - 4096, IOPT_RW), 0);
	ls = leaves_of(&f->pt, 4 * MiB, 2 * MiB);
	assert_int_equal(ls->n, 511);
	for (unsigned i = 0; i < ls->n; i++)
		assert_int_equal(ls->l[i].size, 4096);
	/* IOVA aligned but PA only 4K aligned: 4K pages. */
	assert_int_equal(iopt_map(&f->pt, 6 * MiB, 32 * MiB + 4096, 2 * MiB, IOPT_RW), 0);
	assert_int_equal(leaves_of(&f->pt, 6 * MiB, 2 * MiB)->n, 512);
	/* A range that starts unaligned: 4K pages up to the boundary, then 2M. */
	assert_int_equal(iopt_map(&f->pt, 10 * MiB - 8192, 40 * MiB - 8192, 2 * MiB + 8192, IOPT_RW), 0);
	ls = leaves_of(&f->pt, 10 * MiB - 8192, 2 * MiB + 8192);
	assert_int_equal(ls->n, 3);
	assert_int_equal(ls->l[2].size, 2 * MiB);
	assert_int_equal(ls->l[2].pa, 40 * MiB);
	expect_pa(&f->pt, 10 * MiB + 0x1234, 40 * MiB + 0x1234);
	expect_pa(&f->pt, 2 * MiB + 0x1ffff0, 8 * MiB + 0x1ffff0);
}

static void test_1g_superpage_and_boundaries(void **state)
{
	struct fixture *f = *state;
	struct leaves *ls;

	assert_int_equal(iopt_map(&f->pt, 1 * GiB, 3 * GiB, 1 * GiB, IOPT_READ), 0);
	ls = leaves_of(&f->pt, 0, 4 * GiB);
	assert_int_equal(ls->n, 1);
	assert_int_equal(ls->l[0].size, GiB);
	expect_pa(&f->pt, 1 * GiB, 3 * GiB);
	expect_pa(&f->pt, 2 * GiB - 1, 4 * GiB - 1);
	expect_hole(&f->pt, 1 * GiB - 1);
	expect_hole(&f->pt, 2 * GiB);
	/* 1G + 2M + 4K requested: exactly one of each. */
	assert_int_equal(iopt_map(&f->pt, 4 * GiB, 8 * GiB, GiB + 2 * MiB + 4096, IOPT_RW), 0);
	ls = leaves_of(&f->pt, 4 * GiB, 2 * GiB);
	assert_int_equal(ls->n, 3);
	assert_int_equal(ls->l[0].size, GiB);
	assert_int_equal(ls->l[1].size, 2 * MiB);
	assert_int_equal(ls->l[2].size, 4096);
	expect_pa(&f->pt, 5 * GiB + 2 * MiB, 9 * GiB + 2 * MiB);
	expect_hole(&f->pt, 5 * GiB + 2 * MiB + 4096);
}

static void test_overlap_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(iopt_map(&f->pt, 0x10000, 0x100000, 0x2000, IOPT_RW), 0);
	assert_int_equal(iopt_map(&f->pt, 0x11000, 0x200000, 0x2000, IOPT_RW), -EEXIST);
	assert_int_equal(iopt_map(&f->pt, 0xf000, 0x200000, 0x2000, IOPT_RW), -EEXIST);
	/* nothing of the refused request was mapped */
	expect_hole(&f->pt, 0xf000);
	expect_hole(&f->pt, 0x12000);
	/* a superpage request over an existing 4K page */
	assert_int_equal(iopt_map(&f->pt, 0, 0x400000, 2 * MiB, IOPT_RW), -EEXIST);
	expect_hole(&f->pt, 0);
	/* and 4K over an existing superpage */
	assert_int_equal(iopt_map(&f->pt, 4 * MiB, 0x400000, 2 * MiB, IOPT_RW), 0);
	assert_int_equal(iopt_map(&f->pt, 5 * MiB, 0x800000, 4096, IOPT_RW), -EEXIST);
	/* adjacent is fine */
	assert_int_equal(iopt_map(&f->pt, 0x12000, 0x300000, 0x1000, IOPT_RW), 0);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(iopt_map(&f->pt, 0x1001, 0, 0x1000, IOPT_RW), -EINVAL);
	assert_int_equal(iopt_map(&f->pt, 0x1000, 0x10, 0x1000, IOPT_RW), -EINVAL);
	assert_int_equal(iopt_map(&f->pt, 0x1000, 0, 0, IOPT_RW), -EINVAL);
	assert_int_equal(iopt_map(&f->pt, 0x1000, 0, 0x1000, 0), -EINVAL);
	assert_int_equal(iopt_map(&f->pt, 0x1000, 0, 0x1000, 0x4), -EINVAL);
	assert_int_equal(iopt_map(&f->pt, 0x1000, 1ull << 46, 0x1000, IOPT_RW), -ERANGE);
	assert_int_equal(iopt_unmap(&f->pt, 0x1000, 0x800, NULL), -EINVAL);
}

static void test_width_39_vs_48(void **state)
{
	struct fixture *f = *state;
	struct iopt_walk_result r;
	uint64_t top = 1ull << f->pt.cfg.ias;

	assert_int_equal(f->pt.levels, f->pt.cfg.ias == 39 ? 3 : 4);
	/* last page below the width maps, the first one above does not */
	assert_int_equal(iopt_map(&f->pt, top - 4096, 0x5000, 4096, IOPT_RW), 0);
	expect_pa(&f->pt, top - 1, 0x5fff);
	assert_int_equal(iopt_map(&f->pt, top, 0x5000, 4096, IOPT_RW), -ERANGE);
	assert_int_equal(iopt_map(&f->pt, top - 4096, 0x6000, 8192, IOPT_RW), -ERANGE);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, top, IOPT_READ, &r),
			 VTD_FR_ADDR_BEYOND_MGAW);
	/* a 39-bit address bit pattern aliasing into a 3-level table is caught,
	 * not wrapped around */
	if (f->pt.levels == 3)
		assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, 3, 46, (1ull << 39) + top - 4096,
					       IOPT_READ, &r), VTD_FR_ADDR_BEYOND_MGAW);
	else
		assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, 4, 46, top - 4096, IOPT_READ, &r), 0);
}

static void test_permissions(void **state)
{
	struct fixture *f = *state;
	struct iopt_walk_result r;
	unsigned prot;
	uint64_t pa;

	assert_int_equal(iopt_map(&f->pt, 0x1000, 0xa000, 0x1000, IOPT_READ), 0);
	assert_int_equal(iopt_map(&f->pt, 0x2000, 0xb000, 0x1000, IOPT_WRITE), 0);
	assert_int_equal(iopt_iova_to_phys(&f->pt, 0x1000, &pa, &prot), 0);
	assert_int_equal(prot, IOPT_READ);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_READ, &r), 0);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_WRITE, &r),
			 VTD_FR_WRITE);
	assert_false(r.not_present);
	assert_int_equal(r.level, 1);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x2000, IOPT_READ, &r),
			 VTD_FR_READ);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x2000, IOPT_WRITE, &r), 0);
	/* not present: read -> read fault, write -> write fault, level known */
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x3000, IOPT_READ, &r),
			 VTD_FR_READ);
	assert_true(r.not_present);
	assert_int_equal(r.level, 1);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 1ull << 35, IOPT_WRITE, &r),
			 VTD_FR_WRITE);
	assert_true(r.not_present);
	assert_int_equal(r.level, 3);
}

/* Pointer to the leaf entry for iova (4K mapping), for corrupting it. */
static uint64_t *leaf_entry(struct fixture *f, uint64_t iova, unsigned want_level)
{
	uint64_t table = f->pt.root;

	for (unsigned lvl = f->pt.levels; ; lvl--) {
		uint64_t *t = arena_hpa_to_ptr(&f->arena, table, 4096);
		uint64_t *e = &t[(iova >> (12 + 9 * (lvl - 1))) & 511];

		if (lvl == want_level)
			return e;
		table = *e & VTD_SL_ADDR_MASK;
	}
}

static void test_reserved_bits(void **state)
{
	struct fixture *f = *state;
	struct iopt_walk_result r;
	uint64_t *e, saved;
	const uint64_t bad[] = { VTD_SL_SNP, 1ull << 46, 1ull << 51, VTD_SL_TM };

	assert_int_equal(iopt_map(&f->pt, 0x1000, 0xa000, 0x1000, IOPT_RW), 0);
	e = leaf_entry(f, 0x1000, 1);
	saved = *e;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		*e = saved | bad[i];
		assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_READ, &r),
				 VTD_FR_PAGING_ENTRY_RSVD);
	}
	/* ignored bits (61:52, 63) are ignored */
	*e = saved | 0x3ff0000000000000ull | (1ull << 63);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_READ, &r), 0);
	/* a non-present entry's other bits are not checked */
	*e = VTD_SL_SNP | (1ull << 50);
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_READ, &r),
			 VTD_FR_READ);
	*e = saved;
	/* a 2M leaf with address bits below 2M set */
	assert_int_equal(iopt_map(&f->pt, 2 * MiB, 4 * MiB, 2 * MiB, IOPT_RW), 0);
	e = leaf_entry(f, 2 * MiB, 2);
	*e |= 0x1000;
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 2 * MiB, IOPT_READ, &r),
			 VTD_FR_PAGING_ENTRY_RSVD);
	assert_int_equal(r.level, 2);
	*e &= ~0x1000ull;
	/* PS in a PML4E (4-level) or a 1G leaf misaligned (3-level top) */
	e = leaf_entry(f, 2 * MiB, f->pt.levels);
	saved = *e;
	*e |= VTD_SL_PS;
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 2 * MiB, IOPT_READ, &r),
			 VTD_FR_PAGING_ENTRY_RSVD);
	*e = saved;
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 2 * MiB, IOPT_READ, &r), 0);
}

static void test_table_access_failure(void **state)
{
	struct fixture *f = *state;
	struct iopt_walk_result r;
	uint64_t *e, saved;

	assert_int_equal(iopt_map(&f->pt, 0x1000, 0xa000, 0x1000, IOPT_RW), 0);
	/* point the level-2 entry at a table beyond host memory (within HAW) */
	e = leaf_entry(f, 0x1000, 2);
	saved = *e;
	*e = (1ull << 40) | VTD_SL_R | VTD_SL_W;
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_READ, &r),
			 VTD_FR_PAGING_ENTRY_INV);
	assert_int_equal(r.level, 1);
	*e = saved;
	assert_int_equal(iopt_vtd_walk(&f->pt.mem, f->pt.root, f->pt.levels, 46, 0x1000, IOPT_READ, &r), 0);
}

static void test_unmap_returns_and_splits(void **state)
{
	struct fixture *f = *state;
	struct leaves *ls;

	assert_int_equal(iopt_map(&f->pt, 0, 0x100000, 0x4000, IOPT_RW), 0);
	/* holes do not count */
	assert_int_equal(iopt_unmap(&f->pt, 0, 0x10000, NULL), 0x4000);
	assert_int_equal(iopt_unmap(&f->pt, 0, 0x10000, NULL), 0);
	/* split a 2M page: unmap one 4K page in the middle */
	assert_int_equal(iopt_map(&f->pt, 2 * MiB, 6 * MiB, 2 * MiB, IOPT_READ), 0);
	assert_int_equal(iopt_unmap(&f->pt, 2 * MiB + 0x5000, 0x1000, NULL), 0x1000);
	expect_hole(&f->pt, 2 * MiB + 0x5000);
	expect_pa(&f->pt, 2 * MiB + 0x4fff, 6 * MiB + 0x4fff);
	expect_pa(&f->pt, 2 * MiB + 0x6000, 6 * MiB + 0x6000);
	ls = leaves_of(&f->pt, 2 * MiB, 2 * MiB);
	assert_int_equal(ls->n, 511);
	assert_int_equal(ls->l[0].prot, IOPT_READ);
	/* split a 1G page at both ends of the range */
	assert_int_equal(iopt_map(&f->pt, GiB, 2 * GiB, GiB, IOPT_RW), 0);
	assert_int_equal(iopt_unmap(&f->pt, GiB + 3 * MiB + 0x1000, 4 * MiB, NULL), 4 * MiB);
	expect_pa(&f->pt, GiB + 3 * MiB, 2 * GiB + 3 * MiB);
	expect_hole(&f->pt, GiB + 3 * MiB + 0x1000);
	expect_hole(&f->pt, GiB + 7 * MiB);
	expect_pa(&f->pt, GiB + 7 * MiB + 0x1000, 2 * GiB + 7 * MiB + 0x1000);
	expect_pa(&f->pt, 2 * GiB - 1, 3 * GiB - 1);
	/* remaining pieces: 2M pages plus 4K pages around the cuts */
	ls = leaves_of(&f->pt, GiB, GiB);
	/* 509 untouched 2M pages, 257 + 255 4K pages left of the two split ones */
	assert_int_equal(ls->n, 509 + 257 + 255);
	/* the whole thing, pieces and all */
	assert_int_equal(iopt_unmap(&f->pt, GiB, GiB, NULL), GiB - 4 * MiB);
	assert_int_equal(leaves_of(&f->pt, GiB, GiB)->n, 0);
}

static void test_tables_freed_and_flushed(void **state)
{
	struct fixture *f = *state;
	uint64_t base = f->pt.nr_tables;

	assert_int_equal(iopt_map(&f->pt, 0x40000000, 0x1000, 0x1000, IOPT_RW), 0);
	assert_int_equal(f->pt.nr_tables, base + f->pt.levels - 1);
	f->flushes = 0;
	assert_int_equal(iopt_unmap(&f->pt, 0x40000000, 0x1000, NULL), 0x1000);
	/* one flush over the range; the level-1 table stays (its span was not
	 * wholly unmapped) */
	assert_int_equal(f->flushes, 1);
	assert_int_equal(f->flush_iova, 0x40000000);
	assert_int_equal(f->flush_size, 0x1000);
	/* unmapping a whole 1G span frees every table under it */
	assert_int_equal(iopt_unmap(&f->pt, 0x40000000, GiB, NULL), 0);
	assert_int_equal(f->pt.nr_tables, base + (f->pt.levels == 4 ? 1 : 0));
	/* nothing unmapped and nothing freed: no flush */
	f->flushes = 0;
	assert_int_equal(iopt_unmap(&f->pt, 0x80000000, 0x1000, NULL), 0);
	assert_int_equal(f->flushes, 0);
}

static void test_gather_defers(void **state)
{
	struct fixture *f = *state;
	struct iopt_gather g;
	uint64_t base = f->pt.nr_tables;

	iopt_gather_init(&g);
	assert_int_equal(iopt_map(&f->pt, 0, 8 * MiB, 2 * MiB, IOPT_RW), 0);    /* 2M leaf */
	assert_int_equal(iopt_map(&f->pt, 4 * MiB, 0x1000, 0x2000, IOPT_RW), 0);
	f->flushes = 0;
	assert_int_equal(iopt_unmap(&f->pt, 0, 2 * MiB, &g), 2 * MiB);
	assert_int_equal(iopt_unmap(&f->pt, 4 * MiB, 2 * MiB, &g), 0x2000);
	assert_int_equal(f->flushes, 0);
	assert_int_equal(g.start, 0);
	assert_int_equal(g.end, 6 * MiB);
	assert_int_equal(g.nr_free, 1);       /* the level-1 table under 4M */
	assert_int_equal(f->pt.nr_tables, base + f->pt.levels - 1);
	iopt_gather_sync(&f->pt, &g);
	assert_int_equal(f->flushes, 1);
	assert_int_equal(f->flush_size, 6 * MiB);
	assert_int_equal(f->pt.nr_tables, base + f->pt.levels - 2);
	assert_true(iopt_gather_empty(&g));
}

/* The same walker over "guest" table memory: tables live at guest addresses
 * that read64 resolves through an offset, as a vIOMMU's would. */
struct guest_mem { struct arena *a; uint64_t gpa_to_hpa; unsigned reads; };

static int guest_read64(void *opaque, uint64_t gpa, uint64_t *val)
{
	struct guest_mem *g = opaque;
	uint64_t *p = arena_hpa_to_ptr(g->a, gpa + g->gpa_to_hpa, 8);

	g->reads++;
	if (!p)
		return -EFAULT;
	*val = *p;
	return 0;
}

static void test_walker_over_guest_memory(void **state)
{
	struct fixture *f = *state;
	const uint64_t off = 16 * MiB;      /* "GPA" 0 is HPA 16M */
	struct guest_mem gm = { .a = &f->arena, .gpa_to_hpa = off };
	struct iopt_mem mem = { .read64 = guest_read64, .opaque = &gm };
	uint64_t *l3, *l2, *l1;
	struct iopt_walk_result r;

	/* a 3-level guest table at GPAs 0x0, 0x1000, 0x2000 */
	l3 = arena_hpa_to_ptr(&f->arena, off, 4096);
	l2 = arena_hpa_to_ptr(&f->arena, off + 0x1000, 4096);
	l1 = arena_hpa_to_ptr(&f->arena, off + 0x2000, 4096);
	memset(l3, 0, 3 * 4096);
	l3[0] = 0x1000 | VTD_SL_R | VTD_SL_W;
	l2[1] = 0x2000 | VTD_SL_R | VTD_SL_W;
	l1[2] = 0x77000 | VTD_SL_R;
	assert_int_equal(iopt_vtd_walk(&mem, 0, 3, 46, 2 * MiB + 0x2345, IOPT_READ, &r), 0);
	assert_int_equal(r.pa, 0x77000);
	assert_int_equal(gm.reads, 3);
	assert_int_equal(iopt_vtd_walk(&mem, 0, 3, 46, 2 * MiB + 0x2345, IOPT_WRITE, &r), VTD_FR_WRITE);
	/* a guest table pointer the memory map cannot resolve */
	l2[1] = (1ull << 44) | VTD_SL_R | VTD_SL_W;
	assert_int_equal(iopt_vtd_walk(&mem, 0, 3, 46, 2 * MiB, IOPT_READ, &r), VTD_FR_PAGING_ENTRY_INV);
}

/* Every test that cares about the width runs on both, under its own name. */
#define T48(fn) { #fn "_48bit", fn, setup48, teardown, NULL }
#define T39(fn) { #fn "_39bit", fn, setup39, teardown, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T48(test_map_4k_both_widths),
		T39(test_map_4k_both_widths),
		T48(test_superpage_only_where_asked),
		T39(test_superpage_only_where_asked),
		T48(test_1g_superpage_and_boundaries),
		T39(test_1g_superpage_and_boundaries),
		T48(test_overlap_refused),
		T48(test_bad_arguments),
		T48(test_width_39_vs_48),
		T39(test_width_39_vs_48),
		T48(test_permissions),
		T39(test_permissions),
		T48(test_reserved_bits),
		T39(test_reserved_bits),
		T48(test_table_access_failure),
		T48(test_unmap_returns_and_splits),
		T39(test_unmap_returns_and_splits),
		T48(test_tables_freed_and_flushed),
		T39(test_tables_freed_and_flushed),
		T48(test_gather_defers),
		T48(test_walker_over_guest_memory),
	};

	return cmocka_run_group_tests_name("iopt", tests, NULL, NULL);
}
