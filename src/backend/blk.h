/* Block backends: where a disk's bytes live (a file through io_uring, or
 * RAM). Device models hand in requests over host buffers (their bounce
 * buffers) and are told when each completes. Submission is asynchronous so
 * a device can keep a whole queue depth in flight; a backend may complete
 * inline. A backend is used by one thread at a time (its device's lock). */
#ifndef WARDEN_BACKEND_BLK_H
#define WARDEN_BACKEND_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_WRITE_ZEROES, BLK_DISCARD };

struct blk_req {
	enum blk_op op;
	uint64_t offset;                /* bytes from the start of the disk */
	uint64_t len;                   /* bytes; unused for FLUSH */
	struct iovec *iov;              /* READ/WRITE buffers, summing to len */
	unsigned iovcnt;
	int result;                     /* on completion: 0 or -errno */
	void (*done)(struct blk_req *req);
	void *opaque;                   /* the submitter's */
};

struct blk_backend;

struct blk_backend_ops {
	/* Queue req (checked against the disk size by blk_submit). May call
	 * req->done before returning. 0, or -errno with done not called. */
	int (*submit)(struct blk_backend *b, struct blk_req *req);
	/* Reap completions, calling done for each; blocks until at least
	 * min_complete have completed (0: never blocks). Returns the number
	 * completed, or -errno. */
	int (*poll)(struct blk_backend *b, unsigned min_complete);
	void (*destroy)(struct blk_backend *b);
};

struct blk_stats {
	uint64_t reads, writes, flushes, zeroes, discards;
	uint64_t bytes_read, bytes_written;
	uint64_t errors;
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	uint64_t size;                  /* bytes */
	uint32_t block_size;            /* logical block size the device should expose */
	bool read_only;
	unsigned inflight;              /* submitted, not yet completed */
	char desc[160];                 /* "file:/path (io_uring)", "ram:64M" */
	struct blk_stats stats;
};

/* A regular file or block device through io_uring (liburing). */
int blk_open_file(struct blk_backend **out, const char *path, bool read_only);
/* Zero-filled memory of size bytes (rounded up to 4 KiB). */
int blk_open_ram(struct blk_backend **out, uint64_t size);
void blk_close(struct blk_backend *b);

/* Validates the request (range, alignment to 512 bytes, iov total, read-only)
 * then hands it to the backend; -EINVAL/-EROFS/-ENOSPC without calling done. */
int blk_submit(struct blk_backend *b, struct blk_req *req);
int blk_poll(struct blk_backend *b, unsigned min_complete);
/* Submit one request and wait for it: 0 or -errno. */
int blk_rw_sync(struct blk_backend *b, enum blk_op op, uint64_t offset, void *buf, uint64_t len);

#endif
