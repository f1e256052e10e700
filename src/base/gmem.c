#include "base/gmem.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>

int gmem_init(struct gmem *g, struct arena *a, int vm_id, uint64_t ram_size)
{
	uint64_t hpa, low;
	int ret;

	memset(g, 0, sizeof(*g));
	if (ram_size < (1ull << 20) || ram_size % ARENA_PAGE_SIZE)
		return -EINVAL;
	ret = arena_carve_vm(a, vm_id, ram_size, &hpa);
	if (ret < 0)
		return ret;
	g->arena = a;
	g->vm_id = vm_id;
	low = ram_size < GMEM_LOWMEM_LIMIT ? ram_size : GMEM_LOWMEM_LIMIT;
	g->ranges[g->nr_ranges++] = (struct gmem_range){ .gpa = 0, .size = low, .hpa = hpa };
	if (ram_size > low)
		g->ranges[g->nr_ranges++] = (struct gmem_range){
			.gpa = GMEM_HIGHMEM_BASE, .size = ram_size - low, .hpa = hpa + low,
		};
	g->ram_size = ram_size;
	return 0;
}

void gmem_destroy(struct gmem *g)
{
	if (g->arena && g->nr_ranges)
		arena_release_vm(g->arena, g->ranges[0].hpa);
	memset(g, 0, sizeof(*g));
}

static const struct gmem_range *gmem_find(const struct gmem *g, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < g->nr_ranges; i++) {
		const struct gmem_range *r = &g->ranges[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

void *gmem_gpa_to_ptr(const struct gmem *g, uint64_t gpa, uint64_t len)
{
	const struct gmem_range *r = gmem_find(g, gpa, len);

	if (!r)
		return NULL;
	return arena_hpa_to_ptr(g->arena, r->hpa + (gpa - r->gpa), len);
}

int gmem_gpa_to_hpa(const struct gmem *g, uint64_t gpa, uint64_t *hpa)
{
	const struct gmem_range *r = gmem_find(g, gpa, 1);

	if (!r)
		return -EFAULT;
	*hpa = r->hpa + (gpa - r->gpa);
	return 0;
}

int gmem_write(const struct gmem *g, uint64_t gpa, const void *src, size_t len)
{
	void *p;

	if (len == 0)
		return 0;
	p = gmem_gpa_to_ptr(g, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int gmem_read(const struct gmem *g, uint64_t gpa, void *dst, size_t len)
{
	const void *p;

	if (len == 0)
		return 0;
	p = gmem_gpa_to_ptr(g, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}
