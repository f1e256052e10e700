/* Interrupt remapping of the guest-visible VT-d: remappable MSIs through
 * IRTEs in guest RAM (fields, subhandles, handle[15]), every blocking case
 * with its fault reason and the interrupt index in the fault record (not
 * present, index beyond the table, reserved fields, posted format, source-id
 * checks by SVT/SQ, compatibility format without CFIS, unreadable table,
 * reserved request bits), FPD, the IOAPIC's messages, pass-through with
 * remapping off, the fault event, and the interrupt entry cache
 * invalidation through the queue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "iommu/viommu.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define BASE VIOMMU_DEFAULT_BASE
#define RAM_SIZE    (32 * MiB)
#define GPA_IRT     0x300000ull
#define IRT_S       7                  /* 256 entries */
#define GPA_IQ      0x200000ull
#define GPA_STATUS  0x280000ull

#define SID_DEV     VTD_SID(0, 3, 0)
#define SID_IOAPIC  0xff00

struct msi_rec { uint64_t addr; uint32_t data; uint16_t rid; };

struct fixture {
	struct arena a;
	struct gmem g;
	struct bus mmio;
	struct viommu v;
	struct msi_sink sink;
	struct msi_rec msi[16];
	unsigned nmsi;
	unsigned irq_hooks;
	uint64_t qtail;
};

static struct fixture fx;

static int msi_record(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct fixture *f = opaque;

	if (f->nmsi < 16)
		f->msi[f->nmsi] = (struct msi_rec){ addr, data, rid };
	f->nmsi++;
	return 0;
}

static void hook_irq(void *opaque) { ((struct fixture *)opaque)->irq_hooks++; }

static const struct viommu_hooks hooks = { .irq_invalidated = hook_irq };

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

static void gcmd(uint32_t bit, bool on)
{
	uint32_t sts = r32(VTD_REG_GSTS) & 0x96ffffffu;

	w32(VTD_REG_GCMD, on ? sts | bit : sts & ~bit);
}

static uint64_t *gptr(uint64_t gpa, uint64_t len)
{
	uint64_t *p = gmem_gpa_to_ptr(&fx.g, gpa, len);

	assert_non_null(p);
	return p;
}

/* Table at GPA_IRT latched, remapping on, CFI off: what Linux programs. */
static void ir_enable(void)
{
	w64(VTD_REG_IRTA, GPA_IRT | IRT_S);
	gcmd(VTD_GCMD_SIRTP, true);
	gcmd(VTD_GCMD_IRE, true);
	assert_int_equal(r32(VTD_REG_GSTS) & ~VTD_GSTS_QIES, VTD_GSTS_IRTPS | VTD_GSTS_IRES);
}

static int setup(void **state)
{
	struct viommu_cfg c;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&fx.a, 64 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&fx.g, &fx.a, 1, RAM_SIZE), 0);
	assert_int_equal(bus_init(&fx.mmio, "mmio"), 0);
	fx.sink = (struct msi_sink){ .send = msi_record, .opaque = &fx };
	c = (struct viommu_cfg){
		.mode = VIOMMU_MODE_NESTED, .gmem = &fx.g, .msi = &fx.sink, .ioapic_sid = SID_IOAPIC,
		.hooks = &hooks, .hooks_opaque = &fx,
	};
	assert_int_equal(viommu_init(&fx.v, &c), 0);
	assert_int_equal(viommu_attach(&fx.v, &fx.mmio, BASE), 0);
	memset(gptr(GPA_IRT, 256 * 16), 0, 256 * 16);
	return 0;
}

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

/* ---- IRTEs and messages ---- */

static uint64_t irte_lo(uint8_t vector, uint8_t dest)
{
	return VTD_IRTE_P | (uint64_t)vector << VTD_IRTE_V_SHIFT | (uint64_t)dest << VTD_IRTE_DST_XAPIC_SHIFT;
}

static uint64_t irte_hi(unsigned svt, unsigned sq, uint16_t sid)
{
	return (uint64_t)svt << VTD_IRTE_SVT_SHIFT | (uint64_t)sq << VTD_IRTE_SQ_SHIFT | sid;
}

