/* Other PCI devices given with --device (the edu DMA test device). */
#ifndef WARDEN_VMM_MACHINE_DEV_H
#define WARDEN_VMM_MACHINE_DEV_H

#include <stdbool.h>
#include <stdio.h>

#include "devices/edu.h"
#include "iommu/dma.h"

#define MACHINE_DEV_FIRST_SLOT 0x10          /* PCI slot of --device 0 */

struct machine;

struct machine_dev {
	char name[32];                  /* "edu0"; "vm1.edu0" with several VMs */
	uint16_t bdf;
	struct dma_as dma;
	struct edu edu;
	bool ready, started;
};

int machine_devs_create(struct machine *m);
int machine_devs_start(struct machine *m);
void machine_devs_stop(struct machine *m);
void machine_devs_destroy(struct machine *m);
void machine_devs_print_stats(struct machine *m, FILE *out);

#endif
