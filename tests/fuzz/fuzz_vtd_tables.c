/* libFuzzer harness: the VT-d remapping unit walking root, context and
 * second-level tables that the input builds, entry by entry, in "guest"
 * pages of the arena - the tables a driver (later: a guest, through the
 * vIOMMU) hands to the hardware.
 *
 * Every vtd_translate() is compared with a reference walk written from the
 * formats in docs/iommu.md (root entry -> context entry -> SL table, with
 * every reserved-bit, width and permission rule and the interrupt window);
 * a different outcome, address, page size or permission is a finding. The
 * unit's caches must be invisible: tables only change with the global
 * invalidations software owes, a domain id reused for other tables gets a
 * domain invalidation first, and selective invalidations in between must
 * not change any answer. The fault log is checked record by record
 * (reasons must be valid, FPD suppresses, overflow drops), and DMA through
 * the unit (dma_read/dma_write) must move exactly the bytes the reference
 * says to exactly the host addresses it says. Writes are only issued where
 * the reference lands them inside the data pages, so a single byte changed
 * anywhere else (canaries, guard regions, the tables, other data) is a
 * finding.
 *
 * Input: two configuration bytes (unit capabilities and cache sizes), then
 * operations (see the switch below) until the input ends. */
#include <errno.h>

#include "fuzz_common.h"
#include "iommu/dma.h"
#include "iommu/vtd.h"

#define FZ_MAX_OPS     96
#define NPOOL          16               /* table pages the input writes */
#define DATA_OFF       (2 * FZ_MiB)     /* data pages: the RAM's upper half */
#define DATA_SIZE      (2 * FZ_MiB)
#define MAX_DMA        (12 * 1024)
#define MAX_LOG        16

static struct fz_ram R;
static uint64_t ram_hpa;
static bool trace;                      /* FUZZ_TRACE=1: print every translation */
static uint8_t data_shadow[DATA_SIZE];

static uint64_t pool_hpa(unsigned k) { return ram_hpa + (uint64_t)k * 4096; }

/* ---- Reference model ---- */

struct ref_unit {
	unsigned haw, mgaw, sagaw, nr_dids, nr_records;
	bool sp_2m, sp_1g;
	bool te, root_set;
	uint64_t rta;
	/* Fault log as software would see it. */
	struct vtd_fault_record log[256];
	unsigned head, count;
	bool overflow;
	uint64_t total_faults;
	/* Which tables each domain id's cached translations came from. */
	uint64_t did_root[1u << 16];
	uint8_t did_levels[1u << 16];
	uint16_t used_dids[FZ_MAX_OPS * 4];
	unsigned nused;
};

static struct ref_unit M;

struct ref_result {
	unsigned fault;                 /* 0 or VTD_FR_* */
	bool ctx_known, fpd;
	bool walked;                    /* reached the SL tables (or would) */
	uint16_t did;
	uint64_t slptptr;
	unsigned levels;
	uint64_t addr, page_size;
	unsigned perm;
	uint64_t leaf_hpa;              /* where the leaf entry sits */
	uint64_t ctx_hpa;               /* where the context entry sits */
};

static bool ref_read64(uint64_t hpa, uint64_t *v)
{
	const struct arena *a = &R.arena;

	if (hpa >= a->size || a->size - hpa < 8 || (hpa & 7))
		return false;
	memcpy(v, a->base + hpa, 8);
	return true;
}

static bool in_irq_window(uint64_t base, uint64_t size)
{
	return base <= 0xfeefffffull && base + size > 0xfee00000ull;
}

static void ref_identity(uint64_t iova, struct ref_result *r)
{
	if (iova >> M.haw)
		r->fault = VTD_FR_ADDR_BEYOND_MGAW;
	else if (in_irq_window(iova & ~0xfffull, 4096))
		r->fault = VTD_FR_INTERRUPT_ADDR;
	else {
		r->addr = iova;
		r->page_size = 4096;
		r->perm = IOPT_RW;
	}
}

