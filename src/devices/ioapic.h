/* Userspace I/O APIC (82093AA register model, version 0x20 with the EOI
 * register) for KVM's split irqchip: the local APICs are in the kernel, so
 * a pin's interrupt leaves here as an MSI tagged with the IOAPIC's
 * requester id, which lets an interrupt remapper validate and translate it.
 * Redirection entries may be in the compatibility or in the VT-d
 * remappable format (RTE bit 48). */
#ifndef WARDEN_DEVICES_IOAPIC_H
#define WARDEN_DEVICES_IOAPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"
#include "base/irq.h"

#define IOAPIC_DEFAULT_BASE   0xfec00000ull
#define IOAPIC_MMIO_SIZE      0x1000
#define IOAPIC_NUM_PINS       24
#define IOAPIC_VERSION        0x20
/* QEMU q35's choice (Q35_PSEUDO_BUS_PLATFORM:Q35_PSEUDO_DEVFN_IOAPIC =
 * ff:00.0), the source id its DMAR table declares for the IOAPIC. */
#define IOAPIC_DEFAULT_REQUESTER_ID 0xff00

/* Redirection table entry fields, compatibility format (82093AA 3.2.4). */
#define IOAPIC_RTE_VECTOR_MASK     0xffull
#define IOAPIC_RTE_DELMOD_SHIFT    8
#define IOAPIC_RTE_DELMOD_MASK     (7ull << IOAPIC_RTE_DELMOD_SHIFT)
#define IOAPIC_RTE_DESTMOD         (1ull << 11)  /* 1: logical */
#define IOAPIC_RTE_DELIVS          (1ull << 12)  /* read-only */
#define IOAPIC_RTE_INTPOL          (1ull << 13)  /* 1: active low */
#define IOAPIC_RTE_REMOTE_IRR      (1ull << 14)  /* read-only */
#define IOAPIC_RTE_TRIGGER_LEVEL   (1ull << 15)
#define IOAPIC_RTE_MASKED          (1ull << 16)
#define IOAPIC_RTE_DEST_SHIFT      56
/* Remappable format (VT-d spec 5.1.5.1, Linux IR_IO_APIC_route_entry):
 * vector 7:0, bits 10:8 zero, index[15] in bit 11, the same status/trigger
 * /mask bits 12..16, bit 48 set, index[14:0] in bits 63:49. */
#define IOAPIC_RTE_IR_FORMAT       (1ull << 48)
#define IOAPIC_RTE_IR_INDEX15      (1ull << 11)
#define IOAPIC_RTE_IR_INDEX_SHIFT  49

#define IOAPIC_RTE_RO_BITS         (IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR)

/* Delivery modes (RTE bits 10:8, MSI data bits 10:8). */
#define IOAPIC_DELMOD_FIXED   0
#define IOAPIC_DELMOD_LOWPRI  1
#define IOAPIC_DELMOD_SMI     2
#define IOAPIC_DELMOD_NMI     4
#define IOAPIC_DELMOD_INIT    5
#define IOAPIC_DELMOD_EXTINT  7

/* MSI encoding (Intel SDM vol. 3 10.11; VT-d 5.1.2.2 remappable). */
#define IOAPIC_MSI_ADDR_BASE       0xfee00000ull
#define IOAPIC_MSI_ADDR_DEST_SHIFT 12
#define IOAPIC_MSI_ADDR_DESTMOD    (1ull << 2)   /* compat: logical */
#define IOAPIC_MSI_ADDR_IR_INDEX15 (1ull << 2)   /* remappable: index[15] */
#define IOAPIC_MSI_ADDR_IR_SHV     (1ull << 3)   /* remappable: subhandle valid */
#define IOAPIC_MSI_ADDR_IR_FORMAT  (1ull << 4)   /* remappable format */
#define IOAPIC_MSI_ADDR_IR_INDEX_SHIFT 5
#define IOAPIC_MSI_DATA_DELMOD_SHIFT   8
#define IOAPIC_MSI_DATA_LEVEL_ASSERT   (1u << 14)
#define IOAPIC_MSI_DATA_TRIGGER_LEVEL  (1u << 15)

struct ioapic_pin_stats {
	uint64_t asserts;       /* low-to-high transitions of the input */
	uint64_t delivered;     /* MSIs sent */
	uint64_t masked;        /* assertions that found the pin masked */
	uint64_t eois;          /* remote IRR cleared by an EOI */
	uint64_t send_errors;   /* the MSI sink refused */
};

