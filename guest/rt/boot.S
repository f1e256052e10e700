/* 32-bit entry for both boot protocols, the static page tables and GDT, and
 * the PVH ELF note.
 *
 * Everything here runs in ring 0, which this project's development hosts
 * emulate at about 1M instructions/s: the page tables are therefore built by
 * the assembler (.rept), not by a loop at boot, and the entry path is a few
 * dozen instructions long. */
#include "layout.h"

/* ---- PVH note: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", 4-byte desc ---- */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4                 /* namesz */
	.long 4                 /* descsz */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start32
/* QEMU reads the desc of an ELF64 note as 8 bytes: the linker script places
 * four zero bytes right after this section (.pvh_note_pad) so the upper half
 * it sees is 0. */

/* ---- entry ---- */
	.section .text.boot, "ax"
	.code32
	.globl _start32
_start32:
	/* EAX = multiboot magic (or anything for PVH), EBX = info pointer;
	 * paging off, flat 32-bit segments, no usable stack. */
	cli
	cld
	mov %eax, %edi
	mov %ebx, %esi
	rdtsc
	mov %eax, rt_boot_entry_tsc
	mov %edx, rt_boot_entry_tsc + 4
	lgdt gdt_ptr
	mov $RT_SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $(rt_bsp_stacks + RT_STACKS_SIZE), %esp

	/* 1 GiB pages when CPUID.80000001H:EDX[26]; the static PML4 points at
	 * the 2 MiB-page PDPT otherwise. */
	mov $0x80000000, %eax
	cpuid
	cmp $0x80000001, %eax
	jb 1f
	mov $0x80000001, %eax
	cpuid
	bt $26, %edx
	jnc 1f
	movl $(rt_pdpt_1g + RT_PTE_TABLE), rt_pml4
	movl $1, rt_boot_1g_pages
1:
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
	or $(RT_CR0_PE | RT_CR0_MP | RT_CR0_NE | RT_CR0_PG), %eax
	mov %eax, %cr0
	ljmp $RT_SEL_KCODE64, $start64

	.code64
start64:
	mov $RT_SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov $(rt_bsp_stacks + RT_STACKS_SIZE), %rsp
	mov %edi, %edi          /* upper halves are undefined after the switch */
	mov %esi, %esi
	xor %ebp, %ebp
	call rt_start           /* (magic, info): never returns */
2:	cli
	hlt
	jmp 2b

/* ---- GDT ---- */
	.section .data.gdt, "aw"
	.balign 16
	.globl rt_gdt
rt_gdt:
	.quad 0                         /* null */
	.quad 0x00af9a000000ffff        /* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff        /* 0x10 kernel data, flat 4G, B=1 */
	.quad 0x00cf9a000000ffff        /* 0x18 kernel code, 32-bit (AP trampoline) */
	.quad 0x00cff2000000ffff        /* 0x20 user data, DPL 3 */
	.quad 0x00affa000000ffff        /* 0x28 user code, 64-bit, DPL 3 */
	.fill 2 * RT_MAX_CPUS, 8, 0     /* 0x30 TSS descriptors, filled per CPU */
rt_gdt_end:
	.balign 8
	.word 0
	.globl gdt_ptr
gdt_ptr:
	.word rt_gdt_end - rt_gdt - 1
	.quad rt_gdt                    /* lgdt in 32-bit mode reads 4 bytes of it */

	.section .data.flags, "aw"
	.balign 4
	.globl rt_boot_1g_pages
rt_boot_1g_pages:
	.long 0
	.balign 8
	.globl rt_boot_entry_tsc
rt_boot_entry_tsc:                           /* TSC at the first instruction */
	.quad 0

/* ---- Page tables: identity map of the low 4 GiB, U bit everywhere,
 * uncached from RT_MMIO_START (PCI ECAM, BARs, IOAPIC, LAPIC) up. ---- */

	.section .data.pgt, "aw"
	.balign 4096
	.globl rt_pml4
rt_pml4:
	.quad rt_pdpt_2m + RT_PTE_TABLE
	.fill 511, 8, 0
rt_pdpt_2m:                             /* four PDs of 2 MiB pages */
	.quad rt_pd + 0x0000 + RT_PTE_TABLE
	.quad rt_pd + 0x1000 + RT_PTE_TABLE
	.quad rt_pd + 0x2000 + RT_PTE_TABLE
	.quad rt_pd + 0x3000 + RT_PTE_TABLE
	.fill 508, 8, 0
	.globl rt_pdpt_1g
rt_pdpt_1g:                             /* 1 GiB pages; the 2-3 GiB range keeps */
	.quad 0x00000000 + RT_PTE_LARGE /* its PD, as MMIO starts inside it */
	.quad 0x40000000 + RT_PTE_LARGE
	.quad rt_pd + 0x2000 + RT_PTE_TABLE
	.quad 0xc0000000 + RT_PTE_LARGE + RT_PTE_UC
	.fill 508, 8, 0
rt_pd:
	.set pa, 0
	.rept 2048
	.if pa >= RT_MMIO_START
	.quad pa + RT_PTE_LARGE + RT_PTE_UC
	.else
	.quad pa + RT_PTE_LARGE
	.endif
	.set pa, pa + 0x200000
	.endr
