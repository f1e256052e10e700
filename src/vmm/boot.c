/* Protocol detection and the placement rules every loader shares: where a
 * segment may go (E820 RAM that gmem backs, clear of the boot information
 * area and of the other segments) and how it is written. */
#include "vmm/boot_elf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* "HdrS" at 0x202 marks a bzImage (Linux x86 boot protocol). */
#define BZIMAGE_MAGIC_OFFSET 0x202
#define BZIMAGE_MAGIC 0x53726448u

void boot_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

const char *boot_kernel_name(const struct boot_input *in)
{
	return in && in->kernel_path && in->kernel_path[0] ? in->kernel_path : "kernel";
}

int boot_check_input(const struct gmem *g, const struct boot_input *in,
		     struct boot_entry *out, char *err, size_t errlen)
{
	if (!g || !in || !out) {
		boot_err(err, errlen, "boot: missing guest memory, input or entry state");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (in->image_size == 0) {
		boot_err(err, errlen, "%s: empty image", boot_kernel_name(in));
		return -ENOEXEC;
	}
	if (!in->image) {
		boot_err(err, errlen, "%s: no image data (%zu bytes announced)",
			 boot_kernel_name(in), in->image_size);
		return -EINVAL;
	}
	if (!in->memmap || in->nr_memmap == 0) {
		boot_err(err, errlen, "boot: no memory map");
		return -EINVAL;
	}
	if (in->nr_memmap > BOOT_MEMMAP_MAX) {
		boot_err(err, errlen, "boot: memory map has %u entries (at most %u)",
			 in->nr_memmap, BOOT_MEMMAP_MAX);
		return -E2BIG;
	}
	for (unsigned i = 0; i < in->nr_memmap; i++) {
		const struct boot_memmap_entry *e = &in->memmap[i];

		if (e->size == 0 || e->size > UINT64_MAX - e->addr) {
			boot_err(err, errlen,
				 "boot: memory map entry %u [0x%" PRIx64 "+0x%" PRIx64 ") is empty or wraps",
				 i, e->addr, e->size);
			return -EINVAL;
		}
	}
	if (in->initrd_size && !in->initrd) {
		boot_err(err, errlen, "boot: initrd of %zu bytes without data", in->initrd_size);
		return -EINVAL;
	}
	/* An empty initrd is almost certainly the wrong file; say so rather
	 * than hand the guest a zero-length module. */
	if (in->initrd && in->initrd_size == 0) {
		boot_err(err, errlen, "%s: initrd is empty",
			 in->initrd_path ? in->initrd_path : "initrd");
		return -EINVAL;
	}
	return 0;
}

bool boot_ranges_overlap(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end)
{
	return a < b_end && b < a_end;
}

bool boot_ram_covers(const struct gmem *g, const struct boot_input *in,
		     uint64_t gpa, uint64_t len)
{
	uint64_t cur = gpa, end;

	if (len == 0 || len > UINT64_MAX - gpa)
		return false;
	end = gpa + len;
	if (!gmem_gpa_to_ptr(g, gpa, len))
		return false;
	/* Each step moves cur to the end of a distinct RAM entry, so at most
	 * nr_memmap steps; adjacent entries thereby merge. */
	for (unsigned step = 0; step < in->nr_memmap; step++) {
		bool found = false;

		for (unsigned i = 0; i < in->nr_memmap; i++) {
			const struct boot_memmap_entry *e = &in->memmap[i];

			if (e->type == BOOT_E820_RAM && cur >= e->addr &&
			    cur - e->addr < e->size) {
				cur = e->addr + e->size;
				found = true;
				break;
			}
		}
		if (!found)
			return false;
		if (cur >= end)
			return true;
	}
	return false;
}

int boot_check_image(const struct gmem *g, const struct boot_input *in,
		     const struct boot_image *img, char *err, size_t errlen)
{
	const char *name = boot_kernel_name(in);

	for (unsigned i = 0; i < img->nr_seg; i++) {
		const struct boot_segment *s = &img->seg[i];
		uint64_t end = s->paddr + s->memsz;

		if (boot_ranges_overlap(s->paddr, end, BOOT_INFO_BASE, BOOT_INFO_END)) {
			boot_err(err, errlen,
				 "%s: segment %u [0x%" PRIx64 "-0x%" PRIx64
				 ") overlaps boot information at 0x%llx-0x%llx",
				 name, s->index, s->paddr, end, BOOT_INFO_BASE, BOOT_INFO_END);
			return -EINVAL;
		}
		if (!boot_ram_covers(g, in, s->paddr, s->memsz)) {
			boot_err(err, errlen,
				 "%s: segment %u [0x%" PRIx64 "-0x%" PRIx64 ") is outside guest RAM",
				 name, s->index, s->paddr, end);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			const struct boot_segment *o = &img->seg[j];

			if (boot_ranges_overlap(s->paddr, end, o->paddr, o->paddr + o->memsz)) {
				boot_err(err, errlen, "%s: segment %u overlaps segment %u at 0x%" PRIx64,
					 name, s->index, o->index,
					 s->paddr > o->paddr ? s->paddr : o->paddr);
				return -ENOEXEC;
			}
		}
	}
	return 0;
}

bool boot_image_contains(const struct boot_image *img, uint64_t gpa)
{
	for (unsigned i = 0; i < img->nr_seg; i++)
		if (gpa >= img->seg[i].paddr && gpa - img->seg[i].paddr < img->seg[i].memsz)
			return true;
	return false;
}

static int write_segment(const struct gmem *g, const struct boot_segment *s)
{
	uint8_t *bss;
	int ret;

	ret = gmem_write(g, s->paddr, s->src, s->filesz);
	if (ret < 0)
		return ret;
	if (s->memsz == s->filesz)
		return 0;
	bss = gmem_gpa_to_ptr(g, s->paddr + s->filesz, s->memsz - s->filesz);
	if (!bss)
		return -EFAULT;
	memset(bss, 0, s->memsz - s->filesz);
	return 0;
}

int boot_write_image(const struct gmem *g, const struct boot_input *in,
		     const struct boot_image *img, char *err, size_t errlen)
{
	for (unsigned i = 0; i < img->nr_seg; i++) {
		const struct boot_segment *s = &img->seg[i];
		int ret = write_segment(g, s);

		if (ret < 0) {
			boot_err(err, errlen, "%s: writing segment %u [0x%" PRIx64 "-0x%" PRIx64
				 ") to guest RAM failed (%s)", boot_kernel_name(in), s->index,
				 s->paddr, s->paddr + s->memsz, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int boot_write_string(const struct gmem *g, uint64_t gpa, const char *s,
		      const char *what, char *err, size_t errlen)
{
	size_t len = strlen(s) + 1;
	int ret = gmem_write(g, gpa, s, len);

	if (ret < 0)
		boot_err(err, errlen, "boot: writing %s (%zu bytes) at 0x%" PRIx64 " failed (%s)",
			 what, len, gpa, strerror(-ret));
	return ret;
}

static bool is_bzimage(const uint8_t *image, size_t size)
{
	const uint8_t *p = image + BZIMAGE_MAGIC_OFFSET;

	return size >= BZIMAGE_MAGIC_OFFSET + 4 &&
	       ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24) == BZIMAGE_MAGIC;
}

int boot_load(const struct gmem *g, const struct boot_input *in,
	      struct boot_entry *out, char *err, size_t errlen)
{
	const char *name = boot_kernel_name(in);
	size_t mb_off, mb_bad;
	const uint8_t *desc;
	struct elf_file ef;
	uint32_t descsz;
	char why[64] = "";
	int ret;

	ret = boot_check_input(g, in, out, err, errlen);
	if (ret < 0)
		return ret;
	/* QEMU's order: a multiboot header wins even inside an ELF. */
	if (multiboot_find_header(in->image, in->image_size, &mb_off, &mb_bad))
		return boot_load_multiboot(g, in, out, err, errlen);
	if (mb_bad != SIZE_MAX)
		snprintf(why, sizeof(why), " (the magic at offset 0x%zx has a bad checksum)", mb_bad);

	if (!elf_has_magic(in->image, in->image_size)) {
		if (is_bzimage(in->image, in->image_size))
			boot_err(err, errlen,
				 "%s: a bzImage (Linux boot protocol) is not supported; boot the vmlinux ELF via PVH",
				 name);
		else
			boot_err(err, errlen, "%s: not an ELF image and no multiboot header%s",
				 name, why);
		return -ENOEXEC;
	}
	ret = elf_open(&ef, in->image, in->image_size, name, err, errlen);
	if (ret < 0)
		return ret;
	ret = elf_find_note(&ef, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz, err, errlen);
	if (ret == -ENOENT) {
		boot_err(err, errlen,
			 "%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no multiboot header%s",
			 name, why);
		return -ENOEXEC;
	}
	if (ret < 0)
		return ret;
	return boot_load_pvh(g, in, out, err, errlen);
}
