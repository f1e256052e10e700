/* attack-identity: ask the unit for pass-through. The context entry of the
 * assigned device gets translation type 10b (pass-through: bus address =
 * physical address, no page tables), and the device is aimed at a page of
 * this guest by its GPA - where an identity translation would land. A unit
 * without ECAP.PT must treat the entry as invalid: fault 0x03, nothing
 * moves. The reserved types 01b (device-TLB, without ATS) and 11b get the
 * same treatment. The domain's tables map nothing at that address, so a
 * unit that ignored TT and translated would fault differently (0x05/0x06)
 * and the step fails on the missing 0x03.
 *
 * Under QEMU run intel-iommu with pt=off (its default offers pass-through,
 * which makes TT = 10b valid: the program then reports the DMA it lets
 * through as a breach of the Warden threat model). */
#include "attack.h"

#define SEED 0x1de0000000ul

static struct attack A;
static unsigned cur_tt;

/* Around each transfer: the context entry with type cur_tt, then back. */
static int arm_tt(struct attack *a, bool on)
{
	struct vtd_unit *u = &a->unit;
	int r;

	if (on)
		r = vtd_context_write(u, a->dev.bdf, a->dom.pgd | (uint64_t)cur_tt << VTD_CTX_TT_SHIFT | VTD_CTX_P,
				      VTD_CTX_AW(a->dom.levels) | VTD_CTX_DID(a->dom.did));
	else
		r = vtd_context_set(u, a->dev.bdf, &a->dom, VTD_TT_TRANSLATE);
	if (r)
		return attack_fail(a, "context entry (TT %u): %s: %s", on ? cur_tt : 0, vtd_err_name(r), u->err);
	return 0;
}

static long body(struct attack *a)
{
	static const struct { unsigned tt; const char *step; } types[] = {
		{ VTD_TT_PASSTHROUGH, "context-tt-10b-passthrough" },
		{ 1, "context-tt-01b-device-tlb" },
		{ 3, "context-tt-11b-reserved" },
	};
	unsigned blocked = 0;
	uint64_t page;

	if (attack_open(a, ATTACK_QI))
		return -1;
	if (a->unit.pt_cap)
		printf("attack: %s: ECAP.PT = 1: this unit offers pass-through, so TT = 10b is valid here\n", a->name);
	if (!(page = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)))
		return -1;
	for (unsigned i = 0; i < RT_ARRAY_SIZE(types); i++) {
		struct attack_probe p = { .bus = page, .watch = true, .own = page, .wreason = VTD_FR_CTX_INVALID,
					  .rreason = VTD_FR_CTX_INVALID, .seed = SEED + i, .arm = arm_tt };
		cur_tt = types[i].tt;
		blocked += attack_probe(a, types[i].step, &p, NULL) == ATTACK_BLOCKED;
		if (a->err[0])
			return -1;
	}
	attack_detail(a, "context TT=10b/01b/11b with edu aimed at own GPA 0x%lx: %u of 3 refused as invalid "
		      "(ECAP.PT=%u)%s", page, blocked, a->unit.pt_cap, blocked == 3 ? ", nothing moved" : "");
	return 0;
}

int main(void)
{
	return attack_run(&A, "identity", body);
}
