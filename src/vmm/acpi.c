/* ACPI table builder (ACPI 6.0). Layout of the area (all 16-byte aligned,
 * FACS 64):
 *   0xe0000  RSDP (revision 2: RSDT and XSDT)
 *            FACS, DSDT, FADT, MADT, MCFG, add_tables' tables, RSDT, XSDT
 * The DSDT is AML emitted by hand through the small encoder below (ACPI
 * 6.0 chapter 20): names, integers, packages, buffers, Scope and Device -
 * just what a static description needs, no methods. */
#include "vmm/acpi.h"
#include "base/log.h"
#include "devices/acpi_pm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- Table layouts (ACPI 6.0 chapter 5) ---- */

struct acpi_rsdp {
	char signature[8];              /* "RSD PTR " */
	uint8_t checksum;               /* first 20 bytes */
	char oem_id[6];
	uint8_t revision;               /* 2: ACPI 2.0+ */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;      /* whole structure */
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure (5.2.3.2). */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO      1
#define ACPI_GAS_ACCESS_BYTE    1
#define ACPI_GAS_ACCESS_WORD    2
#define ACPI_GAS_ACCESS_DWORD   3

/* FADT revision 6 (table 5-34). */
struct acpi_fadt {
	struct acpi_table_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");

#define ACPI_FADT_REVISION      6
#define ACPI_FADT_MINOR         0
/* Flags (table 5-35). */
#define ACPI_FADT_WBINVD        (1u << 0)
#define ACPI_FADT_PROC_C1       (1u << 2)
#define ACPI_FADT_SLP_BUTTON    (1u << 5)   /* no fixed-feature sleep button */
#define ACPI_FADT_FIX_RTC       (1u << 6)   /* no RTC wake status in PM1 */
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_PLATFORM_CLOCK (1u << 15)
/* IA-PC boot architecture flags (table 5-36). */
#define ACPI_IAPC_VGA_NOT_PRESENT  (1u << 2)
#define ACPI_IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)
/* "C2/C3 not supported" latencies (> 100 and > 1000 us). */
#define ACPI_FADT_NO_C2         0x0fff
#define ACPI_FADT_NO_C3         0x0fff

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS is 64 bytes");
#define ACPI_FACS_VERSION       2
#define ACPI_FACS_ALIGN         64

/* MADT (5.2.12). */
struct acpi_madt {
	struct acpi_table_header h;
	uint32_t lapic_addr;
	uint32_t flags;
} __attribute__((packed));
#define ACPI_MADT_REVISION      4

struct acpi_madt_lapic {
	uint8_t type, length;           /* 0, 8 */
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
#define ACPI_MADT_LAPIC_ENABLED 1

struct acpi_madt_ioapic {
	uint8_t type, length;           /* 1, 12 */
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct acpi_madt_iso {
	uint8_t type, length;           /* 2, 10 */
	uint8_t bus;                    /* 0: ISA */
	uint8_t source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));
/* MPS INTI flags: polarity 1:0 (01 active high), trigger 3:2 (11 level). */
#define ACPI_MPS_CONFORMS       0x0000
#define ACPI_MPS_LEVEL_HIGH     0x000d

struct acpi_madt_lapic_nmi {
	uint8_t type, length;           /* 4, 6 */
	uint8_t processor_uid;          /* 0xff: all */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

enum {
	ACPI_MADT_TYPE_LAPIC = 0, ACPI_MADT_TYPE_IOAPIC = 1, ACPI_MADT_TYPE_ISO = 2,
	ACPI_MADT_TYPE_LAPIC_NMI = 4,
};

/* MCFG (PCI Firmware 3.0 4.1.2). */
struct acpi_mcfg {
	struct acpi_table_header h;
	uint64_t reserved;
	uint64_t base;
	uint16_t segment;
	uint8_t bus_start, bus_end;
	uint32_t reserved1;
} __attribute__((packed));

/* ---- The builder ---- */

static uint8_t acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

/* Reserves len zeroed bytes; NULL when the area is full. */
static void *acpi_alloc(struct acpi_builder *b, size_t len, size_t align, uint64_t *gpa)
{
	size_t at = (b->used + align - 1) & ~(align - 1);

	if (at > b->size || len > b->size - at)
		return NULL;
	b->used = at + len;
	*gpa = b->gpa + at;
	return b->buf + at;
}

void acpi_table_header_init(struct acpi_table_header *h, const char *sig, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Places a table without listing it (the DSDT and FACS are reached
 * through the FADT). */
static int acpi_place(struct acpi_builder *b, const void *table, size_t len, uint64_t *gpa)
{
	struct acpi_table_header *h;
	uint64_t at;

	if (len < sizeof(*h) || len > UINT32_MAX)
		return -EINVAL;
	h = acpi_alloc(b, len, 16, &at);
	if (!h)
		return -ENOSPC;
	memcpy(h, table, len);
	h->length = (uint32_t)len;
	h->checksum = 0;
	h->checksum = (uint8_t)-acpi_sum(h, len);
	if (gpa)
		*gpa = at;
	return 0;
}

int acpi_add_table(struct acpi_builder *b, const void *table, size_t len, uint64_t *gpa)
{
	uint64_t at;
	int ret;

	if (b->ntables == ACPI_MAX_TABLES)
		return -ENOSPC;
	ret = acpi_place(b, table, len, &at);
	if (ret < 0)
		return ret;
	b->tables[b->ntables++] = at;
	if (gpa)
		*gpa = at;
	return 0;
}

/* ---- AML encoder (ACPI 6.0 chapter 20) ---- */

#define AML_ZERO_OP             0x00
#define AML_ONE_OP              0x01
#define AML_NAME_OP             0x08
#define AML_BYTE_PREFIX         0x0a
#define AML_WORD_PREFIX         0x0b
#define AML_DWORD_PREFIX        0x0c
#define AML_QWORD_PREFIX        0x0e
#define AML_SCOPE_OP            0x10
#define AML_BUFFER_OP           0x11
#define AML_PACKAGE_OP          0x12
#define AML_DUAL_NAME_PREFIX    0x2e
#define AML_MULTI_NAME_PREFIX   0x2f
#define AML_ROOT_CHAR           0x5c
#define AML_EXT_OP_PREFIX       0x5b
#define AML_DEVICE_OP           0x82   /* after AML_EXT_OP_PREFIX */
#define AML_PKGLEN_RESERVE      4      /* the longest PkgLength encoding */

struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
};

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* A NameString: optional leading '\', then dot-separated segments, each
 * padded to four characters with '_' (20.2.2). */
static void aml_name(struct aml *a, const char *path)
{
	const char *seg[8];
	unsigned n = 0;

	if (*path == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		path++;
	}
	for (const char *p = path; *p && n < 8; n++) {
		seg[n] = p;
		p = strchrnul(p, '.');
		if (*p)
			p++;
	}
	if (n == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (n > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)n);
	}
	for (unsigned i = 0; i < n; i++) {
		size_t len = strcspn(seg[i], ".");

		for (size_t c = 0; c < 4; c++)
			aml_byte(a, c < len ? (uint8_t)seg[i][c] : '_');
	}
}

static void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

/* EISA id "PNP0A08": three letters of five bits and four hex digits, the
 * 32-bit result stored big-endian (what iasl's EisaId() makes). */
static void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
		     (uint32_t)(id[2] - 0x40) << 16 | (uint32_t)strtoul(id + 3, NULL, 16);

