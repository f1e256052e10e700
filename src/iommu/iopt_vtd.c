/* VT-d second-level page-table format: the walker shared by everything that
 * translates, and map/unmap/iova_to_phys/walk for tables Warden owns.
 *
 * Layout (spec, "Second-Level Translation"): each table is one 4 KiB page of
 * 512 64-bit entries; level 4 (SL-PML4E) indexes IOVA bits 47:39, level 3
 * (SL-PDPE) 38:30, level 2 (SL-PDE) 29:21, level 1 (SL-PTE) 20:12. A 3-level
 * table starts at level 3. R (bit 0) and W (bit 1) are checked at every level;
 * an entry with both clear is not present. PS (bit 7) at level 3 or 2 makes
 * the entry a 1 GiB or 2 MiB leaf. Bits 51:12 hold the next table's or the
 * page's address. */
#include "iommu/iopt.h"
#include "iommu/vtd_regs.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>

static inline unsigned level_shift(unsigned lvl)  { return VTD_PAGE_SHIFT + VTD_LEVEL_STRIDE * (lvl - 1); }
static inline uint64_t level_span(unsigned lvl)   { return 1ull << level_shift(lvl); }
static inline unsigned level_index(uint64_t iova, unsigned lvl)
{
	return (unsigned)(iova >> level_shift(lvl)) & (VTD_ENTRIES_PER_TABLE - 1);
}

static inline bool pte_present(uint64_t pte)           { return pte & (VTD_SL_R | VTD_SL_W); }
static inline bool pte_is_leaf(uint64_t pte, unsigned lvl) { return lvl == 1 || (pte & VTD_SL_PS); }

void iopt_mem_init_arena(struct iopt_mem *m, const struct arena *a)
{
	m->base = a->base;
	m->size = a->size;
	m->read64 = NULL;
	m->opaque = NULL;
}

int iopt_vtd_walk(const struct iopt_mem *mem, uint64_t root, unsigned levels, unsigned haw,
		  uint64_t iova, unsigned access, struct iopt_walk_result *res)
{
	uint64_t table = root, pte = 0;
	unsigned perm = IOPT_RW, lvl;
	bool large = false;

	res->not_present = false;
	res->pte = 0;
	res->level = levels;
	if (levels < 3 || levels > 4 || iova >> (VTD_PAGE_SHIFT + VTD_LEVEL_STRIDE * levels))
		return VTD_FR_ADDR_BEYOND_MGAW;
	for (lvl = levels; ; lvl--) {
		res->level = lvl;
		if (iopt_mem_read64(mem, table + level_index(iova, lvl) * 8, &pte))
			return VTD_FR_PAGING_ENTRY_INV;
		res->pte = pte;
		if (!pte_present(pte)) {
			res->not_present = true;
			return access & IOPT_WRITE ? VTD_FR_WRITE : VTD_FR_READ;
		}
		large = lvl > 1 && (pte & VTD_SL_PS);
		if (pte & vtd_sl_rsvd_mask(lvl, large, haw))
			return VTD_FR_PAGING_ENTRY_RSVD;
		/* Permissions narrow at every level, so a denial is reported at
		 * the level that denied it. */
		perm &= (unsigned)pte & IOPT_RW;
		if (access & ~perm)
			return access & ~perm & IOPT_WRITE ? VTD_FR_WRITE : VTD_FR_READ;
		if (lvl == 1 || large)
			break;
		table = pte & VTD_SL_ADDR_MASK;
	}
	res->page_size = level_span(lvl);
	res->pa = pte & VTD_SL_ADDR_MASK & ~(res->page_size - 1);
	res->perm = perm;
	return 0;
}

/* ---- enumerating any table (guest tables included) ---- */

struct enum_ctx {
	const struct iopt_mem *mem;
	unsigned haw;
	uint64_t pgsizes, start, end;
	uint64_t *budget;
	iopt_walk_fn fn;
	void *arg;
};

/* Recursion is by level, so a table that links to itself (or to an
 * ancestor) is merely visited again one level down: depth stays bounded,
 * and the budget bounds the breadth. */
