/* attack-private: the guest's own tables aimed at what is not its RAM.
 *
 * The guest programs the vIOMMU, so its page tables may say anything; its
 * outputs are guest-physical addresses, which the host stage (the VM's host
 * domain: exactly its RAM) must confine. The attacker knows the host's
 * layout (the runner passes it: priv=, self=, hostmem= as 0xBASE+0xSIZE)
 * and tries, with one write and one read each:
 *  1. IOVAs mapped onto GPAs equal to the host-physical addresses of the
 *     hypervisor's canary pages (the private region). Those numbers are
 *     also GPAs of this guest's own RAM: a correct VMM lands the bytes
 *     there (contained, checked); one that took guest-table outputs for
 *     host-physical addresses would hit the canaries (the runner checks
 *     them) and read their pattern (checked here).
 *  2. IOVAs mapped onto GPAs above RAM (its top, 4 GiB, the top of the
 *     46-bit space, this VM's own host-physical base, the end of host
 *     memory) and into the MMIO hole (an unused BAR page, PCI ECAM, the
 *     IOAPIC, the VT-d registers, the interrupt window): blocked, counted
 *     by the host (stage 2) or, for the interrupt window, by the guest
 *     unit (fault 0x0e).
 *  3. Table pointers outside RAM: RTADDR beyond RAM (fault 0x08), a root
 *     entry's context-table pointer into the MMIO hole (0x09), a context
 *     entry's SLPTPTR beyond RAM and a directory entry above 4 GiB (0x07);
 *     the IOVA used is validly mapped, so a unit that kept using cached
 *     entries lands in a watched page instead.
 *  4. Translation off: DMA straight to GPAs beyond RAM (blocked by the
 *     host), after a control transfer to own RAM.
 * Every blocked write carries one payload; a scan of all RAM at the end
 * must not find it. Under QEMU (no host stage) the MMIO targets of 2 are
 * skipped: QEMU would route the writes to real device registers. */
#include "attack.h"

#define IOVA_OUT   0x06000000ul         /* targets of 1 and 2, a page each */
#define IOVA_T     0x07000000ul         /* the watched, validly mapped page of 3 */
#define SEED_OUT   0x0b5e55ed00ul       /* payload of every write that must be blocked */
#define SEED_OWN   0x0c0de00000ul
#define SEED_T     0x0dab000000ul
#define WARDEN_PRIVATE (64ul << 20)     /* CONFIG_DEFAULT_PRIVATE */
#define CANARIES   8                    /* ARENA_CANARY_PAGES, spread first to last page */
#define MAX_T      40

static struct attack A;
static uint64_t bad_ptr, tpage, heap_mark;
static unsigned bus_of_edu;

struct target { const char *what; uint64_t gpa; };
static struct target tg[MAX_T];
static unsigned ntg;

static void add(const char *what, uint64_t gpa)
{
	if (ntg < MAX_T)
		tg[ntg++] = (struct target){ what, gpa & ~(ATTACK_PAGE - 1) };
}

/* ---- part 3's arms: the bad pointer in place around each transfer ---- */

static int arm_rtaddr(struct attack *a, bool on)
{
	if (on)
		return attack_set_rtaddr(a, bad_ptr);
	int r = vtd_set_root_table(&a->unit);
	return r ? attack_fail(a, "restoring the root table: %s", a->unit.err) : 0;
}

static int arm_root_entry(struct attack *a, bool on)
{
	struct vtd_unit *u = &a->unit;
	volatile uint64_t *re = (volatile uint64_t *)u->root + 2 * bus_of_edu;
	int r;

	if (!on) {
		r = vtd_root_set_present(u, (uint8_t)bus_of_edu, true);
		return r ? attack_fail(a, "restoring the root entry: %s", u->err) : 0;
	}
	re[0] = bad_ptr | 1;
	vtd_entry_sync(u, re, 16);
	if ((r = vtd_inv_context(u, VTD_INV_GLOBAL, 0, 0, 0)) || (r = vtd_inv_iotlb(u, VTD_INV_GLOBAL, 0, 0, 0)))
		return attack_fail(a, "invalidation: %s", u->err);
	return 0;
}

static int arm_slptptr(struct attack *a, bool on)
{
	struct vtd_unit *u = &a->unit;
	int r = on ? vtd_context_write(u, a->dev.bdf, bad_ptr | VTD_CTX_P,
				       VTD_CTX_AW(a->dom.levels) | VTD_CTX_DID(a->dom.did))
		   : vtd_context_set(u, a->dev.bdf, &a->dom, VTD_TT_TRANSLATE);

	return r ? attack_fail(a, "context entry: %s", u->err) : 0;
}