/* Reserved bits of a present SL entry (docs/iommu.md, "Formats"): address
 * bits at or above HAW (up to 51), SNP (11), TM (62), PS at level 4, and
 * the address bits below a superpage's alignment. */
static uint64_t ref_sl_reserved(unsigned level, bool large)
{
	uint64_t m = (1ull << 11) | (1ull << 62);

	for (unsigned b = M.haw; b < 52; b++)
		m |= 1ull << b;
	if (level == 4)
		m |= 1ull << 7;
	if (large && level == 2)
		m |= 0x1ff000ull;
	if (large && level == 3)
		m |= 0x3ffff000ull;
	return m;
}

static void ref_translate(uint16_t sid, uint64_t iova, unsigned req, struct ref_result *r)
{
	uint64_t haw_mask = (1ull << M.haw) - 1, lo, hi, e, table;
	unsigned access = req & IOPT_RW, tt, aw, perm = IOPT_RW, lvl;

	memset(r, 0, sizeof(*r));
	if (!M.te) {
		ref_identity(iova, r);
		return;
	}
	e = M.rta + (uint64_t)(sid >> 8) * 16;
	if (!ref_read64(e, &lo) || !ref_read64(e + 8, &hi)) {
		r->fault = VTD_FR_ROOT_TABLE_INV;
		return;
	}
	if (!(lo & 1)) {
		r->fault = VTD_FR_ROOT_ENTRY_P;
		return;
	}
	if ((lo & 0xffe) || (lo & ~0xfffull & ~haw_mask) || hi) {
		r->fault = VTD_FR_ROOT_ENTRY_RSVD;
		return;
	}
	e = (lo & ~0xfffull) + (uint64_t)(sid & 0xff) * 16;
	r->ctx_hpa = e;
	if (!ref_read64(e, &lo) || !ref_read64(e + 8, &hi)) {
		r->fault = VTD_FR_CONTEXT_TABLE_INV;
		return;
	}
	if (!(lo & 1)) {
		r->fault = VTD_FR_CONTEXT_ENTRY_P;
		return;
	}
	r->ctx_known = true;
	r->fpd = lo & 2;
	r->did = (uint16_t)(hi >> 8);
	if ((lo & 0xff0) || (lo & ~0xfffull & ~haw_mask) || (hi & 0x80) || (hi >> 24) ||
	    r->did >= M.nr_dids) {
		r->fault = VTD_FR_CONTEXT_ENTRY_RSVD;
		return;
	}
	tt = (unsigned)(lo >> 2) & 3;
	aw = (unsigned)hi & 7;
	if (tt == 1 || tt == 3 || !(M.sagaw & (1u << aw)) || 30 + 9 * aw > M.mgaw) {
		r->fault = VTD_FR_CONTEXT_ENTRY_INV;
		return;
	}
	if (req & VTD_REQ_TRANSLATED) {
		r->fault = VTD_FR_CONTEXT_ENTRY_TT;
		return;
	}
	if (tt == 2) {
		ref_identity(iova, r);
		return;
	}
	if (iova >> (30 + 9 * aw)) {
		r->fault = VTD_FR_ADDR_BEYOND_MGAW;
		return;
	}
	r->walked = true;
	r->slptptr = lo & ~0xfffull;
	r->levels = aw + 2;
	table = r->slptptr;
	for (lvl = r->levels; ; lvl--) {
		unsigned shift = 12 + 9 * (lvl - 1);
		uint64_t pte;
		bool large;

		r->leaf_hpa = table + ((iova >> shift) & 511) * 8;
		if (!ref_read64(r->leaf_hpa, &pte)) {
			r->fault = VTD_FR_PAGING_ENTRY_INV;
			return;
		}
		if (!(pte & 3)) {
			r->fault = access & IOPT_WRITE ? VTD_FR_WRITE : VTD_FR_READ;
			return;
		}
		large = lvl > 1 && (pte & (1ull << 7));
		if (pte & ref_sl_reserved(lvl, large)) {
			r->fault = VTD_FR_PAGING_ENTRY_RSVD;
			return;
		}
		perm &= (unsigned)pte & 3;
		if (access & ~perm) {
			r->fault = access & ~perm & IOPT_WRITE ? VTD_FR_WRITE : VTD_FR_READ;
			return;
		}
		if (lvl == 1 || large) {
			r->page_size = 1ull << shift;
			r->addr = (pte & 0x000ffffffffff000ull & ~(r->page_size - 1)) |
				  (iova & (r->page_size - 1));
			break;
		}
		table = pte & 0x000ffffffffff000ull;
	}
	if ((r->page_size == (2ull << 20) && !M.sp_2m) || (r->page_size == (1ull << 30) && !M.sp_1g)) {
		r->fault = VTD_FR_PAGING_ENTRY_RSVD;
		return;
	}
	r->perm = perm;
	if (in_irq_window(r->addr & ~(r->page_size - 1), r->page_size)) {
		if (in_irq_window(r->addr & ~0xfffull, 4096)) {
			r->fault = VTD_FR_INTERRUPT_ADDR;
			r->perm = 0;
			return;
		}
		r->page_size = 4096;
	}
}