	aml_byte(a, AML_DWORD_PREFIX);
	aml_le(a, __builtin_bswap32(v), 4);
}

/* Opens a construct that carries a PkgLength: the opcode, then room for
 * the longest encoding; aml_close() writes the real one and closes up. */
static size_t aml_open(struct aml *a, const uint8_t *op, size_t oplen)
{
	static const uint8_t hole[AML_PKGLEN_RESERVE];
	size_t at;

	aml_bytes(a, op, oplen);
	at = a->len;
	aml_bytes(a, hole, sizeof(hole));
	return at;
}

/* PkgLength (20.2.4) counts its own bytes: one byte up to 63, else a lead
 * byte holding the count of following bytes and the low nibble. */
static void aml_close(struct aml *a, size_t at)
{
	size_t body, total;
	unsigned n;

	if (a->overflow)
		return;
	body = a->len - at - AML_PKGLEN_RESERVE;
	for (n = 1; n <= AML_PKGLEN_RESERVE; n++) {
		total = body + n;
		if (n == 1 ? total < 0x40 : total < 1ull << (4 + 8 * (n - 1)))
			break;
	}
	if (n > AML_PKGLEN_RESERVE) {
		a->overflow = true;
		return;
	}
	if (n == 1) {
		a->buf[at] = (uint8_t)total;
	} else {
		a->buf[at] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (unsigned i = 1; i < n; i++)
			a->buf[at + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + at + n, a->buf + at + AML_PKGLEN_RESERVE, body);
	a->len -= AML_PKGLEN_RESERVE - n;
}

static size_t aml_open_op(struct aml *a, uint8_t op)
{
	return aml_open(a, &op, 1);
}

static size_t aml_open_device(struct aml *a, const char *name)
{
	static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };
	size_t at = aml_open(a, op, sizeof(op));

	aml_name(a, name);
	return at;
}

static size_t aml_open_scope(struct aml *a, const char *name)
{
	size_t at = aml_open_op(a, AML_SCOPE_OP);

	aml_name(a, name);
	return at;
}

static void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, AML_NAME_OP);
	aml_name(a, name);
	aml_int(a, v);
}

