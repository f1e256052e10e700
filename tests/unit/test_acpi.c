/* ACPI tables as a guest finds them in its RAM: the RSDP at 0xe0000 with
 * both checksums, RSDT/XSDT listing the same tables, every table's
 * checksum, the FADT's PM blocks and flags, the FACS, the MADT's entries,
 * MCFG, the DSDT's header and names, tables added through the hook, and
 * refused configurations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "vmm/acpi.h"
#include "vmm/acpi_dmar.h"
#include "base/log.h"

#define MiB (1ull << 20)

struct fx {
	struct arena a;
	struct gmem g;
	struct acpi_config cfg;
	uint64_t rsdp;
};

static struct fx *F;

static int setup(void **state)
{
	F = calloc(1, sizeof(*F));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&F->a, 256 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&F->g, &F->a, 1, 32 * MiB), 0);
	/* Stale bytes where the tables go must not survive the build. */
	memset(gmem_gpa_to_ptr(&F->g, ACPI_TABLES_GPA, ACPI_TABLES_SIZE), 0xcc, ACPI_TABLES_SIZE);
	acpi_config_default(&F->cfg, 4);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	gmem_destroy(&F->g);
	arena_destroy(&F->a);
	free(F);
	log_threshold = LOG_WARN;
	return 0;
}

/* ---- Reading the tables back ---- */

static const uint8_t *gpa(uint64_t addr, uint64_t len)
{
	const uint8_t *p;

	/* Everything lives in the reserved area below 1 MiB. */
	assert_true(addr >= ACPI_TABLES_GPA && addr + len <= ACPI_TABLES_GPA + ACPI_TABLES_SIZE);
	p = gmem_gpa_to_ptr(&F->g, addr, len);
	assert_non_null(p);
	return p;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* A whole table, checked: length sane, checksum zero, OEM fields. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
	const uint8_t *h = gpa(addr, 36);
	uint32_t len = rd32(h + 4);
	const uint8_t *t = gpa(addr, len);

	assert_true(len >= 36);
	assert_memory_equal(t, sig, 4);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "WARDEN", 6);
	assert_int_equal(addr % 16, 0);
	return t;
}

static uint64_t build(void)
{
	assert_int_equal(acpi_build(&F->g, &F->cfg, &F->rsdp), 0);
	return F->rsdp;
}

static const uint8_t *find(const char *sig)
{
	const uint8_t *r = gpa(build(), 36);
	const uint8_t *x = table(rd64(r + 24), "XSDT");
	unsigned n = (rd32(x + 4) - 36) / 8;

	for (unsigned i = 0; i < n; i++) {
		uint64_t a = rd64(x + 36 + 8 * i);

		if (!memcmp(gpa(a, 4), sig, 4))
			return table(a, sig);
	}
	fail_msg("%s not in the XSDT", sig);
	return NULL;
}

static bool contains(const uint8_t *p, size_t len, const void *needle, size_t nlen)
{
	return memmem(p, len, needle, nlen) != NULL;
}

/* ---- Tests ---- */

static void test_rsdp(void **state)
{
	const uint8_t *r;

	assert_int_equal(build(), 0xe0000);
	r = gpa(F->rsdp, 36);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0);         /* ACPI 1.0 checksum */
	assert_int_equal(sum(r, 36), 0);         /* extended checksum */
	assert_memory_equal(r + 9, "WARDEN", 6);
	assert_int_equal(r[15], 2);              /* revision: 2.0+ */
	assert_int_equal(rd32(r + 20), 36);      /* length */
	assert_true(rd32(r + 16) != 0);          /* RSDT too, for 1.0 readers */
	assert_true(rd64(r + 24) != 0);
}

static void test_xsdt_and_rsdt_list_every_table(void **state)
{
	const uint8_t *r = gpa(build(), 36);
	const uint8_t *x = table(rd64(r + 24), "XSDT");
	const uint8_t *rs = table(rd32(r + 16), "RSDT");
	unsigned n = (rd32(x + 4) - 36) / 8;
	bool seen_facp = false, seen_apic = false, seen_mcfg = false;

	assert_int_equal(x[8], 1);
	assert_int_equal((rd32(rs + 4) - 36) / 4, n);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = rd64(x + 36 + 8 * i);
		const uint8_t *h = gpa(a, 4);

		assert_int_equal(rd32(rs + 36 + 4 * i), a);
		/* Every listed table checksums to zero. */
		table(a, (const char *)h);
		seen_facp |= !memcmp(h, "FACP", 4);
		seen_apic |= !memcmp(h, "APIC", 4);
		seen_mcfg |= !memcmp(h, "MCFG", 4);
	}
	assert_true(seen_facp && seen_apic && seen_mcfg);
}

