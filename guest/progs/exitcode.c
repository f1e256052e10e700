/* Drives the VMM's exit-status contract from the command line:
 *   code=N    guest_exit(N): status (N << 1) | 1
 *   poweroff  ACPI S5: status 0
 *   triple    triple fault
 *   hlt       cli; hlt forever (the VMM must be stopped from outside) */
#include "rt.h"

int main(void)
{
	uint64_t code;

	if (rt_cmdline_u64("code", &code)) {
		printf("exitcode: guest_exit(%lu)\n", code);
		guest_exit((uint32_t)code);
	}
	if (rt_cmdline_has("poweroff")) {
		printf("exitcode: poweroff\n");
		guest_poweroff();
	}
	if (rt_cmdline_has("triple")) {
		printf("exitcode: triple fault\n");
		rt_triple_fault();
	}
	if (rt_cmdline_has("hlt")) {
		printf("exitcode: cli; hlt\n");
		rt_halt_forever();
	}
	printf("exitcode: usage: code=N | poweroff | triple | hlt (cmdline \"%s\")\n", rt_cmdline());
	return 1;
}
