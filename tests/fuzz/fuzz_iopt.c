/* libFuzzer harness: the VT-d second-level page-table format (iopt) under
 * random map / unmap / iova_to_phys / walk / gather sequences, 3- and
 * 4-level, with 4K, 2M and 1G pages allowed or not, checked against a
 * reference map kept as sorted extents.
 *
 * Input: one configuration byte (levels, output width, page sizes), then
 * operations until the input ends (at most FZ_MAX_OPS). Findings (trap):
 *  - a result that differs from the reference (return code, translation,
 *    permissions, bytes unmapped, leaves reported by walk);
 *  - an unmapped range that was not flushed through the owner's callback
 *    by the time the unmap (or the gather sync) returned;
 *  - table pages not given back after iopt_destroy, or canary damage.
 * An op may exhaust the private page allocator first, so the -ENOMEM paths
 * (map rollback, unmap's up-front split tables) run too: those must leave
 * the mapping exactly as it was. */
#include <errno.h>

#include "fuzz_common.h"
#include "iommu/iopt.h"
#include "iommu/vtd_regs.h"

#define FZ_MAX_OPS     64
#define FZ_MAX_EXT     512
#define FZ_MAX_PENDING 256

/* ---- The reference: disjoint extents sorted by IOVA ---- */

struct ext {
	uint64_t iova, size, pa;
	unsigned prot;
};

static struct ext ref[FZ_MAX_EXT];
static unsigned nref;

/* Unflushed unmapped ranges: an unmap adds, a flush callback removes. */
static struct { uint64_t start, end; } pending[FZ_MAX_PENDING];
static unsigned npending;

static bool ref_overlaps(uint64_t iova, uint64_t size)
{
	for (unsigned i = 0; i < nref; i++)
		if (ref[i].iova < iova + size && iova < ref[i].iova + ref[i].size)
			return true;
	return false;
}

static void ref_insert(uint64_t iova, uint64_t size, uint64_t pa, unsigned prot)
{
	unsigned i = 0;

	FZ_CHECK(nref < FZ_MAX_EXT, "reference full");
	while (i < nref && ref[i].iova < iova)
		i++;
	memmove(&ref[i + 1], &ref[i], (nref - i) * sizeof(ref[0]));
	ref[i] = (struct ext){ iova, size, pa, prot };
	nref++;
}

/* Removes [iova, iova + size), splitting extents at the edges; returns the
 * bytes that were mapped. */
static uint64_t ref_remove(uint64_t iova, uint64_t size)
{
	uint64_t end = iova + size, removed = 0;
	struct ext out[FZ_MAX_EXT + 2];
	unsigned n = 0;

	for (unsigned i = 0; i < nref; i++) {
		struct ext e = ref[i];
		uint64_t e_end = e.iova + e.size;

		if (e_end <= iova || e.iova >= end) {
			out[n++] = e;
			continue;
		}
		if (e.iova < iova)
			out[n++] = (struct ext){ e.iova, iova - e.iova, e.pa, e.prot };
		if (e_end > end)
			out[n++] = (struct ext){ end, e_end - end, e.pa + (end - e.iova), e.prot };
		removed += (e_end < end ? e_end : end) - (e.iova > iova ? e.iova : iova);
	}
	FZ_CHECK(n <= FZ_MAX_EXT, "reference full");
	memcpy(ref, out, n * sizeof(ref[0]));
	nref = n;
	return removed;
}

static const struct ext *ref_lookup(uint64_t iova)
{
	for (unsigned i = 0; i < nref; i++)
		if (iova >= ref[i].iova && iova - ref[i].iova < ref[i].size)
			return &ref[i];
	return NULL;
}

/* [iova, iova + size) maps to [pa, pa + size) with prot, all of it. */
static bool ref_covers(uint64_t iova, uint64_t size, uint64_t pa, unsigned prot)
{
	uint64_t done = 0;

	while (done < size) {
		const struct ext *e = ref_lookup(iova + done);
		uint64_t take;

		if (!e || e->prot != prot || e->pa + (iova + done - e->iova) != pa + done)
			return false;
		take = e->iova + e->size - (iova + done);
		done += take < size - done ? take : size - done;
	}
	return true;
}

