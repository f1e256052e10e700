/* Multiboot v1 header: linked only into build/guest/hello-multiboot.elf (the
 * plain images must not carry one, as QEMU tries multiboot first). No a.out
 * kludge (flag 16): the loader takes addresses from the ELF32 headers. */
#define MB_HEADER_MAGIC 0x1badb002
#define MB_FLAG_ALIGN   (1 << 0)        /* modules page-aligned */
#define MB_FLAG_MEMINFO (1 << 1)        /* mem_* and mmap_* fields */
#define MB_FLAGS        (MB_FLAG_ALIGN | MB_FLAG_MEMINFO)

	.section .multiboot, "a"
	.balign 4
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)
