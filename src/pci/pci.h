/* PCI Express platform: config space, BARs, capabilities (PCIe, MSI-X),
 * bus-master gating, and the host bridge (CF8/CFC and ECAM).
 *
 * The PCI core owns config space. A device plugs in by declaring its
 * identity, BARs and capabilities; it gets callbacks only for what it cares
 * about. MSI-X tables are handled here, once, for every device. The core
 * knows nothing of KVM: exit-free BAR windows and irqfd routes are asked of
 * the host through struct pci_host_ops, which the vmm layer implements. */
#ifndef WARDEN_PCI_PCI_H
#define WARDEN_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bus.h"
#include "base/irq.h"

struct dma_as;

#define PCI_CONFIG_SPACE_SIZE   4096       /* PCIe extended config space */
#define PCI_NUM_BARS            6
#define PCI_MAX_DEVFN           256
#define PCI_DEVFN(dev, fn)      ((uint8_t)(((dev) << 3) | (fn)))
#define PCI_BDF(bus, devfn)     ((uint16_t)(((bus) << 8) | (devfn)))
#define PCI_BDF_FMT             "%02x:%02x.%x"
#define PCI_BDF_ARGS(bdf)       ((bdf) >> 8), (((bdf) >> 3) & 0x1f), ((bdf) & 7)

/* Config-space registers (PCI Local Bus 3.0 / PCIe 4.0 names). */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define  PCI_COMMAND_IO         0x0001
#define  PCI_COMMAND_MEMORY     0x0002
#define  PCI_COMMAND_MASTER     0x0004
#define  PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS              0x06
#define  PCI_STATUS_INTERRUPT   0x0008
#define  PCI_STATUS_CAP_LIST    0x0010
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CLASS_DEVICE        0x0a
#define PCI_HEADER_TYPE         0x0e
#define PCI_BASE_ADDRESS_0      0x10
#define  PCI_BASE_ADDRESS_SPACE_IO     0x01
#define  PCI_BASE_ADDRESS_MEM_TYPE_64  0x04
#define  PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d
#define PCI_CAP_ID_EXP          0x10
#define PCI_CAP_ID_MSIX         0x11
#define PCI_MSIX_FLAGS          2          /* within the MSI-X capability */
#define  PCI_MSIX_FLAGS_QSIZE   0x07ff
#define  PCI_MSIX_FLAGS_MASKALL 0x4000
#define  PCI_MSIX_FLAGS_ENABLE  0x8000
#define PCI_MSIX_TABLE          4
#define PCI_MSIX_PBA            8
#define PCI_MSIX_ENTRY_SIZE     16
#define  PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1

/* Warden's own PCI vendor id for its device models (not a PCI-SIG
 * assignment; drivers here match on class codes). */
#define PCI_VENDOR_ID_WARDEN    0x5744

/* An ioeventfd window of a BAR: while memory decode is on, a guest write to
 * [offset, offset + len) signals fd inside the kernel, with no userspace
 * exit (virtio notifications). The BAR's bus_ops must still handle such a
 * write (by signalling fd) for hosts or access sizes the kernel does not
 * match. */
#define PCI_BAR_MAX_IOEVENTFDS 16

struct pci_bar_ioeventfd {
	uint64_t offset;
	unsigned len;                   /* 0: any access size */
	int fd;
	bool assigned;                  /* registered with the host right now */
	uint64_t gpa;                   /* where, while assigned */
};

enum pci_bar_kind { PCI_BAR_UNUSED = 0, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	enum pci_bar_kind kind;
	uint64_t size;                  /* power of two; MEM >= 4 KiB, IO >= 4 */
	bool prefetchable;
	const struct bus_ops *ops;      /* trapped accesses; offset within the BAR */
	void *opaque;
	/* Optional exit-free window: [direct_offset, +direct_size) of the BAR is
	 * host memory mapped straight into guest physical memory while memory
	 * decode is on (passthrough doorbells). Page aligned. */
	void *direct_host;
	uint64_t direct_offset, direct_size;
	struct pci_bar_ioeventfd ioeventfds[PCI_BAR_MAX_IOEVENTFDS];
	unsigned nr_ioeventfds;
	/* Placement state, kept by the core. */
	uint64_t addr;                  /* as the guest programmed it */
	bool mapped;                    /* registered on the bus right now */
	bool direct_mapped;             /* map_direct succeeded, unmap_direct owed */
};

struct pci_device;