static uint64_t ref_mapped_in(uint64_t iova, uint64_t size)
{
	uint64_t end = iova + size, n = 0;

	for (unsigned i = 0; i < nref; i++) {
		uint64_t s = ref[i].iova > iova ? ref[i].iova : iova;
		uint64_t e = ref[i].iova + ref[i].size < end ? ref[i].iova + ref[i].size : end;

		if (s < e)
			n += e - s;
	}
	return n;
}

static void pending_add(uint64_t start, uint64_t end)
{
	FZ_CHECK(npending < FZ_MAX_PENDING, "too many unflushed ranges");
	pending[npending].start = start;
	pending[npending].end = end;
	npending++;
}

static void flush_range(void *cookie, uint64_t iova, uint64_t size)
{
	unsigned n = 0;

	(void)cookie;
	FZ_CHECK(size && iova + size > iova, "flush of an empty or wrapping range");
	for (unsigned i = 0; i < npending; i++)
		if (!(pending[i].start >= iova && pending[i].end <= iova + size))
			pending[n++] = pending[i];
	npending = n;
}

static const struct iopt_flush_ops flush_ops = { .flush_range = flush_range };

/* ---- Walk checking ---- */

struct walk_ctx {
	uint64_t start, end, last_end, seen;
	unsigned leaves, stop_after;
};

static int walk_leaf(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	struct walk_ctx *w = arg;
	uint64_t s, e;

	FZ_CHECK(size == IOPT_PAGE_4K || size == IOPT_PAGE_2M || size == IOPT_PAGE_1G,
		 "leaf of size 0x%llx", (unsigned long long)size);
	FZ_CHECK(!(iova & (size - 1)) && !(pa & (size - 1)), "misaligned leaf");
	FZ_CHECK(iova >= w->last_end, "leaves out of order at 0x%llx", (unsigned long long)iova);
	FZ_CHECK(iova < w->end && iova + size > w->start, "leaf 0x%llx outside the walked range",
		 (unsigned long long)iova);
	FZ_CHECK(ref_covers(iova, size, pa, prot),
		 "leaf iova 0x%llx pa 0x%llx size 0x%llx prot %u is not in the reference",
		 (unsigned long long)iova, (unsigned long long)pa, (unsigned long long)size, prot);
	w->last_end = iova + size;
	s = iova > w->start ? iova : w->start;
	e = iova + size < w->end ? iova + size : w->end;
	w->seen += e - s;
	return ++w->leaves == w->stop_after ? 7 : 0;
}

/* ---- Operands ---- */

struct cfg {
	unsigned ias, oas, levels;
	uint64_t pgsizes;
};

/* IOVAs cluster where tables split: low memory, 1G and 512G boundaries,
 * and the top of the input space. */
static uint64_t pick_iova(struct fz *f, const struct cfg *c)
{
	uint64_t limit = 1ull << c->ias, base;
	uint8_t cls = fz_u8(f);
	uint64_t off = (uint64_t)fz_u16(f) << 12;

	switch (cls & 7) {
	case 0: base = 0; break;
	case 1: base = (uint64_t)(cls >> 3) << 21; break;
	case 2: base = (uint64_t)(cls >> 3) << 30; break;
	case 3: base = (1ull << 39) - ((uint64_t)(cls >> 3) << 30); break;
	case 4: base = limit - ((uint64_t)(cls >> 3) << 21) - off - (off ? 0 : 0x1000); break;
	case 5: return fz_value64(f) & ~0xfffull;
	case 6: return fz_value64(f);              /* unaligned too */
	default: base = (uint64_t)(fz_u16(f)) << 30; break;
	}
	return base + off;
}