static void test_fadt(void **state)
{
	const uint8_t *f = find("FACP");
	const uint8_t *facs;
	uint64_t dsdt;

	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);                       /* revision */
	assert_int_equal(rd16(f + 46), 9);               /* SCI_INT */
	assert_int_equal(rd32(f + 48), 0);               /* SMI_CMD: no SMM */
	assert_int_equal(rd32(f + 56), 0x600);           /* PM1a_EVT_BLK */
	assert_int_equal(rd32(f + 60), 0);               /* PM1b_EVT_BLK */
	assert_int_equal(rd32(f + 64), 0x604);           /* PM1a_CNT_BLK */
	assert_int_equal(rd32(f + 76), 0x608);           /* PM_TMR_BLK */
	assert_int_equal(rd32(f + 80), 0x620);           /* GPE0_BLK */
	assert_int_equal(f[88], 4);                      /* PM1_EVT_LEN */
	assert_int_equal(f[89], 2);                      /* PM1_CNT_LEN */
	assert_int_equal(f[91], 4);                      /* PM_TMR_LEN */
	assert_int_equal(f[92], 16);                     /* GPE0_BLK_LEN */
	/* No 8042, no legacy devices; no VGA, no CMOS RTC. */
	assert_int_equal(rd16(f + 109), 0x0024);
	/* WBINVD, fixed power button (PWR_BUTTON clear), 24-bit timer. */
	assert_true(rd32(f + 112) & (1u << 0));
	assert_false(rd32(f + 112) & (1u << 4));
	assert_false(rd32(f + 112) & (1u << 8));
	assert_false(rd32(f + 112) & (1u << 20));        /* not hardware-reduced */
	/* Reset through the i8042: SystemIO 0x64, 0xfe. */
	assert_true(rd32(f + 112) & (1u << 10));
	assert_int_equal(f[116], 1);
	assert_int_equal(f[117], 8);
	assert_int_equal(rd64(f + 120), 0x64);
	assert_int_equal(f[128], 0xfe);
	/* X_ blocks agree with the legacy ones. */
	assert_int_equal(f[148], 1);                     /* X_PM1a_EVT: SystemIO */
	assert_int_equal(f[149], 32);
	assert_int_equal(rd64(f + 152), 0x600);
	assert_int_equal(f[173], 16);                    /* X_PM1a_CNT */
	assert_int_equal(rd64(f + 176), 0x604);
	assert_int_equal(f[209], 32);                    /* X_PM_TMR */
	assert_int_equal(rd64(f + 212), 0x608);
	assert_int_equal(f[221], 128);                   /* X_GPE0 */
	assert_int_equal(rd64(f + 224), 0x620);
	assert_int_equal(rd64(f + 164), 0);              /* X_PM1b_EVT absent */
	/* DSDT and FACS, both ways of pointing. */
	dsdt = rd64(f + 140);
	assert_int_equal(rd32(f + 40), dsdt);
	table(dsdt, "DSDT");
	assert_int_equal(rd32(f + 36), rd64(f + 132));
	assert_int_equal(rd64(f + 132) % 64, 0);
	facs = gpa(rd64(f + 132), 64);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(rd32(facs + 4), 64);
	assert_int_equal(facs[32], 2);                   /* version */
}

