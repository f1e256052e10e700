/* Shared by test_nested.c and test_shadow.c: a VM (arena + gmem), the host
 * IOMMU with the VM's identity domain, a guest-visible VT-d unit whose root,
 * context and second-level tables the "guest" builds in its own RAM (read by
 * GPA through gmem_read), and a small builder for those tables.
 *
 * Layout: private region 1 GiB (so the VM's RAM starts at HPA 1 GiB and the
 * host domain can use 1G pages), VM 1 with 1.5 GiB of RAM (GPA [0, 1.5G)).
 * Guest tables live at GPA 1 MiB - 9 MiB; test data from GPA 16 MiB. */
#ifndef TEST_TWOSTAGE_HARNESS_H
#define TEST_TWOSTAGE_HARNESS_H

#include "iommu/iommu.h"
#include "iommu/dma.h"
#include "iommu/stage2.h"
#include "iommu/viommu_shadow.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define VM_ID        1
#define VM_RAM       (GiB + GiB / 2)
#define GT_AREA      (1 * MiB)
#define GT_AREA_END  (9 * MiB)
#define DATA_GPA     (16 * MiB)

#define SID_N   VTD_SID(0, 3, 0)      /* nested device */
#define SID_S   VTD_SID(0, 4, 0)      /* shadowed device */
#define SID_X   VTD_SID(0, 5, 0)      /* a second device where a test needs one */
#define GDID    5                     /* guest domain id */

struct gt {                           /* guest-side table builder */
	const struct gmem *g;
	uint64_t next;                    /* next free table page (GPA) */
	uint64_t root;                    /* root table GPA */
	uint64_t ctx[256];                /* context table GPA per bus, 0: none */
};

static inline uint64_t *gt_ptr(struct gt *t, uint64_t gpa)
{
	uint64_t *p = gmem_gpa_to_ptr(t->g, gpa, 8);

	assert_non_null(p);
	return p;
}

static inline uint64_t gt_alloc(struct gt *t)
{
	uint64_t gpa = t->next;

	assert_true(gpa + 4096 <= GT_AREA_END);
	t->next += 4096;
	memset(gmem_gpa_to_ptr(t->g, gpa, 4096), 0, 4096);
	return gpa;
}

static inline void gt_init(struct gt *t, const struct gmem *g)
{
	memset(t, 0, sizeof(*t));
	t->g = g;
	t->next = GT_AREA;
	t->root = gt_alloc(t);
}

static inline unsigned gt_idx(uint64_t iova, unsigned lvl)
{
	return (unsigned)(iova >> (12 + 9 * (lvl - 1))) & 511;
}

/* Context entry for sid: translated through the table at slptptr (AW from
 * levels), or another TT. */
static inline void gt_context(struct gt *t, uint16_t sid, uint16_t did, uint64_t slptptr,
			      unsigned levels, enum vtd_tt tt)
{
	unsigned bus = VTD_SID_BUS(sid);
	uint64_t *ce;

	if (!t->ctx[bus]) {
		t->ctx[bus] = gt_alloc(t);
		*gt_ptr(t, t->root + bus * 16) = vtd_root_entry_lo(t->ctx[bus]);
	}
	ce = gt_ptr(t, t->ctx[bus] + VTD_SID_DEVFN(sid) * 16);
	ce[1] = vtd_ctx_entry_hi(did, levels == 3 ? VTD_AW_39BIT : VTD_AW_48BIT);
	ce[0] = vtd_ctx_entry_lo(slptptr, tt, false);
}

static inline void gt_context_clear(struct gt *t, uint16_t sid)
{
	uint64_t *ce = gt_ptr(t, t->ctx[VTD_SID_BUS(sid)] + VTD_SID_DEVFN(sid) * 16);

	ce[0] = ce[1] = 0;
}

static inline unsigned gt_leaf_level(uint64_t size)
{
	return size == GiB ? 3 : size == 2 * MiB ? 2 : 1;
}

/* The entry that maps iova at level `lvl`, creating tables above it. */
static inline uint64_t *gt_entry(struct gt *t, uint64_t root, unsigned levels, uint64_t iova, unsigned lvl)
{
	uint64_t table = root;

	for (unsigned l = levels; l > lvl; l--) {
		uint64_t *e = gt_ptr(t, table + gt_idx(iova, l) * 8);

		if (!(*e & (VTD_SL_R | VTD_SL_W)) || (*e & VTD_SL_PS))
			*e = gt_alloc(t) | VTD_SL_R | VTD_SL_W;
		table = *e & VTD_SL_ADDR_MASK;
	}
	return gt_ptr(t, table + gt_idx(iova, lvl) * 8);
}

