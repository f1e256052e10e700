/* Multiboot v1 (Multiboot Specification 0.6.96), as QEMU's -kernel does it:
 * an ELF (or a flat image described by the a.out kludge) is loaded by
 * physical address; the information structure, the command line, the module
 * list and the memory map follow the image, page-aligned, and the modules
 * follow those. Entry in 32-bit protected mode with EAX = 0x2BADB002 and EBX
 * = the information structure. */
#include "vmm/boot_elf.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define MB_HEADER_MAGIC        0x1BADB002u
#define MB_BOOTLOADER_MAGIC    0x2BADB002u
#define MB_SEARCH_LIMIT        8192u
#define MB_HEADER_MIN          12u     /* magic, flags, checksum */
#define MB_HEADER_AOUT         32u     /* ... + the five a.out kludge fields */

/* Header flags. Bits 0-15 are requirements: a loader must refuse one it does
 * not understand. */
#define MB_HF_PAGE_ALIGN       (1u << 0)   /* modules page-aligned: always are */
#define MB_HF_MEMORY_INFO      (1u << 1)   /* mem_* fields: always given */
#define MB_HF_VIDEO_MODE       (1u << 2)   /* a request; no video, so unmet */
#define MB_HF_REQUIRED_MASK    0xffffu
#define MB_HF_SUPPORTED        (MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO | MB_HF_VIDEO_MODE)
#define MB_HF_AOUT_KLUDGE      (1u << 16)

/* Information flags. */
#define MB_INFO_MEMORY         (1u << 0)
#define MB_INFO_CMDLINE        (1u << 2)
#define MB_INFO_MODS           (1u << 3)
#define MB_INFO_MEM_MAP        (1u << 6)
#define MB_INFO_LOADER_NAME    (1u << 9)

#define MB_LOADER_NAME         "Warden"
#define MB_MEM_LOWER_KIB       640u
#define MIB                    (1ull << 20)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info;
	uint32_t vbe_mode_info;
	uint16_t vbe_mode;
	uint16_t vbe_interface_seg;
	uint16_t vbe_interface_off;
	uint16_t vbe_interface_len;
	uint64_t framebuffer_addr;
	uint32_t framebuffer_pitch;
	uint32_t framebuffer_width;
	uint32_t framebuffer_height;
	uint8_t framebuffer_bpp;
	uint8_t framebuffer_type;
	uint8_t color_info[6];
} __attribute__((packed));

struct multiboot_mod {
	uint32_t mod_start;
	uint32_t mod_end;               /* exclusive */
	uint32_t string;
	uint32_t reserved;
};