/* Called after a guest write, a reset or a load changed redirection
 * entries (remote IRR and delivery status excluded): the vmm re-reads
 * ioapic_pin_msi() and updates KVM's GSI routes so the kernel knows which
 * vectors need EOI exits. It runs with the IOAPIC lock held (recursive:
 * reading entries back is fine), so that no level interrupt goes out
 * before its route is in place. The msi_sink is called under that lock
 * too. So neither may take a lock that is held around ioapic_set_irq() or
 * ioapic_eoi() calls. */
typedef void ioapic_routes_changed_fn(void *opaque);

struct ioapic {
	pthread_mutex_t lock;
	bool inited;
	uint64_t base;                  /* set by ioapic_attach() */
	struct msi_sink msi;
	uint16_t requester_id;          /* source id of its MSIs */
	ioapic_routes_changed_fn *routes_changed;
	void *routes_opaque;
	uint8_t id;                     /* IOAPICID[27:24]; 0 after reset, as QEMU */
	uint8_t ioregsel;
	uint64_t rte[IOAPIC_NUM_PINS];
	uint32_t line;                  /* input levels, bit per pin */
	struct ioapic_pin_stats stats[IOAPIC_NUM_PINS];
};

/* msi: where pins' interrupts go (copied); requester_id: their source id
 * (IOAPIC_DEFAULT_REQUESTER_ID as QEMU's q35, or what the DMAR table
 * declares); routes_changed: may be NULL. */
int ioapic_init(struct ioapic *io, const struct msi_sink *msi, uint16_t requester_id,
		ioapic_routes_changed_fn *routes_changed, void *opaque);
/* Claims IOAPIC_MMIO_SIZE bytes from base (IOAPIC_DEFAULT_BASE). */
int ioapic_attach(struct ioapic *io, struct bus *mmio, uint64_t base);
/* All pins masked, ID 0. Input levels are the devices' and stay as they
 * are. Calls routes_changed (init does not). */
void ioapic_reset(struct ioapic *io);
/* Versioned state; returns its size or -ENOSPC (buf == NULL: the size). */
int ioapic_save(const struct ioapic *io, void *buf, size_t len);
/* 0 or -EINVAL; calls routes_changed. */
int ioapic_load(struct ioapic *io, const void *buf, size_t len);
/* Safe on a zeroed or failed-to-init device. */
void ioapic_destroy(struct ioapic *io);

/* Drives input pin to level (1 asserted; the board applies polarity, as in
 * QEMU and KVM, so INTPOL is not consulted). Edge entries deliver on a
 * rising edge if unmasked (a masked edge is lost, 82093AA); level entries
 * deliver while asserted, unmasked and remote IRR clear, and set remote
 * IRR. Callable from any thread. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* The same with struct irq_line's signature (opaque = the ioapic). */
void ioapic_irq_line_set(void *opaque, unsigned pin, int level);
static inline struct irq_line ioapic_irq_line(struct ioapic *io, unsigned pin)
{
	return (struct irq_line){ .set = ioapic_irq_line_set, .opaque = io, .pin = pin };
}
/* An EOI for vector (from the EOI register, or KVM's EOI exit): clears
 * remote IRR of level entries with that vector and redelivers those whose
 * input is still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* The MSI the pin sends, for mirroring into KVM's GSI routes. Returns
 * false only if there is no such pin: masked pins are reported too, and
 * should be routed too, since KVM derives EOI exits from the routes and a
 * level interrupt is often EOIed while masked (Linux's oneshot and
 * mask-during-migration paths): dropping its route would lose that EOI and
 * leave remote IRR set for good. Those routes never fire: pins deliver
 * through the msi_sink. */
bool ioapic_pin_msi(struct ioapic *io, unsigned pin, uint64_t *addr, uint32_t *data);
/* Raw redirection entry (for routing: mask, trigger mode); 0 if no pin. */
uint64_t ioapic_read_rte(struct ioapic *io, unsigned pin);
/* Pure encoding of an entry as an MSI, exported for tests and the vmm. */
void ioapic_rte_to_msi(uint64_t rte, uint64_t *addr, uint32_t *data);
int ioapic_pin_stats(struct ioapic *io, unsigned pin, struct ioapic_pin_stats *out);

#endif
