#include "vmm/machine.h"
#include "base/log.h"
#include "vmm/acpi.h"
#include "vmm/machine_viommu.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MACHINE_MAX_IMAGE (1ull << 30)

uint64_t machine_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void machine_request_exit(struct machine *m, int status, const char *reason)
{
	bool first = false;

	pthread_mutex_lock(&m->lock);
	if (!m->stopping) {
		m->exit_status = status;
		m->exit_reason = reason;
		m->exit_ns = machine_now_ns();
		__atomic_store_n(&m->stopping, 1, __ATOMIC_RELEASE);
		first = true;
	}
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; m->vcpus && i < m->nr_vcpus; i++)
		vcpu_kick(&m->vcpus[i]);
	if (first && m->on_stop)
		m->on_stop(m->on_stop_opaque);
}

static void machine_power_exit(void *opaque, int status, const char *reason)
{
	machine_request_exit(opaque, status, reason);
}

/* A message in compatibility format into the in-kernel LAPIC. */
int machine_deliver_msi(struct machine *m, uint64_t addr, uint32_t data)
{
	int r = kvm_vm_signal_msi(m->vm_fd, addr, data);

	if (r < 0) {
		log_error("KVM_SIGNAL_MSI addr 0x%llx data 0x%x: %s", (unsigned long long)addr, data,
			  strerror(-r));
		return r;
	}
	__atomic_add_fetch(r > 0 ? &m->msis_sent : &m->msis_blocked, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Emulated devices and the userspace IOAPIC deliver MSIs on the caller's
 * thread, tagged with their requester id; with a vIOMMU the message is
 * remapped (or blocked, the guest's fault recorded) first. */
static int machine_msi_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct machine *m = opaque;

	if ((addr & 0xfff00000ull) != MACHINE_LAPIC_BASE) {
		guest_error("MSI from %02x:%02x.%x to 0x%llx is not an interrupt address; dropped",
			    rid >> 8, (rid >> 3) & 0x1f, rid & 7, (unsigned long long)addr);
		return -EINVAL;
	}
	if (machine_viommu_remap(m, rid, &addr, &data, false) < 0) {
		__atomic_add_fetch(&m->msis_remap_blocked, 1, __ATOMIC_RELAXED);
		return -EPERM;
	}
	return machine_deliver_msi(m, addr, data);
}

/* With the split irqchip KVM learns which vectors need an EOI exit (for
 * level-triggered IOAPIC pins) from MSI routes on GSIs 0..pins-1, so the
 * IOAPIC's redirection entries are mirrored there whenever they change.
 * Masked pins are routed too: a guest may EOI a level interrupt while its
 * pin is masked, and KVM must still exit for it. */
static void machine_ioapic_routes_changed(void *opaque)
{
	struct machine *m = opaque;

	if (!m->routes_ready)
		return;
	for (unsigned pin = 0; pin < MACHINE_IOAPIC_PINS; pin++) {
		uint64_t addr;
		uint32_t data;
		bool ok = ioapic_pin_msi(&m->ioapic, pin, &addr, &data);

		/* Through interrupt remapping, as the pin's messages will be; a
		 * probe, since deriving a route is no interrupt request (each
		 * delivery is remapped, and faults, on its own). */
		if (ok && machine_viommu_remap(m, MACHINE_IOAPIC_RID, &addr, &data, true) < 0)
			ok = false;
		irqroute_set_msi(&m->routes, pin, ok, addr, data);
	}
	irqroute_commit(&m->routes);
}

void machine_irq_routes_refresh(struct machine *m)
{
	machine_ioapic_routes_changed(m);
	machine_disks_refresh_routes(m);
}

static uint64_t exits_of(struct machine *m, int reason)
{
	uint64_t n = 0;

	for (unsigned i = 0; m->vcpus && i < m->nr_vcpus; i++) {
		if (reason >= 0) {
			n += __atomic_load_n(&m->vcpus[i].exits[reason], __ATOMIC_RELAXED);
			continue;
		}
		for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++)
			n += __atomic_load_n(&m->vcpus[i].exits[r], __ATOMIC_RELAXED);
	}
	return n;
}

/* This VM's own faults: the unit is shared, and one guest must not learn
 * another's fault count through the stats port. */
/* Host-IOMMU refusals of this VM's devices (never another VM's): the faults
 * of passthrough devices on the host unit, and for devices behind a
 * vIOMMU what the second stage (nested) or the shadow domain refused that
 * the guest's own tables allowed. Faults the guest's tables cause are the
 * guest's, in its vIOMMU's fault log. */
static uint64_t dma_host_faults(const struct dma_as *as, bool behind_viommu, bool passthrough)
{
	if (behind_viommu)
		return __atomic_load_n(&as->stats.stage2_faults, __ATOMIC_RELAXED) +
		       __atomic_load_n(&as->stats.shadow_stale, __ATOMIC_RELAXED);
	return passthrough ? __atomic_load_n(&as->stats.faults, __ATOMIC_RELAXED) : 0;
}

static uint64_t machine_iommu_faults(struct machine *m)
{
	bool viommu = m->viommu != NULL;
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nr_disks; i++)
		if (m->disks[i].dev_ready)
			n += dma_host_faults(&m->disks[i].dma, viommu,
					     m->disks[i].cfg.mode == DISK_MODE_PASSTHROUGH &&
					     m->disks[i].cfg.type == DISK_TYPE_NVME);
	for (unsigned i = 0; i < m->nr_devs; i++)
		if (m->devs[i].ready)
			n += dma_host_faults(&m->devs[i].dma, viommu, false);
	return n;
}

