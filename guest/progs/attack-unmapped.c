/* attack-unmapped: the device is told an IOVA that nothing maps, for a
 * write (buffer -> RAM) and a read (RAM -> buffer). Each IOVA is chosen so
 * that a unit which did not translate it properly would land on a page of
 * this guest that is watched:
 *  - the IOVA equal to a page's own GPA (a unit falling back to identity);
 *  - the IOVA right after a mapped page, whose GPA neighbour is watched
 *    (a mapping one page too long);
 *  - on Warden's 64-bit edu, the top page of a 48-bit domain.
 * Expected: nothing moves, fault 0x05 for the write and 0x06 for the read,
 * each with that IOVA and edu's source-id; the payload is nowhere in RAM.
 * docs/security.md. */
#include "attack.h"

#define IOVA_PAIR  0x02000000ul        /* maps pair[0] only */
#define IOVA_TOP   0xfffffffff000ul    /* the last page of a 48-bit space */
#define SEED       0x7e57000000ul

static struct attack A;

static long body(struct attack *a)
{
	uint64_t page, pair;
	unsigned probes = 0, blocked = 0;
	int r;

	if (attack_open(a, 0))
		return -1;
	if (!(page = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)) || !(pair = attack_alloc(a, 2 * ATTACK_PAGE, ATTACK_PAGE)))
		return -1;
	if ((r = vtd_map(&a->dom, IOVA_PAIR, pair, ATTACK_PAGE, VTD_R | VTD_W)))
		return attack_fail(a, "map: %s: %s", vtd_err_name(r), a->unit.err);

	struct attack_probe p[3] = {
		{ .bus = page, .watch = true, .own = page, .wreason = VTD_FR_WRITE, .rreason = VTD_FR_READ, .seed = SEED + 1 },
		{ .bus = IOVA_PAIR + ATTACK_PAGE, .watch = true, .own = pair + ATTACK_PAGE, .wreason = VTD_FR_WRITE,
		  .rreason = VTD_FR_READ, .seed = SEED + 2 },
		{ .bus = IOVA_TOP, .wreason = VTD_FR_WRITE, .rreason = VTD_FR_READ, .seed = SEED + 3 },
	};
	const char *names[3] = { "iova-equal-to-own-gpa", "iova-after-a-mapped-page", "iova-top-of-48-bit" };
	unsigned n = a->wide && a->dom.levels == 4 ? 3 : 2;
	for (unsigned i = 0; i < n && !a->err[0]; i++) {
		probes++;
		blocked += attack_probe(a, names[i], &p[i], NULL) == ATTACK_BLOCKED;
	}
	if (a->err[0])
		return -1;

	/* The payloads exist only in the device: finding one in RAM means a
	 * write landed somewhere unwatched. */
	uint64_t seeds[3] = { p[0].seed, p[1].seed, p[2].seed }, found[3], where[3], t0 = now_ns();
	uint64_t total = attack_scan(seeds, n, found, where);
	attack_step(a, total ? ATTACK_BREACH : ATTACK_BLOCKED, "payload-scan", "the %u payloads %s in RAM (%lu ms)",
		    n, total ? "FOUND" : "found nowhere", (now_ns() - t0) / 1000000);
	for (unsigned i = 0; i < n; i++)
		if (found[i])
			printf("attack: %s: payload of %s found %lu times, first at GPA 0x%lx\n", a->name, names[i],
			       found[i], where[i]);
	attack_detail(a, "%u unmapped IOVAs, write+read each: %u blocked, faults recorded with the IOVA and edu's "
		      "source-id %02x:%02x.%x: %s", probes, blocked, a->dev.bdf >> 8, a->dev.bdf >> 3 & 31,
		      a->dev.bdf & 7, a->missing ? "NOT ALL" : "all");
	return 0;
}

int main(void)
{
	return attack_run(&A, "unmapped", body);
}
