/* Runtime-internal declarations (not for programs). */
#ifndef GUEST_RT_PRIV_H
#define GUEST_RT_PRIV_H

#include "rt.h"

/* What the exception stubs push (entry.S exc_common), lowest address first. */
struct rt_exc_frame {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* 64-bit TSS. All CPUs' TSSs share one all-zero I/O permission bitmap
 * (cpu.c): ring 3 may use every port even where IOPL is not honoured. */
struct rt_tss {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

/* entry.S / boot.S / trampoline.S */
extern char rt_exc_stubs[], rt_irq_stubs[], rt_spurious_stub[], rt_bp_stub[];
extern char rt_tramp_start[], rt_tramp_end[];
extern char rt_bsp_stacks[];
extern uint64_t rt_cpu_stacks[RT_MAX_CPUS];     /* stack block per CPU index */
extern uint8_t rt_gdt[];
extern uint32_t rt_boot_1g_pages;
extern char __bss_start[], __bss_end[], _end[];
long rt_ring3_enter(long (*fn)(void *), void *arg, void *ustack_top, void *tss_rsp0);

/* C entry points called from assembly. */
RT_NORETURN void rt_start(uint32_t magic, uint32_t info);
RT_NORETURN void rt_ap_main(unsigned index);
RT_NORETURN void rt_exception(struct rt_exc_frame *f);
void rt_irq_dispatch(uint64_t vector);

/* Per-module initialisation, in the order rt_start calls them. */
void rt_cpu_setup(unsigned index);      /* TSS + ltr for this CPU */
void rt_idt_init(void);                 /* BSP: fill the IDT; every CPU: lidt */
void rt_idt_load(void);
void rt_console_init(void);
void rt_bootinfo_parse(uint32_t magic, uint32_t info);

/* The exception path: take the console even if this CPU held it. */
void rt_console_panic_begin(void);

#endif
