/* attack-superpage: exactly 4 KiB mapped at a 2 MiB-aligned IOVA onto a
 * 2 MiB-aligned GPA. A model that cached or built that translation as a
 * 2 MiB page (the host stage maps the guest's RAM with 2 MiB pages; the
 * combined entry must be no larger than either stage's) would let the
 * device reach the rest of the 2 MiB block. After a transfer through the
 * mapped page (which fills the caches), the device is aimed at:
 *  - the next 4 KiB;
 *  - the last 4 KiB of the 2 MiB block, and its last 64 bytes;
 *  - a transfer that starts 2 KiB before the end of the mapped page and
 *    runs on into the next: the first 2 KiB may land, no byte after them.
 * Each target page holds a watched pattern; writes must not change it,
 * reads must not return it; faults 0x05 / 0x06 at the target IOVA. */
#include "attack.h"

#define IOVA_SP  0x04000000ul          /* 64 MiB: 2 MiB-aligned, below QEMU edu's 256 MiB */
#define SP       (2ul << 20)
#define SEED     0x5e9a000000ul

static struct attack A;

/* The straddling transfer: [mapped - 2 KiB, next + 2 KiB). */
static enum attack_verdict straddle(struct attack *a, uint64_t gpa)
{
	uint32_t half = 2048, len = a->xfer;        /* QEMU's edu: 4092, not 4096 */
	uint64_t start = IOVA_SP + ATTACK_PAGE - half;
	enum attack_verdict v = ATTACK_BLOCKED;
	char e[64];
	int r;

	attack_fill(gpa, SEED + 0x100, 2 * ATTACK_PAGE);
	if (attack_load(a, SEED + 0x101))
		return ATTACK_BLOCKED;
	vtd_fault_take(&a->unit, NULL, 0, NULL);
	r = attack_dma_write(a, start, len);
	attack_edu_str(a, r, e, sizeof(e));
	bool first = attack_holds(gpa + ATTACK_PAGE - half, SEED + 0x101, half);
	/* The page after the mapping must be exactly as filled. */
	bool next_intact = true;
	for (uint64_t i = 0; i < ATTACK_PAGE / 4; i++)
		if (((volatile uint32_t *)(gpa + ATTACK_PAGE))[i] != hostile_sig_word(SEED + 0x100, ATTACK_PAGE / 4 + i))
			next_intact = false;
	if (!next_intact)
		v = ATTACK_BREACH;
	if (a->dev.ext && a->dev.dma_done > half)
		v = ATTACK_BREACH;
	bool fault = attack_expect_fault(a, VTD_FR_WRITE, IOVA_SP + ATTACK_PAGE, false);
	attack_step(a, v, "straddle-into-next-page",
		    "write of %u bytes at IOVA 0x%lx: %s; first half %s, next page %s, fault 0x05 at 0x%lx %s", len,
		    start, e, first ? "landed (mapped)" : "did not land", next_intact ? "unchanged" : "CHANGED",
		    IOVA_SP + ATTACK_PAGE, fault ? "recorded" : "NOT recorded");
	return v;
}

static long body(struct attack *a)
{
	uint64_t block, gpa;
	unsigned level = 0, blocked = 0, n = 0;
	int r;

	if (attack_open(a, ATTACK_QI))
		return -1;
	/* 4 MiB, so a 2 MiB-aligned block lies inside whatever the bump
	 * allocator hands out. */
	if (!(block = attack_alloc(a, 2 * SP, SP)))
		return -1;
	gpa = (block + SP - 1) & ~(SP - 1);
	if ((r = vtd_map(&a->dom, IOVA_SP, gpa, ATTACK_PAGE, VTD_R | VTD_W)))
		return attack_fail(a, "map: %s: %s", vtd_err_name(r), a->unit.err);
	if (!vtd_pte(&a->dom, IOVA_SP, &level) || level != 1)
		return attack_fail(a, "the driver built a level-%u leaf for a 4 KiB mapping", level);

	/* Control: the mapped page works, and its translation is now cached. */
	if (attack_load(a, SEED))
		return -1;
	r = attack_dma_write(a, IOVA_SP, a->xfer);
	if (r || !attack_holds(gpa, SEED, a->xfer))
		return attack_fail(a, "control DMA to mapped IOVA 0x%lx: %s", IOVA_SP, edu_err_name(r));
	if ((r = attack_dma_read(a, IOVA_SP, a->xfer)))
		return attack_fail(a, "control read of mapped IOVA 0x%lx: %s", IOVA_SP, edu_err_name(r));
	printf("attack: %s: 4 KiB leaf: IOVA 0x%lx -> GPA 0x%lx (2 MiB-aligned), control transfers ok\n", a->name,
	       IOVA_SP, gpa);

	static const struct { uint64_t off; uint32_t len; const char *step; } t[] = {
		{ ATTACK_PAGE, 0, "next-4k" },
		{ SP - ATTACK_PAGE, 0, "last-4k-of-2m" },
		{ SP - 64, 64, "last-64-bytes-of-2m" },
	};
	for (unsigned i = 0; i < RT_ARRAY_SIZE(t); i++) {
		struct attack_probe p = { .bus = IOVA_SP + t[i].off, .watch = true, .own = gpa + t[i].off, .len = t[i].len,
					  .wreason = VTD_FR_WRITE, .rreason = VTD_FR_READ, .seed = SEED + 1 + i };
		n++;
		blocked += attack_probe(a, t[i].step, &p, NULL) == ATTACK_BLOCKED;
		if (a->err[0])
			return -1;
	}
	n++;
	blocked += straddle(a, gpa) == ATTACK_BLOCKED;
	if (a->err[0])
		return -1;
	attack_detail(a, "4 KiB at 2 MiB-aligned IOVA 0x%lx -> GPA 0x%lx; %u of %u targets beyond it in the 2 MiB "
		      "block blocked", IOVA_SP, gpa, blocked, n);
	return 0;
}

int main(void)
{
	return attack_run(&A, "superpage", body);
}
