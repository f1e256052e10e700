/* File (or block device) backend through io_uring. Each request is queued
 * and handed to the kernel at once (one io_uring_enter per submit), so a
 * device's whole queue depth is in flight; completions are reaped by poll.
 *
 * A request may take several trips through the ring: short reads and writes
 * are resubmitted for the remainder, -EAGAIN/-EINTR are retried, and
 * WRITE_ZEROES/DISCARD step down from hole punching to FALLOC_FL_ZERO_RANGE
 * to writing zeroes when the filesystem says EOPNOTSUPP. done is only ever
 * called from poll, never from submit. */
#include "backend/blk_internal.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Submission is eager, so the SQ holds at most the entries a failed
 * io_uring_enter left behind; 128 is ample. The CQ (twice that) may be
 * outrun by a deeper queue: IORING_FEAT_NODROP keeps the excess in the
 * kernel until poll reaps it, so queue depth is not bounded by the ring. */
#define FILE_RING_ENTRIES 128
/* Source for writing zeroes where fallocate cannot: a read-only anonymous
 * mapping, all backed by the shared zero page, so it costs no memory. */
#define FILE_ZERO_BUF_SIZE (1u << 20)
/* Single read/write SQEs take an unsigned length; stay well below that and
 * let the short-I/O path carry on. */
#define FILE_MAX_SINGLE (1u << 30)
/* Consecutive -EAGAIN/-EINTR completions without progress before a request
 * is failed, so a misbehaving file cannot spin poll forever. */
#define FILE_MAX_STALLS 64
#define FILE_CQE_BATCH 32
/* file_handle: the request went back into the ring. */
#define FILE_REQUEUED 1

enum file_zero_method { ZM_PUNCH_HOLE, ZM_ZERO_RANGE, ZM_WRITE };

struct file_io {
	struct blk_req *req;
	struct file_io *next;           /* free list or stash list */
	uint64_t progress;              /* bytes done by earlier trips */
	struct iovec *rem;              /* iovecs past progress, for a resubmission */
	unsigned rem_cap;
	unsigned stalls;
	enum file_zero_method zm;
	int res;                        /* result of a stashed CQE */
	struct iovec zero_iov;
};

struct blk_file {
	struct blk_backend b;
	int fd;
	struct io_uring ring;
	bool have_single_rw;            /* IORING_OP_READ/WRITE (5.6) */
	bool no_punch_hole, no_zero_range;
	void *zero_buf;
	struct file_io *free_io;
	/* CQEs reaped by submit to make room, kept for poll to handle so that
	 * submit never calls another request's done. */
	struct file_io *stash_head, *stash_tail;
	unsigned nr_io;                 /* allocated, to check for leaks at close */
	char path[];
};

static struct blk_file *to_file(struct blk_backend *b)
{
	return (struct blk_file *)((char *)b - offsetof(struct blk_file, b));
}

static struct file_io *file_io_get(struct blk_file *f, struct blk_req *req)
{
	struct file_io *io = f->free_io;

	if (io) {
		f->free_io = io->next;
	} else {
		io = calloc(1, sizeof(*io));
		if (!io)
			return NULL;
		f->nr_io++;
	}
	io->req = req;
	io->next = NULL;
	io->progress = 0;
	io->stalls = 0;
	io->zm = ZM_WRITE;
	if (req->op == BLK_DISCARD && !f->no_punch_hole)
		io->zm = ZM_PUNCH_HOLE;
	else if ((req->op == BLK_DISCARD || req->op == BLK_WRITE_ZEROES) && !f->no_zero_range)
		io->zm = ZM_ZERO_RANGE;
	return io;
}

static void file_io_put(struct blk_file *f, struct file_io *io)
{
	io->req = NULL;
	io->next = f->free_io;
	f->free_io = io;
}

/* Moves whatever the CQ holds onto the stash. Called when the kernel will
 * not take more submissions until completions are consumed. */
static void file_stash_cqes(struct blk_file *f)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&f->ring, &cqe) == 0) {
		struct file_io *io = io_uring_cqe_get_data(cqe);

		io->res = cqe->res;
		io->next = NULL;
		io_uring_cqe_seen(&f->ring, cqe);
		if (f->stash_tail)
			f->stash_tail->next = io;
		else
			f->stash_head = io;
		f->stash_tail = io;
	}
}

static bool file_submit_retryable(int ret)
{
	/* -EBUSY: CQ overflow the kernel cannot flush; -EAGAIN: no memory for
	 * a request right now; -EINTR: a signal. All clear once completions
	 * are consumed or on a later try. */
	return ret == -EBUSY || ret == -EAGAIN || ret == -EINTR;
}

