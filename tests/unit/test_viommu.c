/* Guest-visible VT-d register model: reset values and register semantics,
 * the global command register, a guest-built root/context/second-level
 * table translated through the unit, register-based and queued
 * invalidation (with status write, completion interrupt, errors and wrap),
 * fault recording registers and fault events, reset, the hooks, and a
 * seeded storm of random register writes. The guest's RAM is a gmem in a
 * small arena; everything is programmed through the MMIO bus as a driver
 * would. Interrupt remapping is in test_viommu_ir.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <cmocka.h>

#include "iommu/viommu.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define BASE VIOMMU_DEFAULT_BASE

/* Guest physical layout of the test's tables. */
#define GPA_ROOT    0x100000ull
#define GPA_CTX     0x101000ull        /* context table of bus 0 */
#define GPA_PT      0x110000ull        /* second-level tables, bump-allocated */
#define GPA_IQ      0x200000ull        /* invalidation queue (up to 8 pages) */
#define GPA_STATUS  0x280000ull        /* wait descriptors' status words */
#define GPA_DATA    0x1000000ull
#define RAM_SIZE    (32 * MiB)

#define SID_DEV     VTD_SID(0, 3, 0)
#define SID_OTHER   VTD_SID(0, 4, 0)
#define DID         5

#define FRCD(i)     (VIOMMU_FRCD_OFFSET + 16 * (i))
#define REG_IVA     (VIOMMU_IVA_OFFSET + VTD_REG_IVA_OFF)
#define REG_IOTLB   (VIOMMU_IVA_OFFSET + VTD_REG_IOTLB_OFF)

struct msi_rec { uint64_t addr; uint32_t data; uint16_t rid; };

struct fixture {
	struct arena a;
	struct gmem g;
	struct bus mmio;
	struct viommu v;
	struct msi_sink sink;
	struct msi_rec msi[64];
	unsigned nmsi;                     /* atomic: DMA threads raise fault events */
	unsigned ctx_hooks, irq_hooks, iotlb_hooks;
	unsigned passes, iotlb_hooks_at_pass;
	enum viommu_inv_gran gran;
	uint16_t did;
	uint64_t addr, size;
	uint64_t pt_next;
	uint64_t root48;                   /* the domain's top-level table */
	uint64_t qtail;                    /* where the next queued descriptor goes */
};

static struct fixture fx;

static int msi_record(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct fixture *f = opaque;
	unsigned n = __atomic_fetch_add(&f->nmsi, 1, __ATOMIC_RELAXED);

	if (n < 64)
		f->msi[n] = (struct msi_rec){ addr, data, rid };
	return 0;
}

static void hook_iotlb(void *opaque, enum viommu_inv_gran gran, uint16_t did, uint64_t addr, uint64_t size)
{
	struct fixture *f = opaque;

	f->iotlb_hooks++;
	f->gran = gran;
	f->did = did;
	f->addr = addr;
	f->size = size;
}

static void hook_ctx(void *opaque) { ((struct fixture *)opaque)->ctx_hooks++; }
static void hook_irq(void *opaque) { ((struct fixture *)opaque)->irq_hooks++; }

static void hook_pass_done(void *opaque)
{
	struct fixture *f = opaque;

	f->passes++;
	f->iotlb_hooks_at_pass = f->iotlb_hooks;
}

static const struct viommu_hooks hooks = {
	.iotlb_invalidated = hook_iotlb, .context_invalidated = hook_ctx, .irq_invalidated = hook_irq,
	.pass_done = hook_pass_done,
};

static void fixture_cfg(struct viommu_cfg *c, enum viommu_mode mode)
{
	*c = (struct viommu_cfg){
		.mode = mode, .gmem = &fx.g, .msi = &fx.sink, .ioapic_sid = 0xff00,
		.hooks = &hooks, .hooks_opaque = &fx,
	};
}

static int setup_mode(enum viommu_mode mode)
{
	struct viommu_cfg c;

	memset(&fx, 0, sizeof(fx));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&fx.a, 64 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&fx.g, &fx.a, 1, RAM_SIZE), 0);
	assert_int_equal(bus_init(&fx.mmio, "mmio"), 0);
	fx.sink = (struct msi_sink){ .send = msi_record, .opaque = &fx };
	fixture_cfg(&c, mode);
	assert_int_equal(viommu_init(&fx.v, &c), 0);
	assert_int_equal(viommu_attach(&fx.v, &fx.mmio, BASE), 0);
	fx.pt_next = GPA_PT;
	return 0;
}

static int setup(void **state)        { (void)state; return setup_mode(VIOMMU_MODE_NESTED); }
static int setup_shadow(void **state) { (void)state; return setup_mode(VIOMMU_MODE_SHADOW); }

static int teardown(void **state)
{
	(void)state;
	viommu_destroy(&fx.v);
	bus_destroy(&fx.mmio);
	gmem_destroy(&fx.g);
	assert_int_equal(arena_check_canaries(&fx.a), 0);
	arena_destroy(&fx.a);
	return 0;
}

/* ---- register access, as a driver does it ---- */

static uint32_t r32(uint64_t off)
{
	uint64_t v = ~0ull;

	assert_true(bus_read(&fx.mmio, BASE + off, &v, 4));
	return (uint32_t)v;
}

static uint64_t r64(uint64_t off)
{
	uint64_t v = ~0ull;

	assert_true(bus_read(&fx.mmio, BASE + off, &v, 8));
	return v;
}

static void w32(uint64_t off, uint32_t v) { assert_true(bus_write(&fx.mmio, BASE + off, v, 4)); }
static void w64(uint64_t off, uint64_t v) { assert_true(bus_write(&fx.mmio, BASE + off, v, 8)); }

/* The spec's recipe: the status image, one-shot bits masked, one bit changed. */
static void gcmd(uint32_t bit, bool on)
{
	uint32_t sts = r32(VTD_REG_GSTS) & 0x96ffffffu;

	w32(VTD_REG_GCMD, on ? sts | bit : sts & ~bit);
}

/* ---- guest memory and guest tables ---- */

static uint64_t *gptr(uint64_t gpa, uint64_t len)
{
	uint64_t *p = gmem_gpa_to_ptr(&fx.g, gpa, len);

	assert_non_null(p);
	return p;
}

static uint64_t pt_alloc(void)
{
	uint64_t gpa = fx.pt_next;

	fx.pt_next += 4096;
	memset(gptr(gpa, 4096), 0, 4096);
	return gpa;
}

static uint64_t *leaf(uint64_t root, uint64_t iova, bool create)
{
	uint64_t table = root;

	for (unsigned level = 4; level > 1; level--) {
		uint64_t *e = gptr(table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8, 8);

		if (!(*e & (VTD_SL_R | VTD_SL_W))) {
			if (!create)
				return NULL;
			*e = pt_alloc() | VTD_SL_R | VTD_SL_W;
		}
		table = *e & VTD_SL_ADDR_MASK;
	}
	return gptr(table + ((iova >> 12) & 511) * 8, 8);
}

static void g_map(uint64_t iova, uint64_t gpa, uint64_t perm)
{
	*leaf(fx.root48, iova, true) = gpa | perm;
}

static void g_unmap(uint64_t iova)
{
	*leaf(fx.root48, iova, false) = 0;
}

