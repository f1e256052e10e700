/* The ACPI DMAR table (Intel VT-d spec chapter 8) that announces the
 * guest-visible remapping unit: one DRHD with INCLUDE_PCI_ALL (every PCI
 * device of segment 0 sits behind it) whose device scope names the IOAPIC
 * by the requester id it uses for its interrupt messages, so a guest's
 * interrupt-remapping driver can program IRTEs whose source-id check
 * matches what the hardware sends. */
#ifndef WARDEN_VMM_ACPI_DMAR_H
#define WARDEN_VMM_ACPI_DMAR_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/acpi.h"

#define ACPI_DMAR_INTR_REMAP       0x1    /* DMAR flags */
#define ACPI_DMAR_X2APIC_OPT_OUT   0x2
#define ACPI_DMAR_TYPE_DRHD        0
#define ACPI_DRHD_INCLUDE_PCI_ALL  0x1
#define ACPI_DMAR_SCOPE_IOAPIC     3

struct acpi_dmar_config {
	unsigned haw;              /* host address width, bits (the table stores haw - 1) */
	bool intr_remap;
	bool x2apic_opt_out;       /* no EIM: xAPIC destinations only */
	uint64_t reg_base;         /* the unit's 4 KiB register block */
	uint8_t ioapic_id;         /* MADT IOAPIC id (enumeration id of the scope) */
	uint16_t ioapic_sid;       /* bus:dev.fn of the IOAPIC's messages */
};

/* Adds the DMAR to the tables being built (an acpi_config add_tables hook
 * calls it). 0 or -errno. */
int acpi_build_dmar(struct acpi_builder *b, const struct acpi_dmar_config *cfg);

#endif