static void irte_set(unsigned idx, uint64_t lo, uint64_t hi)
{
	uint64_t *e = gptr(GPA_IRT + idx * 16ull, 16);

	e[1] = hi;
	e[0] = lo;
}

/* A remappable-format MSI address for handle (SHV as asked). */
static uint64_t rf_addr(unsigned handle, bool shv)
{
	return VTD_MSI_ADDR_BASE | (uint64_t)(handle & 0x7fff) << VTD_MSI_ADDR_HANDLE_SHIFT |
	       (handle & 0x8000 ? VTD_MSI_ADDR_HANDLE15 : 0) | VTD_MSI_ADDR_IRF |
	       (shv ? VTD_MSI_ADDR_SHV : 0);
}

static int remap(uint16_t sid, uint64_t addr, uint32_t data, struct viommu_irq *out)
{
	out->addr = out->data = 0xdead;
	return viommu_irq_remap(&fx.v, sid, addr, data, out);
}

/* The newest fault record: reason, SID and the index in FI 63:48. */
static void expect_record(unsigned reason, uint16_t sid, unsigned index)
{
	unsigned fsts = r32(VTD_REG_FSTS), fri;
	uint64_t lo, hi;

	assert_true(fsts & VTD_FSTS_PPF);
	fri = (fsts >> VTD_FSTS_FRI_SHIFT) & 0xff;
	lo = r64(VIOMMU_FRCD_OFFSET + 16 * fri);
	hi = r64(VIOMMU_FRCD_OFFSET + 16 * fri + 8);
	assert_int_equal((hi >> VTD_FRCD_HI_FR_SHIFT) & 0xff, reason);
	assert_int_equal(hi & 0xffff, sid);
	assert_true(hi & VTD_FRCD_HI_F);
	assert_false(hi & VTD_FRCD_HI_T);           /* interrupts are writes */
	assert_int_equal(lo, (uint64_t)index << 48);
	w64(VIOMMU_FRCD_OFFSET + 16 * fri + 8, VTD_FRCD_HI_F);
	assert_false(r32(VTD_REG_FSTS) & VTD_FSTS_PPF);
}

/* ===================================================================== */

static void test_remapping_off_passes_everything(void **state)
{
	struct viommu_irq out;
	struct viommu_stats st;

	(void)state;
	assert_int_equal(remap(SID_DEV, 0xfee01000, 0x4031, &out), 0);
	assert_int_equal(out.addr, 0xfee01000);
	assert_int_equal(out.data, 0x4031);
	/* remappable format too: with IRES clear the hardware is bypassed */
	assert_int_equal(remap(SID_DEV, rf_addr(5, false), 0, &out), 0);
	assert_int_equal(out.addr, rf_addr(5, false));
	assert_int_equal(out.data, 0);
	/* a latched table alone changes nothing */
	w64(VTD_REG_IRTA, GPA_IRT | IRT_S);
	gcmd(VTD_GCMD_SIRTP, true);
	assert_int_equal(remap(SID_DEV, rf_addr(5, false), 0, &out), 0);
	assert_int_equal(out.addr, rf_addr(5, false));
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.ir_passthrough, 3);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
}

static void test_remap_through_irte(void **state)
{
	struct viommu_irq out;
	struct viommu_stats st;

	(void)state;
	ir_enable();
	irte_set(5, irte_lo(0x41, 3), irte_hi(VTD_SVT_SID, 0, SID_DEV));
	assert_int_equal(remap(SID_DEV, rf_addr(5, false), 0, &out), 0);
	assert_int_equal(out.addr, 0xfee03000);
	assert_int_equal(out.data, 0x41);
	/* every field: logical destination, redirection hint, lowest
	 * priority, level triggered (assert bit with it) */
	irte_set(6, irte_lo(0x99, 0xf0) | VTD_IRTE_DM | VTD_IRTE_RH | 1ull << VTD_IRTE_DLM_SHIFT |
		    VTD_IRTE_TM | 0xfull << VTD_IRTE_AVAIL_SHIFT, irte_hi(VTD_SVT_NONE, 0, 0));
	assert_int_equal(remap(VTD_SID(7, 1, 2), rf_addr(6, false), 0, &out), 0);
	assert_int_equal(out.addr, 0xfeef000c);
	assert_int_equal(out.data, 0x99 | 1 << 8 | VTD_MSI_DATA_TM | VTD_MSI_DATA_LEVEL);
	/* NMI delivery */
	irte_set(7, irte_lo(0, 1) | 4ull << VTD_IRTE_DLM_SHIFT, 0);
	assert_int_equal(remap(SID_DEV, rf_addr(7, false), 0, &out), 0);
	assert_int_equal(out.data, 4 << 8);
	/* the table is read on every message: an edit shows at once */
	irte_set(5, irte_lo(0x42, 1), irte_hi(VTD_SVT_SID, 0, SID_DEV));
	assert_int_equal(remap(SID_DEV, rf_addr(5, false), 0, &out), 0);
	assert_int_equal(out.addr, 0xfee01000);
	assert_int_equal(out.data, 0x42);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.ir_remapped, 4);
	assert_int_equal(st.ir_blocked, 0);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
}