static void g_attach(uint16_t sid, uint16_t did, enum vtd_tt tt)
{
	uint64_t *re = gptr(GPA_ROOT + VTD_SID_BUS(sid) * 16, 16);
	uint64_t *ce = gptr(GPA_CTX + VTD_SID_DEVFN(sid) * 16, 16);

	assert_int_equal(VTD_SID_BUS(sid), 0);
	if (!fx.root48)
		fx.root48 = pt_alloc();
	re[1] = 0;
	re[0] = vtd_root_entry_lo(GPA_CTX);
	ce[1] = vtd_ctx_entry_hi(did, VTD_AW_48BIT);
	ce[0] = vtd_ctx_entry_lo(fx.root48, tt, false);
}

/* Root table latched and translation on, through the registers. */
static void enable_translation(void)
{
	w64(VTD_REG_RTADDR, GPA_ROOT);
	gcmd(VTD_GCMD_SRTP, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_RTPS);
	gcmd(VTD_GCMD_TE, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_TES);
}

static int xlate(uint16_t sid, uint64_t iova, unsigned req, struct vtd_xlate *x)
{
	return vtd_translate(viommu_unit(&fx.v), sid, iova, req, x);
}

/* ---- queued invalidation helpers ---- */

static void qi_enable(unsigned qs)
{
	w64(VTD_REG_IQT, 0);
	w64(VTD_REG_IQA, GPA_IQ | qs);
	gcmd(VTD_GCMD_QIE, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_QIES);
	assert_int_equal(r64(VTD_REG_IQH), 0);
	fx.qtail = 0;
}

static uint64_t qsize(void) { return 4096ull << (r64(VTD_REG_IQA) & 7); }

/* Writes a descriptor at the software tail; qi_commit() publishes them. */
static void qi_put(uint64_t lo, uint64_t hi)
{
	uint64_t *d = gptr(GPA_IQ + fx.qtail, 16);

	d[0] = lo;
	d[1] = hi;
	fx.qtail = (fx.qtail + 16) % qsize();
}

static void qi_commit(void) { w64(VTD_REG_IQT, fx.qtail); }

static void qi_submit(uint64_t lo, uint64_t hi)
{
	qi_put(lo, hi);
	qi_commit();
}

static uint64_t wait_desc(uint32_t data, bool sw, bool intr)
{
	return VTD_QI_WAIT | (sw ? VTD_QI_WAIT_SW : 0) | (intr ? VTD_QI_WAIT_IF : 0) |
	       (uint64_t)data << VTD_QI_WAIT_SDATA_SHIFT;
}

static uint32_t status_word(void) { return *(uint32_t *)gptr(GPA_STATUS, 4); }

/* ===================================================================== */

static void test_reset_values(void **state)
{
	uint64_t cap = r64(VTD_REG_CAP), ecap = r64(VTD_REG_ECAP);

	(void)state;
	assert_int_equal(r32(VTD_REG_VER), 0x10);
	assert_int_equal(cap & 7, 6);                                  /* ND: 16-bit DIDs */
	assert_int_equal((cap >> 8) & 0x1f, 0x6);                      /* SAGAW 39 + 48 */
	assert_int_equal((cap >> 16) & 0x3f, 47);                      /* MGAW 48 */
	assert_int_equal((cap >> 24) & 0x3ff, VIOMMU_FRCD_OFFSET / 16);  /* FRO */
	assert_int_equal((cap >> 34) & 0xf, 0x3);                      /* 2M and 1G */
	assert_true(cap & VTD_CAP_PSI);
	assert_int_equal((cap >> 40) & 0xff, VIOMMU_NR_FAULT_RECORDS - 1);
	assert_int_equal((cap >> 48) & 0x3f, 18);                      /* MAMV */
	assert_false(cap & VTD_CAP_CM);                                /* nested: no caching mode */
	assert_false(cap & (1ull << 4));                               /* RWBF */
	assert_true(ecap & VTD_ECAP_C);
	assert_true(ecap & VTD_ECAP_QI);
	assert_true(ecap & VTD_ECAP_IR);
	assert_false(ecap & VTD_ECAP_PT);
	assert_false(ecap & VTD_ECAP_EIM);
	assert_false(ecap & VTD_ECAP_DT);
	assert_int_equal((ecap >> 8) & 0x3ff, VIOMMU_IVA_OFFSET / 16); /* IRO */
	assert_int_equal((ecap >> 20) & 0xf, 15);                      /* MHMV */
	/* 64-bit registers also read as two halves */
	assert_int_equal(r32(VTD_REG_CAP), (uint32_t)cap);
	assert_int_equal(r32(VTD_REG_CAP + 4), (uint32_t)(cap >> 32));
	assert_int_equal(r32(VTD_REG_GSTS), 0);
	assert_int_equal(r32(VTD_REG_GCMD), 0);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	assert_int_equal(r32(VTD_REG_FECTL), VTD_EVCTL_IM);
	assert_int_equal(r32(VTD_REG_IECTL), VTD_EVCTL_IM);
	assert_int_equal(r64(VTD_REG_IQH), 0);
	assert_int_equal(r64(VTD_REG_IQA), 0);
	assert_int_equal(r64(VTD_REG_IRTA), 0);
	for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS; i++)
		assert_int_equal(r64(FRCD(i) + 8), 0);
	/* unknown offsets read 0 */
	assert_int_equal(r64(0x100), 0);
	assert_int_equal(r32(0xffc), 0);
	assert_int_equal(r32(0x4), 0);
	assert_false(viommu_translation_enabled(&fx.v));
}

static void test_caching_mode_only_in_shadow(void **state)
{
	struct viommu v39;
	struct viommu_cfg c;
	uint64_t cap;

	(void)state;
	assert_true(r64(VTD_REG_CAP) & VTD_CAP_CM);          /* this fixture is shadow */
	fixture_cfg(&c, VIOMMU_MODE_NESTED);
	c.mgaw = 39;
	assert_int_equal(viommu_init(&v39, &c), 0);
	cap = v39.cap;
	assert_false(cap & VTD_CAP_CM);
	assert_int_equal((cap >> 8) & 0x1f, 0x2);             /* SAGAW 39 only */
	assert_int_equal((cap >> 16) & 0x3f, 38);
	viommu_destroy(&v39);
	c.mgaw = 40;
	assert_int_equal(viommu_init(&v39, &c), -EINVAL);
}

