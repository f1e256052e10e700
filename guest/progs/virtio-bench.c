/* virtio-blk benchmark in ring 3 on the first virtio-blk function of bus 0:
 * exactly nvme-bench's workloads, loop and output (blkbench.c), so the two
 * compare line by line:
 *   virtio-bench: rr4k qd=1 ios=N iops=N p50_us=X.Y p99_us=X.Y exits=N exits_per_io=X.YY
 * plus "virtio-bench info: ..." first and "virtio-bench done: N workloads"
 * last. Command line as nvme-bench (secs=, ms=, ios=, irq=1, seed=,
 * only=), and for experiments indirect=auto|off|always (descriptor
 * tables; auto: for chains of more than one data segment, i.e. sr64k),
 * event_idx=0 (do not negotiate VIRTIO_F_RING_EVENT_IDX). Buffers are split
 * into one descriptor per 4 KiB page (one per request on a ring too small
 * for that without indirect tables). Random writes overwrite the disk. */
#include "rt.h"
#include "virtio_blk.h"
#include "blkbench.h"

#define VEC_VBLK 0x60

static struct vblk_dev dev;
static struct blkbench_opts opts;

static int ops_submit(void *d, bool write, uint64_t lba, uint32_t nblocks, uint64_t buf, uint32_t bytes,
		      uint64_t tag)
{
	(void)nblocks;
	return vblk_submit(d, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, lba, buf, bytes, tag);
}

static void ops_kick(void *d)
{
	vblk_kick(d);
}

static int convert(int n, const struct vblk_done *v, struct blkbench_done *out)
{
	for (int i = 0; i < n; i++)
		out[i] = (struct blkbench_done){ v[i].tag, v[i].status };
	return n;
}

static int ops_reap(void *d, struct blkbench_done *out, unsigned max)
{
	struct vblk_done v[BLKBENCH_MAX_QD];

	if (max > BLKBENCH_MAX_QD)
		max = BLKBENCH_MAX_QD;
	return convert(vblk_reap(d, v, max), v, out);
}

static int ops_wait(void *d, struct blkbench_done *out, unsigned max, uint64_t timeout_us)
{
	struct vblk_done v[BLKBENCH_MAX_QD];

	if (max > BLKBENCH_MAX_QD)
		max = BLKBENCH_MAX_QD;
	return convert(vblk_wait(d, v, max, timeout_us), v, out);
}

static unsigned ops_inflight(void *d)
{
	return ((struct vblk_dev *)d)->inflight;
}

static void ops_state(void *d, char *buf, size_t len)
{
	snprintf(buf, len, "device status 0x%x", vblk_status(d));
}

static long body(void *arg)
{
	const struct vblk_opts *o = arg;
	int r = vblk_open(&dev, o);

	if (r) {
		printf("virtio-bench: FAIL: open: %s: %s\n", vblk_result_name(r), dev.err);
		return 1;
	}
	/* A request takes 2 + pages descriptors: in the ring without indirect
	 * tables, and at most seg_max data segments either way. Where that
	 * does not fit, one data descriptor per request. */
	const char *segmode = "a descriptor per page";
	unsigned max_qd = dev.depth, pages = BLKBENCH_MAX_BYTES / 4096;
	if ((!dev.vq.indirect_ok && dev.vq.size < dev.depth * (pages + 2)) || dev.max_segs < pages) {
		dev.opts.seg_bytes = VBLK_SEG_CONTIG;
		segmode = "one data descriptor per request (small ring or seg_max)";
	}
	if (!dev.vq.indirect_ok && max_qd > dev.vq.size / 3u)
		max_qd = dev.vq.size / 3u;
	char id[VIRTIO_BLK_ID_BYTES + 1], limit[40];
	if (vblk_get_id(&dev, id) != VIRTIO_BLK_S_OK)
		snprintf(id, sizeof(id), "?");
	blkbench_limit(&opts, limit, sizeof(limit));
	static const char *const ind_names[] = { "auto", "off", "always" };
	printf("virtio-bench info: '%s' %lu MiB, %u B blocks, queue %u entries, event_idx %s, indirect %s, %s, %s, "
	       "%s per workload, stats port %s\n",
	       id, dev.capacity >> 11, dev.blk_size, dev.vq.size, dev.vq.event_idx ? "on" : "off",
	       dev.vq.indirect_ok ? ind_names[dev.opts.indirect] : "not negotiated", segmode,
	       opts.irq ? "MSI-X completion" : "polled completion", limit, wstats_present() ? "present" : "absent");
	/* Buffers are page-aligned: a segment is a page or, contiguous, the
	 * whole transfer; size_max bounds either (0: no transfer limit). */
	uint64_t per_seg = dev.opts.seg_bytes == VBLK_SEG_CONTIG ? dev.size_max : 4096;
	if (dev.size_max && per_seg > dev.size_max)
		per_seg = dev.size_max;
	const struct blkbench_dev b = {
		.prog = "virtio-bench",
		.limit_name = "seg_max",
		.dev = &dev,
		.block_size = VBLK_SECTOR,
		.nblocks = dev.capacity,
		.max_xfer = per_seg * dev.max_segs,
		.max_qd = max_qd,
		.submit = ops_submit,
		.kick = ops_kick,
		.reap = ops_reap,
		.wait = ops_wait,
		.inflight = ops_inflight,
		.err_name = vblk_result_name,
		.state = ops_state,
	};
	return blkbench_run_all(&b, &opts);
}

int main(void)
{
	static struct vblk_opts o = { .bdf = -1, .depth = BLKBENCH_MAX_QD };
	char arg[16];
	uint64_t v;

	if (blkbench_parse("virtio-bench", &opts))
		return 1;
	o.irq = opts.irq;
	if (rt_cmdline_get("indirect", arg, sizeof(arg)) >= 0) {
		if (!strcmp(arg, "off") || !strcmp(arg, "0"))
			o.indirect = VBLK_INDIRECT_OFF;
		else if (!strcmp(arg, "always") || !strcmp(arg, "1"))
			o.indirect = VBLK_INDIRECT_ALWAYS;
		else if (strcmp(arg, "auto")) {
			printf("virtio-bench: FAIL: indirect=%s: not auto, off or always\n", arg);
			return 1;
		}
	}
	if (rt_cmdline_u64("event_idx", &v) && v == 0)
		o.features_off |= VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
	RT_ASSERT(blkbench_alloc() == 0);
	if (opts.irq && vblk_irq_init(VEC_VBLK)) {
		printf("virtio-bench: FAIL: cannot register vectors 0x%x/0x%x\n", VEC_VBLK, VEC_VBLK + 1);
		return 1;
	}
	return (int)run_in_ring3(body, &o);
}
