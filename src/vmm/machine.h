/* Machine assembly: the one place that ties KVM, the VM's share of the host
 * (RAM in the arena, a domain on the host IOMMU), the buses and the devices
 * together, and owns one VM's lifecycle:
 *   create (RAM in the host arena) -> load kernel -> create VM (memslots,
 *   buses, devices, vCPUs) -> start -> stop (kick vCPUs, join, devices
 *   stopped, RAM hash sealed) -> stats -> destroy (devices before the memory
 *   they use). Several machines run side by side in vmset.c. */
#ifndef WARDEN_VMM_MACHINE_H
#define WARDEN_VMM_MACHINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/bus.h"
#include "base/gmem.h"
#include "base/irq.h"
#include "base/power.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pvstats.h"
#include "iommu/iommu.h"
#include "pci/pci.h"
#include "devices/ioapic.h"
#include "devices/serial_16550.h"
#include "vmm/config.h"
#include "vmm/host.h"
#include "vmm/irqroute.h"
#include "vmm/kvm.h"
#include "vmm/machine_dev.h"
#include "vmm/machine_disk.h"
#include "vmm/vcpu.h"

/* q35-like physical layout, kept by every later issue. */
#define MACHINE_PCI_ECAM_BASE   0xb0000000ull
#define MACHINE_PCI_ECAM_SIZE   0x10000000ull
#define MACHINE_MMIO_HOLE_BASE  0xc0000000ull   /* 32-bit BARs go here ... */
#define MACHINE_MMIO_HOLE_END   0xfec00000ull   /* ... up to the IOAPIC */
#define MACHINE_IOAPIC_BASE     0xfec00000ull
#define MACHINE_VTD_BASE        0xfed90000ull   /* reserved for the vIOMMU */
#define MACHINE_LAPIC_BASE      0xfee00000ull
#define MACHINE_IOAPIC_PINS     24
#define MACHINE_BOOT_GDT_GPA    0x6f00ull       /* inside the boot-info page */
#define MACHINE_COM1_BASE       0x3f8
#define MACHINE_COM1_IRQ        4
#define MACHINE_DEBUG_EXIT_BASE 0xf4
#define MACHINE_FW_CFG_BASE     0x510
#define MACHINE_ACPI_PM_BASE    0x600
/* IOAPIC requester id 0xff:00.0, as QEMU's q35 (Q35_PSEUDO_BUS_PLATFORM);
 * a DMAR device scope will declare the same. */
#define MACHINE_IOAPIC_RID      IOAPIC_DEFAULT_REQUESTER_ID
#define MACHINE_SCI_IRQ         9
#define MACHINE_I8042_BASE      0x64
#define MACHINE_PCI_IO_BASE     0xc000
#define MACHINE_PCI_IO_END      0x10000
#define MACHINE_PCI_INTX_GSI    16              /* INTA..INTD swizzled onto 16..19 */
#define MACHINE_FIRST_DIRECT_SLOT 8             /* memslots after guest RAM */
#define MACHINE_STOP_TIMEOUT_MS 5000            /* for vCPUs to leave after a stop */
#define MACHINE_TEARDOWN_TIMEOUT_MS 15000       /* for the whole teardown */

struct machine_viommu;

struct machine {
	struct vm_config cfg;
	unsigned index;                 /* vmN: also its RAM's owner id in the arena */
	char tag[16];                   /* "vmN: " in messages when there are several VMs */
	struct host *host;              /* shared with the other VMs of the process */
	struct arena *arena;            /* &host->arena */
	struct kvm_sys kvm;
	int vm_fd;
	struct gmem gmem;
	struct bus pio, mmio;
	struct kvm_cpuid2 *cpuid;
	uint32_t tsc_khz;
	struct boot_entry entry;
	struct vcpu *vcpus;
	unsigned nr_vcpus;
	int serial_fd;
	int console_fd;                 /* set before create_vm: UART output (owned), -1: stdout */

	struct serial_16550 com1;
	struct debug_exit debug_exit;
	struct fw_cfg fw_cfg;
	struct ioapic ioapic;
	struct acpi_pm acpi_pm;
	struct i8042 i8042;
	struct pvstats pvstats;
	pthread_t stdin_thread;
	struct irqroute routes;
	bool routes_ready, pci_ready;
	struct pci_host pci;
	struct iommu *iommu;            /* the host's IOMMU, once a passthrough device needs it */
	bool iommu_ready;
	struct iommu_domain *domain;    /* this VM's domain on it */
	struct machine_viommu *viommu;  /* --viommu (machine_viommu.c), NULL: none */
	struct machine_disk disks[CONFIG_MAX_DISKS];
	unsigned nr_disks;
	struct machine_dev devs[CONFIG_MAX_DEVICES];
	unsigned nr_devs;
	unsigned next_memslot;
	struct msi_sink msi;
	struct power_ctl power;

	pthread_mutex_t lock;
	int stopping;                 /* read by vCPU threads */
	int exit_status;
	const char *exit_reason;
	uint64_t start_ns, exit_ns;
	uint64_t msis_sent, msis_blocked;
	uint64_t msis_remap_blocked;    /* refused by interrupt remapping */
	bool buses_ready, devices_ready;
	/* Called once, on whichever thread asked the machine to stop first. */
	void (*on_stop)(void *opaque);
	void *on_stop_opaque;
	bool started;                 /* machine_start ran */
	bool stdin_reader;            /* stdin_thread runs */
	/* Isolation check: RAM hashed when the VM stopped, and again at the end. */
	bool ram_sealed, ram_changed;
	uint64_t ram_hash, ram_hash_now;
};

/* RAM for VM `index` in host's arena, disks opened (no KVM yet). several:
 * messages name the VM. Returns 0 or the process exit status to give up with
 * (a message printed). */
int machine_create(struct machine *m, const struct vm_config *cfg, struct host *host,
		   unsigned index, bool several);
int machine_load_kernel(struct machine *m);
int machine_create_vm(struct machine *m);
/* Devices, then vCPUs; console_input: stdin feeds the UART. A failure is
 * a stop with the host-error status, seen like any other. */
void machine_start(struct machine *m, bool console_input);
/* Periodic, from the thread that runs the machines: console output without
 * a newline (a prompt) shows up. */
void machine_tick(struct machine *m);
bool machine_stopping(struct machine *m);
/* After a stop request: vCPUs joined (a vCPU that cannot be stopped ends the
 * process), devices stopped, console flushed. Returns the exit status. */
int machine_stop(struct machine *m);
/* Hash the (stopped) VM's RAM now / compare with that hash: true when
 * unchanged (or never sealed). */
void machine_seal_ram(struct machine *m);
bool machine_check_ram(struct machine *m);
/* heading: the block's first line ("warden stats:"). */
void machine_print_stats(struct machine *m, FILE *out, const char *heading);
void machine_destroy(struct machine *m);

/* For vCPU threads and devices (through struct power_ctl / msi_sink). */
void machine_request_exit(struct machine *m, int status, const char *reason);
void machine_ioapic_eoi(struct machine *m, uint8_t vector);
/* A compatibility-format message into the in-kernel LAPIC (no remapping:
 * the vIOMMU's own fault and completion events use it). */
int machine_deliver_msi(struct machine *m, uint64_t addr, uint32_t data);
/* Interrupt routes derived from the vIOMMU's entries (IOAPIC pins, irqfd
 * vectors) are recomputed. */
void machine_irq_routes_refresh(struct machine *m);

uint64_t machine_now_ns(void);

#endif
