/* Host physical memory arena: one memfd stands for the host's RAM.
 *
 * Host physical addresses (HPA) are offsets into the memfd. The arena is
 * carved into:
 *   [0, private_size)            hypervisor-private region: canary pages and a
 *                                page allocator (the IOMMU's tables live here)
 *   [private_size, size)         per-VM RAM regions, carved on demand, 2 MiB
 *                                aligned, each owned by one VM id
 * Every HPA->pointer translation is bounds-checked: a request that runs past
 * the end of the arena (or wraps) gets NULL, never a wild pointer. */
#ifndef WARDEN_BASE_ARENA_H
#define WARDEN_BASE_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>

#define ARENA_PAGE_SIZE 4096ull
#define ARENA_PAGE_SHIFT 12
#define ARENA_VM_ALIGN (2ull << 20)
#define ARENA_MAX_REGIONS 64
#define ARENA_CANARY_PAGES 8          /* spread over the private region */
#define ARENA_OWNER_NONE (-1)
#define ARENA_OWNER_PRIVATE (-2)

struct arena_region {
	uint64_t hpa;
	uint64_t size;
	int owner;                     /* VM id (>= 0) */
	bool in_use;
};

struct arena {
	int memfd;
	uint8_t *base;                 /* MAP_SHARED mapping of the whole memfd */
	uint64_t size;
	uint64_t private_size;
	uint64_t canary_hpa[ARENA_CANARY_PAGES];
	/* page allocator over the private region (bit set = allocated/reserved) */
	uint64_t *page_bitmap;
	uint64_t private_pages;
	uint64_t pages_free;
	uint64_t alloc_hint;
	struct arena_region regions[ARENA_MAX_REGIONS];
	uint64_t vm_next;              /* lowest HPA never handed to a VM */
	pthread_mutex_t lock;
};

/* size and private_size are rounded up to pages; private_size must leave room.
 * Returns 0 or -errno. */
int arena_init(struct arena *a, uint64_t size, uint64_t private_size);
void arena_destroy(struct arena *a);

/* Bounds-checked translation: NULL unless [hpa, hpa+len) lies inside the arena. */
void *arena_hpa_to_ptr(const struct arena *a, uint64_t hpa, uint64_t len);
/* Inverse; returns 0 and sets *hpa, or -EFAULT for a pointer outside the arena. */
int arena_ptr_to_hpa(const struct arena *a, const void *ptr, uint64_t *hpa);

/* Private-region page allocator: npages contiguous, zeroed pages.
 * Returns 0 and sets *hpa, or -ENOMEM. Thread-safe. */
int arena_alloc_pages(struct arena *a, uint64_t npages, uint64_t *hpa);
int arena_free_pages(struct arena *a, uint64_t hpa, uint64_t npages);

/* Carve a VM RAM region (size rounded to 2 MiB). Returns 0 and *hpa, or -ENOMEM. */
int arena_carve_vm(struct arena *a, int vm_id, uint64_t size, uint64_t *hpa);
int arena_release_vm(struct arena *a, uint64_t hpa);

/* Classification of an HPA range, for the IOMMU policy and for tests. */
bool arena_range_is_private(const struct arena *a, uint64_t hpa, uint64_t len);
/* Owner VM id if [hpa, hpa+len) lies wholly inside one VM region, else
 * ARENA_OWNER_PRIVATE (touches the private region) or ARENA_OWNER_NONE. */
int arena_range_owner(const struct arena *a, uint64_t hpa, uint64_t len);

/* Canary pages: returns the number of canary pages whose pattern changed. */
int arena_check_canaries(const struct arena *a);

#endif
