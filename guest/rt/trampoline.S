/* AP start-up: real mode at RT_TRAMP_BASE (copied there by smp_start_aps)
 * -> 32-bit protected mode -> long mode on the BSP's GDT, page tables and
 * IDT -> rt_ap_main(index) on the AP's own stack. Position-dependent only
 * through RT_TRAMP_BASE; the rest are absolute addresses in the image. */
#include "layout.h"

#define TRAMP(sym) (RT_TRAMP_BASE + (sym) - rt_tramp_start)

	.section .rodata.tramp, "a"
	.code16
	.globl rt_tramp_start, rt_tramp_end
rt_tramp_start:
	cli
	cld
	mov %cs, %ax            /* CS = RT_TRAMP_BASE >> 4, IP = 0 */
	mov %ax, %ds
	lgdtl (tramp_gdtr - rt_tramp_start)
	mov %cr0, %eax
	or $RT_CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $RT_SEL_KCODE32, $TRAMP(tramp32)

	.code32
tramp32:
	mov $RT_SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %cr4, %eax
	or $RT_CR4_BOOT, %eax
	mov %eax, %cr4
	mov $rt_pml4, %eax
	mov %eax, %cr3
	mov $RT_MSR_EFER, %ecx
	rdmsr
	or $RT_EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	and $~(RT_CR0_EM | RT_CR0_CD | RT_CR0_NW), %eax
	or $(RT_CR0_MP | RT_CR0_NE | RT_CR0_PG), %eax
	mov %eax, %cr0
	ljmp $RT_SEL_KCODE64, $rt_ap_start64

	.balign 4
	.word 0
tramp_gdtr:
	.word RT_GDT_SIZE - 1
	.long rt_gdt
rt_tramp_end:

	.text
	.code64
rt_ap_start64:
	mov $RT_SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov $1, %eax
	lock xadd %eax, rt_ap_next_index(%rip)
	cmp $RT_MAX_CPUS, %eax
	jae 1f
	mov %eax, %edi
	mov rt_cpu_stacks(, %rax, 8), %rsp
	test %rsp, %rsp
	jz 1f                   /* no stack was allocated for this index */
	add $RT_STACKS_SIZE, %rsp
	lidt rt_idt_ptr(%rip)
	xor %ebp, %ebp
	call rt_ap_main         /* (index): never returns */
1:	cli                     /* more CPUs than the runtime can run: park */
	hlt
	jmp 1b

	.data
	.balign 4
	.globl rt_ap_next_index
rt_ap_next_index:
	.long 1
