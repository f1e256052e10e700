/* Block backends: the RAM disk and the io_uring file backend run the same
 * suite (round trips over split iovecs, refusals, flush, write-zeroes,
 * discard, a full queue depth in flight, resubmission from done), then the
 * cases only one of them has: a 64 GiB RAM disk, a file that shrinks under
 * the disk, short writes, a queue deeper than the ring, tmpfs without
 * FALLOC_FL_ZERO_RANGE, and closing with requests in flight. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>
#include <linux/loop.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "backend/blk.h"
#include "base/log.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define DISK_SIZE (16 * MiB)
#define TMPFS_MAGIC_NR 0x01021994

struct fixture {
	struct blk_backend *b;
	int fd;                 /* the file backend's file, unlinked; -1 for RAM */
};

/* ---- helpers ---------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Byte at disk offset pos of the pattern seeded by seed: every byte
 * differs from its neighbours, so misplaced sectors show. */
static uint8_t pattern_byte(uint64_t seed, uint64_t pos)
{
	return (uint8_t)(mix64(seed * 0x9e3779b97f4a7c15ull + (pos >> 3)) >> ((pos & 7) * 8));
}

static void fill_pattern(uint8_t *buf, uint64_t len, uint64_t seed, uint64_t disk_off)
{
	for (uint64_t i = 0; i < len; i++)
		buf[i] = pattern_byte(seed, disk_off + i);
}

static void assert_pattern(const uint8_t *buf, uint64_t len, uint64_t seed, uint64_t disk_off)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(seed, disk_off + i))
			fail_msg("byte at disk offset %llu: 0x%02x, expected 0x%02x (seed %llu)",
				 (unsigned long long)(disk_off + i), buf[i],
				 pattern_byte(seed, disk_off + i), (unsigned long long)seed);
}

static void assert_zero(const uint8_t *buf, uint64_t len, uint64_t disk_off)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte at disk offset %llu: 0x%02x, expected 0",
				 (unsigned long long)(disk_off + i), buf[i]);
}

struct done_rec {
	unsigned calls;
	int result;
	unsigned order;         /* completion sequence number */
};

static unsigned completion_seq;

static void rec_done(struct blk_req *req)
{
	struct done_rec *r = req->opaque;

	r->calls++;
	r->result = req->result;
	r->order = completion_seq++;
}

/* Splits [buf, buf+len) into up to cnt iovecs at uneven, unaligned places
 * (including an empty one), as a guest's scatter list would be. */
static unsigned split_iov(struct iovec *iov, unsigned cnt, uint8_t *buf, uint64_t len,
			  uint64_t salt)
{
	unsigned n = 0;
	uint64_t pos = 0;

	while (pos < len && n < cnt - 1) {
		uint64_t piece = 1 + mix64(salt + n) % (len - pos);

		if (n == 1)
			piece = 0;
		iov[n++] = (struct iovec){ .iov_base = buf + pos, .iov_len = piece };
		pos += piece;
	}
	if (pos < len)
		iov[n++] = (struct iovec){ .iov_base = buf + pos, .iov_len = len - pos };
	return n;
}

/* Submits req and polls until its done has run; returns its result. */
static int submit_wait(struct blk_backend *b, struct blk_req *req)
{
	struct done_rec *r = req->opaque;
	int ret;

	ret = blk_submit(b, req);
	if (ret < 0)
		return ret;
	while (!r->calls) {
		ret = blk_poll(b, 1);
		assert_true(ret >= 0);
	}
	assert_int_equal(r->calls, 1);
	return r->result;
}

static int rw_split(struct blk_backend *b, enum blk_op op, uint64_t off, uint8_t *buf,
		    uint64_t len, uint64_t salt)
{
	struct iovec iov[5];
	struct done_rec rec = { 0 };
	struct blk_req req = {
		.op = op, .offset = off, .len = len, .iov = iov,
		.done = rec_done, .opaque = &rec,
	};

	req.iovcnt = split_iov(iov, 5, buf, len, salt);
	return submit_wait(b, &req);
}

static int simple_op(struct blk_backend *b, enum blk_op op, uint64_t off, uint64_t len)
{
	struct done_rec rec = { 0 };
	struct blk_req req = {
		.op = op, .offset = off, .len = len, .done = rec_done, .opaque = &rec,
	};

	return submit_wait(b, &req);
}

static void write_pattern(struct blk_backend *b, uint64_t off, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	fill_pattern(buf, len, seed, off);
	assert_int_equal(blk_rw_sync(b, BLK_WRITE, off, buf, len), 0);
	free(buf);
}

static void check_pattern(struct blk_backend *b, uint64_t off, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, 0xa5, len);
	assert_int_equal(blk_rw_sync(b, BLK_READ, off, buf, len), 0);
	assert_pattern(buf, len, seed, off);
	free(buf);
}

static void check_zero(struct blk_backend *b, uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, 0xa5, len);
	assert_int_equal(blk_rw_sync(b, BLK_READ, off, buf, len), 0);
	assert_zero(buf, len, off);
	free(buf);
}

/* ---- fixtures --------------------------------------------------------- */

static int setup_ram(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || blk_open_ram(&fx->b, DISK_SIZE) < 0)
		return -1;
	fx->fd = -1;
	*state = fx;
	return 0;
}

/* A temp file that only our descriptors keep alive: unlinked at once, so
 * nothing is left in /tmp whatever happens to the test. */
