/* Guest-visible Intel VT-d remapping unit ("vIOMMU"): the 4 KiB register
 * block a guest's own IOMMU driver programs (q35 puts it at 0xfed90000),
 * in front of a struct vtd_unit whose root, context and second-level tables
 * live in guest RAM and whose output addresses are GPAs.
 *
 * Modelled (VT-d spec rev 3.x, chapters 5, 6, 9, 10):
 *  - the registers: VER, CAP, ECAP, GCMD/GSTS, RTADDR, CCMD, FSTS, the
 *    fault-event registers, IVA/IOTLB (at ECAP.IRO), the fault-recording
 *    registers (at CAP.FRO), the invalidation queue registers, IRTA;
 *  - legacy-mode root tables (RTADDR.TTM = 00), TE, SRTP;
 *  - register-based invalidation (context cache, IOTLB: global, domain,
 *    device / page-selective) and queued invalidation (context, IOTLB,
 *    interrupt entry cache, invalidation wait with status write, completion
 *    interrupt and drain);
 *  - primary fault logging with fault events (FECTL mask/pending);
 *  - interrupt remapping of MSIs (remappable and compatibility format,
 *    xAPIC destinations, source-id validation), faults 0x20-0x26.
 * Not modelled: scalable mode, device-TLBs, PASID, posted interrupts,
 * x2APIC (EIM), advanced fault logging, protected memory regions,
 * write-buffer flushing (CAP.RWBF = 0).
 *
 * Threads: register accesses come from vCPU threads, translations and
 * faults from device threads, viommu_irq_remap() from whatever delivers the
 * MSI. Register state sits under one mutex; the hooks, the MSIs the unit
 * sends and vtd_drain() all run with it released, on the thread that
 * wrote the register. Queued invalidation runs synchronously on the thread
 * that wrote IQT (or enabled QI); a second writer arriving meanwhile only
 * moves the tail, which the running pass then processes too. */
#ifndef WARDEN_IOMMU_VIOMMU_H
#define WARDEN_IOMMU_VIOMMU_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"
#include "base/gmem.h"
#include "base/irq.h"
#include "iommu/vtd.h"

#define VIOMMU_DEFAULT_BASE     0xfed90000ull
#define VIOMMU_MMIO_SIZE        0x1000
#define VIOMMU_IVA_OFFSET       0x200      /* ECAP.IRO = 0x20 */
#define VIOMMU_FRCD_OFFSET      0x220      /* CAP.FRO = 0x22 */
#define VIOMMU_NR_FAULT_RECORDS 8          /* CAP.NFR = 7 */
#define VIOMMU_HAW              46

enum viommu_mode {
	VIOMMU_MODE_NESTED,     /* guest tables walked at translation time */
	VIOMMU_MODE_SHADOW,     /* CAP.CM = 1: every map is followed by an invalidation */
};

enum viommu_inv_gran { VIOMMU_INV_GLOBAL, VIOMMU_INV_DOMAIN, VIOMMU_INV_PAGE };

/* Called on the thread that wrote the register, with no vIOMMU lock held,
 * after the unit's own caches were invalidated and before the command
 * shows complete (CCMD.ICC / IOTLB.IVT clear, a later wait descriptor's
 * status write). Any may be NULL. */
struct viommu_hooks {
	/* addr and size: the range of a page-selective invalidation (4 KiB <<
	 * AM); 0 for the other granularities. */
	void (*iotlb_invalidated)(void *opaque, enum viommu_inv_gran gran, uint16_t did,
				  uint64_t addr, uint64_t size);
	void (*context_invalidated)(void *opaque);   /* also after TE / SRTP changes and reset */
	void (*irq_invalidated)(void *opaque);       /* IEC invalidation, IRE / SIRTP / CFI changes, reset */
	/* After every register write and reset, once the hooks it caused (a
	 * whole queued-invalidation pass: any number of descriptors) have run:
	 * where one guest action's work is budgeted, the budget renews here. */
	void (*pass_done)(void *opaque);
};

struct viommu_cfg {
	enum viommu_mode mode;
	const struct gmem *gmem;          /* guest RAM: tables, queue, IRT, status writes */
	const struct msi_sink *msi;       /* fault and completion events (not remapped) */
	uint16_t ioapic_sid;              /* the DMAR scope's requester id of the IOAPIC */
	unsigned mgaw;                    /* 39 or 48; 0: 48 */
	const struct vtd_stage2 *stage2;  /* nested mode's second stage, or NULL */
	const struct viommu_hooks *hooks;
	void *hooks_opaque;
};

