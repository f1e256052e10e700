/* VT-d remapping unit model: every fault reason, FPD, the fault log and its
 * overflow, the IOTLB (hits, page sizes, replacement) and context cache, and
 * invalidation semantics (global, domain, page-selective with address mask,
 * context-cache by device with function mask). Tables are written by hand
 * (or with the format) in arena memory, as a driver would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "iommu/vtd.h"
#include "iommu/iopt.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define SID_A VTD_SID(0, 3, 0)
#define SID_B VTD_SID(0, 4, 0)
#define SID_C VTD_SID(2, 0, 1)

struct vfx {
	struct arena a;
	struct vtd_unit u;
	uint64_t root;
	uint64_t ctx_table[256];
	struct iopt pt48, pt39;
};

static struct vfx fx;

static void setup_unit(struct vfx *f, unsigned iotlb_sets, unsigned nr_fault_records)
{
	struct vtd_unit_cfg cfg;
	struct iopt_cfg pc;

	memset(f, 0, sizeof(*f));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&f->a, 64 * MiB, 16 * MiB), 0);
	memset(&cfg, 0, sizeof(cfg));
	vtd_caps_default(&cfg.caps);
	if (nr_fault_records)
		cfg.caps.nr_fault_records = nr_fault_records;
	cfg.iotlb_sets = iotlb_sets;
	iopt_mem_init_arena(&cfg.mem, &f->a);
	assert_int_equal(vtd_unit_init(&f->u, &cfg), 0);
	assert_int_equal(arena_alloc_pages(&f->a, 1, &f->root), 0);
	vtd_set_root_table(&f->u, f->root);
	assert_int_equal(vtd_set_translation_enable(&f->u, true), 0);
	pc = (struct iopt_cfg){ .arena = &f->a, .ias = 48, .oas = 46 };
	assert_int_equal(iopt_init(&f->pt48, IOPT_VTD_SL, &pc), 0);
	pc.ias = 39;
	assert_int_equal(iopt_init(&f->pt39, IOPT_VTD_SL, &pc), 0);
}

static int setup(void **state)
{
	setup_unit(&fx, 0, 0);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct vfx *f = *state;

	iopt_destroy(&f->pt48);
	iopt_destroy(&f->pt39);
	vtd_unit_destroy(&f->u);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	arena_destroy(&f->a);
	return 0;
}

static uint64_t *root_entry(struct vfx *f, unsigned bus)
{
	return arena_hpa_to_ptr(&f->a, f->root + bus * 16, 16);
}

static uint64_t *ctx_entry(struct vfx *f, uint16_t sid)
{
	unsigned bus = VTD_SID_BUS(sid);

	if (!f->ctx_table[bus]) {
		assert_int_equal(arena_alloc_pages(&f->a, 1, &f->ctx_table[bus]), 0);
		root_entry(f, bus)[1] = 0;
		root_entry(f, bus)[0] = vtd_root_entry_lo(f->ctx_table[bus]);
	}
	return arena_hpa_to_ptr(&f->a, f->ctx_table[bus] + VTD_SID_DEVFN(sid) * 16, 16);
}

static void attach(struct vfx *f, uint16_t sid, struct iopt *pt, uint16_t did, enum vtd_tt tt, bool fpd)
{
	uint64_t *ce = ctx_entry(f, sid);

	ce[1] = vtd_ctx_entry_hi(did, pt->levels == 3 ? VTD_AW_39BIT : VTD_AW_48BIT);
	ce[0] = vtd_ctx_entry_lo(pt->root, tt, fpd);
}

static unsigned last_fault_level;

static struct vtd_fault_record last_fault(struct vfx *f)
{
	struct vtd_fault_record r[256];
	size_t n = vtd_fault_log_read(&f->u, r, 256);

	assert_true(n > 0);
	last_fault_level = r[n - 1].level;
	return r[n - 1];
}

/* Translate expecting a fault with `reason`, recorded with sid/iova/type. */
static void expect_fault(struct vfx *f, uint16_t sid, uint64_t iova, unsigned req, unsigned reason)
{
	struct vtd_xlate x;
	struct vtd_fault_record r;

	assert_int_equal(vtd_translate(&f->u, sid, iova, req, &x), -EFAULT);
	assert_int_equal(x.fault, reason);
	r = last_fault(f);
	assert_int_equal(r.reason, reason);
	assert_int_equal(r.sid, sid);
	assert_int_equal(r.iova, iova & ~0xfffull);
	assert_int_equal(r.is_write, !!(req & VTD_REQ_WRITE));
}

