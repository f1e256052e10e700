/* The guest-visible VT-d (--viommu): the register block at 0xfed90000,
 * the DMAR table that announces it, the second stage every device behind
 * it translates through (nested: walked at miss time; shadow: composed on
 * the guest's invalidations), and interrupt remapping on every road an
 * interrupt takes (the VMM's own MSI deliveries, the IOAPIC's routes, the
 * irqfd routes of passthrough and virtio vectors).
 *
 * Two source-ids per device: the guest-visible one (bus 0, what the
 * guest's context entries and IRTEs name) and the host one (VM n's devices
 * on host bus n, unique on the shared host unit). */
#ifndef WARDEN_VMM_MACHINE_VIOMMU_H
#define WARDEN_VMM_MACHINE_VIOMMU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "iommu/dma.h"
#include "iommu/viommu.h"
#include "iommu/viommu_shadow.h"
#include "vmm/acpi.h"

#define MACHINE_VIOMMU_MAX_DEVS 16

struct machine;

struct machine_viommu {
	struct machine *m;
	struct viommu v;
	bool v_ready;
	struct viommu_shadow shadow;
	bool shadow_ready;
	struct vtd_stage2 stage2;           /* nested: guest sid -> host sid -> host domain */
	struct viommu_hooks hooks;
	struct msi_sink event_msi;          /* fault / completion events: not remapped */
	uint64_t irq_refreshes;
};

bool machine_viommu_enabled(const struct machine *m);
/* After the platform devices (MMIO bus, MSI sink), before the PCI devices.
 * Creates the VM's host domain if it has none yet. 0 or -errno. */
int machine_viommu_create(struct machine *m);
void machine_viommu_destroy(struct machine *m);
/* The DMA address space of a PCI device: behind the vIOMMU when there is
 * one (attached on the host unit as the mode needs), else the VM's direct
 * guest-physical space. guest_sid: its bus:dev.fn in the guest. */
int machine_viommu_dma_init(struct machine *m, struct dma_as *as, uint16_t guest_sid);
/* Interrupt remapping of a message from guest_sid: 0 and the message to
 * deliver in *addr / *data, or -EPERM when blocked (the fault recorded for
 * the guest unless probe: deriving a route is not an interrupt request).
 * Without a vIOMMU the message passes unchanged. */
int machine_viommu_remap(struct machine *m, uint16_t guest_sid, uint64_t *addr, uint32_t *data,
			 bool probe);
/* acpi_config.add_tables hook: the DMAR. */
int machine_viommu_acpi(struct acpi_builder *b, void *opaque);
void machine_viommu_print_stats(struct machine *m, FILE *out);

#endif