static int enum_level(struct enum_ctx *c, uint64_t table, unsigned lvl, uint64_t base, unsigned perm)
{
	uint64_t span = level_span(lvl);
	uint64_t s = c->start > base ? c->start : base;
	uint64_t e = c->end - base < span * VTD_ENTRIES_PER_TABLE ? c->end : base + span * VTD_ENTRIES_PER_TABLE;
	int ret;

	for (unsigned i = (unsigned)((s - base) >> level_shift(lvl));
	     i <= (unsigned)((e - 1 - base) >> level_shift(lvl)); i++) {
		uint64_t pte, eb = base + i * span;
		unsigned p;
		bool large;

		if (!*c->budget)
			return -E2BIG;
		(*c->budget)--;
		if (iopt_mem_read64(c->mem, table + i * 8, &pte))
			break;          /* a walk would fault 0x7 on all of it */
		if (!pte_present(pte))
			continue;
		large = lvl > 1 && (pte & VTD_SL_PS);
		if (pte & vtd_sl_rsvd_mask(lvl, large, c->haw) || (large && !(c->pgsizes & span)))
			continue;
		p = perm & (unsigned)pte & IOPT_RW;
		if (!p)
			continue;
		if (lvl == 1 || large)
			ret = c->fn(c->arg, eb, pte & VTD_SL_ADDR_MASK & ~(span - 1), span, p);
		else
			ret = enum_level(c, pte & VTD_SL_ADDR_MASK, lvl - 1, eb, p);
		if (ret)
			return ret;
	}
	return 0;
}

int iopt_vtd_enum(const struct iopt_mem *mem, uint64_t root, unsigned levels, unsigned haw,
		  uint64_t pgsizes, uint64_t iova, uint64_t size, uint64_t *budget,
		  iopt_walk_fn fn, void *arg)
{
	struct enum_ctx c = {
		.mem = mem, .haw = haw, .pgsizes = pgsizes, .budget = budget, .fn = fn, .arg = arg,
	};
	uint64_t limit;

	if (levels < 3 || levels > 4 || haw < 32 || haw > 52 || !size || !fn || !budget)
		return -EINVAL;
	limit = 1ull << (VTD_PAGE_SHIFT + VTD_LEVEL_STRIDE * levels);
	if (iova >= limit)
		return 0;
	c.start = iova;
	c.end = size > limit - iova ? limit : iova + size;
	return enum_level(&c, root & VTD_SL_ADDR_MASK, levels, 0, IOPT_RW);
}

/* ---- host-owned tables ---- */

static uint64_t *table_ptr(const struct iopt *pt, uint64_t hpa)
{
	return arena_hpa_to_ptr(pt->cfg.arena, hpa, VTD_PAGE_SIZE);
}

/* The owner is the only writer, so its own loads need no ordering; stores
 * are release so a walker that sees a new table pointer sees the table. */
static inline uint64_t pte_load(const uint64_t *e)      { return __atomic_load_n(e, __ATOMIC_RELAXED); }
static inline void pte_store(uint64_t *e, uint64_t v)   { __atomic_store_n(e, v, __ATOMIC_RELEASE); }

static int table_alloc(struct iopt *pt, uint64_t *hpa)
{
	int ret = arena_alloc_pages(pt->cfg.arena, 1, hpa);

	if (ret) {
		log_error("iopt: no private page left for an I/O page table (%llu tables held): %d",
			  (unsigned long long)pt->nr_tables, ret);
		return ret;
	}
	pt->nr_tables++;
	return 0;
}

static void table_free(struct iopt *pt, uint64_t hpa)
{
	if (arena_free_pages(pt->cfg.arena, hpa, 1) == 0)
		pt->nr_tables--;
}

static bool pgsize_ok(const struct iopt *pt, uint64_t span)
{
	return pt->cfg.pgsize_bitmap & span;
}

/* Any present leaf in [start, end)? The table at `table` covers [base, ...). */
static bool range_has_leaf(const struct iopt *pt, uint64_t table, unsigned lvl, uint64_t base,
			   uint64_t start, uint64_t end)
{
	const uint64_t *t = table_ptr(pt, table);
	uint64_t span = level_span(lvl);
	unsigned i0 = (unsigned)((start - base) >> level_shift(lvl));
	unsigned i1 = (unsigned)((end - 1 - base) >> level_shift(lvl));

	for (unsigned i = i0; i <= i1; i++) {
		uint64_t pte = pte_load(&t[i]);
		uint64_t eb = base + i * span;

		if (!pte_present(pte))
			continue;
		if (pte_is_leaf(pte, lvl))
			return true;
		if (range_has_leaf(pt, pte & VTD_SL_ADDR_MASK, lvl - 1, eb,
				   start > eb ? start : eb, end < eb + span ? end : eb + span))
			return true;
	}
	return false;
}