static uint64_t expect_ok(struct vfx *f, uint16_t sid, uint64_t iova, unsigned req)
{
	struct vtd_xlate x;

	assert_int_equal(vtd_translate(&f->u, sid, iova, req, &x), 0);
	return x.addr;
}

static void test_fault_root_and_context_not_present(void **state)
{
	struct vfx *f = *state;

	expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_ROOT_ENTRY_P);
	ctx_entry(f, SID_A);                     /* root entry present, context not */
	expect_fault(f, SID_A, 0x1000, VTD_REQ_WRITE, VTD_FR_CONTEXT_ENTRY_P);
	expect_fault(f, SID_C, 0x1000, VTD_REQ_READ, VTD_FR_ROOT_ENTRY_P);
}

static void test_fault_context_invalid(void **state)
{
	struct vfx *f = *state;
	uint64_t *ce;

	attach(f, SID_A, &f->pt48, 1, VTD_TT_RESERVED, false);
	expect_fault(f, SID_A, 0, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_INV);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_DEV_TLB, false);       /* ECAP.DT = 0 */
	expect_fault(f, SID_A, 0, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_INV);
	ce = ctx_entry(f, SID_A);
	ce[0] = vtd_ctx_entry_lo(f->pt48.root, VTD_TT_TRANSLATED, false);
	ce[1] = vtd_ctx_entry_hi(1, VTD_AW_57BIT);                    /* 5-level not supported */
	expect_fault(f, SID_A, 0, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_INV);
	ce[1] = vtd_ctx_entry_hi(1, 0);                               /* 30-bit: not in SAGAW */
	expect_fault(f, SID_A, 0, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_INV);
}

static void test_fault_beyond_address_width(void **state)
{
	struct vfx *f = *state;

	assert_int_equal(iopt_map(&f->pt39, (1ull << 39) - 4096, 0x100000, 4096, IOPT_RW), 0);
	assert_int_equal(iopt_map(&f->pt48, (1ull << 39), 0x200000, 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt39, 1, VTD_TT_TRANSLATED, false);
	attach(f, SID_B, &f->pt48, 2, VTD_TT_TRANSLATED, false);
	assert_int_equal(expect_ok(f, SID_A, (1ull << 39) - 1, VTD_REQ_READ), 0x100fff);
	expect_fault(f, SID_A, 1ull << 39, VTD_REQ_READ, VTD_FR_ADDR_BEYOND_MGAW);
	assert_int_equal(expect_ok(f, SID_B, 1ull << 39, VTD_REQ_READ), 0x200000);
	expect_fault(f, SID_B, 1ull << 48, VTD_REQ_WRITE, VTD_FR_ADDR_BEYOND_MGAW);
	expect_fault(f, SID_B, ~0ull, VTD_REQ_WRITE, VTD_FR_ADDR_BEYOND_MGAW);
}

static void test_fault_permissions_and_not_present(void **state)
{
	struct vfx *f = *state;
	struct vtd_fault_record r;

	assert_int_equal(iopt_map(&f->pt48, 0x1000, 0x100000, 4096, IOPT_READ), 0);
	assert_int_equal(iopt_map(&f->pt48, 0x2000, 0x101000, 4096, IOPT_WRITE), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	assert_int_equal(expect_ok(f, SID_A, 0x1234, VTD_REQ_READ), 0x100234);
	expect_fault(f, SID_A, 0x1234, VTD_REQ_WRITE, VTD_FR_WRITE);
	/* denied on an IOTLB hit too (the IOTLB caches permissions) */
	expect_fault(f, SID_A, 0x1234, VTD_REQ_WRITE, VTD_FR_WRITE);
	assert_int_equal(expect_ok(f, SID_A, 0x2000, VTD_REQ_WRITE), 0x101000);
	expect_fault(f, SID_A, 0x2000, VTD_REQ_READ, VTD_FR_READ);
	/* not present, at the leaf and higher up; the record says where */
	expect_fault(f, SID_A, 0x3000, VTD_REQ_READ, VTD_FR_READ);
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x3000, VTD_REQ_WRITE, &(struct vtd_xlate){0}), -EFAULT);
	r = last_fault(f);
	assert_int_equal(r.reason, VTD_FR_WRITE);
	assert_true(r.not_present);
	assert_int_equal(r.level, 1);
	assert_int_equal(vtd_translate(&f->u, SID_A, 1ull << 40, VTD_REQ_READ, &(struct vtd_xlate){0}), -EFAULT);
	r = last_fault(f);
	assert_int_equal(r.reason, VTD_FR_READ);
	assert_true(r.not_present);
	assert_int_equal(r.level, 4);
}