static void test_register_write_masks(void **state)
{
	uint64_t v;

	(void)state;
	w64(VTD_REG_RTADDR, ~0ull);
	assert_int_equal(r64(VTD_REG_RTADDR), 0xfffffffffffffc00ull);   /* bits 9:0 reserved */
	/* a 64-bit register written as two halves */
	w32(VTD_REG_RTADDR, 0x12345000);
	w32(VTD_REG_RTADDR + 4, 0x1);
	assert_int_equal(r64(VTD_REG_RTADDR), 0x112345000ull);
	w32(VTD_REG_FEDATA, 0xffffffff);
	assert_int_equal(r32(VTD_REG_FEDATA), 0xffff);
	w32(VTD_REG_FEADDR, 0xffffffff);
	assert_int_equal(r32(VTD_REG_FEADDR), 0xfffffffc);
	w32(VTD_REG_FEUADDR, 0xffffffff);                    /* EIM = 0: reserved */
	assert_int_equal(r32(VTD_REG_FEUADDR), 0);
	w32(VTD_REG_FECTL, 0xffffffff);
	assert_int_equal(r32(VTD_REG_FECTL), VTD_EVCTL_IM);   /* IP is read-only */
	w64(VTD_REG_IQT, ~0ull);
	assert_int_equal(r64(VTD_REG_IQT), 0x7fff0);
	w64(VTD_REG_IQT, 0);
	w64(VTD_REG_IQA, ~0ull);
	assert_int_equal(r64(VTD_REG_IQA), 0xfffffffffffff807ull);
	w64(VTD_REG_IRTA, ~0ull);                             /* EIME reserved without EIM */
	assert_int_equal(r64(VTD_REG_IRTA), 0xfffffffffffff00full);
	w64(REG_IVA, ~0ull & ~VTD_IVA_AM_MASK);
	assert_int_equal(r64(REG_IVA), 0xfffffffffffff040ull);
	/* read-only registers ignore writes */
	v = r64(VTD_REG_CAP);
	w64(VTD_REG_CAP, 0);
	w64(VTD_REG_IQH, 0x100);
	w32(VTD_REG_GSTS, 0xffffffff);
	w32(VTD_REG_VER, 0);
	assert_int_equal(r64(VTD_REG_CAP), v);
	assert_int_equal(r64(VTD_REG_IQH), 0);
	assert_int_equal(r32(VTD_REG_GSTS), 0);
	assert_int_equal(r32(VTD_REG_VER), 0x10);
	/* narrow or misaligned accesses are refused: read 0, writes dropped */
	assert_true(bus_read(&fx.mmio, BASE + VTD_REG_VER, &v, 2));
	assert_int_equal(v, 0);
	assert_true(bus_read(&fx.mmio, BASE + VTD_REG_CAP + 4, &v, 8));
	assert_int_equal(v, 0);
	assert_true(bus_write(&fx.mmio, BASE + VTD_REG_FEDATA, 0x55, 1));
	assert_int_equal(r32(VTD_REG_FEDATA), 0xffff);
}

static void test_gcmd_commands(void **state)
{
	unsigned ctx0, irq0;

	(void)state;
	/* TE needs a latched root table */
	gcmd(VTD_GCMD_TE, true);
	assert_int_equal(r32(VTD_REG_GSTS), 0);
	w64(VTD_REG_RTADDR, GPA_ROOT);
	ctx0 = fx.ctx_hooks;
	gcmd(VTD_GCMD_SRTP, true);
	assert_int_equal(r32(VTD_REG_GSTS), VTD_GSTS_RTPS);
	assert_int_equal(fx.ctx_hooks, ctx0 + 1);
	gcmd(VTD_GCMD_TE, true);
	assert_int_equal(r32(VTD_REG_GSTS), VTD_GSTS_RTPS | VTD_GSTS_TES);
	assert_int_equal(fx.ctx_hooks, ctx0 + 2);
	assert_true(viommu_translation_enabled(&fx.v));

	/* QIE: IQH restarts at 0 */
	w64(VTD_REG_IQA, GPA_IQ);
	gcmd(VTD_GCMD_QIE, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_QIES);
	/* the image written back with the status bits unchanged does nothing */
	w32(VTD_REG_GCMD, r32(VTD_REG_GSTS) & 0x96ffffffu);
	assert_int_equal(r32(VTD_REG_GSTS), VTD_GSTS_RTPS | VTD_GSTS_TES | VTD_GSTS_QIES);
	assert_int_equal(fx.ctx_hooks, ctx0 + 2);

	/* IRE needs a latched table pointer */
	irq0 = fx.irq_hooks;
	gcmd(VTD_GCMD_IRE, true);
	assert_false(r32(VTD_REG_GSTS) & VTD_GSTS_IRES);
	w64(VTD_REG_IRTA, 0x300000 | 7);
	gcmd(VTD_GCMD_SIRTP, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_IRTPS);
	gcmd(VTD_GCMD_IRE, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_IRES);
	gcmd(VTD_GCMD_CFI, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_CFIS);
	assert_int_equal(fx.irq_hooks, irq0 + 3);
	gcmd(VTD_GCMD_CFI, false);
	gcmd(VTD_GCMD_IRE, false);
	assert_false(r32(VTD_REG_GSTS) & (VTD_GSTS_CFIS | VTD_GSTS_IRES));
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_IRTPS);

	/* QIE cannot be cleared with descriptors pending */
	gptr(GPA_IQ, 16)[0] = 0;                   /* type 0: invalid, stops the queue */
	w64(VTD_REG_IQT, 16);
	assert_true(r32(VTD_REG_FSTS) & VTD_FSTS_IQE);
	gcmd(VTD_GCMD_QIE, false);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_QIES);
	w64(VTD_REG_IQT, 0);
	gcmd(VTD_GCMD_QIE, false);
	assert_false(r32(VTD_REG_GSTS) & VTD_GSTS_QIES);

	/* translation off again */
	gcmd(VTD_GCMD_TE, false);
	assert_false(r32(VTD_REG_GSTS) & VTD_GSTS_TES);
	assert_false(viommu_translation_enabled(&fx.v));
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_RTPS);
}

