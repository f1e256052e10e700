/* attack-stale: a translation the guest removed but did not invalidate.
 *
 * Lazy unmap: map IOVA -> page, DMA through it (the unit caches the
 * translation), clear the PTE without any invalidation, hand the page to a
 * "new owner" (a secret pattern), then aim writes and a read at the IOVA:
 * whatever gets through is the window a lazy driver leaves open, measured
 * in bytes. Then the strict path closes it - page-selective IOTLB
 * invalidation followed by an invalidation wait - and the same write and
 * read must be blocked (fault 0x05 / 0x06). Second part: a strict unmap
 * straight away (cleared, invalidated, waited for) leaves no window at all.
 *
 * The window is the guest's own doing and reaches only the guest's own page
 * (the host stage maps exactly its RAM); the outcome is blocked when the
 * strict steps block. Command line: rounds=N window writes (default 16 on
 * Warden, 2 under QEMU, whose edu takes 100 ms per transfer). */
#include "attack.h"

#define IOVA_LAZY   0x03000000ul
#define IOVA_STRICT 0x03100000ul
#define SEED        0x57a1e00000ul

static struct attack A;

/* A transfer the mapping allows must work: the control that makes the
 * blocked results mean something. */
static int control(struct attack *a, uint64_t iova, uint64_t page, uint64_t seed)
{
	int r;

	if (attack_load(a, seed))
		return -1;
	r = attack_dma_write(a, iova, a->xfer);
	if (r || !attack_holds(page, seed, a->xfer))
		return attack_fail(a, "control DMA through mapped IOVA 0x%lx: %s, data %s", iova, edu_err_name(r),
				   attack_holds(page, seed, a->xfer) ? "landed" : "missing");
	r = attack_dma_read(a, iova, a->xfer);
	if (r)
		return attack_fail(a, "control read through mapped IOVA 0x%lx: %s", iova, edu_err_name(r));
	return 0;
}

/* Writes through the stale IOVA, the page re-filled with the new owner's
 * secret before each; the bytes that reached it. */
static uint64_t window_writes(struct attack *a, uint64_t page, unsigned rounds, uint64_t *rounds_hit)
{
	uint64_t bytes = 0;

	if (attack_load(a, SEED + 0x10))
		return 0;
	for (unsigned i = 0; i < rounds; i++) {
		attack_fill(page, SEED + 0x20 + i, a->xfer);
		attack_dma_write(a, IOVA_LAZY, a->xfer);
		if (attack_holds(page, SEED + 0x10, a->xfer)) {
			bytes += a->xfer;
			(*rounds_hit)++;
		}
	}
	return bytes;
}

static long body(struct attack *a)
{
	uint64_t lazy, strict, v, hit = 0, t_unmap, t_inv;
	unsigned rounds;
	int r;

	if (attack_open(a, ATTACK_QI))
		return -1;
	rounds = a->dev.ext ? 16 : 2;
	if (rt_cmdline_u64("rounds", &v) && v >= 1 && v <= 4096)
		rounds = (unsigned)v;
	if (!(lazy = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)) || !(strict = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)))
		return -1;

	/* ---- lazy unmap: the window ---- */
	if ((r = vtd_map(&a->dom, IOVA_LAZY, lazy, ATTACK_PAGE, VTD_R | VTD_W)))
		return attack_fail(a, "map: %s: %s", vtd_err_name(r), a->unit.err);
	if (control(a, IOVA_LAZY, lazy, SEED + 1))
		return -1;
	if ((r = vtd_unmap(&a->dom, IOVA_LAZY, ATTACK_PAGE, VTD_UNMAP_LAZY)))
		return attack_fail(a, "lazy unmap: %s: %s", vtd_err_name(r), a->unit.err);
	t_unmap = now_ns();
	uint64_t wbytes = window_writes(a, lazy, rounds, &hit);
	/* The new owner's secret, read through the stale translation. */
	attack_fill(lazy, SEED + 0x30, a->xfer);
	if (attack_load(a, SEED + 0x31))
		return -1;
	attack_dma_read(a, IOVA_LAZY, a->xfer);
	uint64_t rbytes = attack_buffer_equals(a, lazy, a->xfer) ? a->xfer : 0;
	struct vtd_fault f[16];
	int nf = attack_faults(a, f, 16, 0);
	attack_step(a, wbytes || rbytes ? ATTACK_WINDOW : ATTACK_BLOCKED, "lazy-unmap-window",
		    "PTE cleared, no invalidation: %lu of %u writes (%lu bytes) reached the unmapped page, "
		    "the read %s the new owner's secret; %d fault%s while open", hit, rounds, wbytes,
		    rbytes ? "RETURNED" : "did not return", nf, nf == 1 ? "" : "s");
	if (nf)
		attack_fault_match(a, f, nf, 0, 0, ~0ul, false);

	/* The strict path closes it: page-selective invalidation + wait. */
	t_inv = now_ns();
	if ((r = vtd_flush_range(&a->dom, IOVA_LAZY, ATTACK_PAGE)))
		return attack_fail(a, "page-selective invalidation: %s: %s", vtd_err_name(r), a->unit.err);
	struct attack_probe after = { .bus = IOVA_LAZY, .watch = true, .own = lazy, .wreason = VTD_FR_WRITE,
				      .rreason = VTD_FR_READ, .seed = SEED + 0x40 };
	enum attack_verdict closed = attack_probe(a, "after-invalidation", &after, NULL);
	if (a->err[0])
		return -1;

	/* ---- strict unmap: no window at all ---- */
	if ((r = vtd_map(&a->dom, IOVA_STRICT, strict, ATTACK_PAGE, VTD_R | VTD_W)))
		return attack_fail(a, "map: %s: %s", vtd_err_name(r), a->unit.err);
	if (control(a, IOVA_STRICT, strict, SEED + 2))
		return -1;
	if ((r = vtd_unmap(&a->dom, IOVA_STRICT, ATTACK_PAGE, VTD_UNMAP_STRICT)))
		return attack_fail(a, "strict unmap: %s: %s", vtd_err_name(r), a->unit.err);
	struct attack_probe st = { .bus = IOVA_STRICT, .watch = true, .own = strict, .wreason = VTD_FR_WRITE,
				   .rreason = VTD_FR_READ, .seed = SEED + 0x50 };
	enum attack_verdict direct = attack_probe(a, "strict-unmap", &st, NULL);
	if (a->err[0])
		return -1;

	attack_detail(a, "lazy window: %lu bytes written + %lu read through the stale entry in %lu us (%lu/%u "
		      "writes); invalidation+wait: %s; strict unmap: %s", wbytes, rbytes,
		      (t_inv - t_unmap) / 1000, hit, rounds, attack_verdict_name(closed), attack_verdict_name(direct));
	return 0;
}

int main(void)
{
	return attack_run(&A, "stale", body);
}
