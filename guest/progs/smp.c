/* Every vCPU checks in; exit 0 only if all fw_cfg reports did. */
#include "rt.h"

#define TIMEOUT_US 5000000

static volatile uint32_t checked_in = 1;        /* the BSP */

static void ap_entry(unsigned cpu)
{
	printf("cpu %u checked in (apic id %u)\n", cpu, lapic_id());
	__atomic_add_fetch(&checked_in, 1, __ATOMIC_SEQ_CST);  /* after the line */
}

int main(void)
{
	printf("cpu 0 checked in (apic id %u)\n", lapic_id());
	unsigned n = smp_start_aps(ap_entry);
	uint64_t deadline = rdtsc() + TIMEOUT_US * tsc_hz() / 1000000;

	while (__atomic_load_n(&checked_in, __ATOMIC_SEQ_CST) < n && rdtsc() < deadline)
		cpu_relax();
	unsigned got = __atomic_load_n(&checked_in, __ATOMIC_SEQ_CST);
	printf("smp: %u/%u cpus checked in\n", got, n);
	return got == n ? 0 : 1;
}