static int make_temp_file(const char *dir, uint64_t size, char *path, size_t path_len)
{
	int fd;

	snprintf(path, path_len, "%s/warden-blk-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static int setup_file(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[64];
	int ret;

	if (!fx)
		return -1;
	fx->fd = make_temp_file("/tmp", DISK_SIZE, path, sizeof(path));
	if (fx->fd < 0)
		return -1;
	ret = blk_open_file(&fx->b, path, false);
	unlink(path);
	if (ret < 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	blk_close(fx->b);
	if (fx->fd >= 0)
		close(fx->fd);
	free(fx);
	return 0;
}

/* Attaches backing_fd to a free loop device with the given logical block
 * size; the device's fd, or -1 (no root, no loop driver). Autoclear: the
 * device detaches when its last descriptor closes, even if the test dies. */
static int attach_loop(int backing_fd, unsigned block_size, char *path, size_t path_len)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int fd = -1;

	if (ctl < 0)
		return -1;
	for (int tries = 0; tries < 8 && fd < 0; tries++) {
		struct loop_config cfg = {
			.fd = (unsigned)backing_fd,
			.block_size = block_size,
			.info = { .lo_flags = LO_FLAGS_AUTOCLEAR },
		};
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (n < 0)
			break;
		snprintf(path, path_len, "/dev/loop%d", n);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			break;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) < 0) {
			close(fd);
			fd = -1;
			if (errno != EBUSY)     /* EBUSY: another process took it */
				break;
		}
	}
	close(ctl);
	return fd;
}

/* A block device: size from BLKGETSIZE64, the device's 4 KiB logical
 * block size, and fallocate modes as the block layer implements them. */
static void test_file_block_device(void **state)
{
	struct blk_backend *b;
	char file[64], dev[32];
	int backing, loop;

	backing = make_temp_file("/tmp", 32 * MiB, file, sizeof(file));
	assert_true(backing >= 0);
	unlink(file);
	loop = attach_loop(backing, 4096, dev, sizeof(dev));
	if (loop < 0) {
		close(backing);
		skip();
		return;
	}
	assert_int_equal(blk_open_file(&b, dev, false), 0);
	assert_int_equal(b->size, 32 * MiB);
	assert_int_equal(b->block_size, 4096);
	write_pattern(b, 0, 2 * MiB, 110);
	assert_int_equal(simple_op(b, BLK_WRITE_ZEROES, 8192, 8192), 0);
	assert_int_equal(simple_op(b, BLK_DISCARD, MiB, 64 * KiB), 0);
	assert_int_equal(simple_op(b, BLK_FLUSH, 0, 0), 0);
	check_pattern(b, 0, 8192, 110);
	check_zero(b, 8192, 8192);
	check_pattern(b, 16384, MiB - 16384, 110);
	check_zero(b, MiB, 64 * KiB);
	check_pattern(b, MiB + 64 * KiB, 4096, 110);
	assert_int_equal(b->stats.errors, 0);
	blk_close(b);
	close(loop);
	close(backing);
}

/* ---- the kernel, faked where it will not misbehave on request ----------
 * The test binary's own definitions of these liburing entry points take
 * precedence over the shared library's for the statically linked backend;
 * they pass through to liburing unless a test has asked for a fault. */

static int inject_submit_left, inject_submit_err;     /* failing io_uring_submit */
static int inject_cqe_left, inject_cqe_res;           /* rewritten completions */
static int inject_init_err;                           /* failing io_uring_queue_init */
static unsigned submit_calls;

int io_uring_submit(struct io_uring *ring)
{
	static int (*real)(struct io_uring *);

	if (!real)
		real = (int (*)(struct io_uring *))dlsym(RTLD_NEXT, "io_uring_submit");
	submit_calls++;
	if (inject_submit_left) {
		if (inject_submit_left > 0)
			inject_submit_left--;
		return inject_submit_err;
	}
	return real(ring);
}

unsigned io_uring_peek_batch_cqe(struct io_uring *ring, struct io_uring_cqe **cqes, unsigned count)
{
	static unsigned (*real)(struct io_uring *, struct io_uring_cqe **, unsigned);
	unsigned n;

	if (!real)
		real = (unsigned (*)(struct io_uring *, struct io_uring_cqe **, unsigned))
			dlsym(RTLD_NEXT, "io_uring_peek_batch_cqe");
	n = real(ring, cqes, count);
	for (unsigned i = 0; i < n && inject_cqe_left; i++, inject_cqe_left--)
		cqes[i]->res = inject_cqe_res;
	return n;
}

int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
	static int (*real)(unsigned, struct io_uring *, unsigned);

	if (!real)
		real = (int (*)(unsigned, struct io_uring *, unsigned))
			dlsym(RTLD_NEXT, "io_uring_queue_init");
	if (inject_init_err)
		return inject_init_err;
	return real(entries, ring, flags);
}

static int reset_injection(void **state)
{
	inject_submit_left = inject_cqe_left = inject_init_err = 0;
	return teardown(state);
}

/* ---- both backends ---------------------------------------------------- */

static void test_geometry(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(fx->b->size, DISK_SIZE);
	assert_int_equal(fx->b->block_size, 512);
	assert_false(fx->b->read_only);
	assert_int_equal(fx->b->inflight, 0);
	if (fx->fd >= 0)
		assert_non_null(strstr(fx->b->desc, "(io_uring)"));
	else
		assert_string_equal(fx->b->desc, "ram:16M");
	/* Nothing in flight: polling returns at once, whatever it asks for. */
	assert_int_equal(blk_poll(fx->b, 0), 0);
	assert_int_equal(blk_poll(fx->b, 8), 0);
}