/* Map one leaf at iova: the largest page that is allowed, aligned for both
 * addresses, wholly requested, and whose slot is free. */
static int map_one(struct iopt *pt, uint64_t iova, uint64_t pa, uint64_t remaining,
		   unsigned prot, uint64_t *mapped)
{
	uint64_t table = pt->root;

	for (unsigned lvl = pt->levels; ; lvl--) {
		uint64_t *t = table_ptr(pt, table);
		uint64_t span = level_span(lvl), *e, pte;

		if (!t) {
			log_error("iopt: table at HPA 0x%llx is outside host memory",
				  (unsigned long long)table);
			return -EFAULT;
		}
		e = &t[level_index(iova, lvl)];
		pte = pte_load(e);
		if (!pte_present(pte) &&
		    (lvl == 1 || (lvl <= 3 && pgsize_ok(pt, span) && !((iova | pa) & (span - 1)) &&
				  remaining >= span))) {
			pte_store(e, pa | prot | (lvl > 1 ? VTD_SL_PS : 0));
			*mapped = span;
			return 0;
		}
		if (lvl == 1 || (pte_present(pte) && pte_is_leaf(pte, lvl)))
			return -EEXIST;     /* the overlap pre-check makes this unreachable */
		if (!pte_present(pte)) {
			uint64_t child;
			int ret = table_alloc(pt, &child);

			if (ret)
				return ret;
			/* Non-leaf entries grant R|W: the leaf alone decides. */
			pte = child | VTD_SL_R | VTD_SL_W;
			pte_store(e, pte);
		}
		table = pte & VTD_SL_ADDR_MASK;
	}
}

static int64_t vtd_unmap(struct iopt *pt, uint64_t iova, uint64_t size, struct iopt_gather *gather);

static int vtd_map(struct iopt *pt, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	uint64_t done = 0, limit = 1ull << pt->cfg.ias;
	int ret;

	if (!size || (iova | pa | size) & (VTD_PAGE_SIZE - 1) || !(prot & IOPT_RW) || prot & ~IOPT_RW)
		return -EINVAL;
	if (iova >= limit || size > limit - iova || pa >> pt->cfg.oas || size > (1ull << pt->cfg.oas) - pa)
		return -ERANGE;
	if (range_has_leaf(pt, pt->root, pt->levels, 0, iova, iova + size))
		return -EEXIST;
	while (done < size) {
		uint64_t mapped;

		ret = map_one(pt, iova + done, pa + done, size - done, prot, &mapped);
		if (ret)
			goto rollback;
		done += mapped;
	}
	return 0;

rollback:
	/* What was mapped was visible to walks, so undo it through the owner's
	 * flush like any unmap. */
	if (done)
		vtd_unmap(pt, iova, done, NULL);
	return ret;
}

/* Tables needed to split the superpage that straddles addr, if any. */
static unsigned split_need(const struct iopt *pt, uint64_t addr)
{
	uint64_t table = pt->root;

	if (addr >> pt->cfg.ias)
		return 0;
	for (unsigned lvl = pt->levels; lvl > 1; lvl--) {
		uint64_t pte = pte_load(&table_ptr(pt, table)[level_index(addr, lvl)]);

		if (!pte_present(pte))
			return 0;
		if (pte & VTD_SL_PS) {
			if (!(addr & (level_span(lvl) - 1)))
				return 0;
			return lvl == 3 && (addr & (IOPT_PAGE_2M - 1)) ? 2 : 1;
		}
		table = pte & VTD_SL_ADDR_MASK;
	}
	return 0;
}

static void gather_table(struct iopt *pt, struct iopt_gather *g, uint64_t table)
{
	/* Entry 0 becomes the link: an HPA is page aligned, so R = W = 0 and a
	 * walk still reading this table sees a not-present entry. */
	pte_store(&table_ptr(pt, table)[0], g->free_head);
	g->free_head = table;
	g->nr_free++;
}

