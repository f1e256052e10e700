/* Fixed layout of the test-guest runtime, shared by the assembly and the C
 * code. Everything here is part of the contract documented in
 * docs/guest-runtime.md; change both together. */
#ifndef GUEST_RT_LAYOUT_H
#define GUEST_RT_LAYOUT_H

#define RT_LOAD_ADDR     0x100000   /* image is linked and loaded here (1 MiB) */
#define RT_TRAMP_BASE    0x8000     /* AP real-mode trampoline (SIPI vector 0x08) */
#define RT_TRAMP_VECTOR  (RT_TRAMP_BASE >> 12)

#define RT_MAX_CPUS      64
/* Each CPU's stacks, one block, lowest first: ring 3, IST1 (#DF, NMI, #MC),
 * ring 0. The BSP's block is in the image; APs' come from rt_alloc. */
#define RT_USTACK_SIZE   0x10000    /* ring-3 stack (64 KiB) */
#define RT_ISTACK_SIZE   0x1000     /* IST1 stack (4 KiB) */
#define RT_KSTACK_SIZE   0x4000     /* ring-0 stack (16 KiB) */
#define RT_STACKS_SIZE   (RT_USTACK_SIZE + RT_ISTACK_SIZE + RT_KSTACK_SIZE)

/* GDT selectors. Ring-3 selectors carry RPL 3. */
#define RT_SEL_KCODE64   0x08
#define RT_SEL_KDATA     0x10
#define RT_SEL_KCODE32   0x18
#define RT_SEL_UDATA     0x23
#define RT_SEL_UCODE64   0x2b
#define RT_SEL_TSS0      0x30       /* 16-byte descriptor per CPU */
#define RT_GDT_SIZE      (RT_SEL_TSS0 + 16 * RT_MAX_CPUS)

/* Interrupt vectors owned by the runtime. */
#define RT_VEC_SPURIOUS  0xff       /* LAPIC spurious vector */

/* CR0/CR4/EFER bits the entry code sets. */
#define RT_CR0_PE        (1 << 0)
#define RT_CR0_MP        (1 << 1)
#define RT_CR0_EM        (1 << 2)
#define RT_CR0_NE        (1 << 5)
#define RT_CR0_NW        (1 << 29)
#define RT_CR0_CD        (1 << 30)
#define RT_CR0_PG        (1 << 31)
#define RT_CR4_PAE       (1 << 5)
#define RT_CR4_OSFXSR    (1 << 9)
#define RT_CR4_OSXMMEXCPT (1 << 10)
#define RT_CR4_BOOT      (RT_CR4_PAE | RT_CR4_OSFXSR | RT_CR4_OSXMMEXCPT)
#define RT_MSR_EFER      0xc0000080
#define RT_EFER_LME      (1 << 8)

/* Page-table entry bits. */
#define RT_PTE_P         0x001
#define RT_PTE_W         0x002
#define RT_PTE_U         0x004
#define RT_PTE_PWT       0x008
#define RT_PTE_PCD       0x010
#define RT_PTE_PS        0x080
#define RT_PTE_TABLE     (RT_PTE_P | RT_PTE_W | RT_PTE_U)
#define RT_PTE_LARGE     (RT_PTE_P | RT_PTE_W | RT_PTE_U | RT_PTE_PS)
#define RT_PTE_UC        (RT_PTE_PCD | RT_PTE_PWT)
#define RT_MMIO_START    0xb0000000 /* PCI ECAM; everything above is mapped UC */

/* Boot magics. */
#define RT_MB_BOOT_MAGIC 0x2badb002 /* EAX at a multiboot v1 entry */
#define RT_PVH_MAGIC     0x336ec578 /* hvm_start_info.magic */

#endif