static int arm_pde(struct attack *a, bool on)
{
	static uint64_t saved;
	volatile uint64_t *e = attack_table_entry(&a->dom, IOVA_T, 2);
	int r;

	if (!e)
		return attack_fail(a, "no directory entry for IOVA 0x%lx", IOVA_T);
	if (on) {
		saved = *e;
		*e = bad_ptr | 0x3;             /* a table pointer: R, W, no PS */
	} else {
		*e = saved;
	}
	vtd_entry_sync(&a->unit, e, 8);
	r = vtd_flush_range(&a->dom, IOVA_T & ~((2ul << 20) - 1), 2ul << 20);
	return r ? attack_fail(a, "invalidation: %s", a->unit.err) : 0;
}

static int arm_te_off(struct attack *a, bool on)
{
	int r = vtd_set_translation(&a->unit, !on);

	a->te = !on;
	return r ? attack_fail(a, "translation %s: %s", on ? "off" : "on", a->unit.err) : 0;
}

/* ---- the parts ---- */

struct tally { unsigned probes, blocked, contained, tables, skipped, unrecorded; uint64_t host; };

static void map_targets(struct attack *a, struct tally *t)
{
	for (unsigned i = 0; i < ntg && !a->err[0]; i++) {
		uint64_t iova = IOVA_OUT + i * ATTACK_PAGE, gpa = tg[i].gpa, host = 0;
		bool own = attack_is_ram(gpa, ATTACK_PAGE);
		char step[64];
		int r;

		/* Own RAM the program itself lives in stays out of it. */
		if (own && gpa + ATTACK_PAGE > RT_LOAD_ADDR && gpa < heap_mark) {
			printf("attack: %s: %s: skipped (GPA 0x%lx holds this program)\n", a->name, tg[i].what, gpa);
			t->skipped++;
			continue;
		}
		if ((r = vtd_map(&a->dom, iova, gpa, ATTACK_PAGE, VTD_R | VTD_W))) {
			attack_fail(a, "map IOVA 0x%lx -> GPA 0x%lx: %s: %s", iova, gpa, vtd_err_name(r), a->unit.err);
			return;
		}
		struct attack_probe p = { .bus = iova, .watch = own, .own = gpa, .expect_land = own,
					  .seed = own ? SEED_OWN + i : SEED_OUT };
		snprintf(step, sizeof(step), "%s-gpa-0x%lx", tg[i].what, gpa);
		enum attack_verdict v = attack_probe(a, step, &p, &host);
		t->probes++;
		t->host += host;
		if (v == ATTACK_CONTAINED)
			t->contained++;
		if (v != ATTACK_BLOCKED)
			continue;
		t->blocked++;
		/* Warden records every refusal: the host's counter or the
		 * guest's log, one per direction. */
		if (a->on_warden && host + a->probe_faults < 2) {
			t->unrecorded++;
			printf("attack: %s:   note: %lu host + %u guest faults for 2 refused transfers\n", a->name, host,
			       a->probe_faults);
		}
	}
}

static void table_pointers(struct attack *a, struct tally *t)
{
	static const struct { const char *step; uint8_t reason; int (*arm)(struct attack *, bool); } c[] = {
		{ "rtaddr-beyond-ram", VTD_FR_ROOT_TABLE_ACCESS, arm_rtaddr },
		{ "root-entry-ctp-in-mmio-hole", VTD_FR_CTX_TABLE_ACCESS, arm_root_entry },
		{ "context-slptptr-beyond-ram", VTD_FR_SL_TABLE_ACCESS, arm_slptptr },
		{ "directory-entry-above-4g", VTD_FR_SL_TABLE_ACCESS, arm_pde },
	};
	uint64_t hole = pci_mmio_free(ATTACK_PAGE, -1, -1);
	/* Well past the top (QEMU's last RAM pages are E820-reserved, not absent). */
	uint64_t ptr[4] = { a->ram_top + (16ul << 20), hole ? hole : 0xd0000000ul, a->ram_top + (32ul << 20),
			    0x100200000ul };

	for (unsigned i = 0; i < RT_ARRAY_SIZE(c) && !a->err[0]; i++) {
		char step[80];

		bad_ptr = ptr[i];
		snprintf(step, sizeof(step), "%s-0x%lx", c[i].step, bad_ptr);
		struct attack_probe p = { .bus = IOVA_T, .watch = true, .own = tpage, .expect_land = true, .wreason = c[i].reason,
					  .rreason = c[i].reason, .seed = SEED_T + i, .arm = c[i].arm };
		/* Contained here means the unit kept a cached translation
		 * instead of following the pointer: not blocked either. */
		if (attack_probe(a, step, &p, &t->host) == ATTACK_BLOCKED)
			t->tables++;
	}
}

