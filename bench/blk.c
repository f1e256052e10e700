/* Block backend benchmark: 4 KiB random reads at queue depth 1 and 32 on a
 * 256 MiB RAM disk and on a 256 MiB temp file (warm page cache, through
 * io_uring), with plain pread(2) on the same file as the floor to compare
 * against. Every completion's data is checked (each block starts with its
 * own index). About 6 s in all; every line says its unit. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/blk.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define DISK_SIZE (256 * MiB)
#define BLOCK 4096u
#define MAX_QD 32
#define PHASE_S 1.0

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench/blk: %s failed: %s\n", what, strerror(-ret));
	exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Each 4 KiB block starts with its index, so a read returning the wrong
 * block (or nothing) is caught rather than timed. */
static void fill_disk(struct blk_backend *b)
{
	uint8_t *buf = aligned_alloc(BLOCK, MiB);
	int ret;

	if (!buf)
		die("aligned_alloc", -ENOMEM);
	for (uint64_t off = 0; off < b->size; off += MiB) {
		for (uint64_t blk = 0; blk < MiB / BLOCK; blk++) {
			uint64_t idx = off / BLOCK + blk;

			memset(buf + blk * BLOCK, (int)(idx & 0xff), BLOCK);
			memcpy(buf + blk * BLOCK, &idx, sizeof(idx));
		}
		ret = blk_rw_sync(b, BLK_WRITE, off, buf, MiB);
		if (ret)
			die("fill write", ret);
	}
	free(buf);
}

struct slot {
	struct blk_req req;
	struct iovec iov;
	uint8_t *buf;
	bool busy;
};

struct run {
	uint64_t completed, bad;
};

static struct run cur;

static void slot_done(struct blk_req *req)
{
	struct slot *s = req->opaque;
	uint64_t idx;

	memcpy(&idx, s->buf, sizeof(idx));
	if (req->result || idx != req->offset / BLOCK)
		cur.bad++;
	cur.completed++;
	s->busy = false;
}

/* Keeps qd reads in flight for PHASE_S seconds; completions per second. */
static double bench_reads(struct blk_backend *b, unsigned qd)
{
	static struct slot slots[MAX_QD];
	uint64_t nblocks = b->size / BLOCK;
	double t0, t1;
	int ret;

	for (unsigned i = 0; i < qd; i++) {
		slots[i].buf = aligned_alloc(BLOCK, BLOCK);
		if (!slots[i].buf)
			die("aligned_alloc", -ENOMEM);
		slots[i].busy = false;
	}
	cur = (struct run){ 0 };
	t0 = now_s();
	do {
		for (unsigned i = 0; i < qd; i++) {
			struct slot *s = &slots[i];

			if (s->busy)
				continue;
			s->busy = true;
			s->iov = (struct iovec){ .iov_base = s->buf, .iov_len = BLOCK };
			s->req = (struct blk_req){
				.op = BLK_READ, .offset = (rng_next() % nblocks) * BLOCK, .len = BLOCK,
				.iov = &s->iov, .iovcnt = 1, .done = slot_done, .opaque = s,
			};
			ret = blk_submit(b, &s->req);
			if (ret)
				die("blk_submit", ret);
		}
		ret = blk_poll(b, 1);
		if (ret < 0)
			die("blk_poll", ret);
	} while (now_s() - t0 < PHASE_S);
	/* Drain, uncounted in the time but checked. */
	t1 = now_s();
	while (b->inflight)
		if ((ret = blk_poll(b, b->inflight)) < 0)
			die("blk_poll", ret);
	if (cur.bad) {
		fprintf(stderr, "bench/blk: %s: %" PRIu64 " reads returned wrong data\n", b->desc,
			cur.bad);
		exit(1);
	}
	for (unsigned i = 0; i < qd; i++)
		free(slots[i].buf);
	return (double)cur.completed / (t1 - t0);
}

static void report(const char *what, unsigned qd, double iops)
{
	printf("%-26s QD%-2u  %8.1f k IOPS  (%6.2f us/read, %5.2f GB/s)\n", what, qd, iops / 1e3,
	       1e6 / iops, iops * BLOCK / 1e9);
}

/* The same reads with pread(2), one at a time: the cost of the syscall and
 * the page-cache copy alone, for judging the backend's overhead. */
static double bench_pread(int fd)
{
	uint8_t *buf = aligned_alloc(BLOCK, BLOCK);
	uint64_t n = 0, nblocks = DISK_SIZE / BLOCK, idx;
	double t0 = now_s(), t;

	if (!buf)
		die("aligned_alloc", -ENOMEM);
	do {
		uint64_t blk = rng_next() % nblocks;

		if (pread(fd, buf, BLOCK, (off_t)(blk * BLOCK)) != BLOCK)
			die("pread", -errno);
		memcpy(&idx, buf, sizeof(idx));
		if (idx != blk)
			die("pread data check", -EIO);
		n++;
	} while ((t = now_s()) - t0 < PHASE_S / 2);
	free(buf);
	return (double)n / (t - t0);
}

int main(void)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct blk_backend *ram, *file;
	char path[256];
	int fd, ret;

	printf("Warden block backend benchmark (4 KiB random reads, %llu MiB disks)\n",
	       (unsigned long long)(DISK_SIZE / MiB));

	ret = blk_open_ram(&ram, DISK_SIZE);
	if (ret)
		die("blk_open_ram", ret);
	fill_disk(ram);
	report(ram->desc, 1, bench_reads(ram, 1));
	report(ram->desc, 32, bench_reads(ram, 32));
	blk_close(ram);

	snprintf(path, sizeof(path), "%s/warden-bench-blk-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp", -errno);
	if (ftruncate(fd, DISK_SIZE) < 0)
		die("ftruncate", -errno);
	ret = blk_open_file(&file, path, false);
	unlink(path);
	if (ret)
		die("blk_open_file", ret);
	/* Written through the backend, so every block is in the page cache. */
	fill_disk(file);
	report("file (page cache)", 1, bench_reads(file, 1));
	report("file (page cache)", 32, bench_reads(file, 32));
	report("pread(2), same file", 1, bench_pread(fd));
	blk_close(file);
	close(fd);
	return 0;
}
