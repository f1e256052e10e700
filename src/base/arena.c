#include "base/arena.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A canary page holds this pattern XORed with its own HPA, so a page copied
 * over another canary is still detected. */
#define ARENA_CANARY_MAGIC 0xc0ffee15dead10ccull

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void bitmap_set(uint64_t *bm, uint64_t i)   { bm[i / 64] |= 1ull << (i % 64); }
static void bitmap_clear(uint64_t *bm, uint64_t i) { bm[i / 64] &= ~(1ull << (i % 64)); }
static bool bitmap_test(const uint64_t *bm, uint64_t i) { return bm[i / 64] >> (i % 64) & 1; }

static void canary_fill(struct arena *a, uint64_t hpa)
{
	uint64_t *p = (uint64_t *)(a->base + hpa);

	for (unsigned i = 0; i < ARENA_PAGE_SIZE / 8; i++)
		p[i] = ARENA_CANARY_MAGIC ^ (hpa + i * 8);
}

static bool canary_intact(const struct arena *a, uint64_t hpa)
{
	const uint64_t *p = (const uint64_t *)(a->base + hpa);

	for (unsigned i = 0; i < ARENA_PAGE_SIZE / 8; i++)
		if (p[i] != (ARENA_CANARY_MAGIC ^ (hpa + i * 8)))
			return false;
	return true;
}

int arena_init(struct arena *a, uint64_t size, uint64_t private_size)
{
	int ret;

	memset(a, 0, sizeof(*a));
	a->memfd = -1;
	size = round_up(size, ARENA_VM_ALIGN);
	private_size = round_up(private_size, ARENA_VM_ALIGN);
	if (private_size < ARENA_VM_ALIGN || private_size >= size) {
		log_error("arena: private region %llu MiB does not fit in %llu MiB",
			  (unsigned long long)(private_size >> 20), (unsigned long long)(size >> 20));
		return -EINVAL;
	}
	a->memfd = memfd_create("warden-host-ram", MFD_CLOEXEC);
	if (a->memfd < 0) {
		ret = -errno;
		log_error("arena: memfd_create: %s", strerror(errno));
		return ret;
	}
	if (ftruncate(a->memfd, (off_t)size) < 0) {
		ret = -errno;
		log_error("arena: sizing host memory to %llu MiB: %s",
			  (unsigned long long)(size >> 20), strerror(errno));
		goto err_close;
	}
	/* MAP_NORESERVE: the arena stands for all of host RAM but only touched
	 * pages cost anything, as with a real machine's untouched memory. */
	a->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, a->memfd, 0);
	if (a->base == MAP_FAILED) {
		ret = -errno;
		a->base = NULL;
		log_error("arena: mmap of %llu MiB: %s", (unsigned long long)(size >> 20), strerror(errno));
		goto err_close;
	}
	a->size = size;
	a->private_size = private_size;
	a->private_pages = private_size / ARENA_PAGE_SIZE;
	a->page_bitmap = calloc((a->private_pages + 63) / 64, sizeof(uint64_t));
	if (!a->page_bitmap) {
		ret = -ENOMEM;
		goto err_unmap;
	}
	a->pages_free = a->private_pages;
	/* Canaries at the very start, the very end and spread between, so a stray
	 * DMA anywhere in the private region has a good chance to hit one. */
	for (unsigned i = 0; i < ARENA_CANARY_PAGES; i++) {
		uint64_t page = i * (a->private_pages - 1) / (ARENA_CANARY_PAGES - 1);

		a->canary_hpa[i] = page * ARENA_PAGE_SIZE;
		bitmap_set(a->page_bitmap, page);
		a->pages_free--;
		canary_fill(a, a->canary_hpa[i]);
	}
	a->vm_next = private_size;
	pthread_mutex_init(&a->lock, NULL);
	return 0;

err_unmap:
	munmap(a->base, size);
	a->base = NULL;
err_close:
	close(a->memfd);
	a->memfd = -1;
	return ret;
}

void arena_destroy(struct arena *a)
{
	if (a->base)
		munmap(a->base, a->size);
	if (a->memfd >= 0)
		close(a->memfd);
	free(a->page_bitmap);
	if (a->base)
		pthread_mutex_destroy(&a->lock);
	memset(a, 0, sizeof(*a));
	a->memfd = -1;
}

void *arena_hpa_to_ptr(const struct arena *a, uint64_t hpa, uint64_t len)
{
	if (hpa >= a->size || len > a->size - hpa)
		return NULL;
	return a->base + hpa;
}

int arena_ptr_to_hpa(const struct arena *a, const void *ptr, uint64_t *hpa)
{
	const uint8_t *p = ptr;

	if (!a->base || p < a->base || p >= a->base + a->size)
		return -EFAULT;
	*hpa = (uint64_t)(p - a->base);
	return 0;
}