/* One leaf of size 4K, 2M or 1G. */
static inline void gt_map(struct gt *t, uint64_t root, unsigned levels, uint64_t iova, uint64_t gpa,
			  uint64_t size, unsigned prot)
{
	unsigned lvl = gt_leaf_level(size);

	*gt_entry(t, root, levels, iova, lvl) = gpa | prot | (lvl > 1 ? VTD_SL_PS : 0);
}

static inline void gt_unmap(struct gt *t, uint64_t root, unsigned levels, uint64_t iova, uint64_t size)
{
	*gt_entry(t, root, levels, iova, gt_leaf_level(size)) = 0;
}

/* Table memory of the guest unit: guest RAM by GPA. */
static int guest_read64(void *opaque, uint64_t gpa, uint64_t *val)
{
	if (gpa & 7)
		return -EFAULT;
	return gmem_read(opaque, gpa, val, 8);
}

struct vfx {
	struct arena a;
	struct gmem vm;
	struct iommu mmu;                 /* host unit */
	struct iommu_domain *identity;    /* VM's IOVA = GPA domain */
	struct vtd_stage2 s2;
	struct vtd_unit gu;               /* guest-visible unit */
	struct gt t;
	uint64_t slpt;                    /* guest DID GDID's table */
};

/* Host and VM; the identity domain is left empty (tests map it). */
static inline void vfx_host_init(struct vfx *f)
{
	memset(f, 0, sizeof(*f));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&f->a, 2 * GiB + GiB / 2 + 256 * MiB, GiB), 0);
	assert_int_equal(gmem_init(&f->vm, &f->a, VM_ID, VM_RAM), 0);
	assert_int_equal(f->vm.ranges[0].hpa, GiB);
	assert_int_equal(iommu_init(&f->mmu, &f->a, NULL), 0);
	assert_int_equal(iommu_domain_create(&f->mmu, VM_ID, 48, &f->identity), 0);
	gt_init(&f->t, &f->vm);
	f->slpt = gt_alloc(&f->t);
}

/* The guest unit over guest RAM, with `s2` as its second stage (NULL:
 * single stage), translation enabled over the builder's root table. */
static inline void vfx_guest_init(struct vfx *f, const struct vtd_stage2 *s2, unsigned iotlb_sets)
{
	struct vtd_unit_cfg cfg = {
		.iotlb_sets = iotlb_sets,
		.mem = { .read64 = guest_read64, .opaque = &f->vm },
		.stage2 = s2,
	};

	vtd_caps_default(&cfg.caps);
	assert_int_equal(vtd_unit_init(&f->gu, &cfg), 0);
	vtd_set_root_table(&f->gu, f->t.root);
	vtd_context_invalidate_global(&f->gu);
	vtd_iotlb_invalidate_global(&f->gu);
	assert_int_equal(vtd_set_translation_enable(&f->gu, true), 0);
}

static inline void vfx_fini(struct vfx *f)
{
	vtd_unit_destroy(&f->gu);
	iommu_destroy(&f->mmu);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	gmem_destroy(&f->vm);
	arena_destroy(&f->a);
	log_threshold = LOG_WARN;
}

static inline uint64_t vm_hpa(struct vfx *f, uint64_t gpa)
{
	uint64_t hpa;

	assert_int_equal(gmem_gpa_to_hpa(&f->vm, gpa, &hpa), 0);
	return hpa;
}

static inline uint8_t *vm_ptr(struct vfx *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem_gpa_to_ptr(&f->vm, gpa, len);

	assert_non_null(p);
	return p;
}

/* The guest's invalidation of its own unit: IOTLB (granularity as the
 * shadow hook's), then the invalidation wait with drain. */
static inline void guest_inv(struct vfx *f, int gran, uint16_t did, uint64_t addr, unsigned am)
{
	if (gran == VIOMMU_SHADOW_INV_GLOBAL)
		vtd_iotlb_invalidate_global(&f->gu);
	else if (gran == VIOMMU_SHADOW_INV_DOMAIN)
		vtd_iotlb_invalidate_domain(&f->gu, did);
	else
		assert_int_equal(vtd_iotlb_invalidate_page(&f->gu, did, addr, am, false), 0);
	vtd_drain(&f->gu);
}

static inline uint64_t guest_faults(struct vfx *f)
{
	struct vtd_fault_stats st;

	vtd_fault_stats_get(&f->gu, &st);
	return st.total;
}

/* Pops every pending guest fault record; returns the newest. */
static inline struct vtd_fault_record guest_pop(struct vfx *f, size_t *n)
{
	struct vtd_fault_record r[256], last = { 0 };
	size_t k = vtd_fault_log_read(&f->gu, r, 256);

	if (k)
		last = r[k - 1];
	if (n)
		*n = k;
	return last;
}

#endif