static void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_byte(a, AML_NAME_OP);
	aml_name(a, name);
	aml_eisaid(a, id);
}

/* Name(name, Buffer() { bytes }) - a ResourceTemplate is one. */
static void aml_name_buffer(struct aml *a, const char *name, const uint8_t *p, size_t len)
{
	size_t at;

	aml_byte(a, AML_NAME_OP);
	aml_name(a, name);
	at = aml_open_op(a, AML_BUFFER_OP);
	aml_int(a, len);
	aml_bytes(a, p, len);
	aml_close(a, at);
}

/* ---- Resource descriptors (6.4) ---- */

#define RES_IO_PORT             0x47   /* small, 7 bytes */
#define RES_END_TAG             0x79   /* small, 1 byte of checksum */
#define RES_MEM32_FIXED         0x86   /* large */
#define RES_DWORD_SPACE         0x87
#define RES_WORD_SPACE          0x88
#define RES_QWORD_SPACE         0x8a
#define RES_SPACE_MEM           0
#define RES_SPACE_IO            1
#define RES_SPACE_BUS           2
/* General flags: producer, positive decode, min and max fixed. */
#define RES_FLAGS_FIXED_WINDOW  0x0c
#define RES_IO_ENTIRE_RANGE     0x03
#define RES_MEM_RW              0x01   /* non-cacheable, read/write */

struct res {
	uint8_t buf[512];
	size_t len;
	bool overflow;
};

static void res_le(struct res *r, uint64_t v, unsigned n)
{
	if (n > sizeof(r->buf) - r->len) {
		r->overflow = true;
		return;
	}
	for (unsigned i = 0; i < n; i++)
		r->buf[r->len++] = (uint8_t)(v >> (8 * i));
}

/* Word/DWord/QWord address space descriptor (6.4.3.5.1-3): a window the
 * bridge forwards, [min, max]. */