/* Hands queued SQEs to the kernel. An SQE the kernel did not take stays in
 * the SQ and is taken by a later submit or poll, so a transient failure
 * still leaves the request accepted. */
static int file_flush_sq(struct blk_file *f)
{
	int ret;

	for (int tries = 0; tries < 2; tries++) {
		ret = io_uring_submit(&f->ring);
		if (ret >= 0)
			return 0;
		if (!file_submit_retryable(ret))
			break;
		file_stash_cqes(f);
	}
	if (file_submit_retryable(ret))
		return 0;
	log_error("blk %s: io_uring_submit: %s", f->b.desc, strerror(-ret));
	return ret;
}

static struct io_uring_sqe *file_get_sqe(struct blk_file *f)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);

	if (sqe)
		return sqe;
	/* The SQ is full of entries an earlier io_uring_enter refused: make
	 * room in the CQ, then push them in. */
	file_stash_cqes(f);
	io_uring_submit(&f->ring);
	return io_uring_get_sqe(&f->ring);
}

/* Fills io->rem with req's iovecs from byte `skip` on; the count. */
static unsigned file_iov_skip(struct file_io *io, uint64_t skip)
{
	const struct blk_req *req = io->req;
	unsigned n = 0;

	for (unsigned i = 0; i < req->iovcnt; i++) {
		struct iovec v = req->iov[i];

		if (skip >= v.iov_len) {
			skip -= v.iov_len;
			continue;
		}
		v.iov_base = (char *)v.iov_base + skip;
		v.iov_len -= skip;
		skip = 0;
		io->rem[n++] = v;
	}
	return n;
}

static void file_prep_rw(struct blk_file *f, struct io_uring_sqe *sqe, bool is_read,
			 const struct iovec *iov, unsigned cnt, uint64_t off)
{
	if (cnt == 1 && f->have_single_rw) {
		unsigned len = iov->iov_len > FILE_MAX_SINGLE ? FILE_MAX_SINGLE : iov->iov_len;

		if (is_read)
			io_uring_prep_read(sqe, f->fd, iov->iov_base, len, off);
		else
			io_uring_prep_write(sqe, f->fd, iov->iov_base, len, off);
	} else if (is_read) {
		io_uring_prep_readv(sqe, f->fd, iov, cnt, off);
	} else {
		io_uring_prep_writev(sqe, f->fd, iov, cnt, off);
	}
}

/* Puts io (back) into the ring for what remains of its request. */
static int file_queue(struct blk_file *f, struct file_io *io)
{
	struct blk_req *req = io->req;
	uint64_t off = req->offset + io->progress, rest = req->len - io->progress;
	const struct iovec *iov = req->iov;
	unsigned cnt = req->iovcnt;
	struct io_uring_sqe *sqe;

	/* Everything that can fail comes before taking the SQE: once taken it
	 * must be filled, or the kernel would run whatever it held. */
	if ((req->op == BLK_READ || req->op == BLK_WRITE) && io->progress) {
		if (io->rem_cap < req->iovcnt) {
			struct iovec *rem = realloc(io->rem, req->iovcnt * sizeof(*rem));

			if (!rem)
				return -ENOMEM;
			io->rem = rem;
			io->rem_cap = req->iovcnt;
		}
		cnt = file_iov_skip(io, io->progress);
		iov = io->rem;
	}
	sqe = file_get_sqe(f);
	if (!sqe) {
		static struct log_ratelimit rl;

		/* Every further request until the kernel recovers lands here. */
		if (log_ratelimit_ok(&rl))
			log_error("blk %s: io_uring SQ full and the kernel takes no more; %s at offset %llu len %llu refused",
				  f->b.desc, blk_op_name(req->op), (unsigned long long)off,
				  (unsigned long long)rest);
		return -EAGAIN;
	}
	switch (req->op) {
	case BLK_READ:
	case BLK_WRITE:
		file_prep_rw(f, sqe, req->op == BLK_READ, iov, cnt, off);
		break;
	case BLK_FLUSH:
		/* Data and what is needed to read it back; timestamps of a disk
		 * image are not worth a journal commit. */
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_WRITE_ZEROES:
	case BLK_DISCARD:
		switch (io->zm) {
		case ZM_PUNCH_HOLE:
			io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						off, rest);
			break;
		case ZM_ZERO_RANGE:
			io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
						off, rest);
			break;
		case ZM_WRITE:
			io->zero_iov.iov_base = f->zero_buf;
			io->zero_iov.iov_len = rest < FILE_ZERO_BUF_SIZE ? rest : FILE_ZERO_BUF_SIZE;
			file_prep_rw(f, sqe, false, &io->zero_iov, 1, off);
			break;
		}
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	/* From here the request is the ring's: even if the kernel refuses the
	 * SQE now, it stays queued for poll to push again (and poll reports
	 * the failure), so it must not be refused and its file_io reused. */
	file_flush_sq(f);
	return 0;
}