static uint64_t pick_size(struct fz *f)
{
	uint8_t cls = fz_u8(f);
	uint64_t n = 1 + (cls >> 3);

	switch (cls & 7) {
	case 0: case 1: case 2: return n << 12;
	case 3: return n << 21;
	case 4: return (n << 21) + ((uint64_t)fz_u8(f) << 12);
	case 5: return (1ull + ((cls >> 3) & 1)) << 30;
	case 6: return fz_value64(f);
	default: return ((uint64_t)fz_u16(f) + 1) << 12;
	}
}

static uint64_t pick_pa(struct fz *f, uint64_t iova)
{
	uint8_t cls = fz_u8(f);

	switch (cls & 3) {
	case 0: return iova;                                   /* identity, superpages line up */
	case 1: return ((uint64_t)fz_u16(f) << 30) | (iova & (IOPT_PAGE_1G - 1));
	case 2: return (uint64_t)fz_u32(f) << 12;
	default: return fz_value64(f);
	}
}

/* The expected outcome of a map, as the contract says. */
static int expect_map(const struct cfg *c, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	uint64_t limit = 1ull << c->ias;

	if (!size || (iova | pa | size) & 0xfff || !(prot & IOPT_RW) || prot & ~IOPT_RW)
		return -EINVAL;
	if (iova >= limit || size > limit - iova || pa >> c->oas || size > (1ull << c->oas) - pa)
		return -ERANGE;
	if (ref_overlaps(iova, size))
		return -EEXIST;
	return 0;
}

/* Bounded work per op: a map whose addresses disagree on 2M alignment, or
 * a table without 2M pages, is all 4K pages; keep those small. */
static bool map_too_big(uint64_t iova, uint64_t pa, uint64_t size, uint64_t pgsizes)
{
	if (((iova ^ pa) & (IOPT_PAGE_2M - 1)) || !(pgsizes & IOPT_PAGE_2M))
		return size > 64 * FZ_MiB;
	return size > 4 * FZ_GiB;
}

/* More table pages than a map of size bytes can need: one leaf table per
 * 2M and one per 1G touched, plus the partial ones at either end. */
static uint64_t tables_needed(uint64_t size)
{
	return (size >> 21) + (size >> 30) + 8;
}

/* After a refused map: nothing of it became visible. */
static void check_unmapped(struct iopt *pt, uint64_t iova, uint64_t size)
{
	struct walk_ctx w = { .start = iova, .end = iova + size };
	int ret = iopt_walk(pt, iova, size, walk_leaf, &w);

	FZ_CHECK(ret == 0 && w.seen == 0, "a failed map of 0x%llx+0x%llx left 0x%llx bytes mapped",
		 (unsigned long long)iova, (unsigned long long)size, (unsigned long long)w.seen);
}

/* ---- The harness ---- */

#define FZ_MAX_HOG 64

static struct arena arena;
static uint64_t baseline_free;
static struct { uint64_t hpa, pages; } hog[FZ_MAX_HOG];   /* pages held to starve maps */
static unsigned nhog;

