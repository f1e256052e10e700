/* Intel VT-d driver for the test guests (legacy-mode DMA remapping, queued
 * invalidation, interrupt remapping), for QEMU's intel-iommu and Warden's
 * vIOMMU. It is deliberately a toolkit as much as a driver: the attack
 * programs use the same calls to build what a careful OS would (strict
 * unmap, invalidate after every map under Caching Mode) and what a careless
 * one would (lazy unmap, raw context and page-table entries).
 *
 * Everything works in ring 0 and ring 3 (MMIO, memory and port I/O only);
 * programs run it in ring 3 (docs/guest-runtime.md). Tables come from
 * rt_alloc and are addressed by GPA (identity-mapped). Every wait on the
 * unit is bounded by u->timeout_us: a status bit that never changes is
 * VTD_E_TIMEOUT, never a hang. Results: 0 or a negative VTD_E_*, u->err
 * says why. Names follow the VT-d specification (rev. 3.x/4.x). */
#ifndef GUEST_RT_VTD_H
#define GUEST_RT_VTD_H

#include "rt.h"

#define VTD_PAGE_SIZE 4096ull

/* Driver errors. */
#define VTD_E_NODEV    (-1)     /* no DMAR / no DRHD / registers unusable */
#define VTD_E_TIMEOUT  (-2)     /* a status bit did not change in time */
#define VTD_E_INVAL    (-3)     /* bad argument (alignment, size, width) */
#define VTD_E_NOMEM    (-4)
#define VTD_E_EXIST    (-5)     /* map over something already mapped */
#define VTD_E_UNSUPP   (-6)     /* the unit lacks the capability */
#define VTD_E_IQE      (-7)     /* invalidation queue error (FSTS.IQE) */
#define VTD_E_STATE    (-8)     /* e.g. IEC without queued invalidation */
const char *vtd_err_name(int r);

/* ---- ACPI DMAR ---- */
#define VTD_DMAR_INTR_REMAP      0x1
#define VTD_DMAR_X2APIC_OPT_OUT  0x2
struct vtd_dmar {
	uint64_t table;                 /* address of the DMAR */
	unsigned haw;                   /* host address width, bits */
	uint8_t flags;                  /* VTD_DMAR_* */
	unsigned ndrhd;                 /* DRHD structures (the first is used) */
	uint64_t reg_base;
	uint16_t segment;
	bool include_pci_all;
	bool ioapic;                    /* an IOAPIC in the DRHD's device scope */
	uint8_t ioapic_id;              /* its enumeration id (MADT IOAPIC id) */
	uint16_t ioapic_sid;            /* source-id of its interrupt messages */
	/* Without INCLUDE_PCI_ALL the DRHD lists what it covers (QEMU since
	 * 6.1 lists every device): PCI endpoints (1) and bridges (2). */
	unsigned nscope;
	struct { uint8_t type; uint16_t sid; } scope[64];
};
/* Finds and decodes the DMAR. 0 or VTD_E_NODEV. */
int vtd_dmar_parse(struct vtd_dmar *d);
/* The DRHD translates requests from bdf: INCLUDE_PCI_ALL, the endpoint
 * listed, or a listed bridge's secondary..subordinate buses hold it. */
bool vtd_dmar_covers(const struct vtd_dmar *d, uint16_t bdf);

/* ---- the remapping unit ---- */
struct vtd_inv_stats {                  /* invalidations issued, by interface */
	unsigned reg_context, reg_iotlb;        /* CCMD, IOTLB register */
	unsigned qi_context, qi_iotlb, qi_iec, qi_wait;
	unsigned qi_wait_irq;                   /* wait descriptors with IF (vtd_inv_wait_irq) */
};

struct vtd_unit {
	uint64_t base;                  /* register block */
	unsigned haw;                   /* from the DMAR */
	uint32_t ver;
	uint64_t cap, ecap;
	/* Decoded capabilities. */
	unsigned mgaw;                  /* bits */
	uint8_t sagaw;                  /* CAP.SAGAW: bit 1 39-bit (3-level), bit 2 48-bit (4-level) */
	unsigned domain_bits;           /* CAP.ND: 4 + 2 * ND */
	unsigned nfr;                   /* fault recording registers */
	uint32_t fro, iro;              /* byte offsets of FRCD[0] and IVA/IOTLB */
	unsigned mamv;
	bool cm, rwbf, psi, sp2m, sp1g, drain_r, drain_w;
	bool qi_cap, ir_cap, pt_cap, coherent, eim_cap;
	/* State. */
	uint64_t root;                  /* root table (256 x 128 bits) */
	uint64_t ctx[256];              /* context table per bus, 0: none yet */
	bool qi;                        /* invalidations go through the queue */
	uint64_t iq;                    /* invalidation queue (256 descriptors) */
	unsigned iq_len, iq_tail;
	volatile uint32_t *wait_status; /* written by wait descriptors */
	uint32_t wait_seq;
	uint64_t irt;                   /* interrupt remapping table */
	unsigned irt_len;
	uint64_t timeout_us;            /* every wait; default 1 s */
	struct vtd_inv_stats stats;
	char err[192];
};