static void res_space(struct res *r, uint8_t tag, unsigned width, uint8_t type, uint8_t tflags,
		      uint64_t min, uint64_t max)
{
	res_le(r, tag, 1);
	res_le(r, 3 + 5 * width, 2);
	res_le(r, type, 1);
	res_le(r, RES_FLAGS_FIXED_WINDOW, 1);
	res_le(r, tflags, 1);
	res_le(r, 0, width);            /* granularity */
	res_le(r, min, width);
	res_le(r, max, width);
	res_le(r, 0, width);            /* translation */
	res_le(r, max - min + 1, width);
}

static void res_io_port(struct res *r, uint16_t base, uint8_t len)
{
	res_le(r, RES_IO_PORT, 1);
	res_le(r, 1, 1);                /* 16-bit decode */
	res_le(r, base, 2);
	res_le(r, base, 2);
	res_le(r, 1, 1);                /* alignment */
	res_le(r, len, 1);
}

static void res_mem32_fixed(struct res *r, uint32_t base, uint32_t len)
{
	res_le(r, RES_MEM32_FIXED, 1);
	res_le(r, 9, 2);
	res_le(r, RES_MEM_RW, 1);
	res_le(r, base, 4);
	res_le(r, len, 4);
}

static void res_end(struct res *r)
{
	res_le(r, RES_END_TAG, 1);
	res_le(r, 0, 1);                /* checksum 0: "correct" (6.4.2.9) */
}

/* ---- DSDT ---- */

#define PCI_CONFIG_PORTS        0xcf8
#define PCI_CONFIG_PORTS_LEN    8
#define PCI_SLOTS               32

/* The root bridge forwards all buses, all of port space except the config
 * ports, and the MMIO windows; it consumes the config ports itself. */
static int acpi_pci0_crs(const struct acpi_config *cfg, struct res *r)
{
	res_space(r, RES_WORD_SPACE, 2, RES_SPACE_BUS, 0, 0, 0xff);
	res_io_port(r, PCI_CONFIG_PORTS, PCI_CONFIG_PORTS_LEN);
	res_space(r, RES_WORD_SPACE, 2, RES_SPACE_IO, RES_IO_ENTIRE_RANGE, 0, PCI_CONFIG_PORTS - 1);
	res_space(r, RES_WORD_SPACE, 2, RES_SPACE_IO, RES_IO_ENTIRE_RANGE,
		  PCI_CONFIG_PORTS + PCI_CONFIG_PORTS_LEN, 0xffff);
	res_space(r, RES_DWORD_SPACE, 4, RES_SPACE_MEM, RES_MEM_RW, cfg->pci_mmio32_base,
		  cfg->pci_mmio32_end - 1);
	if (cfg->pci_mmio64_end > cfg->pci_mmio64_base)
		res_space(r, RES_QWORD_SPACE, 8, RES_SPACE_MEM, RES_MEM_RW, cfg->pci_mmio64_base,
			  cfg->pci_mmio64_end - 1);
	res_end(r);
	return r->overflow ? -ENOSPC : 0;
}

/* _PRT (6.2.13): slot s pin p (0 = INTA) -> GSI base + ((s + p) & 3), the
 * swizzle the host bridge wires (pci_host.c). A GSI entry means level,
 * active low; the IOAPIC model leaves polarity to the board. */
static void acpi_pci0_prt(struct aml *a, const struct acpi_config *cfg)
{
	size_t prt;

	aml_byte(a, AML_NAME_OP);
	aml_name(a, "_PRT");
	prt = aml_open_op(a, AML_PACKAGE_OP);
	aml_byte(a, PCI_SLOTS * 4);
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t e = aml_open_op(a, AML_PACKAGE_OP);

			aml_byte(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff);  /* any function */
			aml_int(a, pin);
			aml_int(a, 0);                              /* source: GSI */
			aml_int(a, cfg->pci_intx_gsi_base + ((slot + pin) & 3));
			aml_close(a, e);
		}
	}
	aml_close(a, prt);
}

