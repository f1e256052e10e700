#include "vmm/machine_disk.h"
#include "vmm/machine.h"
#include "vmm/machine_viommu.h"
#include "base/log.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

static struct machine_disk *disk_of(struct machine *m, struct pci_device *d)
{
	for (unsigned i = 0; i < m->nr_disks; i++)
		if (m->disks[i].dev_ready && m->disks[i].dev == d)
			return &m->disks[i];
	return NULL;
}

static const char *disk_kind(const struct machine_disk *disk)
{
	if (disk->cfg.type == DISK_TYPE_VIRTIO_BLK)
		return "virtio-blk";
	return disk->cfg.mode == DISK_MODE_PASSTHROUGH ? "nvme passthrough" : "nvme emulated";
}

/* pci_host_ops: the exit-free doorbell window becomes a KVM memslot while
 * the BAR decodes, and moves with it. */
static int disk_map_direct(void *opaque, struct pci_device *d, unsigned bar, uint64_t gpa,
			   uint64_t size, void *host)
{
	struct machine *m = opaque;
	struct machine_disk *disk = disk_of(m, d);

	if (!disk)
		return -ENODEV;
	if (disk->direct_slot < 0)
		disk->direct_slot = (int)m->next_memslot++;
	return kvm_vm_set_memslot(m->vm_fd, (uint32_t)disk->direct_slot, gpa, size, host);
}

static void disk_unmap_direct(void *opaque, struct pci_device *d, unsigned bar)
{
	struct machine *m = opaque;
	struct machine_disk *disk = disk_of(m, d);

	if (disk && disk->direct_slot >= 0)
		kvm_vm_set_memslot(m->vm_fd, (uint32_t)disk->direct_slot, 0, 0, NULL);
}

/* Keep the irqfd route of a vector equal to what the guest programmed in
 * the MSI-X table, through interrupt remapping when the VM has a vIOMMU.
 * The kernel delivers irqfd interrupts without asking us, so a vector whose
 * message the remapper refuses goes back to the PCI core's MSI sink: its
 * next interrupt is then remapped here, refused and its fault recorded
 * when it happens, as hardware would. Deriving the route is only a probe. */
static void disk_vector_route(struct machine *m, struct machine_disk *disk, unsigned vector)
{
	uint64_t addr;
	uint32_t data;
	bool masked, ok;

	if (!pci_msix_vector(disk->dev, vector, &addr, &data, &masked))
		return;
	ok = machine_viommu_remap(m, disk->bdf, &addr, &data, true) == 0;
	if (!ok)
		pci_msix_set_irqfd(disk->dev, vector, -1);
	irqroute_set_msi(&m->routes, (unsigned)disk->gsi[vector], ok, addr, data);
	irqroute_commit(&m->routes);
	if (ok)
		pci_msix_set_irqfd(disk->dev, vector, disk->efd[vector]);
}

static void disk_msix_vector_changed(void *opaque, struct pci_device *d, unsigned vector)
{
	struct machine *m = opaque;
	struct machine_disk *disk = disk_of(m, d);

	if (!disk || !disk->irqfd_msix || vector >= disk->nvec)
		return;
	disk_vector_route(m, disk, vector);
}

/* The vIOMMU's interrupt entries changed: every irqfd route again. */
void machine_disks_refresh_routes(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_disks; i++) {
		struct machine_disk *disk = &m->disks[i];

		if (!disk->dev_ready || !disk->irqfd_msix)
			continue;
		for (unsigned v = 0; v < disk->nvec; v++)
			if (disk->gsi[v] >= 0)
				disk_vector_route(m, disk, v);
	}
}

/* Notification writes (virtio) become eventfd signals inside KVM: the
 * vCPU leaves the guest only as far as the kernel, never to this process. */
