/* The host shared by every VM of the process: arena, host IOMMU, and the
 * RAM hash the isolation check compares. */
#include "vmm/host.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int host_init(struct host *h, uint64_t arena_size, uint64_t private_size)
{
	int ret;

	memset(h, 0, sizeof(*h));
	ret = arena_init(&h->arena, arena_size, private_size);
	if (ret < 0)
		return ret;
	pthread_mutex_init(&h->lock, NULL);
	return 0;
}

void host_destroy(struct host *h)
{
	if (!h->arena.base)
		return;
	if (h->iommu_ready)
		iommu_destroy(&h->iommu);
	h->iommu_ready = false;
	arena_destroy(&h->arena);
	pthread_mutex_destroy(&h->lock);
}

int host_iommu(struct host *h, struct iommu **out)
{
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->iommu_ready) {
		ret = iommu_init(&h->iommu, &h->arena, NULL);
		if (ret < 0)
			log_error("creating the host IOMMU: %s", strerror(-ret));
		else
			h->iommu_ready = true;
	}
	pthread_mutex_unlock(&h->lock);
	if (!ret)
		*out = &h->iommu;
	return ret;
}

int host_vm_domain_create(struct host *h, const struct gmem *g, struct iommu_domain **out)
{
	struct iommu_domain *dom;
	struct iommu *mmu;
	int ret;

	ret = host_iommu(h, &mmu);
	if (ret < 0)
		return ret;
	ret = iommu_domain_create(mmu, g->vm_id, HOST_DOMAIN_AW_BITS, &dom);
	if (ret < 0)
		goto err;
	ret = iommu_domain_map_gmem(dom, g);
	if (ret < 0) {
		iommu_domain_destroy(dom);
		goto err;
	}
	*out = dom;
	return 0;
err:
	log_error("host IOMMU domain for VM %d: %s", g->vm_id, strerror(-ret));
	return ret;
}

/* ---- RAM hash: xxHash64's round over four lanes, one page at a time ---- */

#define H_P1 0x9e3779b185ebca87ull
#define H_P2 0xc2b2ae3d27d4eb4full
#define H_P3 0x165667b19e3779f9ull
#define H_P4 0x85ebca77c2b2ae63ull
#define H_P5 0x27d4eb2f165667c5ull
#define PAGE_WORDS (ARENA_PAGE_SIZE / sizeof(uint64_t))

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t hash_round(uint64_t acc, uint64_t in)
{
	return rotl64(acc + in * H_P2, 31) * H_P1;
}

static inline uint64_t hash_avalanche(uint64_t h)
{
	h ^= h >> 33;
	h *= H_P2;
	h ^= h >> 29;
	h *= H_P3;
	return h ^ (h >> 32);
}

/* false for a page of zeroes, which contributes nothing (like a hole). */
static bool page_hash(const uint64_t *w, uint64_t *out)
{
	uint64_t a = H_P1 + H_P2, b = H_P2, c = 0, d = 0 - H_P1, any = 0;

	for (unsigned i = 0; i < PAGE_WORDS; i += 4) {
		a = hash_round(a, w[i]);
		b = hash_round(b, w[i + 1]);
		c = hash_round(c, w[i + 2]);
		d = hash_round(d, w[i + 3]);
		any |= w[i] | w[i + 1] | w[i + 2] | w[i + 3];
	}
	*out = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
	return any != 0;
}

/* Folds the non-zero pages of [hpa, hpa + size) into h; page numbers count
 * from `first` so that a page's position is part of the hash. */
static uint64_t hash_range(const struct host *h, uint64_t hpa, uint64_t size, uint64_t first,
			   uint64_t acc)
{
	const struct arena *a = &h->arena;
	uint64_t pos = hpa, end = hpa + size;

	while (pos < end) {
		off_t data = lseek(a->memfd, (off_t)pos, SEEK_DATA);
		off_t hole;

		if (data < 0 && errno == ENXIO)
			break;                  /* nothing but holes up to the end */
		if (data < 0)
			data = (off_t)pos;      /* no SEEK_DATA: read every page */
		if ((uint64_t)data >= end)
			break;
		hole = lseek(a->memfd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end)
			hole = (off_t)end;
		pos = (uint64_t)data & ~(ARENA_PAGE_SIZE - 1);
		for (; pos < (uint64_t)hole; pos += ARENA_PAGE_SIZE) {
			const uint64_t *w = arena_hpa_to_ptr(a, pos, ARENA_PAGE_SIZE);
			uint64_t ph;

			if (w && page_hash(w, &ph))
				acc = rotl64(acc ^ hash_round(ph, first + (pos - hpa) / ARENA_PAGE_SIZE), 27) *
				      H_P1 + H_P4;
		}
	}
	return acc;
}

uint64_t host_ram_hash(const struct host *h, const struct gmem *g)
{
	uint64_t acc = H_P5, first = 0;

	for (unsigned i = 0; i < g->nr_ranges; i++) {
		acc = hash_range(h, g->ranges[i].hpa, g->ranges[i].size, first, acc);
		first += g->ranges[i].size / ARENA_PAGE_SIZE;
	}
	return hash_avalanche(acc ^ g->ram_size);
}