static void test_translate_guest_tables(void **state)
{
	struct vtd_xlate x;
	struct vtd_stats s;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	g_map(0x40001000, GPA_DATA + 0x5000, VTD_SL_R);
	/* translation off: untranslated */
	assert_int_equal(xlate(SID_DEV, 0x40000123, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, 0x40000123);
	enable_translation();
	assert_int_equal(xlate(SID_DEV, 0x40000123, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, GPA_DATA + 0x123);            /* a GPA */
	assert_int_equal(x.did, DID);
	assert_false(x.iotlb_hit);
	assert_int_equal(xlate(SID_DEV, 0x40000200, VTD_REQ_READ, &x), 0);
	assert_true(x.iotlb_hit);
	assert_int_equal(xlate(SID_DEV, 0x40001010, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.addr, GPA_DATA + 0x5010);
	assert_int_equal(xlate(SID_DEV, 0x40001010, VTD_REQ_WRITE, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_WRITE);
	/* a device without a context entry */
	assert_int_equal(xlate(SID_OTHER, 0x40000000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_CONTEXT_ENTRY_P);
	vtd_stats_get(viommu_unit(&fx.v), &s);
	assert_true(s.iotlb_hits >= 1);
}

static void test_register_invalidation(void **state)
{
	struct vtd_xlate x;
	struct viommu_stats st;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	enable_translation();
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), 0);
	g_unmap(0x40000000);
	/* cached until invalidated, as on hardware */
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), 0);
	assert_true(x.iotlb_hit);

	/* page-selective, written as two halves: it fires on the IVT half */
	w64(REG_IVA, 0x40000000 | 0);
	w32(REG_IOTLB, 0);
	assert_int_equal(fx.iotlb_hooks, 0);
	w32(REG_IOTLB + 4, (uint32_t)((VTD_IOTLB_IVT | (uint64_t)VTD_IOTLB_PAGE << VTD_IOTLB_IIRG_SHIFT |
				       (uint64_t)DID << VTD_IOTLB_DID_SHIFT | VTD_IOTLB_DR | VTD_IOTLB_DW) >> 32));
	assert_false(r64(REG_IOTLB) & VTD_IOTLB_IVT);
	assert_int_equal((r64(REG_IOTLB) >> VTD_IOTLB_IAIG_SHIFT) & 3, VTD_IOTLB_PAGE);
	assert_int_equal(fx.iotlb_hooks, 1);
	assert_int_equal(fx.gran, VIOMMU_INV_PAGE);
	assert_int_equal(fx.did, DID);
	assert_int_equal(fx.addr, 0x40000000);
	assert_int_equal(fx.size, 4096);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_WRITE);

	/* a misaligned page request is widened to the domain, and says so */
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	w64(REG_IVA, 0x40001000 | 1);                         /* AM 1 needs 8 KiB alignment */
	w64(REG_IOTLB, VTD_IOTLB_IVT | (uint64_t)VTD_IOTLB_PAGE << VTD_IOTLB_IIRG_SHIFT |
		       (uint64_t)DID << VTD_IOTLB_DID_SHIFT);
	assert_int_equal((r64(REG_IOTLB) >> VTD_IOTLB_IAIG_SHIFT) & 3, VTD_IOTLB_DOMAIN);
	assert_int_equal(fx.gran, VIOMMU_INV_DOMAIN);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), 0);

	/* global */
	w64(REG_IOTLB, VTD_IOTLB_IVT | (uint64_t)VTD_IOTLB_GLOBAL << VTD_IOTLB_IIRG_SHIFT);
	assert_int_equal((r64(REG_IOTLB) >> VTD_IOTLB_IAIG_SHIFT) & 3, VTD_IOTLB_GLOBAL);
	assert_int_equal(fx.gran, VIOMMU_INV_GLOBAL);
	assert_int_equal(fx.iotlb_hooks, 3);

	/* context cache: the entry goes away, then each granularity */
	gptr(GPA_CTX + VTD_SID_DEVFN(SID_DEV) * 16, 8)[0] = 0;
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), 0);   /* cached */
	fx.ctx_hooks = 0;
	w64(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_DEVICE << VTD_CCMD_CIRG_SHIFT |
			  (uint64_t)SID_DEV << VTD_CCMD_SID_SHIFT | DID);
	assert_false(r64(VTD_REG_CCMD) & VTD_CCMD_ICC);
	assert_int_equal((r64(VTD_REG_CCMD) >> VTD_CCMD_CAIG_SHIFT) & 3, VTD_CC_DEVICE);
	assert_int_equal(fx.ctx_hooks, 1);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_CONTEXT_ENTRY_P);
	w64(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_DOMAIN << VTD_CCMD_CIRG_SHIFT | DID);
	assert_int_equal((r64(VTD_REG_CCMD) >> VTD_CCMD_CAIG_SHIFT) & 3, VTD_CC_DOMAIN);
	w64(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_GLOBAL << VTD_CCMD_CIRG_SHIFT);
	assert_int_equal((r64(VTD_REG_CCMD) >> VTD_CCMD_CAIG_SHIFT) & 3, VTD_CC_GLOBAL);
	/* reserved granularity: not performed */
	w64(VTD_REG_CCMD, VTD_CCMD_ICC);
	assert_false(r64(VTD_REG_CCMD) & VTD_CCMD_ICC);
	assert_int_equal((r64(VTD_REG_CCMD) >> VTD_CCMD_CAIG_SHIFT) & 3, 0);
	assert_int_equal(fx.ctx_hooks, 3);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.inv_context_device, 1);
	assert_int_equal(st.inv_context_domain, 1);
	assert_int_equal(st.inv_context_global, 1);
	assert_int_equal(st.inv_iotlb_page, 1);
	assert_int_equal(st.inv_iotlb_domain, 1);
	assert_int_equal(st.inv_iotlb_global, 1);
	assert_int_equal(st.inv_by_register, 6);
}

static void test_qi_invalidation_and_wait(void **state)
{
	struct vtd_xlate x;
	struct viommu_stats st;
	uint64_t before;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	g_map(0x40200000, GPA_DATA + 0x200000, VTD_SL_R | VTD_SL_W);
	enable_translation();
	qi_enable(0);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(xlate(SID_DEV, 0x40200000, VTD_REQ_WRITE, &x), 0);
	g_unmap(0x40000000);
	g_unmap(0x40200000);

	/* page-selective, then a wait with status write */
	qi_put(VTD_QI_IOTLB | (uint64_t)VTD_IOTLB_PAGE << VTD_QI_G_SHIFT |
	       (uint64_t)DID << VTD_QI_IOTLB_DID_SHIFT | VTD_QI_IOTLB_DR | VTD_QI_IOTLB_DW, 0x40000000);
	qi_put(wait_desc(0x1234, true, false), GPA_STATUS);
	qi_commit();
	assert_int_equal(r64(VTD_REG_IQH), 32);
	assert_int_equal(status_word(), 0x1234);
	assert_int_equal(fx.gran, VIOMMU_INV_PAGE);
	assert_int_equal(fx.addr, 0x40000000);
	assert_int_equal(fx.size, 4096);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), -EFAULT);
	assert_int_equal(xlate(SID_DEV, 0x40200000, VTD_REQ_WRITE, &x), 0);   /* not covered */
	assert_true(x.iotlb_hit);

	/* domain-selective */
	qi_put(VTD_QI_IOTLB | (uint64_t)VTD_IOTLB_DOMAIN << VTD_QI_G_SHIFT |
	       (uint64_t)DID << VTD_QI_IOTLB_DID_SHIFT, 0);
	qi_put(wait_desc(0x5678, true, false), GPA_STATUS);
	qi_commit();
	assert_int_equal(status_word(), 0x5678);
	assert_int_equal(fx.gran, VIOMMU_INV_DOMAIN);
	assert_int_equal(fx.did, DID);
	assert_int_equal(xlate(SID_DEV, 0x40200000, VTD_REQ_WRITE, &x), -EFAULT);

	/* context cache by device, through the queue */
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), 0);
	gptr(GPA_CTX + VTD_SID_DEVFN(SID_DEV) * 16, 8)[0] = 0;
	before = fx.ctx_hooks;
	qi_put(VTD_QI_CC | (uint64_t)VTD_CC_DEVICE << VTD_QI_G_SHIFT | (uint64_t)DID << VTD_QI_CC_DID_SHIFT |
	       (uint64_t)SID_DEV << VTD_QI_CC_SID_SHIFT, 0);
	qi_put(wait_desc(1, true, false), GPA_STATUS);
	qi_commit();
	assert_int_equal(fx.ctx_hooks, before + 1);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_CONTEXT_ENTRY_P);

	/* register-based invalidation is ignored while the queue is on */
	before = fx.iotlb_hooks;
	w64(REG_IOTLB, VTD_IOTLB_IVT | (uint64_t)VTD_IOTLB_GLOBAL << VTD_IOTLB_IIRG_SHIFT);
	assert_false(r64(REG_IOTLB) & VTD_IOTLB_IVT);
	assert_int_equal((r64(REG_IOTLB) >> VTD_IOTLB_IAIG_SHIFT) & 3, 0);
	w64(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_GLOBAL << VTD_CCMD_CIRG_SHIFT);
	assert_int_equal((r64(VTD_REG_CCMD) >> VTD_CCMD_CAIG_SHIFT) & 3, 0);
	assert_int_equal(fx.iotlb_hooks, before);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.inv_by_register, 0);
	assert_int_equal(st.qi_descriptors, 6);
	assert_int_equal(st.qi_waits, 3);
	assert_int_equal(st.inv_iotlb_page, 1);
	assert_int_equal(st.inv_context_device, 1);
}