struct pci_device_ops {
	/* After the core applied a config write (off, len, the value written).
	 * Optional. Runs on a vCPU thread. */
	void (*config_write)(struct pci_device *d, uint32_t off, uint32_t val, unsigned len);
	/* Return to power-on state (bus reset). Optional. */
	void (*reset)(struct pci_device *d);
};

struct pci_msix_vector {
	uint64_t addr;
	uint32_t data;
	bool masked;                    /* per-vector mask bit */
	bool pending;                   /* PBA bit */
	int irqfd;                      /* >= 0: deliver by writing this eventfd */
};

struct pci_msix {
	unsigned nvec;
	unsigned bar;
	uint32_t table_off, pba_off;
	uint8_t cap_off;
	bool enabled, function_masked;
	struct pci_msix_vector *vec;
	uint64_t delivered, pended;
};

struct pci_device_id {
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys;
	uint8_t revision;
	uint32_t class_code;            /* 24 bits: class, subclass, prog-if */
	uint8_t interrupt_pin;          /* 0 none, 1 INTA ... 4 INTD */
};

struct pci_host;

struct pci_device {
	const char *name;
	uint8_t config[PCI_CONFIG_SPACE_SIZE];
	uint8_t wmask[PCI_CONFIG_SPACE_SIZE];    /* guest-writable bits */
	uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE];  /* write-1-to-clear bits */
	struct pci_bar bars[PCI_NUM_BARS];
	const struct pci_device_ops *ops;
	void *opaque;
	struct pci_host *host;
	uint8_t devfn;
	uint16_t bdf;                   /* requester id */
	uint8_t last_cap;               /* 0 when there is none yet */
	uint16_t next_cap_off;          /* where the next capability goes */
	bool has_msix;
	struct pci_msix msix;
	struct dma_as *dma;             /* gated by Bus Master Enable */
	struct irq_line intx;           /* set by the host at plug time */
	pthread_mutex_t lock;           /* config space and MSI-X state */
};

/* --- device side --- */
int pci_device_init(struct pci_device *d, const char *name, const struct pci_device_id *id,
		    const struct pci_device_ops *ops, void *opaque);
void pci_device_destroy(struct pci_device *d);
/* Conventional reset (PCI 3.0 6.6): decode and bus mastering off (BARs
 * unmapped, DMA gated), status and BAR addresses cleared, MSI-X disabled with
 * every vector masked and nothing pending; then the device's ops->reset. */
void pci_device_reset(struct pci_device *d);
/* idx is the BAR register index; a MEM64 BAR also uses idx + 1. */
int pci_device_add_bar(struct pci_device *d, unsigned idx, enum pci_bar_kind kind, uint64_t size,
		       bool prefetchable, const struct bus_ops *ops, void *opaque);
int pci_bar_set_direct(struct pci_device *d, unsigned idx, uint64_t offset, uint64_t size,
		       void *host);
/* Adds an ioeventfd window (see struct pci_bar_ioeventfd) to a MEM BAR; the
 * core asks the host to (de)assign it as decode and the BAR address change. */
int pci_bar_add_ioeventfd(struct pci_device *d, unsigned idx, uint64_t offset, unsigned len,
			  int fd);
/* Appends a capability (id, then body bytes after the id/next pair); its
 * offset in *off. wmask bits of the body start read-only. */
int pci_device_add_cap(struct pci_device *d, uint8_t cap_id, const void *body, uint8_t body_len,
		       uint8_t *off);
/* PCIe capability v2, endpoint, no link (a root-complex integrated device). */
int pci_device_add_pcie_cap(struct pci_device *d);
/* MSI-X with nvec vectors whose table and PBA live in BAR bar (trapped part)
 * at the given offsets; the core handles those accesses. */
int pci_device_add_msix(struct pci_device *d, unsigned nvec, unsigned bar, uint32_t table_off,
			uint32_t pba_off);
/* The device's DMA address space: the core gates it with Bus Master
 * Enable (dma_as_set_enabled), so no DMA happens while BME is off. Turning
 * BME off waits for transfers in flight under d->lock: never call into the
 * core for this device from inside a dma_access window. */
void pci_device_set_dma(struct pci_device *d, struct dma_as *as);
bool pci_device_bus_master(struct pci_device *d);

/* Raise MSI-X vector: delivered (msi_sink with the device's requester id,
 * or its irqfd), or left pending in the PBA while masked. -ENODEV when MSI-X
 * is off, -EINVAL for a bad vector. Safe from any thread. */
