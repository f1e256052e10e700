/* Application processors: INIT-SIPI-SIPI to a real-mode trampoline that
 * joins the BSP's GDT, page tables and IDT (trampoline.S). */
#include "priv.h"

#define LAPIC_ICR_LO   0x300
#define LAPIC_ICR_HI   0x310
#define ICR_PENDING    (1u << 12)
#define ICR_ASSERT     (1u << 14)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_INIT       (5u << 8)
#define ICR_STARTUP    (6u << 8)

static void (*volatile ap_fn)(unsigned);
static volatile uint32_t online = 1;

static void icr_send(uint32_t lo)
{
	mmio_write32(RT_LAPIC_BASE + LAPIC_ICR_HI, 0);
	mmio_write32(RT_LAPIC_BASE + LAPIC_ICR_LO, lo);
	for (unsigned i = 0; i < 1000 && (mmio_read32(RT_LAPIC_BASE + LAPIC_ICR_LO) & ICR_PENDING); i++)
		cpu_relax();
}

void rt_ap_main(unsigned index)
{
	rt_cpu_setup(index);
	__atomic_add_fetch(&online, 1, __ATOMIC_SEQ_CST);
	void (*fn)(unsigned) = ap_fn;
	if (fn)
		fn(index);
	rt_halt_forever();
}

unsigned smp_start_aps(void (*fn)(unsigned cpu))
{
	static unsigned started;
	unsigned n = fw_cfg_nb_cpus();

	if (started)
		rt_panic("smp_start_aps: called twice");
	if (n <= 1)
		return 1;
	if (n > RT_MAX_CPUS) {
		printf("smp: %u CPUs, the runtime runs the first %u\n", n, RT_MAX_CPUS);
		n = RT_MAX_CPUS;
	}
	/* An AP whose index gets no stack parks in the trampoline. */
	for (unsigned i = 1; i < n; i++) {
		rt_cpu_stacks[i] = rt_alloc(RT_STACKS_SIZE, 4096);
		if (!rt_cpu_stacks[i]) {
			printf("smp: no memory for the stacks of cpu %u and up\n", i);
			n = i;
			break;
		}
	}
	started = n;
	ap_fn = fn;
	memcpy((void *)RT_TRAMP_BASE, rt_tramp_start, (size_t)(rt_tramp_end - rt_tramp_start));
	lapic_enable();
	/* The MP specification's sequence; hypervisors need no delays, real CPUs
	 * want 10 ms after INIT and 200 us between the SIPIs. */
	icr_send(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
	udelay(10000);
	icr_send(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | RT_TRAMP_VECTOR);
	udelay(200);
	icr_send(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | RT_TRAMP_VECTOR);
	return n;
}

unsigned smp_online(void)
{
	return __atomic_load_n(&online, __ATOMIC_SEQ_CST);
}

unsigned smp_wait_online(unsigned n, uint64_t timeout_us)
{
	uint64_t start = rdtsc(), ticks = timeout_us * tsc_hz() / 1000000;

	while (smp_online() < n && rdtsc() - start < ticks)
		cpu_relax();
	return smp_online();
}
