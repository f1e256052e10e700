/* Start-up and the ways out: rt_start calls main(), and main's return value
 * picks power-off (0) or debug-exit (anything else). */
#include "priv.h"

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1
#define ACPI_SLP_EN (1u << 13)          /* PM1a_CNT; SLP_TYP 0 = S5 on q35 */

void rt_start(uint32_t magic, uint32_t info)
{
	/* .bss is not zeroed here: the ELF loader zeroes p_memsz beyond
	 * p_filesz, and 28 KiB of rep stosq costs 1.4 ms of emulated ring 0. */
	rt_cpu_setup(0);
	rt_idt_init();
	/* Firmware leaves the 8259 routing IRQ0 to vector 8: mask it so an sti
	 * does not look like a double fault. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	rt_console_init();
	rt_bootinfo_parse(magic, info);

	int r = main();
	if (r == 0)
		guest_poweroff();
	guest_exit((uint32_t)r);
}

/* Waits about 1 s: QEMU handles S5 asynchronously, so the vCPU may run on a
 * little after the write and must not rush into the fallback. */
static void grace_period(void)
{
	udelay(1000000);
}

void guest_exit(uint32_t code)
{
	outl(RT_DEBUG_EXIT_PORT, code);
	grace_period();
	printf("guest_exit(0x%x): no debug-exit device at port 0x%x, triple-faulting\n",
	       code, RT_DEBUG_EXIT_PORT);
	rt_triple_fault();
}

void guest_poweroff(void)
{
	outw(RT_ACPI_PM1A_CNT, ACPI_SLP_EN);
	grace_period();
	printf("guest_poweroff: ACPI S5 via port 0x%x did not stop the machine\n", RT_ACPI_PM1A_CNT);
	guest_exit(RT_EXIT_POWEROFF_FAIL);
}

void rt_panic(const char *fmt, ...)
{
	va_list ap;

	rt_console_panic_begin();
	printf("\nPANIC on cpu %u: ", cpu_index());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(RT_EXIT_PANIC);
}

void rt_triple_fault(void)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty_idt = { 0, 0 };

	/* ud2, not int3: PVM hosts cannot emulate int3 in ring 0 (internal
	 * error instead of a triple fault). In ring 3 the lidt itself faults
	 * (#GP) and is reported instead. */
	__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt) : "memory");
	for (;;)
		__asm__ volatile("ud2");
}

void rt_halt_forever(void)
{
	if (current_ring() == 3)                /* hlt (and, on PVM, cli) fault */
		for (;;)
			cpu_relax();
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}
