/* nvme_direct: the direct-device limit. Warden's NVMe controller model
 * (src/devices/nvme*.c) attached as in passthrough - its engine thread
 * polling a doorbell page, DMA through a host IOMMU domain holding exactly
 * the "guest" RAM at IOVA = GPA - but with no VM: a host thread plays the
 * guest driver. It builds SQ entries and PRP lists in a small guest-RAM
 * arena, writes the doorbell page as the guest's stores into the exit-free
 * window do, and polls the CQ phase tags, with the queue layout and batching
 * of guest/rt/nvme.c (one queue pair of 33 entries; per batch of
 * completions one CQ head doorbell, then the resubmissions and one SQ tail
 * doorbell). The workloads, LBA sequence, latency sampling and output are
 * those of guest/rt/blkbench.c, so its lines compare with nvme-bench's:
 *   nvme-direct: rr4k qd=1 ios=N iops=N p50_us=X.Y p99_us=X.Y exits=0 exits_per_io=0.00 cpu_us_per_io=X.YY
 * cpu_us_per_io: this process's user+sys CPU time (getrusage: the driver
 * thread and the engine thread) over the workload, per I/O.
 *
 *   usage: nvme_direct [--secs S] [--ios N] [--backend ram|FILE] [--size MiB]
 *                      [--dma iommu|direct] [--only NAME] [--seed N]
 * --backend FILE drives the file through the io_uring backend (as --disk
 * path=FILE); ram (default) a --size MiB RAM disk (default 256).
 * --dma direct skips the IOMMU (as the emulated attachment's DMA). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "base/log.h"
#include "devices/nvme.h"
#include "iommu/iommu.h"

#define MiB (1ull << 20)
#define RAM_SIZE     (64 * MiB)        /* the guest-RAM arena */
#define SID          0x0018            /* 00:03.0, where Warden puts the first disk */
#define MAX_QD       32
#define QSIZE        (MAX_QD + 1)      /* as the guest driver: depth + 1 entries */
#define MAX_BYTES    (64u * 1024)
#define ADMIN_DEPTH  32
#define MAX_SAMPLES  65536u
#define STALL_NS     5000000000ull

/* Guest-physical layout. */
#define G_ASQ        0x10000ull
#define G_ACQ        0x20000ull
#define G_IDENT      0x30000ull
#define G_SQ         0x100000ull
#define G_CQ         0x200000ull
#define G_PRPL       0x300000ull        /* one PRP list page per slot */
#define G_DATA       0x1000000ull       /* MAX_QD buffers of MAX_BYTES */

struct workload {
	const char *name;
	bool write;
	bool random;
	uint32_t bytes;
	unsigned qd;
};

static const struct workload workloads[] = {
	{ "rr4k", false, true, 4096, 1 },
	{ "rr4k", false, true, 4096, 32 },
	{ "rw4k", true, true, 4096, 1 },
	{ "rw4k", true, true, 4096, 32 },
	{ "sr64k", false, false, 65536, 8 },
};

struct drv {
	struct arena a;
	struct gmem g;
	struct iommu mmu;
	struct iommu_domain *dom;
	bool use_iommu;
	struct dma_as as;
	struct blk_backend *blk;
	struct nvme_pci n;
	uint32_t *db;                   /* the doorbell page */
	struct nvme_sqe *asq, *sq;
	volatile struct nvme_cqe *acq, *cq;
	uint16_t asq_tail, acq_head, sq_tail, cq_head;
	bool aphase, phase;
	uint16_t next_cid;
	uint32_t lba_shift;
	uint64_t nsze;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;   /* blkbench's seed */
static uint64_t *samples;

static void die(const char *what, long r)
{
	fprintf(stderr, "nvme_direct: %s failed: %ld (%s)\n", what, r, r < 0 ? strerror((int)-r) : "status");
	exit(1);
}

#define CHECK(call) do { long r__ = (call); if (r__) die(#call, r__); } while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void *gp(struct drv *d, uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(&d->g, gpa, len);

	if (!p)
		die("gmem_gpa_to_ptr", -EFAULT);
	return p;
}

/* A doorbell store into the exit-free page: what the guest's MMIO write
 * to BAR0 + 0x1000 + 4 * slot amounts to in passthrough. */
static void ring(struct drv *d, unsigned slot, uint32_t v)
{
	__atomic_store_n(&d->db[slot], v, __ATOMIC_RELEASE);
}

static uint32_t reg32(struct drv *d, uint64_t off)
{
	uint64_t v;

	nvme_ctrl_reg_read(&d->n.ctrl, off, &v, 4);
	return (uint32_t)v;
}

