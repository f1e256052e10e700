/* ACPI table lookup for the test guests: the RSDP (from the boot
 * information, else the BIOS areas), the RSDT/XSDT, and a table by its
 * signature. Every table handed out has passed its length and checksum
 * checks. Works in ring 0 and ring 3 (plain memory reads). */
#ifndef GUEST_RT_ACPI_H
#define GUEST_RT_ACPI_H

#include "rt.h"

struct acpi_sdt_header {
	char signature[4];
	uint32_t length;                /* whole table, header included */
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

#define ACPI_SDT_HEADER_LEN 36

/* The RSDP: rt_rsdp() when the loader gave one (PVH), else found by the
 * "RSD PTR " signature in the EBDA's first KiB or 0xE0000-0xFFFFF.
 * 0 if none has a valid checksum. Cached. */
uint64_t acpi_rsdp(void);
/* Where the RSDP came from: "boot info", "ebda", "bios area" or "none". */
const char *acpi_rsdp_source(void);
/* The nth (0-based) table with this 4-character signature listed in the
 * XSDT (revision >= 2 and an XSDT address) or else the RSDT; 0 if absent
 * or if its checksum is wrong. */
uint64_t acpi_find_table(const char *sig, unsigned nth);

#endif