/* Reads VER/CAP/ECAP at d->reg_base, checks they are sane, allocates the
 * root table, masks the fault and invalidation-completion events (polling
 * is the interface here; ICS.IWC is cleared) and
 * turns off whatever a previous owner left on (IR, TE, QI), clearing old
 * fault records. 0 or VTD_E_*. */
int vtd_open(struct vtd_unit *u, const struct vtd_dmar *d);
uint32_t vtd_gsts(struct vtd_unit *u);
/* RTADDR = u->root, SRTP, then global context-cache and IOTLB
 * invalidation (required before TE by the spec). */
int vtd_set_root_table(struct vtd_unit *u);
int vtd_set_translation(struct vtd_unit *u, bool on);      /* GCMD.TE */
/* Queued invalidation on/off. Enabling points IQA at a fresh 256-entry
 * queue; disabling drains it (a wait descriptor last, as QEMU insists).
 * While it is on, every invalidation below uses descriptors. */
int vtd_qi_enable(struct vtd_unit *u);
int vtd_qi_disable(struct vtd_unit *u);
/* Interrupt remapping off, translation off, queued invalidation off:
 * every step attempted, the first error returned. */
int vtd_close(struct vtd_unit *u);

/* ---- invalidation (register-based or queued, whichever is active) ---- */
enum vtd_inv_gran { VTD_INV_GLOBAL = 1, VTD_INV_DOMAIN = 2, VTD_INV_DEVICE = 3, VTD_INV_PAGE = 3 };
/* Context cache: GLOBAL, DOMAIN (did) or DEVICE (sid, function mask fm). */
int vtd_inv_context(struct vtd_unit *u, enum vtd_inv_gran g, uint16_t did, uint16_t sid, unsigned fm);
/* IOTLB: GLOBAL, DOMAIN (did) or PAGE (did, 2^am pages at addr, aligned). */
int vtd_inv_iotlb(struct vtd_unit *u, enum vtd_inv_gran g, uint16_t did, uint64_t addr, unsigned am);
/* Interrupt entry cache (queued only): global, or 2^im entries at index. */
int vtd_inv_iec(struct vtd_unit *u, bool global, unsigned index, unsigned im);
/* A lone invalidation wait descriptor (status write, polled). */
int vtd_inv_wait(struct vtd_unit *u);

/* ---- domains and second-level page tables ---- */
#define VTD_R 0x1
#define VTD_W 0x2
struct vtd_domain {
	struct vtd_unit *u;
	uint16_t did;                   /* >= 1 (0 is CM=1's "invalid" domain) */
	unsigned levels;                /* 3 (39-bit) or 4 (48-bit) */
	uint64_t pgd;                   /* top-level table */
	unsigned tables;                /* table pages allocated */
	unsigned maps, invalidations;   /* calls, and the IOTLB invalidations they caused */
};
/* levels 0: the widest SAGAW offers. 0 or VTD_E_*. */
int vtd_domain_init(struct vtd_unit *u, struct vtd_domain *dom, uint16_t did, unsigned levels);
static inline unsigned vtd_domain_aw(const struct vtd_domain *dom) { return 12 + 9 * dom->levels; }
/* Maps [iova, iova + size) to [gpa, ...) with VTD_R/VTD_W, 4K pages, or
 * 2M/1G superpages where both addresses are aligned, the range covers one
 * and SLLPS allows it. Refuses (VTD_E_EXIST) any overlap before writing
 * anything. With CAP.CM the new range is invalidated (page-selective),
 * else the write buffer is flushed where CAP.RWBF asks for it. */
