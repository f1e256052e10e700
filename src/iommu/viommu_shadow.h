/* Shadow translation for devices behind a guest-visible VT-d unit.
 *
 * The vIOMMU advertises Caching Mode, so the guest invalidates after every
 * change of its tables, not-present -> present included. On each such
 * invalidation the composer brings a "shadow" host domain - one per guest
 * domain id (and table), in host-owned tables - in line with what the
 * guest's tables now say: guest IOVA -> GPA -> HPA, only for the VM's RAM,
 * with the guest's R/W, never a page more than the guest mapped. Devices
 * then DMA through the host unit, single stage (dma_as_init_shadow).
 *
 * The guest unit's own state decides where each device goes: translation
 * off or a pass-through context -> the VM's identity domain (IOVA = GPA);
 * a translated context -> the shadow domain of its DID and table; no valid
 * context -> detached, so the host blocks it and the DMA path asks the
 * guest unit, which records the guest's fault.
 *
 * The VMM calls the hooks from the vIOMMU's register/queue emulation:
 * context_changed after SRTP, TE changes and context-cache invalidations;
 * iotlb_invalidated for each IOTLB invalidation, before completing the
 * guest's invalidation wait. Host invalidations are strict: when a hook
 * returns, no DMA can use what the guest took away.
 *
 * Resyncs are differential: within the invalidated range only what changed
 * is unmapped and mapped, so a domain-selective flush does not make the
 * domain's live mappings fault meanwhile. Work is bounded: at most
 * max_entries guest entries read per guest action - every hook and domain
 * of one queued-invalidation pass together when the caller marks the
 * passes (cfg.passes, viommu_shadow_pass_done()), else per hook call -
 * beyond which the rest of a range is left unmapped (faults, never stale
 * access); and at most max_tables host table pages for all shadow domains
 * together. Without a budget per pass, a guest queueing hundreds of global
 * invalidations over tables that alias themselves held its vCPU in one
 * exit for minutes (found by fuzz_viommu).
 *
 * Threading: the hooks serialise on the composer's lock; DMA runs
 * concurrently through the host unit. */
#ifndef WARDEN_IOMMU_VIOMMU_SHADOW_H
#define WARDEN_IOMMU_VIOMMU_SHADOW_H

#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>
#include "base/gmem.h"
#include "iommu/iommu.h"
#include "iommu/vtd.h"

#define VIOMMU_SHADOW_MAX_DEVS    32
#define VIOMMU_SHADOW_MAX_ENTRIES (1ull << 22)   /* default entry budget per guest action */

/* Invalidation granularity (the IOTLB invalidation's IIRG / descriptor's
 * G), numbered as enum viommu_inv_gran of iommu/viommu.h. */
enum viommu_shadow_gran {
	VIOMMU_SHADOW_INV_GLOBAL = 0,
	VIOMMU_SHADOW_INV_DOMAIN = 1,
	VIOMMU_SHADOW_INV_PAGE   = 2,
};

struct viommu_shadow_cfg {
	struct vtd_unit *guest;             /* the guest-visible unit (tables in guest RAM) */
	struct iommu *host;                 /* the host unit shadow domains live on */
	const struct gmem *gmem;            /* the VM's RAM: the only GPAs shadowed */
	int vm_id;
	struct iommu_domain *identity;      /* the VM's IOVA = GPA domain; NULL: block instead */
	uint64_t max_entries;               /* 0: VIOMMU_SHADOW_MAX_ENTRIES */
	bool passes;                        /* the budget renews at viommu_shadow_pass_done() only */
	uint64_t max_tables;                /* 0: 4 per 2 MiB of RAM, plus 256 */
};

struct viommu_shadow_stats {
	uint64_t syncs;                     /* IOTLB invalidations handled */
	uint64_t composes;                  /* shadow domains composed from scratch */
	uint64_t attaches;                  /* device (re)attachments */
	uint64_t pages_mapped, pages_unmapped;   /* 4 KiB pages */
	uint64_t refused;                   /* guest mappings left unmapped: not RAM, policy, limits */
	uint64_t truncated;                 /* resyncs cut short by the entry budget */
	uint64_t domains;                   /* shadow domains alive */
	uint64_t ns;                        /* time spent in the hooks */
};

struct viommu_shadow_dom {
	struct iommu_domain *dom;
	uint64_t slptptr;                   /* the guest table it shadows */
	uint16_t did;                       /* guest domain id */
	uint8_t levels, aw_bits;
};

struct viommu_shadow_dev {
	uint16_t guest_sid;                 /* as the guest's context entries name it */
	uint16_t host_sid;                  /* as the host unit knows it */
	struct iommu_domain *attached;      /* host domain; NULL: detached (blocked) */
};

struct viommu_shadow_run {
	uint64_t iova, hpa, len;
	unsigned prot;
};

struct viommu_shadow {
	struct viommu_shadow_cfg cfg;
	pthread_mutex_t lock;
	struct viommu_shadow_dev devs[VIOMMU_SHADOW_MAX_DEVS];
	unsigned nr_devs;
	struct viommu_shadow_dom doms[VIOMMU_SHADOW_MAX_DEVS];
	unsigned nr_doms;
	/* one resync window: what the guest wants, what the shadow has */
	struct viommu_shadow_run *want, *have;
	unsigned nr_want, nr_have, nr_leaves;
	uint64_t budget;                    /* guest entries this action may still read */
	bool in_pass;                       /* budget taken from since the last pass_done */
	struct viommu_shadow_stats stats;
};

int viommu_shadow_init(struct viommu_shadow *s, const struct viommu_shadow_cfg *cfg);
/* Detaches every device and destroys the shadow domains. */
void viommu_shadow_destroy(struct viommu_shadow *s);
/* A device behind the vIOMMU: guest_sid is its source-id on the guest
 * unit, host_sid on the host unit (they differ when several VMs share the
 * host unit). It must not be attached on the host unit yet; it is attached
 * at once as the guest unit's state says. 0, -ENOSPC, -EEXIST, or the
 * attach's error. */
int viommu_shadow_add_device(struct viommu_shadow *s, uint16_t guest_sid, uint16_t host_sid);
/* TE, root table or context entries changed: re-attach each device. */
void viommu_shadow_context_changed(struct viommu_shadow *s);
/* The guest invalidated its IOTLB: global, domain `did`, or the pages
 * [addr, addr + size) of `did`. Unknown granularities count as global. */
void viommu_shadow_iotlb_invalidated(struct viommu_shadow *s, int gran, uint16_t did,
				     uint64_t addr, uint64_t size);
void viommu_shadow_stats_get(struct viommu_shadow *s, struct viommu_shadow_stats *st);
/* The guest action whose hooks shared one budget is over (cfg.passes). */
void viommu_shadow_pass_done(struct viommu_shadow *s);

#endif