struct unmap_ctx {
	struct iopt *pt;
	struct iopt_gather *g;
	uint64_t start, end;
	uint64_t spare[4];
	unsigned nr_spare;
};

static uint64_t unmap_level(struct unmap_ctx *c, uint64_t table, unsigned lvl, uint64_t base)
{
	uint64_t *t = table_ptr(c->pt, table);
	uint64_t span = level_span(lvl), unmapped = 0;
	uint64_t s = c->start > base ? c->start : base;
	uint64_t e = c->end - base < span * VTD_ENTRIES_PER_TABLE ? c->end : base + span * VTD_ENTRIES_PER_TABLE;

	for (unsigned i = (unsigned)((s - base) >> level_shift(lvl));
	     i <= (unsigned)((e - 1 - base) >> level_shift(lvl)); i++) {
		uint64_t pte = pte_load(&t[i]);
		uint64_t eb = base + i * span;
		bool full = c->start <= eb && eb + span <= c->end;

		if (!pte_present(pte))
			continue;
		if (pte_is_leaf(pte, lvl)) {
			uint64_t child, sub = level_span(lvl - 1), *ct;

			if (full) {
				pte_store(&t[i], 0);
				unmapped += span;
				continue;
			}
			/* The range cuts this superpage: replace it by a table
			 * giving the very same translations first, so a walk in
			 * flight sees either form and never a hole, then unmap
			 * inside the new table. */
			child = c->spare[--c->nr_spare];
			ct = table_ptr(c->pt, child);
			for (unsigned j = 0; j < VTD_ENTRIES_PER_TABLE; j++)
				ct[j] = ((pte & VTD_SL_ADDR_MASK) + j * sub) | (pte & IOPT_RW) |
					(lvl - 1 > 1 ? VTD_SL_PS : 0);
			pte = child | VTD_SL_R | VTD_SL_W;
			pte_store(&t[i], pte);
		}
		unmapped += unmap_level(c, pte & VTD_SL_ADDR_MASK, lvl - 1, eb);
		if (full) {
			pte_store(&t[i], 0);
			gather_table(c->pt, c->g, pte & VTD_SL_ADDR_MASK);
		}
	}
	return unmapped;
}

static int64_t vtd_unmap(struct iopt *pt, uint64_t iova, uint64_t size, struct iopt_gather *gather)
{
	struct unmap_ctx c = { .pt = pt, .start = iova, .end = iova + size };
	struct iopt_gather local;
	uint64_t limit = 1ull << pt->cfg.ias, freed_before, unmapped;
	unsigned need;

	if (!size || (iova | size) & (VTD_PAGE_SIZE - 1))
		return -EINVAL;
	if (iova >= limit || size > limit - iova)
		return -ERANGE;
	/* Allocate split tables up front so unmap either fails with nothing
	 * changed or completes. */
	need = split_need(pt, iova) + split_need(pt, iova + size);
	for (c.nr_spare = 0; c.nr_spare < need; c.nr_spare++) {
		if (table_alloc(pt, &c.spare[c.nr_spare])) {
			while (c.nr_spare)
				table_free(pt, c.spare[--c.nr_spare]);
			return -ENOMEM;
		}
	}
	iopt_gather_init(&local);
	c.g = gather ? gather : &local;
	freed_before = c.g->nr_free;
	unmapped = unmap_level(&c, pt->root, pt->levels, 0);
	while (c.nr_spare)
		table_free(pt, c.spare[--c.nr_spare]);
	if (unmapped || c.g->nr_free != freed_before) {
		if (c.g->end == 0) {
			c.g->start = iova;
			c.g->end = iova + size;
		} else {
			c.g->start = iova < c.g->start ? iova : c.g->start;
			c.g->end = iova + size > c.g->end ? iova + size : c.g->end;
		}
	}
	if (!gather)
		iopt_gather_sync(pt, &local);
	return (int64_t)unmapped;
}

