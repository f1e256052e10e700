/* TSC clock. The frequency comes from the hypervisor's timing leaf when it
 * has one (Warden: CPUID 0x40000010 EAX = TSC kHz), else it is measured
 * against the ACPI PM timer (3.579545 MHz, 24 bits). */
#include "priv.h"

#define CPUID_HV_BASE    0x40000000
#define CPUID_HV_TIMING  0x40000010
#define PM_TIMER_HZ      3579545ull
#define PM_TIMER_MASK    0xffffff
#define CALIBRATE_TICKS  (PM_TIMER_HZ / 40)     /* 25 ms */
#define FALLBACK_HZ      2000000000ull

extern uint64_t rt_entry_tsc_value __asm__("rt_boot_entry_tsc");  /* boot.S */

static rt_spinlock_t calib_lock;
static volatile uint64_t hz;
static const char *source = "none";

static uint32_t pm_read(void)
{
	return inl(RT_ACPI_PM_TMR) & PM_TIMER_MASK;
}

/* TSC at the moment of a PM-timer read: the midpoint of the rdtscs around
 * it, as each port read is a VM exit of several microseconds. */
static uint32_t pm_read_tsc(uint64_t *tsc)
{
	uint64_t a = rdtsc();
	uint32_t v = pm_read();
	uint64_t b = rdtsc();

	*tsc = a + (b - a) / 2;
	return v;
}

static uint64_t calibrate_pm_timer(void)
{
	uint64_t t0, t1;
	uint32_t start = pm_read(), p0, p1, ticks;
	unsigned spins = 0;

	/* Start on a tick edge; a timer that never moves is absent (~0). */
	do {
		p0 = pm_read_tsc(&t0);
		if (++spins > 100000)
			return 0;
	} while (p0 == start);
	do {
		p1 = pm_read_tsc(&t1);
		ticks = (p1 - p0) & PM_TIMER_MASK;
	} while (ticks < CALIBRATE_TICKS);
	return (t1 - t0) * PM_TIMER_HZ / ticks;
}

static void calibrate(void)
{
	uint32_t a, b, c, d;

	cpuid(CPUID_HV_BASE, 0, &a, &b, &c, &d);
	if (a >= CPUID_HV_TIMING && a < CPUID_HV_BASE + 0x10000) {
		cpuid(CPUID_HV_TIMING, 0, &a, &b, &c, &d);
		if (a) {
			source = "cpuid-40000010";
			hz = (uint64_t)a * 1000;
			return;
		}
	}
	uint64_t f = calibrate_pm_timer();
	if (f) {
		source = "pm-timer";
		hz = f;
		return;
	}
	printf("tsc: no CPUID 0x40000010 and no PM timer at 0x%x; assuming %lu Hz\n",
	       RT_ACPI_PM_TMR, (unsigned long)FALLBACK_HZ);
	source = "none";
	hz = FALLBACK_HZ;
}

uint64_t tsc_hz(void)
{
	if (!hz) {
		rt_spin_lock(&calib_lock);
		if (!hz)
			calibrate();
		rt_spin_unlock(&calib_lock);
	}
	return hz;
}

const char *tsc_hz_source(void)
{
	tsc_hz();
	return source;
}

uint64_t tsc_to_ns(uint64_t t)
{
	uint64_t f = tsc_hz();

	return t / f * 1000000000ull + t % f * 1000000000ull / f;
}

uint64_t rt_entry_tsc(void)
{
	return rt_entry_tsc_value;
}

uint64_t now_ns(void)
{
	return tsc_to_ns(rdtsc());
}

void udelay(uint64_t us)
{
	uint64_t start = rdtsc(), ticks = us * tsc_hz() / 1000000;

	while (rdtsc() - start < ticks)
		cpu_relax();
}

void mdelay(uint64_t ms)
{
	udelay(ms * 1000);
}