static void test_roundtrip(void **state)
{
	struct fixture *fx = *state;
	static const uint64_t sizes[] = {
		512, 1024, 3584, 4096, 4608, 65536, 128 * KiB + 512, 1 * MiB + 1536,
	};
	const uint64_t offsets[] = {
		0, 512, 4096 - 512, 4096, 65536 + 1536, 5 * MiB + 3 * 512,
		DISK_SIZE / 2 - 512, DISK_SIZE - 2 * MiB - 512,
	};
	uint8_t *wbuf = malloc(2 * MiB), *rbuf = malloc(2 * MiB);
	uint64_t seed = 1;

	assert_non_null(wbuf);
	assert_non_null(rbuf);
	for (unsigned o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
		for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++, seed++) {
			uint64_t off = offsets[o], len = sizes[s];

			fill_pattern(wbuf, len, seed, off);
			assert_int_equal(rw_split(fx->b, BLK_WRITE, off, wbuf, len, seed), 0);
			memset(rbuf, 0xa5, len);
			/* A different split on the way back. */
			assert_int_equal(rw_split(fx->b, BLK_READ, off, rbuf, len, seed * 7 + 3), 0);
			assert_pattern(rbuf, len, seed, off);
		}
	}
	/* The very last sector, and the whole disk's tail through one iovec. */
	write_pattern(fx->b, DISK_SIZE - 512, 512, 1000);
	check_pattern(fx->b, DISK_SIZE - 512, 512, 1000);
	assert_int_equal(fx->b->inflight, 0);
	free(wbuf);
	free(rbuf);
}

static void test_refusals(void **state)
{
	struct fixture *fx = *state;
	struct blk_backend *b = fx->b;
	uint8_t buf[4096];
	struct iovec iov[2] = {
		{ .iov_base = buf, .iov_len = 2048 }, { .iov_base = buf + 2048, .iov_len = 2048 },
	};
	struct done_rec rec = { 0 };
	struct blk_req req;
	uint64_t errors = b->stats.errors;
	unsigned refused = 0;

	/* A valid 4 KiB request at offset 0, then the statements that spoil it. */
#define REFUSE(expect, ...) do {                                                \
		req = (struct blk_req){ .op = BLK_READ, .iov = iov, .iovcnt = 2, \
					.len = 4096, .done = rec_done, .opaque = &rec }; \
		__VA_ARGS__;                                                   \
		assert_int_equal(blk_submit(b, &req), (expect));               \
		refused++;                                                     \
	} while (0)

	/* Out of range. */
	REFUSE(-ENOSPC, req.op = BLK_READ; req.offset = DISK_SIZE);
	REFUSE(-ENOSPC, req.op = BLK_WRITE; req.offset = DISK_SIZE - 2048);
	REFUSE(-ENOSPC, req.op = BLK_READ; req.offset = UINT64_MAX - 511);
	REFUSE(-ENOSPC, req.op = BLK_WRITE_ZEROES; req.offset = 4096; req.len = DISK_SIZE);
	REFUSE(-ENOSPC, req.op = BLK_DISCARD; req.offset = 512; req.len = UINT64_MAX - 511);
	/* Misaligned offset or length, or nothing at all. */
	REFUSE(-EINVAL, req.op = BLK_READ; req.offset = 100);
	REFUSE(-EINVAL, req.op = BLK_WRITE; req.offset = 4096 + 256);
	REFUSE(-EINVAL, req.len = 4000; req.iov = (struct iovec[]){ { buf, 4000 } };
	       req.iovcnt = 1);
	REFUSE(-EINVAL, req.op = BLK_WRITE_ZEROES; req.offset = 0; req.len = 1000);
	REFUSE(-EINVAL, req.op = BLK_DISCARD; req.offset = 12; req.len = 512);
	REFUSE(-EINVAL, req.op = BLK_READ; req.len = 0; req.iovcnt = 0);
	/* iovecs that do not add up to len. */
	REFUSE(-EINVAL, req.op = BLK_READ; req.len = 8192);
	REFUSE(-EINVAL, req.op = BLK_WRITE; req.len = 2048);
	REFUSE(-EINVAL, req.op = BLK_WRITE; req.iovcnt = 1);
	REFUSE(-EINVAL, req.op = BLK_READ; req.iov = NULL);
	REFUSE(-EINVAL, req.op = BLK_READ; req.iovcnt = IOV_MAX + 1);
	REFUSE(-EINVAL, req.len = 512;
	       req.iov = (struct iovec[]){ { buf, 512 }, { buf, SIZE_MAX - 100 } });
	REFUSE(-EINVAL, req.op = BLK_WRITE; req.iov = (struct iovec[]){ { NULL, 4096 } };
	       req.iovcnt = 1);
	/* No done, or no such op. */
	REFUSE(-EINVAL, req.op = BLK_READ; req.done = NULL);
	REFUSE(-EINVAL, req.op = BLK_FLUSH; req.done = NULL);
	REFUSE(-EINVAL, req.op = (enum blk_op)42);
#undef REFUSE

	assert_int_equal(rec.calls, 0);
	assert_int_equal(b->inflight, 0);
	assert_int_equal(b->stats.errors, errors + refused);
	assert_int_equal(b->stats.reads + b->stats.writes + b->stats.zeroes + b->stats.discards +
			 b->stats.flushes, 0);
	assert_int_equal(blk_rw_sync(b, BLK_READ, DISK_SIZE, buf, 512), -ENOSPC);
	assert_int_equal(blk_rw_sync(b, BLK_WRITE, 0, buf, 100), -EINVAL);
}

/* RAM has no read-only open, but the flag is the disk's, and blk_submit
 * honours it whoever set it; the file fixture reopens its file read-only. */
static struct blk_backend *open_read_only(struct fixture *fx)
{
	struct blk_backend *ro;
	char path[64];

	if (fx->fd < 0) {
		fx->b->read_only = true;
		return fx->b;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fx->fd);
	assert_int_equal(blk_open_file(&ro, path, true), 0);
	assert_true(ro->read_only);
	assert_non_null(strstr(ro->desc, "read-only"));
	return ro;
}

