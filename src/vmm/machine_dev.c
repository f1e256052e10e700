#include "vmm/machine_dev.h"
#include "vmm/machine.h"
#include "vmm/machine_viommu.h"
#include "base/log.h"

#include <string.h>

/* The edu device DMAs through the VM's vIOMMU when it has one, else its
 * direct guest-physical space. A device write into the MSI window is an
 * interrupt message, delivered (and remapped) through the machine's MSI
 * sink with the edu's requester id. */
int machine_devs_create(struct machine *m)
{
	for (unsigned i = 0; i < m->cfg.nr_devices; i++) {
		struct machine_dev *dv = &m->devs[i];
		struct edu_config ecfg;
		uint8_t devfn = PCI_DEVFN(MACHINE_DEV_FIRST_SLOT + i, 0);
		int ret;

		m->nr_devs = i + 1;
		/* With several VMs, device logs say whose device it is. */
		if (m->tag[0])
			snprintf(dv->name, sizeof(dv->name), "vm%u.edu%u", m->index, i);
		else
			snprintf(dv->name, sizeof(dv->name), "edu%u", i);
		dv->bdf = PCI_BDF(0, devfn);
		ret = machine_viommu_dma_init(m, &dv->dma, dv->bdf);
		if (ret < 0)
			return ret;
		ecfg = (struct edu_config){ .name = dv->name, .dma = &dv->dma, .raw_msi = &m->msi };
		ret = edu_init(&dv->edu, &ecfg);
		if (ret < 0) {
			log_error("%s: %s", dv->name, strerror(-ret));
			return ret;
		}
		dv->ready = true;
		ret = pci_host_plug(&m->pci, edu_pci_dev(&dv->edu), devfn);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int machine_devs_start(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_devs; i++) {
		int ret = edu_start(&m->devs[i].edu);

		if (ret < 0)
			return ret;
		m->devs[i].started = true;
	}
	return 0;
}

void machine_devs_stop(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_devs; i++)
		if (m->devs[i].started)
			edu_stop(&m->devs[i].edu);
}

void machine_devs_destroy(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_devs; i++)
		if (m->devs[i].ready)
			edu_destroy(&m->devs[i].edu);
	memset(m->devs, 0, sizeof(m->devs));
	m->nr_devs = 0;
}

void machine_devs_print_stats(struct machine *m, FILE *out)
{
	for (unsigned i = 0; i < m->nr_devs; i++) {
		struct machine_dev *dv = &m->devs[i];
		struct edu_stats st;

		if (!dv->ready)
			continue;
		edu_stats(&dv->edu, &st);
		fprintf(out, "  %s " PCI_BDF_FMT "  edu\n", dv->name, PCI_BDF_ARGS(dv->bdf));
		fprintf(out, "    work               %llu factorials, %llu DMA to device, %llu to RAM "
			"(%llu bytes), %llu DMA errors\n", (unsigned long long)st.factorials,
			(unsigned long long)st.dma_to_device, (unsigned long long)st.dma_to_ram,
			(unsigned long long)st.dma_bytes, (unsigned long long)st.dma_errors);
		fprintf(out, "    interrupts         %llu raised, %llu MSI-X, %llu messages by DMA\n",
			(unsigned long long)st.irqs, (unsigned long long)st.msix_sent,
			(unsigned long long)st.raw_msis);
		fprintf(out, "    dma                %llu faults, %llu blocked (bus master off)\n",
			(unsigned long long)dv->dma.stats.faults,
			(unsigned long long)dv->dma.stats.blocked);
	}
}
