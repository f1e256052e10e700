/* ACPI tables for the q35-like machine (ACPI 6.0): RSDP, RSDT and XSDT,
 * FADT (revision 6) with FACS, a hand-emitted DSDT (\_S5 and the PCI
 * root bridge \_SB.PCI0 with _CRS and _PRT), MADT and MCFG, written into
 * guest RAM at [ACPI_TABLES_GPA, +ACPI_TABLES_SIZE), the range the E820
 * map reserves below the BIOS.
 *
 * Tables a later issue adds (DMAR for the vIOMMU, say) go through the
 * add_tables hook: it gets the builder and calls acpi_add_table(), which
 * places the table, fixes its length and checksum and lists it in the
 * RSDT/XSDT. Nothing else needs to change. */
#ifndef WARDEN_VMM_ACPI_H
#define WARDEN_VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "base/gmem.h"

#define ACPI_TABLES_GPA         0xe0000ull    /* RSDP here: the legacy scan finds it */
#define ACPI_TABLES_SIZE        0x20000ull
#define ACPI_MAX_TABLES         16            /* entries of the RSDT/XSDT */
#define ACPI_OEM_ID             "WARDEN"
#define ACPI_OEM_TABLE_ID       "WARDENVM"
#define ACPI_CREATOR_ID         "WRDN"

/* Every system description table starts with this (ACPI 6.0 5.2.6). */
struct acpi_table_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Host copy of the table area while it is being built. */
struct acpi_builder {
	uint8_t *buf;
	uint64_t gpa;                   /* guest address of buf[0] */
	size_t size, used;
	uint64_t tables[ACPI_MAX_TABLES];   /* listed in the RSDT/XSDT */
	unsigned ntables;
};

struct acpi_config {
	unsigned ncpus;                 /* Local APICs, APIC ids 0 .. ncpus - 1 (<= 255) */
	uint32_t lapic_addr;            /* 0xfee00000 */
	uint8_t ioapic_id;
	uint32_t ioapic_addr;           /* 0xfec00000 */
	uint32_t ioapic_gsi_base;       /* 0 */
	uint64_t ecam_base, ecam_size;  /* MCFG; also reserved as a motherboard resource */
	uint8_t ecam_bus_start, ecam_bus_end;
	/* ACPI PM block (devices/acpi_pm.h layout): PM1a_EVT +0 (4 bytes),
	 * PM1a_CNT +4 (2), PM_TMR +8 (4), GPE0 +0x20 (16). */
	uint16_t pm_base;
	uint8_t sci_irq;                /* ISA IRQ, level/active-high override */
	uint16_t reset_port;            /* FADT RESET_REG in I/O space; 0: none */
	uint8_t reset_value;
	/* PCI root bridge windows for _CRS, each [base, end): end exclusive. */
	uint64_t pci_mmio32_base, pci_mmio32_end;
	uint64_t pci_mmio64_base, pci_mmio64_end;   /* empty: no 64-bit window */
	uint32_t pci_io_base, pci_io_end;           /* BAR window, inside 0x0d00-0xffff */
	uint32_t pci_intx_gsi_base;                 /* _PRT: GSI of INTA at slot 0 */
	/* Optional: more tables, added with acpi_add_table(). */
	int (*add_tables)(struct acpi_builder *b, void *opaque);
	void *add_tables_opaque;
};

/* The machine's values (docs/architecture.md) for ncpus vCPUs: IOAPIC id
 * 0 at 0xfec00000, GSI base 0; LAPIC 0xfee00000; ECAM 0xb0000000, 256 MiB,
 * buses 0-255; PM base 0x600, SCI 9; reset through the i8042 (0x64,
 * 0xfe); PCI windows 0xc0000000-0xfec00000 and IO 0xc000-0x10000; INTx on
 * GSI 16-19. */
void acpi_config_default(struct acpi_config *cfg, unsigned ncpus);

/* Builds every table and writes the whole area into guest RAM; the RSDP's
 * address in *rsdp_gpa (for the PVH start info). 0, -EINVAL (config),
 * -ENOSPC (area full), -ENOMEM, -EFAULT (the area is not guest RAM) or
 * what add_tables returned. */
int acpi_build(const struct gmem *g, const struct acpi_config *cfg, uint64_t *rsdp_gpa);

/* Fills signature, revision and the OEM/creator fields. */
void acpi_table_header_init(struct acpi_table_header *h, const char *sig, uint8_t revision);
/* Copies a table of len bytes (header first, filled by the caller) into
 * the area, 16-byte aligned, sets its length and checksum, lists it in the
 * RSDT/XSDT; its guest address in *gpa (may be NULL). -ENOSPC. */
int acpi_add_table(struct acpi_builder *b, const void *table, size_t len, uint64_t *gpa);

#endif