/* A fault as the unit must log it. */
static void ref_fault(uint16_t sid, uint64_t iova, unsigned req, const struct ref_result *r)
{
	if (!r->fault || (req & VTD_REQ_PROBE))
		return;
	M.total_faults++;
	if (r->ctx_known && r->fpd)
		return;
	if (M.count == M.nr_records) {
		M.overflow = true;
		return;
	}
	M.log[(M.head + M.count) % M.nr_records] = (struct vtd_fault_record){
		.iova = iova & ~0xfffull, .sid = sid, .reason = (uint8_t)r->fault,
		.is_write = req & VTD_REQ_WRITE,
	};
	M.count++;
}

/* Before a translation by a domain id whose cached translations may come
 * from other tables: what software must do when it reuses a domain id. */
static void did_prepare(struct vtd_unit *u, const struct ref_result *r)
{
	if (!r->walked)
		return;
	if (M.did_levels[r->did] &&
	    (M.did_root[r->did] != r->slptptr || M.did_levels[r->did] != r->levels))
		vtd_iotlb_invalidate_domain(u, r->did);
	if (!M.did_levels[r->did] && M.nused < sizeof(M.used_dids) / sizeof(M.used_dids[0]))
		M.used_dids[M.nused++] = r->did;
	M.did_root[r->did] = r->slptptr;
	M.did_levels[r->did] = (uint8_t)r->levels;
}

static void did_forget_all(void)
{
	for (unsigned i = 0; i < M.nused; i++)
		M.did_levels[M.used_dids[i]] = 0;
	M.nused = 0;
}

/* Is the 8-byte slot at hpa also the root entry or the context entry that
 * the translation r went through? */
static bool aliases_context(uint64_t hpa, const struct ref_result *r)
{
	return (hpa >= M.rta && hpa < M.rta + 4096) ||
	       (r->ctx_known && (hpa & ~15ull) == (r->ctx_hpa & ~15ull));
}

/* ---- Checks ---- */

