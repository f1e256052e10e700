/* Shared by the device harnesses: a block backend that completes when the
 * input says, as io_uring does when the kernel gets round to it, so that
 * requests stay in flight across whatever the guest does next (resets,
 * queue deletion, Bus Master Enable off, save). The input also decides
 * which completions fail (-EIO), whether completions come oldest or newest
 * first, and can make the backend refuse (a full submission ring: -EAGAIN,
 * or another error) or fail a poll once.
 *
 * Completions are delivered only from blk_poll() - the device's own
 * context, as the io_uring backend delivers them - or, for harnesses that
 * want it, from fz_blk_complete() directly. A poll completes at least the
 * min_complete it was asked for, plus what the input marked ready. */
#ifndef WARDEN_TESTS_FUZZ_BLK_H
#define WARDEN_TESTS_FUZZ_BLK_H

#include <errno.h>

#include "fuzz_common.h"
#include "backend/blk.h"
#include "backend/blk_internal.h"

struct fz_blk {
	struct blk_backend b;
	uint8_t *mem;                   /* the disk */
	struct blk_req **q;             /* submitted, not completed, oldest first */
	unsigned n, cap;
	unsigned max;                   /* more operations at once than this is a finding */
	unsigned limit;                 /* submit refuses with -EAGAIN at this many (0: never) */
	bool lifo;                      /* newest completes first */
	uint32_t fail;                  /* bit k: the k-th completion (mod 32) fails with -EIO */
	unsigned done;                  /* completions so far */
	unsigned ready;                 /* completions the next poll delivers beyond min_complete */
	int poll_error;                 /* the next poll fails with this, once (0: none) */
	int submit_error;               /* the next submit fails with this, once (0: none) */
	uint64_t polls_failed, submits_refused;
};

static void fz_blk_finish(struct fz_blk *d, unsigned i)
{
	struct blk_req *r = d->q[i];
	int res = d->fail >> (d->done++ % 32) & 1 ? -EIO : 0;

	memmove(d->q + i, d->q + i + 1, (d->n - 1 - i) * sizeof(d->q[0]));
	d->n--;
	if (!res) {
		uint64_t off = r->offset;

		/* blk_submit validated the range against the disk size. */
		switch (r->op) {
		case BLK_READ:
		case BLK_WRITE:
			for (unsigned k = 0; k < r->iovcnt; k++) {
				if (r->op == BLK_READ)
					memcpy(r->iov[k].iov_base, d->mem + off, r->iov[k].iov_len);
				else
					memcpy(d->mem + off, r->iov[k].iov_base, r->iov[k].iov_len);
				off += r->iov[k].iov_len;
			}
			break;
		case BLK_WRITE_ZEROES:
		case BLK_DISCARD:
			memset(d->mem + r->offset, 0, r->len);
			break;
		default:
			break;
		}
	}
	blk_complete(&d->b, r, res);
}

/* Completes up to max operations. A completion may submit a follow-up (a
 * flush after a FUA write, the next range of a discard): each step takes
 * from the queue as it is then. */
static unsigned fz_blk_complete(struct fz_blk *d, unsigned max)
{
	unsigned k;

	for (k = 0; k < max && d->n; k++)
		fz_blk_finish(d, d->lifo ? d->n - 1 : 0);
	return k;
}

static int fz_blk_submit(struct blk_backend *b, struct blk_req *r)
{
	struct fz_blk *d = (struct fz_blk *)b;
	int err = d->submit_error;

	if (err) {
		d->submit_error = 0;
		d->submits_refused++;
		return err;
	}
	if (d->limit && d->n >= d->limit) {
		d->submits_refused++;
		return -EAGAIN;
	}
	FZ_CHECK(d->n < d->max, "%u backend operations in flight", d->n);
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->q = realloc(d->q, d->cap * sizeof(d->q[0]));
		FZ_CHECK(d->q, "backend queue of %u", d->cap);
	}
	d->q[d->n++] = r;
	return 0;
}

static int fz_blk_poll(struct blk_backend *b, unsigned min_complete)
{
	struct fz_blk *d = (struct fz_blk *)b;
	unsigned want = min_complete > d->ready ? min_complete : d->ready;
	unsigned got;

	if (d->poll_error) {
		int err = d->poll_error;

		d->poll_error = 0;
		d->polls_failed++;
		return err;
	}
	got = fz_blk_complete(d, want);
	d->ready -= got < d->ready ? got : d->ready;
	return (int)got;
}

static void fz_blk_destroy(struct blk_backend *b)
{
	struct fz_blk *d = (struct fz_blk *)b;

	/* The device must have finished with every request before the disk
	 * goes: completing one now would call into a device that is gone. */
	FZ_CHECK(d->n == 0, "backend closed with %u operations in flight", d->n);
	free(d->q);
	free(d->mem);
	free(d);
}

static const struct blk_backend_ops fz_blk_ops = {
	.submit = fz_blk_submit, .poll = fz_blk_poll, .destroy = fz_blk_destroy,
};

static inline struct fz_blk *fz_blk_new(uint64_t size, unsigned max, bool lifo)
{
	struct fz_blk *d = calloc(1, sizeof(*d));

	FZ_CHECK(d, "deferred backend");
	d->mem = calloc(1, size);
	FZ_CHECK(d->mem, "deferred backend's disk");
	d->b.ops = &fz_blk_ops;
	d->b.size = size;
	d->b.block_size = 512;
	snprintf(d->b.desc, sizeof(d->b.desc), "fuzz-deferred");
	d->max = max;
	d->lifo = lifo;
	return d;
}

#endif
