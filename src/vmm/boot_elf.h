/* Internals shared by the kernel loaders (boot*.c); not part of the public
 * boot interface.
 *
 * The ELF reader treats the image as hostile: every offset, size and count is
 * checked against the file before a byte is read, sums are checked for
 * wrap-around, and counts are capped, so no input makes it read outside the
 * buffer. Segments are then described as a struct boot_image, which the
 * a.out kludge of multiboot also produces, so that one set of placement
 * checks (E820 RAM, boot info area, overlaps) and one writer serve every
 * protocol. */
#ifndef WARDEN_VMM_BOOT_ELF_H
#define WARDEN_VMM_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vmm/boot.h"

#define ELF_ET_EXEC     2
#define ELF_ET_DYN      3
#define ELF_EM_386      3
#define ELF_EM_X86_64   62
#define ELF_PT_LOAD     1
#define ELF_PT_NOTE     4
#define ELF_SHT_NOTE    7
#define ELF_PF_X        1

/* Xen public/elfnote.h: the 32-bit physical PVH entry point. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* A vmlinux has about six program headers; anything past this is a
 * corrupted or hostile header, and the cap bounds the pairwise overlap check
 * and the segment table on the stack. */
#define BOOT_ELF_MAX_PHDRS 128
/* The PVH memmap table at BOOT_MEMMAP_GPA holds 64 entries; multiboot uses
 * the same cap so both protocols accept the same maps. */
#define BOOT_MEMMAP_MAX 64

#define BOOT_PAGE_SIZE 4096ull

struct elf_file {
	const uint8_t *data;
	size_t size;
	const char *name;               /* for messages */
	bool is64;
	uint16_t type, machine;
	uint64_t entry;
	uint64_t phoff, shoff;
	uint16_t phnum, phentsize, shnum, shentsize;
};

struct elf_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct boot_segment {
	unsigned index;                 /* program header index, for messages */
	uint32_t flags;                 /* ELF p_flags */
	uint64_t paddr, vaddr, memsz, filesz;
	const uint8_t *src;             /* filesz bytes inside the image */
};

struct boot_image {
	struct boot_segment seg[BOOT_ELF_MAX_PHDRS];
	unsigned nr_seg;
	uint64_t low, high;             /* hull of all segments, [low, high) */
};

/* --- boot_elf.c --- */

bool elf_has_magic(const uint8_t *data, size_t size);
/* Validates the ELF header and the program header table (x86 only:
 * ELF32/EM_386 or ELF64/EM_X86_64, little-endian). 0 or -ENOEXEC. */
int elf_open(struct elf_file *ef, const uint8_t *data, size_t size,
	     const char *name, char *err, size_t errlen);
/* i < ef->phnum; the table was bounds-checked by elf_open. */
void elf_get_phdr(const struct elf_file *ef, unsigned i, struct elf_phdr *ph);
/* Looks for a note (owner, type) in the PT_NOTE segments, or in the SHT_NOTE
 * sections when there is no PT_NOTE. 0 with *desc and *descsz (desc lies inside
 * the image), -ENOENT when absent, -ENOEXEC when a note is malformed. */
int elf_find_note(const struct elf_file *ef, const char *owner, uint32_t type,
		  const uint8_t **desc, uint32_t *descsz, char *err, size_t errlen);
/* PT_LOAD headers with p_memsz > 0 into img (by p_paddr), with per-segment
 * sanity (file range, p_filesz <= p_memsz, no wrap). 0 or -ENOEXEC. */
int elf_collect_segments(const struct elf_file *ef, struct boot_image *img,
			 char *err, size_t errlen);

/* --- boot.c --- */

/* One line into err (control characters replaced, so a path holding a
 * newline cannot split it); err may be NULL when errlen is 0. */
void boot_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *boot_kernel_name(const struct boot_input *in);
/* Checks what every loader needs from its caller (non-NULL arguments, an
 * image, a sane memory map, a consistent initrd) and clears *out. */
int boot_check_input(const struct gmem *g, const struct boot_input *in,
		     struct boot_entry *out, char *err, size_t errlen);
/* [gpa, gpa+len) lies in E820 RAM (adjacent RAM entries merge) and in one
 * gmem range. false for len 0 or a range that wraps. */
bool boot_ram_covers(const struct gmem *g, const struct boot_input *in,
		     uint64_t gpa, uint64_t len);
bool boot_ranges_overlap(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end);
/* Every segment in RAM, clear of [BOOT_INFO_BASE, BOOT_INFO_END) and of
 * every other segment. */
int boot_check_image(const struct gmem *g, const struct boot_input *in,
		     const struct boot_image *img, char *err, size_t errlen);
bool boot_image_contains(const struct boot_image *img, uint64_t gpa);
/* Copies p_filesz bytes and zeroes the rest of each segment. */
int boot_write_image(const struct gmem *g, const struct boot_input *in,
		     const struct boot_image *img, char *err, size_t errlen);
int boot_write_string(const struct gmem *g, uint64_t gpa, const char *s,
		      const char *what, char *err, size_t errlen);

/* --- boot_multiboot.c --- */

/* Finds the first multiboot header (4-byte aligned, wholly inside the first
 * 8 KiB) whose checksum holds. Returns true and *offset; otherwise false,
 * with *bad_offset at the first magic with a bad checksum (SIZE_MAX if
 * none) so the caller can say why. */
bool multiboot_find_header(const uint8_t *image, size_t size, size_t *offset,
			   size_t *bad_offset);

#endif
