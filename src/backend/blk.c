/* Backend-independent half of the block layer: request validation, counters,
 * in-flight tracking, and the synchronous helper. The backends (blk_ram.c,
 * blk_file.c) only move bytes. */
#include "backend/blk_internal.h"
#include "base/log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char *blk_op_name(enum blk_op op)
{
	switch (op) {
	case BLK_READ:         return "read";
	case BLK_WRITE:        return "write";
	case BLK_FLUSH:        return "flush";
	case BLK_WRITE_ZEROES: return "write-zeroes";
	case BLK_DISCARD:      return "discard";
	}
	return "unknown";
}

bool blk_iov_total(const struct iovec *iov, unsigned iovcnt, uint64_t *total)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - sum)
			return false;
		sum += iov[i].iov_len;
	}
	*total = sum;
	return true;
}

void blk_complete(struct blk_backend *b, struct blk_req *req, int result)
{
	req->result = result;
	b->inflight--;
	if (result)
		b->stats.errors++;
	req->done(req);
}

/* -errno if req is not one the backend may be handed. Refusals are logged
 * at debug level only: most come from a guest's bad LBA, which the device
 * model reports (rate-limited) as the spec says. */
static int blk_validate(const struct blk_backend *b, const struct blk_req *req)
{
	bool has_range, has_data, writes;
	uint64_t total;

	if (!req->done) {
		log_debug("blk %s: %s request without a done callback", b->desc,
			  blk_op_name(req->op));
		return -EINVAL;
	}
	switch (req->op) {
	case BLK_READ:
		has_range = true, has_data = true, writes = false;
		break;
	case BLK_WRITE:
		has_range = true, has_data = true, writes = true;
		break;
	case BLK_FLUSH:
		has_range = false, has_data = false, writes = false;
		break;
	case BLK_WRITE_ZEROES:
	case BLK_DISCARD:
		has_range = true, has_data = false, writes = true;
		break;
	default:
		log_debug("blk %s: unknown op %d", b->desc, (int)req->op);
		return -EINVAL;
	}
	if (writes && b->read_only) {
		log_debug("blk %s: %s at offset %llu len %llu on a read-only disk", b->desc,
			  blk_op_name(req->op), (unsigned long long)req->offset,
			  (unsigned long long)req->len);
		return -EROFS;
	}
	if (!has_range)
		return 0;
	/* Zero length is refused rather than completed: no device protocol
	 * can express it (NVMe's NLB is 0-based), so it means a model bug. */
	if (req->len == 0 || req->offset % BLK_SECTOR_SIZE || req->len % BLK_SECTOR_SIZE) {
		log_debug("blk %s: %s at offset %llu len %llu: not a non-empty multiple of %u bytes",
			  b->desc, blk_op_name(req->op), (unsigned long long)req->offset,
			  (unsigned long long)req->len, BLK_SECTOR_SIZE);
		return -EINVAL;
	}
	if (has_data) {
		/* IOV_MAX is what preadv/writev accept; refusing more here keeps
		 * that limit from surfacing later as an asynchronous -EINVAL. */
		if ((req->iovcnt && !req->iov) || req->iovcnt > IOV_MAX ||
		    !blk_iov_total(req->iov, req->iovcnt, &total) || total != req->len) {
			log_debug("blk %s: %s at offset %llu len %llu: %u iovecs do not describe len bytes",
				  b->desc, blk_op_name(req->op), (unsigned long long)req->offset,
				  (unsigned long long)req->len, req->iovcnt);
			return -EINVAL;
		}
		for (unsigned i = 0; i < req->iovcnt; i++)
			if (!req->iov[i].iov_base && req->iov[i].iov_len)
				return -EINVAL;
	}
	if (req->len > b->size || req->offset > b->size - req->len) {
		log_debug("blk %s: %s at offset %llu len %llu beyond the disk's %llu bytes", b->desc,
			  blk_op_name(req->op), (unsigned long long)req->offset,
			  (unsigned long long)req->len, (unsigned long long)b->size);
		return -ENOSPC;
	}
	return 0;
}

/* Counters count requests the backend accepted, at submission; errors counts
 * refusals and failed completions alike. */
static void blk_count(struct blk_backend *b, const struct blk_req *req)
{
	switch (req->op) {
	case BLK_READ:
		b->stats.reads++;
		b->stats.bytes_read += req->len;
		break;
	case BLK_WRITE:
		b->stats.writes++;
		b->stats.bytes_written += req->len;
		break;
	case BLK_FLUSH:
		b->stats.flushes++;
		break;
	case BLK_WRITE_ZEROES:
		b->stats.zeroes++;
		break;
	case BLK_DISCARD:
		b->stats.discards++;
		break;
	}
}

int blk_submit(struct blk_backend *b, struct blk_req *req)
{
	int ret;

	ret = blk_validate(b, req);
	if (ret < 0)
		goto refused;
	req->result = 0;
	blk_count(b, req);
	/* Counted before the call: a backend that completes inline decrements
	 * inflight before submit returns. */
	b->inflight++;
	ret = b->ops->submit(b, req);
	if (ret < 0) {
		b->inflight--;
		goto refused;
	}
	return 0;

refused:
	b->stats.errors++;
	return ret;
}

int blk_poll(struct blk_backend *b, unsigned min_complete)
{
	/* Waiting for more than can ever complete would block forever. */
	if (min_complete > b->inflight)
		min_complete = b->inflight;
	return b->ops->poll(b, min_complete);
}

/* Heap-allocated so that a request still queued when poll fails can be
 * abandoned rather than left pointing into a dead stack frame. */
struct blk_sync {
	struct blk_req req;
	struct iovec iov;
	bool done;
	bool abandoned;
};

static void blk_sync_done(struct blk_req *req)
{
	struct blk_sync *s = req->opaque;

	if (s->abandoned)
		free(s);
	else
		s->done = true;
}

int blk_rw_sync(struct blk_backend *b, enum blk_op op, uint64_t offset, void *buf, uint64_t len)
{
	struct blk_sync *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->iov = (struct iovec){ .iov_base = buf, .iov_len = len };
	s->req = (struct blk_req){
		.op = op, .offset = offset, .len = len,
		.done = blk_sync_done, .opaque = s,
	};
	if (op == BLK_READ || op == BLK_WRITE) {
		s->req.iov = &s->iov;
		s->req.iovcnt = 1;
	}
	ret = blk_submit(b, &s->req);
	if (ret < 0)
		goto out;
	while (!s->done) {
		ret = blk_poll(b, 1);
		if (ret < 0) {
			/* Transient errors are retried inside poll; this is a
			 * broken ring. The request may still complete later. */
			log_error("blk %s: poll failed while waiting for a %s at offset %llu len %llu: %s",
				  b->desc, blk_op_name(op), (unsigned long long)offset,
				  (unsigned long long)len, strerror(-ret));
			s->abandoned = true;
			return ret;
		}
	}
	ret = s->req.result;
out:
	free(s);
	return ret;
}

void blk_close(struct blk_backend *b)
{
	int ret;

	if (!b)
		return;
	/* The buffers of requests still queued belong to the device: complete
	 * them before the ring goes away, or the kernel could write into them
	 * after the device has freed them. */
	if (b->inflight) {
		log_warn("blk %s: closing with %u requests in flight; waiting for them",
			 b->desc, b->inflight);
		while (b->inflight) {
			ret = b->ops->poll(b, b->inflight);
			if (ret < 0) {
				log_error("blk %s: cannot reap %u requests at close: %s", b->desc,
					  b->inflight, strerror(-ret));
				break;
			}
		}
	}
	b->ops->destroy(b);
}