static void check_translate(struct vtd_unit *u, uint16_t sid, uint64_t iova, unsigned req)
{
	struct ref_result r;
	struct vtd_xlate x;
	int ret;

	ref_translate(sid, iova, req, &r);
	did_prepare(u, &r);
	memset(&x, 0xa5, sizeof(x));
	ret = vtd_translate(u, sid, iova, req, &x);
	ref_fault(sid, iova, req, &r);
	if (trace)
		fprintf(fz_err(), "translate sid %04x iova 0x%llx req %u: ret %d fault 0x%x addr 0x%llx "
			"size 0x%llx perm %u (reference fault 0x%x addr 0x%llx fpd %d, %u records)\n", sid,
			(unsigned long long)iova, req, ret, x.fault, (unsigned long long)x.addr,
			(unsigned long long)x.page_size, x.perm, r.fault, (unsigned long long)r.addr,
			r.ctx_known && r.fpd, M.count);
	if (r.fault) {
		FZ_CHECK(ret == -EFAULT && x.fault == r.fault,
			 "sid %04x iova 0x%llx req %u: ret %d fault 0x%x addr 0x%llx, expected fault 0x%x",
			 sid, (unsigned long long)iova, req, ret, x.fault,
			 (unsigned long long)x.addr, r.fault);
		return;
	}
	FZ_CHECK(ret == 0 && x.fault == 0 && x.addr == r.addr && x.page_size == r.page_size &&
		 x.perm == r.perm,
		 "sid %04x iova 0x%llx req %u: ret %d fault 0x%x addr 0x%llx size 0x%llx perm %u, "
		 "expected addr 0x%llx size 0x%llx perm %u", sid, (unsigned long long)iova, req, ret,
		 x.fault, (unsigned long long)x.addr, (unsigned long long)x.page_size, x.perm,
		 (unsigned long long)r.addr, (unsigned long long)r.page_size, r.perm);
	FZ_CHECK((x.perm & (req & IOPT_RW)) == (req & IOPT_RW), "granted less than asked");
	FZ_CHECK(!in_irq_window(x.addr & ~0xfffull, 4096), "translation into the interrupt window");
}

static void check_log(struct vtd_unit *u, unsigned max)
{
	struct vtd_fault_record got[MAX_LOG];
	size_t n = vtd_fault_log_read(u, got, max);
	struct vtd_fault_stats st;

	FZ_CHECK(n == (max < M.count ? max : M.count), "read %zu fault records, expected %u",
		 n, max < M.count ? max : M.count);
	for (size_t i = 0; i < n; i++) {
		const struct vtd_fault_record *w = &M.log[M.head];

		FZ_CHECK(got[i].reason >= VTD_FR_ROOT_ENTRY_P && got[i].reason <= VTD_FR_INTERRUPT_ADDR,
			 "invalid fault reason 0x%x", got[i].reason);
		FZ_CHECK(got[i].reason == w->reason && got[i].sid == w->sid && got[i].iova == w->iova &&
			 got[i].is_write == w->is_write,
			 "fault record %zu: sid %04x iova 0x%llx reason 0x%x write %d, expected "
			 "sid %04x iova 0x%llx reason 0x%x write %d", i, got[i].sid,
			 (unsigned long long)got[i].iova, got[i].reason, got[i].is_write, w->sid,
			 (unsigned long long)w->iova, w->reason, w->is_write);
		M.head = (M.head + 1) % M.nr_records;
		M.count--;
	}
	FZ_CHECK(vtd_fault_overflow(u) == M.overflow, "overflow flag %d, expected %d",
		 vtd_fault_overflow(u), M.overflow);
	FZ_CHECK(vtd_fault_log_pending(u) == M.count, "pending records");
	vtd_fault_stats_get(u, &st);
	FZ_CHECK(st.total == M.total_faults, "%llu faults counted, expected %llu",
		 (unsigned long long)st.total, (unsigned long long)M.total_faults);
}

/* A DMA transfer: the reference decides page by page where it lands; a
 * write is issued only when all of it lands in the data pages. */
static bool data_hpa(uint64_t hpa, uint64_t len)
{
	return hpa >= ram_hpa + DATA_OFF && hpa + len <= ram_hpa + DATA_OFF + DATA_SIZE &&
	       hpa + len > hpa;
}

struct dma_plan {
	struct ref_result step[MAX_DMA / 512 + 4];
	uint64_t iova[MAX_DMA / 512 + 4], len[MAX_DMA / 512 + 4];
	unsigned nsteps, nchunks;        /* steps translated; chunks that moved */
	size_t done;
	bool all_data;
};

