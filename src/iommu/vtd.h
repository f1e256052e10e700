/* VT-d DMA-remapping hardware model (legacy mode).
 *
 * The unit reads its root table, context tables and second-level tables from
 * "table memory" by address, as hardware does; struct iopt_mem says how.
 * Host-owned units read the arena by HPA; a guest-visible vIOMMU can read
 * guest RAM by GPA through the same walker.
 *
 * Translation path: source-id -> context cache (miss: root entry, context
 * entry) -> IOTLB keyed by (domain id, page) (miss: second-level walk) ->
 * permission check -> output address. A failed request records a fault in
 * the primary fault log unless the context entry sets FPD.
 *
 * Concurrency (see docs/iommu.md): any number of threads translate while one
 * or more threads change tables and invalidate.
 *  - The context cache and the IOTLB are set-associative arrays whose sets are
 *    seqlocks: a hit takes no lock and writes nothing shared.
 *  - A miss snapshots invalidation generation counters before it reads the
 *    context entry and tables, and validates them afterwards; a walk that
 *    raced with an invalidation is retried, and its result is never cached.
 *  - Every invalidation bumps a generation before it removes entries, so a
 *    translation that starts after vtd_iotlb_invalidate_*() returned cannot
 *    use a translation the invalidation covered.
 *  - In-flight accesses are tracked by vtd_dma_begin()/vtd_dma_end() (the DMA
 *    API does this); vtd_drain() is the invalidation-wait with drain: it
 *    returns once every access section that started before it has ended. */
#ifndef WARDEN_IOMMU_VTD_H
#define WARDEN_IOMMU_VTD_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include "iommu/vtd_regs.h"
#include "iommu/iopt.h"

#define VTD_IOTLB_WAYS        4
#define VTD_SHARDS            32      /* per-thread slots for counters and drain */
#define VTD_GEN_BUCKETS       64      /* IOTLB invalidation generations by DID */
#define VTD_DEFAULT_IOTLB_SETS 1024   /* x 4 ways = 4096 entries */
#define VTD_DEFAULT_CC_ENTRIES 256
#define VTD_DEFAULT_FAULT_RECORDS 256

struct vtd_caps {
	unsigned haw;            /* host address width, bits (output addresses) */
	unsigned mgaw;           /* maximum guest (input) address width: 39 or 48 */
	unsigned sagaw;          /* bit n set: AW encoding n supported (1: 39, 2: 48) */
	bool sp_2m, sp_1g;       /* SLLPS: second-level superpages */
	unsigned nd;             /* CAP.ND: 2^(4 + 2 nd) domain ids */
	unsigned mamv;           /* largest address mask for page-selective invalidation */
	unsigned nr_fault_records;
	/* What a register model reports beyond the engine (all zero: the host
	 * unit as before). no_pt is negative so that caps built field by field
	 * keep pass-through. */
	bool no_pt;              /* ECAP.PT = 0: TT = 10b is invalid programming (0x3) */
	bool qi, ir;             /* ECAP.QI, ECAP.IR (interrupt remapping, xAPIC only) */
	bool cm;                 /* CAP.CM: software invalidates on not-present -> present too */
	unsigned fro;            /* byte offset of the FRCD registers; 0: 0x400 */
	unsigned iro;            /* byte offset of IVA_REG (IOTLB_REG follows); 0: none */
};

/* Second stage of nested translation (a guest-visible unit whose tables the
 * guest owns): the first stage's output address (a GPA) is translated again
 * here, e.g. through the VM's host domain. translate() returns 0 with *out
 * (the final address of `addr`) and *contig (bytes from *out that stay
 * contiguous and allowed, at least to the end of addr's 4 KiB page), or a
 * negative errno when the second stage refuses; the unit then answers the
 * request with a fault but records nothing in its own (guest-visible) log:
 * second-stage faults are the host's business. */
struct vtd_stage2 {
	int (*translate)(void *opaque, uint16_t sid, uint64_t addr, unsigned req,
			 uint64_t *out, uint64_t *contig);
	void *opaque;
};

struct vtd_unit_cfg {
	struct vtd_caps caps;    /* all zero: defaults; else zero numbers default */
	unsigned iotlb_sets;     /* power of two; 0: default */
	unsigned cc_entries;     /* power of two; 0: default */
	struct iopt_mem mem;     /* table memory */
	const struct vtd_stage2 *stage2;   /* NULL: single stage */
};