static int acpi_dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	struct res crs = { .len = 0 }, mres = { .len = 0 };
	size_t s5, sb, pci0, mrd;
	int ret;

	/* \_S5: SLP_TYP for PM1a and PM1b (ACPI 7.4.2); acpi_pm powers off on
	 * SLP_TYP ACPI_SLP_TYP_S5 with SLP_EN. */
	aml_byte(a, AML_NAME_OP);
	aml_name(a, "\\_S5");
	s5 = aml_open_op(a, AML_PACKAGE_OP);
	aml_byte(a, 2);
	aml_int(a, ACPI_SLP_TYP_S5);
	aml_int(a, ACPI_SLP_TYP_S5);
	aml_close(a, s5);

	sb = aml_open_scope(a, "\\_SB");
	pci0 = aml_open_device(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");      /* PCI Express root bridge */
	aml_name_eisaid(a, "_CID", "PNP0A03");      /* PCI root bridge */
	aml_name_int(a, "_UID", 0);
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_BBN", 0);
	ret = acpi_pci0_crs(cfg, &crs);
	if (ret < 0)
		return ret;
	aml_name_buffer(a, "_CRS", crs.buf, crs.len);
	acpi_pci0_prt(a, cfg);
	aml_close(a, pci0);

	/* The ECAM window as a motherboard resource: Linux uses MMCONFIG
	 * only where E820 or a PNP0C01/PNP0C02 _CRS reserves it. */
	mrd = aml_open_device(a, "MRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_int(a, "_UID", 0);
	res_mem32_fixed(&mres, (uint32_t)cfg->ecam_base, (uint32_t)cfg->ecam_size);
	res_end(&mres);
	aml_name_buffer(a, "_CRS", mres.buf, mres.len);
	aml_close(a, mrd);
	aml_close(a, sb);
	return a->overflow || mres.overflow ? -ENOSPC : 0;
}

static int acpi_build_dsdt(struct acpi_builder *b, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct acpi_table_header *h;
	struct aml a = { 0 };
	int ret;

	a.cap = 64 * 1024;
	a.buf = malloc(a.cap);
	if (!a.buf)
		return -ENOMEM;
	h = (struct acpi_table_header *)a.buf;
	memset(h, 0, sizeof(*h));
	/* Revision 2: 64-bit integers (ACPI 6.0 5.2.11.1). */
	acpi_table_header_init(h, "DSDT", 2);
	a.len = sizeof(*h);
	ret = acpi_dsdt_body(&a, cfg);
	if (ret == 0)
		ret = acpi_place(b, a.buf, a.len, gpa);
	free(a.buf);
	return ret;
}

/* ---- Fixed tables ---- */

static struct acpi_gas acpi_gas_io(uint16_t port, uint8_t len, uint8_t access)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_SYSTEM_IO, .bit_width = (uint8_t)(len * 8),
		.access_size = access, .address = port,
	};
}

static int acpi_build_facs(struct acpi_builder *b, uint64_t *gpa)
{
	struct acpi_facs *f = acpi_alloc(b, sizeof(*f), ACPI_FACS_ALIGN, gpa);

	if (!f)
		return -ENOSPC;
	memcpy(f->signature, "FACS", 4);
	f->length = sizeof(*f);
	f->version = ACPI_FACS_VERSION;
	return 0;
}

