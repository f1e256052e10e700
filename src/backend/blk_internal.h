/* Between blk.c and the backends: the one road by which a request completes,
 * so that inflight, the error count and req->result are kept in one place. */
#ifndef WARDEN_BACKEND_BLK_INTERNAL_H
#define WARDEN_BACKEND_BLK_INTERNAL_H

#include "backend/blk.h"

#define BLK_SECTOR_SIZE 512u

/* Sets req->result, accounts for it, then calls req->done (last: done may
 * submit again or free req). Backends call this exactly once per request
 * their submit accepted, and never for one it refused. */
void blk_complete(struct blk_backend *b, struct blk_req *req, int result);

/* Total bytes described by iov; false if the sum overflows. */
bool blk_iov_total(const struct iovec *iov, unsigned iovcnt, uint64_t *total);

const char *blk_op_name(enum blk_op op);

#endif