static uint64_t *sl_entry(struct vfx *f, struct iopt *pt, uint64_t iova, unsigned level)
{
	uint64_t table = pt->root;

	for (unsigned lvl = pt->levels; ; lvl--) {
		uint64_t *e = (uint64_t *)arena_hpa_to_ptr(&f->a, table, 4096) + ((iova >> (12 + 9 * (lvl - 1))) & 511);

		if (lvl == level)
			return e;
		table = *e & VTD_SL_ADDR_MASK;
	}
}

static void test_fault_table_access_errors(void **state)
{
	struct vfx *f = *state;
	uint64_t *e, saved;

	assert_int_equal(iopt_map(&f->pt48, 0x1000, 0x100000, 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	/* 0x7: an SL table pointer to memory that does not exist */
	e = sl_entry(f, &f->pt48, 0x1000, 2);
	saved = *e;
	*e = (1ull << 40) | VTD_SL_R | VTD_SL_W;
	expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_PAGING_ENTRY_INV);
	*e = saved;
	/* 0x9: a context-table pointer to memory that does not exist */
	root_entry(f, 0)[0] = vtd_root_entry_lo(1ull << 40);
	vtd_context_invalidate_global(&f->u);
	expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_CONTEXT_TABLE_INV);
	root_entry(f, 0)[0] = vtd_root_entry_lo(f->ctx_table[0]);
	assert_int_equal(expect_ok(f, SID_A, 0x1000, VTD_REQ_READ), 0x100000);
	/* 0x8: the root table itself */
	vtd_set_root_table(&f->u, 1ull << 41);
	vtd_context_invalidate_global(&f->u);
	expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_ROOT_TABLE_INV);
	vtd_set_root_table(&f->u, f->root);
	vtd_context_invalidate_global(&f->u);
	assert_int_equal(expect_ok(f, SID_A, 0x1000, VTD_REQ_READ), 0x100000);
}

static void test_fault_reserved_bits(void **state)
{
	struct vfx *f = *state;
	uint64_t *re, *ce, *e, saved;
	const uint64_t root_bad_lo[] = { 1ull << 1, 1ull << 11, 1ull << 46 };
	const uint64_t ctx_bad_lo[] = { 1ull << 4, 1ull << 11, 1ull << 50 };
	const uint64_t ctx_bad_hi[] = { 1ull << 7, 1ull << 24, 1ull << 63 };

	assert_int_equal(iopt_map(&f->pt48, 0x1000, 0x100000, 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	re = root_entry(f, 0);
	ce = ctx_entry(f, SID_A);
	saved = re[0];
	for (unsigned i = 0; i < 3; i++) {
		re[0] = saved | root_bad_lo[i];
		expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_ROOT_ENTRY_RSVD);
	}
	re[0] = saved;
	re[1] = 1;
	expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_ROOT_ENTRY_RSVD);
	re[1] = 0;
	saved = ce[0];
	for (unsigned i = 0; i < 3; i++) {
		ce[0] = saved | ctx_bad_lo[i];
		expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_RSVD);
	}
	ce[0] = saved;
	saved = ce[1];
	for (unsigned i = 0; i < 3; i++) {
		ce[1] = saved | ctx_bad_hi[i];
		expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_RSVD);
	}
	/* DID beyond CAP.ND (4096 ids) */
	ce[1] = vtd_ctx_entry_hi(4096, VTD_AW_48BIT);
	expect_fault(f, SID_A, 0x1000, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_RSVD);
	/* ignored bits 6:3 of the upper half are ignored */
	ce[1] = saved | 0x78;
	assert_int_equal(expect_ok(f, SID_A, 0x1000, VTD_REQ_READ), 0x100000);
	ce[1] = saved;
	/* second-level entry (the good translation above is cached: drop it) */
	e = sl_entry(f, &f->pt48, 0x1000, 1);
	*e |= VTD_SL_SNP;
	vtd_iotlb_invalidate_global(&f->u);
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x1000, VTD_REQ_READ, &(struct vtd_xlate){0}), -EFAULT);
	assert_int_equal(last_fault(f).reason, VTD_FR_PAGING_ENTRY_RSVD);
	*e &= ~VTD_SL_SNP;
	*sl_entry(f, &f->pt48, 0x1000, 3) |= 1ull << 47;
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x1000, VTD_REQ_READ, &(struct vtd_xlate){0}), -EFAULT);
	assert_int_equal(last_fault(f).reason, VTD_FR_PAGING_ENTRY_RSVD);
	assert_int_equal(last_fault_level, 3);
	*sl_entry(f, &f->pt48, 0x1000, 3) &= ~(1ull << 47);
}

