/* Block-device benchmark shared by nvme-bench and virtio-bench: the same
 * workloads (4 KiB random read and write at QD1 and QD32, 64 KiB sequential
 * read at QD8), the same command line and the same output, over an ops
 * table a driver fills in. Runs in ring 3 (run_in_ring3).
 *
 * One line per workload, PROG being the program's name:
 *   PROG: rr4k qd=1 ios=N iops=N p50_us=X.Y p99_us=X.Y exits=N exits_per_io=X.YY
 * (exits=n/a exits_per_io=n/a without Warden's stats port). Only these and
 * failures ("PROG: FAIL ...", "PROG: NAME qd=N: ...") start with "PROG: ";
 * the program prints its own "PROG info: ..." line, blkbench_run_all the
 * last, "PROG done: N workloads".
 * Command line: secs=S (decimals allowed: secs=0.2) or ms=M (per workload,
 * default 1 s) or ios=N (per workload), irq=1 (the program completes by
 * MSI-X), seed=N (random LBAs), only=NAME (one workload name), and for
 * scripts/bench.sh:
 *   marks=1   "PROG mark: begin NAME qd=N" right before a workload's first
 *             submission and a line "~" right after its last completion,
 *             so a host watching the console can sample the VMM's CPU time
 *             and exit counters over that window. The end marker is short
 *             because its own printing (an exit per byte) falls inside the
 *             window; the result line comes 2 ms later, so a host that
 *             reads the marker a little late does not count its exits.
 *   viommu=1  behind the first DMAR unit (rt/vtd.h): every mass-storage
 *             function on bus 0 is put in one domain that maps the
 *             driver's own memory (queues, rings, PRP lists) at IOVA = GPA
 *             but not the data buffers; each I/O maps its buffer at an IOVA
 *             of its own before submission (read-only for writes,
 *             write-only for reads) and unmaps it strictly (clear,
 *             page-selective invalidation, wait) when it completes, before
 *             its latency is taken - as Linux's strict DMA API mode does.
 *             viommu_inv=qi (default, queued invalidation when the unit has
 *             it) or reg (register-based). Without a DMAR the program prints
 *             "PROG: viommu unavailable: ..." and fails.
 * With viommu=1, "PROG info: viommu: ..." lines say how the unit was set up
 * (before the first workload) and, after the last, how many maps, unmaps
 * and invalidations (by interface) were issued. */
#ifndef GUEST_RT_BLKBENCH_H
#define GUEST_RT_BLKBENCH_H

#include "rt.h"

#define BLKBENCH_MAX_QD    32
#define BLKBENCH_MAX_BYTES (64u * 1024)
#define BLKBENCH_STALL_US  5000000ull

struct blkbench_done {
	uint64_t tag;                   /* what submit was given */
	int status;                     /* 0: success */
};

/* The device under test, as the benchmark sees it. */
struct blkbench_dev {
	const char *prog;               /* line prefix: "nvme-bench" */
	const char *limit_name;         /* the transfer limit, for "skipped": "MDTS" */
	void *dev;
	uint32_t block_size;            /* bytes per LBA (power of two) */
	uint64_t nblocks;
	uint64_t max_xfer;              /* bytes, 0: no limit */
	unsigned max_qd;                /* requests in flight at most */
	/* One read or write of nblocks at lba through buf (bytes long); >= 0
	 * submitted (visible to the device after kick), < 0 an error. */
	int (*submit)(void *dev, bool write, uint64_t lba, uint32_t nblocks, uint64_t buf, uint32_t bytes,
		      uint64_t tag);
	void (*kick)(void *dev);
	/* Up to max completions without waiting (0 if none) / waiting up to
	 * timeout_us for one (interrupt mode); < 0 a driver error. */
	int (*reap)(void *dev, struct blkbench_done *out, unsigned max);
	int (*wait)(void *dev, struct blkbench_done *out, unsigned max, uint64_t timeout_us);
	unsigned (*inflight)(void *dev);
	const char *(*err_name)(int r);
	/* The device state for a failure message: "CSTS 0x1". */
	void (*state)(void *dev, char *buf, size_t len);
};

struct blkbench_opts {
	uint64_t ms;                    /* per workload (default 1000) */
	uint64_t ios;                   /* per workload instead, 0: by time */
	bool irq;
	bool marks;                     /* marks=1: window markers for the host */
	bool viommu;                    /* viommu=1: strict map/unmap per I/O */
	bool viommu_reg;                /* viommu_inv=reg: register-based invalidation */
	char only[16];                  /* "" or one workload name */
};

/* Reads secs=/ms=/ios=/seed=/irq=/only=/marks=/viommu=/viommu_inv= from
 * the command line; prints
 * "PROG: FAIL: ..." and returns -1 when malformed. */
int blkbench_parse(const char *prog, struct blkbench_opts *o);
/* BLKBENCH_MAX_QD buffers of BLKBENCH_MAX_BYTES and the latency sample
 * array; call once (ring 0 or 3) before blkbench_run_all. 0 or -1. */
int blkbench_alloc(void);
/* "200 ms" or "1000 I/Os": the per-workload limit, for the info line. */
void blkbench_limit(const struct blkbench_opts *o, char *buf, size_t len);
/* Runs every workload (or only=NAME), one line each, then "PROG done:".
 * With viommu=1 it first puts the device behind the guest IOMMU (the
 * device is idle then; its queues stay reachable at IOVA = GPA). 0, or 1
 * after a failure (reported). */
int blkbench_run_all(const struct blkbench_dev *b, const struct blkbench_opts *o);

#endif