/* One admin command, synchronously (set-up only). */
static uint16_t admin(struct drv *d, struct nvme_sqe s)
{
	uint64_t t0 = now_ns();

	s.cid = d->next_cid++;
	d->asq[d->asq_tail] = s;
	d->asq_tail = (uint16_t)((d->asq_tail + 1) % ADMIN_DEPTH);
	ring(d, 0, d->asq_tail);
	for (;;) {
		volatile struct nvme_cqe *e = &d->acq[d->acq_head];
		uint16_t st = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);
		if ((st & 1) == d->aphase) {
			if (++d->acq_head == ADMIN_DEPTH) {
				d->acq_head = 0;
				d->aphase = !d->aphase;
			}
			ring(d, 1, d->acq_head);
			return st >> 1;
		}
		if (now_ns() - t0 > STALL_NS)
			die("admin command (no completion in 5 s)", -ETIMEDOUT);
		__builtin_ia32_pause();
	}
}

static void setup(struct drv *d, const char *backend, uint64_t size)
{
	struct nvme_pci_config cfg;
	uint64_t t0;

	log_threshold = LOG_WARN;
	CHECK(arena_init(&d->a, RAM_SIZE + 64 * MiB, 16 * MiB));
	CHECK(gmem_init(&d->g, &d->a, 1, RAM_SIZE));
	if (d->use_iommu) {
		/* As machine_disk.c does for a passthrough disk. */
		CHECK(iommu_init(&d->mmu, &d->a, NULL));
		CHECK(iommu_domain_create(&d->mmu, 1, 48, &d->dom));
		CHECK(iommu_domain_map_gmem(d->dom, &d->g));
		CHECK(iommu_domain_attach(d->dom, SID, 0));
		dma_as_init_vtd(&d->as, &d->mmu.unit, &d->a, SID);
	} else {
		dma_as_init_direct(&d->as, &d->g, SID);
	}
	if (!strcmp(backend, "ram"))
		CHECK(blk_open_ram(&d->blk, size));
	else
		CHECK(blk_open_file(&d->blk, backend, false));
	d->db = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (d->db == MAP_FAILED)
		die("mmap", -errno);
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "direct";
	cfg.backend = d->blk;
	cfg.max_ioqs = 4;
	cfg.mqes = 1023;
	cfg.passthrough = true;
	cfg.doorbell_page = d->db;
	cfg.dma = &d->as;
	cfg.serial = "WARDEN-DIRECT";
	CHECK(nvme_pci_init(&d->n, &cfg));
	/* Memory decode and Bus Master Enable, as the guest's PCI set-up. */
	pci_config_write(nvme_pci_dev(&d->n), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	CHECK(nvme_pci_start(&d->n));

	/* Controller enable: these are the trapped register accesses. */
	d->asq = gp(d, G_ASQ, ADMIN_DEPTH * 64);
	d->acq = gp(d, G_ACQ, ADMIN_DEPTH * 16);
	d->sq = gp(d, G_SQ, QSIZE * 64);
	d->cq = gp(d, G_CQ, QSIZE * 16);
	memset((void *)d->acq, 0, ADMIN_DEPTH * 16);
	memset((void *)d->cq, 0, QSIZE * 16);
	nvme_ctrl_reg_write(&d->n.ctrl, NVME_REG_AQA, (ADMIN_DEPTH - 1) | (ADMIN_DEPTH - 1) << 16, 4);
	nvme_ctrl_reg_write(&d->n.ctrl, NVME_REG_ASQ, G_ASQ, 8);
	nvme_ctrl_reg_write(&d->n.ctrl, NVME_REG_ACQ, G_ACQ, 8);
	nvme_ctrl_reg_write(&d->n.ctrl, NVME_REG_CC,
			    NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT, 4);
	t0 = now_ns();
	while (!(reg32(d, NVME_REG_CSTS) & NVME_CSTS_RDY))
		if (now_ns() - t0 > STALL_NS)
			die("controller enable (CSTS.RDY)", -ETIMEDOUT);
	d->aphase = d->phase = true;
	d->next_cid = 0x100;

	/* Identify Namespace 1: size and LBA format, as the guest learns them. */
	struct nvme_sqe s = { .opcode = NVME_ADM_IDENTIFY, .nsid = NVME_NSID, .prp1 = G_IDENT,
			      .cdw10 = NVME_ID_CNS_NS };
	CHECK(admin(d, s));
	const uint8_t *id = gp(d, G_IDENT, 4096);
	memcpy(&d->nsze, id + NVME_IDNS_NSZE, 8);
	uint32_t lbaf;
	memcpy(&lbaf, id + NVME_IDNS_LBAF0 + 4 * (id[NVME_IDNS_FLBAS] & 0xf), 4);
	d->lba_shift = (lbaf >> 16) & 0xff;

	/* I/O queue pair 1, polled (no interrupt), as nvme-bench's. */
	s = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_CQ, .prp1 = G_CQ,
			       .cdw10 = 1 | (uint32_t)(QSIZE - 1) << 16, .cdw11 = NVME_QUEUE_PHYS_CONTIG };
	CHECK(admin(d, s));
	s = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_SQ, .prp1 = G_SQ,
			       .cdw10 = 1 | (uint32_t)(QSIZE - 1) << 16,
			       .cdw11 = NVME_QUEUE_PHYS_CONTIG | 1u << 16 };
	CHECK(admin(d, s));
}