static int acpi_build_fadt(struct acpi_builder *b, const struct acpi_config *cfg, uint64_t facs,
			   uint64_t dsdt)
{
	struct acpi_fadt f = { 0 };
	uint16_t pm = cfg->pm_base;

	acpi_table_header_init(&f.h, "FACP", ACPI_FADT_REVISION);
	f.minor_version = ACPI_FADT_MINOR;
	f.firmware_ctrl = (uint32_t)facs;
	f.x_firmware_ctrl = facs;
	f.dsdt = (uint32_t)dsdt;
	f.x_dsdt = dsdt;
	f.sci_int = cfg->sci_irq;
	/* SMI_CMD 0: no SMM, the machine is in ACPI mode from reset (the PM
	 * device sets SCI_EN), so there is nothing to hand over. */
	f.smi_cmd = 0;
	f.pm1a_evt_blk = pm + ACPI_PM1_STS;
	f.pm1a_cnt_blk = pm + ACPI_PM1_CNT;
	f.pm_tmr_blk = pm + ACPI_PM_TMR;
	f.gpe0_blk = pm + ACPI_GPE0_STS;
	f.pm1_evt_len = 4;
	f.pm1_cnt_len = 2;
	f.pm_tmr_len = 4;
	f.gpe0_blk_len = 2 * ACPI_GPE0_HALF;
	f.p_lvl2_lat = ACPI_FADT_NO_C2;
	f.p_lvl3_lat = ACPI_FADT_NO_C3;
	/* No legacy ISA devices, no 8042 (only its reset line), no VGA, no
	 * CMOS RTC: the OS must not probe for them. */
	f.iapc_boot_arch = ACPI_IAPC_VGA_NOT_PRESENT | ACPI_IAPC_CMOS_RTC_NOT_PRESENT;
	/* PWR_BUTTON clear: the power button is the fixed-feature one the PM
	 * device has (PWRBTN_STS); there is no sleep button. */
	f.flags = ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_SLP_BUTTON | ACPI_FADT_FIX_RTC |
		  ACPI_FADT_PLATFORM_CLOCK;
	if (cfg->reset_port) {
		f.flags |= ACPI_FADT_RESET_REG_SUP;
		f.reset_reg = acpi_gas_io(cfg->reset_port, 1, ACPI_GAS_ACCESS_BYTE);
		f.reset_value = cfg->reset_value;
	}
	f.x_pm1a_evt_blk = acpi_gas_io(f.pm1a_evt_blk, f.pm1_evt_len, ACPI_GAS_ACCESS_WORD);
	f.x_pm1a_cnt_blk = acpi_gas_io(f.pm1a_cnt_blk, f.pm1_cnt_len, ACPI_GAS_ACCESS_WORD);
	f.x_pm_tmr_blk = acpi_gas_io(f.pm_tmr_blk, f.pm_tmr_len, ACPI_GAS_ACCESS_DWORD);
	f.x_gpe0_blk = acpi_gas_io(f.gpe0_blk, f.gpe0_blk_len, ACPI_GAS_ACCESS_BYTE);
	return acpi_add_table(b, &f, sizeof(f), NULL);
}

static int acpi_build_madt(struct acpi_builder *b, const struct acpi_config *cfg)
{
	size_t len = sizeof(struct acpi_madt) + cfg->ncpus * sizeof(struct acpi_madt_lapic) +
		     sizeof(struct acpi_madt_ioapic) + 2 * sizeof(struct acpi_madt_iso) +
		     sizeof(struct acpi_madt_lapic_nmi);
	uint8_t *t = calloc(1, len), *p;
	struct acpi_madt *m = (struct acpi_madt *)t;
	struct acpi_madt_ioapic io = {
		.type = ACPI_MADT_TYPE_IOAPIC, .length = sizeof(io), .ioapic_id = cfg->ioapic_id,
		.address = cfg->ioapic_addr, .gsi_base = cfg->ioapic_gsi_base,
	};
	/* IRQ0 (the PIT's) is on pin 2, as on every PC; SCI is level,
	 * active high, as the PM device drives it. */
	struct acpi_madt_iso iso[2] = {
		{ .type = ACPI_MADT_TYPE_ISO, .length = sizeof(iso[0]), .source = 0,
		  .gsi = cfg->ioapic_gsi_base + 2, .flags = ACPI_MPS_CONFORMS },
		{ .type = ACPI_MADT_TYPE_ISO, .length = sizeof(iso[0]), .source = cfg->sci_irq,
		  .gsi = cfg->ioapic_gsi_base + cfg->sci_irq, .flags = ACPI_MPS_LEVEL_HIGH },
	};
	/* LINT1 of every processor is NMI, as the PC wires it. */
	struct acpi_madt_lapic_nmi nmi = {
		.type = ACPI_MADT_TYPE_LAPIC_NMI, .length = sizeof(nmi), .processor_uid = 0xff,
		.flags = ACPI_MPS_CONFORMS, .lint = 1,
	};
	int ret;

	if (!t)
		return -ENOMEM;
	acpi_table_header_init(&m->h, "APIC", ACPI_MADT_REVISION);
	m->lapic_addr = cfg->lapic_addr;
	/* flags 0: no dual 8259 (split irqchip, KVM has no PIC here). */
	p = t + sizeof(*m);
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		struct acpi_madt_lapic l = {
			.type = ACPI_MADT_TYPE_LAPIC, .length = sizeof(l), .processor_uid = (uint8_t)i,
			.apic_id = (uint8_t)i, .flags = ACPI_MADT_LAPIC_ENABLED,
		};

		memcpy(p, &l, sizeof(l));
		p += sizeof(l);
	}
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	memcpy(p, iso, sizeof(iso));
	p += sizeof(iso);
	memcpy(p, &nmi, sizeof(nmi));
	ret = acpi_add_table(b, t, len, NULL);
	free(t);
	return ret;
}

