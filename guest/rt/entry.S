/* Interrupt and exception stubs, and the ring-0 <-> ring-3 switch. */
#include "layout.h"

	.code64
	.text

/* ---- exceptions 0-31: one 16-byte stub each, then a frame for C ---- */
.macro exc_stub vec
	.balign 16
	.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0                /* no CPU error code: keep the frame uniform */
	.endif
	pushq $\vec
	jmp exc_common
.endm

	.balign 16
	.globl rt_exc_stubs
rt_exc_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	exc_stub \v
	.endr

/* struct rt_exc_frame: rax..r15 (15), vector, error, rip, cs, rflags, rsp, ss */
exc_common:
	cld
	push %r15
	push %r14
	push %r13
	push %r12
	push %r11
	push %r10
	push %r9
	push %r8
	push %rbp
	push %rdi
	push %rsi
	push %rdx
	push %rcx
	push %rbx
	push %rax
	mov %rsp, %rdi
	and $-16, %rsp
	call rt_exception       /* reports and exits: never returns */
1:	cli
	hlt
	jmp 1b

/* ---- vectors 32-255: push the vector, call rt_irq_dispatch, EOI there ---- */
	.balign 16
	.globl rt_irq_stubs
rt_irq_stubs:
	.set vec, 32
	.rept 224
	.balign 16
	pushq $vec
	jmp irq_common
	.set vec, vec + 1
	.endr

irq_common:
	/* CPU frame (5 words, RSP 16-aligned first) + vector: RSP is 16-aligned
	 * here; nine pushes and 8 bytes of padding keep it so for the call. */
	cld
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	mov 72(%rsp), %rdi      /* vector */
	sub $8, %rsp
	call rt_irq_dispatch
	add $8, %rsp
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $8, %rsp            /* vector */
	iretq

	.globl rt_spurious_stub
rt_spurious_stub:               /* LAPIC spurious interrupt: no EOI */
	iretq

/* ---- ring 3 ----
 * long rt_ring3_enter(long (*fn)(void *), void *arg, void *ustack_top,
 *                     uint64_t *tss_rsp0);
 * Saves the callee-saved registers and RFLAGS on the ring-0 stack, points
 * TSS.RSP0 at them and irets to ring 3 with IOPL=3. The ring-3 side calls
 * fn(arg) and comes back with int3 at a known address: the #BP gate (DPL 3)
 * lands on TSS.RSP0, i.e. right below the saved registers.
 *
 * Why int3 and not "int $0x80": on PVM hosts (kvm_pvm, what this
 * project's development machines run) ring-3 code runs on the real CPU and a
 * software "int n" cannot be emulated (#UD), while exceptions such as #BP are
 * reflected through the guest IDT. int3 works the same on VT-x/SVM. */
	.globl rt_ring3_enter
rt_ring3_enter:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	pushfq                  /* 7 pushes after the call: RSP is 16-aligned, */
	mov %rsp, (%rcx)        /* so the CPU's frame lands at exactly RSP0-40 */
	pushfq
	pop %rax
	and $0x200, %eax        /* keep IF; clear DF, TF, AC, NT */
	or $0x3002, %eax        /* IOPL=3, reserved bit 1 */
	pushq $RT_SEL_UDATA     /* SS */
	pushq %rdx              /* RSP */
	pushq %rax              /* RFLAGS */
	pushq $RT_SEL_UCODE64   /* CS */
	pushq $ring3_trampoline /* RIP */
	iretq

ring3_trampoline:               /* ring 3; RSP 16-aligned */
	mov %rdi, %rax
	mov %rsi, %rdi
	call *%rax
	int3                    /* RAX = return value */
ring3_return_rip:
	ud2

	.globl rt_bp_stub
rt_bp_stub:                     /* vector 3, gate DPL 3 */
	testb $3, 8(%rsp)       /* from ring 3 ... */
	jz 1f
	cmpq $ring3_return_rip, (%rsp)  /* ... at the trampoline's int3? */
	jne 1f
	add $40, %rsp           /* drop RIP, CS, RFLAGS, RSP, SS */
	popfq
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
1:	pushq $0                /* any other int3: report it */
	pushq $3
	jmp exc_common

/* ---- the BSP's stacks: NOBITS, never zeroed by the runtime ---- */
	.section .stacks, "aw", @nobits
	.balign 4096
	.globl rt_bsp_stacks
rt_bsp_stacks:
	.skip RT_STACKS_SIZE