/* size counts the bytes after itself, so a guest steps by size + 4. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct multiboot_info) == 116, "multiboot_info ABI");
_Static_assert(sizeof(struct multiboot_mod) == 16, "multiboot_mod ABI");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot_mmap_entry ABI");

/* Guest addresses of what follows the image. */
struct mb_layout {
	uint64_t info, cmdline, mods, modstr, loader_name, mmap, info_end;
	uint64_t mod_start, end;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

bool multiboot_find_header(const uint8_t *image, size_t size, size_t *offset,
			   size_t *bad_offset)
{
	size_t lim = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;

	*bad_offset = SIZE_MAX;
	if (!image)
		return false;
	for (size_t off = 0; off + MB_HEADER_MIN <= lim; off += 4) {
		const uint8_t *h = image + off;

		if (rd32(h) != MB_HEADER_MAGIC)
			continue;
		/* As QEMU and GRUB do, skip a magic whose checksum fails: it
		 * may be a stray constant, and a real header may follow. */
		if ((uint32_t)(rd32(h) + rd32(h + 4) + rd32(h + 8)) == 0) {
			*offset = off;
			return true;
		}
		if (*bad_offset == SIZE_MAX)
			*bad_offset = off;
	}
	return false;
}

/* Flag 16: the header itself says where the file goes. */
static int parse_aout_kludge(const struct boot_input *in, size_t hoff,
			     struct boot_image *img, uint64_t *entry,
			     char *err, size_t errlen)
{
	const char *name = boot_kernel_name(in);
	const uint8_t *h = in->image + hoff;
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t load_off, load_size, memsz;

	if (hoff + MB_HEADER_AOUT > in->image_size) {
		boot_err(err, errlen,
			 "%s: truncated: multiboot a.out kludge fields at offset 0x%zx past end of file (%zu bytes)",
			 name, hoff, in->image_size);
		return -ENOEXEC;
	}
	header_addr = rd32(h + 12);
	load_addr = rd32(h + 16);
	load_end = rd32(h + 20);
	bss_end = rd32(h + 24);
	*entry = rd32(h + 28);

	if (header_addr < load_addr) {
		boot_err(err, errlen, "%s: a.out kludge: header_addr 0x%x is below load_addr 0x%x",
			 name, header_addr, load_addr);
		return -ENOEXEC;
	}
	if (header_addr - load_addr > hoff) {
		boot_err(err, errlen,
			 "%s: a.out kludge: load_addr 0x%x lies 0x%x bytes before the header, which is at file offset 0x%zx",
			 name, load_addr, header_addr - load_addr, hoff);
		return -ENOEXEC;
	}
	load_off = hoff - (header_addr - load_addr);
	if (load_end) {
		if (load_end <= load_addr) {
			boot_err(err, errlen,
				 "%s: a.out kludge: load_end_addr 0x%x is not above load_addr 0x%x",
				 name, load_end, load_addr);
			return -ENOEXEC;
		}
		load_size = load_end - load_addr;
		if (load_size > in->image_size - load_off) {
			boot_err(err, errlen,
				 "%s: truncated: a.out kludge loads 0x%" PRIx64 " bytes from file offset 0x%"
				 PRIx64 ", file has %zu bytes", name, load_size, load_off, in->image_size);
			return -ENOEXEC;
		}
	} else {
		load_size = in->image_size - load_off;
	}
	memsz = load_size;
	if (bss_end) {
		if (bss_end < load_addr + load_size) {
			boot_err(err, errlen,
				 "%s: a.out kludge: bss_end_addr 0x%x is below the end of the loaded data 0x%"
				 PRIx64, name, bss_end, load_addr + load_size);
			return -ENOEXEC;
		}
		memsz = bss_end - load_addr;
	}
	if (memsz > (1ull << 32) - load_addr) {
		boot_err(err, errlen, "%s: a.out kludge image [0x%x+0x%" PRIx64
			 ") wraps around the 32-bit address space", name, load_addr, memsz);
		return -ENOEXEC;
	}
	memset(img, 0, sizeof(*img));
	img->nr_seg = 1;
	img->seg[0] = (struct boot_segment){
		.paddr = load_addr, .vaddr = load_addr, .flags = ELF_PF_X,
		.memsz = memsz, .filesz = load_size, .src = in->image + load_off,
	};
	img->low = load_addr;
	img->high = load_addr + memsz;
	return 0;
}

/* e_entry is virtual; like QEMU and GRUB, move it by the difference of the
 * executable segment holding it, so a higher-half kernel enters at its
 * physical address. */
static uint64_t elf_entry_to_phys(const struct boot_image *img, uint64_t entry)
{
	for (unsigned i = 0; i < img->nr_seg; i++) {
		const struct boot_segment *s = &img->seg[i];

		if ((s->flags & ELF_PF_X) && s->vaddr != s->paddr &&
		    entry >= s->vaddr && entry - s->vaddr < s->filesz)
			return entry - s->vaddr + s->paddr;
	}
	return entry;
}

/* KiB of RAM contiguous from 1 MiB, as mem_upper wants. */
static uint32_t mem_upper_kib(const struct boot_input *in)
{
	uint64_t cur = MIB;

	for (unsigned step = 0; step < in->nr_memmap; step++) {
		bool found = false;

		for (unsigned i = 0; i < in->nr_memmap; i++) {
			const struct boot_memmap_entry *e = &in->memmap[i];

			if (e->type == BOOT_E820_RAM && cur >= e->addr && cur - e->addr < e->size) {
				cur = e->addr + e->size;
				found = true;
				break;
			}
		}
		if (!found)
			break;
	}
	return (cur - MIB) / 1024 > UINT32_MAX ? UINT32_MAX : (uint32_t)((cur - MIB) / 1024);
}

static int plan_layout(const struct gmem *g, const struct boot_input *in,
		       const struct boot_image *img, struct mb_layout *l,
		       char *err, size_t errlen)
{
	size_t path_len = strlen(boot_kernel_name(in));
	size_t args_len = in->cmdline ? strlen(in->cmdline) : 0;
	size_t mod_len = in->initrd_path ? strlen(in->initrd_path) : 0;

	l->info = align_up(img->high, BOOT_PAGE_SIZE);
	l->cmdline = l->info + sizeof(struct multiboot_info);
	l->mods = align_up(l->cmdline + path_len + 1 + args_len + 1, 8);
	l->modstr = l->mods + (in->initrd ? sizeof(struct multiboot_mod) : 0);
	l->loader_name = l->modstr + (in->initrd ? mod_len + 1 : 0);
	l->mmap = align_up(l->loader_name + sizeof(MB_LOADER_NAME), 8);
	l->info_end = l->mmap + in->nr_memmap * sizeof(struct multiboot_mmap_entry);
	l->mod_start = align_up(l->info_end, BOOT_PAGE_SIZE);
	l->end = in->initrd ? l->mod_start + in->initrd_size : l->info_end;

	/* img->high is at most 2^64 - 1 and the rest is small, but a 64-bit
	 * image near the top must not wrap l->info to 0. */
	if (img->high > (1ull << 32) || l->end > (1ull << 32) || in->initrd_size > (1ull << 32)) {
		boot_err(err, errlen,
			 "%s: multiboot information and modules after the image (ends 0x%" PRIx64
			 ", %zu-byte initrd) do not fit below 4 GiB",
			 boot_kernel_name(in), img->high, in->initrd_size);
		return -ENOSPC;
	}
	if (boot_ranges_overlap(l->info, l->end, BOOT_INFO_BASE, BOOT_INFO_END)) {
		boot_err(err, errlen,
			 "%s: multiboot information [0x%" PRIx64 "-0x%" PRIx64
			 ") would overlap boot information at 0x%llx-0x%llx",
			 boot_kernel_name(in), l->info, l->end, BOOT_INFO_BASE, BOOT_INFO_END);
		return -ENOSPC;
	}
	if (!boot_ram_covers(g, in, l->info, l->end - l->info)) {
		boot_err(err, errlen,
			 "%s: multiboot information and modules [0x%" PRIx64 "-0x%" PRIx64
			 ") do not fit in guest RAM after the image",
			 boot_kernel_name(in), l->info, l->end);
		return -ENOSPC;
	}
	return 0;
}

static int write_info(const struct gmem *g, const struct boot_input *in,
		      const struct mb_layout *l, char *err, size_t errlen)
{
	const char *path = boot_kernel_name(in);
	struct multiboot_info info = {
		.flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP | MB_INFO_LOADER_NAME,
		.mem_lower = MB_MEM_LOWER_KIB,
		.mem_upper = mem_upper_kib(in),
		.cmdline = (uint32_t)l->cmdline,
		.mmap_length = in->nr_memmap * (uint32_t)sizeof(struct multiboot_mmap_entry),
		.mmap_addr = (uint32_t)l->mmap,
		.boot_loader_name = (uint32_t)l->loader_name,
	};
	size_t path_len = strlen(path);
	int ret;

	/* "kernel-path args", as QEMU builds it. */
	ret = gmem_write(g, l->cmdline, path, path_len);
	if (ret < 0)
		goto fail;
	if (in->cmdline && in->cmdline[0]) {
		ret = gmem_write(g, l->cmdline + path_len, " ", 1);
		if (ret < 0)
			goto fail;
		ret = boot_write_string(g, l->cmdline + path_len + 1, in->cmdline,
					"command line", err, errlen);
	} else {
		ret = boot_write_string(g, l->cmdline + path_len, "", "command line", err, errlen);
	}
	if (ret < 0)
		return ret;
	if (in->initrd) {
		struct multiboot_mod mod = {
			.mod_start = (uint32_t)l->mod_start,
			.mod_end = (uint32_t)(l->mod_start + in->initrd_size),
			.string = (uint32_t)l->modstr,
		};

		ret = boot_write_string(g, l->modstr, in->initrd_path ? in->initrd_path : "",
					"module string", err, errlen);
		if (ret < 0)
			return ret;
		ret = gmem_write(g, l->mods, &mod, sizeof(mod));
		if (ret < 0)
			goto fail;
		ret = gmem_write(g, l->mod_start, in->initrd, in->initrd_size);
		if (ret < 0)
			goto fail;
		info.flags |= MB_INFO_MODS;
		info.mods_count = 1;
		info.mods_addr = (uint32_t)l->mods;
	}
	ret = boot_write_string(g, l->loader_name, MB_LOADER_NAME, "boot loader name", err, errlen);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < in->nr_memmap; i++) {
		struct multiboot_mmap_entry me = {
			.size = sizeof(me) - sizeof(me.size),
			.base_addr = in->memmap[i].addr,
			.length = in->memmap[i].size,
			.type = in->memmap[i].type,
		};

		ret = gmem_write(g, l->mmap + i * sizeof(me), &me, sizeof(me));
		if (ret < 0)
			goto fail;
	}
	ret = gmem_write(g, l->info, &info, sizeof(info));
	if (ret < 0)
		goto fail;
	return 0;
fail:
	boot_err(err, errlen, "%s: writing multiboot information [0x%" PRIx64 "-0x%" PRIx64
		 ") failed (%s)", path, l->info, l->end, strerror(-ret));
	return ret;
}