static void test_subhandle_and_handle15(void **state)
{
	struct viommu_irq out;

	(void)state;
	ir_enable();
	/* multi-vector MSI: handle 8, vectors 0..3 as subhandles */
	for (unsigned i = 0; i < 4; i++)
		irte_set(8 + i, irte_lo((uint8_t)(0x50 + i), 2), irte_hi(VTD_SVT_SID, 0, SID_DEV));
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(remap(SID_DEV, rf_addr(8, true), i, &out), 0);
		assert_int_equal(out.data, 0x50 + i);
	}
	/* without SHV the data is not a subhandle */
	assert_int_equal(remap(SID_DEV, rf_addr(8, false), 3, &out), 0);
	assert_int_equal(out.data, 0x50);
	/* data bits 31:16 are reserved in remappable format */
	assert_int_equal(remap(SID_DEV, rf_addr(8, true), 0x10001, &out), -EPERM);
	expect_record(VTD_FR_IR_REQ_RSVD, SID_DEV, 0);
	/* handle[15] is address bit 2: index 0x8005 is past a 256-entry table */
	assert_int_equal(remap(SID_DEV, rf_addr(0x8005, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_INDEX_OVER, SID_DEV, 0x8005);
	/* with a 65536-entry table it is a real entry */
	memset(gptr(GPA_IRT + 0x8005 * 16, 16), 0, 16);
	irte_set(0x8005, irte_lo(0x77, 9), 0);
	w64(VTD_REG_IRTA, GPA_IRT | 15);
	gcmd(VTD_GCMD_SIRTP, true);
	assert_int_equal(remap(SID_DEV, rf_addr(0x8005, false), 0, &out), 0);
	assert_int_equal(out.data, 0x77);
	assert_int_equal(out.addr, 0xfee09000);
	/* subhandle pushing the index past the end */
	assert_int_equal(remap(SID_DEV, rf_addr(0xffff, true), 1, &out), -EPERM);
	expect_record(VTD_FR_IR_INDEX_OVER, SID_DEV, 0);    /* 0x10000: FI keeps 16 bits */
}

static void test_not_present_and_fpd(void **state)
{
	struct viommu_irq out;
	struct vtd_fault_stats fs;

	(void)state;
	ir_enable();
	assert_int_equal(remap(SID_DEV, rf_addr(20, false), 0, &out), -EPERM);
	assert_int_equal(out.addr, 0xdead);                  /* nothing to deliver */
	expect_record(VTD_FR_IR_ENTRY_P, SID_DEV, 20);
	/* FPD qualifies not-present: blocked, counted, not recorded */
	irte_set(20, VTD_IRTE_FPD, 0);
	assert_int_equal(remap(SID_DEV, rf_addr(20, false), 0, &out), -EPERM);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	vtd_fault_stats_get(viommu_unit(&fx.v), &fs);
	assert_int_equal(fs.suppressed, 1);
	assert_int_equal(fs.by_reason[VTD_FR_IR_ENTRY_P], 2);
	/* ... and the reserved-field and source-id faults of a present entry */
	irte_set(21, irte_lo(0x30, 0) | VTD_IRTE_FPD | 1ull << 12, 0);
	assert_int_equal(remap(SID_DEV, rf_addr(21, false), 0, &out), -EPERM);
	irte_set(22, irte_lo(0x30, 0) | VTD_IRTE_FPD, irte_hi(VTD_SVT_SID, 0, VTD_SID(1, 0, 0)));
	assert_int_equal(remap(SID_DEV, rf_addr(22, false), 0, &out), -EPERM);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
	/* but not an index beyond the table, which has no entry to ask */
	irte_set(255, VTD_IRTE_FPD, 0);
	assert_int_equal(remap(SID_DEV, rf_addr(256, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_INDEX_OVER, SID_DEV, 256);
}

static void test_reserved_fields_and_posted(void **state)
{
	static const uint64_t bad_lo[] = {
		1ull << 12, 1ull << 14, 1ull << 24, 1ull << 31,   /* 14:12, 31:24 */
		1ull << 32, 1ull << 39,                           /* 39:32 with EIME = 0 */
		1ull << 48, 1ull << 63,                           /* 63:48 with EIME = 0 */
		VTD_IRTE_IM,                                      /* posted: CAP.PI = 0 */
	};
	struct viommu_irq out;

	(void)state;
	ir_enable();
	for (unsigned i = 0; i < sizeof(bad_lo) / sizeof(bad_lo[0]); i++) {
		irte_set(30, irte_lo(0x30, 1) | bad_lo[i], 0);
		assert_int_equal(remap(SID_DEV, rf_addr(30, false), 0, &out), -EPERM);
		expect_record(VTD_FR_IR_IRTE_RSVD, SID_DEV, 30);
	}
	irte_set(30, irte_lo(0x30, 1), 1ull << 20);           /* 127:84 */
	assert_int_equal(remap(SID_DEV, rf_addr(30, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_IRTE_RSVD, SID_DEV, 30);
	/* AVAIL is software's */
	irte_set(30, irte_lo(0x30, 1) | 0xf00, 0);
	assert_int_equal(remap(SID_DEV, rf_addr(30, false), 0, &out), 0);
}

static void test_source_id_validation(void **state)
{
	struct viommu_irq out;

	(void)state;
	ir_enable();
	/* SVT 01, SQ 00: all 16 bits */
	irte_set(40, irte_lo(0x40, 0), irte_hi(VTD_SVT_SID, 0, VTD_SID(0, 3, 0)));
	assert_int_equal(remap(VTD_SID(0, 3, 0), rf_addr(40, false), 0, &out), 0);
	assert_int_equal(remap(VTD_SID(0, 3, 1), rf_addr(40, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, VTD_SID(0, 3, 1), 40);
	assert_int_equal(remap(VTD_SID(1, 3, 0), rf_addr(40, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, VTD_SID(1, 3, 0), 40);
	/* SQ 11: function bits ignored; SQ 01: only bit 2 */
	irte_set(41, irte_lo(0x41, 0), irte_hi(VTD_SVT_SID, 3, VTD_SID(0, 3, 0)));
	for (unsigned fn = 0; fn < 8; fn++)
		assert_int_equal(remap(VTD_SID(0, 3, fn), rf_addr(41, false), 0, &out), 0);
	assert_int_equal(remap(VTD_SID(0, 4, 0), rf_addr(41, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, VTD_SID(0, 4, 0), 41);
	irte_set(42, irte_lo(0x42, 0), irte_hi(VTD_SVT_SID, 1, VTD_SID(0, 3, 0)));
	assert_int_equal(remap(VTD_SID(0, 3, 4), rf_addr(42, false), 0, &out), 0);
	assert_int_equal(remap(VTD_SID(0, 3, 1), rf_addr(42, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, VTD_SID(0, 3, 1), 42);
	/* SVT 10: the requester's bus in [SID 15:8, SID 7:0] (behind a bridge) */
	irte_set(43, irte_lo(0x43, 0), irte_hi(VTD_SVT_BUS, 0, 0x0204));
	assert_int_equal(remap(VTD_SID(2, 0, 0), rf_addr(43, false), 0, &out), 0);
	assert_int_equal(remap(VTD_SID(4, 31, 7), rf_addr(43, false), 0, &out), 0);
	assert_int_equal(remap(VTD_SID(1, 0, 0), rf_addr(43, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, VTD_SID(1, 0, 0), 43);
	assert_int_equal(remap(VTD_SID(5, 0, 0), rf_addr(43, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, VTD_SID(5, 0, 0), 43);
	/* SVT 11 is reserved: nobody passes */
	irte_set(44, irte_lo(0x44, 0), irte_hi(VTD_SVT_RESERVED, 0, SID_DEV));
	assert_int_equal(remap(SID_DEV, rf_addr(44, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, SID_DEV, 44);
	/* SVT 00: anyone */
	irte_set(45, irte_lo(0x45, 0), irte_hi(VTD_SVT_NONE, 3, 0x1234));
	assert_int_equal(remap(VTD_SID(9, 9, 1), rf_addr(45, false), 0, &out), 0);
}

static void test_compatibility_format(void **state)
{
	struct viommu_irq out;

	(void)state;
	ir_enable();
	/* CFIS clear: compatibility format is blocked, index 0 in the record */
	assert_int_equal(remap(SID_DEV, 0xfee01000, 0x4031, &out), -EPERM);
	expect_record(VTD_FR_IR_REQ_COMPAT, SID_DEV, 0);
	/* CFIS set: passed through unchanged */
	gcmd(VTD_GCMD_CFI, true);
	assert_int_equal(remap(SID_DEV, 0xfee01000, 0x4031, &out), 0);
	assert_int_equal(out.addr, 0xfee01000);
	assert_int_equal(out.data, 0x4031);
	/* remappable format is still remapped */
	irte_set(1, irte_lo(0x21, 0), 0);
	assert_int_equal(remap(SID_DEV, rf_addr(1, false), 0, &out), 0);
	assert_int_equal(out.data, 0x21);
	/* a message outside the interrupt window is malformed */
	assert_int_equal(remap(SID_DEV, 0x1fee01000ull, 0x31, &out), -EPERM);
	expect_record(VTD_FR_IR_REQ_RSVD, SID_DEV, 0);
	assert_int_equal(r32(VTD_REG_FSTS), 0);
}

static void test_ioapic_messages(void **state)
{
	uint64_t ge = __atomic_load_n(&guest_error_count, __ATOMIC_RELAXED);
	struct viommu_irq out;

	(void)state;
	ir_enable();
	/* Linux: IOAPIC entries check the DMAR scope's requester id exactly */
	irte_set(2, irte_lo(0x39, 1) | VTD_IRTE_TM, irte_hi(VTD_SVT_SID, 0, SID_IOAPIC));
	/* the IOAPIC's remappable RTE: index 2, vector and trigger as in the IRTE */
	assert_int_equal(remap(SID_IOAPIC, rf_addr(2, false), 0x39 | VTD_MSI_DATA_TM | VTD_MSI_DATA_LEVEL, &out), 0);
	assert_int_equal(out.addr, 0xfee01000);
	assert_int_equal(out.data, 0x39 | VTD_MSI_DATA_TM | VTD_MSI_DATA_LEVEL);
	assert_int_equal(__atomic_load_n(&guest_error_count, __ATOMIC_RELAXED), ge);
	/* a device cannot use the IOAPIC's entry */
	assert_int_equal(remap(SID_DEV, rf_addr(2, false), 0x39, &out), -EPERM);
	expect_record(VTD_FR_IR_SID_ERR, SID_DEV, 2);
	/* an RTE whose vector disagrees with its IRTE is the guest's bug:
	 * remapped as the IRTE says, and reported */
	assert_int_equal(remap(SID_IOAPIC, rf_addr(2, false), 0x38, &out), 0);
	assert_int_equal(out.data & 0xff, 0x39);
	assert_true(__atomic_load_n(&guest_error_count, __ATOMIC_RELAXED) > ge);
}

static void test_table_outside_ram(void **state)
{
	struct viommu_irq out;

	(void)state;
	w64(VTD_REG_IRTA, RAM_SIZE | 7);                   /* just past the end of RAM */
	gcmd(VTD_GCMD_SIRTP, true);
	gcmd(VTD_GCMD_IRE, true);
	assert_int_equal(remap(SID_DEV, rf_addr(255, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_ROOT_INV, SID_DEV, 255);
	/* the register changes nothing until SIRTP latches it */
	w64(VTD_REG_IRTA, GPA_IRT | 7);
	assert_int_equal(remap(SID_DEV, rf_addr(255, false), 0, &out), -EPERM);
	expect_record(VTD_FR_IR_ROOT_INV, SID_DEV, 255);
	gcmd(VTD_GCMD_SIRTP, true);
	irte_set(255, irte_lo(0x60, 0), 0);
	assert_int_equal(remap(SID_DEV, rf_addr(255, false), 0, &out), 0);
}

static void test_fault_event_for_interrupt_faults(void **state)
{
	struct viommu_irq out;
	struct viommu_stats st;

	(void)state;
	w32(VTD_REG_FEDATA, 0x4070);
	w32(VTD_REG_FEADDR, 0xfee00000);
	w32(VTD_REG_FECTL, 0);
	ir_enable();
	assert_int_equal(remap(SID_DEV, rf_addr(3, false), 0, &out), -EPERM);
	assert_int_equal(fx.nmsi, 1);
	assert_int_equal(fx.msi[0].addr, 0xfee00000);
	assert_int_equal(fx.msi[0].data, 0x4070);
	assert_int_equal(fx.msi[0].rid, 0);
	assert_int_equal(remap(SID_DEV, rf_addr(4, false), 0, &out), -EPERM);
	assert_int_equal(fx.nmsi, 1);                          /* PPF already set */
	assert_int_equal(r64(VIOMMU_FRCD_OFFSET), 3ull << 48);
	assert_int_equal(r64(VIOMMU_FRCD_OFFSET + 16), 4ull << 48);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.ir_blocked, 2);
	assert_int_equal(st.fault_events, 1);
}

static void test_iec_invalidation(void **state)
{
	struct viommu_stats st;
	unsigned before;
	uint64_t *d;

	(void)state;
	w64(VTD_REG_IQT, 0);
	w64(VTD_REG_IQA, GPA_IQ);
	gcmd(VTD_GCMD_QIE, true);
	before = fx.irq_hooks;
	ir_enable();
	assert_int_equal(fx.irq_hooks, before + 2);              /* SIRTP, IRE */
	d = gptr(GPA_IQ, 64);
	d[0] = VTD_QI_IEC;                                       /* global */
	d[1] = 0;
	d[2] = VTD_QI_IEC | VTD_QI_IEC_INDEX | 3ull << VTD_QI_IEC_IM_SHIFT | 40ull << VTD_QI_IEC_IIDX_SHIFT;
	d[3] = 0;
	d[4] = VTD_QI_WAIT | VTD_QI_WAIT_SW | 0xabcull << VTD_QI_WAIT_SDATA_SHIFT;
	d[5] = GPA_STATUS;
	w64(VTD_REG_IQT, 48);
	assert_int_equal(*(uint32_t *)gptr(GPA_STATUS, 4), 0xabc);
	assert_int_equal(fx.irq_hooks, before + 4);
	viommu_stats_get(&fx.v, &st);
	assert_int_equal(st.inv_iec, 2);
	/* reserved bits stop the queue */
	d[6] = VTD_QI_IEC | 1ull << 5;
	d[7] = 0;
	w64(VTD_REG_IQT, 64);
	assert_true(r32(VTD_REG_FSTS) & VTD_FSTS_IQE);
	assert_int_equal(r64(VTD_REG_IQERCD), VTD_IQEI_RSVD);
	assert_int_equal(fx.irq_hooks, before + 4);
	/* turning remapping off tells the VMM too */
	gcmd(VTD_GCMD_IRE, false);
	assert_int_equal(fx.irq_hooks, before + 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_remapping_off_passes_everything),
		T(test_remap_through_irte),
		T(test_subhandle_and_handle15),
		T(test_not_present_and_fpd),
		T(test_reserved_fields_and_posted),
		T(test_source_id_validation),
		T(test_compatibility_format),
		T(test_ioapic_messages),
		T(test_table_outside_ram),
		T(test_fault_event_for_interrupt_faults),
		T(test_iec_invalidation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
