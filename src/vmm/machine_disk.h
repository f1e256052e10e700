/* Disks on the machine's PCI bus. virtio-blk is paravirtual: an I/O thread
 * fed by ioeventfd notifications, interrupts by irqfd, DMA through the VM's
 * address space. NVMe is the same controller logic attached two ways.
 *   emulated     BAR0 traps; commands run on the vCPU thread at the doorbell
 *                exit; DMA through the VM's direct GPA space.
 *   passthrough  the controller runs on its own engine thread; the doorbell
 *                page is host memory mapped into the guest (a memslot, no
 *                exit); every DMA goes through a host IOMMU domain holding
 *                exactly the VM's RAM (IOVA = GPA); MSI-X through irqfd. */
#ifndef WARDEN_VMM_MACHINE_DISK_H
#define WARDEN_VMM_MACHINE_DISK_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "backend/blk.h"
#include "devices/nvme.h"
#include "devices/virtio_blk.h"
#include "iommu/dma.h"
#include "vmm/config.h"

#define MACHINE_DISK_MAX_VECTORS   66          /* admin/config + 64 queues, spare */
#define MACHINE_DISK_FIRST_SLOT    3           /* PCI slot of disk 0 */

struct machine;

struct machine_disk {
	struct disk_config cfg;
	char name[32];                  /* "nvme0"; "vm1.nvme0" with several VMs */
	uint16_t bdf;                   /* as the guest sees it */
	uint16_t host_sid;              /* passthrough: source-id on the host IOMMU */
	struct blk_backend *backend;
	struct pci_device *dev;         /* the function on the bus */
	struct nvme_pci nvme;           /* type=nvme */
	struct virtio_blk_pci vblk;     /* type=virtio-blk */
	bool dev_ready, started;
	bool irqfd_msix;                /* MSI-X vectors delivered through irqfd */
	struct dma_as dma;
	void *doorbell_page;            /* passthrough: exit-free doorbells */
	int direct_slot;                /* KVM memslot of the doorbell page, -1 none */
	unsigned nvec;
	int gsi[MACHINE_DISK_MAX_VECTORS];
	int efd[MACHINE_DISK_MAX_VECTORS];
};

/* The VM's domain on the host's shared IOMMU (exactly its RAM, IOVA = GPA),
 * created on first call: m->iommu and m->domain. 0 or -errno. */
int machine_host_domain(struct machine *m);

int machine_disks_open(struct machine *m);
int machine_disks_create(struct machine *m);
int machine_disks_start(struct machine *m);
void machine_disks_stop(struct machine *m);
void machine_disks_destroy(struct machine *m);
/* Recompute every irqfd route (the vIOMMU's interrupt entries changed). */
void machine_disks_refresh_routes(struct machine *m);
/* The VM's host domain, after its devices and vIOMMU are gone. */
void machine_host_domain_destroy(struct machine *m);
void machine_disks_print_stats(struct machine *m, FILE *out);

extern const struct pci_host_ops machine_pci_host_ops;

#endif
