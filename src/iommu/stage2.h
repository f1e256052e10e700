/* Second stages for nested translation (struct vtd_stage2, iommu/vtd.h).
 *
 * A guest-visible VT-d unit translates IOVA -> GPA through tables the guest
 * owns; its stage 2 turns the GPA into a host-physical address, only ever
 * inside the VM's RAM:
 *  - over a host struct iommu: the GPA is translated by the host unit with
 *    the device's own source-id, which the VMM attaches to the VM's host
 *    domain (IOVA = GPA, exactly the VM's RAM, iommu_domain_map_gmem). The
 *    host unit's IOTLB caches it, and its fault log records refusals that
 *    were not probes: second-stage faults are the host's business.
 *  - over a struct gmem: the VM's RAM layout itself, for tests and for
 *    machines without a host unit; everything else is refused.
 *
 * The objects must outlive every unit configured with them. The mapping a
 * second stage gives must not change while a guest unit uses it: combined
 * IOVA -> HPA entries are cached in the guest unit's IOTLB (docs/iommu.md). */
#ifndef WARDEN_IOMMU_STAGE2_H
#define WARDEN_IOMMU_STAGE2_H

#include <stdint.h>
#include "base/gmem.h"
#include "iommu/iommu.h"
#include "iommu/vtd.h"

struct stage2_gmem {
	const struct gmem *gmem;
	uint64_t refused;          /* requests outside the VM's RAM (probes excluded) */
};

/* Through the host unit of `host`; refusals are counted by its fault log. */
void stage2_init_host(struct vtd_stage2 *s2, struct iommu *host);
/* Straight through the VM's RAM layout; sg holds the refusal counter. */
void stage2_init_gmem(struct vtd_stage2 *s2, struct stage2_gmem *sg, const struct gmem *g);

#endif