/* What the DMA API must do, without touching anything. */
static void plan_dma(uint16_t sid, uint64_t iova, size_t len, bool write, struct dma_plan *p)
{
	p->nsteps = p->nchunks = 0;
	p->done = 0;
	p->all_data = true;
	while (p->done < len) {
		uint64_t cur = iova + p->done, chunk;
		struct ref_result *r = &p->step[p->nsteps];

		if (cur < iova)
			break;                  /* wraps: stopped, nothing translated */
		ref_translate(sid, cur, write ? VTD_REQ_WRITE : VTD_REQ_READ, r);
		p->iova[p->nsteps++] = cur;
		if (r->fault)
			break;
		chunk = r->page_size - (cur & (r->page_size - 1));
		if (chunk > len - p->done)
			chunk = len - p->done;
		if (r->addr >= R.arena.size || R.arena.size - r->addr < chunk)
			break;                  /* outside host memory: stopped, no fault */
		if (!data_hpa(r->addr, chunk))
			p->all_data = false;
		p->len[p->nchunks++] = chunk;
		p->done += chunk;
	}
}

static void check_dma(struct vtd_unit *u, uint16_t sid, uint64_t iova, size_t len, bool write,
		      const uint8_t *pattern, bool *dirty)
{
	static uint8_t buf[MAX_DMA], expect[MAX_DMA];
	static struct dma_plan p;
	struct dma_as as;
	size_t done = 0;
	ssize_t got;

	plan_dma(sid, iova, len, write, &p);
	if (write && !p.all_data) {
		write = false;                  /* it would hit memory the harness guards */
		plan_dma(sid, iova, len, write, &p);
	}
	for (unsigned i = 0; i < p.nsteps; i++) {
		did_prepare(u, &p.step[i]);
		ref_fault(sid, p.iova[i], write ? VTD_REQ_WRITE : VTD_REQ_READ, &p.step[i]);
	}
	if (write)
		memcpy(buf, pattern, len);
	else
		memset(buf, 0x5c, sizeof(buf));
	dma_as_init_vtd(&as, u, &R.arena, sid);
	got = write ? dma_write(&as, iova, buf, len) : dma_read(&as, iova, buf, len);
	if (trace)
		fprintf(fz_err(), "dma %s sid %04x iova 0x%llx len %zu: %zd (reference %zu)\n",
			write ? "write" : "read", sid, (unsigned long long)iova, len, got, p.done);
	FZ_CHECK(got == (p.done ? (ssize_t)p.done : (len ? -EFAULT : 0)),
		 "dma %s sid %04x iova 0x%llx len %zu moved %zd, expected %zu",
		 write ? "write" : "read", sid, (unsigned long long)iova, len, got, p.done);
	for (unsigned i = 0; i < p.nchunks; i++) {
		uint64_t hpa = p.step[i].addr;
		uint8_t *host = R.arena.base + hpa;

		if (write) {
			FZ_CHECK(!memcmp(host, pattern + done, p.len[i]),
				 "dma write did not land at HPA 0x%llx", (unsigned long long)hpa);
			memcpy(data_shadow + (hpa - ram_hpa - DATA_OFF), pattern + done, p.len[i]);
			*dirty = true;
		} else {
			memcpy(expect + done, host, p.len[i]);
		}
		done += p.len[i];
	}
	if (!write)
		FZ_CHECK(!memcmp(buf, expect, done), "dma read returned other bytes");
}

/* ---- Operands ---- */

static uint16_t pick_sid(struct fz *f)
{
	uint8_t m = fz_u8(f);

	if (m & 1)
		return fz_u16(f);
	return VTD_SID((m >> 1) & 3, (m >> 3) & 3, (m >> 5) & 7);
}

static uint64_t pick_iova(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t iova;

	if ((m & 3) == 3)
		return fz_value64(f);
	iova = (uint64_t)(fz_u8(f) & 3) << 39 | (uint64_t)(fz_u8(f) & 3) << 30 |
	       (uint64_t)(fz_u8(f) & 3) << 21 | (uint64_t)(fz_u8(f) & 7) << 12;
	if (m & 4)
		iova |= fz_u16(f) & 0xfff;
	if (m & 8)
		iova |= 0xfee00000ull;          /* near the interrupt window */
	return iova;
}

