/* Reads an unmapped address (above the 4 GiB identity map): the #PF report
 * names it in CR2 and the guest exits with RT_EXIT_EXCEPTION_BASE + 14.
 * "ring3" on the command line takes the fault in ring 3 instead. */
#include "rt.h"

#define UNMAPPED_ADDR 0x500000000ull    /* 20 GiB */

static long touch(void *arg)
{
	return *(volatile uint64_t *)arg;
}

int main(void)
{
	void *p = (void *)UNMAPPED_ADDR;

	if (rt_cmdline_has("ring3")) {
		printf("fault: reading %p in ring 3\n", p);
		run_in_ring3(touch, p);
	} else {
		printf("fault: reading %p in ring 0\n", p);
		touch(p);
	}
	printf("fault: no exception taken\n");
	return 1;
}