static int file_requeue(struct blk_file *f, struct file_io *io)
{
	int ret = file_queue(f, io);

	return ret < 0 ? ret : FILE_REQUEUED;
}

static int file_retry(struct blk_file *f, struct file_io *io, int res)
{
	const struct blk_req *req = io->req;

	if (++io->stalls <= FILE_MAX_STALLS)
		return file_requeue(f, io);
	log_error("blk %s: %s at offset %llu len %llu: still %s after %u retries", f->b.desc,
		  blk_op_name(req->op), (unsigned long long)(req->offset + io->progress),
		  (unsigned long long)(req->len - io->progress), strerror(-res), FILE_MAX_STALLS);
	return -EIO;
}

static void file_zero_iov_tail(struct file_io *io)
{
	const struct blk_req *req = io->req;
	uint64_t skip = io->progress;

	for (unsigned i = 0; i < req->iovcnt; i++) {
		size_t len = req->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memset((char *)req->iov[i].iov_base + skip, 0, len - skip);
		skip = 0;
	}
}

/* A read, a write, or a write of zeroes moved res bytes (or failed). */
static int file_rw_done(struct blk_file *f, struct file_io *io, int res, bool is_read)
{
	const struct blk_req *req = io->req;
	uint64_t off = req->offset + io->progress, rest = req->len - io->progress;

	if (res == -EAGAIN || res == -EINTR)
		return file_retry(f, io, res);
	if (res < 0) {
		log_error("blk %s: %s at offset %llu len %llu: %s", f->b.desc, blk_op_name(req->op),
			  (unsigned long long)off, (unsigned long long)rest, strerror(-res));
		return res;
	}
	if ((uint64_t)res > rest) {
		log_error("blk %s: %s at offset %llu len %llu: kernel reports %d bytes", f->b.desc,
			  blk_op_name(req->op), (unsigned long long)off, (unsigned long long)rest, res);
		return -EIO;
	}
	if (res == 0) {
		if (is_read) {
			/* End of file: the image shrank under us. The disk keeps
			 * its size, and what is past the end reads as zeroes. */
			log_debug("blk %s: read at offset %llu len %llu is past the end of the file; zeroes",
				  f->b.desc, (unsigned long long)off, (unsigned long long)rest);
			file_zero_iov_tail(io);
			return 0;
		}
		log_error("blk %s: %s at offset %llu len %llu: no progress (0 bytes written)",
			  f->b.desc, blk_op_name(req->op), (unsigned long long)off,
			  (unsigned long long)rest);
		return -EIO;
	}
	io->progress += (uint64_t)res;
	io->stalls = 0;
	if (io->progress == req->len)
		return 0;
	return file_requeue(f, io);
}

static int file_zero_done(struct blk_file *f, struct file_io *io, int res)
{
	const struct blk_req *req = io->req;

	if (io->zm == ZM_WRITE)
		return file_rw_done(f, io, res, false);
	if (res == -EOPNOTSUPP) {
		/* Remembered for the disk's lifetime: the filesystem will not
		 * learn the mode later, and each failed try costs a trip. */
		if (io->zm == ZM_PUNCH_HOLE) {
			if (!f->no_punch_hole)
				log_info("blk %s: no hole punching here; discard zeroes instead",
					 f->b.desc);
			f->no_punch_hole = true;
			io->zm = f->no_zero_range ? ZM_WRITE : ZM_ZERO_RANGE;
		} else {
			if (!f->no_zero_range)
				log_info("blk %s: no FALLOC_FL_ZERO_RANGE here; writing zeroes instead",
					 f->b.desc);
			f->no_zero_range = true;
			io->zm = ZM_WRITE;
		}
		return file_requeue(f, io);
	}
	if (res == -EAGAIN || res == -EINTR)
		return file_retry(f, io, res);
	if (res < 0)
		log_error("blk %s: %s (fallocate %s) at offset %llu len %llu: %s", f->b.desc,
			  blk_op_name(req->op), io->zm == ZM_PUNCH_HOLE ? "punch-hole" : "zero-range",
			  (unsigned long long)req->offset, (unsigned long long)req->len,
			  strerror(-res));
	return res < 0 ? res : 0;
}