static void test_fault_translated_request_blocked(void **state)
{
	struct vfx *f = *state;

	assert_int_equal(iopt_map(&f->pt48, 0x1000, 0x100000, 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	attach(f, SID_B, &f->pt48, 1, VTD_TT_PASSTHROUGH, false);
	/* a device claiming an already-translated address skips nothing */
	expect_fault(f, SID_A, 0x100000, VTD_REQ_WRITE | VTD_REQ_TRANSLATED, VTD_FR_CONTEXT_ENTRY_TT);
	expect_fault(f, SID_B, 0x100000, VTD_REQ_WRITE | VTD_REQ_TRANSLATED, VTD_FR_CONTEXT_ENTRY_TT);
	/* pass-through: identity for untranslated requests, up to HAW */
	assert_int_equal(expect_ok(f, SID_B, 0x123456, VTD_REQ_WRITE), 0x123456);
	expect_fault(f, SID_B, 1ull << 46, VTD_REQ_READ, VTD_FR_ADDR_BEYOND_MGAW);
}

static void test_fault_interrupt_range(void **state)
{
	struct vfx *f = *state;
	struct vtd_xlate x;

	/* a 2M page whose first 1M is the interrupt window: only the window
	 * faults */
	assert_int_equal(iopt_map(&f->pt48, 0x40000000, 0xfee00000, 2 * MiB, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	expect_fault(f, SID_A, 0x40000040, VTD_REQ_WRITE, VTD_FR_INTERRUPT_ADDR);
	expect_fault(f, SID_A, 0x400ff000, VTD_REQ_READ, VTD_FR_INTERRUPT_ADDR);
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x40100008, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, 0xfef00008);
	assert_int_equal(x.page_size, 4096);     /* so no access runs into the window */
}

static void test_fpd_suppresses_recording(void **state)
{
	struct vfx *f = *state;
	struct vtd_fault_stats s;
	struct vtd_xlate x;

	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, true);
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x1000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_READ);
	assert_int_equal(vtd_fault_log_pending(&f->u), 0);
	vtd_fault_stats_get(&f->u, &s);
	assert_int_equal(s.suppressed, 1);
	assert_int_equal(s.by_reason[VTD_FR_READ], 1);
	/* a probe records nothing either */
	attach(f, SID_B, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	assert_int_equal(vtd_translate(&f->u, SID_B, 0x1000, VTD_REQ_READ | VTD_REQ_PROBE, &x), -EFAULT);
	assert_int_equal(vtd_fault_log_pending(&f->u), 0);
}

static void test_fault_log_overflow(void **state)
{
	struct vfx *f = *state;
	struct vtd_fault_record r[300];
	struct vtd_fault_stats s;
	struct vtd_xlate x;
	uint64_t frcd[2];

	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	for (unsigned i = 0; i < 300; i++)
		assert_int_equal(vtd_translate(&f->u, SID_A, (uint64_t)i << 12,
					       i & 1 ? VTD_REQ_WRITE : VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(vtd_fault_log_pending(&f->u), 256);
	assert_true(vtd_fault_overflow(&f->u));
	vtd_fault_stats_get(&f->u, &s);
	assert_int_equal(s.total, 300);
	assert_int_equal(s.recorded, 256);
	assert_int_equal(s.dropped, 44);
	assert_int_equal(s.by_reason[VTD_FR_READ], 150);
	assert_int_equal(s.by_reason[VTD_FR_WRITE], 150);
	/* oldest first; the dropped ones are the newest */
	assert_int_equal(vtd_fault_log_read(&f->u, r, 300), 256);
	for (unsigned i = 0; i < 256; i++) {
		assert_int_equal(r[i].iova, (uint64_t)i << 12);
		assert_int_equal(r[i].reason, i & 1 ? VTD_FR_WRITE : VTD_FR_READ);
	}
	/* still flagged until software clears PFO; new faults record again */
	assert_true(vtd_fault_overflow(&f->u));
	vtd_fault_clear_overflow(&f->u);
	assert_false(vtd_fault_overflow(&f->u));
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x5000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(vtd_fault_log_pending(&f->u), 1);
	/* FRCD layout: FI, SID, FR, T (1 = read), F */
	vtd_fault_record_encode(&r[1], frcd);
	assert_int_equal(frcd[0], 0x1000);
	assert_int_equal(frcd[1], (uint64_t)SID_A | (uint64_t)VTD_FR_WRITE << 32 | 1ull << 63);
	vtd_fault_record_encode(&r[0], frcd);
	assert_int_equal(frcd[1], (uint64_t)SID_A | (uint64_t)VTD_FR_READ << 32 | 1ull << 62 | 1ull << 63);
}

static void test_te_and_root(void **state)
{
	struct vfx *f = *state;
	struct vtd_unit u;
	struct vtd_unit_cfg cfg;
	struct vtd_xlate x;

	memset(&cfg, 0, sizeof(cfg));
	iopt_mem_init_arena(&cfg.mem, &f->a);
	assert_int_equal(vtd_unit_init(&u, &cfg), 0);
	/* reset state: translation off, requests pass untranslated */
	assert_int_equal(vtd_translate(&u, SID_A, 0x12345, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, 0x12345);
	assert_int_equal(vtd_set_translation_enable(&u, true), -EINVAL);
	vtd_set_root_table(&u, f->root);
	assert_int_equal(vtd_set_translation_enable(&u, true), 0);
	assert_int_equal(vtd_translate(&u, SID_C, 0x12345, VTD_REQ_WRITE, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_ROOT_ENTRY_P);
	vtd_unit_destroy(&u);
	/* capability register: ND, SAGAW 39+48, MGAW 48, 2M+1G, PSI, NFR, MAMV */
	vtd_caps_default(&cfg.caps);
	assert_int_equal(vtd_cap_reg(&cfg.caps) & 7, 4);
	assert_int_equal((vtd_cap_reg(&cfg.caps) >> 8) & 0x1f, 0x6);
	assert_int_equal((vtd_cap_reg(&cfg.caps) >> 16) & 0x3f, 47);
	assert_int_equal((vtd_cap_reg(&cfg.caps) >> 34) & 0xf, 0x3);
	assert_true(vtd_cap_reg(&cfg.caps) & (1ull << 39));
	assert_int_equal((vtd_cap_reg(&cfg.caps) >> 40) & 0xff, 255);
	assert_int_equal((vtd_cap_reg(&cfg.caps) >> 48) & 0x3f, 18);
}

static void test_iotlb_hits_and_page_sizes(void **state)
{
	struct vfx *f = *state;
	struct vtd_stats s0, s1;
	struct vtd_xlate x;

	assert_int_equal(iopt_map(&f->pt48, 0, 0x100000, 4096, IOPT_RW), 0);
	assert_int_equal(iopt_map(&f->pt48, 2 * MiB, 8 * MiB, 2 * MiB, IOPT_READ), 0);
	assert_int_equal(iopt_map(&f->pt48, GiB, 2 * GiB, GiB, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 7, VTD_TT_TRANSLATED, false);
	vtd_stats_get(&f->u, &s0);
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x10, VTD_REQ_READ, &x), 0);
	assert_false(x.iotlb_hit);
	assert_int_equal(vtd_translate(&f->u, SID_A, 0x20, VTD_REQ_WRITE, &x), 0);
	assert_true(x.iotlb_hit);
	assert_int_equal(x.page_size, 4096);
	assert_int_equal(x.did, 7);
	/* one entry covers a whole superpage */
	assert_int_equal(vtd_translate(&f->u, SID_A, 2 * MiB, VTD_REQ_READ, &x), 0);
	assert_false(x.iotlb_hit);
	assert_int_equal(vtd_translate(&f->u, SID_A, 4 * MiB - 1, VTD_REQ_READ, &x), 0);
	assert_true(x.iotlb_hit);
	assert_int_equal(x.page_size, 2 * MiB);
	assert_int_equal(x.addr, 10 * MiB - 1);
	assert_int_equal(x.perm, IOPT_READ);
	assert_int_equal(vtd_translate(&f->u, SID_A, GiB + 12345, VTD_REQ_READ, &x), 0);
	assert_int_equal(vtd_translate(&f->u, SID_A, 2 * GiB - 8, VTD_REQ_WRITE, &x), 0);
	assert_true(x.iotlb_hit);
	assert_int_equal(x.page_size, GiB);
	assert_int_equal(x.addr, 3 * GiB - 8);
	vtd_stats_get(&f->u, &s1);
	assert_int_equal(s1.iotlb_misses - s0.iotlb_misses, 3);
	assert_int_equal(s1.iotlb_hits - s0.iotlb_hits, 3);
	assert_int_equal(s1.iotlb_fills - s0.iotlb_fills, 3);
	assert_int_equal(s1.cc_misses - s0.cc_misses, 1);
	assert_int_equal(s1.cc_hits - s0.cc_hits, 5);
}

static int setup_one_set(void **state)
{
	setup_unit(&fx, 1, 0);                       /* one set of 4 ways */
	*state = &fx;
	return 0;
}

static void test_iotlb_replacement(void **state)
{
	struct vfx *f = *state;
	struct vtd_stats s;
	struct vtd_xlate x;

	assert_int_equal(iopt_map(&f->pt48, 0, 0x100000, 64 * 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(vtd_translate(&f->u, SID_A, (uint64_t)i << 12, VTD_REQ_READ, &x), 0);
	vtd_stats_get(&f->u, &s);
	assert_int_equal(s.iotlb_evictions, 0);
	/* page 0 stays hot; streaming other pages evicts them, not it */
	for (unsigned i = 4; i < 64; i++) {
		assert_int_equal(vtd_translate(&f->u, SID_A, 0, VTD_REQ_READ, &x), 0);
		assert_int_equal(vtd_translate(&f->u, SID_A, (uint64_t)i << 12, VTD_REQ_READ, &x), 0);
		assert_false(x.iotlb_hit);
	}
	assert_int_equal(vtd_translate(&f->u, SID_A, 0, VTD_REQ_READ, &x), 0);
	assert_true(x.iotlb_hit);
	vtd_stats_get(&f->u, &s);
	assert_int_equal(s.iotlb_evictions, 60);
	assert_true(s.iotlb_hits >= 55);
}

/* Rewrite a leaf behind the IOTLB's back: a cached translation survives
 * until invalidated, which is how the tests see what invalidation covers. */
static void retarget(struct vfx *f, uint64_t iova, uint64_t pa)
{
	uint64_t *e = sl_entry(f, &f->pt48, iova, 1);

	*e = pa | VTD_SL_R | VTD_SL_W;
}

static void test_page_selective_invalidation(void **state)
{
	struct vfx *f = *state;

	assert_int_equal(iopt_map(&f->pt48, 0, 0x100000, 16 * 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(expect_ok(f, SID_A, (uint64_t)i << 12, VTD_REQ_READ), 0x100000 + ((uint64_t)i << 12));
	for (unsigned i = 0; i < 16; i++)
		retarget(f, (uint64_t)i << 12, 0x200000 + ((uint64_t)i << 12));
	/* still the old translations: cached */
	assert_int_equal(expect_ok(f, SID_A, 0x5000, VTD_REQ_READ), 0x105000);
	/* AM = 2 at 0x4000: pages 4..7 exactly */
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 1, 0x4000, 2, false), 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(expect_ok(f, SID_A, (uint64_t)i << 12, VTD_REQ_READ),
				 (i >= 4 && i < 8 ? 0x200000 : 0x100000) + ((uint64_t)i << 12));
	/* another domain's invalidation leaves this one alone */
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 2, 0, 4, false), 0);
	assert_int_equal(expect_ok(f, SID_A, 0, VTD_REQ_READ), 0x100000);
	/* AM = 0: one page */
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 1, 0xf000, 0, true), 0);
	assert_int_equal(expect_ok(f, SID_A, 0xf000, VTD_REQ_READ), 0x20f000);
	assert_int_equal(expect_ok(f, SID_A, 0xe000, VTD_REQ_READ), 0x10e000);
	/* misaligned address or mask beyond MAMV: refused */
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 1, 0x1000, 1, false), -EINVAL);
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 1, 0, 19, false), -EINVAL);
	/* AM = 4 covers the rest */
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 1, 0, 4, false), 0);
	assert_int_equal(expect_ok(f, SID_A, 0, VTD_REQ_READ), 0x200000);
}