static int acpi_build_mcfg(struct acpi_builder *b, const struct acpi_config *cfg)
{
	struct acpi_mcfg m = { 0 };

	acpi_table_header_init(&m.h, "MCFG", 1);
	m.base = cfg->ecam_base;
	m.segment = 0;
	m.bus_start = cfg->ecam_bus_start;
	m.bus_end = cfg->ecam_bus_end;
	return acpi_add_table(b, &m, sizeof(m), NULL);
}

/* RSDT (32-bit entries, for ACPI 1.0 readers) and XSDT list the same
 * tables; everything sits below 1 MiB, so both can. */
static int acpi_build_roots(struct acpi_builder *b, uint64_t *rsdt, uint64_t *xsdt)
{
	size_t hl = sizeof(struct acpi_table_header);
	uint8_t t[sizeof(struct acpi_table_header) + 8 * ACPI_MAX_TABLES] = { 0 };
	int ret;

	acpi_table_header_init((struct acpi_table_header *)t, "RSDT", 1);
	for (unsigned i = 0; i < b->ntables; i++) {
		uint32_t a = (uint32_t)b->tables[i];

		memcpy(t + hl + 4 * i, &a, 4);
	}
	ret = acpi_place(b, t, hl + 4 * b->ntables, rsdt);
	if (ret < 0)
		return ret;
	memset(t, 0, sizeof(t));
	acpi_table_header_init((struct acpi_table_header *)t, "XSDT", 1);
	memcpy(t + hl, b->tables, 8 * b->ntables);
	return acpi_place(b, t, hl + 8 * b->ntables, xsdt);
}

static void acpi_fill_rsdp(struct acpi_rsdp *r, uint64_t rsdt, uint64_t xsdt)
{
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, ACPI_OEM_ID, 6);
	r->revision = 2;
	r->rsdt_address = (uint32_t)rsdt;
	r->length = sizeof(*r);
	r->xsdt_address = xsdt;
	r->checksum = (uint8_t)-acpi_sum(r, 20);
	r->extended_checksum = (uint8_t)-acpi_sum(r, sizeof(*r));
}

/* ---- Entry points ---- */

void acpi_config_default(struct acpi_config *cfg, unsigned ncpus)
{
	*cfg = (struct acpi_config){
		.ncpus = ncpus,
		.lapic_addr = 0xfee00000u,
		.ioapic_id = 0,
		.ioapic_addr = 0xfec00000u,
		.ioapic_gsi_base = 0,
		.ecam_base = 0xb0000000ull,
		.ecam_size = 0x10000000ull,
		.ecam_bus_start = 0,
		.ecam_bus_end = 255,
		.pm_base = ACPI_PM_BASE,
		.sci_irq = ACPI_PM_SCI_IRQ,
		.reset_port = 0x64,         /* i8042 pulse-reset command */
		.reset_value = 0xfe,
		.pci_mmio32_base = 0xc0000000ull,
		.pci_mmio32_end = 0xfec00000ull,
		.pci_io_base = 0xc000,
		.pci_io_end = 0x10000,
		.pci_intx_gsi_base = 16,
	};
}

