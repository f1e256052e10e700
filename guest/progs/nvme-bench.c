/* NVMe benchmark in ring 3 on the first NVMe controller of bus 0: 4 KiB
 * random reads and writes at QD1 and QD32, 64 KiB sequential reads at QD8.
 * One line per workload:
 *   nvme-bench: rr4k qd=1 ios=N iops=N p50_us=X.Y p99_us=X.Y exits=N exits_per_io=X.YY
 * (exits=n/a exits_per_io=n/a without Warden's stats port). Only these
 * lines and failures ("nvme-bench: FAIL ...", "nvme-bench: NAME qd=N: ...")
 * start with "nvme-bench: "; the set-up line is "nvme-bench info: ...", the
 * last "nvme-bench done: N workloads".
 * Command line: secs=S (decimals allowed: secs=0.2) or ms=M (per workload,
 * default 1 s) or ios=N (per workload),
 * irq=1 (complete by MSI-X instead of polling), seed=N (random LBAs),
 * only=NAME (one workload name). Random writes overwrite the disk.
 * The workloads, loop and output are blkbench.c's, shared with
 * virtio-bench; this file is the NVMe side of its ops table. */
#include "rt.h"
#include "nvme.h"
#include "blkbench.h"

#define VEC_NVME 0x60

static struct nvme_ctrl ctrl;
static struct blkbench_opts opts;

static int ops_submit(void *dev, bool write, uint64_t lba, uint32_t nblocks, uint64_t buf, uint32_t bytes,
		      uint64_t tag)
{
	struct nvme_ctrl *c = dev;
	struct nvme_sqe cmd;

	nvme_prep_rw(&cmd, write ? NVME_CMD_WRITE : NVME_CMD_READ, lba, nblocks);
	return nvme_submit(&c->io, &cmd, buf, bytes, tag);
}

static void ops_kick(void *dev)
{
	nvme_ring(&((struct nvme_ctrl *)dev)->io);
}

static int convert(int n, const struct nvme_done *d, struct blkbench_done *out)
{
	for (int i = 0; i < n; i++)
		out[i] = (struct blkbench_done){ d[i].tag, d[i].status };
	return n;
}

static int ops_reap(void *dev, struct blkbench_done *out, unsigned max)
{
	struct nvme_done d[BLKBENCH_MAX_QD];

	if (max > BLKBENCH_MAX_QD)
		max = BLKBENCH_MAX_QD;
	return convert(nvme_reap(&((struct nvme_ctrl *)dev)->io, d, max), d, out);
}

static int ops_wait(void *dev, struct blkbench_done *out, unsigned max, uint64_t timeout_us)
{
	struct nvme_done d[BLKBENCH_MAX_QD];

	if (max > BLKBENCH_MAX_QD)
		max = BLKBENCH_MAX_QD;
	return convert(nvme_wait(&((struct nvme_ctrl *)dev)->io, d, max, timeout_us), d, out);
}

static unsigned ops_inflight(void *dev)
{
	return ((struct nvme_ctrl *)dev)->io.inflight;
}

static void ops_state(void *dev, char *buf, size_t len)
{
	snprintf(buf, len, "CSTS 0x%x", nvme_csts(dev));
}

static long body(void *arg)
{
	(void)arg;
	struct nvme_opts o = { .bdf = -1, .io_depth = BLKBENCH_MAX_QD, .irq = opts.irq };
	int r = nvme_open(&ctrl, &o);

	if (r) {
		printf("nvme-bench: FAIL: open: %s: %s\n", nvme_err_name(r), ctrl.err);
		return 1;
	}
	char limit[40];
	blkbench_limit(&opts, limit, sizeof(limit));
	printf("nvme-bench info: '%s' %lu MiB, %u B blocks, I/O queue %u entries, %s, %s per workload, stats port %s\n",
	       ctrl.mn, (ctrl.nsze << ctrl.lba_shift) >> 20, ctrl.lba_size, ctrl.io.size,
	       opts.irq ? "MSI-X completion" : "polled completion", limit, wstats_present() ? "present" : "absent");
	const struct blkbench_dev b = {
		.prog = "nvme-bench",
		.limit_name = "MDTS",
		.dev = &ctrl,
		.block_size = ctrl.lba_size,
		.nblocks = ctrl.nsze,
		.max_xfer = ctrl.mdts_bytes,
		.max_qd = ctrl.io.nslots,
		.submit = ops_submit,
		.kick = ops_kick,
		.reap = ops_reap,
		.wait = ops_wait,
		.inflight = ops_inflight,
		.err_name = nvme_err_name,
		.state = ops_state,
	};
	return blkbench_run_all(&b, &opts);
}

int main(void)
{
	if (blkbench_parse("nvme-bench", &opts))
		return 1;
	RT_ASSERT(blkbench_alloc() == 0);
	if (opts.irq && nvme_irq_init(VEC_NVME)) {
		printf("nvme-bench: FAIL: cannot register vector 0x%x\n", VEC_NVME);
		return 1;
	}
	return (int)run_in_ring3(body, NULL);
}