/* Request flags for vtd_translate(). */
#define VTD_REQ_READ          IOPT_READ
#define VTD_REQ_WRITE         IOPT_WRITE
#define VTD_REQ_TRANSLATED    0x4u   /* AT = translated: device claims a pre-translated address */
#define VTD_REQ_PROBE         0x8u   /* debug lookup: record no fault */

struct vtd_xlate {
	uint64_t addr;           /* output address for the input address */
	uint64_t page_size;      /* the translation holds up to the next multiple of this */
	unsigned perm;           /* IOPT_READ | IOPT_WRITE granted */
	uint16_t did;
	uint8_t fault;           /* VTD_FR_* when vtd_translate() failed */
	bool iotlb_hit;
	/* Nested units: the first stage allowed the request and the second
	 * refused it. Nothing went to this unit's (guest-visible) fault log;
	 * fault then holds the access-denied reason for information only. */
	bool stage2_fault;
};

struct vtd_fault_record {
	uint64_t iova;           /* FI: page address of the faulting request */
	uint16_t sid;
	uint8_t reason;          /* VTD_FR_* */
	bool is_write;           /* T = 0 in the FRCD register */
	/* diagnostics beyond the spec's record */
	uint8_t level;           /* SL table level the walk stopped at; 0 before the tables */
	bool not_present;        /* the entry was not present (reason is then 5 or 6) */
	/* An interrupt-remapping fault (reasons 0x20-0x27): FRCD.FI carries the
	 * interrupt index in bits 63:48 instead of a page address. */
	bool intr;
	uint16_t intr_index;
};

struct vtd_fault_stats {
	uint64_t by_reason[64];  /* indexed by fault reason (0x20-0x27: interrupt remapping) */
	uint64_t total;          /* faults raised (recorded, dropped or suppressed) */
	uint64_t recorded;
	uint64_t dropped;        /* log full: overflow */
	uint64_t suppressed;     /* FPD set in the context entry */
};

struct vtd_stats {
	uint64_t iotlb_hits, iotlb_misses, iotlb_fills, iotlb_evictions;
	uint64_t cc_hits, cc_misses;
	uint64_t inv_global, inv_domain, inv_page, inv_context;
	uint64_t walk_retries;   /* walks redone because an invalidation raced */
	uint64_t drains;
};

struct vtd_trace_event {
	uint16_t sid, did;
	uint64_t iova;
	unsigned access;         /* VTD_REQ_READ / VTD_REQ_WRITE */
	uint64_t addr;           /* output address (0 on fault) */
	unsigned perm;
	uint8_t fault;           /* 0 on success */
	bool iotlb_hit;
};

struct vtd_trace_hook {
	void (*fn)(void *opaque, const struct vtd_trace_event *ev);
	void *opaque;
};

/* Called after a record was added. first: the log held no record when it
 * was added (FSTS.PPF went 0 -> 1), decided under the log's lock, so a
 * register model knows whether this is a new interrupt condition even if
 * the guest cleared records in the meantime. */
typedef void (*vtd_fault_notify_fn)(void *opaque, const struct vtd_fault_record *rec, bool first);

/* ---- internals kept in the struct so units can be embedded ---- */
struct vtd_iotlb_set {
	uint32_t seq;                       /* seqlock: odd while written */
	uint8_t hand;                       /* clock hand */
	uint8_t ref[VTD_IOTLB_WAYS];        /* second-chance bits, set on hit */
	uint64_t tag[VTD_IOTLB_WAYS];
	uint64_t val[VTD_IOTLB_WAYS];
} __attribute__((aligned(128)));

struct vtd_cc_entry {
	uint32_t seq;
	uint32_t tag;                       /* VALID | sid */
	uint64_t info;                      /* decoded context entry */
	uint64_t slptptr;
	uint64_t pad;
} __attribute__((aligned(32)));

struct vtd_shard {
	long readers[2];                    /* access sections, by drain epoch */
	uint64_t iotlb_hits, iotlb_misses, cc_hits, cc_misses, walk_retries;
} __attribute__((aligned(64)));