static uint64_t pick_entry(struct fz *f)
{
	uint8_t m = fz_u8(f);
	uint64_t flags = fz_u16(f) & 0xfff, hi = m & 0x80 ? (uint64_t)fz_u8(f) << 56 : 0;

	switch (m & 3) {
	case 0:                                 /* points at a table page */
		return pool_hpa(fz_u8(f) % NPOOL) | flags | hi;
	case 1:                                 /* points at data: a page or 2M */
		if (m & 4)
			return (ram_hpa + DATA_OFF) | flags | hi;
		return (ram_hpa + DATA_OFF + (uint64_t)(fz_u16(f) % 512) * 4096) | flags | hi;
	case 2:
		return fz_value64(f);
	default:                                /* a context entry's upper half */
		return (uint64_t)fz_u16(f) << 8 | (m >> 2 & 7) | (m & 0x20 ? 0x80 : 0) | hi;
	}
}

/* ---- The harness ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	fz_ram_init(&R, 4 * FZ_MiB);
	ram_hpa = R.gmem.ranges[0].hpa;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pattern[MAX_DMA];
	struct vtd_unit_cfg cfg;
	struct vtd_unit u;
	bool tables_changed = true, dirty = false;
	struct fz f;
	uint8_t b0, b1;
	int ret;

	fz_init(&f, data, size);
	memset(R.ram, 0, NPOOL * 4096);
	b0 = fz_u8(&f);
	b1 = fz_u8(&f);
	memset(&cfg, 0, sizeof(cfg));
	cfg.caps.haw = 32 + (b0 & 15) + ((b0 >> 4) & 1) * 4;        /* 32..51 */
	cfg.caps.mgaw = b0 & 0x20 ? 39 : 48;
	cfg.caps.sagaw = 1 + (b0 >> 6) % 3;                          /* bits 1, 2 or both */
	cfg.caps.sagaw <<= 1;
	cfg.caps.sp_2m = b1 & 1;
	cfg.caps.sp_1g = b1 & 2;
	cfg.caps.nd = 1 + ((b1 >> 2) & 3);                           /* 1..4 */
	cfg.caps.mamv = (b1 >> 4) & 7;                               /* 0: default */
	cfg.caps.nr_fault_records = 1 + (b1 >> 5);                   /* 1..8 */
	cfg.iotlb_sets = 1u << ((b1 >> 3) & 3);
	cfg.cc_entries = 1u << ((b1 >> 1) & 3);
	iopt_mem_init_arena(&cfg.mem, &R.arena);
	ret = vtd_unit_init(&u, &cfg);
	FZ_CHECK(ret == 0, "vtd_unit_init: %d", ret);

	memset(&M.log, 0, sizeof(M.log));
	M.haw = u.caps.haw;
	M.mgaw = u.caps.mgaw;
	M.sagaw = u.caps.sagaw;
	M.nr_dids = u.nr_dids;
	M.nr_records = u.caps.nr_fault_records;
	M.sp_2m = u.caps.sp_2m;
	M.sp_1g = u.caps.sp_1g;
	M.te = M.root_set = false;
	M.rta = 0;
	M.head = M.count = 0;
	M.overflow = false;
	M.total_faults = 0;
	did_forget_all();
	/* A root table at pool page 0, translation on, unless the input
	 * says otherwise later. */
	vtd_set_root_table(&u, pool_hpa(0));
	M.rta = pool_hpa(0);
	M.root_set = true;
	ret = vtd_set_translation_enable(&u, true);
	FZ_CHECK(ret == 0, "enable with a root table: %d", ret);
	M.te = true;

	for (unsigned op = 0; op < FZ_MAX_OPS && fz_more(&f); op++) {
		uint8_t o = fz_u8(&f);

		if (trace)
			fprintf(fz_err(), "op %u: %u\n", op, o % 18);
		/* Software invalidates after changing tables, before the next
		 * request; what changed is not tracked, so globally. */
		if (tables_changed && (o % 18) >= 6) {
			vtd_context_invalidate_global(&u);
			vtd_iotlb_invalidate_global(&u);
			did_forget_all();
			tables_changed = false;
		}
		switch (o % 18) {
		case 0: case 1: case 2: case 3: {     /* write one 64-bit table slot */
			unsigned page = fz_u8(&f) % NPOOL, slot;
			uint8_t s = fz_u8(&f);
			uint64_t v;

			slot = s < 0x80 ? s : fz_u16(&f) % 512;
			v = pick_entry(&f);
			memcpy(R.ram + (uint64_t)page * 4096 + slot * 8, &v, 8);
			tables_changed = true;
			break;
		}
		case 4: {                               /* SRTP */
			uint8_t m = fz_u8(&f);
			uint64_t rta = m & 1 ? fz_value64(&f) : pool_hpa(fz_u8(&f) % NPOOL);

			vtd_set_root_table(&u, rta);
			M.rta = rta & ~0xfffull;
			M.root_set = true;
			tables_changed = true;
			break;
		}
		case 5: {                               /* TE */
			bool on = fz_u8(&f) & 1;

			ret = vtd_set_translation_enable(&u, on);
			FZ_CHECK(ret == (on && !M.root_set ? -EINVAL : 0), "TE %d: %d", on, ret);
			if (!ret)
				M.te = on;
			tables_changed = true;
			break;
		}
		case 6: case 7: case 8: case 9: {      /* translate */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f);
			unsigned req = fz_u8(&f) & 0xf;

			check_translate(&u, sid, iova, req);
			break;
		}
		case 10: {                              /* translate again: cache hits */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f);
			uint8_t n = 1 + fz_u8(&f) % 4;

			for (unsigned i = 0; i < n; i++)
				check_translate(&u, sid, iova + i * 0x1000,
						i & 1 ? VTD_REQ_WRITE : VTD_REQ_READ);
			break;
		}
		case 11: case 12: {                     /* DMA through the unit */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f);
			size_t len = fz_u16(&f) % MAX_DMA;
			bool write = fz_u8(&f) & 1;

			for (size_t i = 0; i < len; i++)
				pattern[i] = (uint8_t)(i * 13 + op);
			check_dma(&u, sid, iova, len, write, pattern, &dirty);
			break;
		}
		case 13: {                              /* selective invalidations */
			uint8_t m = fz_u8(&f);
			uint16_t did = fz_u16(&f), sid = pick_sid(&f);

			switch (m % 6) {
			case 0: vtd_context_invalidate_domain(&u, did); break;
			case 1: vtd_context_invalidate_device(&u, did, sid, m >> 3); break;
			case 2: vtd_iotlb_invalidate_domain(&u, did); break;
			case 3: {
				uint64_t addr = pick_iova(&f);
				unsigned am = fz_u8(&f) % 24;
				bool bad = am > u.caps.mamv || am > 40 || (addr & ((4096ull << am) - 1));

				ret = vtd_iotlb_invalidate_page(&u, did, addr, am, m & 8);
				FZ_CHECK(ret == (bad ? -EINVAL : 0), "page invalidation: %d", ret);
				break;
			}
			case 4: vtd_context_invalidate_global(&u); break;
			default: vtd_iotlb_invalidate_global(&u); did_forget_all(); break;
			}
			break;
		}
		case 14:                                /* software reads the fault log */
			check_log(&u, 1 + fz_u8(&f) % MAX_LOG);
			break;
		case 15:                                /* FSTS.PFO write-1-to-clear */
			vtd_fault_clear_overflow(&u);
			M.overflow = false;
			break;
		case 16: {                              /* change a cached leaf, invalidate it */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f), v;
			uint8_t m = fz_u8(&f);
			struct ref_result r;
			unsigned am;

			/* Cache the translation first (reads are what most leaves allow). */
			check_translate(&u, sid, iova, VTD_REQ_READ);
			ref_translate(sid, iova, 0, &r);
			if (r.fault || !r.walked || r.leaf_hpa < ram_hpa ||
			    r.leaf_hpa >= ram_hpa + NPOOL * 4096)
				break;
			v = pick_entry(&f);
			memcpy(R.arena.base + r.leaf_hpa, &v, 8);
			/* The invalidation software owes for one leaf (the table
			 * page may be linked elsewhere too: those paths are
			 * invalidated globally before the next operation). */
			switch (m % 3) {
			case 0:
				ret = vtd_iotlb_invalidate_page(&u, r.did, iova & ~0xfffull, 0, m & 4);
				break;
			case 1:
				am = r.page_size == (1ull << 30) ? 18 : r.page_size == (2ull << 20) ? 9 : 0;
				if (am > u.caps.mamv) {
					vtd_iotlb_invalidate_domain(&u, r.did);
					ret = 0;
				} else {
					ret = vtd_iotlb_invalidate_page(&u, r.did,
									iova & ~(r.page_size - 1), am, m & 4);
				}
				break;
			default:
				vtd_iotlb_invalidate_domain(&u, r.did);
				ret = 0;
				break;
			}
			FZ_CHECK(ret == 0, "page invalidation: %d", ret);
			/* Tables may alias: the slot may also be this device's root
			 * or context entry, and then software owes a context-cache
			 * invalidation too. */
			if (aliases_context(r.leaf_hpa, &r)) {
				/* ... and the device may now be in another domain,
				 * whose tables the same write may have changed. */
				vtd_context_invalidate_global(&u);
				vtd_iotlb_invalidate_global(&u);
				did_forget_all();
			}
			check_translate(&u, sid, iova, (m >> 3) & 7);
			check_translate(&u, sid, iova | (m & 0x80 ? 0xfff : 0), VTD_REQ_WRITE);
			tables_changed = true;
			break;
		}
		default: {                              /* change a cached context entry */
			uint16_t sid = pick_sid(&f);
			uint64_t iova = pick_iova(&f), v;
			uint8_t m = fz_u8(&f);
			struct ref_result r;

			check_translate(&u, sid, iova, VTD_REQ_READ);
			ref_translate(sid, iova, 0, &r);
			if (!r.ctx_known || r.ctx_hpa < ram_hpa || r.ctx_hpa >= ram_hpa + NPOOL * 4096)
				break;
			v = pick_entry(&f);
			memcpy(R.arena.base + r.ctx_hpa + (m & 8), &v, 8);
			/* What software owes after changing a context entry: the
			 * context cache for the device (or the domain), then the
			 * IOTLB. */
			if (m & 4)
				vtd_context_invalidate_domain(&u, r.did);
			else
				vtd_context_invalidate_device(&u, r.did, sid, m & 3);
			/* The slot may also be a root entry (tables alias): then
			 * every device on the bus changed. */
			if (r.ctx_hpa + (m & 8) >= M.rta && r.ctx_hpa + (m & 8) < M.rta + 4096)
				vtd_context_invalidate_global(&u);
			/* The IOTLB globally: the slot may also be an entry of the
			 * tables of the domain the device moves to. What this
			 * operation tests is the context cache. */
			vtd_iotlb_invalidate_global(&u);
			did_forget_all();
			check_translate(&u, sid, iova, (m >> 4) & 7);
			/* Another function the device-selective mask covers (FM 3:
			 * functions 0-7 of the device). */
			if ((m & 7) == 3)
				check_translate(&u, sid ^ 1, iova, VTD_REQ_READ);
			tables_changed = true;
			break;
		}
		}
	}
	check_log(&u, MAX_LOG);
	vtd_unit_destroy(&u);
	/* Data pages hold exactly what the reference wrote there. */
	FZ_CHECK(!memcmp(R.ram + DATA_OFF, data_shadow, DATA_SIZE),
		 "data pages changed where no DMA write landed");
	if (dirty) {
		memset(R.ram + DATA_OFF, 0, DATA_SIZE);
		memset(data_shadow, 0, DATA_SIZE);
	}
	/* The tables' upper pages are never written: nothing else may be. */
	FZ_CHECK(fz_all_bytes(R.ram + NPOOL * 4096, DATA_OFF - NPOOL * 4096, 0),
		 "memory beside the tables changed");
	fz_ram_check(&R);
	return 0;
}