static void hog_release(void)
{
	while (nhog) {
		nhog--;
		arena_free_pages(&arena, hog[nhog].hpa, hog[nhog].pages);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	if (arena_init(&arena, 4 * FZ_MiB, 2 * FZ_MiB)) {
		fprintf(fz_err(), "fuzz: cannot build the arena\n");
		abort();
	}
	baseline_free = arena.pages_free;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iopt pt;
	struct iopt_cfg pc;
	struct iopt_gather gather;
	struct cfg c;
	struct fz f;
	uint8_t b;
	int ret;

	fz_init(&f, data, size);
	b = fz_u8(&f);
	c.ias = b & 1 ? 48 : 39;
	c.levels = c.ias == 48 ? 4 : 3;
	c.oas = 32 + ((b >> 1) & 31) % 21;                    /* 32..52 */
	c.pgsizes = IOPT_PAGE_4K | (b & 0x40 ? 0 : IOPT_PAGE_2M) | (b & 0x80 ? 0 : IOPT_PAGE_1G);
	pc = (struct iopt_cfg){ .arena = &arena, .ias = c.ias, .oas = c.oas,
				.pgsize_bitmap = c.pgsizes, .tlb = &flush_ops, .cookie = NULL };
	nref = 0;
	npending = 0;
	ret = iopt_init(&pt, IOPT_VTD_SL, &pc);
	FZ_CHECK(ret == 0, "iopt_init: %d", ret);
	iopt_gather_init(&gather);

	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		switch (fz_u8(&f) % 8) {
		case 0:
		case 1: {                               /* map */
			uint64_t iova = pick_iova(&f, &c), sz = pick_size(&f), pa = pick_pa(&f, iova);
			unsigned prot = fz_u8(&f) % 5;   /* 0 and 4 are invalid */
			int want = expect_map(&c, iova, pa, sz, prot);

			uint64_t free_before = arena.pages_free;

			if (want == 0 && map_too_big(iova, pa, sz, c.pgsizes))
				break;
			ret = iopt_map(&pt, iova, pa, sz, prot);
			if (ret == -ENOMEM && want == 0 && free_before < tables_needed(sz)) {
				/* Out of table pages: rolled back, nothing mapped. */
				check_unmapped(&pt, iova, sz);
				break;
			}
			FZ_CHECK(ret == want, "map iova 0x%llx pa 0x%llx size 0x%llx prot %u: %d, expected %d",
				 (unsigned long long)iova, (unsigned long long)pa,
				 (unsigned long long)sz, prot, ret, want);
			if (ret == 0)
				ref_insert(iova, sz, pa, prot);
			break;
		}
		case 2: {                               /* unmap, strict or gathered */
			uint64_t iova = pick_iova(&f, &c), sz = pick_size(&f), limit = 1ull << c.ias;
			bool lazy = fz_u8(&f) & 1;
			bool bad = !sz || (iova | sz) & 0xfff || iova >= limit || sz > limit - iova;
			uint64_t want = bad ? 0 : ref_mapped_in(iova, sz);
			unsigned mark = npending;
			uint64_t free_before = arena.pages_free;
			int64_t got;

			/* What an unmap takes away must be flushed: by the unmap
			 * itself when strict, by the gather sync when lazy. */
			if (want)
				pending_add(iova, iova + sz);
			got = iopt_unmap(&pt, iova, sz, lazy ? &gather : NULL);
			if (bad) {
				FZ_CHECK(got < 0, "unmap of a bad range 0x%llx+0x%llx returned %lld",
					 (unsigned long long)iova, (unsigned long long)sz, (long long)got);
				break;
			}
			if (got == -ENOMEM && free_before < 4) {
				if (want && npending == mark + 1)
					npending = mark;        /* nothing changed */
				break;
			}
			FZ_CHECK(got >= 0 && (uint64_t)got == want,
				 "unmap 0x%llx+0x%llx: %lld bytes, expected %llu",
				 (unsigned long long)iova, (unsigned long long)sz, (long long)got,
				 (unsigned long long)want);
			if (want)
				ref_remove(iova, sz);
			if (!lazy && want)
				for (unsigned i = 0; i < npending; i++)
					FZ_CHECK(!(pending[i].start == iova && pending[i].end == iova + sz),
						 "strict unmap of 0x%llx+0x%llx returned before flushing it",
						 (unsigned long long)iova, (unsigned long long)sz);
			break;
		}
		case 3: {                               /* gather sync */
			iopt_gather_sync(&pt, &gather);
			FZ_CHECK(npending == 0, "%u gathered ranges not flushed by the sync", npending);
			break;
		}
		case 4: {                               /* iova_to_phys */
			uint64_t iova = pick_iova(&f, &c) | (fz_u16(&f) & 0xfff), pa = 0;
			const struct ext *e = ref_lookup(iova);
			unsigned prot = 0;

			ret = iopt_iova_to_phys(&pt, iova, &pa, &prot);
			if (!e) {
				FZ_CHECK(ret == -ENOENT, "iova 0x%llx is not mapped but translates to 0x%llx",
					 (unsigned long long)iova, (unsigned long long)pa);
			} else {
				FZ_CHECK(ret == 0 && pa == e->pa + (iova - e->iova) && prot == e->prot,
					 "iova 0x%llx: ret %d pa 0x%llx prot %u, expected pa 0x%llx prot %u",
					 (unsigned long long)iova, ret, (unsigned long long)pa, prot,
					 (unsigned long long)(e->pa + (iova - e->iova)), e->prot);
			}
			break;
		}
		case 5: {                               /* walk */
			uint64_t iova = pick_iova(&f, &c), sz = pick_size(&f), limit = 1ull << c.ias;
			struct walk_ctx w = { .stop_after = fz_u8(&f) };

			if (!sz || iova >= limit) {
				FZ_CHECK(iopt_walk(&pt, iova, sz, walk_leaf, &w) == -EINVAL,
					 "walk of a bad range");
				break;
			}
			if (sz > limit - iova)
				sz = limit - iova;
			w.start = iova;
			w.end = iova + sz;
			ret = iopt_walk(&pt, iova, sz, walk_leaf, &w);
			if (w.stop_after && w.leaves == w.stop_after) {
				FZ_CHECK(ret == 7, "walk did not stop at the callback's return");
				break;
			}
			FZ_CHECK(ret == 0, "walk: %d", ret);
			FZ_CHECK(w.seen == ref_mapped_in(iova, sz),
				 "walk of 0x%llx+0x%llx saw 0x%llx bytes, the reference maps 0x%llx",
				 (unsigned long long)iova, (unsigned long long)sz,
				 (unsigned long long)w.seen,
				 (unsigned long long)ref_mapped_in(iova, sz));
			break;
		}
		case 6: {                               /* starve the page allocator */
			unsigned leave = fz_u8(&f) % 8;

			hog_release();
			/* The free pages are fragmented by the canaries: take
			 * runs, largest first, until only `leave` are free. */
			while (arena.pages_free > leave && nhog < FZ_MAX_HOG) {
				uint64_t want = arena.pages_free - leave, hpa;

				while (want && arena_alloc_pages(&arena, want, &hpa))
					want /= 2;
				if (!want)
					break;
				hog[nhog].hpa = hpa;
				hog[nhog].pages = want;
				nhog++;
			}
			break;
		}
		default:                                /* give the pages back */
			hog_release();
			break;
		}
	}

	/* Everything still mapped translates as the reference says. */
	for (unsigned i = 0; i < nref; i++) {
		uint64_t pa = 0;
		unsigned prot = 0;

		ret = iopt_iova_to_phys(&pt, ref[i].iova, &pa, &prot);
		FZ_CHECK(ret == 0 && pa == ref[i].pa && prot == ref[i].prot,
			 "extent 0x%llx lost", (unsigned long long)ref[i].iova);
		ret = iopt_iova_to_phys(&pt, ref[i].iova + ref[i].size - 1, &pa, &prot);
		FZ_CHECK(ret == 0 && pa == ref[i].pa + ref[i].size - 1, "extent end 0x%llx lost",
			 (unsigned long long)(ref[i].iova + ref[i].size - 1));
	}
	iopt_gather_sync(&pt, &gather);
	FZ_CHECK(npending == 0, "gathered ranges not flushed");
	hog_release();
	iopt_destroy(&pt);
	FZ_CHECK(pt.nr_tables == 0, "%llu table pages still held after destroy",
		 (unsigned long long)pt.nr_tables);
	FZ_CHECK(arena.pages_free == baseline_free, "table pages leaked: %llu free, %llu at start",
		 (unsigned long long)arena.pages_free, (unsigned long long)baseline_free);
	FZ_CHECK(arena_check_canaries(&arena) == 0, "arena canary damaged");
	return 0;
}