void iopt_gather_sync(struct iopt *pt, struct iopt_gather *g)
{
	if (g->end && pt->cfg.tlb && pt->cfg.tlb->flush_range)
		pt->cfg.tlb->flush_range(pt->cfg.cookie, g->start, g->end - g->start);
	/* Only now, with no walk left that could hold a pointer into them, do
	 * the detached tables go back to the allocator. */
	while (g->free_head) {
		uint64_t next = pte_load(&table_ptr(pt, g->free_head)[0]);

		table_free(pt, g->free_head);
		g->free_head = next;
	}
	iopt_gather_init(g);
}

static int vtd_iova_to_phys(struct iopt *pt, uint64_t iova, uint64_t *pa, unsigned *prot)
{
	struct iopt_walk_result r;

	if (iopt_vtd_walk(&pt->mem, pt->root, pt->levels, pt->cfg.oas, iova, 0, &r))
		return -ENOENT;
	*pa = r.pa + (iova & (r.page_size - 1));
	if (prot)
		*prot = r.perm;
	return 0;
}

static int walk_level(struct iopt *pt, uint64_t table, unsigned lvl, uint64_t base,
		      uint64_t start, uint64_t end, iopt_walk_fn fn, void *arg)
{
	const uint64_t *t = table_ptr(pt, table);
	uint64_t span = level_span(lvl);
	uint64_t s = start > base ? start : base;
	uint64_t e = end - base < span * VTD_ENTRIES_PER_TABLE ? end : base + span * VTD_ENTRIES_PER_TABLE;
	int ret;

	for (unsigned i = (unsigned)((s - base) >> level_shift(lvl));
	     i <= (unsigned)((e - 1 - base) >> level_shift(lvl)); i++) {
		uint64_t pte = pte_load(&t[i]);
		uint64_t eb = base + i * span;

		if (!pte_present(pte))
			continue;
		if (pte_is_leaf(pte, lvl))
			ret = fn(arg, eb, pte & VTD_SL_ADDR_MASK & ~(span - 1), span, (unsigned)pte & IOPT_RW);
		else
			ret = walk_level(pt, pte & VTD_SL_ADDR_MASK, lvl - 1, eb, start, end, fn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static int vtd_walk(struct iopt *pt, uint64_t iova, uint64_t size, iopt_walk_fn fn, void *arg)
{
	uint64_t limit = 1ull << pt->cfg.ias;

	if (!size || iova >= limit)
		return -EINVAL;
	if (size > limit - iova)
		size = limit - iova;
	return walk_level(pt, pt->root, pt->levels, 0, iova, iova + size, fn, arg);
}

static const struct iopt_ops iopt_vtd_ops = {
	.map = vtd_map,
	.unmap = vtd_unmap,
	.iova_to_phys = vtd_iova_to_phys,
	.walk = vtd_walk,
};

int iopt_init(struct iopt *pt, enum iopt_fmt fmt, const struct iopt_cfg *cfg)
{
	int ret;

	memset(pt, 0, sizeof(*pt));
	if (fmt != IOPT_VTD_SL || !cfg->arena || (cfg->ias != 39 && cfg->ias != 48) ||
	    cfg->oas < 32 || cfg->oas > 52)
		return -EINVAL;
	pt->ops = &iopt_vtd_ops;
	pt->cfg = *cfg;
	if (!pt->cfg.pgsize_bitmap)
		pt->cfg.pgsize_bitmap = IOPT_PAGE_4K | IOPT_PAGE_2M | IOPT_PAGE_1G;
	pt->cfg.pgsize_bitmap |= IOPT_PAGE_4K;
	pt->levels = cfg->ias == 39 ? 3 : 4;
	iopt_mem_init_arena(&pt->mem, cfg->arena);
	ret = table_alloc(pt, &pt->root);
	if (ret)
		return ret;
	return 0;
}

static void free_level(struct iopt *pt, uint64_t table, unsigned lvl)
{
	const uint64_t *t = table_ptr(pt, table);

	for (unsigned i = 0; lvl > 1 && i < VTD_ENTRIES_PER_TABLE; i++) {
		uint64_t pte = pte_load(&t[i]);

		if (pte_present(pte) && !pte_is_leaf(pte, lvl))
			free_level(pt, pte & VTD_SL_ADDR_MASK, lvl - 1);
	}
	table_free(pt, table);
}

void iopt_destroy(struct iopt *pt)
{
	if (pt->root)
		free_level(pt, pt->root, pt->levels);
	pt->root = 0;
}
