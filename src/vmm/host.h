/* The host that every VM of one Warden process runs on: one arena standing
 * for the host's RAM (each VM's RAM a separate region of it, with its own
 * owner id) and one host IOMMU (one VT-d unit; each VM with a passthrough
 * device gets its own domain, with its own domain id, holding only its own
 * RAM at IOVA = GPA).
 *
 * Lifetime: created before the first VM, destroyed after the last one (the
 * IOMMU after every device that DMAs through it, the arena after the IOMMU
 * whose tables live in it). */
#ifndef WARDEN_VMM_HOST_H
#define WARDEN_VMM_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/gmem.h"
#include "iommu/iommu.h"

/* Host IOMMU domains are 4-level (48-bit IOVA): room for RAM above 4 GiB. */
#define HOST_DOMAIN_AW_BITS 48

struct host {
	struct arena arena;
	struct iommu iommu;             /* valid once iommu_ready */
	bool iommu_ready;
	pthread_mutex_t lock;           /* creation of the IOMMU */
};

/* arena_size: the whole host RAM (VM regions and the private region).
 * Returns 0 or -errno (after one log line). */
int host_init(struct host *h, uint64_t arena_size, uint64_t private_size);
/* Every VM's domains must be gone (machine_destroy) first. */
void host_destroy(struct host *h);

/* The shared host IOMMU, created on first need. 0 and *out, or -errno. */
int host_iommu(struct host *h, struct iommu **out);
/* A new domain on the shared IOMMU for the VM whose RAM is g: its own domain
 * id, exactly g's RAM mapped read/write at IOVA = GPA. 0 and *out, or -errno
 * (nothing left behind). */
int host_vm_domain_create(struct host *h, const struct gmem *g, struct iommu_domain **out);

/* The source-id a VM's device has on the shared unit. Every VM's guest sees
 * its disks at 00:03.0 and up, but on one unit source-ids must be unique, as
 * physical devices' are: VM n's devices sit on host bus n. */
static inline uint16_t host_vm_sid(unsigned vm_index, uint8_t devfn)
{
	return (uint16_t)((vm_index & 0xff) << 8 | devfn);
}

/* A fast 64-bit hash of a VM's RAM as it is now, to prove later that
 * nothing wrote it. Content-defined: a page never touched (a hole in the
 * memfd, skipped without being faulted in) and a page of zeroes hash alike,
 * so the check costs only the pages the VM used. */
uint64_t host_ram_hash(const struct host *h, const struct gmem *g);

#endif