/* One register write is one guest action: however many hooks a queued-
 * invalidation pass calls, pass_done follows them once (the shadow's entry
 * budget renews there). */
static void test_pass_done_after_each_action(void **state)
{
	unsigned passes, hooks;

	(void)state;
	qi_enable(0);
	passes = fx.passes;
	hooks = fx.iotlb_hooks;
	for (unsigned i = 0; i < 3; i++)
		qi_put(VTD_QI_IOTLB | (uint64_t)VTD_IOTLB_GLOBAL << VTD_QI_G_SHIFT, 0);
	qi_put(wait_desc(7, true, false), GPA_STATUS);
	qi_commit();
	assert_int_equal(status_word(), 7);
	assert_int_equal(fx.iotlb_hooks, hooks + 3);
	assert_int_equal(fx.passes, passes + 1);
	assert_int_equal(fx.iotlb_hooks_at_pass, hooks + 3);
	/* any register write, and a reset, end an action too */
	(void)r32(VTD_REG_GSTS);
	assert_int_equal(fx.passes, passes + 1);
	w32(VTD_REG_FECTL, 0);
	assert_int_equal(fx.passes, passes + 2);
	viommu_reset(&fx.v);
	assert_int_equal(fx.passes, passes + 3);
}

static void test_qi_wait_completion_interrupt(void **state)
{
	(void)state;
	qi_enable(0);
	w32(VTD_REG_IEDATA, 0x4041);
	w32(VTD_REG_IEADDR, 0xfee01000);
	w32(VTD_REG_IECTL, 0);
	qi_submit(wait_desc(7, true, true), GPA_STATUS);
	assert_int_equal(status_word(), 7);
	assert_int_equal(fx.nmsi, 1);
	assert_int_equal(fx.msi[0].addr, 0xfee01000);
	assert_int_equal(fx.msi[0].data, 0x4041);
	assert_int_equal(fx.msi[0].rid, 0);
	assert_int_equal(r32(VTD_REG_ICS), VTD_ICS_IWC);
	/* IWC still set: no new interrupt condition */
	qi_submit(wait_desc(8, false, true), 0);
	assert_int_equal(fx.nmsi, 1);
	assert_int_equal(status_word(), 7);              /* SW clear: no status write */
	w32(VTD_REG_ICS, VTD_ICS_IWC);
	assert_int_equal(r32(VTD_REG_ICS), 0);
	/* masked: held pending, sent when unmasked */
	w32(VTD_REG_IECTL, VTD_EVCTL_IM);
	qi_submit(wait_desc(9, true, true), GPA_STATUS);
	assert_int_equal(fx.nmsi, 1);
	assert_int_equal(r32(VTD_REG_IECTL), VTD_EVCTL_IM | VTD_EVCTL_IP);
	w32(VTD_REG_IECTL, 0);
	assert_int_equal(fx.nmsi, 2);
	assert_int_equal(r32(VTD_REG_IECTL), 0);
	/* pending cleared by servicing IWC while masked */
	w32(VTD_REG_ICS, VTD_ICS_IWC);
	w32(VTD_REG_IECTL, VTD_EVCTL_IM);
	qi_submit(wait_desc(10, false, true), 0);
	assert_true(r32(VTD_REG_IECTL) & VTD_EVCTL_IP);
	w32(VTD_REG_ICS, VTD_ICS_IWC);
	assert_false(r32(VTD_REG_IECTL) & VTD_EVCTL_IP);
	w32(VTD_REG_IECTL, 0);
	assert_int_equal(fx.nmsi, 2);
}

static void test_qi_bad_descriptor(void **state)
{
	struct viommu_stats st;

	(void)state;
	w32(VTD_REG_FEDATA, 0x4050);
	w32(VTD_REG_FEADDR, 0xfee00000);
	w32(VTD_REG_FECTL, 0);
	qi_enable(0);
	*(uint32_t *)gptr(GPA_STATUS, 4) = 0;
	/* a device-TLB invalidation (ECAP.DT = 0) stops the queue there */
	qi_put(wait_desc(1, true, false), GPA_STATUS);
	qi_put(VTD_QI_DEV_TLB, 0);
	qi_put(wait_desc(2, true, false), GPA_STATUS);
	qi_commit();
	assert_int_equal(status_word(), 1);
	assert_int_equal(r64(VTD_REG_IQH), 16);            /* at the bad descriptor */
	assert_int_equal(r32(VTD_REG_FSTS), VTD_FSTS_IQE);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_TYPE);
	assert_int_equal(fx.nmsi, 1);                      /* fault event */
	assert_int_equal(fx.msi[0].addr, 0xfee00000);
	assert_int_equal(fx.msi[0].data, 0x4050);
	/* more work does not move it while IQE is set */
	qi_submit(wait_desc(3, true, false), GPA_STATUS);
	assert_int_equal(r64(VTD_REG_IQH), 16);
	assert_int_equal(status_word(), 1);
	/* software fixes the descriptor (Linux copies its wait over it) and
	 * clears IQE: the queue resumes at IQH */
	gptr(GPA_IQ + 16, 16)[0] = wait_desc(4, true, false);
	gptr(GPA_IQ + 16, 16)[1] = GPA_STATUS;
	w32(VTD_REG_FSTS, VTD_FSTS_IQE);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	assert_int_equal(r64(VTD_REG_IQERCD), 0);
	assert_int_equal(r64(VTD_REG_IQH), r64(VTD_REG_IQT));
	assert_int_equal(status_word(), 3);

	/* reserved bits: an IOTLB descriptor with bit 8 set, a PASID type */
	qi_submit(VTD_QI_IOTLB | (uint64_t)VTD_IOTLB_GLOBAL << VTD_QI_G_SHIFT | 0x100, 0);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_RSVD);
	gptr(GPA_IQ + fx.qtail - 16, 16)[0] = VTD_QI_PASID_IOTLB;
	w32(VTD_REG_FSTS, VTD_FSTS_IQE);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_TYPE);
	gptr(GPA_IQ + fx.qtail - 16, 16)[0] = VTD_QI_IEC | 0x8000000000000000ull;   /* rsvd 63:48 */
	w32(VTD_REG_FSTS, VTD_FSTS_IQE);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_RSVD);
	gptr(GPA_IQ + fx.qtail - 16, 16)[0] = wait_desc(5, true, false) | VTD_QI_WAIT_FN;
	gptr(GPA_IQ + fx.qtail - 16, 16)[1] = GPA_STATUS;
	w32(VTD_REG_FSTS, VTD_FSTS_IQE);
	assert_int_equal(status_word(), 5);
	assert_int_equal(r32(VTD_REG_FSTS), 0);

	/* a tail beyond the queue */
	w64(VTD_REG_IQT, 4096 + 16);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_TAIL);
	assert_true(r32(VTD_REG_FSTS) & VTD_FSTS_IQE);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.qi_errors, 5);
}

