/* ACPI RSDP/RSDT/XSDT walking; see acpi.h. */
#include "acpi.h"

#define RSDP_SIG          "RSD PTR "
#define RSDP_V1_LEN       20
#define RSDP_V2_LEN       36
#define BDA_EBDA_SEGMENT  0x40e
#define BIOS_AREA_START   0xe0000ull
#define BIOS_AREA_END     0x100000ull
#define FOUR_GIB          0x100000000ull
/* Nothing in these guests' firmware tables comes near this; a larger
 * length is corruption, and summing it would walk off mapped memory. */
#define TABLE_MAX_LEN     (1u << 20)

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;               /* over the first 20 bytes */
	char oem_id[6];
	uint8_t revision;               /* 0: ACPI 1.0 (RSDT only), 2: XSDT too */
	uint32_t rsdt;
	uint32_t length;                /* revision >= 2 */
	uint64_t xsdt;
	uint8_t ext_checksum;           /* over length bytes */
	uint8_t reserved[3];
} __attribute__((packed));

static uint64_t rsdp_addr;
static const char *rsdp_from = "none";
static bool rsdp_searched;

static uint8_t sum_bytes(uint64_t addr, uint32_t len)
{
	const volatile uint8_t *p = (const volatile uint8_t *)addr;
	uint8_t s = 0;

	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static bool rsdp_valid(uint64_t a)
{
	const struct acpi_rsdp *r = (const struct acpi_rsdp *)a;

	if (memcmp(r->signature, RSDP_SIG, 8) || sum_bytes(a, RSDP_V1_LEN))
		return false;
	/* The extended checksum only where the extension exists. */
	if (r->revision >= 2 && (r->length < RSDP_V2_LEN || r->length > 4096 ||
				 sum_bytes(a, r->length)))
		return false;
	return true;
}

/* The spec puts the RSDP on a 16-byte boundary. */
static uint64_t scan(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a + RSDP_V1_LEN <= end; a += 16)
		if (rsdp_valid(a))
			return a;
	return 0;
}

uint64_t acpi_rsdp(void)
{
	uint64_t a, ebda;

	if (rsdp_searched)
		return rsdp_addr;
	rsdp_searched = true;
	a = rt_rsdp();
	if (a && a < FOUR_GIB && rsdp_valid(a)) {
		rsdp_from = "boot info";
		return rsdp_addr = a;
	}
	/* Hidden from the compiler, which takes a pointer this low for a
	 * null-pointer offset. */
	uint64_t bda = BDA_EBDA_SEGMENT;
	RT_OPAQUE(bda);
	ebda = (uint64_t)*(const volatile uint16_t *)bda << 4;
	if (ebda >= 0x80000 && ebda < 0xa0000 && (a = scan(ebda, ebda + 1024))) {
		rsdp_from = "ebda";
		return rsdp_addr = a;
	}
	if ((a = scan(BIOS_AREA_START, BIOS_AREA_END))) {
		rsdp_from = "bios area";
		return rsdp_addr = a;
	}
	return 0;
}

const char *acpi_rsdp_source(void)
{
	acpi_rsdp();
	return rsdp_from;
}

static bool table_valid(uint64_t a)
{
	const struct acpi_sdt_header *h = (const struct acpi_sdt_header *)a;

	if (!a || a + ACPI_SDT_HEADER_LEN > FOUR_GIB)
		return false;
	if (h->length < ACPI_SDT_HEADER_LEN || h->length > TABLE_MAX_LEN || a + h->length > FOUR_GIB)
		return false;
	return sum_bytes(a, h->length) == 0;
}

uint64_t acpi_find_table(const char *sig, unsigned nth)
{
	uint64_t rp = acpi_rsdp(), root;
	const struct acpi_rsdp *r = (const struct acpi_rsdp *)rp;
	unsigned entry_len;

	if (!rp)
		return 0;
	if (r->revision >= 2 && r->xsdt && table_valid(r->xsdt)) {
		root = r->xsdt;
		entry_len = 8;
	} else if (table_valid(r->rsdt)) {
		root = r->rsdt;
		entry_len = 4;
	} else {
		return 0;
	}
	const struct acpi_sdt_header *rh = (const struct acpi_sdt_header *)root;
	unsigned n = (rh->length - ACPI_SDT_HEADER_LEN) / entry_len;
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = root + ACPI_SDT_HEADER_LEN + (uint64_t)i * entry_len;
		uint64_t t = 0;

		/* XSDT entries sit at offset 36: 8-byte values, 4-byte aligned. */
		memcpy(&t, (const void *)e, entry_len);
		if (!table_valid(t) || memcmp(((const struct acpi_sdt_header *)t)->signature, sig, 4))
			continue;
		if (nth-- == 0)
			return t;
	}
	return 0;
}