static void test_madt(void **state)
{
	const uint8_t *m;
	const uint8_t *p, *end;
	unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	bool irq0 = false, sci = false;

	F->cfg.ncpus = 6;
	m = find("APIC");
	assert_int_equal(rd32(m + 36), 0xfee00000);
	assert_int_equal(rd32(m + 40), 0);               /* no 8259s */
	end = m + rd32(m + 4);
	for (p = m + 44; p < end; p += p[1]) {
		assert_true(p[1] >= 2 && p + p[1] <= end);
		switch (p[0]) {
		case 0:
			assert_int_equal(p[1], 8);
			assert_int_equal(p[2], lapics);      /* processor uid */
			assert_int_equal(p[3], lapics);      /* APIC id */
			assert_int_equal(rd32(p + 4), 1);    /* enabled */
			lapics++;
			break;
		case 1:
			assert_int_equal(p[1], 12);
			assert_int_equal(p[2], 0);
			assert_int_equal(rd32(p + 4), 0xfec00000);
			assert_int_equal(rd32(p + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(p[1], 10);
			assert_int_equal(p[2], 0);           /* ISA */
			if (p[3] == 0) {
				assert_int_equal(rd32(p + 4), 2);
				assert_int_equal(rd16(p + 8), 0);
				irq0 = true;
			} else if (p[3] == 9) {
				assert_int_equal(rd32(p + 4), 9);
				assert_int_equal(rd16(p + 8), 0x000d);   /* level, active high */
				sci = true;
			}
			isos++;
			break;
		case 4:
			assert_int_equal(p[2], 0xff);
			assert_int_equal(p[5], 1);           /* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", p[0]);
		}
	}
	assert_ptr_equal(p, end);
	assert_int_equal(lapics, 6);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 2);
	assert_int_equal(nmis, 1);
	assert_true(irq0 && sci);
}

static void test_mcfg(void **state)
{
	const uint8_t *m = find("MCFG");

	assert_int_equal(rd32(m + 4), 60);               /* one allocation */
	assert_int_equal(rd64(m + 44), 0xb0000000);
	assert_int_equal(rd16(m + 52), 0);               /* segment */
	assert_int_equal(m[54], 0);
	assert_int_equal(m[55], 255);
}

static void test_dsdt(void **state)
{
	const uint8_t *f = find("FACP");
	const uint8_t *d = table(rd64(f + 140), "DSDT");
	uint32_t len = rd32(d + 4);
	/* EisaId("PNP0A08") / ("PNP0A03") as AML DWord constants. */
	static const uint8_t pnp0a08[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	/* Name(\_S5_, Package(2) { Zero, Zero }) */
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x00, 0x00 };
	/* WordBusNumber 0-255 and the 32-bit window 0xc0000000-0xfebfffff. */
	static const uint8_t bus[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0xff, 0 };
	static const uint8_t mem[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0,
				       0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xbf, 0xfe };

	assert_int_equal(d[8], 2);                       /* 64-bit integers */
	assert_memory_equal(d + 16, "WARDENVM", 8);
	assert_true(len > 36 + 100);
	assert_true(contains(d, len, s5, sizeof(s5)));
	assert_true(contains(d, len, "_S5_", 4));
	assert_true(contains(d, len, "_SB_", 4));
	assert_true(contains(d, len, "PCI0", 4));
	assert_true(contains(d, len, pnp0a08, sizeof(pnp0a08)));
	assert_true(contains(d, len, pnp0a03, sizeof(pnp0a03)));
	assert_true(contains(d, len, "_UID", 4));
	assert_true(contains(d, len, "_SEG", 4));
	assert_true(contains(d, len, "_BBN", 4));
	assert_true(contains(d, len, "_CRS", 4));
	assert_true(contains(d, len, "_PRT", 4));
	assert_true(contains(d, len, bus, sizeof(bus)));
	assert_true(contains(d, len, mem, sizeof(mem)));
	/* The AML starts with the \_S5 Name. */
	assert_int_equal(d[36], 0x08);
}

static void test_dsdt_64bit_window(void **state)
{
	const uint8_t *f, *d;
	static const uint8_t q[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01 };

	F->cfg.pci_mmio64_base = 0x8000000000ull;
	F->cfg.pci_mmio64_end = 0x10000000000ull;
	f = find("FACP");
	d = table(rd64(f + 140), "DSDT");
	assert_true(contains(d, rd32(d + 4), q, sizeof(q)));
}

static void test_area_is_rewritten(void **state)
{
	const uint8_t *end;

	build();
	/* The 0xcc filler is gone from the whole area. */
	end = gpa(ACPI_TABLES_GPA, ACPI_TABLES_SIZE);
	assert_false(contains(end, ACPI_TABLES_SIZE, "\xcc\xcc\xcc\xcc", 4));
}

struct extra {
	unsigned calls;
	uint64_t at;
};

static int add_test_table(struct acpi_builder *b, void *opaque)
{
	struct extra *e = opaque;
	uint8_t t[48] = { 0 };

	e->calls++;
	acpi_table_header_init((struct acpi_table_header *)t, "TEST", 1);
	t[40] = 0x5a;
	return acpi_add_table(b, t, sizeof(t), &e->at);
}

static int add_too_many(struct acpi_builder *b, void *opaque)
{
	uint8_t t[36] = { 0 };
	int ret = 0;

	acpi_table_header_init((struct acpi_table_header *)t, "FILL", 1);
	while (ret == 0)
		ret = acpi_add_table(b, t, sizeof(t), NULL);
	return ret;
}

static void test_add_tables_hook(void **state)
{
	struct extra e = { 0 };
	const uint8_t *t;

	F->cfg.add_tables = add_test_table;
	F->cfg.add_tables_opaque = &e;
	t = find("TEST");
	assert_int_equal(e.calls, 1);
	assert_int_equal(rd32(t + 4), 48);
	assert_int_equal(t[40], 0x5a);
	assert_ptr_equal(t, gpa(e.at, 48));
	/* The hook's failure is the build's. */
	F->cfg.add_tables = add_too_many;
	assert_int_equal(acpi_build(&F->g, &F->cfg, &F->rsdp), -ENOSPC);
}

static int add_dmar(struct acpi_builder *b, void *opaque)
{
	return acpi_build_dmar(b, opaque);
}

/* The DMAR a VT-d driver parses: HAW, INTR_REMAP and x2APIC opt-out
 * flags, one DRHD for all of segment 0 at the unit's base, and the IOAPIC
 * scope naming ff:00.0 (what Linux's intel_irq_remapping checks). */
static void test_dmar(void **state)
{
	struct acpi_dmar_config dc = {
		.haw = 46, .intr_remap = true, .x2apic_opt_out = true,
		.reg_base = 0xfed90000, .ioapic_id = 0, .ioapic_sid = 0xff00,
	};
	const uint8_t *t, *d, *sc;

	F->cfg.add_tables = add_dmar;
	F->cfg.add_tables_opaque = &dc;
	t = find("DMAR");
	assert_int_equal(rd32(t + 4), 48 + 16 + 8);
	assert_int_equal(t[8], 1);              /* revision */
	assert_int_equal(t[36], 45);            /* HAW - 1 */
	assert_int_equal(t[37], 0x3);           /* INTR_REMAP | X2APIC_OPT_OUT */
	d = t + 48;
	assert_int_equal(rd16(d), 0);           /* DRHD */
	assert_int_equal(rd16(d + 2), 24);
	assert_int_equal(d[4], 1);              /* INCLUDE_PCI_ALL */
	assert_int_equal(rd16(d + 6), 0);       /* segment */
	assert_int_equal(rd64(d + 8), 0xfed90000);
	sc = d + 16;
	assert_int_equal(sc[0], 3);             /* IOAPIC */
	assert_int_equal(sc[1], 8);
	assert_int_equal(sc[4], 0);             /* enumeration id = IOAPIC id */
	assert_int_equal(sc[5], 0xff);          /* start bus */
	assert_int_equal(sc[6], 0);             /* device */
	assert_int_equal(sc[7], 0);             /* function */
	/* A misaligned register base or an impossible width is refused. */
	dc.reg_base = 0xfed90010;
	assert_int_equal(acpi_build(&F->g, &F->cfg, &F->rsdp), -EINVAL);
	dc.reg_base = 0xfed90000;
	dc.haw = 20;
	assert_int_equal(acpi_build(&F->g, &F->cfg, &F->rsdp), -EINVAL);
}

static void test_bad_config(void **state)
{
	struct acpi_config c;
	uint64_t r = 0x1234;
	struct gmem small;

	c = F->cfg;
	c.ncpus = 0;
	assert_int_equal(acpi_build(&F->g, &c, &r), -EINVAL);
	c.ncpus = 256;
	assert_int_equal(acpi_build(&F->g, &c, &r), -EINVAL);
	c = F->cfg;
	c.ecam_size = 0x8000000;           /* 128 buses for a 0-255 range */
	assert_int_equal(acpi_build(&F->g, &c, &r), -EINVAL);
	c = F->cfg;
	c.pci_mmio32_end = c.pci_mmio32_base;
	assert_int_equal(acpi_build(&F->g, &c, &r), -EINVAL);
	c = F->cfg;
	c.pci_io_base = 0x800;
	assert_int_equal(acpi_build(&F->g, &c, &r), -EINVAL);
	assert_int_equal(r, 0x1234);
	/* 255 CPUs is the most an 8-bit APIC id table holds. */
	c = F->cfg;
	c.ncpus = 255;
	assert_int_equal(acpi_build(&F->g, &c, &r), 0);
	/* A VM with RAM that does not reach the area. */
	assert_int_equal(gmem_init(&small, &F->a, 2, 2 * MiB), 0);
	small.ranges[0].size = 0x80000;
	assert_int_equal(acpi_build(&small, &F->cfg, &r), -EFAULT);
	small.ranges[0].size = 2 * MiB;
	gmem_destroy(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsdp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xsdt_and_rsdt_list_every_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fadt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mcfg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_64bit_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_area_is_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_tables_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dmar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