/* One completion of io's current trip: requeue it or finish the request. */
static void file_handle(struct blk_file *f, struct file_io *io, int res, int *completed)
{
	struct blk_req *req = io->req;
	int ret;

	switch (req->op) {
	case BLK_READ:
	case BLK_WRITE:
		ret = file_rw_done(f, io, res, req->op == BLK_READ);
		break;
	case BLK_FLUSH:
		if (res == -EAGAIN || res == -EINTR) {
			ret = file_retry(f, io, res);
		} else {
			if (res < 0)
				log_error("blk %s: flush (fdatasync): %s", f->b.desc, strerror(-res));
			ret = res < 0 ? res : 0;
		}
		break;
	default:
		ret = file_zero_done(f, io, res);
		break;
	}
	if (ret == FILE_REQUEUED)
		return;
	file_io_put(f, io);
	(*completed)++;
	blk_complete(&f->b, req, ret);
}

/* Handles every completion available now, without blocking. Completions
 * are copied out and the CQ advanced before any done runs, so done may
 * submit (or even poll) again. */
static void file_reap(struct blk_file *f, int *completed)
{
	struct io_uring_cqe *cqes[FILE_CQE_BATCH];
	struct file_io *ios[FILE_CQE_BATCH];
	int res[FILE_CQE_BATCH];
	unsigned n;

	for (;;) {
		while (f->stash_head) {
			struct file_io *io = f->stash_head;

			f->stash_head = io->next;
			if (!f->stash_head)
				f->stash_tail = NULL;
			file_handle(f, io, io->res, completed);
		}
		n = io_uring_peek_batch_cqe(&f->ring, cqes, FILE_CQE_BATCH);
		if (n == 0)
			return;
		for (unsigned i = 0; i < n; i++) {
			ios[i] = io_uring_cqe_get_data(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&f->ring, n);
		for (unsigned i = 0; i < n; i++)
			file_handle(f, ios[i], res[i], completed);
	}
}

static int file_poll(struct blk_backend *b, unsigned min_complete)
{
	struct blk_file *f = to_file(b);
	struct io_uring_cqe *cqe;
	int completed = 0, ret;

	/* SQEs left behind by a refused io_uring_enter go in first. */
	if (io_uring_sq_ready(&f->ring)) {
		ret = file_flush_sq(f);
		if (ret < 0)
			return ret;
	}
	for (;;) {
		file_reap(f, &completed);
		if ((unsigned)completed >= min_complete)
			return completed;
		if (io_uring_sq_ready(&f->ring))
			ret = io_uring_submit_and_wait(&f->ring, 1);
		else
			ret = io_uring_wait_cqe(&f->ring, &cqe);
		/* A signal (a vCPU kick) or a transient shortage: wait again. */
		if (ret < 0 && !file_submit_retryable(ret) && ret != -ETIME) {
			log_error("blk %s: waiting for completions (%u in flight): %s", b->desc,
				  b->inflight, strerror(-ret));
			/* Those whose done already ran must still be counted. */
			return completed ? completed : ret;
		}
	}
}

static int file_submit(struct blk_backend *b, struct blk_req *req)
{
	struct blk_file *f = to_file(b);
	struct file_io *io;
	int ret;

	io = file_io_get(f, req);
	if (!io)
		return -ENOMEM;
	ret = file_queue(f, io);
	if (ret < 0)
		file_io_put(f, io);
	return ret;
}

static void file_destroy(struct blk_backend *b)
{
	struct blk_file *f = to_file(b);
	unsigned freed = 0;

	io_uring_queue_exit(&f->ring);
	while (f->stash_head) {
		struct file_io *io = f->stash_head;

		f->stash_head = io->next;
		file_io_put(f, io);
	}
	while (f->free_io) {
		struct file_io *io = f->free_io;

		f->free_io = io->next;
		free(io->rem);
		free(io);
		freed++;
	}
	/* Only after blk_close could not reap: those stay allocated, as the
	 * kernel may still complete into their requests' buffers. */
	if (freed != f->nr_io)
		log_error("blk %s: %u requests never completed; their state is leaked", b->desc,
			  f->nr_io - freed);
	munmap(f->zero_buf, FILE_ZERO_BUF_SIZE);
	close(f->fd);
	free(f);
}

static const struct blk_backend_ops blk_file_ops = {
	.submit = file_submit,
	.poll = file_poll,
	.destroy = file_destroy,
};

/* Disk size and logical block size of the open file or block device. */
static int file_geometry(struct blk_file *f, uint64_t *size, uint32_t *block_size)
{
	struct stat st;
	int bs, err;

	/* errno is saved first: logging may change it. */
	if (fstat(f->fd, &st) < 0) {
		err = errno;
		log_error("blk %s: fstat: %s", f->path, strerror(err));
		return -err;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		*block_size = BLK_SECTOR_SIZE;
		return 0;
	}
	if (!S_ISBLK(st.st_mode)) {
		log_error("blk %s: not a regular file or a block device", f->path);
		return -EINVAL;
	}
	if (ioctl(f->fd, BLKGETSIZE64, size) < 0) {
		err = errno;
		log_error("blk %s: ioctl(BLKGETSIZE64): %s", f->path, strerror(err));
		return -err;
	}
	if (ioctl(f->fd, BLKSSZGET, &bs) < 0) {
		err = errno;
		log_error("blk %s: ioctl(BLKSSZGET): %s", f->path, strerror(err));
		return -err;
	}
	if (bs < (int)BLK_SECTOR_SIZE || bs > 65536 || (bs & (bs - 1))) {
		log_error("blk %s: logical block size %d is not one a disk can expose", f->path, bs);
		return -EINVAL;
	}
	*block_size = (uint32_t)bs;
	return 0;
}

static int file_init_ring(struct blk_file *f)
{
	struct io_uring_probe *probe;
	int ret;

	ret = io_uring_queue_init(FILE_RING_ENTRIES, &f->ring, 0);
	if (ret < 0) {
		/* No fallback to synchronous I/O: a silently slower disk is a
		 * worse surprise than a refusal that says why. */
		log_error("blk %s: io_uring_queue_init(%u): %s; io_uring is unavailable here "
			  "(a kernel without it, kernel.io_uring_disabled, or a seccomp filter)",
			  f->path, FILE_RING_ENTRIES, strerror(-ret));
		return ret;
	}
	if (!(f->ring.features & IORING_FEAT_NODROP)) {
		log_error("blk %s: io_uring lacks IORING_FEAT_NODROP (Linux < 5.5); completions "
			  "could be lost", f->path);
		ret = -EOPNOTSUPP;
		goto err_exit;
	}
	/* Probing needs Linux 5.6; without it use only the 5.1 opcodes. */
	probe = io_uring_get_probe_ring(&f->ring);
	if (probe) {
		f->have_single_rw = io_uring_opcode_supported(probe, IORING_OP_READ) &&
				    io_uring_opcode_supported(probe, IORING_OP_WRITE);
		if (!io_uring_opcode_supported(probe, IORING_OP_FALLOCATE))
			f->no_punch_hole = f->no_zero_range = true;
		io_uring_free_probe(probe);
	} else {
		f->no_punch_hole = f->no_zero_range = true;
	}
	return 0;

err_exit:
	io_uring_queue_exit(&f->ring);
	return ret;
}

int blk_open_file(struct blk_backend **out, const char *path, bool read_only)
{
	struct blk_file *f;
	uint64_t size = 0;
	uint32_t bs = BLK_SECTOR_SIZE;
	int ret;

	*out = NULL;
	f = calloc(1, sizeof(*f) + strlen(path) + 1);
	if (!f)
		return -ENOMEM;
	strcpy(f->path, path);
	f->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (f->fd < 0) {
		ret = -errno;
		log_error("blk %s: open %s: %s", path, read_only ? "read-only" : "read-write",
			  strerror(errno));
		goto err_free;
	}
	ret = file_geometry(f, &size, &bs);
	if (ret < 0)
		goto err_close;
	if (size % bs)
		log_warn("blk %s: last %llu bytes are not a whole %u-byte block; the disk ends before them",
			 path, (unsigned long long)(size % bs), bs);
	size -= size % bs;
	if (size == 0) {
		log_error("blk %s: smaller than one %u-byte block", path, bs);
		ret = -EINVAL;
		goto err_close;
	}
	f->zero_buf = mmap(NULL, FILE_ZERO_BUF_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->zero_buf == MAP_FAILED) {
		ret = -errno;
		log_error("blk %s: mmap of a %u-byte zero buffer: %s", path, FILE_ZERO_BUF_SIZE,
			  strerror(errno));
		goto err_close;
	}
	ret = file_init_ring(f);
	if (ret < 0)
		goto err_unmap;
	f->b.ops = &blk_file_ops;
	f->b.size = size;
	f->b.block_size = bs;
	f->b.read_only = read_only;
	snprintf(f->b.desc, sizeof(f->b.desc), "file:%s (io_uring%s)", path,
		 read_only ? ", read-only" : "");
	*out = &f->b;
	return 0;

err_unmap:
	munmap(f->zero_buf, FILE_ZERO_BUF_SIZE);
err_close:
	close(f->fd);
err_free:
	free(f);
	return ret;
}