static void test_qi_wide_descriptors_refused(void **state)
{
	(void)state;
	w64(VTD_REG_IQT, 0);
	w64(VTD_REG_IQA, GPA_IQ | VTD_IQA_DW);
	gcmd(VTD_GCMD_QIE, true);
	fx.qtail = 0;
	qi_submit(wait_desc(1, true, false), GPA_STATUS);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_WIDTH);
	assert_int_equal(r64(VTD_REG_IQH), 0);
	/* IQA cannot change while the queue is on */
	w64(VTD_REG_IQA, GPA_IQ);
	assert_true(r64(VTD_REG_IQA) & VTD_IQA_DW);
}

static void test_qi_wraps(void **state)
{
	struct viommu_stats st;

	(void)state;
	qi_enable(0);                                      /* 256 descriptors */
	for (unsigned i = 1; i <= 300; i++) {
		qi_put(wait_desc(i, true, false), GPA_STATUS);
		if (i % 50 == 0) {
			qi_commit();
			assert_int_equal(status_word(), i);
		}
	}
	assert_int_equal(r64(VTD_REG_IQH), (300 * 16) % 4096);
	assert_int_equal(r64(VTD_REG_IQT), (300 * 16) % 4096);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.qi_descriptors, 300);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	/* two pages: the tail may now run up to 8 KiB */
	gcmd(VTD_GCMD_QIE, false);
	qi_enable(1);
	for (unsigned i = 0; i < 400; i++)
		qi_put(wait_desc(1000 + i, true, false), GPA_STATUS);
	qi_commit();
	assert_int_equal(status_word(), 1399);
	assert_int_equal(r64(VTD_REG_IQH), 400 * 16);
}

static uint64_t frcd_lo(unsigned i) { return r64(FRCD(i)); }
static uint64_t frcd_hi(unsigned i) { return r64(FRCD(i) + 8); }