int vtd_map(struct vtd_domain *dom, uint64_t iova, uint64_t gpa, uint64_t size, unsigned prot);
enum vtd_unmap_mode {
	VTD_UNMAP_STRICT,               /* clear, page-selective invalidation, wait */
	VTD_UNMAP_LAZY,                 /* clear only: cached translations live on */
};
/* Clears the leaves covering [iova, iova + size); a superpage must be
 * covered whole (no splitting: VTD_E_INVAL). Holes are skipped. */
int vtd_unmap(struct vtd_domain *dom, uint64_t iova, uint64_t size, enum vtd_unmap_mode mode);
/* Invalidates the IOTLB for a range: page-selective over the smallest
 * aligned block covering it, domain-selective beyond MAMV or without PSI. */
int vtd_flush_range(struct vtd_domain *dom, uint64_t iova, uint64_t size);
/* The leaf entry translating iova and its level (1 = 4K, 2 = 2M, 3 = 1G),
 * NULL if none. For tests that corrupt entries: call vtd_entry_sync after
 * writing, then invalidate. */
volatile uint64_t *vtd_pte(struct vtd_domain *dom, uint64_t iova, unsigned *level);
void vtd_entry_sync(struct vtd_unit *u, const volatile void *p, size_t len);

/* ---- root and context entries ---- */
#define VTD_TT_TRANSLATE    0x0     /* untranslated requests only */
#define VTD_TT_PASSTHROUGH  0x2     /* identity; valid only with ECAP.PT */
/* Points bdf at dom with translation type tt (AW = dom's width) and does
 * the invalidations the spec asks for (context cache by device; IOTLB by
 * domain; Caching Mode's DID 0 for a not-present entry made present). */
int vtd_context_set(struct vtd_unit *u, uint16_t bdf, const struct vtd_domain *dom, unsigned tt);
/* Writes the context entry raw (present or not, any bits) and
 * invalidates as above: for tests of invalid entries. */
int vtd_context_write(struct vtd_unit *u, uint16_t bdf, uint64_t lo, uint64_t hi);
int vtd_context_clear(struct vtd_unit *u, uint16_t bdf);
/* Sets or clears the Present bit of a bus's root entry (its context table
 * is kept), then invalidates the context cache and IOTLB globally. */
int vtd_root_set_present(struct vtd_unit *u, uint8_t bus, bool present);
#define VTD_CTX_P         0x1ull
#define VTD_CTX_FPD       0x2ull
#define VTD_CTX_TT_SHIFT  2
#define VTD_CTX_AW(levels)   ((uint64_t)((levels) - 2))
#define VTD_CTX_DID(did)     ((uint64_t)(did) << 8)

/* ---- fault recording ---- */
/* DMA-remapping fault reasons (spec 7.1.3) and interrupt-remapping ones. */
#define VTD_FR_ROOT_NOT_PRESENT   0x01
#define VTD_FR_CTX_NOT_PRESENT    0x02
#define VTD_FR_CTX_INVALID        0x03
#define VTD_FR_ADDR_BEYOND_AW     0x04
#define VTD_FR_WRITE              0x05
#define VTD_FR_READ               0x06
#define VTD_FR_SL_TABLE_ACCESS    0x07
#define VTD_FR_ROOT_TABLE_ACCESS  0x08
#define VTD_FR_CTX_TABLE_ACCESS   0x09
#define VTD_FR_ROOT_RSVD          0x0a
#define VTD_FR_CTX_RSVD           0x0b
#define VTD_FR_SL_RSVD            0x0c
#define VTD_FR_TRANSLATED_BLOCKED 0x0d
#define VTD_FR_IR_REQ_RSVD        0x20
#define VTD_FR_IR_INDEX_OVER      0x21
#define VTD_FR_IR_NOT_PRESENT     0x22
#define VTD_FR_IR_TABLE_ACCESS    0x23
#define VTD_FR_IR_RSVD            0x24
#define VTD_FR_IR_COMPAT_BLOCKED  0x25
#define VTD_FR_IR_SID_MISMATCH    0x26
const char *vtd_fault_reason_name(uint8_t reason);

struct vtd_fault {
	uint16_t sid;
	uint8_t reason;
	bool read;                      /* T = 1: a read (or not a write) */
	uint64_t addr;                  /* FI: page address, or the interrupt index << 48 */
	unsigned index;                 /* which FRCD held it */
};
#define VTD_FSTS_PFO   0x01
#define VTD_FSTS_PPF   0x02
#define VTD_FSTS_IQE   0x10
uint32_t vtd_fsts(struct vtd_unit *u);
/* Writes FSTS: the given RW1C bits (PFO, IQE, ...) are cleared; a write of
 * 0 clears nothing but still makes QEMU 7.2 re-evaluate FECTL.IP, which it
 * otherwise keeps after the records are cleared. */