int boot_load_multiboot(const struct gmem *g, const struct boot_input *in,
			struct boot_entry *out, char *err, size_t errlen)
{
	struct boot_image img;
	struct elf_file ef;
	struct mb_layout layout;
	const char *name;
	size_t hoff, bad;
	uint64_t entry;
	uint32_t flags, unknown;
	size_t len;
	int ret;

	ret = boot_check_input(g, in, out, err, errlen);
	if (ret < 0)
		return ret;
	name = boot_kernel_name(in);
	if (!multiboot_find_header(in->image, in->image_size, &hoff, &bad)) {
		if (bad != SIZE_MAX)
			boot_err(err, errlen,
				 "%s: multiboot header at offset 0x%zx has a bad checksum", name, bad);
		else
			boot_err(err, errlen, "%s: no multiboot header in the first 8 KiB", name);
		return -ENOEXEC;
	}
	flags = rd32(in->image + hoff + 4);
	unknown = flags & MB_HF_REQUIRED_MASK & ~MB_HF_SUPPORTED;
	if (unknown) {
		boot_err(err, errlen,
			 "%s: multiboot header requires unsupported features (flags 0x%x, unknown required bits 0x%x)",
			 name, flags, unknown);
		return -ENOEXEC;
	}

	if (flags & MB_HF_AOUT_KLUDGE) {
		ret = parse_aout_kludge(in, hoff, &img, &entry, err, errlen);
		if (ret < 0)
			return ret;
	} else {
		if (!elf_has_magic(in->image, in->image_size)) {
			boot_err(err, errlen,
				 "%s: not an ELF image and its multiboot header has no a.out kludge (flag 16)",
				 name);
			return -ENOEXEC;
		}
		ret = elf_open(&ef, in->image, in->image_size, name, err, errlen);
		if (ret < 0)
			return ret;
		ret = elf_collect_segments(&ef, &img, err, errlen);
		if (ret < 0)
			return ret;
		entry = elf_entry_to_phys(&img, ef.entry);
	}
	ret = boot_check_image(g, in, &img, err, errlen);
	if (ret < 0)
		return ret;
	if (entry >= (1ull << 32)) {
		boot_err(err, errlen, "%s: multiboot entry point 0x%" PRIx64 " is above 4 GiB",
			 name, entry);
		return -ENOEXEC;
	}
	if (!boot_image_contains(&img, entry)) {
		boot_err(err, errlen, "%s: multiboot entry point 0x%" PRIx64
			 " is outside the loaded image [0x%" PRIx64 "-0x%" PRIx64 ")",
			 name, entry, img.low, img.high);
		return -ENOEXEC;
	}
	len = in->cmdline ? strlen(in->cmdline) : 0;
	if (len > BOOT_CMDLINE_MAX) {
		boot_err(err, errlen, "boot: command line is %zu bytes, at most %u",
			 len, BOOT_CMDLINE_MAX);
		return -E2BIG;
	}
	ret = plan_layout(g, in, &img, &layout, err, errlen);
	if (ret < 0)
		return ret;

	ret = boot_write_image(g, in, &img, err, errlen);
	if (ret < 0)
		return ret;
	ret = write_info(g, in, &layout, err, errlen);
	if (ret < 0)
		return ret;

	out->protocol = BOOT_MULTIBOOT;
	out->eip = (uint32_t)entry;
	out->eax = MB_BOOTLOADER_MAGIC;
	out->ebx = (uint32_t)layout.info;
	out->image_low = img.low;
	out->image_high = img.high;
	return 0;
}