static bool acpi_config_valid(const struct acpi_config *c)
{
	uint64_t buses = (uint64_t)c->ecam_bus_end - c->ecam_bus_start + 1;

	if (c->ncpus == 0 || c->ncpus > 255 || !c->pm_base)
		return false;
	/* MCFG: 1 MiB of ECAM per bus; Memory32Fixed reserves it. */
	if (c->ecam_bus_end < c->ecam_bus_start || c->ecam_size != buses << 20 ||
	    c->ecam_base + c->ecam_size > 1ull << 32 || c->ecam_base % (1ull << 20))
		return false;
	if (c->pci_mmio32_end <= c->pci_mmio32_base || c->pci_mmio32_end > 1ull << 32)
		return false;
	if (c->pci_io_end <= c->pci_io_base || c->pci_io_end > 0x10000 ||
	    c->pci_io_base < PCI_CONFIG_PORTS + PCI_CONFIG_PORTS_LEN)
		return false;
	/* _PRT GSIs must be IOAPIC pins with room for the swizzle. */
	return c->pci_intx_gsi_base + 3 <= 0xff && c->sci_irq < 16;
}

int acpi_build(const struct gmem *g, const struct acpi_config *cfg, uint64_t *rsdp_gpa)
{
	struct acpi_builder b = { .gpa = ACPI_TABLES_GPA, .size = ACPI_TABLES_SIZE };
	uint64_t rsdp, facs, dsdt, rsdt, xsdt;
	struct acpi_rsdp *r;
	int ret;

	if (!acpi_config_valid(cfg)) {
		log_error("acpi: invalid configuration (%u CPUs, ECAM 0x%llx +0x%llx buses %u-%u)",
			  cfg->ncpus, (unsigned long long)cfg->ecam_base,
			  (unsigned long long)cfg->ecam_size, cfg->ecam_bus_start, cfg->ecam_bus_end);
		return -EINVAL;
	}
	b.buf = calloc(1, b.size);
	if (!b.buf)
		return -ENOMEM;
	/* The RSDP first: on a 16-byte boundary in 0xe0000-0xfffff, where the
	 * legacy scan of multiboot guests looks (ACPI 6.0 5.2.5.1). */
	r = acpi_alloc(&b, sizeof(*r), 16, &rsdp);
	ret = r ? 0 : -ENOSPC;
	if (!ret)
		ret = acpi_build_facs(&b, &facs);
	if (!ret)
		ret = acpi_build_dsdt(&b, cfg, &dsdt);
	if (!ret)
		ret = acpi_build_fadt(&b, cfg, facs, dsdt);
	if (!ret)
		ret = acpi_build_madt(&b, cfg);
	if (!ret)
		ret = acpi_build_mcfg(&b, cfg);
	if (!ret && cfg->add_tables)
		ret = cfg->add_tables(&b, cfg->add_tables_opaque);
	if (!ret)
		ret = acpi_build_roots(&b, &rsdt, &xsdt);
	if (ret < 0) {
		log_error("acpi: building the tables: %s", strerror(-ret));
		goto out;
	}
	acpi_fill_rsdp(r, rsdt, xsdt);
	/* The whole area, so nothing of an earlier boot is left behind. */
	ret = gmem_write(g, b.gpa, b.buf, b.size);
	if (ret < 0) {
		log_error("acpi: tables at 0x%llx: guest RAM does not cover them: %s",
			  (unsigned long long)b.gpa, strerror(-ret));
		goto out;
	}
	if (rsdp_gpa)
		*rsdp_gpa = rsdp;
out:
	free(b.buf);
	return ret;
}