static void test_read_only(void **state)
{
	struct fixture *fx = *state;
	struct blk_backend *ro;
	uint8_t buf[4096];
	struct done_rec rec = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct blk_req req;

	write_pattern(fx->b, 8192, 4096, 77);
	ro = open_read_only(fx);
	assert_int_equal(ro->size, DISK_SIZE);
	for (enum blk_op op = BLK_WRITE; op <= BLK_DISCARD; op++) {
		if (op == BLK_FLUSH)
			continue;
		req = (struct blk_req){ .op = op, .offset = 8192, .len = 4096, .done = rec_done,
					.opaque = &rec };
		if (op == BLK_WRITE) {
			req.iov = &iov;
			req.iovcnt = 1;
		}
		assert_int_equal(blk_submit(ro, &req), -EROFS);
	}
	assert_int_equal(rec.calls, 0);
	assert_int_equal(ro->inflight, 0);
	/* Reading and flushing a read-only disk are fine. */
	check_pattern(ro, 8192, 4096, 77);
	assert_int_equal(simple_op(ro, BLK_FLUSH, 0, 0), 0);
	assert_int_equal(ro->stats.flushes, 1);
	if (ro != fx->b)
		blk_close(ro);
	else
		fx->b->read_only = false;
	check_pattern(fx->b, 8192, 4096, 77);
}

static void test_flush(void **state)
{
	struct fixture *fx = *state;

	write_pattern(fx->b, 0, 64 * KiB, 5);
	assert_int_equal(simple_op(fx->b, BLK_FLUSH, 0, 0), 0);
	/* offset and len mean nothing to a flush, even out of range. */
	assert_int_equal(simple_op(fx->b, BLK_FLUSH, UINT64_MAX, 3), 0);
	assert_int_equal(blk_rw_sync(fx->b, BLK_FLUSH, 0, NULL, 0), 0);
	assert_int_equal(fx->b->stats.flushes, 3);
	check_pattern(fx->b, 0, 64 * KiB, 5);
}

/* Pattern over [0, 4 MiB), op over a range whose ends are not page aligned
 * and whose middle holds whole pages, then: zeroes inside, pattern outside. */
static void zero_like(struct blk_backend *b, enum blk_op op)
{
	const uint64_t span = 4 * MiB, off = 4096 + 1536, len = 2 * MiB + 3 * 4096 + 512;

	write_pattern(b, 0, span, 9);
	assert_int_equal(simple_op(b, op, off, len), 0);
	check_pattern(b, 0, off, 9);
	check_zero(b, off, len);
	check_pattern(b, off + len, span - off - len, 9);
	/* Within one page, and a single sector. */
	assert_int_equal(simple_op(b, op, 3 * MiB + 1024, 1024), 0);
	check_zero(b, 3 * MiB + 1024, 1024);
	check_pattern(b, 3 * MiB, 1024, 9);
	check_pattern(b, 3 * MiB + 2048, 2048, 9);
	assert_int_equal(simple_op(b, op, DISK_SIZE - 512, 512), 0);
	check_zero(b, DISK_SIZE - 512, 512);
	/* Rewritable afterwards. */
	write_pattern(b, off, len, 10);
	check_pattern(b, off, len, 10);
	/* The whole disk. */
	assert_int_equal(simple_op(b, op, 0, DISK_SIZE), 0);
	check_zero(b, 0, span);
}

static void test_write_zeroes(void **state)
{
	struct fixture *fx = *state;

	zero_like(fx->b, BLK_WRITE_ZEROES);
	assert_int_equal(fx->b->stats.zeroes, 4);
	assert_int_equal(fx->b->stats.errors, 0);
}

static void test_discard(void **state)
{
	struct fixture *fx = *state;

	zero_like(fx->b, BLK_DISCARD);
	assert_int_equal(fx->b->stats.discards, 4);
	assert_int_equal(fx->b->stats.errors, 0);
}

#define QD 64

/* 64 writes in flight, one poll for all, then 64 reads likewise: each done
 * runs once, in whatever order the kernel finishes them. */
static void test_qd64(void **state)
{
	struct fixture *fx = *state;
	struct blk_backend *b = fx->b;
	static struct done_rec rec[QD];
	static struct blk_req req[QD];
	static struct iovec iov[QD][5];
	uint8_t *buf[QD];
	uint64_t len[QD], off[QD], pos = 0;
	int ret;

	for (unsigned i = 0; i < QD; i++) {
		len[i] = 512 * (1 + mix64(i) % 128);    /* 512 B .. 64 KiB */
		off[i] = pos;
		pos += len[i] + 512 * (mix64(i + 100) % 8);
		buf[i] = malloc(len[i]);
		assert_non_null(buf[i]);
	}
	assert_true(pos <= DISK_SIZE);
	for (int pass = 0; pass < 2; pass++) {
		enum blk_op op = pass ? BLK_READ : BLK_WRITE;

		memset(rec, 0, sizeof(rec));
		for (unsigned i = 0; i < QD; i++) {
			if (op == BLK_WRITE)
				fill_pattern(buf[i], len[i], 300 + i, off[i]);
			else
				memset(buf[i], 0xa5, len[i]);
			req[i] = (struct blk_req){ .op = op, .offset = off[i], .len = len[i],
						   .iov = iov[i], .done = rec_done, .opaque = &rec[i] };
			req[i].iovcnt = split_iov(iov[i], 5, buf[i], len[i], i);
			assert_int_equal(blk_submit(b, &req[i]), 0);
		}
		ret = blk_poll(b, QD);
		if (fx->fd >= 0) {
			assert_int_equal(ret, QD);      /* nothing else was in flight */
		} else {
			assert_int_equal(ret, 0);       /* RAM finished each in submit */
		}
		assert_int_equal(b->inflight, 0);
		for (unsigned i = 0; i < QD; i++) {
			assert_int_equal(rec[i].calls, 1);
			assert_int_equal(rec[i].result, 0);
			if (op == BLK_READ)
				assert_pattern(buf[i], len[i], 300 + i, off[i]);
		}
	}
	assert_int_equal(b->stats.reads, QD);
	assert_int_equal(b->stats.writes, QD);
	for (unsigned i = 0; i < QD; i++)
		free(buf[i]);
}