static void teardown(struct drv *d)
{
	nvme_pci_stop(&d->n);
	nvme_pci_destroy(&d->n);
	blk_close(d->blk);
	munmap(d->db, 4096);
	if (d->use_iommu) {
		iommu_domain_detach(d->dom, SID);
		iommu_domain_destroy(d->dom);
		iommu_destroy(&d->mmu);
	}
	if (arena_check_canaries(&d->a))
		die("arena_check_canaries", -EFAULT);
	gmem_destroy(&d->g);
	arena_destroy(&d->a);
}

struct run_state {
	uint64_t next_lba, lba_span;
	uint32_t nblocks;
	uint64_t submitted, completed, nsamples;
	uint64_t t_submit[MAX_QD];
};

/* Writes slot's command into the SQ (without ringing): PRP1, and PRP2 as
 * the second page or a PRP list, as guest/rt/nvme.c builds them. */
static void submit_one(struct drv *d, const struct workload *w, struct run_state *s, unsigned slot)
{
	uint64_t unit = w->random ? xorshift() % s->lba_span : s->next_lba++ % s->lba_span;
	uint64_t buf = G_DATA + (uint64_t)slot * MAX_BYTES, slba = unit * s->nblocks;
	struct nvme_sqe e = { .opcode = w->write ? NVME_CMD_WRITE : NVME_CMD_READ, .cid = (uint16_t)slot,
			      .nsid = NVME_NSID, .prp1 = buf, .cdw10 = (uint32_t)slba,
			      .cdw11 = (uint32_t)(slba >> 32), .cdw12 = s->nblocks - 1 };
	unsigned pages = w->bytes / NVME_PAGE_SIZE;

	s->t_submit[slot] = now_ns();
	if (pages == 2) {
		e.prp2 = buf + NVME_PAGE_SIZE;
	} else if (pages > 2) {
		uint64_t list = G_PRPL + (uint64_t)slot * NVME_PAGE_SIZE, *l = gp(d, list, NVME_PAGE_SIZE);
		for (unsigned i = 1; i < pages; i++)
			l[i - 1] = buf + (uint64_t)i * NVME_PAGE_SIZE;
		e.prp2 = list;
	}
	d->sq[d->sq_tail] = e;
	d->sq_tail = (uint16_t)((d->sq_tail + 1) % QSIZE);
	s->submitted++;
}

