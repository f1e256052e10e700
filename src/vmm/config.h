/* Command-line configuration: one VM (struct vm_config) or several in one
 * process (struct run_config: `warden run ... KERNEL --vm ... KERNEL`). */
#ifndef WARDEN_VMM_CONFIG_H
#define WARDEN_VMM_CONFIG_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#define CONFIG_DEFAULT_MEM        (256ull << 20)
#define CONFIG_DEFAULT_PRIVATE    (64ull << 20)
#define CONFIG_MIN_MEM            (2ull << 20)
#define CONFIG_MAX_VCPUS          64

#define CONFIG_MAX_DISKS          8
#define CONFIG_DEFAULT_QUEUES     4

enum disk_type { DISK_TYPE_NVME, DISK_TYPE_VIRTIO_BLK };
enum disk_mode { DISK_MODE_EMULATED, DISK_MODE_PASSTHROUGH };

/* --disk path=FILE|ram:SIZE,type=nvme|virtio-blk,mode=emulated|passthrough
 *        [,readonly=on][,serial=S][,queues=N]
 * (mode applies to NVMe; virtio-blk is paravirtual: an I/O thread fed by
 * ioeventfd, interrupts by irqfd.) */
struct disk_config {
	char path[1024];                /* empty for a RAM disk */
	uint64_t ram_size;              /* > 0: RAM backend */
	enum disk_type type;
	enum disk_mode mode;
	bool read_only;
	bool mode_given;
	char serial[21];
	unsigned queues;                /* I/O queue pairs */
};

#define CONFIG_MAX_DEVICES        4
#define CONFIG_MAX_VMS            8

enum device_kind { DEVICE_EDU };

/* --viommu mode=nested|shadow: the guest-visible IOMMU (wired elsewhere). */
enum vm_viommu { VM_VIOMMU_OFF, VM_VIOMMU_NESTED, VM_VIOMMU_SHADOW };

struct vm_config {
	uint64_t mem_size;
	unsigned cpus;
	uint64_t host_mem;          /* 0: sized from mem_size */
	const char *serial_path;    /* NULL: stdout */
	const char *cmdline;
	const char *initrd_path;
	const char *kernel_path;
	const char *kvm_path;       /* --kvm-device, for tests */
	bool stats;
	bool verbose;
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned nr_disks;
	enum device_kind devices[CONFIG_MAX_DEVICES];   /* --device NAME */
	unsigned nr_devices;
	enum vm_viommu viommu;
	int after;                  /* --after N: start once VM N stopped; -1: at once */
};

/* Every VM of one `warden run`. The process-wide options (--host-mem,
 * --stats, -v, --kvm-device) may be given in any group; they are kept here
 * and copied into every vms[i]. */
struct run_config {
	struct vm_config vms[CONFIG_MAX_VMS];
	unsigned nr_vms;
	uint64_t host_mem;          /* 0: sum of the VMs' needs */
	bool stats;
	bool verbose;
	const char *kvm_path;
};

/* One --disk value; 0, or -EINVAL after printing one line saying why. */
int config_parse_disk(const char *spec, struct disk_config *d, unsigned index);

/* Parses "256M", "1G", "4096", "2T"; 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);
/* --viommu's value (NULL: bare --viommu, which means nested); 0, or
 * -EINVAL after printing one line. */
int config_parse_viommu(const char *spec, enum vm_viommu *out);

/* Fills rc from `warden run` arguments (argv[0] is "run"):
 *   [OPTIONS] KERNEL [--vm [OPTIONS] KERNEL]...
 * Returns 0, or -EINVAL after printing one line; 1 when --help was asked. */
int config_parse_vms(struct run_config *rc, int argc, char **argv);
/* The one-VM form: as config_parse_vms, but a command line with --vm is
 * refused. */
int config_parse_run(struct vm_config *cfg, int argc, char **argv);
/* Arena size for one VM alone / for all of rc's VMs: --host-mem, else the
 * VMs' RAM (each rounded up to the arena's 2 MiB carving unit) plus the
 * hypervisor-private region, at least 512 MiB. */
uint64_t config_host_mem(const struct vm_config *cfg);
uint64_t config_run_host_mem(const struct run_config *rc);
void config_usage(FILE *out);

#endif