struct vtd_fault_log {
	pthread_mutex_t lock;
	struct vtd_fault_record *recs;      /* the fault-recording registers */
	bool *valid;                        /* FRCD.F of each */
	unsigned cap, next, count;          /* next: hardware's recording index */
	bool overflow;                      /* FSTS.PFO */
	bool pfo_blocks;                    /* record nothing while PFO is set */
	struct vtd_fault_stats stats;
	vtd_fault_notify_fn notify;
	void *notify_opaque;
};

struct vtd_unit {
	struct vtd_caps caps;
	struct iopt_mem mem;
	uint64_t rtaddr;                    /* latched root-table address */
	bool root_set;                      /* GSTS.RTPS */
	bool te;                            /* GSTS.TES: translation enabled */
	unsigned nr_dids;

	struct vtd_iotlb_set *iotlb;
	unsigned iotlb_sets;
	unsigned iotlb_sizes;               /* bit 1: 2M entries cached, bit 2: 1G */
	uint64_t gen_global;                /* bumped by global IOTLB invalidation */
	uint64_t gen_did[VTD_GEN_BUCKETS];  /* bumped by domain/page invalidation */
	uint64_t gen_cc;                    /* bumped by context-cache invalidation */

	struct vtd_cc_entry *cc;
	unsigned cc_entries;

	struct vtd_shard *shards;
	unsigned drain_epoch;
	pthread_mutex_t drain_lock;

	const struct vtd_trace_hook **trace;   /* by DID */
	unsigned trace_active;

	struct vtd_fault_log flog;
	/* Nested translation: translate NULL for a single-stage unit. Fixed
	 * for the unit's life: combined IOVA -> final-address entries in the
	 * IOTLB depend on it (see docs/iommu.md, "Two-stage translation"). */
	struct vtd_stage2 stage2;
	/* Tests only: called between a miss's table walk and its validation,
	 * to widen the race window that validation exists for. */
	void (*walk_race_hook)(void *opaque);
	void *walk_race_opaque;
	uint64_t iotlb_fills, iotlb_evictions;
	uint64_t inv_global, inv_domain, inv_page, inv_context, drains;
};

/* Defaults: HAW 46, MGAW 48, SAGAW 39+48, 2M and 1G superpages, ND 4 (4096
 * domain ids), MAMV 18, 256 fault records. */
void vtd_caps_default(struct vtd_caps *c);
int vtd_unit_init(struct vtd_unit *u, const struct vtd_unit_cfg *cfg);
void vtd_unit_destroy(struct vtd_unit *u);

/* CAP_REG / ECAP_REG values describing this unit (for a register model). */
uint64_t vtd_cap_reg(const struct vtd_caps *c);
uint64_t vtd_ecap_reg(const struct vtd_caps *c);

/* GCMD.SRTP: latch the root-table address. As on hardware, software must then
 * invalidate the context cache and IOTLB globally. */
void vtd_set_root_table(struct vtd_unit *u, uint64_t rta);
/* GCMD.TE. With translation disabled requests pass untranslated (the reset
 * state of real hardware); enabling needs a root table: -EINVAL otherwise. */
int vtd_set_translation_enable(struct vtd_unit *u, bool enable);

/* Translate one request of `req` (VTD_REQ_*) at iova from sid. Returns 0 and
 * fills *x, or -EFAULT with x->fault set (and the fault recorded unless FPD
 * or VTD_REQ_PROBE). Thread-safe; takes no lock on an IOTLB hit.
 * With a second stage, x->addr is the final (second-stage) address and the
 * IOTLB caches the combined translation, never larger than what both stages
 * map contiguously; a second-stage refusal sets x->stage2_fault. */
int vtd_translate(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req, struct vtd_xlate *x);

/* A device's context entry as the unit's tables hold it now, decoded and
 * checked as a translation would check it. */
struct vtd_context_info {
	uint64_t slptptr;        /* second-level table pointer (an address of table memory) */
	uint16_t did;
	uint8_t tt;              /* enum vtd_tt */
	uint8_t levels;          /* 3 or 4 */
	uint8_t aw_bits;         /* min(AGAW, MGAW) */
	bool fpd;
};

/* Reads the root and context entry for sid afresh from table memory (not
 * the context cache), whatever TE says. Returns 0 and *ci, or -ENOENT with
 * *reason (may be NULL) set to the fault reason a translation would raise.
 * For a shadowing VMM: the guest's own tables say where a device belongs. */