static void record(struct run_state *s, uint64_t lat)
{
	if (s->nsamples < MAX_SAMPLES) {
		samples[s->nsamples++] = lat;
		return;
	}
	uint64_t j = xorshift() % (s->completed + 1);
	if (j < MAX_SAMPLES)
		samples[j] = lat;
	s->nsamples++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void fmt_us(char *buf, size_t len, uint64_t ns)
{
	uint64_t tenths = (ns + 50) / 100;

	snprintf(buf, len, "%" PRIu64 ".%" PRIu64, tenths / 10, tenths % 10);
}

static void run(struct drv *d, const struct workload *w, uint64_t ms, uint64_t ios)
{
	struct run_state s;
	unsigned qd = w->qd, inflight = 0;
	char p50[24] = "0.0", p99[24] = "0.0";

	memset(&s, 0, sizeof(s));
	s.nblocks = w->bytes >> d->lba_shift;
	s.lba_span = d->nsze / s.nblocks;
	fflush(stdout);
	uint64_t c0 = cpu_ns(), t0 = now_ns(), end = ios ? ~0ull : t0 + ms * 1000000ull, last = t0;
	bool stop = false;
	unsigned prime = ios && ios < qd ? (unsigned)ios : qd;

	for (unsigned i = 0; i < prime; i++, inflight++)
		submit_one(d, w, &s, i);
	ring(d, 2, d->sq_tail);
	while (inflight) {
		unsigned done[MAX_QD], n = 0;

		/* Reap a batch: every CQ entry whose phase matches, then one
		 * head doorbell, as the guest driver's process_cq. */
		while (n < MAX_QD) {
			volatile struct nvme_cqe *e = &d->cq[d->cq_head];
			uint16_t st = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);
			if ((st & 1) != d->phase)
				break;
			if (st >> 1)
				die(w->write ? "write (completion status)" : "read (completion status)", st >> 1);
			if (e->cid >= MAX_QD)
				die("completion with a cid never used", e->cid);
			done[n++] = e->cid;
			if (++d->cq_head == QSIZE) {
				d->cq_head = 0;
				d->phase = !d->phase;
			}
		}
		uint64_t now = now_ns();
		if (!n) {
			if (now - last > STALL_NS)
				die("I/O (no completion in 5 s)", -ETIMEDOUT);
			__builtin_ia32_pause();
			continue;
		}
		ring(d, 3, d->cq_head);
		last = now;
		if (now >= end)
			stop = true;
		for (unsigned k = 0; k < n; k++) {
			unsigned slot = done[k];
			record(&s, now - s.t_submit[slot]);
			s.completed++;
			inflight--;
			if (ios && s.submitted >= ios)
				stop = true;
			if (!stop) {
				submit_one(d, w, &s, slot);
				inflight++;
			}
		}
		ring(d, 2, d->sq_tail);
	}
	uint64_t elapsed = now_ns() - t0, cpu = cpu_ns() - c0;

	uint64_t n = s.nsamples < MAX_SAMPLES ? s.nsamples : MAX_SAMPLES;
	qsort(samples, n, sizeof(uint64_t), cmp_u64);
	if (n) {
		fmt_us(p50, sizeof(p50), samples[(n - 1) * 50 / 100]);
		fmt_us(p99, sizeof(p99), samples[(n - 1) * 99 / 100]);
	}
	uint64_t iops = elapsed ? s.completed * 1000000000ull / elapsed : 0;
	printf("nvme-direct: %s qd=%u ios=%" PRIu64 " iops=%" PRIu64 " p50_us=%s p99_us=%s exits=0 exits_per_io=0.00 "
	       "cpu_us_per_io=%.3f\n", w->name, qd, s.completed, iops, p50, p99,
	       s.completed ? (double)cpu / 1000.0 / (double)s.completed : 0.0);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: nvme_direct [--secs S] [--ios N] [--backend ram|FILE] [--size MiB] "
			"[--dma iommu|direct] [--only NAME] [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct drv d;
	const char *backend = "ram", *only = NULL;
	uint64_t ms = 1000, ios = 0, size = 256 * MiB;
	unsigned ran = 0;

	d.use_iommu = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--secs"))
			ms = (uint64_t)(strtod(v, NULL) * 1000.0 + 0.5);
		else if (!strcmp(a, "--ios"))
			ios = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--backend"))
			backend = v;
		else if (!strcmp(a, "--size"))
			size = strtoull(v, NULL, 0) * MiB;
		else if (!strcmp(a, "--dma") && (!strcmp(v, "iommu") || !strcmp(v, "direct")))
			d.use_iommu = !strcmp(v, "iommu");
		else if (!strcmp(a, "--only"))
			only = v;
		else if (!strcmp(a, "--seed"))
			rng = strtoull(v, NULL, 0) ? strtoull(v, NULL, 0) : rng;
		else
			usage();
	}
	if ((!ms && !ios) || !size)
		usage();
	samples = calloc(MAX_SAMPLES, sizeof(uint64_t));
	if (!samples)
		die("calloc", -ENOMEM);
	setup(&d, backend, size);
	printf("nvme-direct info: %s, %" PRIu64 " MiB, %u B blocks, I/O queue %u entries, polled completion, DMA %s, "
	       "%" PRIu64 " %s per workload, no VM: a host thread drives the passthrough engine\n",
	       d.blk->desc, (d.nsze << d.lba_shift) >> 20, 1u << d.lba_shift, QSIZE,
	       d.use_iommu ? "through a host IOMMU domain" : "direct", ios ? ios : ms, ios ? "I/Os" : "ms");
	for (unsigned i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		if (only && strcmp(only, workloads[i].name))
			continue;
		run(&d, &workloads[i], ms, ios);
		ran++;
	}
	struct nvme_pci_stats st;
	nvme_pci_stats(&d.n, &st);
	printf("nvme-direct info: engine %" PRIu64 " polls (%" PRIu64 " busy), %" PRIu64 " sleeps, CPU %.1f%% of %.3f s\n",
	       st.engine.polls, st.engine.busy_polls, st.engine.idle_sleeps,
	       st.engine.wall_ns ? 100.0 * (double)st.engine.cpu_ns / (double)st.engine.wall_ns : 0.0,
	       (double)st.engine.wall_ns / 1e9);
	teardown(&d);
	free(samples);
	printf("nvme-direct done: %u workloads\n", ran);
	return ran ? 0 : 1;
}
