/* Interrupt delivery through irq_register: a self-IPI taken in ring 0, one
 * sent and taken while in ring 3, and a LAPIC timer interrupt. With
 * "unregistered" on the command line, an IPI to a vector nobody registered
 * must be reported as #NP naming it (exit code 0x4b). */
#include "rt.h"

#define VEC_IPI    0x40
#define VEC_TIMER  0x41
#define VEC_NOBODY 0x42
#define TIMEOUT_US 1000000

static volatile uint32_t hits[256];

static void count_hit(unsigned vector)
{
	hits[vector]++;
}

static bool wait_hits(unsigned vector, uint32_t n)
{
	uint64_t end = rdtsc() + TIMEOUT_US * tsc_hz() / 1000000;

	while (hits[vector] < n && rdtsc() < end)
		cpu_relax();
	return hits[vector] >= n;
}

static long ring3_ipi(void *arg)
{
	(void)arg;
	lapic_send_ipi(lapic_id(), VEC_IPI);
	return wait_hits(VEC_IPI, 2);
}

int main(void)
{
	RT_ASSERT(irq_register(VEC_IPI, count_hit) == 0);
	RT_ASSERT(irq_register(VEC_TIMER, count_hit) == 0);
	RT_ASSERT(irq_register(RT_VEC_SPURIOUS, count_hit) < 0);
	lapic_enable();
	irq_enable();

	if (rt_cmdline_has("unregistered")) {
		printf("irq: IPI to unregistered vector 0x%x\n", VEC_NOBODY);
		lapic_send_ipi(lapic_id(), VEC_NOBODY);
		udelay(100000);
		printf("irq: no #NP for an unregistered vector\n");
		return 1;
	}

	lapic_send_ipi(lapic_id(), VEC_IPI);
	bool ok0 = wait_hits(VEC_IPI, 1);
	printf("irq: self-IPI in ring 0: %s\n", ok0 ? "ok" : "TIMEOUT");

	bool ok3 = run_in_ring3(ring3_ipi, NULL);
	printf("irq: self-IPI sent and taken in ring 3: %s\n", ok3 ? "ok" : "TIMEOUT");

	uint64_t t0 = rdtsc();
	lapic_timer_oneshot(VEC_TIMER, 1000000);
	bool okt = wait_hits(VEC_TIMER, 1);
	printf("irq: LAPIC timer: %s after %lu us\n", okt ? "ok" : "TIMEOUT",
	       tsc_to_ns(rdtsc() - t0) / 1000);

	irq_disable();
	if (!(ok0 && ok3 && okt))
		return 1;
	printf("irq: ok\n");
	return 0;
}
