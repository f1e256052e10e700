/* RAM disk: zero-filled anonymous memory. Every request completes inside
 * submit, so poll never has anything to reap. */
#include "backend/blk_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* RAM disks up to this size are prefaulted at open (see blk_open_ram). */
#define RAM_PREFAULT_MAX (1ull << 30)

#define RAM_PAGE_SIZE 4096ull

struct blk_ram {
	struct blk_backend b;
	uint8_t *mem;
	uint64_t mapped;        /* size rounded up to a page, what munmap needs */
};

static struct blk_ram *to_ram(struct blk_backend *b)
{
	return (struct blk_ram *)((char *)b - offsetof(struct blk_ram, b));
}

/* Copies between the disk at off and the iovecs, in the direction of op. */
static void ram_copy(struct blk_ram *r, const struct blk_req *req)
{
	uint8_t *p = r->mem + req->offset;

	for (unsigned i = 0; i < req->iovcnt; i++) {
		size_t n = req->iov[i].iov_len;

		if (req->op == BLK_READ)
			memcpy(req->iov[i].iov_base, p, n);
		else
			memcpy(p, req->iov[i].iov_base, n);
		p += n;
	}
}

/* Whole pages go back to the kernel (reads of them then see the shared zero
 * page, and a large discard releases memory); the partial pages at either
 * end are cleared by hand. */
static void ram_zero(struct blk_ram *r, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t first = (off + RAM_PAGE_SIZE - 1) & ~(RAM_PAGE_SIZE - 1);
	uint64_t last = end & ~(RAM_PAGE_SIZE - 1);

	if (first >= last) {
		memset(r->mem + off, 0, len);
		return;
	}
	memset(r->mem + off, 0, first - off);
	memset(r->mem + last, 0, end - last);
	if (madvise(r->mem + first, last - first, MADV_DONTNEED) < 0) {
		/* Cannot fail on a private anonymous mapping we own, but if it
		 * did the range must still read back as zeroes. */
		log_warn("blk %s: madvise(DONTNEED) offset %llu len %llu: %s; clearing instead",
			 r->b.desc, (unsigned long long)first, (unsigned long long)(last - first),
			 strerror(errno));
		memset(r->mem + first, 0, last - first);
	}
}

static int ram_submit(struct blk_backend *b, struct blk_req *req)
{
	struct blk_ram *r = to_ram(b);

	switch (req->op) {
	case BLK_READ:
	case BLK_WRITE:
		ram_copy(r, req);
		break;
	case BLK_WRITE_ZEROES:
	case BLK_DISCARD:
		ram_zero(r, req->offset, req->len);
		break;
	case BLK_FLUSH:
		break;
	}
	blk_complete(b, req, 0);
	return 0;
}

static int ram_poll(struct blk_backend *b, unsigned min_complete)
{
	return 0;
}

static void ram_destroy(struct blk_backend *b)
{
	struct blk_ram *r = to_ram(b);

	munmap(r->mem, r->mapped);
	free(r);
}

static const struct blk_backend_ops blk_ram_ops = {
	.submit = ram_submit,
	.poll = ram_poll,
	.destroy = ram_destroy,
};

static void ram_format_size(char *buf, size_t len, uint64_t size)
{
	static const char suffix[] = "KMGTPE";
	unsigned s = 0;

	/* Largest unit that divides the size exactly: "64G", "1536M", "4K". */
	size >>= 10;
	while (s + 1 < sizeof(suffix) - 1 && size && size % 1024 == 0) {
		size >>= 10;
		s++;
	}
	snprintf(buf, len, "%llu%c", (unsigned long long)size, suffix[s]);
}

int blk_open_ram(struct blk_backend **out, uint64_t size)
{
	struct blk_ram *r;
	char sz[32];
	void *mem;
	int ret;

	*out = NULL;
	if (size == 0 || size > UINT64_MAX - (RAM_PAGE_SIZE - 1) ||
	    ((size + RAM_PAGE_SIZE - 1) & ~(RAM_PAGE_SIZE - 1)) > SIZE_MAX) {
		log_error("blk ram: size %llu bytes is not one a RAM disk can have",
			  (unsigned long long)size);
		return -EINVAL;
	}
	size = (size + RAM_PAGE_SIZE - 1) & ~(RAM_PAGE_SIZE - 1);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* NORESERVE: a large disk costs neither memory nor commit charge until
	 * the guest writes to it; reads of untouched pages see the zero page.
	 * A small disk is prefaulted instead: replacing a zero-page mapping on
	 * the first write to it shoots down TLBs on every CPU of the process,
	 * vCPUs included, which would skew device latency measurements. */
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		   (size <= RAM_PREFAULT_MAX ? MAP_POPULATE : 0), -1, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		log_error("blk ram: mmap of %llu bytes failed: %s", (unsigned long long)size,
			  strerror(errno));
		goto err_free;
	}
	r->mem = mem;
	r->mapped = size;
	r->b.ops = &blk_ram_ops;
	r->b.size = size;
	r->b.block_size = BLK_SECTOR_SIZE;
	ram_format_size(sz, sizeof(sz), size);
	snprintf(r->b.desc, sizeof(r->b.desc), "ram:%s", sz);
	*out = &r->b;
	return 0;

err_free:
	free(r);
	return ret;
}
