/* IOTLB and context cache: fills and invalidation.
 *
 * Both are arrays of seqlocked sets (vtd_internal.h holds the lock-free
 * lookups). A fill carries the invalidation generations its miss sampled and
 * is dropped, under the set lock, if any moved: together with invalidations
 * bumping the generation before they take the set locks, that guarantees a
 * translation read before an invalidation never lands in a cache after it.
 *
 * IOTLB: 4-way set associative, one entry per (domain id, page) at the
 * page's own size (4K, 2M or 1G), CLOCK (second chance) replacement within
 * a set. Context cache: direct mapped by source-id. */
#include "iommu/vtd_internal.h"

struct inv_filter {
	enum { INV_ALL, INV_DOMAIN, INV_RANGE } mode;
	uint16_t did;
	uint64_t start, end;
};

void vtd_iotlb_fill(struct vtd_unit *u, uint16_t did, uint64_t iova, unsigned order, uint64_t val,
		uint64_t gen_global, uint64_t gen_did)
{
	uint64_t tag = iotlb_tag(did, iova >> iotlb_order_shift(order), order);
	struct vtd_iotlb_set *set = iotlb_set_of(u, tag);
	int victim = -1;
	uint32_t s;

	/* Published before the set lock: a page-selective invalidation that
	 * skips a size because it saw no such entry then makes this fill see
	 * its generation bump (all three are sequentially consistent). */
	if (order && !(__atomic_load_n(&u->iotlb_sizes, __ATOMIC_SEQ_CST) & (1u << order)))
		__atomic_fetch_or(&u->iotlb_sizes, 1u << order, __ATOMIC_SEQ_CST);
	s = seq_write_lock(&set->seq);
	if (__atomic_load_n(&u->gen_global, __ATOMIC_SEQ_CST) != gen_global ||
	    __atomic_load_n(gen_did_of(u, did), __ATOMIC_SEQ_CST) != gen_did)
		goto out;
	for (int w = 0; w < VTD_IOTLB_WAYS && victim < 0; w++)
		if (set->tag[w] == tag)
			victim = w;
	for (int w = 0; w < VTD_IOTLB_WAYS && victim < 0; w++)
		if (!(set->tag[w] & IOTLB_TAG_VALID))
			victim = w;
	if (victim < 0) {
		for (int n = 0; n < 2 * VTD_IOTLB_WAYS; n++) {
			unsigned w = set->hand;

			set->hand = (uint8_t)((w + 1) % VTD_IOTLB_WAYS);
			if (!__atomic_load_n(&set->ref[w], __ATOMIC_RELAXED)) {
				victim = (int)w;
				break;
			}
			__atomic_store_n(&set->ref[w], 0, __ATOMIC_RELAXED);
		}
		if (victim < 0)
			victim = set->hand;
		__atomic_add_fetch(&u->iotlb_evictions, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&set->tag[victim], tag, __ATOMIC_RELAXED);
	__atomic_store_n(&set->val[victim], val, __ATOMIC_RELAXED);
	/* New entries start unreferenced: a stream of pages touched once
	 * recycles its own ways and leaves the hot entries alone. */
	__atomic_store_n(&set->ref[victim], 0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&u->iotlb_fills, 1, __ATOMIC_RELAXED);
out:
	seq_write_unlock(&set->seq, s);
}

static bool inv_match(const struct inv_filter *f, uint64_t tag)
{
	unsigned order;
	uint64_t base, end;

	if (!(tag & IOTLB_TAG_VALID))
		return false;
	if (f->mode == INV_ALL)
		return true;
	if (((tag >> IOTLB_TAG_DID_SHIFT) & 0xffff) != f->did)
		return false;
	if (f->mode == INV_DOMAIN)
		return true;
	order = (tag >> IOTLB_TAG_ORDER_SHIFT) & 3;
	base = (tag & ((1ull << IOTLB_TAG_DID_SHIFT) - 1)) << iotlb_order_shift(order);
	end = base + (1ull << iotlb_order_shift(order));
	return base < f->end && f->start < end;
}

/* Does the set hold an entry the filter matches? Read like a lookup. Safe
 * to trust a "no" because the caller bumped a generation (and fenced)
 * first: a fill that passed its generation check took the set lock before
 * the bump, so this read waits for it or sees its entry. */
static bool set_has_match(const struct vtd_iotlb_set *set, const struct inv_filter *f)
{
	bool match;
	uint32_t s;

	do {
		s = seq_read_begin(&set->seq);
		match = false;
		for (int w = 0; w < VTD_IOTLB_WAYS; w++)
			match |= inv_match(f, __atomic_load_n(&set->tag[w], __ATOMIC_RELAXED));
	} while (seq_read_retry(&set->seq, s));
	return match;
}

static void set_invalidate(struct vtd_iotlb_set *set, const struct inv_filter *f)
{
	uint32_t s;

	if (!set_has_match(set, f))
		return;
	s = seq_write_lock(&set->seq);

	for (int w = 0; w < VTD_IOTLB_WAYS; w++)
		if (inv_match(f, set->tag[w]))
			__atomic_store_n(&set->tag[w], 0, __ATOMIC_RELAXED);
	seq_write_unlock(&set->seq, s);
}

static void iotlb_scan(struct vtd_unit *u, const struct inv_filter *f)
{
	for (unsigned i = 0; i < u->iotlb_sets; i++)
		set_invalidate(&u->iotlb[i], f);
}

void vtd_iotlb_invalidate_global(struct vtd_unit *u)
{
	struct inv_filter f = { .mode = INV_ALL };

	__atomic_add_fetch(&u->gen_global, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	iotlb_scan(u, &f);
	__atomic_add_fetch(&u->inv_global, 1, __ATOMIC_RELAXED);
}

void vtd_iotlb_invalidate_domain(struct vtd_unit *u, uint16_t did)
{
	struct inv_filter f = { .mode = INV_DOMAIN, .did = did };

	__atomic_add_fetch(gen_did_of(u, did), 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	iotlb_scan(u, &f);
	__atomic_add_fetch(&u->inv_domain, 1, __ATOMIC_RELAXED);
}

int vtd_iotlb_invalidate_page(struct vtd_unit *u, uint16_t did, uint64_t addr, unsigned am, bool ih)
{
	struct inv_filter f = { .mode = INV_RANGE, .did = did };
	unsigned sizes;

	(void)ih;
	if (am > u->caps.mamv || am > 52 - VTD_PAGE_SHIFT ||
	    addr & ((VTD_PAGE_SIZE << am) - 1))
		return -EINVAL;
	f.start = addr;
	f.end = addr + (VTD_PAGE_SIZE << am);
	__atomic_add_fetch(gen_did_of(u, did), 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	sizes = __atomic_load_n(&u->iotlb_sizes, __ATOMIC_SEQ_CST) | 1;
	for (unsigned order = 0; order < 3; order++) {
		uint64_t v0 = f.start >> iotlb_order_shift(order);
		uint64_t v1 = (f.end - 1) >> iotlb_order_shift(order);

		if (!(sizes & (1u << order)))
			continue;
		/* Probing each page costs more than sweeping every set once
		 * the range has more pages than there are sets. */
		if (v1 - v0 >= u->iotlb_sets) {
			iotlb_scan(u, &f);
			break;
		}
		for (uint64_t v = v0; v <= v1; v++)
			set_invalidate(iotlb_set_of(u, iotlb_tag(did, v, order)), &f);
	}
	__atomic_add_fetch(&u->inv_page, 1, __ATOMIC_RELAXED);
	return 0;
}

/* ---- context cache ---- */

void vtd_cc_fill(struct vtd_unit *u, uint16_t sid, const struct vtd_ctx *c, uint64_t gen_cc)
{
	struct vtd_cc_entry *e = cc_entry_of(u, sid);
	uint32_t s = seq_write_lock(&e->seq);

	if (__atomic_load_n(&u->gen_cc, __ATOMIC_SEQ_CST) == gen_cc) {
		__atomic_store_n(&e->tag, CC_TAG_VALID | sid, __ATOMIC_RELAXED);
		__atomic_store_n(&e->info, cc_pack(c), __ATOMIC_RELAXED);
		__atomic_store_n(&e->slptptr, c->slptptr, __ATOMIC_RELAXED);
	}
	seq_write_unlock(&e->seq, s);
}

enum cc_inv_mode { CC_INV_ALL, CC_INV_DOMAIN, CC_INV_DEVICE };

static void cc_invalidate(struct vtd_unit *u, enum cc_inv_mode mode, uint16_t did, uint16_t sid,
			  uint16_t sid_mask)
{
	__atomic_add_fetch(&u->gen_cc, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < u->cc_entries; i++) {
		struct vtd_cc_entry *e = &u->cc[i];
		uint32_t s = seq_write_lock(&e->seq);
		uint32_t tag = e->tag;
		bool drop = tag & CC_TAG_VALID;

		if (drop && mode == CC_INV_DOMAIN)
			drop = (uint16_t)e->info == did;
		else if (drop && mode == CC_INV_DEVICE)
			drop = ((uint16_t)tag & sid_mask) == (sid & sid_mask);
		if (drop)
			__atomic_store_n(&e->tag, 0, __ATOMIC_RELAXED);
		seq_write_unlock(&e->seq, s);
	}
	__atomic_add_fetch(&u->inv_context, 1, __ATOMIC_RELAXED);
}

void vtd_context_invalidate_global(struct vtd_unit *u)
{
	cc_invalidate(u, CC_INV_ALL, 0, 0, 0);
}

void vtd_context_invalidate_domain(struct vtd_unit *u, uint16_t did)
{
	cc_invalidate(u, CC_INV_DOMAIN, did, 0, 0);
}

void vtd_context_invalidate_device(struct vtd_unit *u, uint16_t did, uint16_t sid, unsigned fm)
{
	/* FM masks the low function bits: 1 -> bit 2, 2 -> bits 2:1, 3 -> 2:0.
	 * The DID is not needed to find the entries: a superset is allowed. */
	static const uint16_t fm_mask[4] = { 0, 4, 6, 7 };

	(void)did;
	cc_invalidate(u, CC_INV_DEVICE, 0, sid, (uint16_t)~fm_mask[fm & 3]);
}