int pci_msix_notify(struct pci_device *d, unsigned vector);
bool pci_msix_enabled(struct pci_device *d);
/* Passthrough: deliver this vector by writing eventfd fd (-1: back to
 * msi_sink). The host keeps a KVM irqfd route in step through
 * pci_host_ops.msix_vector_changed. */
int pci_msix_set_irqfd(struct pci_device *d, unsigned vector, int fd);
/* Current address/data of a vector (for routes); false if out of range.
 * *masked is the effective mask: the vector's mask bit, the function mask,
 * or MSI-X disabled - whether a notify now would only set the PBA bit. */
bool pci_msix_vector(struct pci_device *d, unsigned vector, uint64_t *addr, uint32_t *data,
		     bool *masked);
/* INTx level for the device's pin (honours COMMAND.INTX_DISABLE; the pin
 * is not driven while MSI-X is enabled, PCI 3.0 6.8.2). */
void pci_set_intx(struct pci_device *d, int level);

/* Config access, as the host bridge performs it (also for tests). Accesses
 * of len 1, 2, 4 that do not cross a dword; others read as all ones. */
uint32_t pci_config_read(struct pci_device *d, uint32_t off, unsigned len);
void pci_config_write(struct pci_device *d, uint32_t off, uint32_t val, unsigned len);

/* --- host side --- */
struct pci_host_ops {
	/* Map host memory at gpa as an exit-free window (a KVM memslot), or
	 * take it away. Called when memory decode or a BAR address changes. */
	int (*map_direct)(void *opaque, struct pci_device *d, unsigned bar, uint64_t gpa,
			  uint64_t size, void *host);
	void (*unmap_direct)(void *opaque, struct pci_device *d, unsigned bar);
	/* Assign (or deassign) a KVM ioeventfd: a write of len bytes (0: any)
	 * at gpa signals fd. Optional; without it writes reach the BAR's ops. */
	int (*ioeventfd)(void *opaque, struct pci_device *d, uint64_t gpa, unsigned len, int fd,
			 bool assign);
	/* A vector's address, data or mask changed (or MSI-X was enabled or
	 * disabled): the host refreshes its irqfd route. Optional. */
	void (*msix_vector_changed)(void *opaque, struct pci_device *d, unsigned vector);
};

#define PCI_HOST_INTX_GSI_BASE 16       /* INTA..INTD of slot s -> GSI 16 + ((s + pin - 1) & 3) */

struct pci_host {
	struct bus *pio, *mmio;
	uint64_t ecam_base, ecam_size;
	uint32_t config_address;        /* CF8 latch */
	struct pci_device *devs[PCI_MAX_DEVFN];   /* bus 0 */
	struct pci_device bridge;       /* 00:00.0 host bridge */
	const struct msi_sink *msi;
	const struct pci_host_ops *ops;
	void *opaque;
	struct irq_line intx_gsi_base;  /* .pin is the GSI of INTA at slot 0 */
	uint64_t mmio32_next, mmio32_end;
	uint64_t mmio64_next, mmio64_end;
	uint32_t io_next, io_end;
	pthread_mutex_t lock;
};

/* Registers CF8/CFC on pio and ECAM [ecam_base, +ecam_size) on mmio, and
 * plugs a host bridge at 00:00.0. intx routes INTx pins to interrupt
 * controller pins (intx.pin = the GSI of INTA at slot 0). */
int pci_host_init(struct pci_host *h, struct bus *pio, struct bus *mmio, uint64_t ecam_base,
		  uint64_t ecam_size, const struct msi_sink *msi, const struct irq_line *intx,
		  const struct pci_host_ops *ops, void *opaque);
void pci_host_destroy(struct pci_host *h);
int pci_host_plug(struct pci_host *h, struct pci_device *d, uint8_t devfn);
/* Bus reset: every plugged device (pci_device_reset) in devfn order and the
 * CF8 latch. Resource assignment is the caller's to redo, as firmware's. */
void pci_host_reset(struct pci_host *h);
/* Firmware-like resource assignment at start: every BAR gets an address
 * from these windows (naturally aligned), decode is enabled, the interrupt
 * line is set. The guest may relocate BARs later. Windows are [base, end)
 * (end exclusive); an empty 64-bit window puts 64-bit BARs below 4 GiB.
 * Bus mastering stays off, as SeaBIOS leaves it to the OS driver. */
int pci_host_assign_resources(struct pci_host *h, uint64_t mmio32_base, uint64_t mmio32_end,
			      uint64_t mmio64_base, uint64_t mmio64_end, uint32_t io_base,
			      uint32_t io_end);

#endif