static void translation_off(struct attack *a, struct tally *t, uint64_t own_page, uint64_t hostmem)
{
	uint64_t gpas[3] = { a->ram_top, 0x100000000ul, hostmem };

	/* Control: untranslated DMA reaches own RAM. */
	struct attack_probe c = { .bus = own_page, .watch = true, .own = own_page, .expect_land = true, .seed = SEED_OWN + 0x100,
				  .arm = arm_te_off };
	if (attack_probe(a, "te-off-control-own-ram", &c, &t->host) != ATTACK_CONTAINED && !a->err[0]) {
		attack_fail(a, "control: with translation off, DMA to own GPA 0x%lx did not land", own_page);
		return;
	}
	for (unsigned i = 0; i < 3 && !a->err[0]; i++) {
		char step[64];
		uint64_t host = 0;

		if (!gpas[i] || attack_is_ram(gpas[i], ATTACK_PAGE))
			continue;
		snprintf(step, sizeof(step), "te-off-gpa-0x%lx", gpas[i]);
		struct attack_probe p = { .bus = gpas[i], .seed = SEED_OUT, .arm = arm_te_off };
		enum attack_verdict v = attack_probe(a, step, &p, &host);
		t->probes++;
		t->host += host;
		t->blocked += v == ATTACK_BLOCKED;
		if (v == ATTACK_BLOCKED && a->on_warden && host < 2)
			t->unrecorded++;
	}
}

static long body(struct attack *a)
{
	uint64_t pbase = 0, psize = WARDEN_PRIVATE, sbase = 0, ssize = 0, hbase = 0, hsize = 0, found, where;
	struct tally t = { 0 };
	int r;

	if (attack_open(a, ATTACK_QI))
		return -1;
	if (!(tpage = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)))
		return -1;
	uint64_t own_page = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE);
	if (!own_page)
		return -1;
	heap_mark = rt_alloc(16, 16) + (1ul << 20);
	bus_of_edu = a->dev.bdf >> 8;
	if ((r = vtd_map(&a->dom, IOVA_T, tpage, ATTACK_PAGE, VTD_R | VTD_W)))
		return attack_fail(a, "map: %s: %s", vtd_err_name(r), a->unit.err);
	bool given = attack_cmdline_range("priv", &pbase, &psize);
	attack_cmdline_range("self", &sbase, &ssize);
	attack_cmdline_range("hostmem", &hbase, &hsize);
	printf("attack: %s: private region HPA 0x%lx+0x%lx (%s)%s\n", a->name, pbase, psize,
	       given ? "from the command line" : "Warden's default layout",
	       sbase ? "; own RAM's host-physical base known" : "");

	/* 1: the canaries' host-physical addresses, as arena.c spreads them. */
	uint64_t pages = psize / ATTACK_PAGE;
	for (unsigned i = 0; i < CANARIES; i++)
		add("canary-hpa", pbase + i * (pages - 1) / (CANARIES - 1) * ATTACK_PAGE);
	/* 2: above RAM and the MMIO hole. */
	add("ram-top", a->ram_top);
	add("4g", 0x100000000ul);
	add("top-of-haw", (1ul << a->unit.haw) - ATTACK_PAGE);
	if (sbase)
		add("own-hpa-base", sbase);
	if (hsize) {
		add("last-host-page", hbase + hsize - ATTACK_PAGE);
		add("beyond-host-memory", hbase + hsize);
	}
	uint64_t hole = pci_mmio_free(ATTACK_PAGE, -1, -1);
	if (hole)
		add("mmio-hole-unused", hole);
	if (a->on_warden) {
		add("pci-ecam", 0xb0000000ul);
		add("ioapic", RT_IOAPIC_BASE);
		add("vtd-registers", a->unit.base);
		add("interrupt-window", RT_LAPIC_BASE);
	}

	map_targets(a, &t);
	if (!a->err[0])
		table_pointers(a, &t);
	if (!a->err[0])
		translation_off(a, &t, own_page, hsize ? hbase + hsize : 0);
	if (a->err[0])
		return -1;

	uint64_t seed = SEED_OUT, t0 = now_ns();
	attack_scan(&seed, 1, &found, &where);
	attack_step(a, found ? ATTACK_BREACH : ATTACK_BLOCKED, "payload-scan", "the payload of every write aimed "
		    "outside RAM: %s (%lu ms)", found ? "FOUND in RAM" : "found nowhere in RAM",
		    (now_ns() - t0) / 1000000);
	if (found)
		printf("attack: %s: payload found %lu times, first at GPA 0x%lx\n", a->name, found, where);
	char host[48] = "";
	if (a->on_warden)
		snprintf(host, sizeof(host), " (host faults +%lu%s)", t.host, t.unrecorded ? ", SOME UNRECORDED" : "");
	attack_detail(a, "%u targets outside RAM or at canary HPA numbers: %u blocked%s, %u landed in own RAM at "
		      "GPA = HPA number, %u skipped; %u of 4 table pointers outside RAM refused", t.probes, t.blocked,
		      host, t.contained, t.skipped, t.tables);
	if (t.unrecorded)
		printf("attack: %s: %u refusals without a fault record\n", a->name, t.unrecorded);
	return 0;
}

int main(void)
{
	return attack_run(&A, "private", body);
}
