#include "vmm/acpi_dmar.h"

#include <errno.h>
#include <string.h>

struct acpi_dmar {
	struct acpi_table_header h;
	uint8_t host_address_width;        /* HAW - 1 */
	uint8_t flags;
	uint8_t reserved[10];
} __attribute__((packed));

struct acpi_dmar_drhd {
	uint16_t type;
	uint16_t length;
	uint8_t flags;
	uint8_t size;                      /* register set: 2^size 4 KiB pages */
	uint16_t segment;
	uint64_t reg_base;
} __attribute__((packed));

struct acpi_dmar_scope {
	uint8_t type;
	uint8_t length;
	uint16_t reserved;
	uint8_t enumeration_id;
	uint8_t start_bus;
	uint8_t path_dev, path_fn;         /* one path element: the device itself */
} __attribute__((packed));

struct acpi_dmar_table {
	struct acpi_dmar dmar;
	struct acpi_dmar_drhd drhd;
	struct acpi_dmar_scope ioapic;
} __attribute__((packed));

int acpi_build_dmar(struct acpi_builder *b, const struct acpi_dmar_config *cfg)
{
	struct acpi_dmar_table t;

	if (cfg->haw < 32 || cfg->haw > 64 || (cfg->reg_base & 0xfff))
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	acpi_table_header_init(&t.dmar.h, "DMAR", 1);
	t.dmar.host_address_width = (uint8_t)(cfg->haw - 1);
	t.dmar.flags = (cfg->intr_remap ? ACPI_DMAR_INTR_REMAP : 0) |
		       (cfg->x2apic_opt_out ? ACPI_DMAR_X2APIC_OPT_OUT : 0);
	t.drhd.type = ACPI_DMAR_TYPE_DRHD;
	t.drhd.length = sizeof(t.drhd) + sizeof(t.ioapic);
	t.drhd.flags = ACPI_DRHD_INCLUDE_PCI_ALL;
	t.drhd.reg_base = cfg->reg_base;
	/* INCLUDE_PCI_ALL covers PCI devices only: the IOAPIC must still be
	 * listed, with the bus:dev.fn its messages carry, or an OS cannot
	 * enable interrupt remapping for it. */
	t.ioapic.type = ACPI_DMAR_SCOPE_IOAPIC;
	t.ioapic.length = sizeof(t.ioapic);
	t.ioapic.enumeration_id = cfg->ioapic_id;
	t.ioapic.start_bus = (uint8_t)(cfg->ioapic_sid >> 8);
	t.ioapic.path_dev = (cfg->ioapic_sid >> 3) & 0x1f;
	t.ioapic.path_fn = cfg->ioapic_sid & 7;
	return acpi_add_table(b, &t, sizeof(t), NULL);
}