static int disk_ioeventfd(void *opaque, struct pci_device *d, uint64_t gpa, unsigned len, int fd,
			  bool assign)
{
	struct machine *m = opaque;
	struct kvm_ioeventfd io = {
		.addr = gpa, .len = len, .fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(m->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		int ret = -errno;

		log_error(PCI_BDF_FMT ": %s ioeventfd at 0x%llx (%u bytes): %s", PCI_BDF_ARGS(d->bdf),
			  assign ? "assigning" : "removing", (unsigned long long)gpa, len,
			  strerror(errno));
		return ret;
	}
	return 0;
}

const struct pci_host_ops machine_pci_host_ops = {
	.map_direct = disk_map_direct,
	.unmap_direct = disk_unmap_direct,
	.ioeventfd = disk_ioeventfd,
	.msix_vector_changed = disk_msix_vector_changed,
};

static int disk_open_backend(struct machine_disk *disk, const char *tag)
{
	int ret;

	if (disk->cfg.ram_size)
		ret = blk_open_ram(&disk->backend, disk->cfg.ram_size);
	else
		ret = blk_open_file(&disk->backend, disk->cfg.path, disk->cfg.read_only);
	if (ret < 0)
		fprintf(stderr, "warden: %s--disk %s: %s\n", tag,
			disk->cfg.ram_size ? "ram" : disk->cfg.path, strerror(-ret));
	return ret;
}

/* The VM's domain on the host IOMMU that every VM of the process shares:
 * exactly this VM's RAM at IOVA = GPA, its own domain id. Every passthrough
 * device of the VM is attached to it; nothing else is reachable. */
int machine_host_domain(struct machine *m)
{
	int ret;

	if (m->domain)
		return 0;
	ret = host_iommu(m->host, &m->iommu);
	if (ret < 0)
		return ret;
	m->iommu_ready = true;
	return host_vm_domain_create(m->host, &m->gmem, &m->domain);
}

static int disk_setup_passthrough(struct machine *m, struct machine_disk *disk)
{
	int ret = machine_host_domain(m);

	if (ret < 0)
		return ret;
	disk->host_sid = host_vm_sid(m->index, (uint8_t)(disk->bdf & 0xff));
	if (machine_viommu_enabled(m)) {
		/* Behind the guest's vIOMMU: two stages, the VM's domain the second. */
		ret = machine_viommu_dma_init(m, &disk->dma, disk->bdf);
		if (ret < 0)
			return ret;
	} else {
		ret = iommu_domain_attach(m->domain, disk->host_sid, 0);
		if (ret < 0) {
			log_error("%sattaching %s (host source-id " PCI_BDF_FMT ") to the VM's host "
				  "domain: %s", m->tag, disk->name, PCI_BDF_ARGS(disk->host_sid),
				  strerror(-ret));
			return ret;
		}
		dma_as_init_vtd(&disk->dma, &m->iommu->unit, m->arena, disk->host_sid);
	}
	disk->doorbell_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (disk->doorbell_page == MAP_FAILED) {
		disk->doorbell_page = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* One eventfd + GSI per MSI-X vector, bound with KVM_IRQFD: the engine
 * thread's completion interrupt goes straight into KVM. */
static int disk_setup_irqfds(struct machine *m, struct machine_disk *disk)
{
	struct pci_device *d = disk->dev;

	for (unsigned v = 0; v < disk->nvec; v++) {
		int gsi = irqroute_alloc(&m->routes);
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		int ret;

		if (gsi < 0 || efd < 0) {
			if (efd >= 0)
				close(efd);
			return gsi < 0 ? gsi : -errno;
		}
		disk->gsi[v] = gsi;
		disk->efd[v] = efd;
		ret = irqroute_bind_irqfd(&m->routes, (unsigned)gsi, efd);
		if (ret < 0)
			return ret;
		ret = pci_msix_set_irqfd(d, v, efd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Before KVM: a disk that cannot be opened is a usage error (status 2). */
int machine_disks_open(struct machine *m)
{
	for (unsigned i = 0; i < m->cfg.nr_disks; i++) {
		struct machine_disk *disk = &m->disks[i];
		int ret;

		disk->cfg = m->cfg.disks[i];
		disk->direct_slot = -1;
		for (unsigned v = 0; v < MACHINE_DISK_MAX_VECTORS; v++)
			disk->efd[v] = disk->gsi[v] = -1;
		m->nr_disks = i + 1;
		ret = disk_open_backend(disk, m->tag);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int disk_create_nvme(struct machine *m, struct machine_disk *disk)
{
	struct nvme_pci_config ncfg;
	int ret = 0;

	if (disk->cfg.mode == DISK_MODE_PASSTHROUGH)
		ret = disk_setup_passthrough(m, disk);
	else
		ret = machine_viommu_dma_init(m, &disk->dma, disk->bdf);
	if (ret < 0)
		return ret;
	memset(&ncfg, 0, sizeof(ncfg));
	ncfg.name = disk->name;
	ncfg.backend = disk->backend;
	ncfg.max_ioqs = (uint16_t)disk->cfg.queues;
	ncfg.mqes = 1023;
	ncfg.passthrough = disk->cfg.mode == DISK_MODE_PASSTHROUGH;
	ncfg.doorbell_page = disk->doorbell_page;
	ncfg.dma = &disk->dma;
	ncfg.serial = disk->cfg.serial;
	ret = nvme_pci_init(&disk->nvme, &ncfg);
	if (ret < 0)
		return ret;
	disk->dev = nvme_pci_dev(&disk->nvme);
	disk->nvec = disk->cfg.queues + 1;
	disk->irqfd_msix = ncfg.passthrough;
	return 0;
}

static int disk_create_virtio_blk(struct machine *m, struct machine_disk *disk)
{
	struct virtio_blk_pci_config vcfg;
	int ret;

	ret = machine_viommu_dma_init(m, &disk->dma, disk->bdf);
	if (ret < 0)
		return ret;
	memset(&vcfg, 0, sizeof(vcfg));
	vcfg.name = disk->name;
	vcfg.backend = disk->backend;
	vcfg.dma = &disk->dma;
	vcfg.num_queues = disk->cfg.queues;
	vcfg.queue_size = 256;
	vcfg.serial = disk->cfg.serial;
	vcfg.read_only = disk->cfg.read_only;
	ret = virtio_blk_pci_init(&disk->vblk, &vcfg);
	if (ret < 0)
		return ret;
	disk->dev = virtio_blk_pci_dev(&disk->vblk);
	disk->nvec = disk->cfg.queues + 1;      /* config change + one per queue */
	disk->irqfd_msix = true;
	return 0;
}

static int disk_create(struct machine *m, unsigned i)
{
	struct machine_disk *disk = &m->disks[i];
	int ret;

	disk->bdf = PCI_BDF(0, PCI_DEVFN(MACHINE_DISK_FIRST_SLOT + i, 0));
	/* With several VMs, device logs say whose device it is. */
	if (m->tag[0])
		snprintf(disk->name, sizeof(disk->name), "vm%u.%s%u", m->index,
			 disk->cfg.type == DISK_TYPE_VIRTIO_BLK ? "vblk" : "nvme", i);
	else
		snprintf(disk->name, sizeof(disk->name), "%s%u",
			 disk->cfg.type == DISK_TYPE_VIRTIO_BLK ? "vblk" : "nvme", i);
	if (disk->cfg.type == DISK_TYPE_VIRTIO_BLK)
		ret = disk_create_virtio_blk(m, disk);
	else
		ret = disk_create_nvme(m, disk);
	if (ret < 0) {
		log_error("%s: creating the device: %s", disk->name, strerror(-ret));
		return ret;
	}
	disk->dev_ready = true;
	ret = pci_host_plug(&m->pci, disk->dev, PCI_DEVFN(MACHINE_DISK_FIRST_SLOT + i, 0));
	if (ret < 0)
		return ret;
	if (disk->irqfd_msix)
		ret = disk_setup_irqfds(m, disk);
	return ret;
}

int machine_disks_create(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_disks; i++) {
		int ret = disk_create(m, i);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int machine_disks_start(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_disks; i++) {
		struct machine_disk *disk = &m->disks[i];
		int ret = disk->cfg.type == DISK_TYPE_VIRTIO_BLK ? virtio_blk_pci_start(&disk->vblk)
								 : nvme_pci_start(&disk->nvme);

		if (ret < 0) {
			log_error("%s: starting: %s", disk->name, strerror(-ret));
			return ret;
		}
		disk->started = true;
	}
	return 0;
}

void machine_disks_stop(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_disks; i++) {
		struct machine_disk *disk = &m->disks[i];

		if (disk->started && disk->cfg.type == DISK_TYPE_VIRTIO_BLK)
			virtio_blk_pci_stop(&disk->vblk);
		else if (disk->started)
			nvme_pci_stop(&disk->nvme);
		disk->started = false;
	}
}

/* Devices before the IOMMU they translate through and the memory they use. */
void machine_disks_destroy(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_disks; i++) {
		struct machine_disk *disk = &m->disks[i];

		if (disk->dev_ready && disk->cfg.type == DISK_TYPE_VIRTIO_BLK)
			virtio_blk_pci_destroy(&disk->vblk);
		else if (disk->dev_ready)
			nvme_pci_destroy(&disk->nvme);
		for (unsigned v = 0; v < MACHINE_DISK_MAX_VECTORS; v++) {
			if (disk->efd[v] >= 0) {
				if (disk->gsi[v] >= 0)
					irqroute_unbind_irqfd(&m->routes, (unsigned)disk->gsi[v], disk->efd[v]);
				close(disk->efd[v]);
			}
		}
		if (disk->doorbell_page)
			munmap(disk->doorbell_page, 4096);
		if (disk->backend)
			blk_close(disk->backend);
		memset(disk, 0, sizeof(*disk));
	}
	m->nr_disks = 0;
}

/* After every device of the VM (and its vIOMMU): the shared unit stays for
 * the other VMs and goes with the host. */
void machine_host_domain_destroy(struct machine *m)
{
	if (m->domain)
		iommu_domain_destroy(m->domain);
	m->domain = NULL;
	m->iommu = NULL;
	m->iommu_ready = false;
}

static void disk_print_nvme_stats(struct machine_disk *disk, FILE *out)
{
	struct nvme_pci_stats st;
	uint64_t io = 0, admin = 0;

	nvme_pci_stats(&disk->nvme, &st);
	for (unsigned op = 0; op < 256; op++) {
		io += st.ctrl.io_cmds[op];
		admin += st.ctrl.admin_cmds[op];
	}
	fprintf(out, "    commands           %llu I/O, %llu admin, %llu errors\n",
		(unsigned long long)io, (unsigned long long)admin, (unsigned long long)st.ctrl.errors);
	fprintf(out, "    bytes              %llu read, %llu written\n",
		(unsigned long long)st.ctrl.bytes_read, (unsigned long long)st.ctrl.bytes_written);
	fprintf(out, "    interrupts         %llu (dropped %llu)\n",
		(unsigned long long)st.irqs_delivered, (unsigned long long)st.irqs_dropped);
	fprintf(out, "    invalid doorbells  %llu, fatal %llu, async events %llu\n",
		(unsigned long long)st.ctrl.invalid_doorbells, (unsigned long long)st.ctrl.fatal,
		(unsigned long long)st.ctrl.async_events);
	if (disk->cfg.mode == DISK_MODE_PASSTHROUGH && st.engine.wall_ns)
		fprintf(out, "    engine             %llu polls (%llu busy), %llu sleeps, "
			"CPU %.1f%% of %.3f s\n", (unsigned long long)st.engine.polls,
			(unsigned long long)st.engine.busy_polls, (unsigned long long)st.engine.idle_sleeps,
			100.0 * st.engine.cpu_ns / st.engine.wall_ns, st.engine.wall_ns / 1e9);
}

void machine_disks_print_stats(struct machine *m, FILE *out)
{
	for (unsigned i = 0; i < m->nr_disks; i++) {
		struct machine_disk *disk = &m->disks[i];

		if (!disk->dev_ready)
			continue;
		fprintf(out, "  %s " PCI_BDF_FMT "  %s, %s\n", disk->name, PCI_BDF_ARGS(disk->bdf),
			disk_kind(disk), disk->backend->desc);
		if (disk->dma.unit)
			fprintf(out, "    host iommu         source-id " PCI_BDF_FMT ", domain %u\n",
				PCI_BDF_ARGS(disk->host_sid), m->domain ? m->domain->did : 0);
		if (disk->cfg.type == DISK_TYPE_VIRTIO_BLK)
			virtio_blk_pci_print_stats(&disk->vblk, out);
		else
			disk_print_nvme_stats(disk, out);
		fprintf(out, "    dma                %llu faults, %llu blocked (bus master off)\n",
			(unsigned long long)disk->dma.stats.faults,
			(unsigned long long)disk->dma.stats.blocked);
	}
}