int arena_alloc_pages(struct arena *a, uint64_t npages, uint64_t *hpa)
{
	uint64_t start, run = 0, tries;
	int ret = -ENOMEM;

	if (npages == 0 || npages > a->private_pages)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	if (a->pages_free < npages)
		goto out;
	/* Next-fit from the hint: page tables are allocated one at a time, so
	 * this is O(1) amortised in the common case. */
	start = a->alloc_hint % a->private_pages;
	for (tries = 0; tries < a->private_pages + npages; tries++) {
		uint64_t i = (start + tries) % a->private_pages;

		if (i == 0)
			run = 0;   /* runs do not wrap around the end */
		if (bitmap_test(a->page_bitmap, i)) {
			run = 0;
			continue;
		}
		if (++run == npages) {
			uint64_t first = i + 1 - npages;

			for (uint64_t j = first; j <= i; j++)
				bitmap_set(a->page_bitmap, j);
			a->pages_free -= npages;
			a->alloc_hint = i + 1;
			*hpa = first * ARENA_PAGE_SIZE;
			memset(a->base + *hpa, 0, npages * ARENA_PAGE_SIZE);
			ret = 0;
			goto out;
		}
	}
out:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int arena_free_pages(struct arena *a, uint64_t hpa, uint64_t npages)
{
	uint64_t first = hpa / ARENA_PAGE_SIZE;
	int ret = 0;

	if (hpa % ARENA_PAGE_SIZE || npages == 0 || first >= a->private_pages ||
	    npages > a->private_pages - first)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	for (uint64_t i = first; i < first + npages; i++) {
		bool canary = false;

		for (unsigned c = 0; c < ARENA_CANARY_PAGES; c++)
			canary |= a->canary_hpa[c] == i * ARENA_PAGE_SIZE;
		if (canary || !bitmap_test(a->page_bitmap, i)) {
			log_error("arena: free of page 0x%llx that is not allocated",
				  (unsigned long long)(i * ARENA_PAGE_SIZE));
			ret = -EINVAL;
			goto out;
		}
	}
	for (uint64_t i = first; i < first + npages; i++)
		bitmap_clear(a->page_bitmap, i);
	a->pages_free += npages;
out:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int arena_carve_vm(struct arena *a, int vm_id, uint64_t size, uint64_t *hpa)
{
	int ret = -ENOMEM;
	int slot = -1;

	if (vm_id < 0 || size == 0)
		return -EINVAL;
	size = round_up(size, ARENA_VM_ALIGN);
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < ARENA_MAX_REGIONS; i++) {
		if (!a->regions[i].in_use) {
			slot = i;
			break;
		}
	}
	/* Released regions are not reused: a VM's RAM is never handed to the
	 * next VM with its old contents, and the arena is sized for the run. */
	if (slot < 0 || a->vm_next > a->size || size > a->size - a->vm_next) {
		log_error("arena: no room for %llu MiB of VM RAM (host memory %llu MiB, %llu MiB free); "
			  "raise --host-mem", (unsigned long long)(size >> 20),
			  (unsigned long long)(a->size >> 20),
			  (unsigned long long)((a->size - a->vm_next) >> 20));
		goto out;
	}
	a->regions[slot] = (struct arena_region){
		.hpa = a->vm_next, .size = size, .owner = vm_id, .in_use = true,
	};
	*hpa = a->vm_next;
	a->vm_next += size;
	ret = 0;
out:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int arena_release_vm(struct arena *a, uint64_t hpa)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < ARENA_MAX_REGIONS; i++) {
		struct arena_region *r = &a->regions[i];

		if (r->in_use && r->hpa == hpa) {
			/* Drop the pages so released RAM reads back as zero. */
			if (fallocate(a->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)r->hpa, (off_t)r->size) < 0)
				memset(a->base + r->hpa, 0, r->size);
			r->in_use = false;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

bool arena_range_is_private(const struct arena *a, uint64_t hpa, uint64_t len)
{
	if (len == 0)
		return false;
	return hpa < a->private_size;
}

int arena_range_owner(const struct arena *a, uint64_t hpa, uint64_t len)
{
	int owner = ARENA_OWNER_NONE;

	if (len == 0 || hpa + len < hpa)
		return ARENA_OWNER_NONE;
	if (arena_range_is_private(a, hpa, len))
		return ARENA_OWNER_PRIVATE;
	pthread_mutex_lock((pthread_mutex_t *)&a->lock);
	for (int i = 0; i < ARENA_MAX_REGIONS; i++) {
		const struct arena_region *r = &a->regions[i];

		if (r->in_use && hpa >= r->hpa && hpa + len <= r->hpa + r->size) {
			owner = r->owner;
			break;
		}
	}
	pthread_mutex_unlock((pthread_mutex_t *)&a->lock);
	return owner;
}

int arena_check_canaries(const struct arena *a)
{
	int bad = 0;

	for (unsigned i = 0; i < ARENA_CANARY_PAGES; i++) {
		if (!canary_intact(a, a->canary_hpa[i])) {
			log_error("arena: canary page at HPA 0x%llx was overwritten",
				  (unsigned long long)a->canary_hpa[i]);
			bad++;
		}
	}
	return bad;
}
