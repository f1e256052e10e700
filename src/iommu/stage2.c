/* Second stages for nested translation: the VM's host domain (through the
 * host remapping unit) and the VM's RAM layout. */
#include "iommu/stage2.h"
#include "base/log.h"

#include <errno.h>

static int host_translate(void *opaque, uint16_t sid, uint64_t gpa, unsigned req,
			  uint64_t *out, uint64_t *contig)
{
	struct iommu *host = opaque;
	struct vtd_xlate x;

	/* The same source-id: the VMM attached it to the VM's host domain, so
	 * the host unit's policy (the VM's RAM, nothing else) decides. */
	if (vtd_translate(&host->unit, sid, gpa, req & (IOPT_RW | VTD_REQ_PROBE), &x))
		return -EFAULT;
	*out = x.addr;
	*contig = x.page_size - (gpa & (x.page_size - 1));
	return 0;
}

void stage2_init_host(struct vtd_stage2 *s2, struct iommu *host)
{
	s2->translate = host_translate;
	s2->opaque = host;
}

static int gmem_translate(void *opaque, uint16_t sid, uint64_t gpa, unsigned req,
			  uint64_t *out, uint64_t *contig)
{
	struct stage2_gmem *sg = opaque;
	const struct gmem *g = sg->gmem;

	for (unsigned i = 0; i < g->nr_ranges; i++) {
		const struct gmem_range *r = &g->ranges[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			*out = r->hpa + (gpa - r->gpa);
			*contig = r->size - (gpa - r->gpa);
			return 0;
		}
	}
	if (!(req & VTD_REQ_PROBE)) {
		__atomic_add_fetch(&sg->refused, 1, __ATOMIC_RELAXED);
		guest_error("iommu: stage 2 refuses %s by " SID_FMT " at GPA 0x%llx: not VM %d's RAM",
			    req & VTD_REQ_WRITE ? "write" : "read", SID_ARGS(sid),
			    (unsigned long long)gpa, g->vm_id);
	}
	return -EFAULT;
}

void stage2_init_gmem(struct vtd_stage2 *s2, struct stage2_gmem *sg, const struct gmem *g)
{
	sg->gmem = g;
	sg->refused = 0;
	s2->translate = gmem_translate;
	s2->opaque = sg;
}