/* A device's done may submit the next command (its queue's next entry)
 * while the backend is inside submit (RAM) or poll (file). */
struct chain {
	struct blk_backend *b;
	struct blk_req req;
	struct iovec iov;
	uint8_t buf[4096];
	unsigned left, completed;
	int first_error;
};

static void chain_done(struct blk_req *req)
{
	struct chain *c = req->opaque;

	if (req->result && !c->first_error)
		c->first_error = req->result;
	if (req->op == BLK_READ)
		assert_pattern(c->buf, sizeof(c->buf), 50, req->offset);
	c->completed++;
	if (!c->left)
		return;
	c->left--;
	req->offset += sizeof(c->buf);
	if (req->op == BLK_WRITE)
		fill_pattern(c->buf, sizeof(c->buf), 50, req->offset);
	assert_int_equal(blk_submit(c->b, req), 0);
}

static void test_resubmit_from_done(void **state)
{
	struct fixture *fx = *state;
	static struct chain c;

	for (int pass = 0; pass < 2; pass++) {
		c = (struct chain){ .b = fx->b, .left = 31 };
		c.iov = (struct iovec){ .iov_base = c.buf, .iov_len = sizeof(c.buf) };
		c.req = (struct blk_req){ .op = pass ? BLK_READ : BLK_WRITE, .offset = MiB,
					  .len = sizeof(c.buf), .iov = &c.iov, .iovcnt = 1,
					  .done = chain_done, .opaque = &c };
		if (!pass)
			fill_pattern(c.buf, sizeof(c.buf), 50, MiB);
		assert_int_equal(blk_submit(fx->b, &c.req), 0);
		while (c.completed < 32)
			assert_true(blk_poll(fx->b, 1) >= 0);
		assert_int_equal(c.first_error, 0);
		assert_int_equal(fx->b->inflight, 0);
	}
	check_pattern(fx->b, MiB, 32 * 4096, 50);
}

static void test_stats(void **state)
{
	struct fixture *fx = *state;
	struct blk_backend *b = fx->b;
	uint8_t buf[8192] = { 0 };

	assert_int_equal(blk_rw_sync(b, BLK_WRITE, 0, buf, 8192), 0);
	assert_int_equal(blk_rw_sync(b, BLK_WRITE, 8192, buf, 512), 0);
	assert_int_equal(blk_rw_sync(b, BLK_READ, 0, buf, 4096), 0);
	assert_int_equal(blk_rw_sync(b, BLK_FLUSH, 0, NULL, 0), 0);
	assert_int_equal(blk_rw_sync(b, BLK_WRITE_ZEROES, 0, NULL, 4096), 0);
	assert_int_equal(blk_rw_sync(b, BLK_DISCARD, 0, NULL, 4096), 0);
	assert_int_equal(blk_rw_sync(b, BLK_READ, 1, buf, 512), -EINVAL);
	assert_int_equal(b->stats.writes, 2);
	assert_int_equal(b->stats.bytes_written, 8192 + 512);
	assert_int_equal(b->stats.reads, 1);
	assert_int_equal(b->stats.bytes_read, 4096);
	assert_int_equal(b->stats.flushes, 1);
	assert_int_equal(b->stats.zeroes, 1);
	assert_int_equal(b->stats.discards, 1);
	assert_int_equal(b->stats.errors, 1);
	assert_int_equal(b->inflight, 0);
}

/* ---- RAM only --------------------------------------------------------- */

