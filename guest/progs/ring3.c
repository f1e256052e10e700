/* The same register loop in ring 3 (native here) and ring 0 (emulated on
 * nested development hosts), timed with the TSC. */
#include "rt.h"

#define RING3_ITERS 100000000ull
#define RING0_ITERS 100000ull

static long spin(void *arg)
{
	uint64_t n = (uint64_t)arg, x = 0;

	for (uint64_t i = 0; i < n; i++) {
		x += i ^ (x >> 3);
		RT_OPAQUE(x);
	}
	return (long)x;
}

static void measure(const char *what, uint64_t iters, bool user)
{
	uint64_t t0 = rdtsc();
	long sum = user ? run_in_ring3(spin, (void *)iters) : spin((void *)iters);
	uint64_t ns = tsc_to_ns(rdtsc() - t0);
	uint64_t ps_per_iter = ns * 1000 / iters;

	if (!ns)
		ns = 1;
	printf("%s: %lu iterations in %lu.%06lu s: %lu iterations/s, %lu.%03lu ns/iteration (sum %lx)\n",
	       what, iters, ns / 1000000000, ns % 1000000000 / 1000,
	       iters * 1000000000 / ns, ps_per_iter / 1000, ps_per_iter % 1000, (unsigned long)sum);
}

static long ring3_hello(void *arg)
{
	(void)arg;
	unsigned cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	uint64_t rflags;
	__asm__ volatile("pushfq; pop %0" : "=r"(rflags));
	printf("ring3: printing from CPL %u, IOPL %lu\n", cs & 3, (rflags >> 12) & 3);
	return 42;
}

int main(void)
{
	printf("ring3: TSC %lu kHz (%s)\n", tsc_hz() / 1000, tsc_hz_source());
	long r = run_in_ring3(ring3_hello, NULL);
	if (r != 42) {
		printf("ring3: run_in_ring3 returned %ld, expected 42\n", r);
		return 1;
	}
	measure("ring3 loop", RING3_ITERS, true);
	measure("ring0 loop", RING0_ITERS, false);
	printf("ring3: ok\n");
	return 0;
}
