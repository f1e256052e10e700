/* victim: the VM whose memory the attack gallery's attackers aim at. Fills
 * all of its free RAM below 4 GiB (from the end of its heap up, in ring 3)
 * with a recognisable pattern - the word at GPA g holds
 * ATTACK_VICTIM_MAGIC ^ g - prints one line and powers off. Warden hashes a
 * VM's RAM when it stops and again at the end of the run; an attacker that
 * wrote anything here shows up as "vm0 RAM changed after it stopped", and
 * one that read it finds the pattern (attack_foreign). */
#include "attack.h"

struct fill { uint64_t lo, hi, bytes, sum; };

static long fill_ram(void *arg)
{
	struct fill *f = arg;
	const struct rt_mem_region *m;
	unsigned n = rt_memmap(&m);

	f->lo = ~0ul;
	for (unsigned i = 0; i < n; i++) {
		if (m[i].type != RT_MEM_RAM)
			continue;
		uint64_t p = m[i].addr, end = m[i].addr + m[i].size;
		if (end > 0x100000000ul)
			end = 0x100000000ul;    /* the runtime maps the low 4 GiB */
		if (p < f->hi)
			p = f->hi;              /* f->hi: the heap's end on entry */
		p = (p + 7) & ~7ul;
		if (p >= end)
			continue;
		if (p < f->lo)
			f->lo = p;
		for (; p + 8 <= end; p += 8) {
			uint64_t w = ATTACK_VICTIM_MAGIC ^ p;
			*(volatile uint64_t *)p = w;
			f->sum += w;
			f->bytes += 8;
		}
	}
	return 0;
}

int main(void)
{
	/* Everything from here up is free: the image, its stack and the
	 * heap lie below (rt_alloc is a bump allocator). */
	struct fill f = { .hi = (rt_alloc(ATTACK_PAGE, ATTACK_PAGE) + ATTACK_PAGE) };
	uint64_t t0 = now_ns();

	run_in_ring3(fill_ram, &f);
	printf("victim: filled %lu MiB of RAM from GPA 0x%lx with the victim pattern (word at g = 0x%016lx ^ g, "
	       "sum 0x%016lx) in %lu ms\n", f.bytes >> 20, f.lo, ATTACK_VICTIM_MAGIC, f.sum,
	       (now_ns() - t0) / 1000000);
	return f.bytes ? 0 : 1;
}
