/* Remapping-unit internals shared by vtd.c, vtd_cache.c, vtd_fault.c and
 * vtd_drain.c: seqlocks, cache keys and the lock-free lookups of the
 * translation fast path. Not for users of the unit. */
#ifndef WARDEN_IOMMU_VTD_INTERNAL_H
#define WARDEN_IOMMU_VTD_INTERNAL_H

#include "iommu/vtd.h"

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- per-thread slot (counters and drain readers) ---- */
extern __thread unsigned vtd_tls_slot;
unsigned vtd_thread_slot_assign(void);

static inline struct vtd_shard *vtd_shard(struct vtd_unit *u)
{
	unsigned s = vtd_tls_slot;

	if (unlikely(!s))
		s = vtd_thread_slot_assign();
	return &u->shards[s - 1];
}

/* Statistics are per-thread-slot relaxed counters: exact when threads do not
 * share a slot, and never on a shared cache line with another slot. */
static inline void vtd_count(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* ---- seqlock (Boehm's C11 formulation) ---- */
static inline uint32_t seq_read_begin(const uint32_t *seq)
{
	uint32_t s;

	while ((s = __atomic_load_n(seq, __ATOMIC_ACQUIRE)) & 1)
		cpu_relax();
	return s;
}

static inline bool seq_read_retry(const uint32_t *seq, uint32_t s)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(seq, __ATOMIC_RELAXED) != s;
}

/* Writers of one set exclude each other by moving the count to odd. */
static inline uint32_t seq_write_lock(uint32_t *seq)
{
	uint32_t s;

	for (;;) {
		s = __atomic_load_n(seq, __ATOMIC_RELAXED);
		if (!(s & 1) && __atomic_compare_exchange_n(seq, &s, s + 1, false,
							    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			break;
		cpu_relax();
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return s;
}

static inline void seq_write_unlock(uint32_t *seq, uint32_t s)
{
	__atomic_store_n(seq, s + 2, __ATOMIC_RELEASE);
}

/* ---- IOTLB ---- */
#define IOTLB_TAG_VALID       (1ull << 63)
#define IOTLB_TAG_ORDER_SHIFT 60            /* 0: 4K, 1: 2M, 2: 1G */
#define IOTLB_TAG_DID_SHIFT   40
#define IOTLB_VAL_PERM_MASK   0x3ull

static inline unsigned iotlb_order_shift(unsigned order) { return VTD_PAGE_SHIFT + 9 * order; }

static inline uint64_t iotlb_tag(uint16_t did, uint64_t vpn, unsigned order)
{
	return IOTLB_TAG_VALID | (uint64_t)order << IOTLB_TAG_ORDER_SHIFT |
	       (uint64_t)did << IOTLB_TAG_DID_SHIFT | vpn;
}

static inline struct vtd_iotlb_set *iotlb_set_of(struct vtd_unit *u, uint64_t tag)
{
	uint64_t h = tag * 0x9e3779b97f4a7c15ull;

	return &u->iotlb[(h >> 32) & (u->iotlb_sets - 1)];
}

static inline uint64_t *gen_did_of(struct vtd_unit *u, uint16_t did)
{
	return &u->gen_did[did % VTD_GEN_BUCKETS];
}

/* Lock-free lookup: returns the cached value (page base | perm) and page
 * order, or false on a miss. */
static inline bool iotlb_lookup(struct vtd_unit *u, uint16_t did, uint64_t iova,
				uint64_t *val, unsigned *order_out)
{
	unsigned sizes = __atomic_load_n(&u->iotlb_sizes, __ATOMIC_RELAXED) | 1;

	for (unsigned order = 0; order < 3; order++) {
		uint64_t tag;
		struct vtd_iotlb_set *set;
		uint32_t s;
		int way;

		if (!(sizes & (1u << order)))
			continue;
		tag = iotlb_tag(did, iova >> iotlb_order_shift(order), order);
		set = iotlb_set_of(u, tag);
		do {
			s = seq_read_begin(&set->seq);
			way = -1;
			for (int w = 0; w < VTD_IOTLB_WAYS; w++) {
				if (__atomic_load_n(&set->tag[w], __ATOMIC_RELAXED) == tag) {
					*val = __atomic_load_n(&set->val[w], __ATOMIC_RELAXED);
					way = w;
				}
			}
		} while (seq_read_retry(&set->seq, s));
		if (way >= 0) {
			/* Second-chance bit: written only when clear, so a hot
			 * entry's hits leave the line clean. */
			if (!__atomic_load_n(&set->ref[way], __ATOMIC_RELAXED))
				__atomic_store_n(&set->ref[way], 1, __ATOMIC_RELAXED);
			*order_out = order;
			return true;
		}
	}
	return false;
}

/* Insert unless an invalidation ran since the generations were sampled. */
void vtd_iotlb_fill(struct vtd_unit *u, uint16_t did, uint64_t iova, unsigned order, uint64_t val,
		uint64_t gen_global, uint64_t gen_did);

/* ---- context cache ---- */
#define CC_TAG_VALID          (1u << 16)

/* Decoded context entry, as cached. */
struct vtd_ctx {
	uint64_t slptptr;
	uint16_t did;
	uint8_t tt;
	uint8_t levels;
	uint8_t aw_bits;         /* min(AGAW, MGAW) */
	bool fpd;
};

static inline uint64_t cc_pack(const struct vtd_ctx *c)
{
	return (uint64_t)c->did | (uint64_t)c->tt << 16 | (uint64_t)c->levels << 18 |
	       (uint64_t)c->aw_bits << 24 | (uint64_t)c->fpd << 32;
}

static inline void cc_unpack(uint64_t info, uint64_t slptptr, struct vtd_ctx *c)
{
	c->did = (uint16_t)info;
	c->tt = (info >> 16) & 3;
	c->levels = (info >> 18) & 7;
	c->aw_bits = (info >> 24) & 0xff;
	c->fpd = (info >> 32) & 1;
	c->slptptr = slptptr;
}

static inline struct vtd_cc_entry *cc_entry_of(struct vtd_unit *u, uint16_t sid)
{
	return &u->cc[(sid ^ (sid >> 8) * 0x9d) & (u->cc_entries - 1)];
}

static inline bool cc_lookup(struct vtd_unit *u, uint16_t sid, struct vtd_ctx *c)
{
	struct vtd_cc_entry *e = cc_entry_of(u, sid);
	uint64_t info, ptr;
	uint32_t s, tag;

	do {
		s = seq_read_begin(&e->seq);
		tag = __atomic_load_n(&e->tag, __ATOMIC_RELAXED);
		info = __atomic_load_n(&e->info, __ATOMIC_RELAXED);
		ptr = __atomic_load_n(&e->slptptr, __ATOMIC_RELAXED);
	} while (seq_read_retry(&e->seq, s));
	if (tag != (CC_TAG_VALID | sid))
		return false;
	cc_unpack(info, ptr, c);
	return true;
}

void vtd_cc_fill(struct vtd_unit *u, uint16_t sid, const struct vtd_ctx *c, uint64_t gen_cc);

/* ---- fault log ---- */
void vtd_fault_log_init(struct vtd_fault_log *l, unsigned cap);
int vtd_fault_log_alloc(struct vtd_fault_log *l);
void vtd_fault_log_destroy(struct vtd_fault_log *l);
/* Records (or counts as suppressed) one fault. */
void vtd_fault_raise(struct vtd_unit *u, const struct vtd_fault_record *rec, bool suppress);

#endif