static uint64_t resident_bytes(void)
{
	unsigned long long vsz = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu %llu", &vsz, &rss), 2);
	fclose(f);
	return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_ram_large_is_cheap(void **state)
{
	struct blk_backend *b;
	uint64_t rss0 = resident_bytes();
	double t0 = now_s();

	assert_int_equal(blk_open_ram(&b, 64 * GiB), 0);
	assert_int_equal(b->size, 64 * GiB);
	assert_string_equal(b->desc, "ram:64G");
	write_pattern(b, 0, 4096, 1);
	write_pattern(b, 64 * GiB - 4096, 4096, 2);
	write_pattern(b, 40 * GiB + 512, 1024, 3);
	check_pattern(b, 0, 4096, 1);
	check_pattern(b, 64 * GiB - 4096, 4096, 2);
	check_pattern(b, 40 * GiB + 512, 1024, 3);
	check_zero(b, 32 * GiB, 64 * KiB);
	/* Discarding all of it is page-table work, not 64 GiB of memset. */
	assert_int_equal(simple_op(b, BLK_DISCARD, 0, 64 * GiB), 0);
	check_zero(b, 64 * GiB - 4096, 4096);
	assert_true(now_s() - t0 < 2.0);
	assert_true(resident_bytes() - rss0 < 64 * MiB);
	blk_close(b);
}

static void test_ram_sizes(void **state)
{
	struct blk_backend *b;

	assert_int_equal(blk_open_ram(&b, 0), -EINVAL);
	assert_null(b);
	assert_int_equal(blk_open_ram(&b, UINT64_MAX - 100), -EINVAL);
	assert_int_equal(blk_open_ram(&b, 1000), 0);
	assert_int_equal(b->size, 4096);
	assert_string_equal(b->desc, "ram:4K");
	check_zero(b, 0, 4096);
	blk_close(b);
	assert_int_equal(blk_open_ram(&b, 1536 * MiB), 0);
	assert_string_equal(b->desc, "ram:1536M");
	blk_close(b);
	blk_close(NULL);
}

/* ---- file only -------------------------------------------------------- */

static void test_file_open_errors(void **state)
{
	struct blk_backend *b = (struct blk_backend *)1;
	char path[64];
	int fd;

	assert_int_equal(blk_open_file(&b, "/nonexistent/warden-disk.img", false), -ENOENT);
	assert_null(b);
	assert_int_equal(blk_open_file(&b, "/tmp", false), -EISDIR);    /* open says so */
	assert_int_equal(blk_open_file(&b, "/tmp", true), -EINVAL);     /* fstat does */
	assert_int_equal(blk_open_file(&b, "/dev/null", false), -EINVAL);
	/* Empty: not one block. */
	fd = make_temp_file("/tmp", 0, path, sizeof(path));
	assert_true(fd >= 0);
	assert_int_equal(blk_open_file(&b, path, false), -EINVAL);
	/* A tail that is not a whole sector is not part of the disk. */
	assert_int_equal(ftruncate(fd, 3 * 512 + 100), 0);
	assert_int_equal(blk_open_file(&b, path, false), 0);
	unlink(path);
	assert_int_equal(b->size, 3 * 512);
	assert_int_equal(b->block_size, 512);
	assert_non_null(strstr(b->desc, path));
	blk_close(b);
	close(fd);
}

/* The file shrinks under the disk: the part of a read past the new end of
 * file comes back as zeroes (after a short read and a resubmission that
 * lands in the middle of an iovec). */
static void test_file_read_past_eof(void **state)
{
	struct fixture *fx = *state;
	const uint64_t off = 4096, len = 64 * KiB, eof = 3 * 4096 + 100;
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	write_pattern(fx->b, 0, 128 * KiB, 21);
	assert_int_equal(ftruncate(fx->fd, (off_t)eof), 0);
	memset(buf, 0xa5, len);
	assert_int_equal(rw_split(fx->b, BLK_READ, off, buf, len, 4), 0);
	assert_pattern(buf, eof - off, 21, off);
	assert_zero(buf + (eof - off), len - (eof - off), eof);
	/* Wholly past the end. */
	check_zero(fx->b, DISK_SIZE - 8192, 8192);
	/* And writes there grow the file back. */
	write_pattern(fx->b, DISK_SIZE - 4096, 4096, 22);
	check_pattern(fx->b, DISK_SIZE - 4096, 4096, 22);
	free(buf);
}

/* RLIMIT_FSIZE cuts a write short at the limit, and the resubmitted rest
 * fails with EFBIG: the short-write path, and an error completion. */
static void test_file_short_write(void **state)
{
	struct fixture *fx = *state;
	const uint64_t limit = 8 * MiB + 4096;
	struct rlimit old, lim;
	uint8_t *buf = malloc(16 * KiB);
	int ret;

	assert_non_null(buf);
	write_pattern(fx->b, 8 * MiB, 16 * KiB, 31);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = (struct rlimit){ .rlim_cur = limit, .rlim_max = old.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	fill_pattern(buf, 16 * KiB, 32, 8 * MiB);
	ret = rw_split(fx->b, BLK_WRITE, 8 * MiB, buf, 16 * KiB, 9);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(ret, -EFBIG);
	assert_int_equal(fx->b->stats.errors, 1);
	check_pattern(fx->b, 8 * MiB, 4096, 32);
	check_pattern(fx->b, limit, 12 * KiB, 31);
	free(buf);
}

/* Far more requests than the ring has SQ (128) or CQ (256) entries. */
static void test_file_deeper_than_ring(void **state)
{
	struct fixture *fx = *state;
	enum { N = 600 };
	static struct done_rec rec[N];
	static struct blk_req req[N];
	static struct iovec iov[N];
	uint8_t *buf = malloc(N * 4096);
	unsigned done = 0;
	int ret;

	assert_non_null(buf);
	for (int pass = 0; pass < 2; pass++) {
		memset(rec, 0, sizeof(rec));
		for (unsigned i = 0; i < N; i++) {
			uint8_t *p = buf + i * 4096;

			if (pass)
				memset(p, 0xa5, 4096);
			else
				fill_pattern(p, 4096, 40, i * 8192);
			iov[i] = (struct iovec){ .iov_base = p, .iov_len = 4096 };
			req[i] = (struct blk_req){ .op = pass ? BLK_READ : BLK_WRITE, .offset = i * 8192,
						   .len = 4096, .iov = &iov[i], .iovcnt = 1,
						   .done = rec_done, .opaque = &rec[i] };
			assert_int_equal(blk_submit(fx->b, &req[i]), 0);
		}
		assert_int_equal(fx->b->inflight, N);
		for (done = 0; done < N; done += (unsigned)ret) {
			ret = blk_poll(fx->b, 1);
			assert_true(ret >= 1);
		}
		assert_int_equal(done, N);
		assert_int_equal(fx->b->inflight, 0);
		for (unsigned i = 0; i < N; i++) {
			assert_int_equal(rec[i].calls, 1);
			assert_int_equal(rec[i].result, 0);
			if (pass)
				assert_pattern(buf + i * 4096, 4096, 40, i * 8192);
		}
	}
	free(buf);
}

/* tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: write-zeroes falls
 * back to writing zeroes, more than one zero buffer's worth at a time. */
static void test_file_tmpfs_zero_fallback(void **state)
{
	struct blk_backend *b;
	struct statfs sfs;
	char path[64];
	int fd;

	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC_NR) {
		skip();
		return;
	}
	fd = make_temp_file("/dev/shm", DISK_SIZE, path, sizeof(path));
	assert_true(fd >= 0);
	assert_int_equal(blk_open_file(&b, path, false), 0);
	unlink(path);
	write_pattern(b, 0, 4 * MiB, 60);
	assert_int_equal(simple_op(b, BLK_WRITE_ZEROES, 512, 3 * MiB + 1024), 0);
	check_pattern(b, 0, 512, 60);
	check_zero(b, 512, 3 * MiB + 1024);
	check_pattern(b, 3 * MiB + 1536, MiB - 1536, 60);
	/* Again, now that the backend knows. */
	write_pattern(b, 0, 4 * MiB, 61);
	assert_int_equal(simple_op(b, BLK_WRITE_ZEROES, 4096, 4096), 0);
	check_zero(b, 4096, 4096);
	check_pattern(b, 8192, 4096, 61);
	assert_int_equal(simple_op(b, BLK_DISCARD, 0, MiB), 0);
	check_zero(b, 0, MiB);
	assert_int_equal(b->stats.errors, 0);
	blk_close(b);
	close(fd);
}

static void test_file_discard_deallocates(void **state)
{
	struct fixture *fx = *state;
	struct stat before, after;

	write_pattern(fx->b, 0, 4 * MiB, 70);
	assert_int_equal(simple_op(fx->b, BLK_FLUSH, 0, 0), 0);
	assert_int_equal(fstat(fx->fd, &before), 0);
	assert_int_equal(simple_op(fx->b, BLK_DISCARD, 0, 4 * MiB), 0);
	assert_int_equal(fstat(fx->fd, &after), 0);
	/* The disk keeps its size; the file gives its blocks back. */
	assert_int_equal(after.st_size, DISK_SIZE);
	assert_true(after.st_blocks < before.st_blocks);
	check_zero(fx->b, 0, 4 * MiB);
}

/* Closing with requests queued completes them first: their buffers are
 * the caller's, and must not be written after close returns. */
static void test_file_close_drains(void **state)
{
	struct fixture *fx = *state;
	enum { N = 16 };
	struct done_rec rec[N] = { 0 };
	struct blk_req req[N];
	struct iovec iov[N];
	uint8_t *buf = malloc(N * 4096);

	assert_non_null(buf);
	write_pattern(fx->b, 0, N * 4096, 80);
	for (unsigned i = 0; i < N; i++) {
		iov[i] = (struct iovec){ .iov_base = buf + i * 4096, .iov_len = 4096 };
		req[i] = (struct blk_req){ .op = BLK_READ, .offset = i * 4096, .len = 4096,
					   .iov = &iov[i], .iovcnt = 1, .done = rec_done,
					   .opaque = &rec[i] };
		assert_int_equal(blk_submit(fx->b, &req[i]), 0);
	}
	blk_close(fx->b);
	fx->b = NULL;
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(rec[i].calls, 1);
		assert_int_equal(rec[i].result, 0);
	}
	assert_pattern(buf, N * 4096, 80, 0);
	free(buf);
}


