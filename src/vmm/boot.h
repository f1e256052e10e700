/* Kernel loaders, as `qemu -kernel` boots: PVH (ELF with a
 * XEN_ELFNOTE_PHYS32_ENTRY note; also how a Linux vmlinux boots) and
 * multiboot v1. They only write guest RAM through struct gmem and describe
 * the entry state; the vCPU setup (KVM) is done by the caller. */
#ifndef WARDEN_VMM_BOOT_H
#define WARDEN_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>
#include "base/gmem.h"

/* E820 types */
#define BOOT_E820_RAM       1
#define BOOT_E820_RESERVED  2
#define BOOT_E820_ACPI      3

struct boot_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fixed low-memory placement of the PVH boot information. Everything the
 * loader writes below 1 MiB sits in [BOOT_INFO_BASE, BOOT_INFO_END); a
 * segment that overlaps it is refused. 0x8000 and up stays free for a
 * guest's AP trampoline. */
#define BOOT_INFO_BASE        0x6000ull
#define BOOT_START_INFO_GPA   0x6000ull   /* struct hvm_start_info */
#define BOOT_MEMMAP_GPA       0x6040ull   /* up to 64 hvm_memmap_table_entry */
#define BOOT_MODLIST_GPA      0x6800ull   /* hvm_modlist_entry[] */
#define BOOT_MODCMDLINE_GPA   0x6820ull   /* module 0's command line, < 0x7000 */
#define BOOT_CMDLINE_GPA      0x7000ull   /* NUL-terminated, < 4 KiB */
#define BOOT_INFO_END         0x8000ull
#define BOOT_CMDLINE_MAX      4095

enum boot_protocol { BOOT_PVH = 1, BOOT_MULTIBOOT = 2 };

struct boot_input {
	const char *kernel_path;        /* for the multiboot command line */
	const uint8_t *image;
	size_t image_size;
	const char *cmdline;            /* may be NULL */
	const uint8_t *initrd;          /* may be NULL */
	size_t initrd_size;
	const char *initrd_path;        /* module command line */
	const struct boot_memmap_entry *memmap;
	unsigned nr_memmap;
	uint64_t rsdp_gpa;              /* 0 when there are no ACPI tables */
};

/* The 32-bit protected-mode entry state both protocols ask for (flat
 * segments, paging off); the caller turns it into KVM registers. */
struct boot_entry {
	enum boot_protocol protocol;
	uint32_t eip;
	uint32_t eax;                   /* 0x2BADB002 for multiboot, 0 for PVH */
	uint32_t ebx;                   /* hvm_start_info or multiboot info GPA */
	uint64_t image_low, image_high; /* loaded range [low, high) */
};

/* Detects the protocol as QEMU does (a multiboot header in the first 8 KiB
 * wins, else an ELF with a PVH note), loads, writes boot info. On failure
 * returns -errno with a one-line reason in err (no newline), and what was
 * written to guest RAM is unspecified. */
int boot_load(const struct gmem *g, const struct boot_input *in,
	      struct boot_entry *out, char *err, size_t errlen);

int boot_load_pvh(const struct gmem *g, const struct boot_input *in,
		  struct boot_entry *out, char *err, size_t errlen);
int boot_load_multiboot(const struct gmem *g, const struct boot_input *in,
			struct boot_entry *out, char *err, size_t errlen);

#endif