int vtd_context_lookup(struct vtd_unit *u, uint16_t sid, struct vtd_context_info *ci, uint8_t *reason);

/* ---- invalidation (register or queued-invalidation semantics) ---- */
void vtd_context_invalidate_global(struct vtd_unit *u);
void vtd_context_invalidate_domain(struct vtd_unit *u, uint16_t did);
/* Device-selective; fm is the function mask (0: none .. 3: bits 2:0). */
void vtd_context_invalidate_device(struct vtd_unit *u, uint16_t did, uint16_t sid, unsigned fm);
void vtd_iotlb_invalidate_global(struct vtd_unit *u);
void vtd_iotlb_invalidate_domain(struct vtd_unit *u, uint16_t did);
/* Page-selective: the 2^am pages at addr (which must be aligned to them);
 * cached superpages overlapping the range go too. ih (invalidation hint) is
 * accepted and ignored: no paging-structure caches are modelled. Returns 0,
 * or -EINVAL for am > MAMV or a misaligned addr. */
int vtd_iotlb_invalidate_page(struct vtd_unit *u, uint16_t did, uint64_t addr, unsigned am, bool ih);
/* Invalidation wait with drain: returns when every vtd_dma_begin() section
 * that started before the call has ended. Never call it from inside one. */
void vtd_drain(struct vtd_unit *u);

/* Access sections (used by the DMA API around translate + copy). Nestable. */
unsigned vtd_dma_begin(struct vtd_unit *u);
void vtd_dma_end(struct vtd_unit *u, unsigned token);

/* ---- fault log ---- */
/* Pops up to max of the oldest records (software clearing FRCD.F). */
size_t vtd_fault_log_read(struct vtd_unit *u, struct vtd_fault_record *out, size_t max);
unsigned vtd_fault_log_pending(struct vtd_unit *u);
bool vtd_fault_overflow(struct vtd_unit *u);
void vtd_fault_clear_overflow(struct vtd_unit *u);      /* FSTS.PFO is write-1-to-clear */
void vtd_fault_stats_get(struct vtd_unit *u, struct vtd_fault_stats *s);
void vtd_set_fault_notify(struct vtd_unit *u, vtd_fault_notify_fn fn, void *opaque);
/* The record as the 128-bit FRCD register holds it. */
void vtd_fault_record_encode(const struct vtd_fault_record *r, uint64_t frcd[2]);
/* The register view a guest-visible unit needs. Records sit in the
 * fault-recording register at the recording index, which then advances
 * (wrapping); a fault finding that register still full is dropped with
 * PFO set. Reading oldest-first (vtd_fault_log_read) is the same log. */
bool vtd_fault_log_peek(struct vtd_unit *u, unsigned idx, struct vtd_fault_record *out);
/* Software writing 1 to FRCD[idx].F; returns how many records stay pending. */
unsigned vtd_fault_log_clear_index(struct vtd_unit *u, unsigned idx);
/* One consistent FSTS view: pending records (PPF), the register of the
 * oldest pending one (FRI; 0 when none) and PFO. */
void vtd_fault_log_status(struct vtd_unit *u, unsigned *pending, unsigned *fri, bool *overflow);
/* Reset: no record, no overflow, recording index 0. */
void vtd_fault_log_reset(struct vtd_unit *u);
/* The spec's rule for FSTS.PFO: while set, no fault is recorded at all.
 * Off by default (the host unit records again once records were read). */
void vtd_fault_log_set_pfo_blocks(struct vtd_unit *u, bool on);
/* Records an interrupt-remapping fault (reason 0x20-0x27) for the message
 * from sid whose interrupt index is index; suppress for a qualified fault
 * of an IRTE with FPD set (counted, not recorded). */
void vtd_fault_record_intr(struct vtd_unit *u, uint16_t sid, uint16_t index, unsigned reason,
			   bool suppress);

/* ---- observation ---- */
void vtd_stats_get(struct vtd_unit *u, struct vtd_stats *s);
/* Per-domain translation trace, off by default (hook NULL). The hook must
 * stay valid until it is replaced; clearing it waits for in-flight access
 * sections. */
int vtd_set_trace(struct vtd_unit *u, uint16_t did, const struct vtd_trace_hook *hook);

#endif