/* The kernel answers -EAGAIN/-EINTR: retried, then given up on with -EIO
 * (the request still completes exactly once). */
static void test_file_retry_eagain(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[8192];
	struct done_rec rec = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct blk_req req = { .op = BLK_READ, .offset = 4096, .len = sizeof(buf), .iov = &iov,
			       .iovcnt = 1, .done = rec_done, .opaque = &rec };

	write_pattern(fx->b, 4096, sizeof(buf), 90);
	inject_cqe_res = -EAGAIN;
	inject_cqe_left = 3;
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(submit_wait(fx->b, &req), 0);
	assert_int_equal(inject_cqe_left, 0);
	assert_pattern(buf, sizeof(buf), 90, 4096);

	inject_cqe_res = -EINTR;
	inject_cqe_left = 1;
	assert_int_equal(simple_op(fx->b, BLK_FLUSH, 0, 0), 0);
	inject_cqe_left = 1;
	assert_int_equal(simple_op(fx->b, BLK_WRITE_ZEROES, 0, 4096), 0);

	inject_cqe_res = -EAGAIN;
	inject_cqe_left = 1000;
	rec = (struct done_rec){ 0 };
	assert_int_equal(submit_wait(fx->b, &req), -EIO);
	assert_true(inject_cqe_left > 0);       /* gave up, did not spin on */
	inject_cqe_left = 0;
	assert_int_equal(fx->b->inflight, 0);
	assert_int_equal(fx->b->stats.errors, 1);
}

/* Completions that make no sense: a write of 0 bytes, more bytes than asked. */
static void test_file_bogus_completions(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[4096] = { 0 };

	inject_cqe_res = 0;
	inject_cqe_left = 1;
	assert_int_equal(blk_rw_sync(fx->b, BLK_WRITE, 0, buf, sizeof(buf)), -EIO);
	inject_cqe_res = 8192;
	inject_cqe_left = 1;
	assert_int_equal(blk_rw_sync(fx->b, BLK_READ, 0, buf, sizeof(buf)), -EIO);
	inject_cqe_res = -EIO;
	inject_cqe_left = 1;
	assert_int_equal(blk_rw_sync(fx->b, BLK_FLUSH, 0, NULL, 0), -EIO);
	assert_int_equal(fx->b->stats.errors, 3);
	assert_int_equal(fx->b->inflight, 0);
	/* The disk still works. */
	write_pattern(fx->b, 0, 4096, 91);
	check_pattern(fx->b, 0, 4096, 91);
}

/* A filesystem without hole punching, then without FALLOC_FL_ZERO_RANGE:
 * discard steps down to writing zeroes, and remembers. */
static void test_file_fallocate_fallbacks(void **state)
{
	struct fixture *fx = *state;

	write_pattern(fx->b, 0, 256 * KiB, 95);
	inject_cqe_res = -EOPNOTSUPP;
	inject_cqe_left = 1;                    /* punch hole refused */
	assert_int_equal(simple_op(fx->b, BLK_DISCARD, 4096, 8192), 0);
	check_zero(fx->b, 4096, 8192);
	check_pattern(fx->b, 0, 4096, 95);
	check_pattern(fx->b, 12288, 4096, 95);
	inject_cqe_left = 1;                    /* zero range refused: writes */
	assert_int_equal(simple_op(fx->b, BLK_DISCARD, 64 * KiB, 64 * KiB + 512), 0);
	check_zero(fx->b, 64 * KiB, 64 * KiB + 512);
	check_pattern(fx->b, 128 * KiB + 512, 4096, 95);
	/* Remembered: nothing left to refuse, so no completion is rewritten. */
	inject_cqe_left = 0;
	assert_int_equal(simple_op(fx->b, BLK_WRITE_ZEROES, 200 * KiB, 4096), 0);
	check_zero(fx->b, 200 * KiB, 4096);
	assert_int_equal(fx->b->stats.errors, 0);
}