/* A remapped interrupt, as the LAPIC takes it (compatibility format). */
struct viommu_irq {
	uint64_t addr;
	uint32_t data;
};

struct viommu_stats {
	uint64_t inv_context_global, inv_context_domain, inv_context_device;
	uint64_t inv_iotlb_global, inv_iotlb_domain, inv_iotlb_page;
	uint64_t inv_iec;                 /* interrupt entry cache */
	uint64_t inv_by_register;         /* of the above, through CCMD / IOTLB_REG */
	uint64_t qi_descriptors;          /* processed from the queue */
	uint64_t qi_waits;
	uint64_t qi_errors;               /* FSTS.IQE raised */
	uint64_t ir_remapped;             /* through an IRTE */
	uint64_t ir_blocked;              /* refused, fault recorded or suppressed */
	uint64_t ir_passthrough;          /* IRE off, or compatibility format with CFIS */
	uint64_t fault_events;            /* fault-event MSIs sent */
	uint64_t completion_events;       /* invalidation-completion MSIs sent */
};

/* The unit's state; embed it, but use only the functions below. */
struct viommu {
	struct vtd_unit unit;             /* first: tables by GPA, outputs GPAs */
	enum viommu_mode mode;
	const struct gmem *gmem;
	const struct msi_sink *msi;
	const struct viommu_hooks *hooks;
	void *hooks_opaque;
	uint16_t ioapic_sid;
	struct bus *mmio;
	uint64_t base;
	uint64_t cap, ecap;

	pthread_mutex_t lock;             /* everything below */
	uint32_t gsts;
	uint64_t rtaddr, ccmd, iva, iotlb;
	uint32_t fsts;                    /* IQE; PFO, PPF, FRI come from the unit's log */
	uint32_t fectl, fedata, feaddr;
	uint64_t iqh, iqt, iqa, iqercd;
	uint32_t ics, iectl, iedata, ieaddr;
	uint64_t irta;                    /* as written */
	uint64_t irta_active;             /* latched by SIRTP: what remapping uses */
	bool qi_busy;                     /* a thread is processing the queue */
	unsigned epoch;                   /* bumped by reset: a queue pass in flight stops */

	struct viommu_stats stats;        /* relaxed atomics */
};

/* 0, or -EINVAL (bad configuration, guest RAM beyond the 46-bit HAW),
 * -ENOMEM. The unit starts in its reset state. */
int viommu_init(struct viommu *v, const struct viommu_cfg *cfg);
/* Unregisters the block if attached; no access may be in flight. */
void viommu_destroy(struct viommu *v);
/* Registers the 4 KiB register block at base on the MMIO bus. */
int viommu_attach(struct viommu *v, struct bus *mmio, uint64_t base);
/* DMA remapping off, interrupt remapping off, queue off, every register at
 * its reset value, caches invalidated, fault log cleared. */
void viommu_reset(struct viommu *v);
/* The guest-programmed remapping unit: translate device requests with
 * vtd_translate(viommu_unit(v), ...); output addresses are GPAs. */
struct vtd_unit *viommu_unit(struct viommu *v);
bool viommu_translation_enabled(struct viommu *v);
/* Interrupt remapping of one MSI write (addr, data) from source-id sid.
 * 0: deliver *out (compatibility format, for the LAPIC); -EPERM: blocked
 * and the fault recorded (unless the IRTE's FPD suppresses it). With IRE
 * off every message passes unchanged. Reads the IRTE from guest memory on
 * every call (no interrupt entry cache): a VMM that caches derived routes
 * refreshes them from irq_invalidated. */
int viommu_irq_remap(struct viommu *v, uint16_t sid, uint64_t addr, uint32_t data,
		     struct viommu_irq *out);
/* The same decision without side effects (no fault recorded, nothing
 * counted): for a VMM deriving interrupt routes from the table, which is
 * not an interrupt request. */
int viommu_irq_lookup(struct viommu *v, uint16_t sid, uint64_t addr, uint32_t data,
		      struct viommu_irq *out);
void viommu_stats_get(struct viommu *v, struct viommu_stats *s);

#endif