void vtd_fsts_write(struct vtd_unit *u, uint32_t rw1c);
/* Reads every recorded fault (F set) into out (up to max; the others are
 * read and dropped), clears them and FSTS.PFO. Returns how many were
 * recorded; *fsts (optional) gets FSTS as it was before clearing. */
int vtd_fault_take(struct vtd_unit *u, struct vtd_fault *out, unsigned max, uint32_t *fsts);

/* ---- the unit's own interrupts (spec 7.4 fault event, 6.5.2 invalidation
 * completion event) ----
 * Each event has a control register (IM mask, IP pending), a data and an
 * address register. They are the remapping hardware's own messages, never
 * remapped: compatibility format, xAPIC destination (EIM = 0). vtd_open
 * masks both; polling stays the driver's interface unless a caller
 * unmasks one. A new event needs a new condition: PPF (or PFO/IQE/ICE/ITE)
 * going from clear to set with nothing else pending, resp. ICS.IWC going
 * 0 -> 1. A masked one is held (IP = 1) until IM is cleared, or dropped
 * when software services the condition first. */
enum vtd_event { VTD_EVENT_FAULT, VTD_EVENT_INV };
#define VTD_EVCTL_IM   (1u << 31)
#define VTD_EVCTL_IP   (1u << 30)
#define VTD_ICS_IWC    0x1u
/* Data = vector (fixed, edge), address 0xFEE00000 | apic_id << 12
 * (physical); the mask is left as it is. */
void vtd_event_msg(struct vtd_unit *u, enum vtd_event ev, uint8_t apic_id, uint8_t vector);
/* Sets or clears IM (the other bits preserved, as the spec asks). */
void vtd_event_mask(struct vtd_unit *u, enum vtd_event ev, bool masked);
uint32_t vtd_event_ctl(struct vtd_unit *u, enum vtd_event ev);     /* FECTL / IECTL */
uint32_t vtd_ics(struct vtd_unit *u);
void vtd_ics_clear(struct vtd_unit *u);                             /* IWC is RW1C */
/* Queued only: an invalidation wait descriptor with IF = 1 (and no status
 * write: QEMU 7.2 aborts on SW and IF in one descriptor), followed by the
 * driver's own status-writing wait, which is polled: when this returns 0
 * the IF wait has completed (descriptors complete in order). */
int vtd_inv_wait_irq(struct vtd_unit *u);

/* ---- interrupt remapping ---- */
/* IRT of 2^n entries (n in 1..16), IRTA (xAPIC mode, EIME = 0), SIRTP,
 * global IEC invalidation, IRE. CFI stays off, so compatibility-format
 * interrupts are blocked. Needs queued invalidation on. */
int vtd_ir_enable(struct vtd_unit *u, unsigned log2_entries);
int vtd_ir_disable(struct vtd_unit *u);
#define VTD_SVT_NONE   0            /* no source-id check */
#define VTD_SVT_SID    1            /* sid under the SQ mask */
#define VTD_SVT_BUS    2            /* sid = start bus << 8 | end bus */
struct vtd_irte_cfg {
	uint8_t vector;
	uint8_t dest;                   /* xAPIC id, physical destination */
	bool level;                     /* TM: must match the source */
	uint8_t svt, sq;
	uint16_t sid;
};
/* Writes IRTE index (present, fixed delivery) and invalidates it in the
 * interrupt entry cache. */
int vtd_irte_set(struct vtd_unit *u, unsigned index, const struct vtd_irte_cfg *c);
int vtd_irte_clear(struct vtd_unit *u, unsigned index);
/* A remappable-format MSI for handle index (SHV = 0: data is 0). */
void vtd_msi_remappable(unsigned index, uint64_t *addr, uint32_t *data);
/* IOAPIC redirection entry gsi in remappable format: bit 48 and the
 * handle in bits 63:49 and 11; vector and trigger mode should match the
 * IRTE's (the IOAPIC matches EOIs by the entry's vector). */
void vtd_ioapic_rte_remappable(unsigned gsi, unsigned index, uint8_t vector, bool level,
			       bool active_low, bool masked);
uint64_t vtd_ioapic_rte_read(unsigned gsi);

#endif