/* io_uring_enter refuses submissions (-EBUSY, as with a CQ overflow it
 * cannot flush) while completions are waiting: submit stashes them without
 * calling their done, queued SQEs fill the SQ, and a request that finds the
 * SQ full is refused. Once the kernel accepts again, everything queued
 * completes exactly once. */
static void test_file_submit_refused(void **state)
{
	struct fixture *fx = *state;
	enum { EARLY = 10, N = 160 };
	static struct done_rec rec[N];
	static struct blk_req req[N];
	static struct iovec iov[N];
	uint8_t *buf = malloc(N * 4096);
	unsigned accepted = 0, refused = 0, done = 0;
	int ret;

	assert_non_null(buf);
	memset(rec, 0, sizeof(rec));
	write_pattern(fx->b, 0, N * 4096, 99);
	for (unsigned i = 0; i < N; i++) {
		memset(buf + i * 4096, 0xa5, 4096);
		iov[i] = (struct iovec){ .iov_base = buf + i * 4096, .iov_len = 4096 };
		req[i] = (struct blk_req){ .op = BLK_READ, .offset = i * 4096, .len = 4096,
					   .iov = &iov[i], .iovcnt = 1, .done = rec_done,
					   .opaque = &rec[i] };
	}
	for (unsigned i = 0; i < EARLY; i++)
		assert_int_equal(blk_submit(fx->b, &req[i]), 0);
	inject_submit_err = -EBUSY;
	inject_submit_left = -1;                /* until told otherwise */
	for (unsigned i = EARLY; i < N; i++) {
		ret = blk_submit(fx->b, &req[i]);
		if (ret == 0) {
			accepted++;
		} else {
			assert_int_equal(ret, -EAGAIN);
			refused++;
		}
	}
	/* The early ones were reaped into the stash, none completed yet. */
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(rec[i].calls, 0);
	assert_int_equal(accepted, 128);        /* the SQ's size */
	assert_int_equal(refused, N - EARLY - 128);
	assert_int_equal(fx->b->inflight, EARLY + 128);
	inject_submit_left = 0;
	for (done = 0; fx->b->inflight; done += (unsigned)ret) {
		ret = blk_poll(fx->b, 1);
		assert_true(ret >= 1);
	}
	assert_int_equal(done, EARLY + 128);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(rec[i].calls, i < EARLY + 128 ? 1 : 0);
		if (rec[i].calls) {
			assert_int_equal(rec[i].result, 0);
			assert_pattern(buf + i * 4096, 4096, 99, i * 4096);
		}
	}
	/* A transient refusal of a few calls is invisible to the submitter. */
	inject_submit_err = -EAGAIN;
	inject_submit_left = 1;
	memset(rec, 0, sizeof(rec));
	assert_int_equal(submit_wait(fx->b, &req[0]), 0);
	assert_int_equal(inject_submit_left, 0);
	free(buf);
}

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* No io_uring (seccomp, io_uring_disabled): the open fails, says so, and
 * leaves nothing open behind it. */
static void test_file_no_io_uring(void **state)
{
	struct blk_backend *b;
	char path[64];
	unsigned fds;
	int fd;

	fd = make_temp_file("/tmp", MiB, path, sizeof(path));
	assert_true(fd >= 0);
	fds = count_fds();
	inject_init_err = -EPERM;
	assert_int_equal(blk_open_file(&b, path, false), -EPERM);
	inject_init_err = 0;
	assert_null(b);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(blk_open_file(&b, path, false), 0);
	blk_close(b);
	unlink(path);
	close(fd);
}

#define BOTH(fn) \
	cmocka_unit_test_setup_teardown(fn, setup_ram, teardown), \
	cmocka_unit_test_setup_teardown(fn, setup_file, teardown)
#define FILE_ONLY(fn) cmocka_unit_test_setup_teardown(fn, setup_file, teardown)
/* Clears any fault a failed test left armed, so the next test runs clean. */
#define FAULTY(fn) cmocka_unit_test_setup_teardown(fn, setup_file, reset_injection)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_geometry),
		BOTH(test_roundtrip),
		BOTH(test_refusals),
		BOTH(test_read_only),
		BOTH(test_flush),
		BOTH(test_write_zeroes),
		BOTH(test_discard),
		BOTH(test_qd64),
		BOTH(test_resubmit_from_done),
		BOTH(test_stats),
		cmocka_unit_test(test_ram_large_is_cheap),
		cmocka_unit_test(test_ram_sizes),
		cmocka_unit_test(test_file_open_errors),
		FILE_ONLY(test_file_read_past_eof),
		FILE_ONLY(test_file_short_write),
		FILE_ONLY(test_file_deeper_than_ring),
		cmocka_unit_test(test_file_tmpfs_zero_fallback),
		cmocka_unit_test(test_file_block_device),
		FILE_ONLY(test_file_discard_deallocates),
		FILE_ONLY(test_file_close_drains),
		FAULTY(test_file_retry_eagain),
		FAULTY(test_file_bogus_completions),
		FAULTY(test_file_fallocate_fallbacks),
		FAULTY(test_file_submit_refused),
		cmocka_unit_test(test_file_no_io_uring),
	};

	/* The refusal tests provoke errors on purpose; keep their log quiet. */
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