static uint64_t machine_pvstats_read(void *opaque, enum pvstats_counter id)
{
	struct machine *m = opaque;

	switch (id) {
	case PVSTATS_ID_EXITS: return exits_of(m, -1);
	case PVSTATS_ID_PIO_EXITS: return exits_of(m, KVM_EXIT_IO);
	case PVSTATS_ID_MMIO_EXITS: return exits_of(m, KVM_EXIT_MMIO);
	case PVSTATS_ID_MSIS: return __atomic_load_n(&m->msis_sent, __ATOMIC_RELAXED);
	case PVSTATS_ID_IOMMU_FAULTS: return machine_iommu_faults(m);
	case PVSTATS_ID_GUEST_ERRORS: return __atomic_load_n(&guest_error_count, __ATOMIC_RELAXED);
	default: return ~0ull;
	}
}

void machine_ioapic_eoi(struct machine *m, uint8_t vector)
{
	ioapic_eoi(&m->ioapic, vector);
}

static int machine_memslots(struct machine *m)
{
	for (unsigned i = 0; i < m->gmem.nr_ranges; i++) {
		const struct gmem_range *r = &m->gmem.ranges[i];
		void *host = arena_hpa_to_ptr(m->arena, r->hpa, r->size);
		int ret = kvm_vm_set_memslot(m->vm_fd, i, r->gpa, r->size, host);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int machine_devices(struct machine *m)
{
	struct irq_line com1_irq = ioapic_irq_line(&m->ioapic, MACHINE_COM1_IRQ);
	struct irq_line sci = ioapic_irq_line(&m->ioapic, MACHINE_SCI_IRQ);
	uint64_t ram = m->cfg.mem_size;
	uint16_t ncpu = (uint16_t)m->nr_vcpus;
	int ret;

	m->msi = (struct msi_sink){ machine_msi_send, m };
	m->power = (struct power_ctl){ machine_power_exit, m };
	ret = ioapic_init(&m->ioapic, &m->msi, MACHINE_IOAPIC_RID, machine_ioapic_routes_changed, m);
	if (!ret)
		ret = ioapic_attach(&m->ioapic, &m->mmio, MACHINE_IOAPIC_BASE);
	if (!ret)
		ret = serial_init(&m->com1, m->serial_fd, &com1_irq);
	if (!ret)
		ret = serial_attach(&m->com1, &m->pio, MACHINE_COM1_BASE);
	if (!ret)
		ret = debug_exit_init(&m->debug_exit, &m->power);
	if (!ret)
		ret = debug_exit_attach(&m->debug_exit, &m->pio, MACHINE_DEBUG_EXIT_BASE);
	if (!ret)
		ret = acpi_pm_init(&m->acpi_pm, &m->power);
	if (!ret)
		ret = acpi_pm_attach(&m->acpi_pm, &m->pio, MACHINE_ACPI_PM_BASE);
	if (!ret)
		acpi_pm_set_sci(&m->acpi_pm, &sci);
	if (!ret)
		ret = i8042_init(&m->i8042, &m->power);
	if (!ret)
		ret = i8042_attach(&m->i8042, &m->pio, MACHINE_I8042_BASE);
	if (!ret)
		ret = pvstats_init(&m->pvstats, machine_pvstats_read, m);
	if (!ret)
		ret = pvstats_attach(&m->pvstats, &m->pio, PVSTATS_BASE);
	if (!ret)
		ret = fw_cfg_init(&m->fw_cfg);
	if (!ret)
		ret = fw_cfg_add_bytes(&m->fw_cfg, FW_CFG_RAM_SIZE, &ram, sizeof(ram));
	if (!ret)
		ret = fw_cfg_add_bytes(&m->fw_cfg, FW_CFG_NB_CPUS, &ncpu, sizeof(ncpu));
	if (!ret)
		ret = fw_cfg_add_bytes(&m->fw_cfg, FW_CFG_MAX_CPUS, &ncpu, sizeof(ncpu));
	if (!ret)
		ret = fw_cfg_attach(&m->fw_cfg, &m->pio, MACHINE_FW_CFG_BASE);
	if (ret) {
		log_error("setting up platform devices: %s", strerror(-ret));
		return ret;
	}
	/* Before any PCI device: they all DMA and interrupt through it. */
	ret = machine_viommu_create(m);
	if (ret < 0)
		return ret;
	machine_ioapic_routes_changed(m);
	return 0;
}

/* PCI host bridge, the disks on it, then firmware-like resource
 * assignment (BARs placed, decode on; bus mastering is the driver's). */
static int machine_pci(struct machine *m)
{
	struct irq_line intx = ioapic_irq_line(&m->ioapic, MACHINE_PCI_INTX_GSI);
	int ret;

	ret = pci_host_init(&m->pci, &m->pio, &m->mmio, MACHINE_PCI_ECAM_BASE, MACHINE_PCI_ECAM_SIZE,
			    &m->msi, &intx, &machine_pci_host_ops, m);
	if (ret < 0) {
		log_error("PCI host bridge: %s", strerror(-ret));
		return ret;
	}
	m->pci_ready = true;
	ret = machine_disks_create(m);
	if (ret < 0)
		return ret;
	ret = machine_devs_create(m);
	if (ret < 0)
		return ret;
	ret = pci_host_assign_resources(&m->pci, MACHINE_MMIO_HOLE_BASE, MACHINE_MMIO_HOLE_END, 0, 0,
					MACHINE_PCI_IO_BASE, MACHINE_PCI_IO_END);
	if (ret < 0)
		log_error("assigning PCI resources: %s", strerror(-ret));
	return ret;
}

static int machine_vcpus(struct machine *m)
{
	int ret, khz;

	m->cpuid = kvm_get_supported_cpuid(&m->kvm);
	if (!m->cpuid)
		return -ENOMEM;
	m->vcpus = calloc(m->nr_vcpus, sizeof(*m->vcpus));
	if (!m->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < m->nr_vcpus; i++)
		m->vcpus[i].fd = -1;
	for (unsigned i = 0; i < m->nr_vcpus; i++) {
		ret = vcpu_create(m, i, &m->vcpus[i]);
		if (ret < 0)
			return ret;
		if (i == 0) {
			khz = ioctl(m->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
			m->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
		}
		ret = vcpu_setup_cpuid(&m->vcpus[i], m->cpuid, m->tsc_khz, m->nr_vcpus);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int machine_create(struct machine *m, const struct vm_config *cfg, struct host *host,
		   unsigned index, bool several)
{
	int ret;

	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->index = index;
	if (several)
		snprintf(m->tag, sizeof(m->tag), "vm%u: ", index);
	m->host = host;
	m->arena = &host->arena;
	m->vm_fd = -1;
	m->serial_fd = -1;
	m->console_fd = -1;
	m->kvm.fd = -1;
	m->nr_vcpus = cfg->cpus;
	m->start_ns = machine_now_ns();
	pthread_mutex_init(&m->lock, NULL);

	/* The VM's index is its RAM's owner id: the IOMMU policy refuses to
	 * map one VM's RAM into another's domain on that basis. */
	ret = gmem_init(&m->gmem, m->arena, (int)index, cfg->mem_size);
	if (ret < 0) {
		fprintf(stderr, "warden: %s%llu MiB of guest RAM does not fit in --host-mem %llu MiB\n",
			m->tag, (unsigned long long)(cfg->mem_size >> 20),
			(unsigned long long)(m->arena->size >> 20));
		return WARDEN_EXIT_USAGE;
	}
	if (machine_disks_open(m) < 0)
		return WARDEN_EXIT_USAGE;
	return 0;
}

/* Everything that needs KVM, after the kernel is known to be loadable. */
int machine_create_vm(struct machine *m)
{
	const struct vm_config *cfg = &m->cfg;

	if (kvm_sys_open(&m->kvm, cfg->kvm_path) < 0)
		return WARDEN_EXIT_HOST;
	if ((int)cfg->cpus > m->kvm.max_vcpus) {
		fprintf(stderr, "warden: %s--cpus %u exceeds this host's KVM limit of %d\n", m->tag,
			cfg->cpus, m->kvm.max_vcpus);
		return WARDEN_EXIT_USAGE;
	}
	if (cfg->serial_path) {
		m->serial_fd = open(cfg->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (m->serial_fd < 0) {
			fprintf(stderr, "warden: %s--serial %s: %s\n", m->tag, cfg->serial_path,
				strerror(errno));
			return WARDEN_EXIT_USAGE;
		}
	} else if (m->console_fd >= 0) {
		m->serial_fd = m->console_fd;
		m->console_fd = -1;
	} else {
		m->serial_fd = dup(STDOUT_FILENO);
	}
	m->vm_fd = kvm_vm_create(&m->kvm, MACHINE_IOAPIC_PINS);
	if (m->vm_fd < 0)
		return WARDEN_EXIT_HOST;
	if (machine_memslots(m) < 0)
		return WARDEN_EXIT_HOST;
	if (bus_init(&m->pio, "pio") || bus_init(&m->mmio, "mmio"))
		return WARDEN_EXIT_HOST;
	m->buses_ready = true;
	m->next_memslot = MACHINE_FIRST_DIRECT_SLOT;
	if (irqroute_init(&m->routes, m->vm_fd, MACHINE_IOAPIC_PINS))
		return WARDEN_EXIT_HOST;
	m->routes_ready = true;
	m->devices_ready = true;   /* each device's destroy copes with a failed init */
	if (machine_devices(m) < 0)
		return WARDEN_EXIT_HOST;
	if (machine_pci(m) < 0)
		return WARDEN_EXIT_HOST;
	if (machine_vcpus(m) < 0)
		return WARDEN_EXIT_HOST;
	if (vcpu_set_boot_state(&m->vcpus[0], &m->entry, MACHINE_BOOT_GDT_GPA) < 0)
		return WARDEN_EXIT_HOST;
	return 0;
}

static int read_file(const char *path, const char *what, uint8_t **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "warden: %s %s: %s\n", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MACHINE_MAX_IMAGE) {
		fprintf(stderr, "warden: %s %s: not a regular file of at most 1 GiB\n", what, path);
		close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		close(fd);
		return -1;
	}
	while (done < *len) {
		n = read(fd, *buf + done, *len - done);
		if (n <= 0) {
			fprintf(stderr, "warden: %s %s: read error\n", what, path);
			free(*buf);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

/* The E820 map the guest sees: low RAM with the legacy holes, the PCI ECAM
 * window (reserved, as QEMU's q35), KVM's private pages below the BIOS and
 * RAM above 4 GiB. */
static unsigned machine_memmap(const struct machine *m, struct boot_memmap_entry *e)
{
	unsigned n = 0;
	uint64_t low = m->gmem.ranges[0].size;

	e[n++] = (struct boot_memmap_entry){ 0, 0x9fc00, BOOT_E820_RAM };
	e[n++] = (struct boot_memmap_entry){ 0x9fc00, 0x400, BOOT_E820_RESERVED };
	e[n++] = (struct boot_memmap_entry){ 0xe0000, 0x20000, BOOT_E820_RESERVED };
	if (low > 0x100000)
		e[n++] = (struct boot_memmap_entry){ 0x100000, low - 0x100000, BOOT_E820_RAM };
	e[n++] = (struct boot_memmap_entry){ MACHINE_PCI_ECAM_BASE, MACHINE_PCI_ECAM_SIZE,
					     BOOT_E820_RESERVED };
	e[n++] = (struct boot_memmap_entry){ 0xfffbc000, 0x4000, BOOT_E820_RESERVED };
	if (m->gmem.nr_ranges > 1)
		e[n++] = (struct boot_memmap_entry){ m->gmem.ranges[1].gpa, m->gmem.ranges[1].size,
						     BOOT_E820_RAM };
	return n;
}

int machine_load_kernel(struct machine *m)
{
	struct boot_memmap_entry memmap[8];
	struct boot_input in = { 0 };
	struct boot_entry *entry = &m->entry;
	uint8_t *image = NULL, *initrd = NULL;
	size_t image_len = 0, initrd_len = 0;
	uint64_t gdt[5];
	char err[256] = "";
	int ret = WARDEN_EXIT_USAGE;

	if (read_file(m->cfg.kernel_path, "kernel", &image, &image_len) < 0)
		goto out;
	if (m->cfg.initrd_path && read_file(m->cfg.initrd_path, "initrd", &initrd, &initrd_len) < 0)
		goto out;
	in.kernel_path = m->cfg.kernel_path;
	in.image = image;
	in.image_size = image_len;
	in.cmdline = m->cfg.cmdline;
	in.initrd = initrd;
	in.initrd_size = initrd_len;
	in.initrd_path = m->cfg.initrd_path;
	in.memmap = memmap;
	in.nr_memmap = machine_memmap(m, memmap);
	/* ACPI tables (MADT, FADT, DSDT, MCFG) so an OS finds the CPUs, the
	 * IOAPIC, PCI and power-off; PVH passes the RSDP in start_info. */
	struct acpi_config acfg;

	acpi_config_default(&acfg, m->cfg.cpus);
	if (machine_viommu_enabled(m))
		acfg.add_tables = machine_viommu_acpi;
	if (acpi_build(&m->gmem, &acfg, &in.rsdp_gpa) < 0) {
		fprintf(stderr, "warden: building ACPI tables failed\n");
		ret = WARDEN_EXIT_HOST;
		goto out;
	}
	if (boot_load(&m->gmem, &in, entry, err, sizeof(err)) < 0) {
		fprintf(stderr, "warden: %s: %s\n", m->cfg.kernel_path, err[0] ? err : "cannot load");
		goto out;
	}
	vcpu_boot_gdt(gdt);
	if (gmem_write(&m->gmem, MACHINE_BOOT_GDT_GPA, gdt, sizeof(gdt)) < 0) {
		ret = WARDEN_EXIT_HOST;
		goto out;
	}
	log_info("loaded %s (%s), entry 0x%x, image [0x%llx-0x%llx)", m->cfg.kernel_path,
		 entry->protocol == BOOT_PVH ? "PVH" : "multiboot", entry->eip,
		 (unsigned long long)entry->image_low, (unsigned long long)entry->image_high);
	ret = 0;
out:
	free(image);
	free(initrd);
	return ret;
}

/* Console input: bytes from stdin enter the UART's receiver as fast as the
 * guest drains it (never more than it can hold, so nothing typed is lost). */
static void *machine_stdin_thread(void *arg)
{
	struct machine *m = arg;
	uint8_t buf[64];

	while (!__atomic_load_n(&m->stopping, __ATOMIC_ACQUIRE)) {
		size_t space = serial_rx_space(&m->com1);
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		ssize_t n;

		if (space == 0 || poll(&pfd, 1, 20) <= 0) {
			if (space == 0)
				usleep(1000);
			continue;
		}
		n = read(STDIN_FILENO, buf, space < sizeof(buf) ? space : sizeof(buf));
		if (n <= 0)
			break;   /* EOF or error: the console just has no more input */
		serial_push_input(&m->com1, buf, (size_t)n);
	}
	return NULL;
}

void machine_start(struct machine *m, bool console_input)
{
	int ret;

	/* A VM that waited for another starts its clock now. */
	if (m->cfg.after >= 0)
		m->start_ns = machine_now_ns();
	m->started = true;
	ret = machine_disks_start(m);
	if (!ret)
		ret = machine_devs_start(m);
	for (unsigned i = 0; i < m->nr_vcpus && !ret; i++)
		ret = vcpu_start(&m->vcpus[i]);
	if (ret)
		machine_request_exit(m, WARDEN_EXIT_HOST, "vcpu-start-failed");
	if (console_input)
		m->stdin_reader = pthread_create(&m->stdin_thread, NULL, machine_stdin_thread, m) == 0;
}

void machine_tick(struct machine *m)
{
	if (m->devices_ready)
		serial_flush(&m->com1);
}

bool machine_stopping(struct machine *m)
{
	return __atomic_load_n(&m->stopping, __ATOMIC_ACQUIRE);
}

int machine_stop(struct machine *m)
{
	for (unsigned i = 0; m->vcpus && i < m->nr_vcpus; i++)
		vcpu_kick(&m->vcpus[i]);
	for (unsigned i = 0; m->vcpus && i < m->nr_vcpus; i++) {
		if (vcpu_join(&m->vcpus[i], MACHINE_STOP_TIMEOUT_MS) == 0)
			continue;
		/* A vCPU blocked outside KVM_RUN (a device thread holding a lock it
		 * needs) cannot be kicked; the process must still end. */
		fprintf(stderr, "warden: host error: %svcpu %u did not stop within %u ms after "
			"'%s'; exiting without cleanup\n", m->tag, i, MACHINE_STOP_TIMEOUT_MS,
			m->exit_reason ? m->exit_reason : "stop");
		serial_flush(&m->com1);
		_exit(m->exit_status ? m->exit_status : WARDEN_EXIT_HOST);
	}
	machine_disks_stop(m);
	machine_devs_stop(m);
	if (m->stdin_reader)
		pthread_join(m->stdin_thread, NULL);
	m->stdin_reader = false;
	machine_tick(m);
	return m->exit_status;
}

void machine_seal_ram(struct machine *m)
{
	m->ram_hash = host_ram_hash(m->host, &m->gmem);
	m->ram_hash_now = m->ram_hash;
	m->ram_sealed = true;
}

bool machine_check_ram(struct machine *m)
{
	if (!m->ram_sealed)
		return true;
	m->ram_hash_now = host_ram_hash(m->host, &m->gmem);
	m->ram_changed = m->ram_hash_now != m->ram_hash;
	return !m->ram_changed;
}

void machine_print_stats(struct machine *m, FILE *out, const char *heading)
{
	uint64_t first = serial_first_byte_ns(&m->com1);

	fprintf(out, "%s\n", heading);
	fprintf(out, "  exit reason          %s (status %d)\n", m->exit_reason ? m->exit_reason : "-",
		m->exit_status);
	fprintf(out, "  run time             %.3f ms\n", (m->exit_ns - m->start_ns) / 1e6);
	if (first)
		fprintf(out, "  first serial byte    %.3f ms\n", (first - m->start_ns) / 1e6);
	fprintf(out, "  vcpus                %u\n", m->nr_vcpus);
	fprintf(out, "  vm exits             %llu\n", (unsigned long long)exits_of(m, -1));
	for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++)
		if (exits_of(m, (int)r))
			fprintf(out, "    %-18s %llu\n", vcpu_exit_reason_name(r),
				(unsigned long long)exits_of(m, (int)r));
	for (unsigned i = 0; m->vcpus && i < m->nr_vcpus; i++) {
		uint64_t n = 0;

		for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++)
			n += m->vcpus[i].exits[r];
		fprintf(out, "  vcpu %-3u exits       %llu\n", i, (unsigned long long)n);
	}
	fprintf(out, "  unhandled pio        %llu\n", (unsigned long long)m->pio.unhandled);
	fprintf(out, "  unhandled mmio       %llu\n", (unsigned long long)m->mmio.unhandled);
	fprintf(out, "  msis delivered       %llu (blocked %llu, by interrupt remapping %llu)\n",
		(unsigned long long)m->msis_sent, (unsigned long long)m->msis_blocked,
		(unsigned long long)m->msis_remap_blocked);
	fprintf(out, "  guest errors         %llu%s\n", (unsigned long long)guest_error_count,
		m->tag[0] ? " (all VMs)" : "");
	if (m->domain)
		fprintf(out, "  iommu faults         %llu (domain %u)\n",
			(unsigned long long)machine_iommu_faults(m), m->domain->did);
	machine_disks_print_stats(m, out);
	machine_devs_print_stats(m, out);
	machine_viommu_print_stats(m, out);
	if (m->ram_changed)
		fprintf(out, "  RAM after stop       CHANGED (hash 0x%016llx at stop, 0x%016llx now)\n",
			(unsigned long long)m->ram_hash, (unsigned long long)m->ram_hash_now);
	else if (m->ram_sealed)
		fprintf(out, "  RAM after stop       unchanged (hash 0x%016llx)\n",
			(unsigned long long)m->ram_hash);
}

void machine_destroy(struct machine *m)
{
	if (m->vcpus) {
		for (unsigned i = 0; i < m->nr_vcpus; i++)
			if (m->vcpus[i].fd >= 0)
				vcpu_destroy(&m->vcpus[i]);
		free(m->vcpus);
	}
	free(m->cpuid);
	/* Devices go before the buses they sit on and the memory they use. */
	/* Devices that DMA go first, then the IOMMU (inside), then the bus. */
	machine_disks_destroy(m);
	machine_devs_destroy(m);
	/* The vIOMMU after every device behind it, the VM's host domain (its
	 * stage 2) after the vIOMMU. */
	machine_viommu_destroy(m);
	machine_host_domain_destroy(m);
	if (m->pci_ready)
		pci_host_destroy(&m->pci);
	if (m->devices_ready) {
		pvstats_destroy(&m->pvstats);
		serial_destroy(&m->com1);
		fw_cfg_destroy(&m->fw_cfg);
		i8042_destroy(&m->i8042);
		acpi_pm_destroy(&m->acpi_pm);
		debug_exit_destroy(&m->debug_exit);
		ioapic_destroy(&m->ioapic);
	}
	if (m->buses_ready) {
		bus_destroy(&m->pio);
		bus_destroy(&m->mmio);
	}
	if (m->routes_ready)
		irqroute_destroy(&m->routes);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	if (m->gmem.nr_ranges)
		gmem_destroy(&m->gmem);
	kvm_sys_close(&m->kvm);
	if (m->serial_fd >= 0)
		close(m->serial_fd);
	if (m->console_fd >= 0)
		close(m->console_fd);
	pthread_mutex_destroy(&m->lock);
}
