/* attack-cross-vm: a second VM's device aimed at the first VM's RAM.
 *
 * Run as VM 1 after the victim (VM 0, guest/progs/victim.c) has filled its
 * RAM with its pattern and stopped. The runner passes the victim's
 * host-physical RAM range (victim=0xHPA+0xSIZE): the worst case, an
 * attacker that knows the host's layout. The attacker
 *  1. maps IOVAs onto GPAs equal to the victim's host-physical addresses
 *     (64 pages spread over the range, first and last included): where the
 *     number is also a GPA of its own RAM the bytes must land exactly there
 *     (contained), elsewhere the host stage must refuse them (blocked);
 *  2. sweeps GPAs beyond its own RAM: every MiB for 64 MiB above its top,
 *     every 16 MiB up to the PCI hole, every 64 MiB for 1 GiB above 4 GiB;
 *  3. with translation off, aims straight at victim-numbered GPAs beyond
 *     its RAM.
 * Every read is checked for the victim's pattern; every write that lands
 * must land in this VM's own page. Warden hashes the victim's RAM when it
 * stops and again at the end: the runner checks it is unchanged. */
#include "attack.h"

#define IOVA_X    0x08000000ul          /* one page per target from here */
#define SAMPLES   64
#define MAX_T     400
#define SEED_IN   0xc055000000ul        /* payload of writes that must be blocked */
#define SEED_OWN  0xc0de000000ul

static struct attack A;
static uint64_t tg[MAX_T];
static unsigned ntg;

struct tally { unsigned probes, blocked, contained, breaches, unrecorded; uint64_t host; };

static void add(uint64_t gpa)
{
	if (ntg < MAX_T)
		tg[ntg++] = gpa & ~(ATTACK_PAGE - 1);
}

static int arm_te_off(struct attack *a, bool on)
{
	int r = vtd_set_translation(&a->unit, !on);

	a->te = !on;
	return r ? attack_fail(a, "translation %s: %s", on ? "off" : "on", a->unit.err) : 0;
}

static void probe_range(struct attack *a, const char *what, unsigned from, unsigned to, uint64_t heap_mark,
			struct tally *t)
{
	for (unsigned i = from; i < to && !a->err[0]; i++) {
		uint64_t iova = IOVA_X + i * ATTACK_PAGE, gpa = tg[i], host = 0;
		bool own = attack_is_ram(gpa, ATTACK_PAGE);
		char step[64];
		int r;

		if (own && gpa < heap_mark)
			continue;               /* this program's own pages */
		if ((r = vtd_map(&a->dom, iova, gpa, ATTACK_PAGE, VTD_R | VTD_W))) {
			attack_fail(a, "map IOVA 0x%lx -> GPA 0x%lx: %s: %s", iova, gpa, vtd_err_name(r), a->unit.err);
			return;
		}
		snprintf(step, sizeof(step), "%s-gpa-0x%lx", what, gpa);
		struct attack_probe p = { .bus = iova, .watch = own, .own = gpa, .expect_land = own,
					  .seed = own ? SEED_OWN + i : SEED_IN, .quiet = true };
		enum attack_verdict v = attack_probe(a, step, &p, &host);
		t->probes++;
		t->host += host;
		t->blocked += v == ATTACK_BLOCKED;
		t->contained += v == ATTACK_CONTAINED;
		t->breaches += v == ATTACK_BREACH;
		if (v == ATTACK_BLOCKED && a->on_warden && host + a->probe_faults < 2)
			t->unrecorded++;
	}
}

static void summary(struct attack *a, const char *what, const struct tally *t, const struct tally *before)
{
	printf("attack: %s: %s: %u targets: %u blocked, %u landed in own RAM, %u BREACH; host faults +%lu%s\n",
	       a->name, what, t->probes - before->probes, t->blocked - before->blocked,
	       t->contained - before->contained, t->breaches - before->breaches, t->host - before->host,
	       t->unrecorded != before->unrecorded ? " (some refusals unrecorded)" : "");
}

static long body(struct attack *a)
{
	uint64_t vbase, vsize;
	struct tally t = { 0 }, mark;

	if (attack_open(a, ATTACK_QI))
		return -1;
	if (!attack_cmdline_range("victim", &vbase, &vsize))
		return attack_fail(a, "needs victim=0xHPA+0xSIZE, the victim's host-physical RAM (warden attack "
				   "passes it)");
	uint64_t heap_mark = rt_alloc(16, 16) + (1ul << 20);
	printf("attack: %s: victim RAM at HPA 0x%lx+0x%lx; own RAM up to GPA 0x%lx\n", a->name, vbase, vsize,
	       a->ram_top);

	/* 1: the victim's host-physical addresses, as GPAs. */
	uint64_t pages = vsize / ATTACK_PAGE;
	for (unsigned i = 0; i < SAMPLES; i++)
		add(vbase + i * (pages - 1) / (SAMPLES - 1) * ATTACK_PAGE);
	unsigned end1 = ntg;
	/* 2: beyond own RAM. */
	for (uint64_t g = a->ram_top; g < a->ram_top + (64ul << 20); g += 1ul << 20)
		add(g);
	for (uint64_t g = (a->ram_top + (64ul << 20) + (16ul << 20) - 1) & ~((16ul << 20) - 1); g < 0xb0000000ul;
	     g += 16ul << 20)
		add(g);
	for (uint64_t g = 0x100000000ul; g < 0x140000000ul; g += 64ul << 20)
		add(g);
	unsigned end2 = ntg;

	mark = t;
	probe_range(a, "victim-hpa", 0, end1, heap_mark, &t);
	summary(a, "victim HPA numbers as GPAs", &t, &mark);
	mark = t;
	probe_range(a, "beyond-own-ram", end1, end2, heap_mark, &t);
	summary(a, "sweep beyond own RAM", &t, &mark);
	if (a->err[0])
		return -1;

	/* 3: untranslated, straight at victim numbers beyond own RAM. */
	mark = t;
	for (unsigned i = 0; i < end1 && !a->err[0]; i += SAMPLES / 8) {
		uint64_t host = 0;
		char step[64];

		if (attack_is_ram(tg[i], ATTACK_PAGE))
			continue;
		snprintf(step, sizeof(step), "te-off-gpa-0x%lx", tg[i]);
		struct attack_probe p = { .bus = tg[i], .seed = SEED_IN, .arm = arm_te_off, .quiet = true };
		enum attack_verdict v = attack_probe(a, step, &p, &host);
		t.probes++;
		t.host += host;
		t.blocked += v == ATTACK_BLOCKED;
		t.breaches += v == ATTACK_BREACH;
		if (v == ATTACK_BLOCKED && a->on_warden && host < 2)
			t.unrecorded++;
	}
	summary(a, "translation off", &t, &mark);
	if (a->err[0])
		return -1;

	attack_detail(a, "victim HPA 0x%lx+0x%lx: %u targets (write+read each): %u blocked%s, %u landed in own RAM, "
		      "%u BREACH; host faults +%lu", vbase, vsize, t.probes, t.blocked,
		      t.unrecorded ? " (SOME UNRECORDED)" : "", t.contained, t.breaches, t.host);
	return 0;
}

int main(void)
{
	return attack_run(&A, "cross-vm", body);
}