static void test_psi_drops_covering_superpage(void **state)
{
	struct vfx *f = *state;
	uint64_t *e;

	assert_int_equal(iopt_map(&f->pt48, 2 * MiB, 8 * MiB, 2 * MiB, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	assert_int_equal(expect_ok(f, SID_A, 2 * MiB, VTD_REQ_READ), 8 * MiB);
	e = sl_entry(f, &f->pt48, 2 * MiB, 2);
	*e = (12 * MiB) | VTD_SL_PS | VTD_SL_R | VTD_SL_W;
	assert_int_equal(expect_ok(f, SID_A, 3 * MiB, VTD_REQ_READ), 9 * MiB);
	/* invalidating one 4K page inside drops the whole cached 2M entry */
	assert_int_equal(vtd_iotlb_invalidate_page(&f->u, 1, 3 * MiB + 0x5000, 0, false), 0);
	assert_int_equal(expect_ok(f, SID_A, 2 * MiB, VTD_REQ_READ), 12 * MiB);
	assert_int_equal(expect_ok(f, SID_A, 4 * MiB - 4096, VTD_REQ_READ), 14 * MiB - 4096);
}

static void test_domain_and_global_invalidation(void **state)
{
	struct vfx *f = *state;

	assert_int_equal(iopt_map(&f->pt48, 0, 0x100000, 4096, IOPT_RW), 0);
	assert_int_equal(iopt_map(&f->pt39, 0, 0x300000, 4096, IOPT_RW), 0);
	attach(f, SID_A, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	attach(f, SID_B, &f->pt39, 2, VTD_TT_TRANSLATED, false);
	assert_int_equal(expect_ok(f, SID_A, 0, VTD_REQ_READ), 0x100000);
	assert_int_equal(expect_ok(f, SID_B, 0, VTD_REQ_READ), 0x300000);
	retarget(f, 0, 0x200000);
	*sl_entry(f, &f->pt39, 0, 1) = 0x400000 | VTD_SL_R | VTD_SL_W;
	vtd_iotlb_invalidate_domain(&f->u, 2);
	assert_int_equal(expect_ok(f, SID_A, 0, VTD_REQ_READ), 0x100000);
	assert_int_equal(expect_ok(f, SID_B, 0, VTD_REQ_READ), 0x400000);
	vtd_iotlb_invalidate_global(&f->u);
	assert_int_equal(expect_ok(f, SID_A, 0, VTD_REQ_READ), 0x200000);
}

static void test_context_cache_invalidation(void **state)
{
	struct vfx *f = *state;
	const uint16_t fn0 = VTD_SID(1, 2, 0), fn5 = VTD_SID(1, 2, 5), other = VTD_SID(1, 3, 0);

	assert_int_equal(iopt_map(&f->pt48, 0, 0x100000, 4096, IOPT_RW), 0);
	assert_int_equal(iopt_map(&f->pt39, 0, 0x300000, 4096, IOPT_RW), 0);
	attach(f, fn0, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	attach(f, fn5, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	attach(f, other, &f->pt48, 1, VTD_TT_TRANSLATED, false);
	assert_int_equal(expect_ok(f, fn0, 0, VTD_REQ_READ), 0x100000);
	assert_int_equal(expect_ok(f, fn5, 0, VTD_REQ_READ), 0x100000);
	assert_int_equal(expect_ok(f, other, 0, VTD_REQ_READ), 0x100000);
	/* move all three to domain 2 in memory only: caches keep the old */
	attach(f, fn0, &f->pt39, 2, VTD_TT_TRANSLATED, false);
	attach(f, fn5, &f->pt39, 2, VTD_TT_TRANSLATED, false);
	attach(f, other, &f->pt39, 2, VTD_TT_TRANSLATED, false);
	assert_int_equal(expect_ok(f, fn5, 0, VTD_REQ_READ), 0x100000);
	/* device-selective, no function mask: just fn0 */
	vtd_context_invalidate_device(&f->u, 1, fn0, 0);
	assert_int_equal(expect_ok(f, fn0, 0, VTD_REQ_READ), 0x300000);
	assert_int_equal(expect_ok(f, fn5, 0, VTD_REQ_READ), 0x100000);
	/* FM = 3 masks function bits 2:0: every function of device 2 */
	vtd_context_invalidate_device(&f->u, 1, fn0, 3);
	assert_int_equal(expect_ok(f, fn5, 0, VTD_REQ_READ), 0x300000);
	assert_int_equal(expect_ok(f, other, 0, VTD_REQ_READ), 0x100000);
	/* domain-selective for the old domain id */
	vtd_context_invalidate_domain(&f->u, 1);
	assert_int_equal(expect_ok(f, other, 0, VTD_REQ_READ), 0x300000);
	/* global: a present entry made not-present */
	ctx_entry(f, other)[0] = 0;
	assert_int_equal(expect_ok(f, other, 0, VTD_REQ_READ), 0x300000);
	vtd_context_invalidate_global(&f->u);
	expect_fault(f, other, 0, VTD_REQ_READ, VTD_FR_CONTEXT_ENTRY_P);
}

struct trace_log { struct vtd_trace_event ev[16]; unsigned n; };

static void trace_fn(void *opaque, const struct vtd_trace_event *ev)
{
	struct trace_log *t = opaque;

	if (t->n < 16)
		t->ev[t->n] = *ev;
	t->n++;
}

static void test_trace_hook(void **state)
{
	struct vfx *f = *state;
	struct trace_log log = { .n = 0 };
	struct vtd_trace_hook hook = { .fn = trace_fn, .opaque = &log };

	assert_int_equal(iopt_map(&f->pt48, 0, 0x100000, 4096, IOPT_READ), 0);
	attach(f, SID_A, &f->pt48, 3, VTD_TT_TRANSLATED, false);
	attach(f, SID_B, &f->pt48, 4, VTD_TT_TRANSLATED, false);
	expect_ok(f, SID_A, 0x10, VTD_REQ_READ);          /* off by default */
	assert_int_equal(log.n, 0);
	assert_int_equal(vtd_set_trace(&f->u, 3, &hook), 0);
	expect_ok(f, SID_A, 0x20, VTD_REQ_READ);
	expect_fault(f, SID_A, 0x30, VTD_REQ_WRITE, VTD_FR_WRITE);
	expect_ok(f, SID_B, 0x40, VTD_REQ_READ);          /* other domain: not traced */
	assert_int_equal(log.n, 2);
	assert_int_equal(log.ev[0].sid, SID_A);
	assert_int_equal(log.ev[0].did, 3);
	assert_int_equal(log.ev[0].iova, 0x20);
	assert_int_equal(log.ev[0].addr, 0x100020);
	assert_int_equal(log.ev[0].perm, IOPT_READ);
	assert_true(log.ev[0].iotlb_hit);
	assert_int_equal(log.ev[1].fault, VTD_FR_WRITE);
	assert_int_equal(log.ev[1].access, VTD_REQ_WRITE);
	assert_int_equal(vtd_set_trace(&f->u, 3, NULL), 0);
	expect_ok(f, SID_A, 0x20, VTD_REQ_READ);
	assert_int_equal(log.n, 2);
}

/* A unit whose tables live in "guest memory" (read through read64), as a
 * guest-visible vIOMMU will: root, context and SL tables at GPAs. */
struct gmem_reader { struct arena *a; uint64_t base; };

static int gm_read64(void *opaque, uint64_t gpa, uint64_t *val)
{
	struct gmem_reader *g = opaque;
	uint64_t *p;

	if (gpa >= 4 * MiB)
		return -EFAULT;
	p = arena_hpa_to_ptr(g->a, g->base + gpa, 8);
	if (!p)
		return -EFAULT;
	*val = *p;
	return 0;
}

static void test_unit_over_guest_tables(void **state)
{
	struct vfx *f = *state;
	struct gmem_reader gr = { .a = &f->a, .base = 20 * MiB };
	struct vtd_unit_cfg cfg = { .mem = { .read64 = gm_read64, .opaque = &gr } };
	struct vtd_unit u;
	uint64_t *g = arena_hpa_to_ptr(&f->a, gr.base, 16 * 4096);
	struct vtd_xlate x;

	memset(g, 0, 16 * 4096);
	/* GPA 0x0 root, 0x1000 context table, 0x2000.. a 3-level SL table */
	g[0] = vtd_root_entry_lo(0x1000);
	g[512 + 2 * 8 + 0] = vtd_ctx_entry_lo(0x2000, VTD_TT_TRANSLATED, false);
	g[512 + 2 * 8 + 1] = vtd_ctx_entry_hi(9, VTD_AW_39BIT);
	g[1024] = 0x3000 | VTD_SL_R | VTD_SL_W;
	g[1536] = 0x4000 | VTD_SL_R | VTD_SL_W;
	g[2048 + 5] = 0xabc000 | VTD_SL_R;
	vtd_caps_default(&cfg.caps);
	assert_int_equal(vtd_unit_init(&u, &cfg), 0);
	vtd_set_root_table(&u, 0);
	assert_int_equal(vtd_set_translation_enable(&u, true), 0);
	assert_int_equal(vtd_translate(&u, VTD_SID(0, 1, 0), 0x5123, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.addr, 0xabc123);
	assert_int_equal(x.did, 9);
	assert_int_equal(vtd_translate(&u, VTD_SID(0, 1, 0), 0x5123, VTD_REQ_WRITE, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_WRITE);
	/* a context table the guest put outside its memory */
	g[2] = vtd_root_entry_lo(64 * MiB);
	assert_int_equal(vtd_translate(&u, VTD_SID(1, 0, 0), 0, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_CONTEXT_TABLE_INV);
	vtd_unit_destroy(&u);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fault_root_and_context_not_present),
		T(test_fault_context_invalid),
		T(test_fault_beyond_address_width),
		T(test_fault_permissions_and_not_present),
		T(test_fault_table_access_errors),
		T(test_fault_reserved_bits),
		T(test_fault_translated_request_blocked),
		T(test_fault_interrupt_range),
		T(test_fpd_suppresses_recording),
		T(test_fault_log_overflow),
		T(test_te_and_root),
		T(test_iotlb_hits_and_page_sizes),
		cmocka_unit_test_setup_teardown(test_iotlb_replacement, setup_one_set, teardown),
		T(test_page_selective_invalidation),
		T(test_psi_drops_covering_superpage),
		T(test_domain_and_global_invalidation),
		T(test_context_cache_invalidation),
		T(test_trace_hook),
		T(test_unit_over_guest_tables),
	};

	return cmocka_run_group_tests_name("vtd", tests, NULL, NULL);
}
