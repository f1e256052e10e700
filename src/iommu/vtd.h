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
};

struct vtd_unit_cfg {
	struct vtd_caps caps;    /* all zero: defaults; else zero numbers default */
	unsigned iotlb_sets;     /* power of two; 0: default */
	unsigned cc_entries;     /* power of two; 0: default */
	struct iopt_mem mem;     /* table memory */
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
};

struct vtd_fault_record {
	uint64_t iova;           /* FI: page address of the faulting request */
	uint16_t sid;
	uint8_t reason;          /* VTD_FR_* */
	bool is_write;           /* T = 0 in the FRCD register */
	/* diagnostics beyond the spec's record */
	uint8_t level;           /* SL table level the walk stopped at; 0 before the tables */
	bool not_present;        /* the entry was not present (reason is then 5 or 6) */
};

struct vtd_fault_stats {
	uint64_t by_reason[16];  /* indexed by fault reason */
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

typedef void (*vtd_fault_notify_fn)(void *opaque, const struct vtd_fault_record *rec);

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
	struct vtd_fault_record *recs;
	unsigned cap, head, count;
	bool overflow;                      /* FSTS.PFO */
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
 * or VTD_REQ_PROBE). Thread-safe; takes no lock on an IOTLB hit. */
int vtd_translate(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req, struct vtd_xlate *x);

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

/* ---- observation ---- */
void vtd_stats_get(struct vtd_unit *u, struct vtd_stats *s);
/* Per-domain translation trace, off by default (hook NULL). The hook must
 * stay valid until it is replaced; clearing it waits for in-flight access
 * sections. */
int vtd_set_trace(struct vtd_unit *u, uint16_t did, const struct vtd_trace_hook *hook);

#endif