static void test_fault_recording_and_events(void **state)
{
	struct vtd_xlate x;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	enable_translation();
	w32(VTD_REG_FEDATA, 0x4060);
	w32(VTD_REG_FEADDR, 0xfee02000);
	w32(VTD_REG_FECTL, 0);

	assert_int_equal(xlate(SID_OTHER, 0x7000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(r32(VTD_REG_FSTS), VTD_FSTS_PPF | 0 << VTD_FSTS_FRI_SHIFT);
	assert_int_equal(frcd_lo(0), 0x7000);
	assert_int_equal(frcd_hi(0), VTD_FRCD_HI_F | VTD_FRCD_HI_T |
				     (uint64_t)VTD_FR_CONTEXT_ENTRY_P << VTD_FRCD_HI_FR_SHIFT | SID_OTHER);
	assert_int_equal(fx.nmsi, 1);
	assert_int_equal(fx.msi[0].addr, 0xfee02000);
	assert_int_equal(fx.msi[0].data, 0x4060);
	assert_int_equal(fx.msi[0].rid, 0);
	/* a second fault while PPF is set: recorded, no new event */
	assert_int_equal(xlate(SID_DEV, 0x9000, VTD_REQ_WRITE, &x), -EFAULT);
	assert_int_equal(fx.nmsi, 1);
	assert_int_equal(frcd_lo(1), 0x9000);
	assert_int_equal(frcd_hi(1), VTD_FRCD_HI_F | (uint64_t)VTD_FR_WRITE << VTD_FRCD_HI_FR_SHIFT | SID_DEV);
	/* writes to anything but F change nothing; F is write-1-to-clear,
	 * here through the upper 32-bit half */
	w64(FRCD(0), 0);
	w32(FRCD(0) + 8, 0);
	assert_true(frcd_hi(0) & VTD_FRCD_HI_F);
	w32(FRCD(0) + 12, 0x80000000);
	assert_int_equal(frcd_hi(0), 0);
	assert_int_equal(r32(VTD_REG_FSTS), VTD_FSTS_PPF | 1 << VTD_FSTS_FRI_SHIFT);
	w64(FRCD(1) + 8, VTD_FRCD_HI_F);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	/* PPF fell: the next fault is a new event */
	assert_int_equal(xlate(SID_OTHER, 0xa000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(fx.nmsi, 2);
	assert_int_equal(r32(VTD_REG_FSTS), VTD_FSTS_PPF | 2 << VTD_FSTS_FRI_SHIFT);
	w64(FRCD(2) + 8, VTD_FRCD_HI_F);

	/* masked: IP instead of a message; unmasking sends it */
	w32(VTD_REG_FECTL, VTD_EVCTL_IM);
	assert_int_equal(xlate(SID_OTHER, 0xb000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(fx.nmsi, 2);
	assert_int_equal(r32(VTD_REG_FECTL), VTD_EVCTL_IM | VTD_EVCTL_IP);
	w32(VTD_REG_FECTL, 0);
	assert_int_equal(fx.nmsi, 3);
	assert_int_equal(r32(VTD_REG_FECTL), 0);
	w64(FRCD(3) + 8, VTD_FRCD_HI_F);
	/* masked, then serviced: the held event is dropped */
	w32(VTD_REG_FECTL, VTD_EVCTL_IM);
	assert_int_equal(xlate(SID_OTHER, 0xc000, VTD_REQ_READ, &x), -EFAULT);
	assert_true(r32(VTD_REG_FECTL) & VTD_EVCTL_IP);
	w64(FRCD(4) + 8, VTD_FRCD_HI_F);
	assert_int_equal(r32(VTD_REG_FECTL), VTD_EVCTL_IM);
	w32(VTD_REG_FECTL, 0);
	assert_int_equal(fx.nmsi, 3);
}

/* The guest clears a record between the moment a DMA thread adds it and
 * the moment that thread's notify reaches the register model (a polling
 * driver, or Linux's handler looping over records, can). The late notify
 * may send a spurious event, but the model must not conclude that PPF is
 * still up: the next fault is a real 0 -> 1 and needs its own event. */
static vtd_fault_notify_fn saved_notify;
static void *saved_opaque;
static unsigned clear_before_notify;

static void notify_after_guest_cleared(void *opaque, const struct vtd_fault_record *rec, bool first)
{
	if (clear_before_notify) {
		clear_before_notify--;
		w64(FRCD(0) + 8, VTD_FRCD_HI_F);   /* the guest services the record */
	}
	saved_notify(saved_opaque, rec, first);
}

static void test_fault_event_after_record_cleared_early(void **state)
{
	struct vtd_unit *u = viommu_unit(&fx.v);
	struct vtd_xlate x;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	enable_translation();
	w32(VTD_REG_FEDATA, 0x4061);
	w32(VTD_REG_FEADDR, 0xfee02000);
	w32(VTD_REG_FECTL, 0);
	saved_notify = u->flog.notify;
	saved_opaque = u->flog.notify_opaque;
	vtd_set_fault_notify(u, notify_after_guest_cleared, NULL);

	clear_before_notify = 1;
	assert_int_equal(xlate(SID_OTHER, 0x7000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(r32(VTD_REG_FSTS), 0);           /* already serviced */
	assert_in_range(fx.nmsi, 0, 1);                   /* at most a spurious event */
	unsigned before = fx.nmsi;

	/* A new fault on an empty log: PPF 0 -> 1, a new event. */
	assert_int_equal(xlate(SID_OTHER, 0x8000, VTD_REQ_READ, &x), -EFAULT);
	assert_true(r32(VTD_REG_FSTS) & VTD_FSTS_PPF);
	assert_int_equal(fx.nmsi, before + 1);
	vtd_set_fault_notify(u, saved_notify, saved_opaque);
}

static void test_fault_overflow(void **state)
{
	struct vtd_xlate x;
	struct vtd_fault_stats fs;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	enable_translation();
	for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS + 2; i++)
		assert_int_equal(xlate(SID_DEV, (uint64_t)(i + 1) << 12, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(r32(VTD_REG_FSTS), VTD_FSTS_PPF | VTD_FSTS_PFO);
	for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS; i++)
		assert_int_equal(frcd_lo(i), (uint64_t)(i + 1) << 12);
	/* while PFO is set nothing is recorded, even with a register free */
	w64(FRCD(0) + 8, VTD_FRCD_HI_F);
	assert_int_equal(r32(VTD_REG_FSTS) >> VTD_FSTS_FRI_SHIFT, 1);
	assert_int_equal(xlate(SID_DEV, 0x100000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(frcd_hi(0), 0);
	vtd_fault_stats_get(viommu_unit(&fx.v), &fs);
	assert_int_equal(fs.recorded, VIOMMU_NR_FAULT_RECORDS);
	assert_int_equal(fs.dropped, 3);
	/* PFO cleared: recording resumes in the register at the index */
	w32(VTD_REG_FSTS, VTD_FSTS_PFO);
	assert_int_equal(r32(VTD_REG_FSTS) & VTD_FSTS_PFO, 0);
	assert_int_equal(xlate(SID_DEV, 0x200000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(frcd_lo(0), 0x200000);
	/* the index now points at a full register again: overflow */
	assert_int_equal(xlate(SID_DEV, 0x300000, VTD_REQ_READ, &x), -EFAULT);
	assert_true(r32(VTD_REG_FSTS) & VTD_FSTS_PFO);
	for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS; i++)
		w64(FRCD(i) + 8, VTD_FRCD_HI_F);
	w32(VTD_REG_FSTS, VTD_FSTS_PFO);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
}

static void test_passthrough_refused(void **state)
{
	struct vtd_xlate x;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_PASSTHROUGH);
	enable_translation();
	assert_int_equal(xlate(SID_DEV, 0x1000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_CONTEXT_ENTRY_INV);
	assert_int_equal((frcd_hi(0) >> VTD_FRCD_HI_FR_SHIFT) & 0xff, VTD_FR_CONTEXT_ENTRY_INV);
}

static void test_root_table_mode_must_be_legacy(void **state)
{
	struct vtd_xlate x;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	w64(VTD_REG_RTADDR, GPA_ROOT | 1ull << VTD_RTADDR_TTM_SHIFT);    /* scalable mode */
	gcmd(VTD_GCMD_SRTP, true);
	gcmd(VTD_GCMD_TE, true);
	assert_true(r32(VTD_REG_GSTS) & VTD_GSTS_TES);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_ROOT_TABLE_INV);
	/* legacy mode again */
	w64(VTD_REG_RTADDR, GPA_ROOT);
	gcmd(VTD_GCMD_SRTP, true);
	w64(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_GLOBAL << VTD_CCMD_CIRG_SHIFT);
	w64(REG_IOTLB, VTD_IOTLB_IVT | (uint64_t)VTD_IOTLB_GLOBAL << VTD_IOTLB_IIRG_SHIFT);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.addr, GPA_DATA);
}

static void test_tables_outside_ram(void **state)
{
	struct vtd_xlate x;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	/* the second-level pointer names the MMIO hole: not RAM */
	gptr(GPA_CTX + VTD_SID_DEVFN(SID_DEV) * 16, 8)[0] = vtd_ctx_entry_lo(0xfec00000, VTD_TT_TRANSLATED, false);
	enable_translation();
	assert_int_equal(xlate(SID_DEV, 0x1000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_PAGING_ENTRY_INV);
	w64(VTD_REG_RTADDR, RAM_SIZE + 0x1000);
	gcmd(VTD_GCMD_SRTP, true);
	w64(VTD_REG_CCMD, VTD_CCMD_ICC | (uint64_t)VTD_CC_GLOBAL << VTD_CCMD_CIRG_SHIFT);
	assert_int_equal(xlate(SID_DEV, 0x1000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(x.fault, VTD_FR_ROOT_TABLE_INV);
}

static void test_reset(void **state)
{
	struct vtd_xlate x;
	unsigned ctx0 = fx.ctx_hooks, irq0 = fx.irq_hooks;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	enable_translation();
	qi_enable(0);
	w64(VTD_REG_IRTA, 0x300000 | 3);
	gcmd(VTD_GCMD_SIRTP, true);
	gcmd(VTD_GCMD_IRE, true);
	w32(VTD_REG_FECTL, 0);
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), 0);
	assert_int_equal(xlate(SID_OTHER, 0x1000, VTD_REQ_READ, &x), -EFAULT);
	assert_true(r32(VTD_REG_FSTS) & VTD_FSTS_PPF);

	ctx0 = fx.ctx_hooks;
	irq0 = fx.irq_hooks;
	viommu_reset(&fx.v);
	assert_int_equal(r32(VTD_REG_GSTS), 0);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	assert_int_equal(frcd_hi(0), 0);
	assert_int_equal(r32(VTD_REG_FECTL), VTD_EVCTL_IM);
	assert_int_equal(r64(VTD_REG_IQA), 0);
	assert_int_equal(r64(VTD_REG_IRTA), 0);
	assert_int_equal(r64(VTD_REG_RTADDR), 0);
	assert_int_equal(fx.ctx_hooks, ctx0 + 1);
	assert_int_equal(fx.irq_hooks, irq0 + 1);
	assert_false(viommu_translation_enabled(&fx.v));
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), 0);
	assert_int_equal(x.addr, 0x40000000);               /* untranslated */
	/* and it comes back up from scratch: the cached translation is gone,
	 * TE needs a new SRTP */
	gcmd(VTD_GCMD_TE, true);
	assert_false(r32(VTD_REG_GSTS) & VTD_GSTS_TES);
	g_unmap(0x40000000);
	enable_translation();
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_READ, &x), -EFAULT);
	assert_int_equal(r32(VTD_REG_FSTS), VTD_FSTS_PPF);    /* recorded at index 0 again */
}

/* Faults recorded by DMA threads (inside access sections) while the vCPU
 * thread drains through wait descriptors and services the fault registers:
 * neither may wait for the other. */
struct dma_thread_arg { unsigned iterations; };

static void *dma_thread(void *p)
{
	struct dma_thread_arg *a = p;
	struct vtd_xlate x;

	for (unsigned i = 0; i < a->iterations; i++) {
		unsigned tok = vtd_dma_begin(viommu_unit(&fx.v));

		vtd_translate(viommu_unit(&fx.v), SID_OTHER, (uint64_t)i << 12, VTD_REQ_WRITE, &x);
		vtd_dma_end(viommu_unit(&fx.v), tok);
	}
	return NULL;
}

static void test_faults_from_dma_threads_during_queue_waits(void **state)
{
	struct dma_thread_arg arg = { .iterations = 20000 };
	struct vtd_fault_stats fs;
	pthread_t t[2];

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	enable_translation();
	qi_enable(0);
	w32(VTD_REG_FEADDR, 0xfee00000);
	w32(VTD_REG_FECTL, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, dma_thread, &arg), 0);
	for (unsigned round = 1; round <= 300; round++) {
		qi_submit(wait_desc(round, true, false), GPA_STATUS);
		assert_int_equal(status_word(), round);
		for (unsigned i = 0; i < VIOMMU_NR_FAULT_RECORDS; i++)
			w64(FRCD(i) + 8, VTD_FRCD_HI_F);
		w32(VTD_REG_FSTS, VTD_FSTS_PFO);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	vtd_fault_stats_get(viommu_unit(&fx.v), &fs);
	assert_int_equal(fs.total, 2 * arg.iterations);
	assert_true(fs.recorded > 0);
	assert_true(__atomic_load_n(&fx.nmsi, __ATOMIC_RELAXED) > 0);
}

/* Random register traffic at every offset, with the unit translating and
 * remapping in between: nothing may crash, hang or touch memory outside
 * guest RAM (the canaries are checked at teardown). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A descriptor of a supported type with plausible fields, now and then a
 * reserved bit or an unsupported type. */
static void random_descriptor(uint64_t *d)
{
	static const uint64_t rsvd_lo[] = {
		0, VTD_QI_CC_RSVD_LO, VTD_QI_IOTLB_RSVD_LO, 0, VTD_QI_IEC_RSVD_LO, VTD_QI_WAIT_RSVD_LO,
	};
	unsigned type = 1 + rnd() % 5;

	if (rnd() % 16 == 0)
		type = rnd() % 16;
	d[0] = (rnd() & ~0xe0full) | type;
	if (type < 6)
		d[0] &= ~rsvd_lo[type];
	d[1] = type == VTD_QI_WAIT ? GPA_STATUS + (rnd() % 1024) * 4 :
	       type == VTD_QI_IOTLB ? (rnd() & 0xffffffff000ull) | rnd() % 20 : 0;
	if (rnd() % 16 == 0)
		d[rnd() % 2] ^= 1ull << (rnd() % 64);
}

static uint64_t random_value(void)
{
	static const uint64_t pointers[] = {
		GPA_IQ, GPA_IQ | 1, GPA_IQ | 3, 0x300000 | 7, 0x300000 | 15, GPA_ROOT, GPA_STATUS,
		0, 0x10, 0x40, 0x400, 0xff0,     /* queue tails */
	};

	switch (rnd() % 4) {
	case 0:  return rnd();
	case 1:  return rnd() & (RAM_SIZE * 2 - 1);
	case 2:  return pointers[rnd() % (sizeof(pointers) / sizeof(pointers[0]))];
	default: return rnd() % 2 ? 1ull << (rnd() % 64) : ~(1ull << (rnd() % 64));
	}
}

static void test_random_register_writes(void **state)
{
	static const unsigned lens[] = { 4, 8, 4, 8, 1, 2 };
	static const uint64_t busy[] = {
		VTD_REG_GCMD, VTD_REG_RTADDR, VTD_REG_CCMD, VTD_REG_FSTS, VTD_REG_FECTL, VTD_REG_IQT,
		VTD_REG_IQT, VTD_REG_IQA, VTD_REG_ICS, VTD_REG_IECTL, VTD_REG_IRTA, REG_IVA, REG_IOTLB,
		FRCD(0) + 8, FRCD(3) + 8,
	};
	struct viommu_stats st;
	struct viommu_irq out;
	struct vtd_xlate x;
	uint64_t v;

	(void)state;
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	g_map(0x40000000, GPA_DATA, VTD_SL_R | VTD_SL_W);
	for (uint64_t gpa = GPA_IQ; gpa < GPA_IQ + 8 * 4096; gpa += 16)
		random_descriptor(gptr(gpa, 16));
	for (uint64_t gpa = 0x300000; gpa < 0x300000 + 65536 * 16; gpa += 16) {
		uint64_t *e = gptr(gpa, 16);

		e[0] = rnd() % 4 ? (rnd() & ~VTD_IRTE_RSVD_LO_XAPIC & ~VTD_IRTE_IM) | VTD_IRTE_P : rnd();
		e[1] = rnd() % 4 ? rnd() & ~VTD_IRTE_RSVD_HI : rnd();
	}
	for (unsigned i = 0; i < 200000; i++) {
		unsigned len = lens[rnd() % 6];
		uint64_t off = rnd() % VIOMMU_MMIO_SIZE;
		uint64_t val = random_value();

		if (rnd() % 4)
			off &= ~(uint64_t)(len - 1);
		if (rnd() % 2)                       /* the registers that do things */
			off = busy[rnd() % (sizeof(busy) / sizeof(busy[0]))] + (len == 4 ? rnd() % 2 * 4 : 0);
		if (rnd() % 3)
			bus_write(&fx.mmio, BASE + off, val, len);
		else
			bus_read(&fx.mmio, BASE + off, &v, len);
		if (i % 16 == 0) {
			vtd_translate(viommu_unit(&fx.v), rnd() % 2 ? SID_DEV : (uint16_t)rnd(),
				      rnd() % 2 ? 0x40000000 : rnd() % (RAM_SIZE * 4),
				      VTD_REQ_READ | (rnd() % 2 ? VTD_REQ_WRITE : 0), &x);
			viommu_irq_remap(&fx.v, (uint16_t)rnd(), 0xfee00000 | (rnd() & 0xfffff),
					 (uint32_t)(rnd() % 2 ? rnd() & 0xffff : rnd()), &out);
		}
		if (i % 2000 == 0) {
			/* from a working configuration, which the storm then bends */
			viommu_reset(&fx.v);
			enable_translation();
			qi_enable(3);
			w64(VTD_REG_IRTA, 0x300000 | 15);
			gcmd(VTD_GCMD_SIRTP, true);
			gcmd(VTD_GCMD_IRE, true);
		}
	}
	/* not a vacuous storm: the queue ran and interrupts were remapped */
	viommu_stats_get(&fx.v, &st);
	assert_true(st.qi_descriptors > 0);
	assert_true(st.qi_errors > 0);
	assert_true(st.ir_remapped + st.ir_blocked > 0);
	/* still a working unit afterwards */
	viommu_reset(&fx.v);
	g_attach(SID_DEV, DID, VTD_TT_TRANSLATED);
	enable_translation();
	assert_int_equal(xlate(SID_DEV, 0x40000000, VTD_REQ_WRITE, &x), 0);
	assert_int_equal(x.addr, GPA_DATA);
}

#define T(fn)        cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T_SHADOW(fn) cmocka_unit_test_setup_teardown(fn, setup_shadow, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_values),
		T_SHADOW(test_caching_mode_only_in_shadow),
		T(test_register_write_masks),
		T(test_gcmd_commands),
		T(test_translate_guest_tables),
		T(test_register_invalidation),
		T(test_pass_done_after_each_action),
		T(test_qi_invalidation_and_wait),
		T(test_qi_wait_completion_interrupt),
		T(test_qi_bad_descriptor),
		T(test_qi_wide_descriptors_refused),
		T(test_qi_wraps),
		T(test_fault_recording_and_events),
		T(test_fault_event_after_record_cleared_early),
		T(test_fault_overflow),
		T(test_passthrough_refused),
		T(test_root_table_mode_must_be_legacy),
		T(test_tables_outside_ram),
		T(test_reset),
		T(test_faults_from_dma_threads_during_queue_waits),
		T(test_random_register_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
